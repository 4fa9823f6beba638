"""Issue 13's service defects, each with the request that used to go wrong."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from mcdenoise.server import Settings, create_app
from mcdenoise.server.app import content_disposition
from test_server import EXR, post_raw, render_bytes


@pytest.fixture(scope="module")
def client() -> TestClient:
    """A client of an app with the shipped model and small limits."""
    with TestClient(create_app(Settings(max_upload_mb=2, max_pixels=200_000))) as c:
        yield c


@pytest.mark.parametrize(("name", "plain"), [
    ("渲染.exr", "upload.denoised.exr"),  # sent by our own client: was a 500 after the full denoise
    ("shot\nname.exr", "shotname.denoised.exr"),  # a bare LF: was a dropped connection
    ("../../etc/x'y.exr", "x_y.denoised.exr"),
    ("café.exr", "cafe.denoised.exr"),
])
def test_upload_file_names_give_a_safe_content_disposition(client: TestClient, name: str, plain: str) -> None:
    # The multipart body is written by hand: httpx would percent-encode the LF, a raw client does not.
    body = (b'--b0undary\r\nContent-Disposition: form-data; name="color"; filename="' + name.encode()
            + b'"\r\nContent-Type: image/x-exr\r\n\r\n' + render_bytes(16, 16) + b"\r\n--b0undary--\r\n")
    r = client.post("/denoise", content=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert r.status_code == 200, r.text
    header = r.headers["content-disposition"]
    assert header.isascii() and "\n" not in header and f'filename="{plain}"' in header
    if not name.isascii():
        assert "filename*=UTF-8''" in header  # RFC 5987: the original name for clients that read it


def test_plain_ascii_name_is_unchanged() -> None:
    assert content_disposition("beauty.0001.exr") == 'attachment; filename="beauty.0001.denoised.exr"'


def test_empty_api_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="set but empty"):
        Settings(api_key="")
    monkeypatch.setenv("MCDENOISE_API_KEY", "  ")
    with pytest.raises(ValidationError, match="set but empty"):
        Settings()
    r = subprocess.run([sys.executable, "-m", "mcdenoise.cli", "serve", "--port", "1"], capture_output=True, text=True,
                       env={**__import__("os").environ, "MCDENOISE_API_KEY": ""}, timeout=120)
    assert r.returncode == 2 and "MCDENOISE_API_KEY" in r.stderr and "Traceback" not in r.stderr


def test_framework_errors_use_the_documented_format(client: TestClient) -> None:
    # Starlette's multipart errors (no boundary; too many fields) and FastAPI's query validation.
    r = client.post("/denoise", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and set(r.json()) == {"detail", "error"}
    many = {f"f{i}": "v" for i in range(5)}
    r = client.post("/denoise", data=many, files={"color": ("c.exr", render_bytes(16, 16))})
    assert r.status_code == 400 and set(r.json()) == {"detail", "error"}
    r = post_raw(client, render_bytes(), pixel_type="int8")
    assert r.status_code == 422 and r.json()["error"] == "BadParameter" and "pixel_type" in r.json()["detail"]
    r = client.get("/no/such/path")
    assert r.status_code == 404 and r.json()["error"] == "HTTPError"


def test_idle_metrics_and_access_log(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    assert "mcdenoise_in_flight 0" in client.get("/metrics").text  # the scrape itself is not counted
    with caplog.at_level(logging.INFO, logger="mcdenoise.access"):
        assert post_raw(client, render_bytes(16, 16)).status_code == 200
    line = [r.getMessage() for r in caplog.records if r.name == "mcdenoise.access"][-1]
    assert line.startswith("POST /denoise 200 ") and "ms" in line and "model=n2n_default" in line


def _run_serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcdenoise.cli", "serve", *args], capture_output=True, text=True,
                          timeout=120)


def test_serve_port_in_use_and_bad_port_flag() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _run_serve("--port", str(port))
    assert r.returncode == 2 and f"127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _run_serve("--port", "99999")
    assert r.returncode == 2 and "--port" in r.stderr and "MCDENOISE_PORT" not in r.stderr
