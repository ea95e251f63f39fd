"""The datasheet (Gebru et al., "Datasheets for Datasets") in the dataset card: seven sections, each filled
with what the toolkit measured and marked where only the publisher can answer.

A publisher's part is a visible ``TO BE WRITTEN BY THE PUBLISHER`` line under an HTML comment
``<!-- publisher: ... -->`` that says what to write, so it shows on the Hub and is easy to find.
"""

from __future__ import annotations

from valor_data.release import statements as say
from valor_data.release.card_files import AVAILABILITY_NAME, SUMS_NAME
from valor_data.release.facts import ShardFacts
from valor_data.release.terms import LICENSE_TEXT

TO_WRITE = "TO BE WRITTEN BY THE PUBLISHER"


def publisher(what: str) -> str:
    """A part only the publisher can write: an HTML comment saying what, and a visible placeholder."""
    return f"<!-- publisher: {what} -->\n*{TO_WRITE}: {what}*"


def datasheet(f: ShardFacts, license_text: str = LICENSE_TEXT) -> str:
    sections = {
        "Motivation": [
            "Built with the `valor` toolkit to reproduce and extend VALOR-1M / VALOR-32K, audiovisual clips with "
            "captions that describe both what is seen and what is heard.",
            publisher("who created this copy, for which purpose, and who funded it"),
        ],
        "Composition": [
            say.composition(f),
            f"**Labels and captions.** {say.annotations_per_item(f)} {say.biases(f)}",
            f"**Missing clips.** {say.missing_data(f)}",
            f"**Personal information.** {say.personal_information()}",
            publisher("whether the clips are a sample of a larger set and how they were chosen, and any "
                      "content that some viewers may find offensive"),
        ],
        "Collection process": [
            say.collection(f),
            publisher("who ran the download and the annotation, and how annotators were recruited and paid"),
        ],
        "Preprocessing, cleaning, labelling": [
            *say.preprocessing(f),
            say.annotation(f),
            *([say.annotation_analysis(f)] if f.provenance is not None else []),
        ],
        "Uses": [
            say.use_cases(),
            f"**Limitations.** {say.limitations(f)}",
            publisher("uses the dataset should not be put to, and tasks it was already used for"),
        ],
        "Distribution": [
            f"**Terms.** {license_text}",
            f"`{SUMS_NAME}` holds each tar's sha256 (`sha256sum -c {SUMS_NAME}`); `{AVAILABILITY_NAME}` lists the "
            "clips held, for `valor-bench evaluate --available`.",
            publisher("where and when the dataset is distributed, and under which terms if not the ones above"),
        ],
        "Maintenance": [
            say.maintenance(),
            publisher("who maintains the dataset, how to reach them, and how clip removal requests are handled"),
        ],
    }
    out = ["## Datasheet", "", "Sections after Gebru et al., *Datasheets for Datasets* (2021)."]
    for title, paragraphs in sections.items():
        out += ["", f"### {title}", ""]
        out += [line for p in paragraphs for line in (p, "")][:-1]
    return "\n".join(out) + "\n"
