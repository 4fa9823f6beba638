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
from mcdenoise.errors import AovError, McDenoiseError
from mcdenoise.exr import frame_channels, read_frame, write_exr
from mcdenoise.frame import Frame
from mcdenoise.orient import ORIENTATIONS, orient, unorient
from mcdenoise.tiling import DEFAULT_MAX_MEMORY_MB, plan_tiles

log = logging.getLogger(__name__)


PASS_TRANSFORMS = ORIENTATIONS  # pass k denoises orientation k; the network was trained on all 8 (`mcdenoise.data`)


def check_passes(passes: int) -> None:
    """Raise McDenoiseError unless 1 <= passes <= 8."""
    if not isinstance(passes, int) or not 1 <= passes <= len(PASS_TRANSFORMS):
        raise McDenoiseError(f"passes must be 1 to {len(PASS_TRANSFORMS)}, not {passes!r}")


class Denoiser:
    """A loaded model (ONNX Runtime or PyTorch backend) plus tiling; call `denoise` on frames."""

    def __init__(self, model: str | os.PathLike | bytes | None = None, *, backend: str | Backend = "auto",
                 device: str = "auto", max_memory_mb: float = DEFAULT_MAX_MEMORY_MB, threads: int = 0,
                 release_memory: bool = False, energy_match: bool = True, precision: str = "auto") -> None:
        """`release_memory`: ONNX Runtime returns its working memory after each run (services; slower).
        `energy_match`: scale each channel of the result to the noisy frame's total (`color.match_energy`).
        `precision`: the OpenVINO and PyTorch backends' CPU math, "auto" (bf16 where native), "bf16" or "fp32"
        (`architecture.PRECISIONS`, as `fit --precision`)."""
        self.backend = backend if isinstance(backend, Backend) else open_backend(
            model, backend, device, threads, release_memory=release_memory, precision=precision)
        self.max_memory_mb = max_memory_mb
        self.energy_match = energy_match
        log.debug("model %s", self.backend.describe())

    @property
    def model_name(self) -> str:
        """Name of the loaded model (for headers and logs)."""
        return self.backend.model_name

    def denoise_arrays(self, color_: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None,
                       progress: Callable[[int, int], None] | None = None, *, passes: int = 1) -> np.ndarray:
        """(H, W, 3) linear color + AOVs (None for color-only models) -> (H, W, 3) float32 denoised color.

        `passes` > 1 also denoises flipped/transposed copies (`PASS_TRANSFORMS`) and averages the results:
        the model's errors differ between them, so the mean is cleaner (about +0.25 dB for 2, +0.5 dB for 8
        on our held-out views) at `passes` times the time. Then, with `energy_match`, each channel is scaled
        to the noisy frame's total: the whole frame's, so tiling does not change it.
        """
        check_passes(passes)
        exposure = color.autoexposure(color_)  # of the whole frame: every tile and pass shares it
        if not self.backend.config.aux:
            albedo = normal = None
        out: np.ndarray | None = None
        for k in range(passes):
            step = None if progress is None else (lambda done, total, k=k: progress(k * total + done, passes * total))
            images = [None if a is None else orient(a, k) for a in (color_, albedo, normal)]
            y = unorient(self._tiles(*images, exposure, step), k)
            if out is None:
                out = y  # pass 0 is the identity: the array _tiles made, safe to add into
            else:
                out += y  # one extra (H, W, 3) float32 frame in memory, whatever the number of passes
        assert out is not None
        if passes > 1:
            out /= np.float32(passes)
        if self.energy_match:
            scale = color.match_energy(out, color_)
            log.debug("energy match: channels scaled by %s", np.round(scale, 4).tolist())
        return out

    def _tiles(self, color_: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None, exposure: float,
               progress: Callable[[int, int], None] | None) -> np.ndarray:
        """One pass: the frame through the backend tile by tile, within the memory cap."""
        h, w = color_.shape[:2]
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

    def denoise(self, frame: Frame, progress: Callable[[int, int], None] | None = None, *, passes: int = 1) -> np.ndarray:
        """Denoised color of a frame (with albedo and normal unless the model is color-only);
        `progress(done, total)` is called per tile; `passes` as in `denoise_arrays`."""
        if self.backend.config.aux and not frame.has_aux:
            missing = " and ".join(r for r in ("albedo", "normal") if getattr(frame, r) is None)
            raise AovError(
                f"{frame.path}: no {missing} AOV. The model needs color + albedo + normal: render them into the "
                "same EXR (see `mcdenoise info`), pass --albedo/--normal side files, or use --model color"
            )
        return self.denoise_arrays(frame.color, frame.albedo, frame.normal, progress, passes=passes)


def denoised_image(denoiser: Denoiser, frame: Frame, *, keep_aovs: bool = False,
                   progress: Callable[[int, int], None] | None = None,
                   passes: int = 1) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Channels and header of the output EXR: denoised color (+ the input's alpha, + AOVs on request)
    under the input's channel names' convention, and the input's header plus the model and backend used."""
    denoised = denoiser.denoise(frame, progress, passes=passes)
    channels = frame_channels(denoised, alpha=frame.alpha, albedo=frame.albedo if keep_aovs else None,
                              normal=frame.normal if keep_aovs else None)
    header = dict(frame.header)
    header["mcdenoise_model"] = f"{denoiser.model_name} {denoiser.backend.model_version}"
    # auto picks by machine (OpenVINO bfloat16 on some CPUs): the frame says what computed it
    header["mcdenoise_backend"] = f"{denoiser.backend.name} {denoiser.backend.device}"
    if passes > 1:
        header["mcdenoise_passes"] = str(passes)
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
    passes: int = 1,
) -> Path:
    """Read an EXR, denoise it, write the result with the input's pixel type and header (atomically)."""
    check_passes(passes)  # before reading a possibly large file
    frame = read_frame(source, layer=layer, albedo=albedo, normal=normal)
    channels, header = denoised_image(denoiser, frame, keep_aovs=keep_aovs, progress=progress, passes=passes)
    protect = [p for p in (source, albedo, normal) if p is not None]
    return write_exr(output, channels, header=header, pixel_type=input_pixel_type(frame), compression=compression,
                     protect=protect)
