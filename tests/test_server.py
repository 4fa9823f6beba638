"""The HTTP service through TestClient: every endpoint and every bad input, plus one real uvicorn process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import blender_channels, clean_image, free_port, wait_ready, write_parts
from mcdenoise.exr import encode_exr, frame_channels, probe, read_frame
from mcdenoise.server import Settings, create_app

EXR = "image/x-exr"


def render_bytes(h: int = 24, w: int = 40, seed: int = 0, aux: bool = True, pixel_type: str = "half",
                 **extra: np.ndarray) -> bytes:
    """A Mitsuba-style EXR (color + albedo + normal) as bytes."""
    color, albedo, normal = clean_image(h, w, seed)
    chans = frame_channels(color, albedo=albedo if aux else None, normal=normal if aux else None)
    chans.update(extra)
    return encode_exr(chans, header={"owner": "lighting"}, pixel_type=pixel_type)


@pytest.fixture
def client() -> TestClient:
    """A client of an app with the shipped model and small limits."""
    app = create_app(Settings(max_upload_mb=2, max_pixels=200_000))
    with TestClient(app) as c:
        yield c


def post_raw(client: TestClient, data: bytes, **params: str):  # noqa: ANN201
    """POST a raw EXR body."""
    return client.post("/denoise", content=data, headers={"Content-Type": EXR}, params=params)


def test_raw_exr_round_trip_keeps_size_header_and_pixel_type(client: TestClient) -> None:
    r = post_raw(client, render_bytes(24, 40))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == EXR
    assert "denoise;dur=" in r.headers["server-timing"] and r.headers["x-mcdenoise-model"] == "n2n_default"
    info = probe(r.content)
    assert (info.width, info.height) == (40, 24) and info.parts[0].header["owner"] == "lighting"
    assert {c.pixel_type for c in info.channels} == {"HALF"}
    assert probe(post_raw(client, render_bytes(), pixel_type="float").content).channels[0].pixel_type == "FLOAT"


def test_passes_query_is_capped_by_the_setting() -> None:
    app = create_app(Settings(max_upload_mb=2, max_pixels=200_000, max_passes=2))
    with TestClient(app) as client:
        one, two = post_raw(client, render_bytes()), post_raw(client, render_bytes(), passes="2")
        assert one.status_code == two.status_code == 200, two.text
        assert not np.array_equal(read_frame(one.content).color, read_frame(two.content).color)
        r = post_raw(client, render_bytes(), passes="4")
        assert r.status_code == 422 and r.json()["error"] == "TooManyPasses" and "max_passes" in r.json()["detail"]
        r = post_raw(client, render_bytes(), passes="0")
        assert r.status_code == 422 and r.json()["error"] == "BadParameter"


def test_energy_match_setting() -> None:
    """The service matches each channel's total to the upload's unless MCDENOISE_ENERGY_MATCH=false."""
    body = render_bytes(32, 48, pixel_type="float")
    want = read_frame(body).color.sum((0, 1), dtype=np.float64)
    totals = {}
    for on in (True, False):
        with TestClient(create_app(Settings(energy_match=on))) as c:
            r = post_raw(c, body, pixel_type="float")
            assert r.status_code == 200, r.text
            totals[on] = read_frame(r.content).color.sum((0, 1), dtype=np.float64)
    np.testing.assert_allclose(totals[True], want, rtol=1e-4)
    assert not np.allclose(totals[False], want, rtol=1e-4)


def test_blender_multilayer_and_multipart_side_files(client: TestClient, tmp_path: Path) -> None:
    passes = blender_channels("ViewLayer", 20, 28, noisy_image=True)
    blender = write_parts(tmp_path / "b.exr", [(f"ViewLayer.{p}", c) for p, c in passes.items()])
    r = post_raw(client, blender.read_bytes(), layer="ViewLayer")
    assert r.status_code == 200, r.text
    assert read_frame(r.content).color.shape == (20, 28, 3)

    color, albedo, normal = clean_image(16, 16, 3)
    files = {"color": ("beauty.exr", render_bytes(16, 16, aux=False)),
             "albedo": ("a.exr", encode_exr(frame_channels(albedo))), "normal": ("n.exr", encode_exr(frame_channels(normal)))}
    r = client.post("/denoise", files=files)
    assert r.status_code == 200, r.text
    assert 'filename="beauty.denoised.exr"' in r.headers["content-disposition"]


def test_health_ready_model_metrics_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["backend"] == "onnx" and ready["device"] == "CPUExecutionProvider"
    model = client.get("/v1/model").json()
    assert model["name"] == "n2n_default" and model["config"]["pools"] == 4 and model["alignment"] == 16
    post_raw(client, render_bytes())
    post_raw(client, b"junk")
    text = client.get("/metrics").text
    assert 'mcdenoise_requests_total{path="/denoise",status="200"} 1' in text
    assert 'mcdenoise_requests_total{path="/denoise",status="400"} 1' in text
    assert "mcdenoise_pixels_denoised_total 960" in text and 'mcdenoise_request_seconds_bucket{le="+Inf"} 2' in text
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/denoise"]["post"]
    assert set(op["requestBody"]["content"]) == {"multipart/form-data", EXR}
    assert {"400", "401", "413", "415", "422", "503"} <= set(op["responses"])
    assert client.get("/docs").status_code == 200


def _truncated() -> bytes:
    data = render_bytes(64, 64)
    return data[: len(data) // 2]


def _huge_header() -> bytes:
    """A valid header claiming 100000x100000 pixels, with no pixel data behind it."""
    data = bytearray(render_bytes(8, 8))
    pos = data.index(b"dataWindow\x00box2i\x00") + len(b"dataWindow\x00box2i\x00") + 4
    data[pos:pos + 16] = np.array([0, 0, 99_999, 99_999], "<i4").tobytes()
    pos = data.index(b"displayWindow\x00box2i\x00") + len(b"displayWindow\x00box2i\x00") + 4
    data[pos:pos + 16] = np.array([0, 0, 99_999, 99_999], "<i4").tobytes()
    return bytes(data[:4096])


BAD_RAW = [
    ("not an exr", b"P6\n1 1\n255\n\x00\x00\x00", 400, "not an OpenEXR image"),
    ("random bytes", os.urandom(5000), 400, "not an OpenEXR image"),
    ("empty", b"", 400, "empty"),
    ("truncated", None, 400, "truncated or corrupt"),
    ("no color channels", encode_exr({"Z": np.ones((8, 8), np.float32)}), 422, "color"),
    ("no aovs", render_bytes(aux=False), 422, "needs color + albedo + normal"),
    ("too many pixels", render_bytes(500, 500), 413, "more than the limit"),
    ("100000x100000 header", None, 413, "100000x100000"),
]


@pytest.mark.parametrize(("case", "data", "status", "message"), BAD_RAW, ids=[c[0] for c in BAD_RAW])
def test_bad_uploads_get_clear_4xx(client: TestClient, case: str, data: bytes | None, status: int, message: str) -> None:
    data = {"truncated": _truncated, "100000x100000 header": _huge_header}.get(case, lambda: data)()
    r = post_raw(client, data)
    assert r.status_code == status, r.text
    body = r.json()
    assert message in body["detail"] and body["error"] and "Traceback" not in r.text
    assert client.get("/healthz").status_code == 200  # still serving
    assert post_raw(client, render_bytes()).status_code == 200


def test_nan_inf_rejected_by_default_replaced_on_request(client: TestClient) -> None:
    color, albedo, normal = clean_image(16, 16, 0)
    color[2, 3, 0], color[5, 5, 1] = np.nan, np.inf
    data = encode_exr(frame_channels(color, albedo=albedo, normal=normal), pixel_type="float")
    r = post_raw(client, data)
    assert r.status_code == 422 and "NaN/Inf" in r.json()["detail"] and "2 color" in r.json()["detail"]
    r = post_raw(client, data, nan="replace")
    assert r.status_code == 200 and np.all(np.isfinite(read_frame(r.content).color))


def test_limits_content_type_fields_and_query(client: TestClient) -> None:
    big = b"\x76\x2f\x31\x01" + os.urandom(3 * 2**20)
    r = post_raw(client, big)
    assert r.status_code == 413 and "max_upload_mb" in r.json()["detail"]

    def chunks():  # no Content-Length: the cap applies while streaming
        for _ in range(4):
            yield os.urandom(2**20)
    r = client.post("/denoise", content=chunks(), headers={"Content-Type": EXR})
    assert r.status_code == 413

    r = client.post("/denoise", content=render_bytes(), headers={"Content-Type": "image/png"})
    assert r.status_code == 415 and "not supported" in r.json()["detail"]
    r = client.post("/denoise", content=render_bytes())  # no content type at all
    assert r.status_code == 415
    r = client.post("/denoise", files={"albedo": ("a.exr", render_bytes())})
    assert r.status_code == 422 and "color" in r.json()["detail"]
    r = post_raw(client, render_bytes(), pixel_type="int8")
    assert r.status_code == 422  # FastAPI's validation error names the parameter
    r = post_raw(client, render_bytes(), layer="NoSuchLayer")
    assert r.status_code == 422 and "NoSuchLayer" in r.text
    color, albedo, normal = clean_image(16, 16, 3)
    files = {"color": ("c.exr", render_bytes(16, 16, aux=False)), "albedo": ("a.exr", encode_exr(frame_channels(albedo[:8]))),
             "normal": ("n.exr", encode_exr(frame_channels(normal)))}
    r = client.post("/denoise", files=files)
    assert r.status_code == 422 and "albedo is 16x8" in r.json()["detail"]
    assert post_raw(client, render_bytes(), aux="none").status_code == 422


def test_api_key(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(api_key="s3cret"))) as c:
        assert post_raw(c, render_bytes()).status_code == 401
        r = c.post("/denoise", content=render_bytes(), headers={"Content-Type": EXR, "Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/v1/model").status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200  # probes need no key
        r = c.post("/denoise", content=render_bytes(), headers={"Content-Type": EXR, "Authorization": "Bearer s3cret"})
        assert r.status_code == 200


def test_busy_answers_503_quickly_and_health_stays_responsive() -> None:
    app = create_app(Settings(max_concurrency=1, max_queue=0, retry_after_s=3))
    with TestClient(app) as c:
        gate = threading.Event()
        denoiser = app.state.denoiser
        original = denoiser.denoise_arrays

        def slow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - hold the only slot until released
            gate.wait(10)
            return original(*args, **kwargs)

        denoiser.denoise_arrays = slow
        results = {}
        first = threading.Thread(target=lambda: results.update(first=post_raw(c, render_bytes())))
        first.start()
        for _ in range(100):  # wait until the first request holds the slot
            if app.state.limiter.active:
                break
            time.sleep(0.02)
        t = time.perf_counter()
        r = post_raw(c, render_bytes())
        assert r.status_code == 503 and r.headers["retry-after"] == "3" and time.perf_counter() - t < 2
        t = time.perf_counter()
        assert c.get("/healthz").status_code == 200 and time.perf_counter() - t < 1  # not blocked by inference
        gate.set()
        first.join()
        assert results["first"].status_code == 200


def test_bad_model_fails_startup(tmp_path: Path) -> None:
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"nope")
    with pytest.raises(Exception, match="not a loadable ONNX model"):
        with TestClient(create_app(Settings(model=str(bad)))):
            pass


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCDENOISE_MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("MCDENOISE_API_KEY", "s3cret-xyz")
    s = Settings()
    assert s.max_upload_mb == 7 and s.api_key.get_secret_value() == "s3cret-xyz" and "s3cret" not in repr(s)


def test_service_imports_no_torch() -> None:
    """The service image has no PyTorch: nothing on its import path may need it."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from fastapi.testclient import TestClient\nfrom mcdenoise.server import create_app\n"
            "with TestClient(create_app()) as c: assert c.get('/readyz').json()['ready']")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_real_uvicorn_process(tmp_path: Path) -> None:
    """`mcdenoise serve` on a loopback port: start, POST a real EXR, read back a valid EXR, stop."""
    port = free_port()
    env = {**os.environ, "MCDENOISE_MAX_QUEUE": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "mcdenoise.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(port, proc)
        sample = Path(__file__).resolve().parents[1] / "sample_scenes" / "cornell" / "cam0_box" / "render_000.exr"
        req = urllib.request.Request(f"{base}/denoise", data=sample.read_bytes(), headers={"Content-Type": EXR})
        with urllib.request.urlopen(req, timeout=60) as r:
            out = r.read()
        frame = read_frame(out)
        assert frame.color.shape == read_frame(sample).color.shape and np.all(np.isfinite(frame.color))

        from mcdenoise.cli import main  # the client side: `mcdenoise denoise --server URL`

        assert main(["denoise", str(sample), "-o", str(tmp_path / "dn.exr"), "--server", base]) == 0
        assert np.allclose(read_frame(tmp_path / "dn.exr").color, frame.color)
        assert main(["denoise", str(tmp_path / "missing.exr"), "--server", base]) == 2
        bad = tmp_path / "bad.exr"
        bad.write_bytes(b"not an exr")
        assert main(["denoise", str(bad), "-o", str(tmp_path / "x.exr"), "--server", base]) == 2
        assert not (tmp_path / "x.exr").exists()
        assert main(["denoise", str(sample), "-o", str(tmp_path / "y.exr"), "--server", "http://127.0.0.1:9"]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_color_only_model_serves_renders_without_aovs() -> None:
    with TestClient(create_app(Settings(model="color"))) as c:
        assert c.get("/v1/model").json()["config"]["in_channels"] == 3
        r = post_raw(c, render_bytes(aux=False))
        assert r.status_code == 200, r.text
        assert post_raw(c, render_bytes(), aux="none").status_code == 200
