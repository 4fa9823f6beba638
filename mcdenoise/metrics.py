"""Image quality metrics used by validation and the benchmarks (numpy, linear HDR inputs)."""

from __future__ import annotations

import numpy as np

from mcdenoise import color

RELMSE_EPS = 0.01  # relMSE = (x - ref)^2 / (ref^2 + eps), as in the rendering literature


def psnr_tonemapped(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB after the Noise2Noise tonemap (v/(1+v))^(1/2.2), peak 1, no exposure applied."""
    a = color.n2n_forward(np.asarray(image, dtype=np.float64))
    b = color.n2n_forward(np.asarray(reference, dtype=np.float64))
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def relmse(image: np.ndarray, reference: np.ndarray, eps: float = RELMSE_EPS) -> float:
    """Mean relative squared error of linear values (channels averaged)."""
    x = np.asarray(image, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    return float(np.mean((x - r) ** 2 / (r**2 + eps)))
