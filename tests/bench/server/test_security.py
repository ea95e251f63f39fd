"""Each security case of the server: size limits (declared and streamed), pickles, npz zip bombs, JSON
depth, CSRF on every form, the rate limit, the hidden ground truth, team isolation and escaping."""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pytest


def _multipart(fields: dict[str, str], filename: str, content: bytes, boundary: str = "b0undary") -> bytes:
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
              'Content-Type: application/octet-stream\r\n\r\n'.encode())
    out.write(content + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue()


def _incoming(h) -> list:
    return list(h.state.store.incoming.iterdir())


def test_declared_size_over_limit_refused_before_reading(harness):
    t = harness.register("t")
    r = harness.api("POST", "/api/v1/phases/val/tasks/avc/submissions", t, content=b"x" * 10,
                    headers={"Content-Type": "multipart/form-data; boundary=zz", "Content-Length": str(50 * 1024**2)})
    assert r.status_code == 413 and "the upload is 50 MiB, over the 0.25 MiB limit" in r.json()["error"]
    assert "limit for this task" in r.json()["error"]


def test_streamed_upload_cut_off_with_413_and_nothing_kept(harness):
    t = harness.register("t")
    body = _multipart({"model_name": "big"}, "big.json", b"[" + b" " * (400 * 1024) + b"]")

    def chunks():  # no Content-Length: the limit must be enforced while streaming
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    r = harness.api("POST", "/api/v1/phases/val/tasks/avc/submissions", t, content=chunks(),
                    headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert _incoming(harness) == [] and not list(harness.state.store.blobs.rglob("*.json"))
    assert harness.api("GET", "/api/v1/submissions", t).json()["submissions"] == []


def test_raw_upload_cut_off_with_413_and_nothing_kept(harness):
    t = harness.register("t")
    body = b"[" + b" " * (400 * 1024) + b"]"

    def chunks():  # no Content-Length: the limit must be enforced while streaming
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    r = harness.api("POST", "/api/v1/phases/val/tasks/avc/submissions", t, content=chunks(),
                    params={"filename": "big.json", "model_name": "big"},
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and r.json()["error"] == "big.json: larger than the 0.25 MiB limit for this task"
    r = harness.api("POST", "/api/v1/phases/val/tasks/avc/submissions", t, content=b"[]",
                    params={"filename": "big.json", "model_name": "big"},
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(50 * 1024**2)})
    assert r.status_code == 413 and "the upload is 50 MiB, over the 0.25 MiB limit for this task" in r.json()["error"]
    assert _incoming(harness) == [] and not list(harness.state.store.blobs.rglob("*.json"))
    assert harness.api("GET", "/api/v1/submissions", t).json()["submissions"] == []


def test_pickled_ids_refused(harness, tmp_path):
    gt = harness.gt("val")
    t = harness.register("t")
    path = tmp_path / "pickle.npz"
    np.savez(path, sim=np.zeros((gt.n_texts, gt.n_clips), np.float32),
             text_ids=np.array(gt.text_ids(), dtype=object), video_ids=np.array(gt.video_ids))
    r = harness.upload(t, "val", "avr", path)
    assert r.status_code == 422 and "object (pickled) array" in r.json()["error"]
    assert "pickle.npz" in r.json()["error"] and _incoming(harness) == []


def test_npz_zip_bomb_refused_before_reading(harness, tmp_path):
    gt = harness.gt("val")
    t = harness.register("t")
    path = tmp_path / "bomb.npz"
    # 4000 x 4000 float64 zeros: 128 MB that deflate to ~125 KB; the phase needs 11 x 10
    np.savez_compressed(path, sim=np.zeros((4000, 4000)), text_ids=np.array(gt.text_ids()),
                        video_ids=np.array(gt.video_ids))
    assert path.stat().st_size < 1024**2
    r = harness.upload(t, "val", "avr", path)
    assert r.status_code == 413, r.text
    assert "sim.npy would inflate to 128,000,128 bytes, more than a 11 x 10 submission can need" in r.json()["error"]
    assert "refused before reading it" in r.json()["error"]


def test_npz_lying_header_and_stray_member(harness, tmp_path):
    gt = harness.gt("val")
    t = harness.register("t")
    ids = {"text_ids": np.array(gt.text_ids()), "video_ids": np.array(gt.video_ids)}
    stray = tmp_path / "stray.npz"
    np.savez(stray, sim=np.zeros((11, 10), np.float32), extra=np.zeros(3), **ids)
    r = harness.upload(t, "val", "avr", stray)
    assert r.status_code == 422 and "unexpected member 'extra.npy'" in r.json()["error"]
    lying = tmp_path / "lying.npz"
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (11, 10)})
    with zipfile.ZipFile(lying, "w") as zf:
        zf.writestr("sim.npy", buf.getvalue() + b"\0" * 16)  # declares 440 bytes of data, holds 16
        for name, arr in ids.items():
            b = io.BytesIO()
            np.save(b, arr)
            zf.writestr(f"{name}.npy", b.getvalue())
    r = harness.upload(t, "val", "avr", lying)
    assert r.status_code == 422 and "declares shape (11, 10)" in r.json()["error"]
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    r = harness.upload(t, "val", "avr", junk)
    assert r.status_code == 422 and "not a readable .npz" in r.json()["error"]


