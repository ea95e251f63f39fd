"""Receiving an upload, streamed straight to disk and hashed as it arrives, in one of two shapes:

* raw: the request body is the file (``Content-Type: application/octet-stream``) and the text fields are
  the query parameters, the file's name in ``filename``, the way object stores take large files. Nothing is
  parsed: each received chunk goes to the writer as it is. The API takes this shape.
* multipart/form-data: the file in one form field, the text fields beside it (what a browser form sends;
  python-multipart parses it in the event loop, which costs CPU at every byte).

Both keep the same limits on the text fields (:data:`MAX_FIELDS` of :data:`MAX_FIELD_BYTES` at most) and
clean the file name the same way.

Nothing is held in memory beyond two batches of the file (one being written, one arriving) and the small
text fields, and the size limit is enforced while streaming: a declared ``Content-Length`` over the limit
is refused before any byte is read, and a chunked body is cut off with 413 as soon as it passes the limit.

The event loop only receives (and, for a form, parses): the file's bytes (the received chunks or views of
them, not copies) are handed over in batches of ``BATCH`` bytes to a writer thread that copies them into an
aligned buffer, hashes and writes them (hashing and writing release the GIL, so they run on another core
while the loop reads the next batch), one batch in flight per upload so the order holds. The file is
fsynced before :func:`receive_upload` returns: the upload is durable before it is accepted.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import mmap
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from valor_data.web.errors import HttpError

BATCH = 1 << 20  # bytes of the file handed to the writer thread at once
WRITEBACK = 8 << 20  # without O_DIRECT: start the kernel's writeback of every this many bytes written
ALIGN = 4096  # O_DIRECT writes whole blocks at block offsets from block-aligned memory (4 KiB covers 512 B disks)
O_DIRECT = getattr(os, "O_DIRECT", 0)  # Linux; elsewhere the page cache path
MAX_FIELDS = 16
MAX_FIELD_BYTES = 8 * 1024
RAW_TYPE = b"application/octet-stream"
FILENAME_PARAM = "filename"
FORM_OVERHEAD = 64 * 1024 + MAX_FIELDS * MAX_FIELD_BYTES  # what framing and text fields may add to the file
PART_SUFFIX = ".part"
# two threads: one hashes while the other waits for the disk (a direct write returns once the device has the
# data); more only contend for the GIL with the event loop (4 cost 0.5-0.8 CPU s more on the 4 GB server_load)
WRITERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload-writer")


def mib(n: int) -> str:
    """A size for messages: ``0.25 MiB``, ``512 MiB``, ``48.7 MiB``."""
    return f"{n / 1024**2:,.3g} MiB" if n < 100 * 1024**2 else f"{n / 1024**2:,.0f} MiB"


def new_incoming(directory: Path) -> Path:
    """A fresh temporary path for one upload in ``directory`` (random: two uploads never share one)."""
    return directory / f"{secrets.token_hex(16)}{PART_SUFFIX}"


def clean_incoming(directory: Path) -> int:
    """Delete what interrupted uploads left in ``directory``; returns how many files went."""
    removed = 0
    if directory.is_dir():
        for p in directory.iterdir():
            if p.is_file() and p.name.endswith(PART_SUFFIX):
                p.unlink(missing_ok=True)
                removed += 1
    return removed


def clean_filename(name: str) -> str:
    """The last path component of a client's file name (no directories, at most 255 characters)."""
    return Path(name.replace("\\", "/")).name[:255]


