"""The kit's uploads: a multipart form or the raw body streamed to disk, hashed and synced; the size limit
while bytes arrive, the text fields' limits, refusals in one line, nothing left on disk after one."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from valor_data.web import uploads

MAX_UPLOAD = 1024 * 1024  # the kit app's (conftest.py)


def _incoming(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "plain" / "incoming").iterdir())


def _chunks(body: bytes, size: int):
    """The body as a generator: no Content-Length, so limits must hold while it streams."""
    for i in range(0, len(body), size):
        yield body[i:i + size]


def test_upload_is_streamed_to_disk_hashed_and_synced(kit, tmp_path):
    content = os.urandom(3 * 1024 * 1024 // 4)  # several writer batches, not a multiple of one
    r = kit.post("/upload", data={"note": "ünï"}, files={"file": ("../../etc/x.bin", content)})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fields"] == {"note": "ünï"} and got["filename"] == "x.bin" and got["size"] == len(content)
    assert got["sha256"] == hashlib.sha256(content).hexdigest()
    path = Path(got["path"])
    assert path.parent == tmp_path / "plain" / "incoming" and path.read_bytes() == content


def test_raw_upload_stores_what_the_form_stores(kit):
    content = os.urandom(3 * 1024 * 1024 // 4)
    form = kit.post("/upload-raw", data={"note": "ünï"}, files={"file": ("..\\..\\x.bin", content)}).json()
    raw = kit.post("/upload-raw", params={"filename": "..\\..\\x.bin", "note": "ünï"}, content=content,
                   headers={"Content-Type": "application/octet-stream"}).json()
    assert form["path"] != raw["path"]
    for got in (form, raw):
        assert got["fields"] == {"note": "ünï"} and got["filename"] == "x.bin" and got["size"] == len(content)
        assert got["sha256"] == hashlib.sha256(content).hexdigest()
        assert Path(got["path"]).read_bytes() == content


@pytest.mark.parametrize("direct", [True, False], ids=["O_DIRECT", "page cache"])
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 100_000, MAX_UPLOAD - 1, MAX_UPLOAD])
def test_raw_upload_any_size_in_odd_chunks(kit, monkeypatch, size, direct):
    """Direct writes go by whole blocks, the partial one held for the next batch: every size and chunking
    comes out byte for byte, through O_DIRECT or the page cache (a filesystem without it)."""
    monkeypatch.setattr(uploads, "BATCH", 3 * uploads.ALIGN + 100)  # many batches, none a whole number of blocks
    if not direct:
        monkeypatch.setattr(uploads, "O_DIRECT", 0)
    content = os.urandom(size)
    r = kit.post("/upload-raw", params={"filename": "f.bin"}, content=_chunks(content, 7001),
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["size"] == size and got["sha256"] == hashlib.sha256(content).hexdigest()
    assert Path(got["path"]).read_bytes() == content


def test_upload_over_the_limit_cut_off_and_nothing_left(kit, tmp_path):
    body = (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
            + b"x" * (MAX_UPLOAD + 1) + b"\r\n--zz--\r\n")
    r = kit.post("/upload", content=_chunks(body, 65536), headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 413 and "larger than the 1 MiB limit" in r.json()["error"]
    assert _incoming(tmp_path) == []


def test_raw_upload_over_the_limit_cut_off_and_nothing_left(kit, tmp_path):
    raw = {"Content-Type": "application/octet-stream"}
    r = kit.post("/upload-raw", params={"filename": "a.bin"}, content=_chunks(b"x" * (MAX_UPLOAD + 1), 65536),
                 headers=raw)
    assert r.status_code == 413 and r.json()["error"] == "a.bin: larger than the 1 MiB limit"
    r = kit.post("/upload-raw", params={"filename": "a.bin"}, content=b"x" * 10,
                 headers={**raw, "Content-Length": str(MAX_UPLOAD + 1)})
    assert r.status_code == 413 and "over the 1 MiB limit" in r.json()["error"]
    assert kit.post("/upload-raw", params={"filename": "a.bin"}, content=b"x" * MAX_UPLOAD,
                    headers=raw).status_code == 200  # the limit itself is allowed
    assert len(_incoming(tmp_path)) == 1


@pytest.mark.parametrize("params, status, message", [
    ({}, 400, "no file name: give it in the query string, ?filename=submission.npz"),
    ({"filename": "/"}, 400, "no file name"),
    ([("filename", "a.bin"), ("note", "x"), ("note", "y")], 400, "query parameter 'note' given twice"),
    ({"filename": "a.bin", "note": "x" * (uploads.MAX_FIELD_BYTES + 1)}, 413,
     "query parameter 'note' is longer than 8,192 bytes"),
    ({"filename": "a.bin", **{f"f{i}": "x" for i in range(uploads.MAX_FIELDS)}}, 400,
     f"more than {uploads.MAX_FIELDS} query parameters"),
])
def test_raw_upload_bad_metadata_is_one_line(kit, tmp_path, params, status, message):
    r = kit.post("/upload-raw", params=params, content=b"x" * 100, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == status and message in r.json()["error"] and "\n" not in r.json()["error"]
    assert _incoming(tmp_path) == []


def test_upload_refusals(kit, tmp_path):
    r = kit.post("/upload", json={})
    assert r.status_code == 415 and r.json()["error"] == "send multipart/form-data with the file in the field 'file'"
    r = kit.post("/upload", params={"filename": "a.bin"}, content=b"x", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 415  # a route that takes forms only
    r = kit.post("/upload-raw", json={})
    assert r.status_code == 415 and "Content-Type: application/octet-stream" in r.json()["error"]
    r = kit.post("/upload", data={"a": "b"}, files={"other": ("a.bin", b"x")})
    assert r.status_code == 400 and "the file must be sent as the form field 'file'" in r.json()["error"]
    r = kit.post("/upload", content=b'--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--zz--\r\n',
                 headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 400 and "no file" in r.json()["error"]
    assert _incoming(tmp_path) == []


@pytest.mark.parametrize("refused_at", ["open", "write"])
def test_upload_where_o_direct_is_refused(kit, monkeypatch, refused_at):
    """A filesystem that refuses O_DIRECT at open, or a disk whose blocks are larger than ALIGN (EINVAL on
    the first direct write): the writer goes through the page cache instead, and the file is the same."""
    real_open, real_write = os.open, os.write

    def direct(flags: int) -> bool:
        return bool(uploads.O_DIRECT) and bool(flags & uploads.O_DIRECT)

    def refusing_open(path, flags, *args, **kwargs):
        if refused_at == "open" and direct(flags):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args, **kwargs)

    def refusing_write(fd, data):
        if refused_at == "write" and direct(fcntl.fcntl(fd, fcntl.F_GETFL)):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(uploads.os, "open", refusing_open)
    monkeypatch.setattr(uploads.os, "write", refusing_write)
    content = os.urandom(MAX_UPLOAD - 4095)
    got = kit.post("/upload-raw", params={"filename": "f.bin"}, content=content,
                   headers={"Content-Type": "application/octet-stream"}).json()
    assert got["sha256"] == hashlib.sha256(content).hexdigest() and Path(got["path"]).read_bytes() == content
