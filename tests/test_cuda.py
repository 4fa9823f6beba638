"""The CUDA paths (PyTorch backend, `fit`, teacher targets, torchrun): run where a GPU is, skipped elsewhere.

CI has no GPU; `benchmarks/gpu_check.sh` runs this file on a lent GPU machine. To check the tests'
own logic on a CPU, run them with MCDENOISE_TEST_DEVICE=cpu.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import clean_image, make_scene
from mcdenoise.checkpoint import load_checkpoint
from mcdenoise.cli import main
from mcdenoise.data import FrameCache, TeacherTargets, collect_views
from mcdenoise.exr import read_frame
from mcdenoise.infer import Denoiser
from mcdenoise.train import TrainConfig, fit

DEVICE = os.environ.get("MCDENOISE_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="no CUDA GPU")


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """‖a - b‖ / ‖b‖."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def noisy_frame(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few-spp-like HDR color with its albedo and normal, (H, W, 3) each."""
    color, albedo, normal = clean_image(h, w, seed)
    noisy = color * np.random.default_rng(seed).gamma(2.0, 0.5, size=color.shape).astype(np.float32)
    return noisy.astype(np.float32), albedo, normal


def test_torch_backend_on_the_gpu_matches_the_cpu() -> None:
    color, albedo, normal = noisy_frame(96, 128)
    gpu = Denoiser("default", backend="torch", device=DEVICE)
    assert gpu.backend.device.startswith(DEVICE.split(":")[0])
    cpu = Denoiser("default", backend="torch", device="cpu").denoise_arrays(color, albedo, normal)
    # cuDNN may run the convolutions in TF32: about 1e-3 relative, far under the model's own error
    assert rel_diff(gpu.denoise_arrays(color, albedo, normal), cpu) < 5e-3


def test_tiles_on_the_gpu_match_one_pass() -> None:
    color, albedo, normal = noisy_frame(384, 448, seed=1)  # 239 MB in one pass for the default model
    whole = Denoiser("default", backend="torch", device=DEVICE).denoise_arrays(color, albedo, normal)
    tiled = Denoiser("default", backend="torch", device=DEVICE, max_memory_mb=64).denoise_arrays(color, albedo, normal)
    assert rel_diff(tiled, whole) < 5e-3


def test_cli_denoises_on_the_gpu(tmp_path: Path) -> None:
    scene = make_scene(tmp_path, views=1, renders=1, size=(48, 64))
    src = scene / "cam0" / "render_000.exr"
    out = tmp_path / "out.exr"
    assert main(["denoise", str(src), "-o", str(out), "--backend", "torch", "--device", DEVICE]) == 0
    assert np.isfinite(read_frame(out).color).all()


def test_fit_on_the_gpu_writes_a_model_the_cpu_loads_and_resumes(tmp_path: Path) -> None:
    scene = make_scene(tmp_path, views=3, renders=4, size=(64, 64))
    out = tmp_path / "m.pt"
    cfg = TrainConfig(scenes=[str(scene)], output=str(out), init="scratch", size="tiny", steps=12, batch=2,
                      crop=32, device=DEVICE, val_every=6)
    summary = fit(cfg, progress=False)
    assert summary["steps"] == 12
    color, albedo, normal = noisy_frame(48, 48)
    assert np.isfinite(Denoiser(str(out), backend="torch", device="cpu").denoise_arrays(color, albedo, normal)).all()
    resumed = fit(TrainConfig(**{**cfg.__dict__, "steps": 20}), resume=True, progress=False)
    assert resumed["steps"] == 20


def test_fit_on_the_gpu_in_fp32_and_bf16(tmp_path: Path) -> None:
    scene = make_scene(tmp_path, views=3, renders=4, size=(64, 64))
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.pt"
        summary = fit(TrainConfig(scenes=[str(scene)], output=str(out), init="scratch", size="tiny", steps=30,
                                  batch=4, crop=32, device=DEVICE, precision=precision, val_every=10),
                      progress=False)
        assert np.isfinite(summary["metrics"]["val_psnr"]), precision


def test_teacher_targets_on_the_gpu(tmp_path: Path) -> None:
    scene = make_scene(tmp_path, views=1, renders=3, size=(32, 48))
    cache = FrameCache(64 * 2**20)
    view = collect_views([str(scene)], "teacher")[0]
    target = TeacherTargets("default", cache, 2**20, device=DEVICE).get(view, 0)
    assert target.shape == (3, 32, 48) and np.isfinite(target.astype(np.float32)).all()


def test_torchrun_fit_on_one_gpu(tmp_path: Path) -> None:
    scene = make_scene(tmp_path, views=3, renders=4, size=(64, 64))
    out = tmp_path / "ddp.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m",
           "mcdenoise.cli", "fit", str(scene), "-o", str(out), "--init", "scratch", "--size", "tiny", "--steps", "6",
           "--batch", "2", "--crop", "32", "--device", DEVICE]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert load_checkpoint(out)["step"] == 6


def test_fit_takes_the_devices_batch_and_crop(tmp_path: Path) -> None:
    """The paper's 4 x 64^2 leaves a GPU idle (launch-bound): fit defaults to 32 x 128^2 there."""
    scene = make_scene(tmp_path, views=3, renders=4, size=(160, 160))
    out = tmp_path / "auto.pt"
    fit(TrainConfig(scenes=[str(scene)], output=str(out), init="scratch", size="tiny", steps=2, device=DEVICE),
        progress=False)
    cfg = load_checkpoint(out)["train_config"]
    assert (cfg["batch"], cfg["crop"]) == ((32, 128) if DEVICE.startswith("cuda") else (4, 64))
