"""Training-recipe ablation at an equal CPU-time budget, scored on held-out views beside OIDN (issue 12).

    python benchmarks/ablation.py --train data/train/proc_* --eval sample_scenes/cornell data/heldout/proc_* \\
        --variants log@15 kpn@15 kpn-mean@15 --out runs/ablation

Each variant trains from scratch on the same data. Its step count is the budget divided by the time
per step of its network and precision (forward + backward + Adam on random data, all threads),
measured once on a quiet machine and kept in OUT/step_ms.json, so the comparison is one of CPU time
and does not drift when other work shares the machine during the runs. `NAME@M` gives variant NAME
a budget of M minutes (a learning curve: log@5 log@15 ...). Finished runs in --out are reused, so
runs may be trained in parallel processes first (`--train-only --threads 1`) and evaluated together.
Prints the table and writes benchmarks/results/ablation.json.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from evalset import eval_views, evaluate, oidn, ours, print_table
from throughput import train_rate

from mcdenoise.checkpoint import load_checkpoint
from mcdenoise.train import TrainConfig, fit

# name -> TrainConfig fields that differ from the common ones (fast trunk, noisy targets, fp32)
VARIANTS: dict[str, dict] = {
    "log": {"size": "fast"},  # today's recipe: log-space correction head, fp32
    "log-bf16": {"size": "fast", "precision": "bf16"},  # + bf16 autocast, channels_last (AMX)
    "log-mean": {"size": "fast", "target": "mean"},
    "kpn": {"size": "fast-kpn"},  # kernels at 1, 1/2, 1/4 resolution
    "kpn-mean": {"size": "fast-kpn", "target": "mean"},  # + target = mean of the view's other renders
    "kpn-bf16": {"size": "fast-kpn", "precision": "bf16"},
    "kpn-bf16-mean": {"size": "fast-kpn", "precision": "bf16", "target": "mean"},
    "lean-kpn": {"size": "lean-kpn"},
    "exp-bf16": {"size": "fast-exp", "precision": "bf16"},  # log(1 + radiance) directly, not a correction
    "logblur-bf16": {"size": "fast-logblur", "precision": "bf16"},  # corrects log(1 + 5x5 blur of the input)
    "blurlog-bf16": {"size": "fast-blurlog", "precision": "bf16"},  # corrects a 5x5 blur of log(1 + input)
    "mixlog": {"size": "fast-mixlog"},  # fp32, for CPUs without native bf16 (AVX2-only), where bf16 is 10x slower
    "mixlog-bf16": {"size": "fast-mixlog", "precision": "bf16"},  # a per-pixel blend of the two bases above
    "mixdemod-bf16": {"size": "fast-mixdemod", "precision": "bf16"},  # mixlog on color / albedo (demodulated)
    "mixavg-bf16": {"size": "fast-mixavg", "precision": "bf16"},  # mixlog with average pooling in the encoder
    "mixlog-bf16-lr1e-3": {"size": "fast-mixlog", "precision": "bf16", "lr": 1e-3},  # twice the peak lr
    "mixlog-bf16-lr2.5e-4": {"size": "fast-mixlog", "precision": "bf16", "lr": 2.5e-4},  # half the peak lr
    "mixlog-bf16-lr1.25e-4": {"size": "fast-mixlog", "precision": "bf16", "lr": 1.25e-4},
    "mixlog-bf16-b16": {"size": "fast-mixlog", "precision": "bf16", "batch": 16, "lr": 1e-3},  # 4x the crops a step
    "mixlog-bf16-b8": {"size": "fast-mixlog", "precision": "bf16", "batch": 8},  # 2x the crops a step
    "mixlog-bf16-b2": {"size": "fast-mixlog", "precision": "bf16", "batch": 2, "lr": 2.5e-4},  # half the crops a step
    # v6's batch shape (2 x 128², lr 3e-4; 25,641 steps give stop 33's pixels), with 4 or 5 pools (stop 34)
    "mixlog-bf16-v6shape": {"size": "fast-mixlog", "precision": "bf16", "batch": 2, "crop": 128, "lr": 3e-4},
    "mix5-bf16-v6shape": {"size": "fast-mix5", "precision": "bf16", "batch": 2, "crop": 128, "lr": 3e-4},
    "mixpyr-bf16-v6shape": {"size": "fast-mixpyr", "precision": "bf16", "batch": 2, "crop": 128, "lr": 3e-4},
    "mix5pyr-bf16-v6shape": {"size": "fast-mix5pyr", "precision": "bf16", "batch": 2, "crop": 128, "lr": 3e-4},
    "mix5-bf16": {"size": "fast-mix5", "precision": "bf16"},  # the fifth pool with stop 33's recipe (4 x 64², lr 5e-4)
    "mixpyr-bf16": {"size": "fast-mixpyr", "precision": "bf16"},  # the input pyramid with stop 33's recipe
    "mix3": {"size": "fast-mix3"},
    "mix3-bf16": {"size": "fast-mix3", "precision": "bf16"},  # mixlog + a 13x13 blurred base (softmax of 3 shares)
    "mix3w-bf16": {"size": "fast-mix3w", "precision": "bf16"},  # the same with a 25x25 one
}
RESULTS = Path(__file__).resolve().parent / "results"


def seconds_per_step(cfg: TrainConfig, steps: int = 15) -> float:
    """Time of one training step of `cfg`'s model and precision (random data, as throughput.py times it)."""
    return cfg.batch * cfg.crop**2 / train_rate(cfg.size, steps, cfg.batch, cfg.crop, bf16=cfg.precision == "bf16")


