"""Back-pressure for the service: a request body cap and a bounded inference queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcdenoise.errors import McDenoiseError


class UploadTooLarge(McDenoiseError):
    """The request body is larger than `max_upload_mb`."""


class Busy(McDenoiseError):
    """Every inference slot is taken and the wait queue is full."""


class SlowUpload(McDenoiseError):
    """The request body did not arrive within `body_timeout_s`."""


class BodyLimit:
    """ASGI middleware: 413 up front when Content-Length is over the cap, else while streaming the body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def message(self) -> str:
        """The error text for an over-size body."""
        return f"request body is larger than the limit of {self.max_bytes / 2**20:g} MB (max_upload_mb)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, counting body bytes; refuse early when the declared length is too big."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = json.dumps({"detail": self.message(), "error": "UploadTooLarge"}).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # chunked uploads with no (or a false) Content-Length
                    raise UploadTooLarge(self.message())
            return message

        await self.app(scope, counted, send)


class Limiter:
    """At most `concurrency` inferences at once and `queue` more requests admitted; beyond that `Busy` at once.

    A request takes its place with `admit()` *before* its body is read, so at most
    `concurrency + queue` bodies are ever buffered; it then waits for an inference `slot()`, for at
    most `wait_timeout` seconds.
    """

    def __init__(self, concurrency: int, queue: int, wait_timeout: float | None = None) -> None:
        self.concurrency = concurrency
        self.capacity = concurrency + queue
        self.wait_timeout = wait_timeout
        self.admitted = 0  # requests holding a place: uploading, waiting or denoising
        self.active = 0  # denoising now
        self.waiting = 0  # body read, waiting for an inference slot
        self._slots = asyncio.Semaphore(concurrency)

    def check(self) -> None:
        """Raise Busy when every place is taken."""
        if self.admitted >= self.capacity:
            raise Busy(f"busy: {self.active} denoising and {self.admitted - self.active} more admitted; retry later")

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one of the `concurrency + queue` places (or raise Busy) for the whole request."""
        self.check()
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one inference slot for the body of the `async with` (call inside `admit`)."""
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_timeout)
        except asyncio.TimeoutError:
            raise Busy(f"waited {self.wait_timeout:g} s for an inference slot (queue_timeout_s); retry later") from None
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._slots.release()
