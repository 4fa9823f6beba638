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
from conftest import free_port, wait_ready
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


def test_decoded_size_is_bounded_from_the_headers() -> None:
    import numpy as np

    junk = {f"junk{i}.R": np.zeros((200, 200), np.float32) for i in range(40)}  # compresses to almost nothing
    data = render_bytes(200, 200, **junk)
    assert len(data) < 200_000
    # 49 HALF channels (3.9 MB) + the float32 frame (1.6 MB) > 4 MB; the 9 used channels alone fit.
    with TestClient(create_app(Settings(max_decoded_mb=4))) as c:
        r = post_raw(c, data)
        assert r.status_code == 413, r.content[:100]
        assert "49 channels" in r.json()["detail"] and r.json()["error"] == "ImageTooLarge"
        assert post_raw(c, render_bytes(200, 200)).status_code == 200  # the same image without junk fits


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def test_memory_returns_to_baseline_after_a_large_request() -> None:
    import numpy as np

    from mcdenoise.exr import encode_exr, frame_channels

    zeros = np.zeros((1024, 1024, 3), np.float32)
    data = encode_exr(frame_channels(zeros, albedo=zeros, normal=zeros), pixel_type="half")
    with TestClient(create_app(Settings(max_memory_mb=512))) as c:
        assert post_raw(c, render_bytes(64, 64)).status_code == 200  # warm up: model, thread pool, arenas
        before = _rss_mb()
        assert post_raw(c, data).status_code == 200
        after = _rss_mb()
    assert after - before < 120, (before, after)  # the frame alone is 160 MB of float32 buffers


def test_places_are_taken_before_the_body_and_slow_bodies_time_out(tmp_path) -> None:  # noqa: ANN001
    """A real server with one place: a slow upload holds it, another request gets 503 at once, and the
    slow one gets 408 after body_timeout_s."""
    import os
    import time
    import urllib.error
    import urllib.request

    port = free_port()
    env = {**os.environ, "MCDENOISE_MAX_QUEUE": "0", "MCDENOISE_BODY_TIMEOUT_S": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "mcdenoise.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(port)
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow.sendall(b"POST /denoise HTTP/1.1\r\nHost: x\r\nContent-Type: image/x-exr\r\n"
                     b"Content-Length: 100000\r\n\r\nv/1\x01")  # 4 of 100000 bytes, then nothing
        time.sleep(0.5)
        t = time.perf_counter()
        req = urllib.request.Request(f"{base}/denoise", data=render_bytes(), headers={"Content-Type": EXR})
        with pytest.raises(urllib.error.HTTPError) as busy:
            urllib.request.urlopen(req, timeout=10)
        assert busy.value.code == 503 and time.perf_counter() - t < 1.5
        answer = ""
        while not answer.endswith("}"):
            chunk = slow.recv(4096).decode(errors="replace")
            if not chunk:
                break
            answer += chunk
        assert answer.startswith("HTTP/1.1 408") and "body_timeout_s" in answer
        slow.close()
        with urllib.request.urlopen(req, timeout=30) as r:  # the place is free again
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
