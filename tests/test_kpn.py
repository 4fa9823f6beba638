"""Kernel-predicting output: kernels, pyramid compositing, the untrained model, ONNX-friendly slicing."""

from __future__ import annotations

import pytest
import torch

from mcdenoise.architecture import PRESETS, ModelConfig, receptive_field
from mcdenoise.errors import McDenoiseError
from mcdenoise.kpn import apply_kernel, kpn_output
from mcdenoise.model import UNet
from mcdenoise.pipeline import DenoisePipeline


def test_delta_kernel_is_identity_and_uniform_is_box_blur() -> None:
    x = torch.rand(2, 3, 9, 11) * 100
    k = 5
    delta = torch.full((2, k * k, 9, 11), -1e4)
    delta[:, k * k // 2] = 0.0  # all weight on the centre tap
    torch.testing.assert_close(apply_kernel(x, delta, k), x)
    box = apply_kernel(x, torch.zeros(2, k * k, 9, 11), k)
    expect = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"), k, stride=1)
    torch.testing.assert_close(box, expect)


def test_output_stays_within_input_range() -> None:
    # A convex combination of radiance: never above the brightest input, never below 0, for any logits.
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32) ** 8 * 1e3
    raws = (torch.randn(1, 26, 32, 32) * 5, torch.randn(1, 26, 16, 16) * 5, torch.randn(1, 25, 8, 8) * 5)
    out = apply_kernel(x, raws[0][:, :25], 5)
    assert float(out.max()) <= float(x.max()) * (1 + 1e-5) and float(out.min()) >= 0
    full = kpn_output(raws, x, 5)
    assert full.shape == x.shape and torch.isfinite(full).all()


def test_blend_weight_zero_keeps_fine_scale() -> None:
    x = torch.rand(1, 3, 16, 16)
    fine = torch.randn(1, 10, 16, 16)
    fine[:, 9] = -1e4  # sigmoid -> 0: the coarse scale is ignored
    coarse = torch.randn(1, 9, 8, 8)
    torch.testing.assert_close(kpn_output((fine, coarse), x, 3), apply_kernel(x, fine[:, :9], 3))


def test_untrained_kpn_model_blurs_and_keeps_energy() -> None:
    net = UNet(PRESETS["tiny-kpn"])
    pipe = DenoisePipeline(net).eval()
    torch.manual_seed(1)
    color = torch.rand(1, 3, 37, 29) * 4  # unaligned: the pipeline pads and crops
    aux = torch.rand(1, 3, 37, 29)
    with torch.no_grad():
        out = pipe(color, aux, aux)
    assert out.shape == color.shape
    assert float(out.std()) < float(color.std())  # a blur
    assert abs(float(out.mean()) / float(color.mean()) - 1) < 0.02


def test_kpn_config_checks() -> None:
    with pytest.raises(McDenoiseError, match="odd kernel"):
        UNet(ModelConfig(pools=2, output="kpn", kernel=4))
    with pytest.raises(McDenoiseError, match="scales"):
        UNet(ModelConfig(pools=2, output="kpn", scales=3))
    # The kernels' footprint adds to the receptive field (so tiles overlap enough).
    cfg = PRESETS["fast-kpn"]
    assert receptive_field(cfg) > receptive_field(PRESETS["fast"])