def test_extension_checked_and_client_name_never_a_path(harness, tmp_path, avr_npz):
    t = harness.register("t")
    wrong = tmp_path / "sims.txt"
    wrong.write_text("x")
    r = harness.upload(t, "val", "avr", wrong)
    assert r.status_code == 415 and "a .npz or .json file" in r.json()["error"]
    f = avr_npz(harness.gt("val"), tmp_path / "a.npz")
    with open(f, "rb") as fh:
        r = harness.api("POST", "/api/v1/phases/val/tasks/avr/submissions", t, data={"model_name": "m"},
                        files={"file": ("../../../../etc/evil.npz", fh, "application/octet-stream")})
    assert r.status_code == 201
    sub = harness.api("GET", f"/api/v1/submissions/{r.json()['id']}", t).json()
    assert sub["filename"] == "evil.npz"
    stored = [p.relative_to(harness.state.store.root) for p in harness.state.store.blobs.rglob("*.npz")]
    assert [str(p) for p in stored] == [f"blobs/{sub['sha256'][:2]}/{sub['sha256']}.npz"]
    assert not (harness.tmp / "etc").exists()


def test_json_depth_refused_before_parsing(harness, tmp_path):
    t = harness.register("t")
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 40_000 + b"]" * 40_000)
    r = harness.upload(t, "val", "avc", deep)
    assert r.status_code == 422 and "nested deeper than 8 levels (at byte 8)" in r.json()["error"]
    r = harness.api("POST", "/api/v1/teams", json={"name": "x", "a": [[[[[[[[[[1]]]]]]]]]]})
    assert r.status_code == 422 and "nested deeper" in r.json()["error"]
    r = harness.api("POST", "/api/v1/teams", content=b'{"name": "' + b"x" * 70_000 + b'"}')
    assert r.status_code == 413


def test_json_size_limit(harness, tmp_path):
    t = harness.register("t")
    big = tmp_path / "ranking.json"
    big.write_text(json.dumps({f"v{i}#0": [f"v{j}" for j in range(10)] for i in range(3000)}))
    assert 0.1 * 1024**2 < big.stat().st_size < 2 * 1024**2  # under the AVR upload limit, over the JSON one
    r = harness.upload(t, "val", "avr", big)
    assert r.status_code == 413 and "over the 0.1 MiB limit for JSON submissions" in r.json()["error"]


def test_csrf_on_every_form(harness):
    c = harness.client
    token = harness.register("csrf-team")
    forms = [("/register", {"name": "x"}), ("/login", {"token": token}), ("/logout", {}), ("/team/token", {}),
             ("/submissions/1/choose", {}), ("/host/phases/test/publish", {}), ("/host/teams/1/approve", {}),
             ("/host/submissions/1/hide", {})]
    page = c.get("/login").text
    good = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/login", data={"token": token, "csrf_token": good}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/team"
    for path, data in forms:
        for bad in ({}, {"csrf_token": "forged"}):
            r = c.post(path, data={**data, **bad}, follow_redirects=False)
            assert r.status_code in (403,), (path, r.status_code)
            if path.startswith("/host"):
                continue
            assert "CSRF" in r.text, path
    # the upload form too, even with a valid session
    page = c.get("/team").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/submit/val/avr", data={"model_name": "m", "csrf_token": "nope"},
               files={"file": ("a.npz", b"PK", "application/octet-stream")})
    assert r.status_code == 403 and "CSRF" in r.text
    assert _incoming(harness) == []
    r = c.post("/team/token", data={"csrf_token": csrf})
    assert r.status_code == 200 and "shown this once" in r.text


def test_rate_limit_per_token_with_retry_after(make_harness):
    h = make_harness(rate=5)
    a = h.register("a")  # 1 request from this address
    for _ in range(5):
        assert h.api("GET", "/api/v1/team", a).status_code == 200
    r = h.api("GET", "/api/v1/team", a)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "at most 5 per 60 s" in r.json()["error"]
    b = h.api("POST", "/api/v1/teams", json={"name": "b"}).json()["token"]  # the address has 3 left
    assert h.api("GET", "/api/v1/team", b).status_code == 200  # another token is counted apart
    guesses = [h.api("GET", "/api/v1/team", f"vbt_guess{i}").status_code for i in range(4)]
    assert guesses == [401, 401, 401, 429]  # wrong tokens count against the address


