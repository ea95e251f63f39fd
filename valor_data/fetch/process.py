"""One clip's way through fetch: resolve its media and read their headers (with retries) -> one normalising
ffmpeg pass (retried on network failures) -> read the outputs back -> filters -> output checks -> its row.

Nothing here raises for a clip: every outcome, a bug included, becomes the clip's row with a status
from ``clip.Status`` and the real message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from valor_data.clip import MANIFEST_SCHEMA, OK, ClipRef, Status
from valor_data.digest import sha256_file
from valor_data.fetch.failures import ClipFailure, classify
from valor_data.fetch.filters import ClipFilter, Decodable, HasAudio, HasVideo, apply_filters
from valor_data.fetch.normalize import (
    Cut,
    NormalizeOptions,
    display_size,
    normalize,
    output_size,
)
from valor_data.fetch.plan import FetchTask
from valor_data.fetch.probe import (
    InputFacts,
    OutputSpec,
    ProbeError,
    ProbeFacts,
    check_outputs,
    probe_input,
    read_outputs,
)
from valor_data.fetch.sources import Resolved, Source, retry_transient
from valor_data.inputs import BadRow


# ----------------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------------
def _row(clip: ClipRef) -> dict:
    return {
        "clip_id": clip.clip_id, "key": clip.key, "ytid": clip.ytid, "start": clip.start, "end": clip.end,
        "labels": list(clip.labels), "captions": list(clip.captions),
        "source": f"{clip.source}:{clip.line}" if clip.source else None,
        "status": None, "message": None, "attempts": 0, "download_s": None, "process_s": None,
        "video_bytes": None, "audio_bytes": None, "video_path": None, "audio_path": None,
        "probe": None, "shard": None,
    }


def bad_row(bad: BadRow) -> dict:
    """The manifest row of a malformed input row: no key, status invalid_id, message 'file:line: why'."""
    return {**{name: None for name in MANIFEST_SCHEMA.names}, "clip_id": bad.raw, "labels": [], "captions": [],
            "source": bad.where, "status": Status.INVALID_ID, "message": f"{bad.where}: {bad.message}", "attempts": 0}


def streams_filters() -> list[ClipFilter]:
    """What the pass needs before it runs: a video and an audio stream (the filters of those names)."""
    return [Decodable(), HasVideo(), HasAudio()]


def _fail(row: dict, failure: ClipFailure) -> dict:
    row["status"], row["message"] = failure.reason, failure.message
    return row


# ----------------------------------------------------------------------------------------------------
# One clip
# ----------------------------------------------------------------------------------------------------
def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@dataclass
class Downloaded:
    """A clip's resolve outcome: its media and what their headers say, or the failure that ended its
    attempts."""

    clip: ClipRef
    resolved: Resolved | None
    facts: InputFacts | None
    failure: ClipFailure | None
    attempts: int
    seconds: float


def probe_inputs(resolved: Resolved, socket_timeout: float) -> InputFacts:
    """The header facts of the clip's inputs (split DASH: the video's, with the audio's audio facts), and on
    a video input without an index the keyframe the segment decodes from."""
    facts = []
    for i, inp in enumerate(resolved.inputs):
        target = inp.url[len("file:"):] if inp.url.startswith("file:") else inp.url
        try:
            facts.append(probe_input(target, resolved.probe_options(i, socket_timeout),
                                     segment_start=resolved.start if i == 0 else None))
        except ProbeError as e:
            raise ClipFailure(classify(str(e), default=Status.DECODE_ERROR), str(e)) from None
    return facts[0] if len(facts) == 1 else facts[0].with_audio_of(facts[-1])


def _prepare(clip: ClipRef, task: FetchTask, source: Source) -> tuple[Resolved, InputFacts]:
    """One attempt at a clip's media: resolve it, read its headers, refuse what must not be read."""
    d = task.options.download
    work = task.work_dir / clip.key
    resolved = source.fetch(clip, _fresh_dir(work) if source.needs_workdir else work)
    facts = probe_inputs(resolved, d.socket_timeout)
    length = resolved.source_duration or facts.duration
    if d.max_duration is not None and length is not None and length > d.max_duration:
        raise ClipFailure(Status.TOO_LONG, f"the video lasts {length:g} s > --max-duration {d.max_duration:g} s")
    size = resolved.size or facts.size
    if resolved.way == "one_pass" and d.max_filesize and size and length:
        estimate = size * resolved.duration / length
        if estimate > d.max_filesize:
            raise ClipFailure(Status.TOO_LARGE, f"the segment is about {estimate:,.0f} bytes ({size:,} bytes x "
                                                f"{resolved.duration:g} s / {length:g} s), over --max-filesize "
                                                f"({d.max_filesize} bytes)")
    return resolved, facts


