"""Probe (stop 18): cap the output near lone input peaks, after the pipeline; what would it buy in PSNR / relMSE?

    python benchmarks/firefly_cap_probe.py                      # v6 and the extended run (A), cap at 4x
    python benchmarks/firefly_cap_probe.py --k 8 --model v6=default

A lone peak: input luminance > 1, > 8x its 5x5 median and > 4x the largest 2x2-block minimum around it
(so not a small emitter, which `keep_emitters` handles). Within 3 px of one, the output's luminance is
capped at K x the 5x5 maximum of the 5x5 median. "cap": the capped output; "capE": capped, then the
energy match again (spreads the removed energy over the frame). Numpy/torch here, not in the pipeline.
"""

from __future__ import annotations

import argparse
import glob

import numpy as np
import torch
import torch.nn.functional as F

from evalset import eval_views
from mcdenoise import color
from mcdenoise.infer import Denoiser
from mcdenoise.metrics import psnr_tonemapped, relmse

SCENES = ["sample_scenes/cornell", "data/heldout/proc_*", "data/heldout_lamps/*", "sample_scenes/interior",
          "data/heldout_cycles/*", "data/heldout_rooms/*"]


def _filter(a: np.ndarray, size: int, op: str) -> np.ndarray:
    """max / min / median over a size x size window (edges replicated) of an (H, W) array."""
    t = torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]
    lo, hi = (size - 1) // 2, size // 2
    t = F.pad(t, (lo, hi, lo, hi), mode="replicate")
    if op == "median":
        return F.unfold(t, size).median(1).values.reshape(a.shape).numpy()
    sign = -1.0 if op == "min" else 1.0
    return sign * F.max_pool2d(sign * t, size, stride=1)[0, 0].numpy()


def cap(y: np.ndarray, x: np.ndarray, k: float) -> np.ndarray:
    """`y` (H, W, 3) with its luminance capped near lone peaks of the input `x`."""
    lum = color.luminance(x)
    emitter = _filter(_filter(lum, 2, "min"), 2, "max")  # the largest 2x2-block minimum touching the pixel
    med = _filter(lum, 5, "median")
    peak = (lum > 1.0) & (lum > 8 * np.maximum(med, 1e-3)) & (lum > 4 * emitter)
    near = _filter(peak.astype(np.float32), 7, "max") > 0
    limit = k * np.maximum(_filter(med, 5, "max"), 1e-3)
    ylum = color.luminance(y)
    return y * np.where(near & (ylum > limit), limit / np.maximum(ylum, 1e-9), 1.0)[..., None]


def main() -> None:
    """Print per-view and mean PSNR / relMSE with and without the cap."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", metavar="NAME=PATH")
    parser.add_argument("--k", type=float, default=4.0)
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in (args.model or ["v6=default", "A=benchmarks/results/training/wide_mix.pt"]))
    denoisers = {n: Denoiser(None if p == "default" else p) for n, p in models.items()}
    views = eval_views([d for pattern in SCENES for d in sorted(glob.glob(pattern))])
    acc: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for v in views:
        line = f"{v.label:28s} {v.filter:8s}"
        for name, d in denoisers.items():
            y = d.denoise(v.frame)
            capped = cap(y, v.frame.color, args.k)
            again = capped.copy()
            color.match_energy(again, v.frame.color)
            for tag, img in ((name, y), (f"{name} cap", capped), (f"{name} capE", again)):
                p, r = psnr_tonemapped(img, v.reference), relmse(img, v.reference)
                acc.setdefault((tag, v.filter), []).append((p, r))
                line += f"  {tag} {p:6.2f}|{r:7.4f}"
        print(line, flush=True)
    for (tag, filt), scores in acc.items():
        print(f"mean {filt:8s} {tag:12s} PSNR {np.mean([s[0] for s in scores]):.2f}  relMSE {np.mean([s[1] for s in scores]):.3f}")


if __name__ == "__main__":
    main()
