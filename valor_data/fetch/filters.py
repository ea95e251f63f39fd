"""Clip filters: small uniform pieces in a name -> class registry, run on a segment's probe facts.

Every filter is a frozen dataclass whose fields are its thresholds and whose ``check(facts)`` returns None
(keep) or a :class:`Rejection` (reason from ``clip.REASONS`` + message). Filters are built from a name list
and a flat threshold mapping; unknown filter names and thresholds no chosen filter takes fail loudly, so a
typo never silently disables a filter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from valor_data.clip import REASONS, Status
from valor_data.fetch.probe import DARK_LUMA, ProbeFacts


@dataclass(frozen=True)
class Rejection:
    reason: Status
    message: str

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reason {self.reason!r}")
        object.__setattr__(self, "reason", Status(self.reason))


FILTERS: dict[str, type[ClipFilter]] = {}


def register(name: str):
    def deco(cls: type[ClipFilter]) -> type[ClipFilter]:
        cls.name = name
        FILTERS[name] = cls
        return cls

    return deco


@dataclass(frozen=True)
class ClipFilter:
    """Base: subclasses are frozen dataclasses (fields = thresholds) with a ``check`` method."""

    name: ClassVar[str] = ""
    statuses: ClassVar[tuple[Status, ...]] = ()  # every status its check can reject with (the card counts them)

    def check(self, facts: ProbeFacts) -> Rejection | None:  # pragma: no cover - abstract
        raise NotImplementedError


@register("decodable")
@dataclass(frozen=True)
class Decodable(ClipFilter):
    """Some video or audio must decode; a decoding error with nothing decoded before it rejects."""

    statuses = (Status.DECODE_ERROR,)

    def check(self, facts: ProbeFacts) -> Rejection | None:
        if not (facts.has_video or facts.has_audio):
            return Rejection(Status.DECODE_ERROR, "no audio or video stream decodes")
        if facts.decode_error and not facts.duration:
            return Rejection(Status.DECODE_ERROR, facts.decode_error)
        if facts.has_video and facts.duration is not None and facts.frames_sampled == 0 and facts.duration > 0:
            return Rejection(Status.DECODE_ERROR, "no video frame decodes in the segment")
        return None


@register("has_video")
@dataclass(frozen=True)
class HasVideo(ClipFilter):
    statuses = (Status.NO_VIDEO,)

    def check(self, facts: ProbeFacts) -> Rejection | None:
        return None if facts.has_video else Rejection(Status.NO_VIDEO, "the file has no video stream")


@register("has_audio")
@dataclass(frozen=True)
class HasAudio(ClipFilter):
    statuses = (Status.NO_AUDIO,)

    def check(self, facts: ProbeFacts) -> Rejection | None:
        return None if facts.has_audio else Rejection(Status.NO_AUDIO, "the file has no audio stream")


@register("min_duration")
@dataclass(frozen=True)
class MinDuration(ClipFilter):
    """The decoded segment (shortest of its streams) must last ``min_duration`` seconds."""

    statuses = (Status.TOO_SHORT,)
    min_duration: float = 2.0

    def check(self, facts: ProbeFacts) -> Rejection | None:
        d = facts.duration or 0.0
        if d + 1e-3 < self.min_duration:
            src = f" (the file lasts {facts.source_duration:.3f} s)" if facts.source_duration is not None else ""
            return Rejection(Status.TOO_SHORT, f"segment decodes to {d:.3f} s < --min-duration {self.min_duration:g} s{src}")
        return None


@register("not_silent")
@dataclass(frozen=True)
class NotSilent(ClipFilter):
    """Audio RMS over the segment must reach ``silence_db`` dBFS."""

    statuses = (Status.SILENT,)
    silence_db: float = -60.0

    def check(self, facts: ProbeFacts) -> Rejection | None:
        if not facts.has_audio or facts.rms_db is None:
            return None  # has_audio / decodable decide those
        if facts.rms_db < self.silence_db:
            return Rejection(Status.SILENT, f"audio RMS {facts.rms_db:.1f} dBFS < --silence-db {self.silence_db:g}")
        return None


@register("not_frozen")
@dataclass(frozen=True)
class NotFrozen(ClipFilter):
    """The picture must change somewhere and must not be black.

    Frozen: no block of a 16 x 16 grid (``probe.GRID``) changes by ``frozen_diff`` between any two sampled
    frames (the pass samples eight, from the clip's first frame to its last), neither in brightness (grey
    levels of the Y plane, 0-255, mean absolute difference over the block) nor in colour (the same on
    either chroma plane, Cb or Cr, colour levels 0-255). Any two frames rather than neighbours, so slow
    pans, zooms and turns add up; blocks, so a small object moving over a still background is motion;
    chroma, so an object of another colour but the same brightness is too. Measured on synthetic media
    (docs/guide/fetch.md), stills re-encoded at every keyframe reach 7.8 (grey) and 6.2 (colour), a 6-px
    object crossing a 320-px frame 15, a slow pan, zoom or turn 18 within 2 s. Black: every sampled frame
    has at least ``black_share`` of its pixels dark (luma <= ``probe.DARK_LUMA``), as ffmpeg's blackdetect
    counts them (98 %), so a night scene with a lit stage, fireworks or a bright object on black is not
    black.
    """

    statuses = (Status.BLACK, Status.FROZEN)
    frozen_diff: float = 8.0
    black_share: float = 0.98

    def __post_init__(self) -> None:
        if not self.frozen_diff >= 0:
            raise ValueError(f"--frozen-diff must be >= 0 (grey or colour levels 0-255), got {self.frozen_diff:g}")
        if not 0 < self.black_share <= 1:
            raise ValueError(f"--black-share must be in (0, 1], got {self.black_share:g}")

    def check(self, facts: ProbeFacts) -> Rejection | None:
        if not facts.has_video or facts.frames_sampled == 0:
            return None
        if facts.dark_share is not None and facts.dark_share >= self.black_share:
            return Rejection(Status.BLACK, f"black video: {100 * facts.dark_share:.1f} % of the pixels of every "
                                           f"sampled frame are dark (luma <= {DARK_LUMA:g}), >= --black-share "
                                           f"{self.black_share:g}")
        grey, colour = facts.block_motion, facts.colour_motion
        if facts.frames_sampled < 2 or grey is None or colour is None:
            return None
        if max(grey, colour) < self.frozen_diff:
            return Rejection(Status.FROZEN, f"frozen video: no block of the picture changes by more than "
                                            f"{grey:.2f} grey levels or {colour:.2f} colour levels "
                                            f"between any two of {facts.frames_sampled} sampled frames "
                                            f"< --frozen-diff {self.frozen_diff:g}")
        return None


DEFAULT_FILTERS: tuple[str, ...] = ("decodable", "has_video", "has_audio", "min_duration", "not_silent", "not_frozen")


def thresholds_of(names: Iterable[str]) -> dict[str, object]:
    """Every threshold the named filters take, with its default."""
    out: dict[str, object] = {}
    for name in names:
        for f in dataclasses.fields(FILTERS[name]):
            out[f.name] = f.default
    return out


ALL_THRESHOLDS = frozenset(thresholds_of(FILTERS))


def build_filters(names: Sequence[str] = DEFAULT_FILTERS, thresholds: Mapping[str, object] | None = None,
                  ) -> list[ClipFilter]:
    """Instantiate filters by name, handing each the thresholds it declares.

    Raises ValueError for an unknown filter name or a threshold that none of the chosen filters takes.
    """
    thresholds = dict(thresholds or {})
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise ValueError(f"unknown filter(s) {', '.join(map(repr, unknown))}: choose from {', '.join(FILTERS)}")
    taken = set(thresholds_of(names))
    stray = sorted(set(thresholds) - taken)
    if stray:
        raise ValueError(f"threshold(s) {', '.join(stray)} not used by the chosen filters ({', '.join(names)})")
    built = []
    for name in dict.fromkeys(names):
        cls = FILTERS[name]
        own = {f.name: thresholds[f.name] for f in dataclasses.fields(cls) if f.name in thresholds}
        built.append(cls(**own))
    return built


def apply_filters(filters: Iterable[ClipFilter], facts: ProbeFacts) -> Rejection | None:
    """The first rejection, in filter order, or None when the clip passes every filter."""
    for f in filters:
        rejection = f.check(facts)
        if rejection is not None:
            if rejection.reason not in f.statuses:
                raise AssertionError(f"filter {f.name} rejected with {rejection.reason.value}, not one of its statuses")
            return rejection
    return None
