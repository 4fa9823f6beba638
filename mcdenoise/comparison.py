"""Side-by-side comparison images (`mcdenoise eval --png`): full frames, zoomed crops of the hardest
region, and error maps, with each panel's metrics under it. Drawn with matplotlib."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mcdenoise import color
from mcdenoise.atomic import atomic_write
from mcdenoise.errors import McDenoiseError
from mcdenoise.metrics import relmse_map

CROP_FRACTION = 0.25  # crop side as a fraction of the shorter image side
DISPLAY_KEY = 0.18  # display exposure: the frame's log-average luminance maps here


def display(image: np.ndarray, exposure: float) -> np.ndarray:
    """Linear HDR -> sRGB [0, 1] for viewing (one exposure for every panel, so they compare)."""
    return np.clip(color.srgb_forward(np.clip(image * exposure, 0, None) / (1 + image * exposure)), 0, 1)


def hardest_crop(error: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left corner of the `side` x `side` window with the largest summed error."""
    h, w = error.shape
    side = min(side, h, w)
    s = np.pad(error.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
    sums = s[side:, side:] - s[:-side, side:] - s[side:, :-side] + s[:-side, :-side]  # (h-side+1, w-side+1)
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(y), int(x)


def comparison_png(path: str | os.PathLike, panels: dict[str, np.ndarray], reference: np.ndarray,
                   scores: dict[str, dict[str, float]], *, focus: str, title: str = "") -> Path:
    """Write a PNG: rows = full frame, crop of the hardest region for `focus`, error map; one column per panel."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError as exc:
        raise McDenoiseError("--png needs matplotlib: pip install 'mcdenoise[bench]'") from exc
    target = Path(path)
    if not target.parent.is_dir():
        raise McDenoiseError(f"{target}: folder {target.parent} does not exist")
    columns = {**panels, "reference": reference}
    exposure = float(color.autoexposure(reference))
    side = max(8, int(min(reference.shape[:2]) * CROP_FRACTION))
    y, x = hardest_crop(relmse_map(panels[focus], reference), side)
    errors = {name: relmse_map(img, reference) for name, img in panels.items()}
    vmax = max(float(np.percentile(e, 99)) for e in errors.values()) or 1.0

    fig, axes = plt.subplots(3, len(columns), figsize=(3.2 * len(columns), 10.2), squeeze=False)
    for col, (name, img) in enumerate(columns.items()):
        shown = display(img, exposure)
        ax = axes[0, col]
        ax.imshow(shown, interpolation="nearest")
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), side, side, fill=False, edgecolor="#ff3030", linewidth=1.5))
        ax.set_title(name, fontsize=11, fontweight="bold")
        axes[1, col].imshow(shown[y:y + side, x:x + side], interpolation="nearest")
        s = scores.get(name)
        label = "reference" if s is None else "  ".join(
            f"{k} {v:.2f}" if k == "psnr" else f"{k} {v:.4f}" for k, v in s.items() if k in ("psnr", "relmse", "flip"))
        axes[1, col].set_xlabel(label, fontsize=8)
        if name in errors:
            im = axes[2, col].imshow(errors[name], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            axes[2, col].set_xlabel("relMSE per pixel", fontsize=8)
        else:
            axes[2, col].axis("off")
        for ax in axes[:, col]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=axes[2, :].tolist(), fraction=0.02, pad=0.01)
    axes[1, 0].set_ylabel(f"hardest {side}x{side} region", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    atomic_write(target, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return target
