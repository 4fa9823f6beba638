"""Where the PSNR goes: each method's tonemapped squared error split by the reference's luminance (issue 12).

    python benchmarks/error_bands.py data/quality10/spp4/* --model default=default --oidn balanced

For every band of reference luminance it prints the share of pixels and each method's squared error
summed over the band's pixels, divided by all pixels (so the bands add up to the MSE that PSNR is
taken of), and the ratio of the first method's to OIDN's. Box-filtered views only unless --filter says.
"""

from __future__ import annotations

import argparse

import numpy as np
from evalset import eval_views, oidn, ours

from mcdenoise import color
from mcdenoise.evaluate import OIDN_QUALITIES

EDGES = (0.0, 0.02, 0.1, 0.5, 2.0, np.inf)  # reference luminance bands: black, dark, mid, bright, highlights


def main() -> None:
    """Denoise every view with each method and print the per-band error table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="+", help="scene directories whose views have reference.exr")
    parser.add_argument("--model", action="append", metavar="NAME=PATH", help="model (default: the shipped one)")
    parser.add_argument("--oidn", default="balanced", choices=OIDN_QUALITIES, help="OIDN quality (default balanced)")
    parser.add_argument("--filter", default="box", help="pixel filter of the views to use (default box)")
    args = parser.parse_args()

    methods = {}
    for item in args.model or ["default=default"]:
        name, _, path = item.partition("=")
        methods[name] = ours(None if path == "default" else path)
    methods[f"oidn-{args.oidn}"] = oidn(args.oidn)
    views = [v for v in eval_views(args.scenes) if v.filter == args.filter]
    if not views:
        raise SystemExit(f"no {args.filter}-filtered views with reference.exr in " + ", ".join(args.scenes))
    n_bands = len(EDGES) - 1
    pixels = np.zeros(n_bands)
    error = {name: np.zeros(n_bands) for name in methods}  # summed squared tonemapped error per band
    for view in views:
        band = np.digitize(view.reference.mean(axis=-1), EDGES[1:-1])  # (H, W) band index of each pixel
        pixels += np.bincount(band.ravel(), minlength=n_bands)
        ref = color.n2n_forward(view.reference.astype(np.float64))
        for name, method in methods.items():
            sq = ((color.n2n_forward(method(view.frame).astype(np.float64)) - ref) ** 2).mean(axis=-1)  # (H, W)
            error[name] += np.bincount(band.ravel(), weights=sq.ravel(), minlength=n_bands)

    first, base = list(methods)[0], list(methods)[-1]
    total = pixels.sum()
    ratio = np.divide(error[first], error[base], out=np.full(n_bands, np.nan), where=error[base] > 0)  # nan: empty band
    print(f"{len(views)} {args.filter} views; squared error per band / all pixels (x1e-5)")
    print(f"{'reference luminance':<22}{'pixels':>8}" + "".join(f"{n:>16}" for n in methods) + f"{first + '/' + base:>28}")
    for i in range(n_bands):
        row = "".join(f"{error[n][i] / total * 1e5:>16.2f}" for n in methods)
        print(f"{EDGES[i]:>8g} - {EDGES[i + 1]:<11g}{pixels[i] / total:>8.3f}{row}{ratio[i]:>28.2f}")
    row = "".join(f"{error[n].sum() / total * 1e5:>16.2f}" for n in methods)
    print(f"{'all':<22}{1.0:>8.3f}{row}{error[first].sum() / error[base].sum():>28.2f}")


if __name__ == "__main__":
    main()
