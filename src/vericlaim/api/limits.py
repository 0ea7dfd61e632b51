"""Request limits: body size while it streams, file size while it is read, rate per key."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, UploadFile

from vericlaim.cases.model import MediaUpload

__all__ = ["BodySizeLimit", "RateLimited", "RateLimiter", "read_upload"]

_CHUNK = 1024 * 1024


class BodySizeLimit:
    """ASGI middleware: 413 once a request body passes ``max_bytes`` (the declared
    ``Content-Length`` is checked first, then the bytes as they arrive)."""

    def __init__(self, app: Any, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes()
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body larger than {limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _send_413(send: Any, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def read_upload(upload: UploadFile, max_bytes: int) -> MediaUpload:
    """The file's bytes, read in chunks and refused (413) as soon as they pass
    ``max_bytes``; the name is the one the sender gave (checked by the loader later)."""
    name = upload.filename or "upload"
    chunks: list[bytes] = []
    size = 0
    while chunk := upload.file.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"{name}: larger than {max_bytes} bytes")
        chunks.append(chunk)
    return MediaUpload(b"".join(chunks), name)


class RateLimited(Exception):
    """Too many requests from one API key; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limit reached; retry after {retry_after:.1f} s")


class RateLimiter:
    """A token bucket per API key, in memory: ``rate`` tokens a second, ``burst`` at most.

    Per process: with several server processes each keeps its own buckets.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key``, or raise :class:`RateLimited`."""
        if self.rate <= 0:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited(max((1.0 - tokens) / self.rate, 0.001))
            self._buckets[key] = (tokens - 1.0, now)


def retry_after_header(exc: RateLimited) -> str:
    return str(max(1, math.ceil(exc.retry_after)))
