"""Kernel-predicting output (Bako et al. 2017; Vogels et al. 2018): filter the noisy color itself.

The network predicts, for every pixel and scale, k*k logits; their softmax is a kernel applied to the
linear noisy color at that scale (full, 1/2, 1/4 ... resolution, a 2x2 box pyramid). Scales are
composited coarse to fine with a per-pixel blend weight a (Vogels et al. 2018, eq. 4):

    fine <- fine - a * up(down(fine)) + a * up(coarse)

so `a` swaps the fine result's low frequencies for the coarse scale's. Every output pixel is a convex
combination of input radiance, so HDR range is kept and an untrained model is a blur.

Written with Pad/Slice/Mul/Add/Softmax/AveragePool/Resize only, so it traces into ONNX with dynamic
height and width.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def apply_kernel(x: torch.Tensor, logits: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C, H, W) image filtered by per-pixel softmax kernels; logits (N, k*k, H, W), row-major taps."""
    r = k // 2
    weights = torch.softmax(logits.float(), dim=1)  # (N, k*k, H, W), sums to 1 per pixel
    padded = F.pad(x, (r, r, r, r), mode="replicate")  # (N, C, H + 2r, W + 2r)
    out = torch.zeros_like(x)
    for dy in range(k):
        # Slices end relative to the padded size (a negative constant), so a traced graph works for any H, W.
        rows = padded[:, :, dy : dy - 2 * r if dy < 2 * r else None]
        for dx in range(k):
            tap = rows[:, :, :, dx : dx - 2 * r if dx < 2 * r else None]  # (N, C, H, W)
            i = dy * k + dx
            out = out + weights[:, i : i + 1] * tap
    return out


def downsample(x: torch.Tensor) -> torch.Tensor:
    """2x2 box average: (N, C, H, W) -> (N, C, H/2, W/2); H and W even."""
    return F.avg_pool2d(x, 2)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x: (N, C, h, w) -> (N, C, 2h, 2w)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def kpn_output(raws: tuple[torch.Tensor, ...], exposed: torch.Tensor, k: int) -> torch.Tensor:
    """Filtered color (N, 3, H, W) from the heads' outputs (raws[s]: (N, k*k [+1], H/2^s, W/2^s)) and the
    exposed linear noisy color (N, 3, H, W); H and W multiples of 2^(len(raws) - 1)."""
    pyramid = [exposed]
    for _ in range(1, len(raws)):
        pyramid.append(downsample(pyramid[-1]))
    kk = k * k
    result = apply_kernel(pyramid[-1], raws[-1][:, :kk], k)  # the coarsest scale
    for s in range(len(raws) - 2, -1, -1):  # coarse to fine
        fine = apply_kernel(pyramid[s], raws[s][:, :kk], k)
        alpha = torch.sigmoid(raws[s][:, kk : kk + 1].float())  # (N, 1, H/2^s, W/2^s)
        result = fine + alpha * (upsample(result) - upsample(downsample(fine)))
    return result
