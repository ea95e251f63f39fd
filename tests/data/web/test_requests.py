"""The kit's request side: rate limit, bounded bodies (declared and streamed), JSON depth."""

from __future__ import annotations

from valor_data.web.requests import json_depth_exceeds

RATE = 3  # the kit app's (conftest.py)


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
