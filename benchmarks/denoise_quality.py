"""Quality of the shipped (or given) models against OIDN on held-out views, split by pixel filter.

    python benchmarks/denoise_quality.py sample_scenes/cornell data/heldout/proc_*
    python benchmarks/denoise_quality.py data/heldout/proc_* --model shipped=default --model mine=run/m.pt
"""

from __future__ import annotations

import argparse

from evalset import eval_views, evaluate, oidn, ours, print_table


def main() -> None:
    """Evaluate and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="+", help="scene directories whose views have reference.exr")
    parser.add_argument("--model", action="append", metavar="NAME=PATH",
                        help="model to evaluate (default: shipped=default); repeatable")
    parser.add_argument("--oidn", default="high", help="OIDN quality: fast, balanced or high (default high)")
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in (args.model or ["mcdenoise=default"]))
    methods = {name: ours(None if path == "default" else path) for name, path in models.items()}
    methods[f"oidn-{args.oidn}"] = oidn(args.oidn)
    rows = evaluate(eval_views(args.scenes), methods)
    print_table(rows, list(methods), "Denoising quality, 4-spp inputs vs high-spp references",
                baseline=f"oidn-{args.oidn}")


if __name__ == "__main__":
    main()
