"""The kit's browser side on a tiny app of its own: CSRF refusal, session cookie flags, login rotation,
security headers and autoescaping."""

from __future__ import annotations

import re

from starlette.testclient import TestClient


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_form_without_or_with_a_wrong_csrf_token_is_refused(kit):
    token = _csrf(kit.get("/form").text)
    assert kit.post("/form", data={"name": "a"}).status_code == 403
    r = kit.post("/form", data={"name": "a", "csrf_token": token + "x"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = kit.post("/form", data={"name": "a", "csrf_token": token})
    assert r.status_code == 200 and r.json() == {"name": "a"}  # the token is not handed to the route


def test_another_session_cannot_reuse_a_token(kit):
    token = _csrf(kit.get("/form").text)
    other = TestClient(kit.app, base_url="http://testserver")
    other.get("/form")
    assert other.post("/form", data={"csrf_token": token}).status_code == 403


def test_session_cookie_is_httponly_and_samesite(kit, make_kit):
    cookie = kit.get("/form").headers["set-cookie"]
    assert cookie.startswith("kit_session=") and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    assert "; secure" in make_kit(secure=True).get("/form").headers["set-cookie"].lower()


def test_login_rotates_the_csrf_token(kit):
    before = _csrf(kit.get("/form").text)
    assert kit.post("/login", params={"user": "ann"}).json() == {"user": "ann"}
    after = _csrf(kit.get("/form").text)
    assert after != before
    assert kit.post("/form", data={"csrf_token": before}).status_code == 403
    assert kit.post("/form", data={"csrf_token": after}).status_code == 200


def test_security_headers_and_no_store_on_private_paths(kit):
    r = kit.get("/form")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "cache-control" not in kit.get("/limited").headers


def test_values_are_escaped_in_pages(kit):
    page = kit.get("/form", params={"note": "<img src=x onerror=alert(1)>"}).text
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
