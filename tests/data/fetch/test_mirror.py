"""The local mirror speaks enough HTTP for ffmpeg and yt-dlp: byte ranges, HEAD, and injected faults."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request

import pytest

from valor_data.synthetic.mirror import Fault, Mirror

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def served(tmp_path):
    (tmp_path / "-abcdefghij.mp4").write_bytes(DATA)
    (tmp_path / "other.mp4").write_bytes(DATA)
    with Mirror(tmp_path) as m:
        yield m


def get(url: str, headers: dict | None = None, method: str = "GET", timeout: float = 5.0):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_whole_file_and_ranges(served):
    url = served.url("-abcdefghij.mp4")
    status, headers, body = get(url)
    assert (status, body, headers["Accept-Ranges"], headers["Content-Type"]) == (200, DATA, "bytes", "video/mp4")
    status, headers, body = get(url, {"Range": "bytes=100-199"})
    assert (status, body, headers["Content-Range"]) == (206, DATA[100:200], "bytes 100-199/10240")
    status, headers, body = get(url, {"Range": "bytes=10000-"})
    assert (status, body, headers["Content-Length"]) == (206, DATA[10000:], "240")
    status, _, body = get(url, {"Range": "bytes=-16"})
    assert (status, body) == (206, DATA[-16:])
    status, _, body = get(url, {"Range": "bytes=10000-99999"})  # end clamped to the file
    assert (status, body) == (206, DATA[10000:])
    status, headers, _ = get(url, {"Range": "bytes=20000-"})
    assert (status, headers["Content-Range"]) == (416, "bytes */10240")
    status, _, body = get(url, {"Range": "bytes=0-1,5-6"})  # multiple ranges: the whole file (RFC 9110)
    assert (status, body) == (200, DATA)
    status, headers, body = get(url, method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, "10240", b"")
    assert get(served.url("nope.mp4"))[0] == 404
    assert get(served.url("../etc/passwd"))[0] == 404
    assert [(r.range, r.status) for r in served.requests_for("-abcdefghij.mp4")][:3] == [
        (None, 200), ("bytes=100-199", 206), ("bytes=10000-", 206)]


def test_url_template(served):
    assert served.url_template.format(ytid="-abcdefghij") == served.url("-abcdefghij.mp4")


def test_faults(served):
    url = served.url("-abcdefghij.mp4")
    served.set_fault("-abcdefghij.mp4", "404")
    assert get(url)[0] == 404
    served.set_fault("-abcdefghij.mp4", "500")
    assert get(url)[0] == 500
    served.set_fault("-abcdefghij.mp4", Fault("429", times=2))
    assert [get(url)[0] for _ in range(3)] == [429, 429, 200]
    assert get(served.url("other.mp4"))[0] == 200  # faults are per file
    served.set_fault("-abcdefghij.mp4", Fault("500", ranged_only=True))
    assert get(url)[0] == 200 and get(url, {"Range": "bytes=0-9"})[0] == 500
    served.set_fault("-abcdefghij.mp4", None)
    assert get(url)[0] == 200


def test_truncated_body(served):
    served.set_fault("-abcdefghij.mp4", Fault("truncate", fraction=0.5))
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    conn.request("GET", "/-abcdefghij.mp4")
    resp = conn.getresponse()
    assert resp.getheader("Content-Length") == "10240"
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert len(info.value.partial) == 5120
    conn.close()
    # The cut is at an absolute offset: a range starting past it gets headers and no body at all.
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    conn.request("GET", "/-abcdefghij.mp4", headers={"Range": "bytes=6000-"})
    resp = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert info.value.partial == b""
    conn.close()


def test_stall_outlasts_the_client_timeout_but_is_bounded(served):
    served.set_fault("-abcdefghij.mp4", Fault("stall", stall_s=0.6))
    t = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        get(served.url("-abcdefghij.mp4"), timeout=0.2)
    assert time.monotonic() - t < 0.5
    time.sleep(0.6)  # the stalled handler gives up on its own
    assert served.requests_for("-abcdefghij.mp4")[-1].status == 0


def test_stop_wakes_stalled_handlers(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    m = Mirror(tmp_path, faults={"a.mp4": Fault("stall", stall_s=30)}).start()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        get(m.url("a.mp4"), timeout=0.2)
    t = time.monotonic()
    m.stop()
    assert time.monotonic() - t < 5


def test_bad_root_and_fault():
    with pytest.raises(NotADirectoryError):
        Mirror("/nonexistent/dir")
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("418")
