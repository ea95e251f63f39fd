"""A campaign's rules, read from ``DIR/campaign.yaml``: its stages and their reviewers, the reject rule, the
rounds before the host decides, what a caption must be, the rejection reasons, guidelines and examples.

The file is the host's and is checked whole when it is loaded; every mistake is one line naming the file
and the key (``campaign.yaml: stages.second.reviewers: expected a whole number >= 1, got 'three'``), so a
typo never turns into a silently different campaign. What happens during the campaign (people, clips,
captions, verdicts) lives in the database, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from valor_data.annotate.states import STAGES, Role
from valor_data.config_reader import ConfigReader

CONFIG_FILE = "campaign.yaml"
REWORK = ("author", "other")


class CampaignError(ValueError):
    """``campaign.yaml`` cannot be used: one line naming the file, the key and what is wrong."""


@dataclass(frozen=True)
class StageConfig:
    """Who reviews a caption of this stage and when it goes back to be written again."""

    reviewers: int  # distinct reviewers per caption, never its author
    reject_when_more_than: int  # rejects above this send the caption back (the paper: more than 1 of 3)
    reviewer_roles: tuple[str, ...]  # roles that may review this stage's captions
    rework: str  # "author": the author rewrites a rejected caption; "other": any other qualified annotator


@dataclass(frozen=True)
class Example:
    """A video–audiovisual-caption pair shown in training."""

    clip_id: str
    caption: str
    note: str = ""


@dataclass(frozen=True)
class CampaignConfig:
    name: str
    stages: dict[str, StageConfig]
    max_rounds: int = 3  # captions written for one clip before the host decides
    lease_minutes: float = 20.0  # a writer's or reviewer's hold on a clip; a closed tab returns it after this
    qualification_min_accepted: int = 3  # gold captions the host accepts before an annotator gets campaign clips
    rejection_reasons: tuple[str, ...] = ()
    min_words: int = 8
    max_chars: int = 1000
    guidelines_path: Path | None = None
    examples: tuple[Example, ...] = ()
    drafts: bool = False  # clips imported with a model's draft show it to the writer to edit
    rate_limit_per_minute: int = 120  # requests per person

    @property
    def lease_seconds(self) -> float:
        return self.lease_minutes * 60.0

    def guidelines(self) -> str:
        """The guidelines in Markdown ('' when the campaign has none)."""
        return self.guidelines_path.read_text(encoding="utf-8") if self.guidelines_path else ""


# --------------------------------------------------------------------------------------------- parsing
class _Reader(ConfigReader):
    """campaign.yaml's values."""

    error = CampaignError

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "a non-empty string")
        return value.strip()

    def whole(self, name: str, default: int, minimum: int = 1) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(name, f"a whole number >= {minimum}")
        return value

    def words(self, name: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.data.get(name)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(name, "a non-empty list of strings")
        if choices is not None and not set(value) <= set(choices):
            raise self.fail(name, f"a list of {', '.join(choices)}")
        if len(set(value)) != len(value):
            raise self.fail(name, "a list without repeats")
        return tuple(v.strip() for v in value)

    def child(self, name: str, known: set[str]) -> _Reader:
        if name not in self.data:
            raise self.missing(name)
        return _Reader(self.source, self.key(name), self.data[name], known)


def _stage(parent: _Reader, name: str) -> StageConfig:
    r = parent.child(name, {"reviewers", "reject_when_more_than", "reviewer_roles", "rework"})
    reviewers = r.whole("reviewers", 1)
    reject = r.whole("reject_when_more_than", 0, minimum=0)
    if reject >= reviewers:
        raise r.fail("reject_when_more_than", f"a whole number below reviewers ({reviewers}), or no caption "
                     "could ever be rejected")
    roles = r.words("reviewer_roles", tuple(role.value for role in Role))
    rework = r.text("rework", "author")
    if rework not in REWORK:
        raise r.fail("rework", " or ".join(REWORK))
    return StageConfig(reviewers, reject, roles, rework)


def _examples(r: _Reader) -> tuple[Example, ...]:
    items = r.data.get("examples", [])
    if not isinstance(items, list):
        raise r.fail("examples", "a list")
    out = []
    for i, item in enumerate(items):
        e = _Reader(r.source, f"examples[{i}]", item, {"clip_id", "caption", "note"})
        out.append(Example(e.text("clip_id"), e.text("caption"), e.text("note") if "note" in item else ""))
    return tuple(out)


def load_config(directory: str | Path) -> CampaignConfig:
    """The campaign of ``directory`` (its ``campaign.yaml``); :class:`CampaignError` names what is wrong."""
    source = Path(directory) / CONFIG_FILE
    if not source.is_file():
        raise CampaignError(f"{source}: not found (make one with `valor-data annotate init {directory}`)")
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CampaignError(f"{source}: not valid YAML: {str(e).splitlines()[0]}") from None
    r = _Reader(source, "", data, {"name", "stages", "max_rounds", "lease_minutes", "qualification_min_accepted",
                                   "rejection_reasons", "min_words", "max_chars", "guidelines", "examples",
                                   "drafts", "rate_limit_per_minute"})
    stages_reader = r.child("stages", set(STAGES))
    stages = {name: _stage(stages_reader, name) for name in STAGES}
    guidelines = None
    if "guidelines" in data:
        guidelines = (source.parent / r.text("guidelines")).resolve()
        if not guidelines.is_file():
            raise CampaignError(f"{source}: guidelines: file {guidelines} not found")
    return CampaignConfig(
        name=r.text("name"), stages=stages, max_rounds=r.whole("max_rounds", 3),
        lease_minutes=r.number("lease_minutes", 20.0),
        qualification_min_accepted=r.whole("qualification_min_accepted", 3, minimum=0),
        rejection_reasons=r.words("rejection_reasons"), min_words=r.whole("min_words", 8),
        max_chars=r.whole("max_chars", 1000), guidelines_path=guidelines, examples=_examples(r),
        drafts=r.flag("drafts", False), rate_limit_per_minute=r.whole("rate_limit_per_minute", 120))


# --------------------------------------------------------------------------------------------- init
EXAMPLE_CONFIG = """\
# A VALOR caption campaign (valor-data annotate). Every key is checked when the campaign opens.
name: my-valor-campaign

stages:
  training:   # captions on gold clips, reviewed by the host: an annotator qualifies here
    reviewers: 1
    reject_when_more_than: 0
    reviewer_roles: [host]
    rework: author
  first:      # the VALOR-32K step: every caption checked by the organisers (or designated checkers)
    reviewers: 1
    reject_when_more_than: 0
    reviewer_roles: [host, reviewer]
    rework: author
  second:     # the VALOR-1M step: three other annotators review blind; more than one reject sends it back
    reviewers: 3
    reject_when_more_than: 1
    reviewer_roles: [annotator, reviewer]
    rework: author   # or: other (another qualified annotator rewrites it)

max_rounds: 3                  # captions written for one clip before the host decides
lease_minutes: 20              # a closed tab returns its clip after this
qualification_min_accepted: 3  # gold captions accepted by the host before campaign clips
min_words: 8
max_chars: 1000
drafts: false                  # true: clips imported with --drafts show the model's caption to edit
rate_limit_per_minute: 120

rejection_reasons:
  - no-sound
  - missing-main-subject
  - wrong-content
  - too-short
  - not-fluent
  - copied-labels

guidelines: guidelines.md

examples:   # VALOR-32K validation captions
  - clip_id: 7G0CFAGswrw_240.000_250.000
    caption: "In the room, a woman held a can of stuff in her hand and showed it back and forth. The sound of
      xylophone and children's music came from the background music."
    note: the scene, the main subject and her action, then what is heard
  - clip_id: ioOD-ITY4bI_0.000_10.000
    caption: "With the sound of chewing, a red bike was parked outside, and a man in a dark top stood looking at
      the bike."
    note: the sound can lead the sentence
"""

EXAMPLE_GUIDELINES = """\
# Writing an audiovisual caption

Watch the whole clip **with its sound** before you write. One caption describes what is seen *and* what
is heard, in one or two fluent sentences:

- **Main bodies**: who or what the clip is about (a woman, two dogs, a red car).
- **Activities**: what they do.
- **Scene**: where it happens (a kitchen, a stage, a forest at night).
- **Objects** that matter to the activity.
- **Sounds**: speech, music, animals, engines, the crowd: name what you hear and, when you can, who makes it.

Before you write, read the clip's **AudioSet labels**: they say which sounds were found in it. Use them as
a prior, not as a list to copy; a caption made of the labels is rejected (`copied-labels`).

A caption is refused when it has fewer than the campaign's minimum words, is too long, or is empty.

Reviewers reject a caption with one of the campaign's reasons: `no-sound`, `missing-main-subject`,
`wrong-content`, `too-short`, `not-fluent`, `copied-labels`. You see the reasons next to the clip and write
it again.
"""


def write_example(directory: str | Path) -> list[Path]:
    """Write an example campaign into ``directory`` (refused when it already holds one); returns the files."""
    directory = Path(directory)
    config = directory / CONFIG_FILE
    if config.exists():
        raise CampaignError(f"{config}: already exists (a campaign is there; edit it instead)")
    directory.mkdir(parents=True, exist_ok=True)
    guidelines = directory / "guidelines.md"
    if not guidelines.exists():
        guidelines.write_text(EXAMPLE_GUIDELINES, encoding="utf-8")
    config.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    return [config, guidelines]
