"""The Noise2Noise HDR loss (Lehtinen et al. 2018, section 3.3)."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from mcdenoise import color

HDR_EPS = 0.01  # the paper's constant in the denominator


def hdr_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = HDR_EPS, window: int = 1,
             mask: torch.Tensor | None = None, scales: tuple[int, ...] = ()) -> torch.Tensor:
    """Mean of (f(x) - y)^2 / (sg(f(x)) + eps)^2 with y the linear (never tonemapped) target; (N, 3, H, W) each.

    `mask` (N, 1, H, W), 1 or 0: the mean over the pixels where it is 1 only (a shot's held-out tiles are 0).

    sg = stop-gradient: the denominator is a constant per pixel, so the minimiser is still the mean
    of the noisy targets (what makes Noise2Noise work). Negative predictions are clamped to 0 in the
    denominator only, so an early negative output cannot make the weight explode.

    `window` > 1: the denominator is min(f, the window x window box mean of f). A pixel the model leaves
    brighter than its surroundings (a speckle of the sparse samples in a dark area, a firefly) is then
    weighted as its surroundings are, not 1/f^2 less: L_HDR's own weight goes easy on exactly the bright
    outliers that tonemapped images show. The weight still never depends on the target, so the
    minimiser is still the mean of the targets.

    `scales` (block sides, e.g. (4, 16)): plus the same loss on pred and target averaged over s x s blocks, one
    term per scale, each weighted as the per-pixel term. Averaging leaves an error that is constant over a block (a
    low-frequency blotch) whole and shrinks pixel-to-pixel error s^2-fold, so blotches count once more per scale:
    the error spectrum is weighted towards low frequencies (their gradient is as noisy as in the per-pixel term,
    only larger). Block means of the targets are still unbiased and the weights still come from the prediction
    only, so the minimiser is unchanged.
    """
    loss = _hdr_term(pred, target, eps, window, mask)
    for s in scales:
        # only blocks wholly inside the trained area: a held-out tile must not leak into a block's mean
        whole = None if mask is None else (F.avg_pool2d(mask, s) > 0.999).to(mask.dtype)
        loss = loss + _hdr_term(F.avg_pool2d(pred, s), F.avg_pool2d(target, s), eps, 1, whole)  # (N, 3, H/s, W/s) means
    return loss


def _hdr_term(pred: torch.Tensor, target: torch.Tensor, eps: float, window: int,
              mask: torch.Tensor | None) -> torch.Tensor:
    """One scale of `hdr_loss`."""
    f = pred.detach().clamp(min=0.0)
    if window > 1:
        f = torch.minimum(f, F.avg_pool2d(f, window, stride=1, padding=window // 2, count_include_pad=False))
    weight = (f + eps) ** -2
    if mask is None:
        return ((pred - target) ** 2 * weight).mean()
    return ((pred - target) ** 2 * (weight * mask)).sum() / (mask.sum() * pred.shape[1]).clamp(min=1.0)


def box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2 radius + 1)^2 box around each pixel of an (H, W) map, edges repeated (integral image)."""
    k = 2 * radius + 1
    c = np.cumsum(np.cumsum(np.pad(np.pad(image, radius, mode="edge"), ((1, 0), (1, 0))), axis=0), axis=1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def masked_block_means(error: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Means of an (H, W) error map over the blocks an (H, W) int map numbers (-1: pixels left out), in
    block order: `block_means` for a region that is not a rectangle (a shot's held-out tiles)."""
    keep = labels >= 0
    _, inverse = np.unique(labels[keep], return_inverse=True)
    return np.bincount(inverse, weights=error[keep].astype(np.float64)) / np.bincount(inverse)


def validation_loss(pred: np.ndarray, target: np.ndarray, noisy_input: np.ndarray, eps: float = HDR_EPS,
                    radius: int = 3) -> np.ndarray:
    """Per-pixel squared error of `pred` against an independent noisy `target`, weighted as tonemapped PSNR
    sees it, for comparing models. Arrays are (3, H, W) linear; returns (H, W).

    The weight is the squared slope of the PSNR tonemap (`color.n2n_slope`) at a blur of the noisy
    input's luminance, never at the prediction: with L_HDR's weight 1/(f+eps)^2 the target's own noise,
    Var(y)/(f+eps)^2, shrinks as f grows, so a brighter model would look better. With weights fixed per
    pixel the noise adds the same constant for every model, and the difference between models is their
    clean error, to first order the tonemapped error PSNR measures. (The relative weight 1/(lum+eps)^2 used
    before stop 21 leaned so far to dark pixels that a fit gaining 0.4 dB on another camera of the scene
    did not pass the test; BENCHMARKS.md.)
    """
    blurred = box_blur(noisy_input.mean(axis=0), radius)
    weight = color.n2n_slope(np.maximum(blurred, 0.0) + eps) ** 2
    return ((pred - target) ** 2).mean(axis=0) * weight  # (H, W): per-pixel error, averaged by the caller


def block_means(error: np.ndarray, block: int = 16) -> np.ndarray:
    """Means of `block` x `block` tiles of an (H, W) error map (the edges' partial tiles dropped when possible):
    nearly independent samples, for a paired test between two models' errors on the same targets."""
    h, w = (max(block, n - n % block) for n in error.shape)
    e = error[:h, :w] if error.shape[0] >= block and error.shape[1] >= block else error
    if e.shape[0] < block or e.shape[1] < block:
        return np.array([float(e.mean())])
    return e.reshape(h // block, block, w // block, block).mean(axis=(1, 3)).ravel()
