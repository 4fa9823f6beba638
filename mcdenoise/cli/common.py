"""What every `mcdenoise` subcommand shares: exit codes, logging, and the model options."""

from __future__ import annotations

import argparse
import logging
import sys

from mcdenoise.errors import McDenoiseError

EXIT_USER_ERROR = 2
log = logging.getLogger("mcdenoise")


class _Formatter(logging.Formatter):
    """'mcdenoise: message' for info, 'mcdenoise: warning: message' for the rest; tracebacks when attached."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"mcdenoise: {record.levelname.lower()}: {message}"
        elif record.levelno <= logging.DEBUG:
            message = f"mcdenoise: debug: {record.name}: {message}"
        else:
            message = f"mcdenoise: {message}"
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message


def setup_logging(verbose: bool) -> None:
    """Route library logging to stderr; --verbose shows debug details."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("mcdenoise")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    from mcdenoise import native

    native.CAPTURE = True  # OpenEXR's and Blender's own output lines go to the debug log, not the terminal


def nonnegative(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def model_options(p: argparse.ArgumentParser, *, backend: bool = True, device: bool = True, threads: bool = False,
                   device_default: str | None = "auto") -> None:
    """--model (+ --backend, --device, --threads): the model options every inference command shares."""
    from mcdenoise.backends import BACKENDS
    from mcdenoise.shipped import SHIPPED

    names = ", ".join(f"'{n}'" for n in SHIPPED)
    p.add_argument("--model", help=f"a shipped model ({names}; default: 'default') or a model file, .pt or .onnx")
    if backend:
        p.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="auto (default): for .onnx and the shipped models OpenVINO where it is installed and "
                            "the CPU has AMX or AVX-512 BF16 (bfloat16, 1.3-1.7x faster there), else ONNX Runtime "
                            "(CUDA when available); PyTorch for .pt. onnx: ONNX Runtime, float32 on every machine; "
                            "openvino: pip install 'mcdenoise[openvino]'")
    if device:
        p.add_argument("--device", default=device_default,
                       help="auto (CUDA when available; the default), cpu, cuda or cuda:N")
    if threads:
        p.add_argument("--threads", type=nonnegative, default=0,
                       help="CPU threads (default 0: all cores this process may use)")



def require_torch() -> None:
    """Fail with an install hint when PyTorch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise McDenoiseError("PyTorch is not installed; install it with: pip install 'mcdenoise[train]'") from None
