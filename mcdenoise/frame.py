"""The in-memory frame: linear color plus optional albedo/normal AOVs, and where each came from."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcdenoise.channels import BufferSource

log = logging.getLogger(__name__)


@dataclass
class Frame:
    """One render: buffers are (H, W, 3) float32 in the file's display window, alpha is (H, W)."""

    color: np.ndarray  # linear HDR radiance, finite and >= 0 after sanitizing
    albedo: np.ndarray | None = None  # as the renderer wrote it (may exceed 1 at emitters)
    normal: np.ndarray | None = None  # as the renderer wrote it (world or camera space)
    alpha: np.ndarray | None = None  # the color pass's alpha, kept for writing back
    header: dict[str, Any] = field(default_factory=dict)  # the color part's EXR header
    sources: dict[str, BufferSource] = field(default_factory=dict)  # role -> origin
    layer: str = ""  # view layer used
    layers: tuple[str, ...] = ()  # every view layer that holds color
    path: str = ""  # file (or upload name) the color came from
    sanitized: dict[str, int] = field(default_factory=dict)  # "<role> <what>" -> pixel count

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.color.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.color.shape[1])

    @property
    def has_aux(self) -> bool:
        """True when both albedo and normal are present."""
        return self.albedo is not None and self.normal is not None

    @property
    def pixel_type(self) -> str:
        """The color channels' EXR pixel type ("HALF", "FLOAT" or "UINT")."""
        source = self.sources.get("color")
        return source.channels[0].pixel_type if source else "FLOAT"


def sanitize(buffer: np.ndarray, role: str, *, clamp_negative: bool) -> dict[str, int]:
    """Replace NaN/Inf with 0 (and negatives with 0 if asked) in place; return counts of pixels fixed."""
    counts: dict[str, int] = {}
    bad = ~np.isfinite(buffer)
    if bad.any():
        counts[f"{role} non-finite"] = int(bad.any(axis=-1).sum()) if buffer.ndim == 3 else int(bad.sum())
        buffer[bad] = 0.0
    if clamp_negative:
        neg = buffer < 0
        if neg.any():
            counts[f"{role} negative"] = int(neg.any(axis=-1).sum()) if buffer.ndim == 3 else int(neg.sum())
            np.maximum(buffer, 0.0, out=buffer)
    return counts


def sanitize_frame(frame: Frame) -> Frame:
    """Make every buffer finite and color non-negative, logging one warning with the counts."""
    counts: dict[str, int] = {}
    counts.update(sanitize(frame.color, "color", clamp_negative=True))
    for role in ("albedo", "normal"):
        buffer = getattr(frame, role)
        if buffer is not None:
            counts.update(sanitize(buffer, role, clamp_negative=False))
    if frame.alpha is not None:
        counts.update(sanitize(frame.alpha, "alpha", clamp_negative=False))
    if counts:
        detail = ", ".join(f"{n} {what}" for what, n in counts.items())
        log.warning("%s: replaced bad pixels with 0: %s", frame.path, detail)
    frame.sanitized = counts
    return frame
