"""`mcdenoise eval`: metrics and comparison images against reference renders."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mcdenoise.cli.common import model_options
from mcdenoise.errors import McDenoiseError

EPILOG = """examples:
  mcdenoise eval shot_dn.exr --reference shot_ref.exr
  mcdenoise eval shot_dn.exr --reference shot_ref.exr --noisy shot.exr --png cmp.png
  mcdenoise eval data/heldout/proc_9000 --model sq010.pt --json
  mcdenoise eval sample_scenes/cornell --png cmp/

metrics (all against the reference; images are linear HDR):
  psnr    PSNR in dB after the (v/(1+v))^(1/2.2) tonemap, peak 1        higher is better
  relmse  mean (x - ref)^2 / (ref^2 + 0.01)                            lower is better
  rel_trim relmse without the worst 0.1% of pixels                    lower is better
          (steadier: a few caustic pixels can carry most of relmse)
  rel_hi  relmse over pixels whose reference luminance is above 1      lower is better
          (emitters and highlights; nan when a view has none)
  smape   mean |x - ref| / (|x| + |ref| + 0.01)                         lower is better
  ssim    SSIM (Gaussian window, sigma 1.5) of the tonemapped images    higher is better
  flip    mean HDR-FLIP (NVIDIA flip-evaluator)                         lower is better
  lum     mean linear luminance / the reference's (energy kept)          1 is best
With scene directories, each view's render_000 (--render N) is denoised and compared with its
reference.exr, beside the noisy input and OIDN (when pyoidn is installed).
"""


def _mean(values: list[float]) -> float:
    """Mean over the views that have the metric (rel_hi is NaN on a view without highlights)."""
    import math

    have = [v for v in values if not math.isnan(v)]
    return sum(have) / len(have) if have else math.nan


def _print_eval(rows: list[dict[str, Any]]) -> None:
    """The metrics table: one line per (view, method), then the mean of each method over views."""
    import numpy as np

    from mcdenoise.evaluate import METRICS

    names = [m for m in METRICS if any(m in r["metrics"] for r in rows)]
    views = sorted({r["view"] for r in rows}, key=[r["view"] for r in rows].index)
    head = f"{'view':<28} {'method':<12} " + " ".join(f"{m:>8}" for m in names)
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['view'][:28]:<28} {r['method']:<12} " + " ".join(
            f"{r['metrics'][m]:>8.3f}" if m in ("psnr", "ssim", "lum") else f"{r['metrics'][m]:>8.4f}" for m in names))
    if len(views) > 1:
        print("-" * len(head))
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = [r["metrics"] for r in rows if r["method"] == method]
            print(f"{'mean of ' + str(len(mine)) + ' views':<28} {method:<12} " + " ".join(
                f"{_mean([m[k] for m in mine]):>8.3f}" if k in ("psnr", "ssim", "lum") else f"{_mean([m[k] for m in mine]):>8.4f}"
                for k in names))
    print("psnr, ssim: higher is better; relmse, rel_trim, rel_hi, smape, flip: lower is better; lum: mean luminance / the "
          "reference's, 1 is best (see `mcdenoise eval --help`)")


def run(args: argparse.Namespace) -> int:
    """Metrics (and comparison images) of denoised frames against references."""
    from mcdenoise.comparison import comparison_png
    from mcdenoise.evaluate import ViewResult, evaluate_pair, evaluate_scene, oidn_method

    single = not all(Path(p).is_dir() for p in args.inputs)  # one denoised file: --png is a file
    if args.png and single and not (Path(args.png).is_dir() or args.png.endswith(("/", os.sep))):
        from mcdenoise.atomic import check_output

        check_output(args.png)  # before the metrics are computed
    paths = [Path(p) for p in args.inputs]
    results: list[ViewResult] = []
    if all(p.is_dir() for p in paths):
        if args.reference or args.noisy:
            raise McDenoiseError("--reference/--noisy go with a single denoised file, not scene directories")
        from mcdenoise.infer import Denoiser

        denoiser = Denoiser(args.model, backend=args.backend)
        methods = {"mcdenoise": denoiser.denoise}
        oidn = oidn_method("high") if not args.no_oidn else None
        if oidn is not None:
            methods["oidn-high"] = oidn
        for p in paths:
            results += evaluate_scene(p, methods, render=args.render, flip=not args.no_flip)
        focus = "mcdenoise"
    else:
        if len(paths) != 1 or paths[0].is_dir():
            raise McDenoiseError("give one denoised EXR with --reference, or scene directories")
        if not args.reference:
            raise McDenoiseError("--reference REF.exr is needed to evaluate a single file")
        oidn = oidn_method("high") if args.noisy and not args.no_oidn else None
        result = evaluate_pair(paths[0], args.reference, noisy=args.noisy, oidn=oidn, flip=not args.no_flip)
        results.append(result)
        focus = "mcdenoise"
    rows = [{"view": r.label, "method": m, "metrics": v} for r in results for m, v in r.metrics.items()]
    if args.json:  # NaN (rel_hi of a view without highlights) is not JSON: null
        print(json.dumps([{**r, "metrics": {k: None if v != v else v for k, v in r["metrics"].items()}} for r in rows],
                         indent=2))
    else:
        _print_eval(rows)
    if args.png:
        out = Path(args.png)
        many = len(results) > 1 or out.is_dir() or args.png.endswith(("/", os.sep))
        if many:
            out.mkdir(parents=True, exist_ok=True)
        for r in results:
            target = out / (r.label.replace("/", "_") + ".png") if many else out
            comparison_png(target, r.images, r.reference, r.metrics, focus=focus, title=r.label)
            print(f"{target}", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("eval", help="metrics and comparison images against reference renders",
                       epilog=EPILOG)
    p.add_argument("inputs", nargs="+", metavar="DENOISED.exr|SCENE_DIR")
    p.add_argument("--reference", help="reference EXR (with a single denoised file)")
    p.add_argument("--noisy", help="the noisy input EXR: also scored, and denoised by OIDN for comparison")
    model_options(p, device=False)  # used with scene directories
    p.add_argument("--render", type=int, default=0, help="which noisy render of each view to denoise (default 0)")
    p.add_argument("--png", metavar="OUT", help="comparison image (a folder for several views)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--no-flip", action="store_true", help="skip HDR-FLIP (the slowest metric)")
    p.add_argument("--no-oidn", action="store_true", help="do not run OIDN alongside even when pyoidn is installed")
    p.set_defaults(func=run)
