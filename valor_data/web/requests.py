"""Reading a request: the bearer token, the client's address, and bodies read with a hard size limit.

A body is never read whole before its size is known to be acceptable: a declared ``Content-Length`` over
the limit is refused before the first byte, a chunked body is cut off as soon as it passes the limit.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from valor_data.web.errors import HttpError, InputError
from valor_data.web.sessions import CSRF_FIELD, check_csrf

JSON_SPECIAL = re.compile(rb'["\\\[\]{}]')


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without the header, HttpError 401 when malformed."""
    auth = request.headers.get("authorization", "")
    if not auth:
        return None
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(401, "send the token as 'Authorization: Bearer <token>'")
    return token.strip()


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def read_form(request: Request, max_bytes: int, max_fields: int = 32, csrf: bool = True) -> dict[str, str]:
    """The text fields of a small form (files refused), its CSRF token checked; HttpError 403/413."""
    declared = declared_length(request)
    if declared is not None and declared > max_bytes:
        raise HttpError(413, f"form over {max_bytes // 1024} KiB")
    form = await request.form(max_files=0, max_fields=max_fields, max_part_size=max_bytes)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if csrf:
        check_csrf(request, data.pop(CSRF_FIELD, None))
    return data


async def read_bounded(request: Request, max_bytes: int, what: str) -> bytearray:
    """The whole body, refused (HttpError 413 "``what`` over N KiB") before the first byte when its declared
    length is over ``max_bytes`` and as soon as a chunked body passes it."""
    declared = declared_length(request)
    if declared is not None and declared > max_bytes:
        raise HttpError(413, f"{what} over {max_bytes // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HttpError(413, f"{what} over {max_bytes // 1024} KiB")
    return body


async def read_json(request: Request, max_bytes: int, max_depth: int) -> dict:
    """A JSON object body of at most ``max_bytes``, nested at most ``max_depth`` deep; HttpError 400/413/422."""
    body = await read_bounded(request, max_bytes, "JSON body")
    if not body:
        return {}
    if json_depth_exceeds([bytes(body)], max_depth) is not None:
        raise HttpError(422, f"JSON body nested deeper than {max_depth} levels")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HttpError(400, f"body is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise HttpError(400, "body must be a JSON object")
    return data


def json_depth_exceeds(chunks: Iterable[bytes], max_depth: int) -> int | None:
    """The byte offset where nesting first goes deeper than ``max_depth``, or None; strings are skipped.

    Takes the bytes in chunks (one in memory at a time) and stops at the first offence, so a ``[[[[...``
    bomb costs microseconds and a normal document one regex pass, without parsing it.
    """
    depth, in_string, offset = 0, False, 0
    escaped_at = -1  # absolute offset of the byte a backslash escapes
    for block in chunks:
        for m in JSON_SPECIAL.finditer(block):
            c, at = m.group(), offset + m.start()
            if at == escaped_at:
                continue
            if in_string:
                if c == b"\\":
                    escaped_at = at + 1
                elif c == b'"':
                    in_string = False
                continue
            if c == b'"':
                in_string = True
            elif c in (b"[", b"{"):
                depth += 1
                if depth > max_depth:
                    return at
            elif c in (b"]", b"}"):
                depth -= 1
        offset += len(block)
    return None


def file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(size):
            yield block


Route = Callable[[Request], Awaitable[Response]]


ErrorAnswer = Callable[[Request, int, str, dict[str, str] | None], Response]


def error_handlers(answer: ErrorAnswer) -> dict[int, Callable]:
    """Starlette's ``exception_handlers`` for what no route answers (404, 405) and for a crash (500), in the
    app's own one-line form: a crash never shows a traceback."""

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        detail = getattr(exc, "detail", None) or ("not found" if status == 404 else "error")
        if status == 405:
            detail = "method not allowed"
        return answer(request, status, str(detail), None)

    async def server_error(request: Request, exc: Exception) -> Response:
        return answer(request, 500, "internal server error", None)

    return {404: http_error, 405: http_error, 500: server_error}


def refusals_answered_by(answer: ErrorAnswer) -> Callable[[Route], Route]:
    """A decorator for an app's async routes: a refusal (``HttpError``; ``InputError`` → 422; a client gone →
    400) becomes ``answer(request, status, message, headers)``, the app's one-line JSON or HTML answer."""

    def refusals(fn: Route) -> Route:
        @functools.wraps(fn)
        async def route(request: Request) -> Response:
            try:
                return await fn(request)
            except HttpError as e:
                return answer(request, e.status, e.message, e.headers)
            except InputError as e:
                return answer(request, 422, str(e), None)
            except ClientDisconnect:
                return Response(status_code=400)

        return route

    return refusals
