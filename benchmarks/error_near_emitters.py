"""Where a model's error sits: beside lamps seen directly, in dark areas, at low frequencies (stop 37).

    python benchmarks/error_near_emitters.py data/quality10/spp4/cornell sample_scenes/cornell --model default=default
    python benchmarks/error_near_emitters.py sample_scenes/cornell --oidn high   # OIDN's lines too (stop 44)

For each box-filtered view with a reference: the share of the squared tonemapped error (what PSNR counts) on the
lamp (reference luminance > 1.5), in each ring of pixels around it (1 to 4 px out), in dark areas (luminance < 0.1)
and in the error's low-pass (a box blur of radius 4: blotches), with the mean tonemapped value of the reference,
the output and the noisy input in the two nearest rings (a halo shows as output > reference there). Shares
say where one method's error is; to compare methods, the last two columns give the mean squared tonemapped
error (x 1e4) in rings 1-2 and on the rest of the frame away from lamps (beyond ring 4).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from evalset import eval_views, oidn, table_backend

from mcdenoise import color
from mcdenoise.errors import McDenoiseError
from mcdenoise.evaluate import OIDN_QUALITIES
from mcdenoise.infer import Denoiser
from mcdenoise.loss import box_blur

LAMP = 1.5  # reference luminance above which a pixel counts as lamp (the walls of the scenes here stay below 1)
DARK = 0.1
RINGS = 4


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """(H, W) bool mask grown by r pixels (a (2r+1)^2 square)."""
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    return F.max_pool2d(t, 2 * r + 1, stride=1, padding=r)[0, 0].numpy() > 0


def shares(out: np.ndarray, ref: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """Error shares and ring means of one view (each (H, W, 3) linear HDR)."""
    tm = lambda x: color.n2n_forward(np.clip(x, 0.0, None).astype(np.float64))  # noqa: E731
    a, b, n = tm(out), tm(ref), tm(noisy)
    err = ((a - b) ** 2).mean(-1)  # (H, W)
    total = err.sum()
    lum = ref.mean(-1)
    lamp = lum > LAMP
    row = {"psnr": float(10 * np.log10(1.0 / err.mean())), "lamp": float(err[lamp].sum() / total)}
    inside = lamp
    for r in range(1, RINGS + 1):
        ring = dilate(lamp, r) & ~inside
        inside = inside | ring
        row[f"ring{r}"] = float(err[ring].sum() / total) if ring.any() else 0.0
        if r <= 2 and ring.any():
            row[f"ring{r}_ref"], row[f"ring{r}_out"], row[f"ring{r}_in"] = (float(x[ring].mean()) for x in (b, a, n))
    near = dilate(lamp, 2) & ~lamp
    row["mse_near"] = float(err[near].mean() * 1e4) if near.any() else 0.0
    row["mse_rest"] = float(err[~inside].mean() * 1e4)
    row["dark"] = float(err[(lum < DARK) & ~inside].sum() / total)
    low = np.stack([box_blur(a[..., c] - b[..., c], 4) for c in range(3)], axis=-1)  # (H, W, 3) error's low-pass
    row["lowpass"] = float((low**2).sum() / ((a - b) ** 2).sum())
    return row


def main() -> None:
    """Print one line per view and model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="+", help="scene directories whose views have reference.exr")
    parser.add_argument("--model", action="append", metavar="NAME=PATH", help="model (default: the shipped one); repeatable")
    parser.add_argument("--oidn", choices=OIDN_QUALITIES, help="add OIDN at this quality (pyoidn)")
    args = parser.parse_args()
    if any("=" not in m for m in args.model or []):
        parser.error("--model takes NAME=PATH (or NAME=a shipped model's name)")
    models = dict(m.split("=", 1) for m in (args.model or ["default=default"]))
    try:
        views = [v for v in eval_views(args.scenes) if v.filter == "box"]
        methods = {name: Denoiser(path, backend=table_backend(path)).denoise for name, path in models.items()}
    except McDenoiseError as exc:
        raise SystemExit(f"error_near_emitters.py: {exc}") from None
    if args.oidn:
        methods[f"oidn-{args.oidn}"] = oidn(args.oidn)
    if not views:
        raise SystemExit("no box-filtered views with a reference.exr in those scene directories")
    print(f"{'view':28s} {'model':10s} {'PSNR':>6s} {'lamp':>6s} " + " ".join(f"{'ring' + str(r):>6s}" for r in range(1, RINGS + 1))
          + f" {'dark':>6s} {'lowpass':>7s} {'mse1-2':>7s} {'mse_rest':>8s}  ring 1 / 2 tonemapped: reference, output, input")
    for view in views:
        for name, method in methods.items():
            row = shares(method(view.frame), view.reference, view.frame.color)
            rings = " ".join(f"{row[f'ring{r}']:6.3f}" for r in range(1, RINGS + 1))
            means = "  ".join(f"{row[f'ring{r}_ref']:.3f} {row[f'ring{r}_out']:.3f} {row[f'ring{r}_in']:.3f}"
                              for r in (1, 2) if f"ring{r}_ref" in row)
            print(f"{view.label:28s} {name:10s} {row['psnr']:6.2f} {row['lamp']:6.3f} {rings} {row['dark']:6.3f} "
                  f"{row['lowpass']:7.3f} {row['mse_near']:7.2f} {row['mse_rest']:8.3f}  {means}")


if __name__ == "__main__":
    main()
