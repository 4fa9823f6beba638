"""HTTP client of the mcdenoise service (standard library only: runs in Blender's bundled Python).

Every call has a timeout and turns every failure into one `ServiceError` with a message an artist
can act on; nothing here touches `bpy`, so it can run on a worker thread.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request

EXR_MEDIA = "image/x-exr"
ONNX_MEDIA = "application/octet-stream"


class ServiceError(Exception):
    """The service could not be reached or refused the request; str() is the message to show."""


class Service:
    """One mcdenoise service: base URL, optional API key, timeout in seconds."""

    def __init__(self, url: str, api_key: str = "", timeout: float = 300.0) -> None:
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ServiceError(f"service URL {url!r} must start with http:// or https://")
        self.url, self.api_key, self.timeout = url, api_key.strip(), timeout

    def _request(self, method: str, path: str, body: bytes | None = None, media: str | None = None,
                 timeout: float | None = None) -> bytes:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        if media:
            headers["Content-Type"] = media
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise ServiceError(_http_message(exc)) from None
        except (socket.timeout, TimeoutError):
            raise ServiceError(f"the mcdenoise service at {self.url} did not answer within "
                               f"{timeout or self.timeout:.0f} s") from None
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceError(f"cannot reach the mcdenoise service at {self.url} ({reason}); is it running?") from None

    def health(self) -> None:
        """Raise ServiceError unless the service answers /healthz (short timeout)."""
        self._request("GET", "/healthz", timeout=min(self.timeout, 5.0))

    def denoise(self, exr: bytes, model: str = "", passes: int = 1) -> bytes:
        """POST a multilayer EXR (color + albedo + normal passes) to /denoise; return the denoised EXR."""
        params = {k: v for k, v in (("model", model.strip()), ("passes", passes if passes > 1 else "")) if v}
        query = "?" + urllib.parse.urlencode(params) if params else ""
        return self._request("POST", "/denoise" + query, exr, EXR_MEDIA)

    def models(self) -> list[str]:
        """Names of the models the service offers."""
        answer = json.loads(self._request("GET", "/v1/models", timeout=min(self.timeout, 10.0)))
        return [m["name"] for m in answer]

    def upload_model(self, name: str, onnx: bytes) -> None:
        """PUT an exported .onnx model under `name`."""
        self._request("PUT", "/v1/models/" + urllib.parse.quote(name, safe=""), onnx, ONNX_MEDIA)


def _http_message(exc: urllib.error.HTTPError) -> str:
    """The service's one-line error for an HTTP error answer."""
    try:
        message = json.loads(exc.read() or b"{}").get("detail") or exc.reason  # {"detail": ..., "error": ...}
    except (ValueError, AttributeError, OSError):
        message = exc.reason
    if exc.code == 401:
        return f"the service refused the API key (401): {message}"
    if exc.code == 503:
        return f"the service is busy (503): {message}; try again"
    return f"the service answered {exc.code}: {message}"
