"""A sliding-window rate limit per key (a token hash or a client address), in this process's memory."""

from __future__ import annotations

import threading
import time

from valor_data.web.errors import HttpError


class RateLimiter:
    def __init__(self, requests: int, seconds: float):
        self.requests, self.seconds = requests, seconds
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._last_prune = time.monotonic()

    def check(self, key: str) -> float | None:
        """None when allowed (and counted); else seconds until the next request is allowed."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_prune > self.seconds:
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.seconds}
                self._last_prune = now
            hits = [t for t in self._hits.get(key, []) if t > now - self.seconds]
            if len(hits) >= self.requests:
                self._hits[key] = hits
                return max(0.0, hits[0] + self.seconds - now)
            hits.append(now)
            self._hits[key] = hits
            return None

    def enforce(self, key: str) -> None:
        """Count one request of ``key``; raises HttpError 429 with ``Retry-After`` when over the limit."""
        wait = self.check(key)
        if wait is not None:
            raise HttpError(429, f"too many requests: at most {self.requests} per {self.seconds:g} s; retry in "
                                 f"{wait:.0f} s", {"Retry-After": str(max(1, int(wait + 0.999)))})
