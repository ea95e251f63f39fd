"""Security headers on every response: a Content-Security-Policy, no framing, no sniffing, no referrer
leaks, and ``Cache-Control: no-store`` under the paths that show private data."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_SCRIPT_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                 "frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    """ASGI middleware; a header the route set itself is left alone."""

    def __init__(self, app: ASGIApp, csp: str = NO_SCRIPT_CSP, private_prefixes: Iterable[str] = ()):
        self.app = app
        self.private = tuple(private_prefixes)
        self.headers = ((b"content-security-policy", csp.encode()), (b"x-frame-options", b"DENY"),
                        (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        private = bool(self.private) and scope["path"].startswith(self.private)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in names]
                if private and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
