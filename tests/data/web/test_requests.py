"""The kit's request side: rate limit, bounded bodies (declared and streamed), JSON depth, streamed uploads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from valor_data.web.requests import json_depth_exceeds

RATE, MAX_UPLOAD = 3, 1024 * 1024  # the kit app's (conftest.py)


def test_rate_limit_answers_429_with_retry_after(kit):
    for _ in range(RATE):
        assert kit.get("/limited").status_code == 200
    r = kit.get("/limited")
    assert r.status_code == 429 and f"at most {RATE} per 60 s" in r.json()["error"]
    assert 1 <= int(r.headers["retry-after"]) <= 60


def test_form_over_its_limit_refused_before_reading(kit):
    r = kit.post("/form", content=b"x" * 10, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                      "Content-Length": str(10 * 1024**2)})
    assert r.status_code == 413 and "form over 4 KiB" in r.json()["error"]


def test_json_body_limits(kit):
    assert kit.post("/json", json={"a": [1, 2]}).json() == {"a": [1, 2]}
    r = kit.post("/json", content=(b'{"a": "' + b"x" * 2000 + b'"}' for _ in range(1)))  # streamed, no length
    assert r.status_code == 413 and "over 1 KiB" in r.json()["error"]
    assert kit.post("/json", content=b'{"a": [[[[1]]]]}').status_code == 422
    assert kit.post("/json", content=b"[1]").status_code == 400
    assert kit.post("/json", content=b"\xff{").status_code == 400


def test_json_depth_scanner_skips_strings():
    assert json_depth_exceeds([b'[{"a": "[[[[[[[[", "b": "\\"[[[["}]'], 2) is None
    assert json_depth_exceeds([b'[{"a": ', b'"\\\\"}, [[1]]]'], 2) == 15  # "\\\\" is a whole string: its quote is not escaped
    assert json_depth_exceeds([b'["\\', b'"[[[", 1]'], 1) is None  # escape split across chunks


def test_upload_is_streamed_to_disk_hashed_and_synced(kit, tmp_path):
    content = os.urandom(3 * 1024 * 1024 // 4)  # several writer batches, not a multiple of one
    r = kit.post("/upload", data={"note": "ünï"}, files={"file": ("../../etc/x.bin", content)})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fields"] == {"note": "ünï"} and got["filename"] == "x.bin" and got["size"] == len(content)
    assert got["sha256"] == hashlib.sha256(content).hexdigest()
    path = Path(got["path"])
    assert path.parent == tmp_path / "plain" / "incoming" and path.read_bytes() == content


def test_upload_over_the_limit_cut_off_and_nothing_left(kit, tmp_path):
    body = (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
            + b"x" * (MAX_UPLOAD + 1) + b"\r\n--zz--\r\n")

    def chunks():  # no Content-Length: the limit must be enforced while streaming
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    r = kit.post("/upload", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 413 and "larger than the 1 MiB limit" in r.json()["error"]
    assert list((tmp_path / "plain" / "incoming").iterdir()) == []


def test_upload_refusals(kit, tmp_path):
    assert kit.post("/upload", json={}).status_code == 415
    r = kit.post("/upload", data={"a": "b"}, files={"other": ("a.bin", b"x")})
    assert r.status_code == 400 and "the file must be sent as the form field 'file'" in r.json()["error"]
    r = kit.post("/upload", content=b'--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--zz--\r\n',
                 headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 400 and "no file" in r.json()["error"]
    assert list((tmp_path / "plain" / "incoming").iterdir()) == []
