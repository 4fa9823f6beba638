"""Prometheus text-format metrics, kept per app (no global registry, so several apps can coexist)."""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections import Counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("mcdenoise.access")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # seconds
PATHS = ("/denoise", "/healthz", "/readyz", "/v1/model", "/metrics")  # others are counted as "other"


class Metrics:
    """Request counts by path and status, /denoise latency histogram, in-flight gauge, pixels denoised."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)  # last: +Inf
        self.latency_sum = 0.0
        self.in_flight = 0
        self.pixels = 0

    def observe(self, path: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self.requests[(path, status)] += 1
        if path == "/denoise":
            self.latency_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.latency_sum += seconds

    def render(self, queued: int = 0) -> str:
        """The Prometheus exposition text."""
        lines = ["# HELP mcdenoise_requests_total HTTP requests by path and status.",
                 "# TYPE mcdenoise_requests_total counter"]
        lines += [f'mcdenoise_requests_total{{path="{p}",status="{s}"}} {n}' for (p, s), n in sorted(self.requests.items())]
        lines += ["# HELP mcdenoise_request_seconds Latency of /denoise requests.",
                  "# TYPE mcdenoise_request_seconds histogram"]
        total = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.latency_counts):
            total += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'mcdenoise_request_seconds_bucket{{le="{le}"}} {total}')
        lines += [f"mcdenoise_request_seconds_sum {self.latency_sum:.6f}", f"mcdenoise_request_seconds_count {total}",
                  "# HELP mcdenoise_in_flight Requests being handled now.", "# TYPE mcdenoise_in_flight gauge",
                  f"mcdenoise_in_flight {self.in_flight}",
                  "# HELP mcdenoise_queued Denoise requests waiting for an inference slot.", "# TYPE mcdenoise_queued gauge",
                  f"mcdenoise_queued {queued}",
                  "# HELP mcdenoise_pixels_denoised_total Pixels denoised.", "# TYPE mcdenoise_pixels_denoised_total counter",
                  f"mcdenoise_pixels_denoised_total {self.pixels}"]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Outermost ASGI middleware: counts every response, including the body limit's 413s."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record its status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in PATHS else "other"
        status = 500
        start = time.perf_counter()

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        counted = path != "/metrics"  # a scrape is not load: an idle server reports 0 in flight
        self.metrics.in_flight += counted
        sent, model = 0, "-"

        async def record_body(message: Message) -> None:
            nonlocal sent, model
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                model = dict(message.get("headers", [])).get(b"x-mcdenoise-model", b"-").decode("latin-1")
            await record(message)

        try:
            await self.app(scope, receive, record_body)
        finally:
            self.metrics.in_flight -= counted
            seconds = time.perf_counter() - start
            self.metrics.observe(path, status, seconds)
            # One access line per request (uvicorn's own has no size, time or model).
            access_log.info("%s %s %d %dB %.1fms model=%s", scope.get("method", "?"), scope["path"], status, sent,
                            seconds * 1e3, model)
