"""The 8 flips/transposes of an image: training's augmentation and `denoise --passes` share one convention."""

from __future__ import annotations

import numpy as np

# Orientation k, bit by bit: 4 = transpose, 2 = flip rows, 1 = flip columns (applied in that order).
ORIENTATIONS = ("identity", "flip x", "flip y", "flip x+y", "transpose", "transpose + flip x",
                "transpose + flip y", "transpose + flip x+y")


def orient(a: np.ndarray, k: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Orientation `k` of an image whose rows and columns are `axes` ((0, 1): H, W, C; (1, 2): C, H, W); a view."""
    rows, cols = axes
    if k & 4:
        a = np.swapaxes(a, rows, cols)
    if k & 2:
        a = np.flip(a, rows)
    if k & 1:
        a = np.flip(a, cols)
    return a


def unorient(a: np.ndarray, k: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The inverse of `orient(., k, axes)`."""
    rows, cols = axes
    if k & 1:
        a = np.flip(a, cols)
    if k & 2:
        a = np.flip(a, rows)
    if k & 4:
        a = np.swapaxes(a, rows, cols)
    return a
