"""Security of the campaign app, each case tested: roles on every route (the table below must name every
route the app has), CSRF on every page form, cookie flags, invites that work once, media only for the
holder of the lease (no enumerating ids), captions shown as text, security headers, rate limits, and
refused bodies (non-UTF-8 forms, oversized forms)."""

from __future__ import annotations

import re
import time

import pytest
from starlette.routing import Mount

from valor_data.annotate.people import create_invites
from valor_data.annotate.states import Role

A, R, H = "annotator", "reviewer", "host"
EVERYONE = (None, A, R, H)
PEOPLE = (A, R, H)
# (method, path) -> the roles allowed (None: not logged in)
ACCESS = {
    ("GET", "/"): EVERYONE, ("GET", "/login"): EVERYONE, ("POST", "/login"): EVERYONE,
    ("POST", "/logout"): EVERYONE, ("GET", "/join/{invite}"): EVERYONE, ("POST", "/join/{invite}"): EVERYONE,
    ("GET", "/guidelines"): EVERYONE,
    ("GET", "/write"): (A,), ("POST", "/write"): (A,), ("POST", "/write/release"): (A,),
    ("POST", "/write/hints"): (A,), ("GET", "/feedback"): (A,),
    ("GET", "/review"): PEOPLE, ("POST", "/review"): PEOPLE, ("POST", "/review/release"): PEOPLE,
    ("GET", "/media/{lease}"): PEOPLE, ("GET", "/training"): PEOPLE, ("GET", "/problems"): PEOPLE,
    ("GET", "/host"): (H,), ("POST", "/host/decide"): (H,), ("POST", "/host/qualify"): (H,),
    ("POST", "/host/invites"): (H,), ("GET", "/host/export.zip"): (H,), ("GET", "/audit"): (H,),
    ("POST", "/api/v1/join"): EVERYONE, ("GET", "/api/v1/me"): PEOPLE,
    ("POST", "/api/v1/next/write"): (A,), ("POST", "/api/v1/captions"): (A,), ("GET", "/api/v1/feedback"): (A,),
    ("POST", "/api/v1/next/review"): PEOPLE, ("POST", "/api/v1/verdicts"): PEOPLE,
    ("POST", "/api/v1/leases/release"): PEOPLE, ("POST", "/api/v1/hints"): PEOPLE,
    ("GET", "/api/v1/problems"): PEOPLE,
    ("GET", "/api/v1/status"): (H,), ("POST", "/api/v1/host/decisions"): (H,), ("POST", "/api/v1/host/qualify"): (H,),
    ("POST", "/api/v1/host/invites"): (H,), ("GET", "/api/v1/host/export"): (H,),
}
ROLE_REFUSAL = "this needs the role"
LOGIN_REFUSAL = "log in first"


def app_routes(app) -> set[tuple[str, str]]:
    out = set()
    for r in app.routes:
        if isinstance(r, Mount):
            continue
        for m in r.methods - {"HEAD"}:
            out.add((m, r.path))
    return out


def test_the_access_table_names_every_route(web):
    routes = app_routes(web.app)
    routes -= {(m, p) for m, p in routes if p == "/dashboard" or p.startswith("/api/v1/dashboard")}  # H8's pages
    assert routes == set(ACCESS), f"routes without an access rule: {routes - set(ACCESS)}; " \
                                  f"rules without a route: {set(ACCESS) - routes}"


@pytest.fixture
def people(web):
    """A logged-in page client and an API token per role (and nobody)."""
    clients = {None: web.client}
    tokens = {None: None}
    for role in PEOPLE:
        clients[role] = web.browser(role)
        tokens[role] = clients[role].token
    return clients, tokens


def test_roles_are_checked_on_every_route(web, people):
    clients, tokens = people
    for (method, path), allowed in sorted(ACCESS.items(), key=lambda kv: kv[0][1] == "/logout"):  # logout last
        url = path.replace("{invite}", "vai_x").replace("{lease}", "0" * 32)
        for role in EVERYONE:
            if path.startswith("/api/"):
                r = web.api(method, url, tokens[role], json={})
                message = r.json().get("error", "") if r.headers.get("content-type") == "application/json" else ""
            else:
                client = clients[role]
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
                r = client.request(method, url, data={"csrf_token": csrf} if method == "POST" else None,
                                   follow_redirects=False)
                message = r.text
            where = f"{method} {path} as {role}: {r.status_code} {message[:200]}"
            if role in allowed:
                assert LOGIN_REFUSAL not in message and ROLE_REFUSAL not in message, where
            elif role is None:
                assert r.status_code == 401 and LOGIN_REFUSAL in message, where
            else:
                assert r.status_code == 403 and ROLE_REFUSAL in message, where


def test_every_page_form_checks_csrf(web, people):
    clients, _ = people
    for (method, path), allowed in sorted(ACCESS.items()):
        if method != "POST" or path.startswith("/api/"):
            continue
        client = clients[allowed[-1]]
        url = path.replace("{invite}", create_invites(web.c, Role.ANNOTATOR, 1)[0]).replace("{lease}", "x")
        for sent in ({}, {"csrf_token": "forged"}):
            r = client.post(url, data=sent, follow_redirects=False)
            assert r.status_code == 403 and "CSRF" in r.text, f"POST {path} with {sent}: {r.status_code}"


