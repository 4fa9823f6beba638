"""`mcdenoise fit`: train or fine-tune a Noise2Noise model on pairs of noisy renders."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from mcdenoise.architecture import PRECISIONS, PRESETS
from mcdenoise.cli.common import log, require_torch
from mcdenoise.data import TARGETS
from mcdenoise.errors import McDenoiseError

# What --resume takes from the command line (the schedule and the machine) and what it keeps from the run.
RESUME_OPTIONS = ("steps", "minutes", "lr", "rampdown", "device", "cache_mb", "checkpoint_minutes")
RUN_OPTIONS = ("init", "size", "no_aux", "batch", "crop", "seed", "target", "teacher", "teacher_passes", "mix_spp", "clip_grad", "loss_window",
               "loss_scales", "ema", "precision", "val_views", "val", "val_every", "patience")

EPILOG = """examples:
  mcdenoise fit shots/sq010 -o sq010.pt --minutes 15          fine-tune the shipped model on a scene
  mcdenoise fit data/train/* -o big.pt --init scratch --size paper --steps 20000
  mcdenoise fit --resume -o big.pt                             continue an interrupted run exactly
  mcdenoise fit --resume -o big.pt --steps 40000 --lr 1e-4 --rampdown 0.5   extend it (a warm restart)
  torchrun --nproc_per_node 4 -m mcdenoise.cli fit data/train/* -o big.pt --steps 20000

Each SCENE_DIR holds one folder per view with >= 2 noisy renders (different seeds) of that view;
reference.exr, when present, is only used for validation metrics (or --target clean).
Validation: one view is held out when there are 3 or more; with 1 or 2 views, each view is measured
on tiles spread over the image (a quarter of it) that training never takes its loss on, while
training keeps every render elsewhere. The error against the mean of a view's other renders tracks
the clean error. The model written is the best validated one; fine-tuning stops once it
stops improving (--patience).
Writes OUT, OUT's .log.jsonl (training log) and .curve.png; checkpoints every few minutes and on Ctrl-C.
"""


def run(args: argparse.Namespace) -> int:
    """Train or fine-tune a model on scene directories of noisy render pairs."""
    require_torch()
    from dataclasses import replace

    from mcdenoise.checkpoint import load_checkpoint
    from mcdenoise.train import TrainConfig, fit

    if args.resume:
        ckpt = load_checkpoint(args.output)
        cfg = TrainConfig.from_dict(ckpt.get("train_config", {}))
        cfg = replace(cfg, output=args.output)
        if args.scenes:
            log.warning("--resume trains on the scene directories stored in %s; ignoring the ones given", args.output)
        # Extending a finished run changes its schedule, on purpose: a new budget, and for a warm restart a new
        # peak lr and ramp-down. Everything else (data, model, recipe) stays the run's own.
        # The machine may be another one too (--device cuda, a smaller --cache-mb).
        given = [k for k in RESUME_OPTIONS + RUN_OPTIONS if getattr(args, k) != args.default_of(k)]
        cfg = replace(cfg, **{k: getattr(args, k) for k in given if k in RESUME_OPTIONS})
        ignored = [f"--{k.replace('_', '-')}" for k in given if k in RUN_OPTIONS]
        if ignored:
            log.warning("--resume keeps the run's own %s; ignoring the value(s) given", ", ".join(ignored))
    else:
        if not args.scenes:
            raise McDenoiseError("give at least one scene directory to train on")
        from mcdenoise.checkpoint import resolve_model_path

        if args.init != "scratch" and os.path.abspath(args.output) == os.path.abspath(resolve_model_path(args.init)):
            raise McDenoiseError(f"-o {args.output} is the model training starts from; write to another file")
        if os.path.exists(args.output) and not args.force:
            raise McDenoiseError(f"{args.output} already exists; --resume to continue it, --force to start over")
        cfg = TrainConfig(
            scenes=list(args.scenes), output=args.output, init=args.init, size=args.size,
            steps=args.steps or 0, minutes=args.minutes or 0.0, batch=args.batch, crop=args.crop, lr=args.lr or 0.0,
            rampdown=TrainConfig.rampdown if args.rampdown is None else args.rampdown, seed=args.seed,
            aux=not args.no_aux, target=args.target, teacher=args.teacher,
            teacher_passes=args.teacher_passes, val_views=args.val_views,
            val_scenes=list(args.val or []), val_every=args.val_every, patience=args.patience, checkpoint_minutes=args.checkpoint_minutes,
            cache_mb=args.cache_mb, device=args.device, precision=args.precision, mix_spp=args.mix_spp,
            clip_grad=args.clip_grad, ema=TrainConfig.ema if args.ema is None else args.ema,
            loss_window=args.loss_window, loss_scales=list(args.loss_scales or []),
        )
    try:
        summary = fit(cfg, resume=args.resume)
    except KeyboardInterrupt:
        if os.path.exists(cfg.output):
            print(f"mcdenoise: interrupted; checkpoint saved in {cfg.output} (continue with: "
                  f"mcdenoise fit --resume -o {cfg.output})", file=sys.stderr)
        raise
    if int(os.environ.get("RANK", "0")) == 0:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary.get("metrics", {}).items())
        print(f"{cfg.output}: {summary['steps']} steps in {summary['elapsed'] / 60:.1f} min" + (f"; {metrics}" if metrics else ""))
    return 0


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("fit", help="train or fine-tune a Noise2Noise model on pairs of noisy renders",
                       epilog=EPILOG)
    p.add_argument("scenes", nargs="*", metavar="SCENE_DIR", help="scene directories (see layout below)")
    p.add_argument("-o", "--output", required=True, help="model checkpoint to write (and --resume from)")
    p.add_argument("--init", default="default",
                   help="'default' or 'lean' (fine-tune a shipped model), 'scratch', or a model file (default: default)")
    p.add_argument("--size", choices=sorted(PRESETS),
                   help="network size with --init scratch: fast (default), lean (faster inference), paper, "
                   "tiny (smoke tests); *-kpn: the same trunk predicting per-pixel kernels. With a model to "
                   "fine-tune: widen it to this size first (e.g. --init default --size fast-wide)")
    p.add_argument("--no-aux", action="store_true",
                   help="train a color-only model (renders need no albedo/normal; lower quality)")
    p.add_argument("--steps", type=int, help="optimizer steps")
    p.add_argument("--minutes", type=float, help="wall-clock budget in minutes (with or instead of --steps)")
    p.add_argument("--batch", type=int, default=0,
                   help="crops per step (default: 4 on a CPU, as in the paper; 32 on a GPU)")
    p.add_argument("--crop", type=int, default=0, help="crop side in pixels (default: 64 on a CPU, 128 on a GPU)")
    p.add_argument("--lr", type=float,
                   help="Adam learning rate (default 3e-4 from scratch, 1e-4 when fine-tuning); with --resume: a new "
                        "peak lr for the rest of the run (a warm restart)")
    p.add_argument("--rampdown", type=float,
                   help="final fraction of the run over which the lr ramps down to 0 (default 0.3); with --resume "
                        "and a new --minutes/--steps: e.g. the whole extension")
    p.add_argument("--seed", type=int, default=0, help="seed of the model init and the batch sampling")
    p.add_argument("--target", choices=TARGETS, default="mean",
                   help="mean (default): the mean of the view's other renders (Noise2Noise: unbiased, and less "
                   "noisy than one render with >= 3 renders); noisy: one other render (the paper); teacher: "
                   "the --teacher model's denoising of that mean (no "
                   "reference either; one full-frame inference per render, kept in memory); ensemble: the --teacher "
                   "model's own denoising of the input render, averaged over --teacher-passes oriented passes (a "
                   "single pass learns what several give; needs only one render per view); clean: train against "
                   "reference.exr (experiments)")
    p.add_argument("--teacher", default="default", metavar="MODEL",
                   help="with --target teacher or ensemble: the model that makes the targets (a shipped name or a model "
                        "file; default: default)")
    p.add_argument("--teacher-passes", type=int, default=8, metavar="N",
                   help="with --target ensemble: oriented passes the teacher averages (1-8, default 8)")
    p.add_argument("--mix-spp", action="store_true",
                   help="inputs at several sample counts: the mean of 1 to k-1 of a view's k renders, the target "
                        "from the others (one model for 4, 8, 12 ... spp)")
    p.add_argument("--clip-grad", type=float, default=0.0, metavar="K",
                   help="shorten a step whose gradient norm is over K times its running mean (fireflies in "
                        "noisy targets; try 4); 0 (default): off")
    p.add_argument("--loss-window", type=int, default=1, metavar="K",
                   help="weight the loss of each pixel by min(prediction, its KxK mean) rather than by the "
                        "prediction alone: bright speckles and fireflies the model leaves in dark areas count as "
                        "much as their surroundings (try 3; still unbiased); 1 (default): per pixel")
    p.add_argument("--loss-scales", type=int, nargs="+", metavar="S",
                   help="add the loss on S x S block means of the prediction and target, one term per S (try 4 16): "
                        "low-frequency blotches count more (still unbiased; lost at v6's scale, BENCHMARKS.md stop 37); default: none")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="validate and write a moving average of the weights (0.999: about the last 1000 steps) "
                        "instead of the last step's; 0: off; default 0.998 when fine-tuning, off from scratch")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto (default): bf16 autocast on CUDA and on CPUs with native bf16 (AMX: Sapphire "
                        "Rapids and newer Xeons; AVX-512 BF16: AMD Zen 4 and newer), float32 elsewhere")
    p.add_argument("--val-views", type=int, default=-1,
                   help="views held out for validation (default 1 when there are 3 or more; with 1 or 2 views, "
                        "each view on held-out tiles)")
    p.add_argument("--val", nargs="+", metavar="SCENE_DIR", help="extra scene directories to validate on")
    p.add_argument("--val-every", type=int, default=250, help="steps between validations (default 250)")
    p.add_argument("--patience", type=int, default=-1, metavar="N",
                   help="stop after N validations without a new best or a new lowest error (0: never; default 5 "
                        "when fine-tuning, never from scratch); the model written is always the best validated one")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="minutes between checkpoints")
    p.add_argument("--cache-mb", type=int, default=4096, help="memory for decoded frames (default 4096), and as much again for "
                   "--target teacher and ensemble targets")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in -o exactly; --steps/--minutes extend it, --lr/--rampdown change "
                        "the rest of its schedule, --device/--cache-mb/--checkpoint-minutes fit a new machine")
    p.add_argument("--force", action="store_true", help="start over even if -o exists")
    p.set_defaults(func=run, default_of=p.get_default)  # default_of: which options --resume was given
