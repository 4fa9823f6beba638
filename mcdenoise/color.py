"""Pure, paired transfer functions on numpy arrays and torch tensors.

Every `*_forward` has an `*_inverse` with `inverse(forward(v)) == v` on its domain. Functions
work elementwise on numpy arrays or torch tensors of any shape and return the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Noise2Noise tonemap T(v) = (v / (1 + v)) ** (1 / 2.2) (Lehtinen et al. 2018, section 3.3).
N2N_GAMMA = 2.2
N2N_MAX = 1.0 - 1e-6  # T < 1 for finite v; the inverse clamps here so it never divides by zero
RADIANCE_MAX = 1e30  # forward transfers clamp here so +inf maps to the top of the range, not NaN

# sRGB OETF (IEC 61966-2-1).
SRGB_THRESHOLD = 0.0031308
SRGB_SLOPE = 12.92
SRGB_SCALE = 1.055
SRGB_OFFSET = 0.055
SRGB_GAMMA = 2.4

# Rec. 709 / sRGB primaries.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)

# Autoexposure: the geometric mean of block-averaged luminance is mapped to this key value.
EXPOSURE_KEY = 0.18
EXPOSURE_BLOCK = 16  # pixels per block side, averaged before the log
EXPOSURE_EPS = 1e-8  # blocks darker than this are ignored


def _is_torch(x: Any) -> bool:
    """True for torch tensors (checked without importing torch)."""
    return type(x).__module__.startswith("torch")


def _clamp(x: Any, lo: float | None = None, hi: float | None = None) -> Any:
    """Elementwise clamp for numpy or torch."""
    if _is_torch(x):
        return x.clamp(min=lo, max=hi)
    return np.clip(x, lo, hi)


def _where(cond: Any, a: Any, b: Any) -> Any:
    """Elementwise select for numpy or torch."""
    if _is_torch(cond):
        import torch

        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def n2n_forward(v: Any) -> Any:
    """Noise2Noise tonemap of linear radiance (negatives clamp to 0) into [0, 1]."""
    v = _clamp(v, 0.0, RADIANCE_MAX)
    return (v / (1.0 + v)) ** (1.0 / N2N_GAMMA)


def n2n_slope(v: Any) -> Any:
    """Derivative of `n2n_forward` at linear radiance v (clamped to a tiny positive value: infinite at 0)."""
    v = _clamp(v, 1e-8, RADIANCE_MAX)
    g = 1.0 / N2N_GAMMA
    return g * (v / (1.0 + v)) ** (g - 1.0) / (1.0 + v) ** 2


def n2n_inverse(t: Any) -> Any:
    """Linear radiance from a Noise2Noise-tonemapped value."""
    u = _clamp(t, 0.0, N2N_MAX) ** N2N_GAMMA
    return u / (1.0 - u)


def log_forward(v: Any) -> Any:
    """log(1 + v) of linear radiance (negatives clamp to 0)."""
    v = _clamp(v, 0.0, RADIANCE_MAX)
    # torch: log(1 + v), not log1p, because ONNX has no Log1p op (float32 error < 1e-7 absolute).
    return (1.0 + v).log() if _is_torch(v) else np.log1p(v)


def log_inverse(t: Any) -> Any:
    """Linear radiance from `log_forward`."""
    t = _clamp(t, 0.0)
    return t.exp() - 1.0 if _is_torch(t) else np.expm1(t)  # exp - 1: ONNX has no Expm1 op


def srgb_forward(v: Any) -> Any:
    """sRGB encoding of linear values (negatives clamp to 0; values above 1 extend the curve)."""
    v = _clamp(v, 0.0, RADIANCE_MAX)
    return _where(v <= SRGB_THRESHOLD, v * SRGB_SLOPE, SRGB_SCALE * v ** (1.0 / SRGB_GAMMA) - SRGB_OFFSET)


def srgb_inverse(t: Any) -> Any:
    """Linear values from sRGB-encoded ones."""
    t = _clamp(t, 0.0)
    return _where(
        t <= SRGB_THRESHOLD * SRGB_SLOPE, t / SRGB_SLOPE, ((t + SRGB_OFFSET) / SRGB_SCALE) ** SRGB_GAMMA
    )


def luminance(rgb: Any, axis: int = -1) -> Any:
    """Rec. 709 luminance along the channel `axis` (size 3), which is removed."""
    r, g, b = (rgb.select(axis, i) if _is_torch(rgb) else np.take(rgb, i, axis=axis) for i in range(3))
    return LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b


def autoexposure(color: Any) -> Any:
    """Image-wide exposure scale that maps the log-average block luminance to `EXPOSURE_KEY`.

    numpy: `color` is (H, W, 3), returns a float. torch: (N, 3, H, W), returns an (N,) tensor.
    Blocks at the right/bottom edge may be partial: each block averages the pixels it holds. A black
    frame gets exposure 1. The torch path uses shape-free ops (pad, avg_pool2d, where), so it traces
    into an ONNX graph with dynamic height and width.
    """
    b = EXPOSURE_BLOCK
    if _is_torch(color):
        import torch
        from torch.nn import functional as F

        lum = luminance(color, axis=1)[:, None]  # (N, 1, H, W)
        h, w = lum.shape[-2:]
        pad = (0, (-w) % b, 0, (-h) % b)  # zero-pad to whole blocks, then divide by the real-pixel share
        inside = F.pad(torch.ones_like(lum), pad)
        blocks = (F.avg_pool2d(F.pad(lum, pad), b) / F.avg_pool2d(inside, b)).flatten(1)  # (N, blocks)
        valid = blocks > EXPOSURE_EPS
        logs = torch.where(valid, torch.log(blocks.clamp(min=EXPOSURE_EPS)), torch.zeros_like(blocks))
        count = valid.sum(dim=1).to(color.dtype)
        mean_log = logs.sum(dim=1) / count.clamp(min=1.0)
        return torch.where(count > 0, EXPOSURE_KEY / torch.exp(mean_log), torch.ones_like(mean_log))

    lum = luminance(np.asarray(color, dtype=np.float64))  # (H, W)
    h, w = lum.shape
    pad = ((0, (-h) % b), (0, (-w) % b))
    sums = np.pad(lum, pad).reshape((h + pad[0][1]) // b, b, (w + pad[1][1]) // b, b).sum(axis=(1, 3))
    counts = np.pad(np.ones_like(lum), pad).reshape(sums.shape[0], b, sums.shape[1], b).sum(axis=(1, 3))
    blocks = sums / counts  # mean luminance of the real pixels of each block
    valid = blocks > EXPOSURE_EPS
    if not valid.any():
        return 1.0
    return float(EXPOSURE_KEY / np.exp(np.log(blocks[valid]).mean()))


ENERGY_LIMIT = 1.5  # match_energy scales a channel by at most this (or 1/this): degenerate frames stay as denoised
_ENERGY_ROWS = 64  # rows summed at a time: no full-frame temporaries


def _channel_sums(image: np.ndarray) -> np.ndarray:
    """Per-channel sum of the finite values of an (H, W, C) image, in float64."""
    total = np.zeros(image.shape[-1], np.float64)
    for y in range(0, image.shape[0], _ENERGY_ROWS):
        rows = image[y:y + _ENERGY_ROWS]
        part = np.einsum("ijc->c", rows, dtype=np.float64)  # 2x faster than .sum(axis=(0, 1))
        if not np.isfinite(part).all():  # rare: mask the NaN/Inf pixels of these rows only
            part = np.where(np.isfinite(rows), rows, 0).sum(axis=(0, 1), dtype=np.float64)
        total += part
    return total


def match_energy(denoised: np.ndarray, noisy: np.ndarray, limit: float = ENERGY_LIMIT) -> np.ndarray:
    """Scale each channel of `denoised` (H, W, 3), in place, so that its total equals the noisy input's.

    The noisy frame's total is an unbiased estimate of the true image's, to a fraction of a percent at a
    few spp, while a network trained on noisy targets drifts by a few percent where its data was thin
    (dark interiors, emitters). Returns the factors applied (1 where a total is not positive; clamped to
    [1/limit, limit]).
    """
    want, have = _channel_sums(noisy), _channel_sums(denoised)
    ok = (want > 0) & (have > 0)
    scale = np.where(ok, want / np.where(ok, have, 1.0), 1.0).clip(1 / limit, limit)
    for c in range(denoised.shape[-1]):
        if scale[c] != 1.0:
            denoised[..., c] *= np.float32(scale[c])
    return scale
