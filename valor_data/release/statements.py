"""The card's sentences about a shard directory, written once from its facts: the Croissant Responsible-AI
fields and the datasheet sections both quote them, so the two never disagree."""

from __future__ import annotations

from collections import Counter

from valor_data.release.facts import ShardFacts


def _n(value: int) -> str:
    return f"{value:,}"


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1000:
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{n_bytes:.0f} B"
        n_bytes /= 1000
    return f"{n_bytes:.2f} TB"


def composition(f: ShardFacts) -> str:
    stats = f.stats
    hours = stats.get("duration_s_total", 0.0) / 3600
    splits = ", ".join(f"{name} {_n(n)}" for name, n in f.splits.items())
    return (
        f"{_n(f.samples)} audiovisual clips in {_n(len(f.tars))} WebDataset tar shards "
        f"({_size(stats.get('tar_bytes', 0))}, {hours:.2f} h of media; splits: {splits}). Each sample is "
        "{key}.mp4 (H.264 video, no sound), {key}.flac (the audio track), {key}.json (clip id, YouTube id, "
        "segment, AudioSet labels with names, captions, probe facts, media sha256) and {key}.txt (the first "
        f"caption). {_n(f.captioned)} clips have captions ({_n(f.captions)} captions in all), "
        f"{_n(f.samples - f.captioned)} have none."
    )


def collection(f: ShardFacts) -> str:
    rows = sum(f.status.values())
    head = (f"Segments of YouTube videos named by the input list (AudioSet-style `ytid,start,end` rows or VALOR "
            f"annotations), downloaded and cut by `valor-data fetch`: {_n(rows)} input clips, "
            f"{_n(f.status.get('ok', 0))} fetched, {_n(f.samples)} in the shards.")
    if f.fetch is None:
        return head + " The fetch directory is gone, so its source and dates are not recorded here."
    where = {"youtube": "YouTube (yt-dlp)", "mirror": "an HTTP mirror of the source videos",
             "local": "a local copy of the source videos"}.get(f.fetch.source, f.fetch.source)
    return head + f" Source: {where}." + (f" Fetched between {f.fetch.first} and {f.fetch.last} (UTC times "
                                          "of the first and last finished fetch task)." if f.fetch.first else "")


def missing_data(f: ShardFacts) -> str:
    failures = f.failures
    if not failures:
        return "Every input clip was fetched."
    lost = sum(failures.values())
    parts = "; ".join(f"{status} {_n(n)} ({f.reason(status)})" for status, n in
                      sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"{_n(lost)} of {_n(sum(f.status.values()))} input clips are not in the shards, by manifest status: "
            f"{parts}. manifest.parquet keeps one row per input clip with the downloader's or filter's message.")


def preprocessing(f: ShardFacts) -> list[str]:
    steps = []
    if f.fetch is not None:
        norm = f.fetch.normalize
        fps = f"{norm['fps']:g} fps" if norm.get("fps") else f"the source frame rate capped at {norm.get('max_fps', 30):g} fps"
        steps.append(f"Normalised by ffmpeg: video H.264 (crf {norm.get('crf')}, {norm.get('preset')}), short side "
                     f"{norm.get('short_side')} px, {fps}; audio FLAC {norm.get('sample_rate')} Hz, "
                     f"{norm.get('channels')} channel(s).")
        removed = f.removed_by_filters()
        if removed:
            thresholds = ", ".join(f"{k} {v}" for k, v in sorted(f.fetch.thresholds.items()))
            steps.append("Filters, with the clips each removed: "
                         + ", ".join(f"{name} {_n(n)}" for name, n in removed.items())
                         + (f" (thresholds: {thresholds})." if thresholds else "."))
    steps.append("Sharded by `valor-data shard` into WebDataset tars (members of a sample contiguous, sorted by "
                 "extension); index.parquet gives every member's byte offset, stats.json every tar's sha256.")
    return steps


def annotation(f: ShardFacts) -> str:
    if not f.captions:
        return "No captions: the clips carry only their AudioSet labels."
    text = ("Captions as given to `valor-data fetch` or `shard --captions`: VALOR-1M / VALOR-32K captions were "
            "written by human annotators who watched and listened to each clip, describing both what is seen "
            "and what is heard (the VALOR paper). AudioSet labels are the human ratings of the AudioSet "
            "release.")
    if f.provenance is not None:
        text += (f" The annotation campaign's provenance table ({f.provenance.path}) has "
                 f"{_n(f.provenance.rows)} rows.")
    return text


def annotation_analysis(f: ShardFacts) -> str | None:
    p = f.provenance
    if p is None:
        return None
    means = ", ".join(f"{name} mean {value:g}" for name, value in p.means.items()) or "no numeric column"
    return f"From the provenance table {p.path} ({_n(p.rows)} rows; columns {', '.join(p.columns)}): {means}."


def annotations_per_item(f: ShardFacts) -> str:
    mean = f.captions / f.captioned if f.captioned else 0.0
    return (f"{_n(f.captions)} captions on {_n(f.captioned)} clips ({mean:.2f} per captioned clip); "
            f"{_n(f.samples - f.captioned)} clips without a caption.")


def limitations(f: ShardFacts) -> str:
    parts = []
    failures = f.failures
    if failures:
        parts.append(f"{_n(sum(failures.values()))} input clips could not be fetched or were filtered out "
                     "(YouTube videos vanish over time), so results on these shards are not comparable with "
                     "results on the full source list")
    for split, (here, total) in f.valor32k.items():
        if here < total:
            parts.append(f"VALOR-32K {split}: {_n(here)} of its {_n(total)} clips are here "
                         f"({100 * here / total:.1f} %); score with `--available availability.txt`")
    if f.samples > f.captioned:
        parts.append(f"{_n(f.samples - f.captioned)} clips have no caption")
    return ("; ".join(parts) + ".") if parts else "None measured: every input clip is in the shards."


def biases(f: ShardFacts) -> str:
    counts = Counter(name for names in f.clips.column("label_names").to_pylist() for name in names if name)
    if not counts:
        return "No AudioSet labels on these clips, so no label distribution is measured."
    top = counts.most_common(5)
    labelled = sum(1 for names in f.clips.column("label_names").to_pylist() if names)
    return (f"AudioSet label distribution over {_n(labelled)} labelled clips ({len(counts)} distinct labels): "
            + ", ".join(f"{name} {_n(n)} ({100 * n / labelled:.1f} %)" for name, n in top)
            + ". The clips inherit AudioSet's sampling of YouTube, which over-represents music and speech.")


def use_cases() -> str:
    return ("Audiovisual captioning (AVC), text to audiovisual retrieval (AVR) and audio tagging, with "
            "`valor-bench` (VALOR-32K protocol) and `valor-model`; pretraining of vision-audio-language models.")


def personal_information() -> str:
    return ("The clips are excerpts of public YouTube videos: they can show faces and carry voices of "
            "identifiable people, and the YouTube id links each clip to its uploader.")


def maintenance() -> str:
    return ("Rebuilt from the input list with `valor-data fetch`, `shard` and `card`; `valor-data verify` checks "
            "the tars, index, manifest and this card against each other, and `sha256sum -c SHA256SUMS` the tars.")
