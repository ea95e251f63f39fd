"""Receiving a submission upload: multipart/form-data streamed straight to disk, hashed as it arrives.

The same request shape serves the web form and the API (``curl -F file=@sims.npz -F model_name=...``).
Nothing is buffered in memory beyond one network chunk and the small text fields, and the size limit is
enforced while streaming: a declared ``Content-Length`` over the limit is refused before any byte is
read, and a chunked body is cut off with 413 as soon as it passes the limit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from valor_bench.server.security import UploadRefused
from valor_bench.server.store import BlobStore

MAX_FIELDS = 16
MAX_FIELD_BYTES = 8 * 1024
FORM_OVERHEAD = 64 * 1024 + MAX_FIELDS * MAX_FIELD_BYTES  # what framing and text fields may add to the file


def mib(n: int) -> str:
    """A size for messages: ``0.25 MiB``, ``512 MiB``, ``48.7 MiB``."""
    return f"{n / 1024**2:,.3g} MiB" if n < 100 * 1024**2 else f"{n / 1024**2:,.0f} MiB"


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0
    sha256: str = ""

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _Receiver:
    """python-multipart callbacks: text fields into memory (bounded), the one file part onto disk."""

    def __init__(self, store: BlobStore, max_file_bytes: int, upload: Upload):
        self.store, self.max_file_bytes, self.upload = store, max_file_bytes, upload
        self.header_field, self.header_value = b"", b""
        self.headers: dict[bytes, bytes] = {}
        self.name: str | None = None
        self.is_file = False
        self.value = bytearray()
        self.out = None
        self.hash = hashlib.sha256()

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
                raise UploadRefused(400, "one file per submission")
            if self.name != "file":
                raise UploadRefused(400, f"the file must be sent as the form field 'file', not {self.name!r}")
            self.is_file = True
            self.upload.filename = Path(filename.decode("utf-8", "replace").replace("\\", "/")).name[:255]
            self.upload.path = self.store.new_incoming()
            self.out = open(self.upload.path, "wb")
        elif len(self.upload.fields) >= MAX_FIELDS:
            raise UploadRefused(400, f"more than {MAX_FIELDS} form fields")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.is_file:
            self.upload.size += len(chunk)
            if self.upload.size > self.max_file_bytes:
                raise UploadRefused(413, f"{self.upload.filename}: larger than the {mib(self.max_file_bytes)} limit "
                                         "for this task")
            self.hash.update(chunk)
            self.out.write(chunk)
        else:
            self.value += chunk
            if len(self.value) > MAX_FIELD_BYTES:
                raise UploadRefused(413, f"form field {self.name!r} is longer than {MAX_FIELD_BYTES:,} bytes")

    def part_end(self) -> None:
        if self.is_file:
            self.out.close()
            self.out = None
            self.upload.sha256 = self.hash.hexdigest()
        elif self.name:
            try:
                self.upload.fields[self.name] = self.value.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadRefused(400, f"form field {self.name!r} is not UTF-8 text") from None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def receive_upload(request: Request, store: BlobStore, max_file_bytes: int) -> Upload:
    """Stream the request's multipart body: the file to ``store``'s incoming folder, fields to memory.

    Raises :class:`UploadRefused` (400/411/413/415); on any failure nothing is left on disk.
    """
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in options:
        raise UploadRefused(415, "send the submission as multipart/form-data with the file in the field 'file'")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_file_bytes + FORM_OVERHEAD:
        raise UploadRefused(413, f"the upload is {mib(int(declared))}, over the {mib(max_file_bytes)} limit for "
                                 "this task")
    upload = Upload()
    receiver = _Receiver(store, max_file_bytes, upload)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    body_limit, received = max_file_bytes + FORM_OVERHEAD, 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise UploadRefused(413, f"the upload is over the {mib(max_file_bytes)} limit for this task")
            parser.write(chunk)
        parser.finalize()
    except UploadRefused:
        receiver.close()
        upload.discard()
        raise
    except ClientDisconnect:
        receiver.close()
        upload.discard()
        raise
    except Exception as e:  # a malformed body
        receiver.close()
        upload.discard()
        raise UploadRefused(400, f"malformed multipart body ({type(e).__name__}: {e})") from None
    if upload.path is None or not upload.sha256:
        upload.discard()
        raise UploadRefused(400, "no file: send it in the form field 'file'")
    return upload
