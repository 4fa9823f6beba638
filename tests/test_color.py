"""Transfer functions: paired round-trips on numpy and torch, known values, autoexposure."""

from __future__ import annotations

import numpy as np
import pytest

from mcdenoise import color

PAIRS = [
    (color.n2n_forward, color.n2n_inverse),
    (color.log_forward, color.log_inverse),
    (color.srgb_forward, color.srgb_inverse),
]
HDR = np.concatenate([np.linspace(0, 1, 101), np.geomspace(1e-4, 1e3, 50)]).astype(np.float32)


@pytest.mark.parametrize("forward,inverse", PAIRS)
def test_round_trip_numpy(forward, inverse) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(inverse(forward(HDR)), HDR, rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize("forward,inverse", PAIRS)
def test_round_trip_torch_matches_numpy(forward, inverse) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(HDR)
    np.testing.assert_allclose(forward(t).numpy(), forward(HDR), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inverse(forward(t)).numpy(), HDR, rtol=2e-3, atol=1e-5)


def test_known_values() -> None:
    assert color.n2n_forward(np.float32(1.0)) == pytest.approx(0.5 ** (1 / 2.2))
    assert color.n2n_forward(np.float32(-3.0)) == 0.0
    assert color.n2n_forward(np.float32(np.inf)) == pytest.approx(1.0)
    assert np.isfinite(color.log_forward(np.float32(np.inf)))
    assert np.isfinite(color.n2n_inverse(np.float32(1.0)))
    assert color.srgb_forward(np.float32(1.0)) == pytest.approx(1.0, abs=1e-6)
    assert color.srgb_forward(np.float32(0.001)) == pytest.approx(0.01292)
    assert color.luminance(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)


def test_autoexposure_scales_inversely() -> None:
    img = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32) + 0.1
    e = color.autoexposure(img)
    assert color.autoexposure(img * 8) == pytest.approx(e / 8, rel=1e-5)
    assert color.autoexposure(np.zeros((8, 8, 3), np.float32)) == 1.0
    # A uniform image at the key value needs no exposure change.
    assert color.autoexposure(np.full((32, 32, 3), color.EXPOSURE_KEY, np.float32)) == pytest.approx(1.0, rel=1e-5)


def test_autoexposure_torch_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(1).random((37, 53, 3)).astype(np.float32) * 3
    t = torch.from_numpy(img).permute(2, 0, 1)[None]  # (1, 3, H, W)
    assert float(color.autoexposure(t)[0]) == pytest.approx(color.autoexposure(img), rel=1e-4)
    assert float(color.autoexposure(torch.zeros(1, 3, 8, 8))[0]) == 1.0


def test_match_energy_gives_each_channel_the_noisy_total() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.exponential(1.0, (300, 20, 3)).astype(np.float32)  # 300 rows: more than one summing chunk
    noisy[0, 0] = [np.nan, np.inf, 2.0]  # non-finite pixels count as 0, as the network sees them
    denoised = np.full((300, 20, 3), 1.0, np.float32) * np.array([0.9, 1.1, 1.0], np.float32)
    scale = color.match_energy(denoised, noisy)
    want = np.where(np.isfinite(noisy), noisy, 0).sum((0, 1), dtype=np.float64)
    np.testing.assert_allclose(denoised.sum((0, 1), dtype=np.float64), want, rtol=1e-5)
    assert denoised.dtype == np.float32 and scale.shape == (3,)
    # degenerate frames: no energy on either side keeps the channel; far-off totals are clamped
    black = np.zeros((4, 4, 3), np.float32)
    out = np.ones((4, 4, 3), np.float32)
    np.testing.assert_array_equal(color.match_energy(out, black), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(out, 1.0)
    spike = black.copy()
    spike[0, 0] = 1e4  # one firefly the network removed: not spread over the frame
    assert np.allclose(color.match_energy(np.ones((4, 4, 3), np.float32), spike), color.ENERGY_LIMIT)
