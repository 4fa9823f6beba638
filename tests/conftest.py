"""Shared helpers: EXR files in the styles real renderers write, made by the tests themselves."""

from __future__ import annotations

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
