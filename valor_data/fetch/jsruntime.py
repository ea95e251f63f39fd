"""The JavaScript runtime yt-dlp runs YouTube's challenges in, named to yt-dlp explicitly.

Since yt-dlp 2025.11.12, YouTube downloads need an external JavaScript runtime plus the ``yt-dlp-ejs``
scripts (yt-dlp's ``default`` extra). yt-dlp enables only deno unless told otherwise; the project depends
on PyPI's ``deno`` package (yt-dlp's ``deno`` extra), which puts the binary next to this Python's scripts,
where a user who never activated the environment would not have it on PATH. So the runtime is looked up
here - deno first (this Python's scripts folder, then PATH), else node, bun or QuickJS from PATH - and
handed to yt-dlp as its ``js_runtimes`` parameter with the path. ``--ytdlp-opts '{"js_runtimes": ...}'``
overrides it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sysconfig
from dataclasses import dataclass

# yt-dlp's runtime names -> the executable it runs (yt-dlp/utils/_jsruntime.py), in order of preference.
EXECUTABLES: dict[str, str] = {"deno": "deno", "node": "node", "bun": "bun", "quickjs": "qjs"}


@dataclass(frozen=True)
class JsRuntime:
    name: str  # yt-dlp's key: deno, node, bun, quickjs
    path: str


def _scripts_dir_executable(exe: str) -> str | None:
    """``exe`` in this interpreter's scripts folder (where pip put the ``deno`` package's binary)."""
    candidate = os.path.join(sysconfig.get_path("scripts"), exe + (sysconfig.get_config_var("EXE") or ""))
    return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None


def find_runtimes() -> list[JsRuntime]:
    """Every runtime yt-dlp supports that is installed here, preferred first."""
    found = []
    for name, exe in EXECUTABLES.items():
        path = _scripts_dir_executable(exe) if name == "deno" else None
        path = path or shutil.which(exe)
        if path:
            found.append(JsRuntime(name, path))
    return found


def ytdlp_info(runtime: JsRuntime):
    """yt-dlp's own view of ``runtime`` (its ``JsRuntimeInfo``: version, and whether yt-dlp supports that
    version), or None when the runtime does not run or this yt-dlp has no runtime registry."""
    try:
        # optional extra: data (yt-dlp); importing yt_dlp registers the runtimes
        import yt_dlp  # noqa: F401
        from yt_dlp.globals import supported_js_runtimes

        return supported_js_runtimes.value[runtime.name](path=runtime.path).info
    except Exception:  # a yt-dlp without the registry, or a runtime that does not start
        return None


@functools.cache
def preferred_runtime() -> JsRuntime | None:
    """The runtime valor hands to yt-dlp: the first installed one that yt-dlp supports at its version, else
    the first installed (yt-dlp then says what is wrong), else None. Looked up once per process (the
    parent does it before workers fork)."""
    found = find_runtimes()
    for runtime in found:
        info = ytdlp_info(runtime)
        if info is not None and info.supported is not False:
            return runtime
    return found[0] if found else None


def ytdlp_js_runtimes() -> dict[str, dict]:
    """yt-dlp's ``js_runtimes`` parameter: the preferred runtime with its path; ``{"deno": {}}`` (yt-dlp's
    own default, which then says what is missing) when none is installed. A new dict at every call:
    yt-dlp edits the one it is given."""
    runtime = preferred_runtime()
    return {runtime.name: {"path": runtime.path}} if runtime else {"deno": {}}
