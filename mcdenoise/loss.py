"""The Noise2Noise HDR loss (Lehtinen et al. 2018, section 3.3)."""

from __future__ import annotations

import torch

HDR_EPS = 0.01  # the paper's constant in the denominator


def hdr_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = HDR_EPS) -> torch.Tensor:
    """Mean of (f(x) - y)^2 / (sg(f(x)) + eps)^2 with y the linear (never tonemapped) target.

    sg = stop-gradient: the denominator is a constant per pixel, so the minimiser is still the mean
    of the noisy targets (what makes Noise2Noise work). Negative predictions are clamped to 0 in the
    denominator only, so an early negative output cannot make the weight explode.
    """
    weight = (pred.detach().clamp(min=0.0) + eps) ** -2
    return ((pred - target) ** 2 * weight).mean()
