"""Kernel-predicting output (Bako et al. 2017; Vogels et al. 2018): filter the noisy color itself.

The network predicts, for every pixel and scale, k*k logits; their softmax is a kernel applied to the
linear noisy color at that scale (full, 1/2, 1/4 ... resolution, a 2x2 box pyramid). Scales are
composited coarse to fine with a per-pixel blend weight a (Vogels et al. 2018, eq. 4):

    fine <- fine - a * up(down(fine)) + a * up(coarse)

so `a` swaps the fine result's low frequencies for the coarse scale's. Every output pixel is a convex
combination of input radiance, so HDR range is kept and an untrained model is a blur.

Written with Pad/Conv/Mul/Softmax/AveragePool/Resize only, so it traces into ONNX with dynamic
height and width.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


LOGIT_MAX = 40.0  # kernel logits are clamped here: exp stays finite in float32 even summed over k*k taps


def apply_kernel(x: torch.Tensor, logits: torch.Tensor, k: int) -> torch.Tensor:
    """(N, 3, H, W) color filtered by per-pixel softmax kernels; logits (N, k*k, H, W), row-major taps.

    Fixed convolutions do the work (ONNX Runtime runs them far faster than k*k slices, and far faster
    than a Softmax over the channel axis): per color channel, one gathers the k*k neighbours,
    (N, k*k, H, W) with channel t holding tap t; a 1x1 conv of ones sums them once weighted by exp of
    the logits; the result is normalized once (softmax = exp / sum of exp).
    """
    kk, r = k * k, k // 2  # constants, so the traced graph's conv filters are initializers
    weights = torch.exp(logits.float().clamp(-LOGIT_MAX, LOGIT_MAX))  # (N, k*k, H, W), unnormalized
    gather = torch.eye(kk, dtype=x.dtype, device=x.device).view(kk, 1, k, k)  # (kk, 1, k, k): tap t -> channel t
    ones = torch.ones(1, kk, 1, 1, dtype=x.dtype, device=x.device)
    padded = F.pad(x, (r, r, r, r), mode="replicate")  # (N, 3, H + 2r, W + 2r)
    channels = [F.conv2d(F.conv2d(padded[:, i : i + 1], gather) * weights, ones) for i in range(3)]  # 3 x (N, 1, H, W)
    return torch.cat(channels, dim=1) / weights.sum(dim=1, keepdim=True)


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
