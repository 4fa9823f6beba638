"""Probe (stops 18-19): cap the output near lone input peaks, after the pipeline. What does it buy, and what
does it cost in brightness? Not in the inference path: every variant below darkens some views (BENCHMARKS.md).

    python benchmarks/firefly_cap_probe.py                                  # v6 on the 20 held-out views
    python benchmarks/firefly_cap_probe.py --model benchmarks/results/training/wide_mix.pt --scenes data/heldout_lamps/*

Variants, each after the energy match (`D`: the energy match's noisy total leaves the peaks' excess out):
- `median` (stop 18): a peak has luminance > 1 (absolute), > 8x its 5x5 median and > 4x the largest
  2x2-block minimum touching it; within 3 px the output is capped at 4x the 5x5 max of the median.
- `block`, `blockD`: exposed luminance > 1 and > 8x the local level (the brightest 2x2-block minimum
  within 5x5); capped at 4x the 5x5 max of that level.
- `lone`, `loneD`: exposed luminance > 1 and > 8x every other pixel of its 7x7 window; capped at 4x the
  5x5 max of that.
Per view: PSNR | relMSE | mean luminance / reference.
"""

from __future__ import annotations

import argparse
import glob

import numpy as np
import torch
import torch.nn.functional as F

from evalset import eval_views, table_backend
from mcdenoise import color
from mcdenoise.infer import Denoiser
from mcdenoise.metrics import luminance_ratio, psnr_tonemapped, relmse

SCENES = ["sample_scenes/cornell", "data/heldout/proc_*", "data/heldout_lamps/*", "sample_scenes/interior",
          "data/heldout_cycles/*", "data/heldout_rooms/*"]
K, RATIO = 4.0, 8.0  # cap at K x the local level; a peak is RATIO x above it


def _filter(a: np.ndarray, size: int, op: str, exclude_center: bool = False) -> np.ndarray:
    """max / min / median over a size x size window (edges replicated) of an (H, W) array."""
    t = torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]
    lo, hi = (size - 1) // 2, size // 2
    windows = F.unfold(F.pad(t, (lo, hi, lo, hi), mode="replicate"), size)  # (1, size*size, H*W)
    if exclude_center:
        windows = torch.cat([windows[:, :size * size // 2], windows[:, size * size // 2 + 1:]], 1)
    reduced = {"median": lambda u: u.median(1).values, "max": lambda u: u.amax(1), "min": lambda u: u.amin(1)}[op]
    return reduced(windows).reshape(a.shape).numpy()


def _capped(y: np.ndarray, peak: np.ndarray, level: np.ndarray) -> np.ndarray:
    """`y` (H, W, 3) with its luminance capped at K x the 5x5 max of `level` within 3 px of a peak."""
    near = _filter(peak.astype(np.float32), 7, "max") > 0
    limit = K * np.maximum(_filter(level, 5, "max"), 1e-6)
    have = color.luminance(y)
    return y * np.where(near & (have > limit), limit / np.maximum(have, 1e-9), 1.0)[..., None]


def detect(x: np.ndarray, exposure: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(peak mask, local level) of the input `x` (H, W, 3) for one variant."""
    lum = color.luminance(x)
    if kind == "median":
        emitter = _filter(_filter(lum, 2, "min"), 2, "max")
        level = np.maximum(_filter(lum, 5, "median"), 1e-3)
        return (lum > 1.0) & (lum > RATIO * level) & (lum > 4 * emitter), level
    if kind == "block":
        level = np.maximum(_filter(_filter(lum, 2, "min"), 5, "max"), 1e-6)
    else:  # "lone"
        level = np.maximum(_filter(lum, 7, "max", exclude_center=True), 1e-6)
    return (lum * exposure > 1.0) & (lum > RATIO * level), level


def without_excess(x: np.ndarray, peak: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The input `x` (H, W, 3) with each peak's luminance brought down to K x its level (the energy match's total)."""
    lum = np.maximum(color.luminance(x), 1e-9)
    return x * np.where(peak, np.minimum(1.0, K * level / lum), 1.0)[..., None]


def main() -> None:
    """Print per-view and mean PSNR / relMSE / luminance ratio for each variant."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--scenes", nargs="+", default=SCENES)
    args = parser.parse_args()
    model = None if args.model == "default" else args.model
    denoiser = Denoiser(model, backend=table_backend(model), device="cpu", energy_match=False)
    views = eval_views([d for pattern in args.scenes for d in sorted(glob.glob(pattern))])
    acc: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for v in views:
        x, e = v.frame.color, color.autoexposure(v.frame.color)
        raw = denoiser.denoise(v.frame)
        matched = raw.copy()
        color.match_energy(matched, x)
        images = {"none": matched}
        for kind in ("median", "block", "lone"):
            peak, level = detect(x, e, kind)
            images[kind] = _capped(matched, peak, level)
            if kind != "median":
                discounted = raw.copy()
                color.match_energy(discounted, without_excess(x, peak, level))
                images[f"{kind}D"] = _capped(discounted, peak, level)
        line = f"{v.label:26s} {v.filter:8s}"
        for tag, img in images.items():
            p, r, lum = psnr_tonemapped(img, v.reference), relmse(img, v.reference), luminance_ratio(img, v.reference)
            acc.setdefault((tag, v.filter), []).append((p, r, abs(lum - 1)))
            line += f"  {tag} {p:5.2f}|{r:.4f}|{lum:.3f}"
        print(line, flush=True)
    for (tag, filt), scores in acc.items():
        s = np.array(scores)
        print(f"mean {filt:8s} {tag:7s} PSNR {s[:, 0].mean():.2f}  relMSE {s[:, 1].mean():.4f}  "
              f"worst |lum/ref - 1| {100 * s[:, 2].max():.1f}%")


if __name__ == "__main__":
    main()