def test_hidden_ground_truth_never_served(harness, tmp_path, avr_npz):
    """Every page and API answer a team or the public can reach, for good and bad submissions to the
    hidden phase, is searched for the hidden captions and the ground-truth paths."""
    gt = harness.gt("test")
    t = harness.register("prober")
    bad = tmp_path / "probe.json"
    bad.write_text(json.dumps({"zz#0": ["nope"]}))
    ids = [harness.upload(t, "test", "avr", avr_npz(gt, tmp_path / "t.npz")).json()["id"],
           harness.upload(t, "test", "avr", bad).json()["id"]]
    wrong_ids = tmp_path / "wrong.npz"
    np.savez(wrong_ids, sim=np.zeros((2, 2), np.float32), text_ids=np.array(["a", "b"]),
             video_ids=np.array(["c", "d"]))
    ids.append(harness.upload(t, "test", "avr", wrong_ids).json()["id"])
    harness.run_workers()
    harness.api("POST", "/api/v1/host/phases/test/publish", harness.host_token)
    answers = [harness.api("GET", f"/api/v1/submissions/{i}", t).text for i in ids]
    answers += [harness.api("GET", p, t).text for p in ("/api/v1/challenge", "/api/v1/team", "/api/v1/submissions",
                                                        "/api/v1/leaderboards/test/avr",
                                                        "/api/v1/leaderboards/test/avr?format=csv")]
    c = harness.client
    page = c.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    c.post("/login", data={"token": t, "csrf_token": csrf})
    answers += [c.get(p).text for p in ("/", "/team", "/leaderboard/test/avr", *(f"/submissions/{i}" for i in ids))]
    answers += [c.get(p).text for p in ("/annotations/test.json", "/static/../../test.json", "/data/blobs")]
    joined = "\n".join(answers)
    assert "zyxhidden" not in joined
    assert str(harness.gt_dir) not in joined and "test.json" not in joined
    assert str(harness.state.store.root) not in joined
    statuses = [json.loads(a)["status"] for a in answers[:3]]
    assert statuses == ["finished", "failed", "failed"]
    failed = json.loads(answers[2])
    assert any("wrong.npz: missing: video ids of the ground truth missing (8)" in p for p in failed["problems"])


def test_team_isolation(harness, tmp_path, avr_npz):
    a, b = harness.register("alpha"), harness.register("beta")
    sid = harness.upload(a, "test", "avr", avr_npz(harness.gt("test"), tmp_path / "a.npz")).json()["id"]
    harness.run_workers()
    assert harness.api("GET", f"/api/v1/submissions/{sid}", b).status_code == 404
    assert harness.api("POST", f"/api/v1/submissions/{sid}/choose", b).status_code == 404
    assert harness.api("GET", "/api/v1/submissions", b).json()["submissions"] == []
    assert harness.api("GET", "/api/v1/leaderboards/test/avr", b).status_code == 403
    c = harness.client
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"token": b, "csrf_token": csrf})
    assert c.get(f"/submissions/{sid}").status_code == 404
    assert "alpha" not in c.get("/team").text
    assert c.get("/leaderboard/test/avr").status_code == 403


def test_user_strings_escaped_in_pages(harness, tmp_path, avr_npz):
    evil = "<script>alert(1)</script>"
    t = harness.api("POST", "/api/v1/teams", json={"name": evil, "url": "https://x.org/\"><script>alert(2)</script>"})
    token = t.json()["token"]
    r = harness.upload(token, "val", "avr", avr_npz(harness.gt("val"), tmp_path / "e.npz"), model_name=evil,
                       external_data=evil, url="javascript:alert(3)")
    assert r.status_code == 422 and "url: must be an http:// or https:// address" in r.json()["error"]
    sid = harness.upload(token, "val", "avr", avr_npz(harness.gt("val"), tmp_path / "e.npz"), model_name=evil,
                         external_data=evil).json()["id"]
    harness.run_workers()
    c = harness.client
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"token": token, "csrf_token": csrf})
    for path in ("/leaderboard/val/avr", f"/submissions/{sid}", "/team"):
        html = c.get(path).text
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    r = c.get("/leaderboard/val/avr")
    assert "script-src" not in r.headers["content-security-policy"] and "default-src 'none'" in \
        r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/team", "/host", "/submissions/1"])
def test_pages_need_login(harness, path):
    r = harness.client.get(path)
    assert r.status_code == 401 and "log in" in r.text.lower()