@dataclass
class Upload:
    """A received upload: its text fields, and its file (on disk, synced) with the name the client sent."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0
    sha256: str = ""

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _FileWriter:
    """The file's bytes: the received chunks (or views of them; no copy in the event loop) collected until
    there is a batch, then copied into a page-aligned buffer, hashed and written by a writer thread.

    The file is opened with ``O_DIRECT`` where the filesystem allows it: the disk reads the buffer itself,
    so the kernel neither copies the bytes into its page cache nor writes them back later (that copy cost
    as much CPU as hashing). Direct writes must be whole blocks at block offsets, so a batch's last partial
    block waits in the buffer for the next one; the file's tail is written through the page cache. Without
    ``O_DIRECT`` the kernel's writeback is started every :data:`WRITEBACK` bytes, so the final ``fsync`` waits
    only for the last few MiB.
    """

    def __init__(self, path: Path):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            self.fd = os.open(path, flags | O_DIRECT, 0o600)
            self.direct = bool(O_DIRECT)
        except OSError:  # the filesystem refuses O_DIRECT (tmpfs, some FUSE)
            self.fd = os.open(path, flags, 0o600)
            self.direct = False
        self.kick = not self.direct  # the page cache holds what is written: start its writeback as we go
        self.hash = hashlib.sha256()
        self.buffer = mmap.mmap(-1, BATCH + ALIGN)  # page-aligned, as O_DIRECT needs
        self.held = 0  # bytes at the buffer's start that wait for the next batch (less than one block)
        self.pieces: list[bytes | memoryview] = []
        self.collected = 0
        self.pending: asyncio.Future | None = None
        self.written = self.kicked = 0
        self.done = False  # the last batch is written and synced

    def add(self, piece: bytes | memoryview) -> None:
        self.pieces.append(piece)
        self.collected += len(piece)

    def _write(self, pieces: list[bytes | memoryview], final: bool) -> None:
        start = end = self.held
        needed = end + sum(len(p) for p in pieces)
        if needed > len(self.buffer):
            bigger = mmap.mmap(-1, needed + ALIGN - needed % ALIGN)
            bigger[:end] = self.buffer[:end]
            self.buffer = bigger
        buf = self.buffer
        for p in pieces:
            buf[end:end + len(p)] = p
            end += len(p)
        with memoryview(buf) as view:
            self.hash.update(view[start:end])  # releases the GIL
            cut = end - end % ALIGN if self.direct else end
            self._write_all(view[:cut])
            if final and cut < end:
                self._buffered()
                self._write_all(view[cut:end])
                cut = end
            if cut:
                buf[:end - cut] = view[cut:end]  # the partial block; no overlap, as cut >= ALIGN > end - cut
            self.held = end - cut
        if self.kick and (self.written - self.kicked >= WRITEBACK or final):
            # DONTNEED on dirty pages starts their writeback without waiting for it (Linux)
            os.posix_fadvise(self.fd, self.kicked, self.written - self.kicked, os.POSIX_FADV_DONTNEED)
            self.kicked = self.written
        if final:
            os.fsync(self.fd)

    def _buffered(self) -> None:
        """Write through the page cache from here on (the tail, or a disk that wants larger blocks)."""
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~O_DIRECT)
        self.direct = False

    def _write_all(self, block: memoryview) -> None:
        while block:
            try:
                n = os.write(self.fd, block)
            except OSError as e:
                if not (self.direct and e.errno == errno.EINVAL):
                    raise
                self._buffered()  # the disk's blocks are larger than ALIGN: misaligned for O_DIRECT
                self.kick, self.kicked = True, self.written
                continue
            self.written += n
            block = block[n:]

    async def flush(self, final: bool = False) -> None:
        """Hand the collected bytes to the thread once there is a batch (or all of them when ``final``)."""
        if self.done or (self.collected < BATCH and not final):
            return
        await self.settle()
        pieces, self.pieces, self.collected = self.pieces, [], 0
        self.pending = asyncio.get_running_loop().run_in_executor(WRITERS, self._write, pieces, final)
        if final:
            await self.settle()
            self.done = True

    async def settle(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    async def close(self) -> None:
        try:
            await self.settle()
        finally:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


class _Receiver:
    """python-multipart callbacks: text fields into memory (bounded), the one file part to a _FileWriter."""

    def __init__(self, incoming: Path, max_file_bytes: int, limit: str, file_field: str, upload: Upload):
        self.incoming, self.max_file_bytes, self.file_field, self.upload = incoming, max_file_bytes, file_field, upload
        self.limit = limit
        self.header_field, self.header_value = b"", b""
        self.headers: dict[bytes, bytes] = {}
        self.name: str | None = None
        self.is_file = False
        self.value = bytearray()
        self.writer: _FileWriter | None = None
        self.file_done = False

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field_data,
                "on_header_value": self.header_value_data, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self.headers, self.value, self.name, self.is_file = {}, bytearray(), None, False

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def headers_finished(self) -> None:
        _disposition, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None:
            if self.upload.path is not None:
                raise HttpError(400, "one file per upload")
            if self.name != self.file_field:
                raise HttpError(400, f"the file must be sent as the form field {self.file_field!r}, not {self.name!r}")
            self.is_file = True
            self.upload.filename = clean_filename(filename.decode("utf-8", "replace"))
            self.upload.path = new_incoming(self.incoming)
            self.writer = _FileWriter(self.upload.path)
        elif len(self.upload.fields) >= MAX_FIELDS:
            raise HttpError(400, f"more than {MAX_FIELDS} form fields")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.is_file:
            self.upload.size += end - start
            if self.upload.size > self.max_file_bytes:
                raise HttpError(413, f"{self.upload.filename}: larger than the {self.limit}")
            # a view of the immutable chunk, kept until the thread has written it (a mutable one is copied)
            self.writer.add(memoryview(data if isinstance(data, bytes) else bytes(data))[start:end])
        else:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                raise HttpError(413, f"form field {self.name!r} is longer than {MAX_FIELD_BYTES:,} bytes")

    def part_end(self) -> None:
        if self.is_file:
            self.file_done = True
        elif self.name:
            try:
                self.upload.fields[self.name] = self.value.decode("utf-8")
            except UnicodeDecodeError:
                raise HttpError(400, f"form field {self.name!r} is not UTF-8 text") from None


async def receive_upload(request: Request, incoming: Path, max_file_bytes: int, file_field: str = "file",
                         limit_name: str = "limit", raw: bool = False) -> Upload:
    """Stream the request's body: the file into ``incoming`` (hashed, synced), the text fields to memory.

    The body is multipart/form-data (the file in ``file_field``) or, with ``raw``, may also be the file
    itself (``application/octet-stream``, fields in the query string). ``limit_name`` says in refusals
    which limit was passed (``the 32 MiB limit for this task``). Raises :class:`HttpError` (400/413/415)
    or ClientDisconnect; on any failure nothing is left on disk.
    """
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if raw and ctype == RAW_TYPE:
        return await _receive_raw(request, incoming, max_file_bytes, f"{mib(max_file_bytes)} {limit_name}")
    if ctype != b"multipart/form-data" or b"boundary" not in options:
        raw_hint = (f"the file as the body with Content-Type: {RAW_TYPE.decode()} and the fields in the query "
                    f"string (?{FILENAME_PARAM}=...), or ") if raw else ""
        raise HttpError(415, f"send {raw_hint}multipart/form-data with the file in the field {file_field!r}")
    body_limit, limit = max_file_bytes + FORM_OVERHEAD, f"{mib(max_file_bytes)} {limit_name}"
    _refuse_declared(request, body_limit, limit)
    upload = Upload()
    receiver = _Receiver(incoming, max_file_bytes, limit, file_field, upload)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise HttpError(413, f"the upload is over the {limit}")
            parser.write(chunk)
            if receiver.writer is not None:
                await receiver.writer.flush(final=receiver.file_done)
        parser.finalize()
        if receiver.writer is None or not receiver.file_done:
            raise HttpError(400, f"no file: send it in the form field {file_field!r}")
        await receiver.writer.flush(final=True)
        upload.sha256 = receiver.writer.hash.hexdigest()
    except (HttpError, ClientDisconnect):
        await _abandon(receiver.writer, upload)
        raise
    except Exception as e:  # a malformed body
        await _abandon(receiver.writer, upload)
        raise HttpError(400, f"malformed multipart body ({type(e).__name__}: {e})") from None
    finally:
        if receiver.writer is not None:
            await receiver.writer.close()
    return upload


def _refuse_declared(request: Request, body_limit: int, limit: str) -> None:
    """413 before the first byte when the declared ``Content-Length`` is over ``body_limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit:
        raise HttpError(413, f"the upload is {mib(int(declared))}, over the {limit}")


