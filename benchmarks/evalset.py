"""Shared by the benchmark scripts: evaluation views, denoisers side by side, and the result table.

Metrics and references come from `mcdenoise.evaluate` (the path `mcdenoise eval` uses); this module
adds timing, the pixel-filter split and the benchmark tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcdenoise.evaluate import compare, oidn_method, read_reference
from mcdenoise.exr import read_frame
from mcdenoise.frame import Frame
from mcdenoise.layout import scan_scene
from mcdenoise.metrics import psnr_lowpass

Method = Callable[[Frame], np.ndarray]  # frame -> (H, W, 3) linear denoised color


@dataclass
class EvalView:
    """One held-out view: a noisy render to denoise and its reference."""

    label: str
    filter: str  # pixel filter: box, gaussian or ? (from the view name or the file header)
    frame: Frame
    reference: np.ndarray


def eval_views(scene_dirs: Sequence[str | Path], render: int = 0) -> list[EvalView]:
    """Every view with a reference.exr in the scene directories, denoising its `render`-th render."""
    views = []
    for scene_dir in scene_dirs:
        scene = scan_scene(scene_dir)
        for v in scene.views:
            if v.reference is None or len(v.renders) <= render:
                continue
            r = v.renders[render]
            frame = read_frame(r.path, albedo=r.albedo, normal=r.normal)
            filt = str(frame.header.get("mcdenoise_filter", "")) or next(
                (f for f in ("box", "gaussian") if v.name.endswith(f"_{f}")), "?")
            views.append(EvalView(f"{scene.path.name}/{v.name}", filt, frame, read_reference(v.reference)))
    if not views:
        raise SystemExit("no views with reference.exr in " + ", ".join(map(str, scene_dirs)))
    return views


def oidn(quality: str = "high") -> Method:
    """OIDN through pyoidn, HDR mode, with albedo and normal (the baseline; `mcdenoise.evaluate.oidn_method`)."""
    run = oidn_method(quality)
    if run is None:
        raise SystemExit("pyoidn is not installed: pip install 'mcdenoise[bench]'")
    return run


def table_backend(model: str | None) -> str:
    """The backend every table in BENCHMARKS.md measured mcdenoise on: ONNX Runtime (float32) for the shipped
    models and .onnx files, PyTorch for .pt checkpoints (what `auto` picked before it preferred OpenVINO)."""
    from mcdenoise.backends import auto_backend

    return auto_backend(model, "cpu", "fp32")


def ours(model: str | None = None, passes: int = 1, energy_match: bool = True, backend: str | None = None) -> Method:
    """mcdenoise through its library inference path (CPU; `backend`, by default `table_backend`), with `passes`
    oriented denoises averaged."""
    from mcdenoise.infer import Denoiser

    denoiser = Denoiser(model, backend=backend or table_backend(model), device="cpu", energy_match=energy_match)
    return lambda frame: denoiser.denoise(frame, passes=passes)


def evaluate(views: Sequence[EvalView], methods: dict[str, Method]) -> list[dict]:
    """PSNR/relMSE/seconds/mean-luminance ratio/highlight relMSE/low-frequency PSNR/trimmed relMSE of the input and every method on every view."""
    def scores(image: np.ndarray, ref: np.ndarray, seconds: float) -> tuple[float, ...]:
        m = compare(image, ref, flip=False)  # the tuple's order is the JSON's: new figures go at the end
        return m["psnr"], m["relmse"], seconds, m["lum"], m["rel_hi"], psnr_lowpass(image, ref), m["rel_trim"]

    rows = []
    for view in views:
        ref = view.reference
        row = {"view": view.label, "filter": view.filter, "input": scores(view.frame.color, ref, 0.0)}
        for name, method in methods.items():
            method(view.frame)  # warm-up (first-call allocations, model caches) outside the timing
            t = time.perf_counter()
            out = method(view.frame)
            seconds = time.perf_counter() - t
            row[name] = scores(out, ref, seconds)
        rows.append(row)
    return rows


def print_table(rows: list[dict], methods: Sequence[str], title: str, baseline: str | None = "oidn-high") -> None:
    """Per-view lines, then the mean per pixel filter; PSNR after (v/(1+v))^(1/2.2), relMSE eps 0.01."""
    cols = ["input", *methods]
    print(f"\n{title}")
    print("PSNR in dB after (v/(1+v))^(1/2.2) (higher is better) | relMSE (lower is better)")
    head = f"{'view':<28} {'filter':<9}" + "".join(f"{c:>22}" for c in cols)
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['view']:<28} {r['filter']:<9}" + "".join(f"{r[c][0]:>12.2f} | {r[c][1]:<7.4f}" for c in cols))
    print("-" * len(head))
    for filt in sorted({r["filter"] for r in rows}):
        sel = [r for r in rows if r["filter"] == filt]
        line = f"{'MEAN (' + str(len(sel)) + ' views)':<28} {filt:<9}"
        line += "".join(f"{np.mean([r[c][0] for r in sel]):>12.2f} | {np.mean([r[c][1] for r in sel]):<7.4f}" for c in cols)
        print(line)
        lum = f"{'  mean luminance / ref':<38}" + "".join(f"{np.mean([r[c][3] for r in sel]):>22.4f}" for c in cols)
        worst = f"{'  worst |lum/ref - 1|':<38}" + "".join(
            f"{max(abs(r[c][3] - 1) for r in sel):>22.2%}" for c in cols)
        hi = f"{'  relMSE on highlights (ref lum > 1)':<38}" + "".join(
            f"{np.nanmean([r[c][4] for r in sel]) if any(r[c][4] == r[c][4] for r in sel) else float('nan'):>22.4f}"
            for c in cols)
        trim = f"{'  relMSE without worst 0.1% pixels':<38}" + "".join(
            f"{np.mean([r[c][6] for r in sel]):>22.4f}" for c in cols)
        low = f"{'  low-frequency PSNR (blotches)':<38}" + "".join(f"{np.mean([r[c][5] for r in sel]):>22.2f}" for c in cols)
        print(lum)
        print(worst)
        print(hi)
        print(trim)
        print(low)
        if baseline and baseline in methods:
            for m in methods:
                if m == baseline:
                    continue
                gap = np.mean([r[m][0] - r[baseline][0] for r in sel])
                ratio = np.sum([r[m][2] for r in sel]) / max(np.sum([r[baseline][2] for r in sel]), 1e-9)
                print(f"    {m} vs {baseline} on {filt}: {gap:+.2f} dB, time ratio {ratio:.2f}x")