def download_clip(clip: ClipRef, task: FetchTask, source: Source) -> Downloaded:
    """Resolve one clip's media and read its headers (the fallback downloads its segment), retrying
    transient failures; never raises."""
    d = task.options.download
    started = time.monotonic()
    try:
        (resolved, facts), attempts = retry_transient(lambda n: _prepare(clip, task, source), d.retries,
                                                      d.retry_wait, d.retry_max_wait)
        return Downloaded(clip, resolved, facts, None, attempts, round(time.monotonic() - started, 3))
    except ClipFailure as failure:
        return Downloaded(clip, None, None, failure, getattr(failure, "attempts", 1),
                          round(time.monotonic() - started, 3))
    except Exception as e:  # a bug or an environment problem: recorded, the task goes on
        return Downloaded(clip, None, None, unexpected_error(task, clip, e), 1, round(time.monotonic() - started, 3))


def unexpected_error(task: FetchTask, clip: ClipRef, exc: Exception) -> ClipFailure:
    """Status ``error`` for an exception nobody classified (a bug, a full disk): the message names the
    exception and where it was raised, the whole traceback goes to the task's ``_errors/`` log."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno} in {where[0].name}" if where else ""
    log = task.error_log
    with contextlib.suppress(OSError):  # the log is a diagnostic: failing to write it loses nothing else
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"=== {clip.clip_id} ({clip.key}) {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
            f.write("".join(traceback.format_exception(exc)))
    return ClipFailure(Status.ERROR, f"{type(exc).__name__}: {exc}{at} (traceback in "
                                     f"{log.relative_to(task.out).as_posix()})")


def plan_cut(resolved: Resolved, facts: InputFacts, opts: NormalizeOptions) -> Cut:
    """What the pass takes: the segment, at the output rate. ffmpeg seeks to the keyframe before the start
    and decodes from there, except on a source whose demuxer cannot seek to a keyframe: that one is read
    from the keyframe the probe found (from the file's start when it found none), so that every frame of the
    segment decodes."""
    preroll = 0.0
    if not facts.indexed:
        preroll = round(min(resolved.start, max(0.0, resolved.start - (facts.keyframe or 0.0))), 6)
    rate = opts.output_rate(facts.base_rate or facts.fps)
    return Cut(resolved.start, resolved.duration, rate, 0, resolved.audio_input, preroll)


def output_spec(cut: Cut, facts: InputFacts, opts: NormalizeOptions) -> OutputSpec:
    size = None
    if facts.width and facts.height:
        size = output_size(display_size(facts.width, facts.height, facts.sar, facts.rotation), opts.short_side)
    return OutputSpec(cut.duration, opts.short_side, cut.rate, opts.sample_rate, opts.channels, size,
                      start=cut.start, source_fps=facts.fps,
                      video_from=max(0.0, (facts.video_start or 0.0) - cut.start))


_ADDRESS_RE = re.compile(r" @ 0x[0-9a-f]+")


def _source_facts(probe: ProbeFacts, facts: InputFacts) -> None:
    """The manifest's top-level facts describe the source; the measures come from what the pass wrote."""
    probe.source_duration = facts.duration
    probe.has_video, probe.has_audio = facts.has_video, facts.has_audio
    probe.width, probe.height, probe.fps, probe.vcodec = facts.width, facts.height, facts.fps, facts.vcodec
    probe.acodec, probe.sample_rate, probe.channels = facts.acodec, facts.sample_rate, facts.channels


def _run_pass(downloaded: Downloaded, task: FetchTask, filters: Sequence[ClipFilter], row: dict) -> None:
    """Normalise, read back, filter and check one resolved clip; moves its files into place when ok."""
    clip, resolved, facts = downloaded.clip, downloaded.resolved, downloaded.facts
    opts, d = task.options, task.options.download
    info: dict = {"path": resolved.way, "source": facts.to_dict()}
    row["probe"] = json.dumps(info, sort_keys=True)
    before = ProbeFacts(has_video=facts.has_video, has_audio=facts.has_audio)
    _source_facts(before, facts)
    rejection = apply_filters(streams_filters(), before)  # the pass needs both streams
    if rejection is not None:
        row["probe"] = json.dumps({**before.to_dict(), **info}, sort_keys=True)
        raise ClipFailure(rejection.reason, rejection.message)
    cut = plan_cut(resolved, facts, opts.normalize)
    work = _fresh_dir(task.work_dir / clip.key / "out")
    tmp_video, tmp_audio = work / "video.mp4", work / "audio.flac"
    remote = any(i.is_url for i in resolved.inputs)
    result, attempts = retry_transient(
        lambda n: normalize(resolved.inputs, cut, tmp_video, tmp_audio, opts.normalize,
                            socket_timeout=d.socket_timeout),
        d.retries if remote else 0, d.retry_wait, d.retry_max_wait)
    row["attempts"] = downloaded.attempts + attempts - 1
    out, probe = read_outputs(tmp_video, tmp_audio, result.thumbs)
    _source_facts(probe, facts)
    decode_problems = [p for p in result.warnings if classify(p, default=None) is Status.DECODE_ERROR]
    if decode_problems and not probe.decode_error:
        probe.decode_error = _ADDRESS_RE.sub("", "; ".join(decode_problems[:3]))
    spec = output_spec(cut, facts, opts.normalize)
    problems, checked = check_outputs(out, spec, result.frame_times)
    out.extra.update(checked=checked, segment=round(cut.duration, 6), rate=str(cut.rate),
                     tolerance={"video_s": round(spec.video_tolerance, 4), "audio_s": spec.audio_tolerance})
    if cut.preroll:
        out.extra["preroll"] = cut.preroll
    info["output"] = out.to_dict()
    row["probe"] = json.dumps({**probe.to_dict(), **info}, sort_keys=True)
    rejection = apply_filters(filters, probe)
    if rejection is not None:
        raise ClipFailure(rejection.reason, rejection.message)
    if problems:
        gaps = [p.message for p in problems if p.gap]
        if gaps:
            raise ClipFailure(Status.GAP, "; ".join(gaps))
        short = [p.message for p in problems if p.short]
        if short:
            end = (facts.duration or 0.0) - resolved.start if resolved.way != "segment_download" else None
            why = f" (the source ends {end:.3f} s into the segment)" if end is not None and end < cut.duration else ""
            raise ClipFailure(Status.TRUNCATED, "; ".join(short) + why)
        raise ClipFailure(Status.FFMPEG_ERROR, "output check failed: " + "; ".join(p.message for p in problems))
    out.extra["sha256"] = {"mp4": sha256_file(tmp_video), "flac": sha256_file(tmp_audio)}
    info["output"] = out.to_dict()
    row["probe"] = json.dumps({**probe.to_dict(), **info}, sort_keys=True)
    video_rel, audio_rel = task.media_paths(clip)
    task.clip_dir.mkdir(parents=True, exist_ok=True)
    os.replace(tmp_video, task.out / video_rel)
    os.replace(tmp_audio, task.out / audio_rel)
    row.update(status=OK, video_path=video_rel, audio_path=audio_rel,
               video_bytes=(task.out / video_rel).stat().st_size, audio_bytes=(task.out / audio_rel).stat().st_size)


def finish_clip(downloaded: Downloaded, task: FetchTask, filters: Sequence[ClipFilter]) -> dict:
    """Normalise, probe, filter and check a resolved clip, move its files into place; returns its manifest
    row and never raises ClipFailure (an unexpected exception becomes status ``error`` with the exception)."""
    clip = downloaded.clip
    row = _row(clip)
    row.update(attempts=downloaded.attempts, download_s=downloaded.seconds)
    processing = time.monotonic()
    try:
        if downloaded.failure is not None:
            return _fail(row, downloaded.failure)
        _run_pass(downloaded, task, filters, row)
    except ClipFailure as failure:
        if getattr(failure, "attempts", None):
            row["attempts"] = downloaded.attempts + failure.attempts - 1
        _fail(row, failure)
    except Exception as e:  # a bug or an environment problem: recorded, the task goes on
        _fail(row, unexpected_error(task, clip, e))
    finally:
        shutil.rmtree(task.work_dir / clip.key, ignore_errors=True)
    row["process_s"] = round(time.monotonic() - processing, 3)
    return row


def count_fallbacks(table: pa.Table) -> int:
    """Clips whose media took the fallback (a downloaded segment): formats ffmpeg cannot seek directly."""
    probe = table.column("probe")
    return int(pc.sum(pc.match_substring(probe.fill_null(""), '"path": "segment_download"')).as_py() or 0)


def prefetched(clips: Sequence[ClipRef], task: FetchTask, source: Source) -> Iterator[Downloaded]:
    """Downloads in one background thread, one clip ahead: the next clip's (network-bound) download
    overlaps the current clip's (CPU-bound) probe and normalisation."""
    if not clips:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="valor-prefetch") as pool:
        future = pool.submit(download_clip, clips[0], task, source)
        for nxt in clips[1:]:
            done = future.result()
            future = pool.submit(download_clip, nxt, task, source)
            yield done
        yield future.result()
