"""Denoise frames and EXR files: the one inference path of `mcdenoise denoise`, the service and the
ONNX parity tests.

Frame -> exposure of the whole frame -> tiles within the memory cap -> backend (the exported
pipeline: transfer, pad, U-Net, crop, clamp, inverse exposure) -> kept part of each tile -> EXR.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mcdenoise import color
from mcdenoise.backends import Backend, open_backend
from mcdenoise.errors import AovError
from mcdenoise.exr import frame_channels, read_frame, write_exr
from mcdenoise.frame import Frame
from mcdenoise.tiling import DEFAULT_MAX_MEMORY_MB, plan_tiles

log = logging.getLogger(__name__)


class Denoiser:
    """A loaded model (ONNX Runtime or PyTorch backend) plus tiling; call `denoise` on frames."""

    def __init__(self, model: str | os.PathLike | bytes | None = None, *, backend: str | Backend = "auto",
                 device: str = "auto", max_memory_mb: float = DEFAULT_MAX_MEMORY_MB, threads: int = 0,
                 release_memory: bool = False) -> None:
        """`release_memory`: ONNX Runtime returns its working memory after each run (services; slower)."""
        self.backend = backend if isinstance(backend, Backend) else open_backend(
            model, backend, device, threads, release_memory=release_memory)
        self.max_memory_mb = max_memory_mb
        log.debug("model %s", self.backend.describe())

    @property
    def model_name(self) -> str:
        """Name of the loaded model (for headers and logs)."""
        return self.backend.model_name

    def denoise_arrays(self, color_: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(H, W, 3) linear color + AOVs (None for color-only models) -> (H, W, 3) float32 denoised color."""
        h, w = color_.shape[:2]
        exposure = color.autoexposure(color_)  # of the whole frame: every tile shares it
        if not self.backend.config.aux:
            albedo = normal = None
        # (H, W, 3) -> (1, 3, H, W) float32, the backends' layout
        nchw = [None if a is None else np.ascontiguousarray(a.transpose(2, 0, 1)[None], np.float32)
                for a in (color_, albedo, normal)]
        out = np.empty((h, w, 3), np.float32)
        tiles = plan_tiles(h, w, self.backend.config, self.max_memory_mb)
        for i, t in enumerate(tiles):
            window = [None if a is None else a[..., t.y.start:t.y.end, t.x.start:t.x.end] for a in nchw]
            y = self.backend.run(*window, exposure)[0]  # (3, th, tw)
            ky = slice(t.y.keep_start - t.y.start, t.y.keep_end - t.y.start)
            kx = slice(t.x.keep_start - t.x.start, t.x.keep_end - t.x.start)
            out[t.y.keep_start:t.y.keep_end, t.x.keep_start:t.x.keep_end] = y[:, ky, kx].transpose(1, 2, 0)
            if progress is not None:
                progress(i + 1, len(tiles))
        return out

    def denoise(self, frame: Frame, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Denoised color of a frame (with albedo and normal unless the model is color-only);
        `progress(done, total)` is called per tile."""
        if self.backend.config.aux and not frame.has_aux:
            missing = " and ".join(r for r in ("albedo", "normal") if getattr(frame, r) is None)
            raise AovError(
                f"{frame.path}: no {missing} AOV. The model needs color + albedo + normal: render them into the "
                "same EXR (see `mcdenoise info`), pass --albedo/--normal side files, or use --model color"
            )
        return self.denoise_arrays(frame.color, frame.albedo, frame.normal, progress)


def denoised_image(denoiser: Denoiser, frame: Frame, *, keep_aovs: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Channels and header of the output EXR: denoised color (+ the input's alpha, + AOVs on request)
    under the input's channel names' convention, and the input's header plus the model used."""
    denoised = denoiser.denoise(frame, progress)
    channels = frame_channels(denoised, alpha=frame.alpha, albedo=frame.albedo if keep_aovs else None,
                              normal=frame.normal if keep_aovs else None)
    header = dict(frame.header)
    header["mcdenoise_model"] = f"{denoiser.model_name} {denoiser.backend.model_version}"
    return channels, header


def input_pixel_type(frame: Frame) -> str:
    """"half" or "float": what the input's color was stored as (outputs keep it by default)."""
    return "half" if frame.pixel_type == "HALF" else "float"


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
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Read an EXR, denoise it, write the result with the input's pixel type and header (atomically)."""
    frame = read_frame(source, layer=layer, albedo=albedo, normal=normal)
    channels, header = denoised_image(denoiser, frame, keep_aovs=keep_aovs, progress=progress)
    protect = [p for p in (source, albedo, normal) if p is not None]
    return write_exr(output, channels, header=header, pixel_type=input_pixel_type(frame), compression=compression,
                     protect=protect)
