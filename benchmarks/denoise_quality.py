"""Quality of the shipped (or given) models against OIDN on held-out views, split by pixel filter.

    python benchmarks/denoise_quality.py sample_scenes/cornell data/heldout/proc_*
    python benchmarks/denoise_quality.py data/heldout/proc_* --model shipped=default --model mine=run/m.pt
    python benchmarks/denoise_quality.py sample_scenes/cornell --passes 2 8     each model also with 2 and 8 passes
    python benchmarks/denoise_quality.py data/quality10/spp4/* --backends openvino   each model also on OpenVINO

mcdenoise runs on ONNX Runtime (float32) for the shipped models and .onnx files, PyTorch for .pt files, as in
every table of BENCHMARKS.md; --backends adds the same models on other backends.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evalset import eval_views, evaluate, oidn, ours, print_table

from mcdenoise.backends import BACKENDS
from mcdenoise.evaluate import OIDN_QUALITIES


def main() -> None:
    """Evaluate and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="+", help="scene directories whose views have reference.exr")
    parser.add_argument("--model", action="append", metavar="NAME=PATH",
                        help="model to evaluate (default: shipped=default); repeatable")
    parser.add_argument("--passes", type=int, nargs="*", default=[], metavar="N",
                        help="also run each model with N oriented passes averaged (`denoise --passes`)")
    parser.add_argument("--backends", nargs="*", default=[], choices=[b for b in BACKENDS if b != "auto"],
                        help="also run each model on these backends (`denoise --backend`)")
    parser.add_argument("--raw", action="store_true",
                        help="also run each model without the energy match (`denoise --no-energy-match`)")
    parser.add_argument("--json", metavar="PATH", help="also write the per-view rows (PSNR, relMSE, seconds, "
                        "luminance ratio, highlight relMSE per method) as JSON")
    parser.add_argument("--oidn", default="high", choices=OIDN_QUALITIES, help="OIDN quality: fast, balanced or high (default high)")
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in (args.model or ["mcdenoise=default"]))
    methods = {}
    for name, path in models.items():
        if args.raw:
            methods[f"{name} raw"] = ours(None if path == "default" else path, energy_match=False)
        for passes in [1, *args.passes]:
            methods[name if passes == 1 else f"{name} x{passes}"] = ours(None if path == "default" else path, passes)
        for backend in args.backends:
            methods[f"{name} {backend}"] = ours(None if path == "default" else path, backend=backend)
    methods[f"oidn-{args.oidn}"] = oidn(args.oidn)
    rows = evaluate(eval_views(args.scenes), methods)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print_table(rows, list(methods), "Denoising quality, 4-spp inputs vs high-spp references",
                baseline=f"oidn-{args.oidn}")


if __name__ == "__main__":
    main()
