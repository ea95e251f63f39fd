"""``croissant.json``: the shard directory as Croissant 1.1 JSON-LD, with the Responsible-AI fields.

Layout that ``mlcroissant`` (1.1) loads records from:

* each tar is a ``FileObject`` (sha256, size); the members are four ``FileSet`` s (``*.mp4``, ``*.flac``,
  ``*.json``, ``*.txt``) ``containedIn`` every tar, which mlcroissant extracts;
* ``clips.parquet`` (one row per sample) is a ``FileObject``;
* RecordSet ``clips`` joins each ``{key}.mp4`` to its table row (key, clip id, segment, shard, split,
  captions, AudioSet labels) and RecordSet ``audio`` each ``{key}.flac``. mlcroissant joins only two
  sources per RecordSet, hence two RecordSets sharing the key.

mlcroissant caches extracted tars under ``$CROISSANT_CACHE`` keyed by the contentUrl: two shard
directories with the same relative tar names share that cache, so give each its own ``CROISSANT_CACHE``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from valor_data.release import statements as say
from valor_data.release.card_files import CLIPS_NAME
from valor_data.release.card_options import CardOptions
from valor_data.release.facts import ShardFacts
from valor_data.release.terms import AUDIOSET_LICENSE_URL, CITATION, DEFAULT_LICENSE, LICENSE_URL, PAPER_URL

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
# The JSON-LD context of Croissant 1.1 (as mlcroissant 1.1 writes it), with the RAI namespace.
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "arrayShape": "cr:arrayShape", "citeAs": "cr:citeAs",
    "column": "cr:column", "conformsTo": "dct:conformsTo", "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
    "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format",
    "includes": "cr:includes", "isArray": "cr:isArray", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated",
    "replace": "cr:replace", "samplingRate": "cr:samplingRate", "sc": "https://schema.org/",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
}  # fmt: skip
MEMBER_FORMATS = {"mp4": "video/mp4", "flac": "audio/flac", "json": "application/json", "txt": "text/plain"}
TABLE_ID = "clips-table"
# (column of clips.parquet, Croissant data type, one value per clip or a list, description)
TABLE_FIELDS = (
    ("clip_id", "sc:Text", False, "VALOR clip id: {ytid}_{start:.3f}_{end:.3f}"),
    ("ytid", "sc:Text", False, "YouTube video id"),
    ("start", "sc:Float", False, "segment start in the source video, seconds"),
    ("end", "sc:Float", False, "segment end in the source video, seconds"),
    ("shard", "sc:Text", False, "the tar holding the clip's members"),
    ("split", "sc:Text", False, "train / val / test, or null when unknown"),
    ("captions", "sc:Text", True, "the clip's captions (empty when none)"),
    ("labels", "sc:Text", True, "AudioSet label mids"),
    ("label_names", "sc:Text", True, "AudioSet label names, in the order of labels"),
)


def croissant(facts: ShardFacts, options: CardOptions, clips_sha256: str) -> dict:
    """The JSON-LD document (a dict, ready for ``json.dumps``)."""
    doc = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": facts.name,
        "description": options.description or say.composition(facts),
        "license": [LICENSE_URL, AUDIOSET_LICENSE_URL] if options.license == DEFAULT_LICENSE else [options.license],
        "url": PAPER_URL,
        "version": options.version,
        "datePublished": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "citeAs": CITATION,
        "inLanguage": "en",
        "keywords": ["audiovisual", "video captioning", "audio captioning", "retrieval", "AudioSet", "VALOR"],
        "isBasedOn": ["https://research.google.com/audioset/", LICENSE_URL],
        "distribution": _distribution(facts, options, clips_sha256),
        "recordSet": [_clips_record_set(), _audio_record_set()],
    }
    doc.update(_rai(facts))
    return doc


def _distribution(facts: ShardFacts, options: CardOptions, clips_sha256: str) -> list[dict]:
    files = [{
        "@type": "cr:FileObject", "@id": TABLE_ID, "name": TABLE_ID,
        "description": "One row per sample: ids, segment, shard, split, captions, AudioSet labels.",
        "contentUrl": options.file_url(CLIPS_NAME), "encodingFormat": "application/x-parquet",
        "sha256": clips_sha256,
    }]  # fmt: skip
    for tar in facts.tars:
        files.append({
            "@type": "cr:FileObject", "@id": tar.name, "name": tar.name,
            "description": f"WebDataset shard, {tar.samples:,} samples.", "contentUrl": options.file_url(tar.name),
            "contentSize": f"{tar.bytes} B", "encodingFormat": "application/x-tar", "sha256": tar.sha256,
        })  # fmt: skip
    for ext, fmt in MEMBER_FORMATS.items():
        files.append({
            "@type": "cr:FileSet", "@id": f"{ext}-files", "name": f"{ext}-files",
            "description": f"The {{key}}.{ext} member of every sample.",
            "containedIn": [{"@id": tar.name} for tar in facts.tars], "encodingFormat": fmt, "includes": f"*.{ext}",
        })  # fmt: skip
    return files


def _field(record_set: str, name: str, data_type: str, source: dict, description: str, **extra) -> dict:
    return {"@type": "cr:Field", "@id": f"{record_set}/{name}", "name": name, "description": description,
            "dataType": data_type, "source": source, **extra}


def _column(name: str) -> dict:
    return {"fileObject": {"@id": TABLE_ID}, "extract": {"column": name}}


def _member_key(record_set: str, ext: str) -> dict:
    """The sample key from a member's file name, joined to the table's key column."""
    source = {"fileSet": {"@id": f"{ext}-files"}, "extract": {"fileProperty": "filename"},
              "transform": {"regex": rf"^(.*?)(?:\.{ext})?$"}}  # the join applies it, then the field again
    return _field(record_set, "key", "sc:Text", source, "sample key: {ytid}_{start_ms}_{end_ms}",
                  references=_column("key"))


def _content(record_set: str, name: str, ext: str, data_type: str, description: str) -> dict:
    source = {"fileSet": {"@id": f"{ext}-files"}, "extract": {"fileProperty": "content"}}
    return _field(record_set, name, data_type, source, description)


def _clips_record_set() -> dict:
    fields = [_member_key("clips", "mp4")]
    for name, data_type, is_list, description in TABLE_FIELDS:
        extra = {"isArray": True, "arrayShape": "-1"} if is_list else {}
        fields.append(_field("clips", name, data_type, _column(name), description, **extra))
    fields.append(_content("clips", "video", "mp4", "sc:VideoObject", "{key}.mp4: H.264 video, no sound"))
    return {"@type": "cr:RecordSet", "@id": "clips", "name": "clips", "key": {"@id": "clips/key"},
            "description": "One record per clip: its video and everything known about it.", "field": fields}


def _audio_record_set() -> dict:
    fields = [_member_key("audio", "flac"),
              _content("audio", "audio", "flac", "sc:AudioObject", "{key}.flac: the clip's audio track")]
    return {"@type": "cr:RecordSet", "@id": "audio", "name": "audio", "key": {"@id": "audio/key"},
            "description": "One record per clip: its audio, keyed like the clips.", "field": fields}


def _rai(facts: ShardFacts) -> dict:
    rai = {
        "rai:dataCollection": say.collection(facts),
        "rai:dataCollectionType": ["Web Scraping"] if facts.fetch is None or facts.fetch.source == "youtube"
        else ["Others: copied from a mirror or local copy of the source videos"],
        "rai:dataCollectionMissingData": say.missing_data(facts),
        "rai:dataCollectionRawData": "YouTube videos, cut to the segments of the input list.",
        "rai:dataPreprocessingProtocol": say.preprocessing(facts),
        "rai:dataAnnotationProtocol": say.annotation(facts),
        "rai:annotationsPerItem": say.annotations_per_item(facts),
        "rai:dataLimitations": say.limitations(facts),
        "rai:dataBiases": say.biases(facts),
        "rai:dataUseCases": say.use_cases(),
        "rai:personalSensitiveInformation": say.personal_information(),
        "rai:dataReleaseMaintenancePlan": say.maintenance(),
    }
    if facts.fetch is not None and facts.fetch.first:
        rai["rai:dataCollectionTimeFrame"] = [facts.fetch.first, facts.fetch.last]
    analysis = say.annotation_analysis(facts)
    if analysis:
        rai["rai:dataAnnotationAnalysis"] = analysis
    return rai
