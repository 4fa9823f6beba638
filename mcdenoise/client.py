"""A small client of the denoising service (standard library only): send an EXR, get the denoised EXR."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from mcdenoise.errors import McDenoiseError

EXR_MEDIA = "image/x-exr"
RETRIES_WHEN_BUSY = 3  # 503 answers are retried after their Retry-After


class ServiceError(McDenoiseError):
    """The service refused the request or could not be reached."""


def _multipart(files: dict[str, Path]) -> tuple[bytes, str]:
    """A multipart/form-data body of EXR files and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = []
    for field, path in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{path.name}"\r\n'
                f"Content-Type: {EXR_MEDIA}\r\n\r\n")
        parts += [head.encode(), path.read_bytes(), b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def denoise_remote(url: str, source: str | os.PathLike, *, albedo: str | os.PathLike | None = None,
                   normal: str | os.PathLike | None = None, layer: str | None = None, pixel_type: str | None = None,
                   passes: int = 1,
                   api_key: str | None = None, timeout: float = 600.0) -> bytes:
    """POST an EXR (and optional AOV side files) to `url`/denoise; return the denoised EXR's bytes."""
    src = Path(source)
    if not src.is_file():
        raise McDenoiseError(f"{src}: no such file")
    if albedo or normal:
        files = {"color": src, **{k: Path(v) for k, v in (("albedo", albedo), ("normal", normal)) if v}}
        body, content_type = _multipart(files)
    else:
        body, content_type = src.read_bytes(), EXR_MEDIA
    query = urllib.parse.urlencode({k: v for k, v in (("layer", layer), ("pixel_type", pixel_type),
                                                      ("passes", passes if passes != 1 else None)) if v})
    endpoint = url.rstrip("/") + "/denoise" + (f"?{query}" if query else "")
    headers = {"Content-Type": content_type}
    key = api_key or os.environ.get("MCDENOISE_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    for attempt in range(RETRIES_WHEN_BUSY + 1):
        request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 503 and attempt < RETRIES_WHEN_BUSY:
                time.sleep(float(exc.headers.get("Retry-After", "1")))
                continue
            try:
                detail = json.loads(exc.read()).get("detail", exc.reason)
            except (ValueError, AttributeError):
                detail = exc.reason
            raise ServiceError(f"{src}: server answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceError(f"cannot reach the denoising service at {url} ({reason})") from None
    raise AssertionError("unreachable")
