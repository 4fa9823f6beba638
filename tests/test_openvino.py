"""`--backend openvino`: the exported ONNX graph on OpenVINO computes what ONNX Runtime does (float32),
close to it in bfloat16, shares the frame's exposure across tiles, and fails clearly."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import clean_image, raw_inputs, write_render  # noqa: E402
from mcdenoise.backends import OnnxBackend, OpenVinoBackend, open_backend  # noqa: E402
from mcdenoise.cli import main  # noqa: E402
from mcdenoise.errors import McDenoiseError, ModelError  # noqa: E402
from mcdenoise.exr import read_frame  # noqa: E402
from mcdenoise.infer import Denoiser  # noqa: E402


def _tonemap(v: np.ndarray) -> np.ndarray:
    """The metrics' tonemap: where a display would see a difference."""
    return (np.maximum(v, 0) / (1 + np.maximum(v, 0))) ** (1 / 2.2)


@pytest.fixture(scope="module")
def backends() -> tuple[OnnxBackend, OpenVinoBackend, OpenVinoBackend]:
    """The shipped default on ONNX Runtime, OpenVINO float32 and OpenVINO in its automatic precision."""
    return (OnnxBackend("default", device="cpu"), OpenVinoBackend("default", precision="fp32"),
            OpenVinoBackend("default"))


@pytest.mark.parametrize("h,w,exposure", [(37, 53, 0.0), (16, 16, 0.37), (5, 70, 2.0)])
def test_float32_matches_onnxruntime_at_any_size_and_exposure(backends, h: int, w: int, exposure: float) -> None:
    ort_b, ov_f32, ov_auto = backends
    color, albedo, normal = raw_inputs(h, w, seed=h * w, peak=8.0)
    ref = ort_b.run(color, albedo, normal, exposure)
    out = ov_f32.run(color, albedo, normal, exposure)
    assert out.shape == (1, 3, h, w) and out.dtype == np.float32
    assert np.max(np.abs(out - ref) / (np.abs(ref) + 1e-2)) < 1e-3
    fast = ov_auto.run(color, albedo, normal, exposure)  # bfloat16 on this CPU (AMX)
    # bfloat16 keeps 8 bits of mantissa: close on average (on real renders -0.01 dB, see BENCHMARKS.md),
    # a few worst pixels of this noise input differ by up to about 0.1 after the tonemap
    psnr = -10 * np.log10(np.mean((_tonemap(fast) - _tonemap(ref)) ** 2))
    assert np.all(np.isfinite(fast)) and psnr > 35, psnr


def test_the_exposure_input_is_really_used(backends) -> None:
    """OpenVINO folds the graph's overridable exposure into a constant; the backend makes it an input again."""
    _, ov_f32, _ = backends
    color, albedo, normal = raw_inputs(24, 24, seed=1, peak=4.0)
    assert not np.allclose(ov_f32.run(color, albedo, normal, 0.2), ov_f32.run(color, albedo, normal, 3.0))


def test_tiled_frame_matches_onnxruntime() -> None:
    """Tiles share the frame's exposure, so a tiled OpenVINO denoise equals ONNX Runtime's."""
    color, albedo, normal = clean_image(300, 400, seed=4)  # several tiles within 60 MB
    color = color * np.random.default_rng(0).exponential(1.0, color.shape).astype(np.float32)
    a = Denoiser("default", backend="onnx", device="cpu", max_memory_mb=60).denoise_arrays(color, albedo, normal)
    ov = Denoiser(backend=OpenVinoBackend("default", precision="fp32"), max_memory_mb=60)
    b = ov.denoise_arrays(color, albedo, normal)
    assert np.max(np.abs(a - b) / (np.abs(a) + 1e-2)) < 1e-3


def test_cli_denoise_with_openvino_and_a_checkpoint_exported_in_memory(tmp_path: Path, tiny_model: Path) -> None:
    color, albedo, normal = clean_image(20, 28, seed=2)
    src = write_render(tmp_path / "in.exr", color, albedo, normal)
    for model in ("default", str(tiny_model)):
        out = tmp_path / f"out_{Path(model).stem}.exr"
        assert main(["denoise", str(src), "-o", str(out), "--model", model, "--backend", "openvino"]) == 0
        assert read_frame(out).color.shape == (20, 28, 3)
        assert read_frame(out).header["mcdenoise_backend"].startswith("openvino CPU (")


