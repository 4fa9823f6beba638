"""Denoise frames and EXR files with a trained model (the path `mcdenoise denoise` takes)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from mcdenoise.checkpoint import load_checkpoint, model_from_checkpoint, pick_device
from mcdenoise.errors import AovError
from mcdenoise.exr import frame_channels, read_frame, write_exr
from mcdenoise.frame import Frame
from mcdenoise.pipeline import DenoisePipeline

log = logging.getLogger(__name__)


class Denoiser:
    """A loaded model plus the shared pipeline; call `denoise` on frames."""

    def __init__(self, model: str | os.PathLike | None = None, device: str = "auto") -> None:
        self.device = pick_device(device)
        ckpt = load_checkpoint(model)
        self.model_path = ckpt["path"]
        self.pipeline = DenoisePipeline(model_from_checkpoint(ckpt)).to(self.device).eval()

    @torch.no_grad()
    def denoise_arrays(self, color: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """(H, W, 3) linear color + AOVs -> (H, W, 3) float32 denoised linear color."""
        to = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), np.float32))[None].to(self.device)  # noqa: E731
        out = self.pipeline(to(color), to(albedo), to(normal))  # (1, 3, H, W)
        return out[0].permute(1, 2, 0).float().cpu().numpy()

    def denoise(self, frame: Frame) -> np.ndarray:
        """Denoised color of a frame that has albedo and normal AOVs."""
        if not frame.has_aux:
            missing = " and ".join(r for r in ("albedo", "normal") if getattr(frame, r) is None)
            raise AovError(
                f"{frame.path}: no {missing} AOV. The model needs color + albedo + normal: render them into the "
                "same EXR (see `mcdenoise info`) or pass --albedo/--normal side files"
            )
        return self.denoise_arrays(frame.color, frame.albedo, frame.normal)


def default_output(path: str | os.PathLike) -> Path:
    """`shot.exr` -> `shot.denoised.exr` beside it."""
    p = Path(path)
    return p.with_name(f"{p.stem}.denoised{p.suffix or '.exr'}")


def denoise_file(
    denoiser: Denoiser,
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    albedo: str | os.PathLike | None = None,
    normal: str | os.PathLike | None = None,
    layer: str | None = None,
    keep_aovs: bool = False,
    compression: str = "zip",
) -> Path:
    """Read an EXR, denoise it, write the result with the input's pixel type and header (atomically)."""
    frame = read_frame(source, layer=layer, albedo=albedo, normal=normal)
    denoised = denoiser.denoise(frame)
    channels = frame_channels(denoised, alpha=frame.alpha, albedo=frame.albedo if keep_aovs else None,
                              normal=frame.normal if keep_aovs else None)
    pixel_type = "half" if frame.pixel_type == "HALF" else "float"
    header = dict(frame.header)
    header["mcdenoise_model"] = Path(denoiser.model_path).name
    protect = [p for p in (source, albedo, normal) if p is not None]
    return write_exr(output, channels, header=header, pixel_type=pixel_type, compression=compression, protect=protect)