def test_session_cookie_is_httponly_samesite_and_secure_behind_tls(web, h, campaign, tar_media):
    page = web.client.get("/login")
    cookie = page.headers["set-cookie"]
    assert "valor_annotate=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    secure = type(web)(campaign, h, tar_media, secure=True)
    assert "secure" in secure.client.get("https://testserver/login").headers["set-cookie"].lower()


def test_invite_link_joins_once_and_the_session_holds_no_token(web):
    invite = create_invites(web.c, Role.ANNOTATOR, 1)[0]
    client = web.client
    page = client.get(f"/join/{invite}")
    assert page.status_code == 200 and "annotator" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    joined = client.post(f"/join/{invite}", data={"csrf_token": csrf})
    token = re.search(r'<pre id="token">([^<]+)</pre>', joined.text).group(1)
    assert joined.status_code == 200 and token.startswith("vat_")
    assert token not in client.cookies.get("valor_annotate", "")
    assert client.get(f"/join/{invite}").status_code == 404  # spent
    other = type(client)(web.app, base_url="http://testserver")
    page = other.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert other.post(f"/join/{invite}", data={"csrf_token": csrf}).status_code == 404
    assert other.post("/login", data={"csrf_token": csrf, "token": token}, follow_redirects=False).status_code == 303
    assert other.get("/training").status_code == 200


def test_media_only_for_the_holder_of_an_unexpired_lease(web):
    web.clips(2)
    holder, other = web.join(), web.join()
    lease = web.api("POST", "/api/v1/next/write", holder.token).json()["lease"]
    other_lease = web.api("POST", "/api/v1/next/write", other.token).json()["lease"]
    full = web.api("GET", f"/media/{lease}", holder.token)
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4" and full.content[4:8] == b"ftyp"
    part = web.api("GET", f"/media/{lease}", holder.token, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    refusals = {web.api("GET", f"/media/{lease}", other.token).text,  # someone else's lease
                web.api("GET", f"/media/{'f' * 32}", other.token).text,  # made up
                web.api("GET", "/media/1", other.token).text}  # a clip's number
    assert len(refusals) == 1 and "no clip of yours" in refusals.pop()
    assert web.api("GET", f"/media/{lease}").status_code == 401
    assert web.api("GET", f"/media/{other_lease}", other.token).status_code == 200
    web.api("POST", "/api/v1/captions", holder.token, json={"lease": lease, "text": web_good()})
    assert web.api("GET", f"/media/{lease}", holder.token).status_code == 404  # the lease ended with the save
    reviewer = web.join(Role.REVIEWER)
    review = web.api("POST", "/api/v1/next/review", reviewer.token).json()
    assert web.api("GET", f"/media/{review['lease']}", reviewer.token).status_code == 200
    assert web.api("GET", f"/media/{review['lease']}", holder.token).status_code == 404


def test_expired_lease_gets_no_media(web, h):
    web.configure(lease_minutes=0.0001)
    web.clips(1)
    holder = web.join()
    lease = web.api("POST", "/api/v1/next/write", holder.token).json()["lease"]
    time.sleep(0.1)
    assert web.api("GET", f"/media/{lease}", holder.token).status_code == 404


def web_good() -> str:
    return "A man in a red shirt plays an acoustic guitar on a stage while people clap and cheer loudly."


def test_a_caption_holding_markup_is_shown_as_text(web):
    evil = "<img src=x onerror=alert(1)> a dog barks while a man plays the guitar <script>alert(2)</script>"
    web.clips(1, stage="first")
    author = web.join()
    web.write(author.token, evil)
    host = web.browser(Role.HOST)
    page = host.get("/review")
    assert "<img src=x" not in page.text and "<script>alert" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


def test_rate_limit_answers_429_with_retry_after(web):
    web.configure(rate_limit_per_minute=5)
    annotator = web.join()
    codes = [web.api("GET", "/api/v1/me", annotator.token).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    r = web.api("GET", "/api/v1/me", annotator.token)
    assert int(r.headers["retry-after"]) >= 1 and "too many requests" in r.json()["error"]
    guesses = [web.api("GET", "/api/v1/me", f"vat_guess{i}").status_code for i in range(7)]
    assert guesses[-1] == 429  # guessing tokens is limited too


def test_page_forms_refuse_non_utf8_and_oversized_captions_keep_the_text(web):
    web.clips(1)
    client = web.browser(Role.ANNOTATOR)
    page = client.get("/write")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    lease = re.search(r'name="lease" value="([^"]+)"', page.text).group(1)
    raw = f"csrf_token={csrf}&lease={lease}&text=un%20caf%E9%20bruyant".encode()
    r = client.post("/write", content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422 and "not UTF-8" in r.text
    big = client.post("/write", data={"csrf_token": csrf, "lease": lease, "text": "dog " * 26_000})
    assert big.status_code == 422 and "too large" in big.text
    huge = client.post("/write", data={"csrf_token": csrf, "lease": lease, "text": "dog " * 40_000})
    assert huge.status_code == 413
    empty = client.post("/write", data={"csrf_token": csrf, "lease": lease, "text": "   "})
    assert empty.status_code == 422 and "empty" in empty.text
    short = client.post("/write", data={"csrf_token": csrf, "lease": lease, "text": "a <b>dog</b> barks"})
    assert short.status_code == 422 and "at least 8" in short.text
    assert "a &lt;b&gt;dog&lt;/b&gt; barks</textarea>" in short.text  # the text is kept, as text
