"""The models shipped inside the package (mcdenoise/weights/), by name: `--model default|slim|lean|color|interior`."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

# name -> file stem: <stem>.pt (PyTorch checkpoint, float16) and <stem>.onnx (its `mcdenoise export`)
SHIPPED = {
    "default": "n2n_default",  # `wide-mix` U-Net (v11, a mean of one run's weights at 170, 290, 490, 610, 730 and 850 min): the best quality on most frames
    "lean": "n2n_lean",  # `lean` U-Net: about 2x faster on CPUs, a little less quality
    "color": "n2n_color",  # `lean` U-Net on color alone, for renders without albedo/normal AOVs
    "slim": "n2n_slim",  # `slim-mix` U-Net: default's recipe with 2/3 of its multiply-adds, about 0.1 dB behind it (0.25 on Cornell)
    "interior": "n2n_interior",  # older `fast` U-Net also trained on interiors and Cycles frames (default v6 is better there now)
}

# which of a training checkpoint's weights to use (`mcdenoise model --weights`); torch-free, for the CLI's parser
WEIGHT_CHOICES = ("auto", "best", "average", "last")


def shipped_name(model: str | os.PathLike | bytes | None) -> str | None:
    """The shipped model's name when `model` names one (None means "default"), else None."""
    if model is None:
        return "default"
    if isinstance(model, (str, os.PathLike)) and str(model) in SHIPPED:
        return str(model)
    return None


def shipped_path(name: str, suffix: str) -> Path:
    """File of a shipped model: suffix ".pt" or ".onnx"."""
    return Path(str(resources.files("mcdenoise") / "weights" / f"{SHIPPED[name]}{suffix}"))
