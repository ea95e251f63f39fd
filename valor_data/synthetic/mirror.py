"""An embedded HTTP mirror that serves a directory the way a video host does, faults included.

Python's ``http.server`` ignores ``Range`` headers, and ffmpeg (inside yt-dlp's segment download) seeks
with them, so this server answers single byte ranges with ``206 Partial Content``. Each file name can be
given a fault to inject, to test how the fetcher classifies and retries failures without a network:

* ``404``: always Not Found; ``403``: always Forbidden (an expired or refused media URL); ``500``: always
  Internal Server Error;
* ``429``: Too Many Requests for the first ``times`` requests, then normal service;
* ``truncate``: announces the full length, stops sending at ``fraction`` of the file, closes the connection;
* ``stall``: accepts the request and says nothing for ``stall_s`` seconds (past the client's socket
  timeout), then closes; bounded, and cut short when the mirror stops.

A fault can be limited to the first ``times`` requests, and to ranged requests only (``ranged_only``:
the media reads ffmpeg makes, not the page request yt-dlp makes first).

Use it as a context manager::

    with Mirror(clip_dir, faults={"abc.mp4": Fault("404")}) as m:
        url = m.url_template            # http://127.0.0.1:PORT/{ytid}.mp4
"""

from __future__ import annotations

import mimetypes
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

FAULT_KINDS = ("403", "404", "429", "500", "truncate", "stall")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


@dataclass
class Fault:
    """A fault injected for one file, for its first ``times`` requests (None: all of them); with
    ``ranged_only`` only requests with a Range header count (a media read, not a page probe)."""

    kind: str
    times: int | None = None
    stall_s: float = 5.0
    fraction: float = 0.5  # where in the file a ``truncate`` fault stops sending
    ranged_only: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}: choose one of {', '.join(FAULT_KINDS)}")
        if self.kind == "429" and self.times is None:
            self.times = 1


@dataclass
class RequestLog:
    """One request the mirror answered: what was asked and how much of the body went out."""

    name: str
    method: str
    range: str | None
    status: int
    sent: int


@dataclass
class _State:
    root: Path
    faults: dict[str, Fault]
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hits: dict[str, int] = field(default_factory=dict)
    log: list[RequestLog] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server_version = "valor-mirror/1"
    protocol_version = "HTTP/1.1"
    state: _State  # set on the subclass made per mirror

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet: tests read .log
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _end_headers(self) -> None:
        # Say so when this connection closes after the response (the client asked, or a fault cuts it):
        # HTTP/1.1 clients that keep connections alive (ffmpeg 7) would otherwise send their next request
        # down a closed socket.
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _record(self, name: str, status: int, sent: int) -> None:
        with self.state.lock:
            self.state.log.append(RequestLog(name, self.command, self.headers.get("Range"), status, sent))

    def _error(self, name: str, status: int, extra: dict[str, str] | None = None) -> None:
        body = f"{status} {HTTPStatus(status).phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self._end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._record(name, status, 0)

    def _fault_for(self, name: str) -> Fault | None:
        with self.state.lock:
            fault = self.state.faults.get(name)
            if fault is None or (fault.ranged_only and not self.headers.get("Range")):
                return None
            hit = self.state.hits.get(name, 0)
            self.state.hits[name] = hit + 1
        if fault.times is not None and hit >= fault.times:
            return None
        return fault

    def _serve(self, body: bool) -> None:
        name = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.state.root / name).resolve()
        if not name or self.state.root not in path.parents or not path.is_file():
            self._error(name, 404)
            return
        fault = self._fault_for(name)
        if fault is not None and fault.kind in ("403", "404", "500"):
            self._error(name, int(fault.kind))
            return
        if fault is not None and fault.kind == "429":
            self._error(name, 429, {"Retry-After": "1"})
            return
        if fault is not None and fault.kind == "stall":
            self.state.stop.wait(fault.stall_s)
            self.close_connection = True
            self._record(name, 0, 0)
            return
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        header = self.headers.get("Range")
        if header:
            m = _RANGE_RE.match(header.strip())
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:  # suffix range: the last N bytes
                    start = max(0, size - int(m.group(2)))
                if start >= size or start > end:
                    self._error(name, 416, {"Content-Range": f"bytes */{size}"})
                    return
                status = 206
            # Multiple or malformed ranges: RFC 9110 lets a server ignore Range and send the whole file.
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if fault is not None and fault.kind == "truncate":
            self.close_connection = True
        self._end_headers()
        if not body:
            self._record(name, status, 0)
            return
        limit = length
        if fault is not None and fault.kind == "truncate":
            # Cut at an absolute offset of the file, so every ranged read past it breaks too.
            limit = max(0, min(length, int(size * fault.fraction) - start))
            self.close_connection = True
        sent = 0
        try:
            with path.open("rb") as f:
                f.seek(start)
                while sent < limit:
                    chunk = f.read(min(_CHUNK, limit - sent))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client read what it needed and hung up: normal for probes
        self._record(name, status, sent)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-request is what video hosts see all day (ffmpeg closes a connection
        when it seeks or has read enough): not worth a traceback on stderr. Anything else still gets one."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Mirror:
    """Serve ``root`` on 127.0.0.1 at a free port, in a background thread, with per-file faults."""

    def __init__(
        self,
        root: str | os.PathLike,
        faults: dict[str, Fault | str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"{root}: not a directory to serve")
        self._state = _State(self.root, {})
        for name, fault in (faults or {}).items():
            self.set_fault(name, fault)
        handler = type("MirrorHandler", (_Handler,), {"state": self._state})
        self._server = _Server((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def url_template(self) -> str:
        """The ``--url-template`` for ``valor-data fetch --source mirror``."""
        return f"{self.base_url}/{{ytid}}.mp4"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def set_fault(self, name: str, fault: Fault | str | None) -> None:
        """Inject (or with None, clear) a fault for file ``name``; resets its request count."""
        with self._state.lock:
            self._state.hits.pop(name, None)
            if fault is None:
                self._state.faults.pop(name, None)
            else:
                self._state.faults[name] = fault if isinstance(fault, Fault) else Fault(fault)

    @property
    def log(self) -> list[RequestLog]:
        with self._state.lock:
            return list(self._state.log)

    def requests_for(self, name: str) -> list[RequestLog]:
        return [r for r in self.log if r.name == name]

    def start(self) -> Mirror:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="valor-mirror", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stop.set()  # wake stalled handlers
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
