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


def relmse_map(image: np.ndarray, reference: np.ndarray, eps: float = RELMSE_EPS) -> np.ndarray:
    """Per-pixel relMSE (H, W) of (H, W, 3) linear images, channels averaged."""
    x = np.asarray(image, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    return np.mean((x - r) ** 2 / (r**2 + eps), axis=-1)


RELMSE_TRIM = 0.001  # the fraction of worst pixels relmse_trimmed leaves out, as rendering papers report


def relmse_trimmed(image: np.ndarray, reference: np.ndarray, trim: float = RELMSE_TRIM,
                   eps: float = RELMSE_EPS) -> float:
    """relMSE without the `trim` fraction of pixels with the largest error (channels averaged per pixel).

    A handful of caustic or firefly pixels can carry most of an image's relMSE and swing it by 2x
    between two denoisers of equal PSNR; without them the figure says how the rest of the image
    fares (NaN for an empty image). `image` and `reference` are (H, W, 3)."""
    per_pixel = relmse_map(image, reference, eps).ravel()
    if per_pixel.size == 0:
        return float("nan")
    keep = per_pixel.size - int(per_pixel.size * trim)  # at least all but the worst; all when trim * n < 1
    return float(np.mean(np.partition(per_pixel, keep - 1)[:keep]))


HIGHLIGHT = 1.0  # reference luminance above which a pixel counts as an emitter or highlight


def relmse_highlights(image: np.ndarray, reference: np.ndarray, eps: float = RELMSE_EPS) -> float:
    """relMSE over the pixels whose reference luminance is above HIGHLIGHT (NaN when there are none).

    Overshoot at light sources and bright highlights is a few hundred pixels: invisible in the
    image-wide mean and in tonemapped PSNR, but what exposure changes and glare in compositing show.
    `image` and `reference` are (H, W, 3)."""
    r = np.asarray(reference, dtype=np.float64)
    bright = color.luminance(r) > HIGHLIGHT
    if not bright.any():
        return float("nan")
    x = np.asarray(image, dtype=np.float64)
    return float(np.mean((x[bright] - r[bright]) ** 2 / (r[bright] ** 2 + eps)))


def luminance_ratio(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean linear luminance of `image` over that of `reference` (1.0: no energy gained or lost).

    Unbiased denoisers keep it near 1; darkening (biased losses) or overshooting highlights moves it,
    which tonemapped PSNR hardly sees. `image` and `reference` are (H, W, 3)."""
    a = float(np.mean(color.luminance(np.asarray(image, dtype=np.float64))))
    b = float(np.mean(color.luminance(np.asarray(reference, dtype=np.float64))))
    return a / b if b > 0 else float("nan")


SMAPE_EPS = 0.01  # SMAPE = |x - ref| / (|x| + |ref| + eps)
SSIM_SIGMA = 1.5  # Gaussian window of SSIM (Wang et al. 2004): sigma 1.5, 11 taps
SSIM_RADIUS = 5
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2  # (K1 L)^2, (K2 L)^2 with L = 1 (tonemapped values)


def smape(image: np.ndarray, reference: np.ndarray, eps: float = SMAPE_EPS) -> float:
    """Symmetric mean absolute percentage error of linear values (channels averaged)."""
    x = np.asarray(image, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    return float(np.mean(np.abs(x - r) / (np.abs(x) + np.abs(r) + eps)))


def _blur(a: np.ndarray, sigma: float = SSIM_SIGMA, r: int = SSIM_RADIUS) -> np.ndarray:
    """Separable Gaussian blur of (H, W, C), edges replicated; by default SSIM's window."""
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    p = np.pad(a, ((r, r), (0, 0), (0, 0)), mode="edge")
    a = sum(taps[i] * p[i:i + a.shape[0]] for i in range(2 * r + 1))
    p = np.pad(a, ((0, 0), (r, r), (0, 0)), mode="edge")
    return sum(taps[i] * p[:, i:i + a.shape[1]] for i in range(2 * r + 1))


def psnr_lowpass(image: np.ndarray, reference: np.ndarray, sigma: float = 4.0) -> float:
    """PSNR of the tonemapped error after a Gaussian blur of `sigma` pixels: grain averages out, what is
    left is low-frequency error (the blotches a denoiser leaves on flat walls, and shifts of brightness)."""
    err = color.n2n_forward(np.asarray(image, dtype=np.float64)) - color.n2n_forward(np.asarray(reference, dtype=np.float64))
    mse = float(np.mean(_blur(err, sigma, int(3 * sigma)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def ssim_map(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (H, W) of the Noise2Noise-tonemapped images, averaged over channels."""
    x = color.n2n_forward(np.asarray(image, dtype=np.float64))
    y = color.n2n_forward(np.asarray(reference, dtype=np.float64))
    mx, my = _blur(x), _blur(y)
    vx, vy, cxy = _blur(x * x) - mx * mx, _blur(y * y) - my * my, _blur(x * y) - mx * my
    s = ((2 * mx * my + SSIM_C1) * (2 * cxy + SSIM_C2)) / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2))
    return s.mean(axis=-1)


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM on the tonemapped images (1 = identical)."""
    return float(ssim_map(image, reference).mean())


def flip_hdr(image: np.ndarray, reference: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean HDR-FLIP (NVIDIA's flip-evaluator) and its (H, W) error map; lower is better."""
    try:
        import flip_evaluator
    except ImportError as exc:
        raise ImportError("HDR-FLIP needs flip-evaluator: pip install 'mcdenoise[bench]'") from exc
    ref = np.ascontiguousarray(np.clip(reference, 0, None), np.float32)
    test = np.ascontiguousarray(np.clip(image, 0, None), np.float32)
    error_map, mean, _ = flip_evaluator.evaluate(ref, test, "HDR", applyMagma=False)
    return float(mean), np.asarray(error_map, np.float32).reshape(ref.shape[:2])
