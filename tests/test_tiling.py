"""Tiling: the plan covers every pixel once with enough context, and tiled output equals untiled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import clean_image
from mcdenoise.architecture import PRESETS
from mcdenoise.cli import main
from mcdenoise.errors import McDenoiseError
from mcdenoise.infer import Denoiser
from mcdenoise.tiling import bytes_per_pixel, plan_axis, plan_tiles, tile_length, tile_overlap

FAST = PRESETS["fast"]


@pytest.mark.parametrize("length", [1, 15, 176, 177, 500, 1081, 2160, 3840, 4097])
@pytest.mark.parametrize("count", [1, 2, 3, 7, 20])
def test_axis_plan_covers_once_with_context(length: int, count: int) -> None:
    overlap, align = 80, 16
    spans = plan_axis(length, count, overlap, align)
    size = tile_length(length, count, overlap, align)
    assert len(spans) == (count if size else 1)
    kept = np.zeros(length, int)
    for i, s in enumerate(spans):
        kept[s.keep_start:s.keep_end] += 1
        assert s.start % align == 0 and 0 <= s.start < s.end <= length
        if size:
            assert s.end - s.start <= size + align  # equal tiles; the last may take up to one alignment more
        if s.start > 0:
            assert s.keep_start - s.start >= overlap  # full context on the left of what is kept
        if s.end < length:
            assert s.end - s.keep_end >= overlap
    assert np.all(kept == 1)


def test_tiles_fit_the_cap_and_waste_little() -> None:
    assert len(plan_tiles(1024, 1024, FAST)) == 1
    assert tile_overlap(FAST) * 2 >= 142  # receptive field of the fast preset
    for (h, w), cap in (((2160, 3840), 2048), ((1080, 1920), 2048), ((4320, 7680), 2048)):
        tiles = plan_tiles(h, w, FAST, cap)
        areas = [(t.y.end - t.y.start) * (t.x.end - t.x.start) for t in tiles]
        assert len(tiles) > 1 and max(areas) * bytes_per_pixel(FAST) <= cap * 2**20 * 1.05
        assert sum(areas) / (h * w) < 1.35  # overlap overhead of frames much larger than a tile
    with pytest.raises(McDenoiseError, match="too small"):
        plan_tiles(400, 400, FAST, 5)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_tiled_equals_untiled(backend: str) -> None:
    color, albedo, normal = clean_image(300, 420, 4)
    color = color * np.random.default_rng(0).gamma(2.0, 0.5, color.shape).astype(np.float32)  # noisy HDR
    denoiser = Denoiser(None, backend=backend, device="cpu")
    full = denoiser.denoise_arrays(color, albedo, normal)
    denoiser.max_memory_mb = 150
    assert len(plan_tiles(300, 420, denoiser.backend.config, 150)) == 2
    tiled = denoiser.denoise_arrays(color, albedo, normal)
    rel = np.abs(tiled - full) / (np.abs(full) + 1e-2)
    assert rel.max() < 1e-4  # ONNX Runtime: bit-identical in practice; PyTorch: conv algorithm rounding


def test_cli_memory_cap_too_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import write_render

    src = write_render(tmp_path / "s.exr", *clean_image(400, 400, 1))
    assert main(["denoise", str(src), "--max-memory-mb", "1"]) == 2
    assert "too small" in capsys.readouterr().err


def test_tiles_of_a_masked_base_model_see_the_lamps_they_need(tmp_path: Path) -> None:
    """A `mask_emitters` model (its blurred base reads a lamp mask, +4 px of receptive field) tiles exactly, lamps at the seams."""
    import torch

    from mcdenoise.checkpoint import save_checkpoint
    from mcdenoise.model import UNet

    torch.manual_seed(5)
    net = UNet(PRESETS["tiny-mix-em"])
    torch.nn.init.normal_(net.convs["dec_conv1c"].weight, std=0.1)
    model = save_checkpoint(tmp_path / "em.pt", {"model_config": net.cfg.to_dict(), "model": net.state_dict()})
    color, albedo, normal = clean_image(96, 160, 2)
    color = color * np.random.default_rng(1).gamma(2.0, 0.5, color.shape).astype(np.float32)
    for x in range(4, 160, 9):  # small lamps along the frame, so some sit at every tile seam
        color[40:44, x:x + 3] = 500.0
    denoiser = Denoiser(model, backend="torch", device="cpu", precision="fp32")
    full = denoiser.denoise_arrays(color, albedo, normal)
    cap = next(mb / 100 for mb in range(300, 1, -1) if len(plan_tiles(96, 160, net.cfg, mb / 100)) >= 3)
    denoiser.max_memory_mb = cap
    tiled = denoiser.denoise_arrays(color, albedo, normal)
    assert np.abs(tiled - full).max() / (np.abs(full).max() + 1e-2) < 1e-5
