"""`mcdenoise export`: export a model to a self-contained ONNX file for render farms."""

from __future__ import annotations

import argparse
from typing import Any

from mcdenoise.cli.common import require_torch
from mcdenoise.errors import McDenoiseError

EPILOG = """examples:
  mcdenoise export -o n2n.onnx                     the shipped model
  mcdenoise export sq010.pt -o sq010.onnx
  mcdenoise export sq010.pt -o sq010_fp16.onnx --half

The ONNX file takes raw linear color, albedo, normal (float32, 1x3xHxW, any H and W) and returns
the denoised linear color; exposure, tonemapping and padding happen inside. See README.
"""


def run(args: argparse.Namespace) -> int:
    """Export a model to a self-contained ONNX file."""
    require_torch()
    try:
        from mcdenoise.export import export_onnx
    except ImportError as exc:
        raise McDenoiseError(f"export needs the onnx package ({exc}); pip install 'mcdenoise[export]'") from None
    out = export_onnx(args.model, args.output, half=args.half, opset=args.opset)
    print(out)
    return 0


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("export", help="export a model to a self-contained ONNX file for render farms",
                       epilog=EPILOG)
    p.add_argument("model", nargs="?", help="model checkpoint (default: the shipped model)")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--half", action="store_true", help="float16 weights and math inside (for GPUs); I/O stays float32")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.set_defaults(func=run)