def test_bad_inputs_get_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(os.urandom(100))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        OpenVinoBackend(bad)
    with pytest.raises(ModelError, match="no such ONNX model"):
        OpenVinoBackend(tmp_path / "none.onnx")
    with pytest.raises(McDenoiseError, match="runs on the CPU"):
        OpenVinoBackend("default", device="cuda")
    with pytest.raises(McDenoiseError, match="unknown precision"):
        OpenVinoBackend("default", precision="f16")
    with pytest.raises(McDenoiseError, match="--backend openvino needs an .onnx file"):
        open_backend(tmp_path / "m.pt", backend="openvino")
    src = write_render(tmp_path / "in.exr", *clean_image(8, 8, seed=0))
    assert main(["denoise", str(src), "-o", str(tmp_path / "o.exr"), "--backend", "openvino", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "runs on the CPU" in err and "Traceback" not in err and not (tmp_path / "o.exr").exists()


def test_missing_openvino_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_openvino(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name.split(".")[0] == "openvino":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(McDenoiseError, match=r"pip install 'mcdenoise\[openvino\]'"):
        OpenVinoBackend("default")


def test_service_runs_on_openvino() -> None:
    from mcdenoise.exr import encode_exr, frame_channels
    from mcdenoise.server import Settings, create_app

    color, albedo, normal = clean_image(24, 40, seed=0)
    body = encode_exr(frame_channels(color, albedo=albedo, normal=normal), pixel_type="half")
    with TestClient(create_app(Settings(backend="openvino"))) as client:
        r = client.post("/denoise", content=body, headers={"Content-Type": "image/x-exr"})
        assert r.status_code == 200, r.text
        assert read_frame(r.content).color.shape == (24, 40, 3)
        assert client.get("/v1/model").json()["backend"] == "openvino"


def test_mixlog_head_runs_on_openvino(tmp_path: Path) -> None:
    """The blurred base (avg-pool without padding counts, clamp) converts as ONNX Runtime runs it."""
    import torch

    from mcdenoise.checkpoint import save_checkpoint
    from mcdenoise.export import export_bytes
    from mcdenoise.model import PRESETS, UNet

    torch.manual_seed(3)
    net = UNet(PRESETS["tiny-mix"])
    torch.nn.init.normal_(net.convs["dec_conv1c"].weight, std=0.1)
    data = export_bytes(save_checkpoint(tmp_path / "m.pt", {"model_config": net.cfg.to_dict(), "model": net.state_dict()}))
    color, albedo, normal = raw_inputs(29, 35, seed=7, peak=50.0)
    ref = OnnxBackend(data, device="cpu").run(color, albedo, normal, 0.0)
    out = OpenVinoBackend(data, precision="fp32").run(color, albedo, normal, 0.0)
    assert np.max(np.abs(out - ref) / (np.abs(ref) + 1e-2)) < 1e-3


def test_concurrent_runs_do_not_share_a_request(backends) -> None:
    """The service may run several requests at once (max_concurrency): each thread gets its own request."""
    from concurrent.futures import ThreadPoolExecutor

    _, ov_f32, _ = backends
    inputs = [raw_inputs(24 + 8 * i, 40, seed=i, peak=4.0) for i in range(4)]
    alone = [ov_f32.run(*x, 0.5) for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda x: ov_f32.run(*x, 0.5), inputs))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_auto_prefers_openvino_on_native_bf16_cpus(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """auto: OpenVINO in bfloat16 where it is the fastest CPU path; ONNX Runtime for float32, for a service
    that returns its memory after each request and on a GPU; PyTorch for checkpoints."""
    from mcdenoise import backends
    from mcdenoise.export import export_bytes

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(export_bytes(tiny_model))
    monkeypatch.setattr(backends, "openvino_native_bf16", lambda: True)
    for model in ("default", str(onnx), onnx.read_bytes()):
        assert backends.auto_backend(model) == "openvino"
        assert backends.auto_backend(model, device="cpu") == "openvino"
        assert backends.auto_backend(model, precision="fp32") == "onnx"
        assert backends.auto_backend(model, release_memory=True) == "onnx"
        assert backends.auto_backend(model, device="cuda:1") == "onnx"
    assert backends.auto_backend(str(tiny_model)) == "torch"
    monkeypatch.setattr(backends, "openvino_native_bf16", lambda: False)  # not installed, or no native bf16
    assert backends.auto_backend("default") == "onnx"


def test_auto_opens_openvino_here_when_the_cpu_has_native_bf16() -> None:
    from mcdenoise.backends import openvino_native_bf16

    backend = open_backend("default", device="cpu")
    assert backend.name == ("openvino" if openvino_native_bf16() else "onnx")
    assert open_backend("default", device="cpu", precision="fp32").name == "onnx"
    assert open_backend("default", device="cpu", release_memory=True).name == "onnx"
    with pytest.raises(McDenoiseError, match="unknown device 'gpu'"):  # not "openvino runs on the CPU"
        open_backend("default", device="gpu")


def test_requests_are_pooled_not_one_per_thread() -> None:
    """The service runs each request on one of anyio's up to 40 worker threads: sequential runs from many
    threads reuse one infer request (and its buffers) instead of keeping one per thread."""
    from concurrent.futures import ThreadPoolExecutor

    backend = OpenVinoBackend("default", precision="fp32")
    x = raw_inputs(16, 24, seed=5, peak=4.0)
    for _ in range(8):
        with ThreadPoolExecutor(1) as pool:  # a new thread each time
            pool.submit(backend.run, *x, 0.5).result()
    assert backend.requests_made == 1
    with ThreadPoolExecutor(3) as pool:  # at most as many requests as ran at once
        list(pool.map(lambda _: backend.run(*x, 0.5), range(12)))
    assert 1 <= backend.requests_made <= 3
