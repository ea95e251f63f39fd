"""One clip's way through fetch: download (with retries) -> probe -> filters -> normalise -> its manifest row.

Nothing here raises for a clip: every outcome, a bug included, becomes the clip's row with a status
from ``clip.Status`` and the real message.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from valor_data.clip import MANIFEST_SCHEMA, OK, ClipRef, Status
from valor_data.fetch.failures import ClipFailure
from valor_data.fetch.filters import ClipFilter, apply_filters
from valor_data.fetch.normalize import normalize
from valor_data.fetch.plan import FetchTask
from valor_data.fetch.probe import ProbeError, probe_media
from valor_data.fetch.sources import Segment, Source, retry_transient
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


def _output_facts(video: Path, audio: Path) -> dict:
    import av

    out: dict = {}
    with av.open(str(video)) as c:
        v = c.streams.video[0]
        rate = v.average_rate or v.guessed_rate
        out.update(width=v.codec_context.width, height=v.codec_context.height,
                   fps=round(float(rate), 4) if rate else None, frames=v.frames or None,
                   duration=round(c.duration / 1e6, 4) if c.duration else None)
    with av.open(str(audio)) as c:
        a = c.streams.audio[0]
        out.update(sample_rate=a.codec_context.sample_rate, channels=a.codec_context.channels,
                   audio_duration=round(c.duration / 1e6, 4) if c.duration else None)
    return {k: v for k, v in out.items() if v is not None}


@dataclass
class Downloaded:
    """A clip's download outcome: its segment, or the failure that ended its attempts."""

    clip: ClipRef
    segment: Segment | None
    failure: ClipFailure | None
    attempts: int
    seconds: float


def download_clip(clip: ClipRef, task: FetchTask, source: Source) -> Downloaded:
    """Fetch one clip's segment into its scratch folder, retrying transient failures; never raises."""
    work = task.work_dir / clip.key
    d = task.options.download
    started = time.monotonic()
    try:
        segment, attempts = retry_transient(
            lambda n: source.fetch(clip, _fresh_dir(work) if source.needs_workdir else work),
            d.retries, d.retry_wait, d.retry_max_wait)
        return Downloaded(clip, segment, None, attempts, round(time.monotonic() - started, 3))
    except ClipFailure as failure:
        return Downloaded(clip, None, failure, getattr(failure, "attempts", 1), round(time.monotonic() - started, 3))
    except Exception as e:  # a bug or an environment problem: recorded, the task goes on
        return Downloaded(clip, None, unexpected_error(task, clip, e), 1, round(time.monotonic() - started, 3))


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


def finish_clip(downloaded: Downloaded, task: FetchTask, filters: Sequence[ClipFilter]) -> dict:
    """Probe, filter and normalise a downloaded clip, move its files into place; returns its manifest row
    and never raises ClipFailure (an unexpected exception becomes status ``error`` with the exception)."""
    clip, segment = downloaded.clip, downloaded.segment
    row = _row(clip)
    row.update(attempts=downloaded.attempts, download_s=downloaded.seconds)
    work = task.work_dir / clip.key
    opts = task.options
    processing = time.monotonic()
    try:
        if downloaded.failure is not None:
            return _fail(row, downloaded.failure)
        try:
            facts = probe_media(segment.path, segment.start, segment.start + segment.duration)
        except ProbeError as e:
            raise ClipFailure(Status.DECODE_ERROR, str(e)) from None
        probe = facts.to_dict()
        row["probe"] = json.dumps(probe, sort_keys=True)
        max_duration = opts.download.max_duration
        if segment.whole_video and max_duration and (facts.source_duration or 0) > max_duration:
            raise ClipFailure(Status.TOO_LONG, f"the video lasts {facts.source_duration:g} s > --max-duration "
                                          f"{max_duration:g} s")
        rejection = apply_filters(filters, facts)
        if rejection is not None:
            raise ClipFailure(rejection.reason, rejection.message)
        work.mkdir(parents=True, exist_ok=True)
        tmp_video, tmp_audio = work / "video.mp4.part", work / "audio.flac.part"
        normalize(segment.path, tmp_video, tmp_audio, opts.normalize, duration=segment.duration,
                  start=segment.start if segment.whole_video else None, source_fps=facts.fps)
        probe["output"] = _output_facts(tmp_video, tmp_audio)
        row["probe"] = json.dumps(probe, sort_keys=True)
        video_rel, audio_rel = task.media_paths(clip)
        task.clip_dir.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_video, task.out / video_rel)
        os.replace(tmp_audio, task.out / audio_rel)
        row.update(status=OK, video_path=video_rel, audio_path=audio_rel,
                   video_bytes=(task.out / video_rel).stat().st_size,
                   audio_bytes=(task.out / audio_rel).stat().st_size)
    except ClipFailure as failure:
        _fail(row, failure)
    except Exception as e:  # a bug or an environment problem: recorded, the task goes on
        _fail(row, unexpected_error(task, clip, e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row["process_s"] = round(time.monotonic() - processing, 3)
    return row


def process_clip(clip: ClipRef, task: FetchTask, source: Source, filters: Sequence[ClipFilter]) -> dict:
    """Download, probe, filter and normalise one clip: its manifest row."""
    return finish_clip(download_clip(clip, task, source), task, filters)


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