def query_fields(request: Request) -> dict[str, str]:
    """The query string as text fields, under the multipart fields' limits; each name at most once."""
    fields: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in fields:
            raise HttpError(400, f"query parameter {name!r} given twice")
        if len(fields) >= MAX_FIELDS:
            raise HttpError(400, f"more than {MAX_FIELDS} query parameters")
        if len(value.encode()) > MAX_FIELD_BYTES:
            raise HttpError(413, f"query parameter {name!r} is longer than {MAX_FIELD_BYTES:,} bytes")
        fields[name] = value
    return fields


async def _receive_raw(request: Request, incoming: Path, max_file_bytes: int, limit: str) -> Upload:
    """The body is the file: each chunk goes to the writer as received (no parsing, no copy in the loop)."""
    fields = query_fields(request)
    filename = clean_filename(fields.pop(FILENAME_PARAM, ""))
    if not filename:
        raise HttpError(400, f"no file name: give it in the query string, ?{FILENAME_PARAM}=submission.npz")
    _refuse_declared(request, max_file_bytes, limit)
    upload = Upload(fields=fields, filename=filename, path=new_incoming(incoming))
    writer = _FileWriter(upload.path)
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            upload.size += len(chunk)
            if upload.size > max_file_bytes:
                raise HttpError(413, f"{filename}: larger than the {limit}")
            writer.add(chunk)
            await writer.flush()
        await writer.flush(final=True)
        upload.sha256 = writer.hash.hexdigest()
    except BaseException:
        await _abandon(writer, upload)
        raise
    finally:
        await writer.close()
    return upload


async def _abandon(writer: _FileWriter | None, upload: Upload) -> None:
    try:
        if writer is not None:
            await writer.close()
    finally:
        upload.discard()
