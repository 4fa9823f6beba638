"""`mcdenoise model`: describe a model file (default: the shipped one)."""

from __future__ import annotations

import argparse
from typing import Any

from mcdenoise.cli.common import require_torch
from mcdenoise.errors import McDenoiseError

EPILOG = """examples:
  mcdenoise model                               the shipped default model: network, training, steps
  mcdenoise model lean                          another shipped model by name
  mcdenoise model sq010.pt                      a checkpoint from `mcdenoise fit`
  mcdenoise model sq010.onnx                    an exported model: its metadata
  mcdenoise model sq010.pt --release sq010_r.pt an inference-only float16 copy (no optimizer state)
"""


def run(args: argparse.Namespace) -> int:
    """Describe a model file; optionally write an inference-only copy."""
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
    from mcdenoise.checkpoint import load_checkpoint, model_from_checkpoint, release_copy, run_weights

    ckpt = load_checkpoint(args.model)
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
    if ckpt.get("metrics"):
        print("  validation   " + ", ".join(f"{k} {v:.4g}" for k, v in ckpt["metrics"].items()))
    print(f"  resumable    {'yes' if 'optimizer' in ckpt else 'no (inference only)'}")
    if args.release:
        out = release_copy(ckpt["path"], args.release)
        print(f"{out}: inference-only copy (float16 weights)")
    return 0


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("model", help="describe a model file (default: the shipped one)", epilog=EPILOG)
    p.add_argument("model", nargs="?", help="model file, .pt or .onnx, or a shipped name (default: default)")
    p.add_argument("--release", metavar="OUT", help="write an inference-only float16 copy to OUT")
    p.set_defaults(func=run)
