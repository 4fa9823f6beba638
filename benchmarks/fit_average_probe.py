"""Does averaging a shot's `fit` with the model it started from help on a view the fit never saw?

For each scene directory (a quality-set scene: `data/quality10/spp4/NAME`, with its fit views in
`--fit-root/NAME`), `fit` the shipped model on the fit views exactly as `mcdenoise fit DIR --minutes M`
does (reused when FITS/NAME.pt exists), write the weighted mean of the fit and its starting model
(`mcdenoise model FIT --average default --average-weights S 1-S`) for each share S, and score them all
on the scene's held-out views, with OIDN in the same run.

    python benchmarks/fit_average_probe.py data/quality10/spp4/* --fit-root data/quality10/fit \
        --fits runs/s38/fit3 --minutes 3 --shares 0.5 0.75 --json runs/s38/fit_average.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from evalset import eval_views, evaluate, oidn, ours, print_table

from mcdenoise.checkpoint import average_weights
from mcdenoise.errors import McDenoiseError
from mcdenoise.evaluate import OIDN_QUALITIES
from mcdenoise.train import TrainConfig, fit


def main() -> None:
    """Fit (or reuse) each scene's model, average it with its start, score start / fit / averages / OIDN."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="+", type=Path, help="scene directories whose views have reference.exr")
    parser.add_argument("--fit-root", type=Path, required=True, help="folder holding each scene's fit views, by name")
    parser.add_argument("--fits", type=Path, required=True, help="folder for the fitted and averaged models")
    parser.add_argument("--minutes", type=float, default=3.0, help="fit budget per scene (fits are reused)")
    parser.add_argument("--init", default="default", help="the model fitted from (default: the shipped one)")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.5], help="the fit's share in each average")
    parser.add_argument("--oidn", choices=OIDN_QUALITIES, default="balanced")
    parser.add_argument("--json", type=Path, help="also write the per-view rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    missing = [str(args.fit_root / s.name) for s in args.scenes if not (args.fit_root / s.name).is_dir()]
    if missing:
        parser.error(f"no fit views for: {' '.join(missing)}")
    if any(not 0 < s < 1 for s in args.shares):
        parser.error("--shares are fractions strictly between 0 and 1")
    args.fits.mkdir(parents=True, exist_ok=True)

    rows: list[dict] = []
    names = ["start", "fit", *(f"avg{s:g}" for s in args.shares), f"oidn-{args.oidn}"]
    try:
        for scene in args.scenes:
            fitted = args.fits / f"{scene.name}.pt"
            if not fitted.exists():  # exactly `mcdenoise fit FIT_VIEWS --init INIT --minutes M` with its defaults
                fit(TrainConfig(scenes=[str(args.fit_root / scene.name)], output=str(fitted), init=args.init,
                                minutes=args.minutes, checkpoint_minutes=args.minutes + 1), progress=False)
            methods = {"start": ours(None if args.init == "default" else args.init), "fit": ours(str(fitted))}
            for share in args.shares:
                mixed = average_weights([fitted, args.init], args.fits / f"{scene.name}_avg{share:g}.pt",
                                        [share, 1 - share])
                methods[f"avg{share:g}"] = ours(str(mixed))
            methods[f"oidn-{args.oidn}"] = oidn(args.oidn)
            rows += evaluate(eval_views([scene]), methods)
    except McDenoiseError as exc:
        parser.exit(2, f"error: {exc}\n")
    print_table(rows, names, f"{args.minutes:g}-minute fits on each scene's other views, and their averages with "
                             f"the starting model", baseline=f"oidn-{args.oidn}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
