"""The one exception a route raises to refuse a request: an HTTP status and one line for the person asking."""

from __future__ import annotations


class HttpError(Exception):
    """A refusal: ``status`` (4xx), ``message`` (one line naming what is wrong) and extra response headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class InputError(ValueError):
    """A user-supplied value is unusable: one line naming the field (answered with 422)."""
