"""`mcdenoise model`: describe a model file (default: the shipped one)."""

from __future__ import annotations

import argparse
from typing import Any

from mcdenoise.cli.common import require_torch
from mcdenoise.errors import McDenoiseError
from mcdenoise.shipped import WEIGHT_CHOICES

EPILOG = """examples:
  mcdenoise model                               the shipped default model: network, training, steps
  mcdenoise model lean                          another shipped model by name
  mcdenoise model sq010.pt                      a checkpoint from `mcdenoise fit`
  mcdenoise model sq010.onnx                    an exported model: its metadata
  mcdenoise model sq010.pt --release sq010_r.pt an inference-only float16 copy (no optimizer state)
  mcdenoise model a.pt --average b.pt c.pt --release abc.pt
                                                the mean of three models' weights (runs branched from
                                                one state, or a fit and the model it started from)
  mcdenoise model sq010.pt --average default --average-weights 3 1 --release sq010_mix.pt
  mcdenoise model run.pt --weights average --release run_avg.pt
                                                the run's moving average of its last steps, not its best
                                                validated weights (a resumed run that never beat its old best)
"""


def run(args: argparse.Namespace) -> int:
    """Describe a model file; optionally write an inference-only copy, or the average of several models."""
    if args.average_weights and not args.average:
        raise McDenoiseError("--average-weights goes with --average")
    if args.average and not args.release:
        raise McDenoiseError("--average writes a new model: give its file with --release OUT")
    if args.average and any(m.lower().endswith(".onnx") for m in [args.model or "", *args.average]):
        raise McDenoiseError("--average works on PyTorch checkpoints (.pt) or shipped names, not on ONNX files")
    if args.weights != "auto" and not args.release:
        raise McDenoiseError("--weights picks what --release writes: give the copy's file with --release OUT")
    if args.weights != "auto" and args.average:
        raise McDenoiseError("--weights picks from one training checkpoint; it does not go with --average "
                             "(release each model's chosen weights first, then average those copies)")
    if args.model and args.model.lower().endswith(".onnx"):
        from mcdenoise.backends import OnnxBackend

        if args.release:
            raise McDenoiseError("--release works on PyTorch checkpoints (.pt), not on ONNX files")
        backend = OnnxBackend(args.model, device="cpu")
        print(backend.model_path)
        for key, value in sorted(backend.metadata.items()):
            print(f"  {key:<18} {value if len(value) < 300 else value[:300] + ' ...'}")
        return 0
    require_torch()
    from mcdenoise.checkpoint import average_weights, load_checkpoint, model_from_checkpoint, release_copy, run_weights

    if args.average:
        out = average_weights([args.model, *args.average], args.release, args.average_weights)
        args.model, args.release, args.average = str(out), None, None  # describe what was written
    ckpt = load_checkpoint(args.model)
    chosen = run_weights(ckpt, args.weights)[1]  # a checkpoint without the weights asked for: an error before any output
    net = model_from_checkpoint(ckpt)
    cfg = net.cfg
    train = ckpt.get("train_config", {})
    print(ckpt["path"])
    print(f"  network      U-Net enc {cfg.enc}, dec {cfg.dec}, head {cfg.head}, {cfg.pools} pools; "
          f"{sum(p.numel() for p in net.parameters()):,} parameters; pad to multiples of {cfg.alignment}")
    print(f"  written by   mcdenoise {ckpt.get('mcdenoise_version', '?')}")
    if "step" in ckpt:
        print(f"  trained      {ckpt['step']} steps, {float(ckpt.get('elapsed', 0)) / 60:.1f} min, "
              f"target {train.get('target', '?')}, init {train.get('init', '?')}")
    if train.get("scenes"):
        scenes = train["scenes"]
        print(f"  data         {len(scenes)} scene dir(s): {', '.join(scenes[:4])}{' ...' if len(scenes) > 4 else ''}")
    print(f"  weights      {run_weights(ckpt)[1]} (what denoise, --init and --release use)")
    for part in ckpt.get("averaged_from", []):
        print(f"    {part['share']:.3g} x {part['path']} ({part['weights']}, version {part['version']})")
    if ckpt.get("metrics"):
        print("  validation   " + ", ".join(f"{k} {v:.4g}" for k, v in ckpt["metrics"].items()))
    print(f"  resumable    {'yes' if 'optimizer' in ckpt else 'no (inference only)'}")
    if args.release:
        out = release_copy(ckpt, args.release, which=args.weights)
        print(f"{out}: inference-only copy (float16 weights: {chosen})")
    return 0


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("model", help="describe a model file (default: the shipped one)", epilog=EPILOG)
    p.add_argument("model", nargs="?", help="model file, .pt or .onnx, or a shipped name (default: default)")
    p.add_argument("--release", metavar="OUT", help="write an inference-only float16 copy to OUT")
    p.add_argument("--average", nargs="+", metavar="MODEL",
                   help="with --release: write the mean of MODEL's and these models' weights (same network; "
                        "only useful for models trained from one common state)")
    p.add_argument("--average-weights", nargs="+", type=float, metavar="W",
                   help="with --average: one weight per model, in order (default: equal)")
    p.add_argument("--weights", choices=WEIGHT_CHOICES, default="auto",
                   help="with --release: which of a training checkpoint's weights to write: its best validated, "
                        "its moving average, its last step's, or auto (what the run writes: best, else average, "
                        "else last; default)")
    p.set_defaults(func=run)
