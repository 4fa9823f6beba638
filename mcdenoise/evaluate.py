"""Compare denoised frames with references: the metrics of `mcdenoise eval`, per pair and per scene."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcdenoise import metrics
from mcdenoise.errors import McDenoiseError
from mcdenoise.exr import read_frame
from mcdenoise.frame import Frame
from mcdenoise.layout import scan_scene

log = logging.getLogger(__name__)

# name -> (what it is, True when higher is better, None when 1 is best). The order is the table's column order.
METRICS: dict[str, tuple[str, bool | None]] = {
    "psnr": ("PSNR in dB after the (v/(1+v))^(1/2.2) tonemap, peak 1", True),
    "relmse": ("mean (x - ref)^2 / (ref^2 + 0.01) of linear values", False),
    "rel_trim": ("relMSE without the worst 0.1% of pixels (a few caustic pixels can dominate relMSE)", False),
    "rel_hi": ("relMSE over the pixels whose reference luminance is above 1 (emitters, highlights)", False),
    "smape": ("mean |x - ref| / (|x| + |ref| + 0.01) of linear values", False),
    "ssim": ("SSIM (Gaussian window, sigma 1.5) of the tonemapped images", True),
    "flip": ("mean HDR-FLIP (NVIDIA flip-evaluator), 0 = identical", False),
    "lum": ("mean linear luminance / the reference's: 1 = no energy gained or lost", None),  # closer to 1
}

Method = Callable[[Frame], np.ndarray]  # frame -> (H, W, 3) denoised linear color


def read_reference(path: str | os.PathLike) -> np.ndarray:
    """A reference image's color; NaN/Inf in a reference is an error (metrics against it mean nothing)."""
    frame = read_frame(path)
    bad = {k: n for k, n in frame.sanitized.items() if k.endswith("non-finite")}
    if bad:
        raise McDenoiseError(f"{path}: the reference has {sum(bad.values())} NaN/Inf pixels; re-render it")
    return frame.color


def compare(image: np.ndarray, reference: np.ndarray, *, flip: bool = True) -> dict[str, float]:
    """Every metric of METRICS (flip only when asked and flip-evaluator is installed)."""
    if image.shape != reference.shape:
        raise McDenoiseError(f"image is {image.shape[1]}x{image.shape[0]} but the reference is "
                             f"{reference.shape[1]}x{reference.shape[0]}")
    out = {"psnr": metrics.psnr_tonemapped(image, reference), "relmse": metrics.relmse(image, reference),
           "rel_trim": metrics.relmse_trimmed(image, reference),
           "rel_hi": metrics.relmse_highlights(image, reference),
           "smape": metrics.smape(image, reference), "ssim": metrics.ssim(image, reference),
           "lum": metrics.luminance_ratio(image, reference)}
    if flip:
        try:
            out["flip"] = metrics.flip_hdr(image, reference)[0]
        except ImportError:
            log.info("flip-evaluator is not installed: no FLIP column (pip install 'mcdenoise[bench]')")
    return out


@dataclass
class ViewResult:
    """One view: its reference, the images compared, and their metrics."""

    label: str
    reference: np.ndarray
    images: dict[str, np.ndarray] = field(default_factory=dict)  # method -> (H, W, 3), "noisy" first
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> metric -> value


def evaluate_scene(scene_dir: str | os.PathLike, methods: dict[str, Method], *, render: int = 0,
                   flip: bool = True) -> list[ViewResult]:
    """Denoise the `render`-th noisy render of every view with a reference; compare every method and the input."""
    scene = scan_scene(scene_dir)
    views = [v for v in scene.views if v.reference is not None]
    if not views:
        raise McDenoiseError(f"{scene_dir}: no view has a {'reference.exr'}; nothing to compare against")
    results = []
    for view in views:
        if len(view.renders) <= render:
            raise McDenoiseError(f"{view.path}: has no render number {render}")
        r = view.renders[render]
        frame = read_frame(r.path, albedo=r.albedo, normal=r.normal)
        result = ViewResult(f"{Path(scene_dir).name}/{view.name}", read_reference(view.reference))
        result.images["noisy"] = frame.color
        for name, method in methods.items():
            result.images[name] = method(frame)
        result.metrics = {name: compare(img, result.reference, flip=flip) for name, img in result.images.items()}
        results.append(result)
    return results


def evaluate_pair(denoised: str | os.PathLike, reference: str | os.PathLike, *, noisy: str | os.PathLike | None = None,
                  oidn: Method | None = None, flip: bool = True) -> ViewResult:
    """Score one denoised EXR against its reference, beside the noisy input (and `oidn` run on it) when given."""
    ref = read_reference(reference)
    result = ViewResult(Path(denoised).name, ref)
    noisy_frame = read_frame(noisy) if noisy is not None else None
    if noisy_frame is not None:
        result.images["noisy"] = noisy_frame.color
    result.images["mcdenoise"] = read_frame(denoised).color
    if noisy_frame is not None and oidn is not None:
        result.images["oidn-high"] = oidn(noisy_frame)
    for name, img in result.images.items():
        try:
            result.metrics[name] = compare(img, ref, flip=flip)
        except McDenoiseError as exc:
            raise McDenoiseError(f"{noisy if name == 'noisy' else denoised} vs {reference}: {exc}") from None
    return result


OIDN_QUALITIES = ("fast", "balanced", "high")  # OIDN's filter qualities (its "default" is "high")


def oidn_method(quality: str = "high") -> Method | None:
    """OIDN (pyoidn, HDR, with albedo and normal, clean_aux=False) when installed, else None: the baseline."""
    if quality not in OIDN_QUALITIES:
        raise McDenoiseError(f"unknown OIDN quality {quality!r}; use one of {', '.join(OIDN_QUALITIES)}")
    try:
        import pyoidn
    except ImportError:
        return None

    def run(frame: Frame) -> np.ndarray:
        color = np.ascontiguousarray(frame.color, np.float32)
        if not frame.has_aux:
            return np.asarray(pyoidn.denoise(color, hdr=True, quality=quality))
        # OIDN expects albedo in [0, 1] and normals in [-1, 1]; renderers write emitter albedo > 1.
        albedo = np.clip(frame.albedo, 0.0, 1.0).astype(np.float32)
        normal = np.clip(frame.normal, -1.0, 1.0).astype(np.float32)
        return np.asarray(pyoidn.denoise(color, albedo, normal, hdr=True, quality=quality))

    return run
