"""Fine-tuning on a new scene as a user runs it (`fit` on the scene's own noisy renders), against OIDN.

`fit` trains and selects its model on the scene's own noisy renders only (views in --train); the
held-out views in --eval (with reference.exr) are never trained or validated on: they only measure.

    python benchmarks/fit_scene.py --train data/fitscene_train/glass --eval data/fitscene_eval/glass \
        --minutes 20 --out runs/fit_glass
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from evalset import eval_views, evaluate, oidn, ours, print_table

from mcdenoise.train import TrainConfig, fit


def main() -> None:
    """Fine-tune from the shipped model as a user would (validation on the scene's own renders), then compare."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True, help="scene dirs: noisy renders of the new scene")
    parser.add_argument("--eval", nargs="+", required=True, help="held-out views of the same scene, with reference.exr")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--init", default="default")
    parser.add_argument("--lr", type=float, default=0.0)
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--out", default="runs/fit_scene")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    # Exactly `mcdenoise fit SCENE --minutes M`: it validates on held-out pairs of the scene's own noisy
    # renders (no reference), keeps the best model and stops when validation stops improving.
    path = Path(args.out) / "fitted.pt"
    cfg = TrainConfig(scenes=args.train, output=str(path), init=args.init, minutes=args.minutes, lr=args.lr,
                      val_every=args.val_every, checkpoint_minutes=2.0)
    summary = fit(cfg)
    rows = [json.loads(line) for line in path.with_name("fitted.log.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_loss" in r]
    train = [r for r in rows if "pixels_per_s" in r]
    print(f"\nfit: {summary['steps']} steps in {summary['elapsed'] / 60:.1f} min, "
          f"{sum(r['pixels_per_s'] for r in train) / max(len(train), 1):,.0f} training pixels/s on average; "
          f"kept step {summary['best_step']}")
    print("validation (held-out noisy pairs, L_HDR): " + ", ".join(f"{r['step']}: {r['val_loss']:.4g}" for r in val))

    views = eval_views(args.eval)
    methods = {"initial": ours(None if args.init == "default" else args.init), "fitted": ours(str(path)),
               "oidn-high": oidn("high")}
    print_table(evaluate(views, methods), list(methods), f"After a {args.minutes:g}-minute CPU fit on the scene's own noisy renders")


if __name__ == "__main__":
    main()
