"""Shared helpers: EXR files in the styles real renderers write, made by the tests themselves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import OpenEXR
import pytest


def rand(h: int, w: int, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    """A reproducible random (h, w) channel."""
    return np.random.default_rng(seed).random((h, w)).astype(dtype)


def write_parts(path: Path, parts: list[tuple[str, dict[str, np.ndarray]]], **header: object) -> Path:
    """Write a (multi-)part EXR from (part name, {channel: pixels}) pairs."""
    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, **header}
    if len(parts) == 1 and not parts[0][0]:
        OpenEXR.File(hdr, parts[0][1]).write(str(path))
    else:
        OpenEXR.File([OpenEXR.Part(dict(hdr), chans, name) for name, chans in parts]).write(str(path))
    return path


def blender_channels(layer: str, h: int, w: int, seed: int = 0, noisy_image: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Blender/Cycles passes with Denoising Data: pass name -> {full channel name: pixels}."""
    passes = {"Combined": "RGBA", "Denoising Albedo": "RGB", "Denoising Normal": "XYZ"}
    if noisy_image:
        passes["Noisy Image"] = "RGBA"
    out = {}
    for i, (pass_name, comps) in enumerate(passes.items()):
        out[pass_name] = {f"{layer}.{pass_name}.{c}": rand(h, w, seed * 100 + i * 10 + j, np.float16) for j, c in enumerate(comps)}
    # Emitters carry their emission in Blender's albedo (about 77 at a light): keep such a value.
    out["Denoising Albedo"][f"{layer}.Denoising Albedo.R"][0, 0] = 77.0
    return out


@pytest.fixture
def blender_multipart(tmp_path: Path) -> Path:
    """Blender 4/5 style: one part per pass, channels carry the full layer.pass.component name."""
    passes = blender_channels("ViewLayer", 12, 16, noisy_image=True)
    return write_parts(tmp_path / "blender_mp.exr", [(f"ViewLayer.{p}", c) for p, c in passes.items()])


@pytest.fixture
def blender_singlepart(tmp_path: Path) -> Path:
    """Older Blender style: a single part holding every pass of two view layers."""
    chans: dict[str, np.ndarray] = {}
    for k, layer in enumerate(("Foreground", "Background")):
        for c in blender_channels(layer, 12, 16, seed=k).values():
            chans.update(c)
    return write_parts(tmp_path / "blender_sp.exr", [("", chans)])


@pytest.fixture
def mitsuba_style(tmp_path: Path) -> Path:
    """Mitsuba 3 aov integrator naming: R,G,B plus albedo.* and nn.* (and its integrator.* copy)."""
    h, w = 10, 14
    chans = {c: rand(h, w, i) for i, c in enumerate("RGB")}
    chans.update({f"integrator.{c}": rand(h, w, 10 + i) for i, c in enumerate("RGBA")})
    chans.update({f"albedo.{c}": rand(h, w, 20 + i) for i, c in enumerate("RGB")})
    chans.update({f"nn.{c}": rand(h, w, 30 + i) * 2 - 1 for i, c in enumerate("XYZ")})
    return write_parts(tmp_path / "mitsuba.exr", [("", chans)])


def write_render(path: Path, color: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None,
                 pixel_type: str = "half") -> Path:
    """A Mitsuba-style render file from (H, W, 3) buffers."""
    from mcdenoise.exr import frame_channels, write_exr

    return write_exr(path, frame_channels(color, albedo=albedo, normal=normal), pixel_type=pixel_type)


def raw_inputs(h: int, w: int, seed: int, peak: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (1, 3, H, W) float32 color (HDR up to `peak`), albedo and unit normal: what the backends take."""
    rng = np.random.default_rng(seed)
    color = (rng.random((1, 3, h, w)) ** 4 * peak).astype(np.float32)
    albedo = rng.random((1, 3, h, w)).astype(np.float32)
    n = rng.normal(size=(1, 3, h, w))
    normal = (n / np.linalg.norm(n, axis=1, keepdims=True)).astype(np.float32)
    return color, albedo, normal


def clean_image(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth HDR color with matching albedo and normal: (H, W, 3) each."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    albedo = np.stack([0.2 + 0.6 * ((xx * 4 + k).astype(int) % 2) * rng.random() + 0.1 * k for k in range(3)], -1)
    normal = np.stack([np.sin(3 * xx), np.cos(3 * yy), np.ones_like(xx)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = 0.5 + 2.0 * np.exp(-((xx - rng.random()) ** 2 + (yy - rng.random()) ** 2) * 8)
    return (albedo * light[..., None]).astype(np.float32), albedo.astype(np.float32), normal.astype(np.float32)


def make_scene(root: Path, name: str = "scene", *, views: int = 2, renders: int = 3, size: tuple[int, int] = (32, 32),
               reference: bool = True, seed: int = 0) -> Path:
    """A synthetic scene directory in the layout: noisy renders (unbiased noise) + optional reference."""
    h, w = size
    for v in range(views):
        view = root / name / f"cam{v}"
        view.mkdir(parents=True)
        color, albedo, normal = clean_image(h, w, seed * 10 + v)
        rng = np.random.default_rng(seed * 100 + v)
        for i in range(renders):
            # Unbiased multiplicative noise, like a few-spp estimate (mean = the clean value).
            noisy = color * rng.gamma(2.0, 0.5, size=color.shape).astype(np.float32)
            write_render(view / f"render_{i:03d}.exr", noisy, albedo, normal)
        if reference:
            write_render(view / "reference.exr", color, None, None, pixel_type="float")
    return root / name


@pytest.fixture
def tiny_scene(tmp_path: Path) -> Path:
    """A 2-view, 3-render synthetic scene with references."""
    return make_scene(tmp_path / "scenes")


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """An untrained tiny model file (plumbing tests do not need a good model); its last conv is random,
    not zero, so the output differs from the input."""
    import torch

    from mcdenoise.checkpoint import save_checkpoint
    from mcdenoise.model import PRESETS, UNet

    torch.manual_seed(0)
    net = UNet(PRESETS["tiny"])
    torch.nn.init.normal_(net.convs["dec_conv1c"].weight, std=0.05)
    return save_checkpoint(tmp_path / "tiny.pt", {"model_config": net.cfg.to_dict(), "model": net.state_dict()})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen | None = None, seconds: float = 30) -> None:
    """Wait until a service on 127.0.0.1:port answers /readyz with 200; fail the test with its output if not."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    out = proc.stdout.read1().decode(errors="replace") if proc is not None and proc.stdout is not None else ""
    pytest.fail(f"the service on port {port} did not become ready: {out}")
