"""Probe (stop 32): a regional energy match. Does scaling the output so that its local low-pass equals the
noisy input's remove the blotches (low-frequency error) the network leaves, without darkening anything?

    python benchmarks/regional_energy_probe.py data/quality10/spp4/* --sigma 8 16 32 64

The shipped pipeline scales each channel so the frame's total equals the noisy input's (`color.match_energy`).
The noisy input is unbiased at every scale, not only the whole frame's: its low-pass at `sigma` pixels
averages ~2 pi sigma^2 pixels of samples. Variant `reg<sigma>`: the output's luminance is multiplied by
G(lum(x)) / G(lum(y)) (G: Gaussian blur, ratio bounded to [1/LIMIT, LIMIT]), then the whole-frame match.
Variant `clip<k>+reg<sigma>`: fireflies in the input (luminance > k x the 5x5 median + 0.1x the frame mean)
are clipped before the network; the regional match to the unclipped input then puts their energy back
spread over sigma pixels, not as the network's blotch.
Per view: PSNR | low-frequency PSNR | mean luminance / reference.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from evalset import eval_views, table_backend
from firefly_cap_probe import _filter as window_filter  # max / min / median over a window, edges replicated
from mcdenoise import color
from mcdenoise.infer import Denoiser
from mcdenoise.metrics import luminance_ratio, psnr_lowpass, psnr_tonemapped

LIMIT = 2.0


def gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an (H, W) array, edges normalized (the mean of the pixels that exist)."""
    r = int(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / sigma) ** 2)
    taps /= taps.sum()
    t = torch.from_numpy(np.asarray(a, np.float64))[None, None]
    ones = torch.ones_like(t)

    def sep(u: torch.Tensor) -> torch.Tensor:
        u = F.conv2d(F.pad(u, (r, r, 0, 0)), taps.view(1, 1, 1, -1))
        return F.conv2d(F.pad(u, (0, 0, r, r)), taps.view(1, 1, -1, 1))

    return (sep(t) / sep(ones))[0, 0].numpy()


def regional(y: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
    """`y` (H, W, 3) scaled per pixel so that its luminance low-pass at `sigma` matches the input `x`'s."""
    lx, ly = gauss(color.luminance(x), sigma), gauss(color.luminance(y), sigma)
    eps = 1e-3 * max(float(color.luminance(x).mean()), 1e-12)
    ratio = np.clip((lx + eps) / (ly + eps), 1 / LIMIT, LIMIT)
    return (y * ratio[..., None]).astype(np.float32)


def clip_fireflies(x: np.ndarray, k: float) -> np.ndarray:
    """`x` with pixels brighter than k x (5x5 median + 0.1 x frame mean) luminance scaled down to that bound."""
    lum = color.luminance(x)
    bound = k * (window_filter(lum, 5, "median") + 0.1 * float(lum.mean()))
    return (x * np.minimum(1.0, bound / np.maximum(lum, 1e-12))[..., None]).astype(np.float32)


def main() -> None:
    """Evaluate the variants on the views and print per-view and mean tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenes", nargs="+")
    p.add_argument("--model", default="default")
    p.add_argument("--sigma", type=float, nargs="+", default=[8.0, 16.0, 32.0, 64.0])
    p.add_argument("--clip", type=float, nargs="*", default=[], help="firefly clip factors k to try with each sigma")
    p.add_argument("--json")
    args = p.parse_args()
    den = Denoiser(args.model, backend=table_backend(args.model), device="cpu", energy_match=False)
    rows = []
    for view in eval_views(args.scenes):
        f, ref = view.frame, view.reference
        x = f.color
        y0 = den.denoise_arrays(x, f.albedo, f.normal)
        out = {"input": x.copy(), "ship": y0.copy()}
        for s in args.sigma:
            out[f"reg{s:g}"] = regional(y0, x, s)
        for k in args.clip:
            yk = den.denoise_arrays(clip_fireflies(x, k), f.albedo, f.normal)
            out[f"clip{k:g}"] = yk.copy()
            for s in args.sigma:
                out[f"clip{k:g}+reg{s:g}"] = regional(yk, x, s)
        row = {"view": view.label, "filter": view.filter}
        for name, img in out.items():
            if name != "input":
                color.match_energy(img, x)
            row[name] = (psnr_tonemapped(img, ref), psnr_lowpass(img, ref), luminance_ratio(img, ref))
        rows.append(row)
        print(view.label, " ".join(f"{n} {v[0]:.2f}/{v[1]:.1f}/{v[2]:.3f}" for n, v in row.items() if n not in ("view", "filter")),
              flush=True)
    names = [n for n in rows[0] if n not in ("view", "filter")]
    for filt in sorted({r["filter"] for r in rows}):
        sel = [r for r in rows if r["filter"] == filt]
        print(f"\nMEAN {filt} ({len(sel)} views): PSNR / low-frequency PSNR / worst |lum - 1|")
        for n in names:
            print(f"  {n:<16} {np.mean([r[n][0] for r in sel]):7.2f} {np.mean([r[n][1] for r in sel]):7.2f} "
                  f"{max(abs(r[n][2] - 1) for r in sel):7.2%}  better than ship on "
                  f"{sum(r[n][0] > r['ship'][0] for r in sel)}/{len(sel)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