def step_key(cfg: TrainConfig) -> str:
    """The step_ms.json key of `cfg`'s step: network and precision, and the batch shape where it is not 4 x 64²."""
    key = f"{cfg.size}/{cfg.precision}"
    return key if (cfg.batch, cfg.crop) == (4, 64) else f"{key}/{cfg.batch}x{cfg.crop}"


def main() -> None:
    """Measure step times, train what is missing, evaluate, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True, help="training scene directories")
    parser.add_argument("--eval", nargs="+", default=[], help="scene directories with reference.exr")
    parser.add_argument("--train-only", action="store_true", help="train the missing runs, evaluate nothing")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for training (default: all)")
    parser.add_argument("--variants", nargs="+", default=["log@15", "kpn@15"], help="NAME@MINUTES; names: "
                        + ", ".join(VARIANTS))
    parser.add_argument("--val", nargs="*", default=[], help="scene directories validated on during training")
    parser.add_argument("--out", default="runs/ablation", help="folder of the runs' checkpoints and logs")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="also evaluate these models (e.g. shipped=default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    base = TrainConfig(init="scratch", target="noisy", batch=4, crop=64, lr=5e-4, seed=args.seed, val_every=1000,
                       checkpoint_minutes=5.0, scenes=list(args.train), val_scenes=list(args.val), val_views=0)
    runs = []
    for spec in args.variants:
        name, _, minutes = spec.partition("@")
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; use one of {', '.join(VARIANTS)}")
        runs.append((spec, replace(base, **VARIANTS[name]), float(minutes or 15)))

    # 1. Step times: measured once (all threads, back to back) and kept, so parallel runs share them.
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rate_file = out / "step_ms.json"
    stored = json.loads(rate_file.read_text()) if rate_file.is_file() else {}
    rates = {}
    for _, cfg, _ in runs:
        key = step_key(cfg)
        if key not in stored:
            stored[key] = seconds_per_step(cfg) * 1e3
            rate_file.write_text(json.dumps(stored, indent=1))
        rates[key] = stored[key] / 1e3
        print(f"{key}: {stored[key]:.1f} ms/step ({cfg.batch * cfg.crop**2 * 1e3 / stored[key]:,.0f} px/s)", flush=True)
    if args.threads:
        torch.set_num_threads(args.threads)

    # 2. Train (or reuse) each run for budget / step time steps.
    models = {}
    meta = {}
    for spec, cfg, minutes in runs:
        steps = int(minutes * 60 / rates[step_key(cfg)])
        path = out / f"{spec.replace('@', '_')}.pt"
        cfg = replace(cfg, output=str(path), steps=steps)
        done = path.is_file() and int(load_checkpoint(path)["step"]) >= steps
        if not done:
            print(f"\n== {spec}: {steps} steps ({minutes:g} CPU-min at {rates[step_key(cfg)] * 1e3:.1f} "
                  "ms/step)", flush=True)
            fit(cfg, resume=path.is_file(), progress=True)
        ckpt = load_checkpoint(path)
        meta[spec] = {"steps": steps, "wall_minutes": ckpt.get("elapsed", 0) / 60, "size": cfg.size,
                      "target": cfg.target, "precision": cfg.precision, "budget_minutes": minutes}
        models[spec] = str(path)
    if args.train_only or not args.eval:
        return

    # 3. Evaluate every run, extra models and OIDN-high on the held-out views.
    methods = {spec: ours(path) for spec, path in models.items()}
    for item in args.model:
        name, _, path = item.partition("=")
        methods[name] = ours(None if path == "default" else path)
    methods["oidn-high"] = oidn("high")
    rows = evaluate(eval_views(args.eval), methods)
    print_table(rows, list(methods), "Ablation at equal CPU time (4-spp inputs vs references)")
    RESULTS.mkdir(exist_ok=True)
    result = {"runs": meta, "rows": rows, "step_ms": {k: v * 1e3 for k, v in rates.items()},
              "train": args.train, "eval": args.eval, "threads": torch.get_num_threads()}
    (RESULTS / "ablation.json").write_text(json.dumps(result, indent=1, default=float))
    means = {}
    for filt in sorted({r["filter"] for r in rows}):
        sel = [r for r in rows if r["filter"] == filt]
        means[filt] = {m: [float(np.mean([r[m][i] for r in sel])) for i in (0, 1, 3)] for m in ["input", *methods]}
    print("\nmeans (PSNR, relMSE, luminance ratio):", json.dumps(means, indent=1))


if __name__ == "__main__":
    main()
