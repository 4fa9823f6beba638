"""The published quality benchmark: mcdenoise vs OIDN on scenes never used for training, at 2, 4, 16 spp.

    python benchmarks/quality.py                              # renders what is missing, then evaluates
    python benchmarks/quality.py --named cornell --procedural 2 --fit-minutes 1   # a quick run

Evaluation set (rendered into --data, reused when present):
  * every named sample scene (`mcdenoise render --list`): camera cam0 is evaluated, cam1 is what the
    per-scene `fit` trains on;
  * --procedural N scenes with seeds from 9000 (the shipped models train on seeds 0-47): cam0 evaluated,
    cam1 + cam2 for the fit;
  * both pixel filters (box, and gaussian = correlated noise); one noisy render per spp of each
    evaluated view, a --reference-spp reference; 4 renders of 4 spp of each fit view.
Methods on every evaluated render: the noisy input; the shipped models through ONNX Runtime;
`fit` for --fit-minutes from the shipped model on the scene's other views (its own noisy renders
only); OIDN fast/balanced/high with albedo + normal (clean_aux=False). Metrics: tonemapped PSNR,
relMSE, SSIM, HDR-FLIP (mcdenoise.evaluate). Writes benchmarks/results/quality.json and
quality_psnr_vs_spp.png (--out names others), and prints per-scene and mean tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np
from evalset import table_backend

from mcdenoise.checkpoint import load_checkpoint
from mcdenoise.errors import McDenoiseError
from mcdenoise.evaluate import OIDN_QUALITIES, compare, oidn_method, read_reference
from mcdenoise.exr import read_frame
from mcdenoise.infer import Denoiser
from mcdenoise.layout import scan_scene

RESULTS = Path(__file__).resolve().parent / "results"
FIRST_SEED = 9000
METHODS_ORDER = ("input", "mcdenoise", "mcdenoise-lean", "mcdenoise-fit", "oidn-fast", "oidn-balanced", "oidn-high")


def render_set(data: Path, scenes: list, spps: list[int], reference_spp: int, size: int) -> None:
    """Render what is missing: eval views at every spp (+ reference), fit views at 4 spp."""
    from mcdenoise.render import RenderSettings, render_scene

    filters = ("box", "gaussian")
    for spec in scenes:
        views = [v.name for v in spec.views]
        eval_view, fit_views = views[0], views[1:]
        for spp in spps:
            ref = reference_spp if spp == spps[0] else 0
            render_scene(spec, data / f"spp{spp}", RenderSettings(spp=spp, count=1, reference_spp=ref, width=size,
                                                                  height=size, filters=filters), views=[eval_view])
        for spp in spps[1:]:  # one reference per view, shared by every spp
            for f in filters:
                src = data / f"spp{spps[0]}" / spec.name / f"{eval_view}_{f}" / "reference.exr"
                dst = data / f"spp{spp}" / spec.name / f"{eval_view}_{f}" / "reference.exr"
                if not dst.exists():
                    shutil.copyfile(src, dst)
        render_scene(spec, data / "fit", RenderSettings(spp=4, count=4, width=size, height=size, filters=filters),
                     views=fit_views)


def fitted_model(data: Path, scene: str, model: str, minutes: float, out: Path) -> Path:
    """Fine-tune `model` on the scene's fit views for `minutes` exactly as `mcdenoise fit DIR --init MODEL
    --minutes M` does with its defaults (a held-out pair of renders validates, the best model is kept);
    reused when present."""
    from mcdenoise.train import TrainConfig, fit

    path = out / f"{scene}.pt"
    if not path.exists():
        fit(TrainConfig(scenes=[str(data / "fit" / scene)], output=str(path), init=model, minutes=minutes,
                        checkpoint_minutes=minutes + 1), progress=False)
    return path


def main() -> None:
    """Render, denoise, score, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/quality", help="where the evaluation renders live")
    parser.add_argument("--named", nargs="*", help="named scenes (default: all)")
    parser.add_argument("--procedural", type=int, default=10, help="procedural scenes (seeds from 9000)")
    parser.add_argument("--spp", type=int, nargs="+", default=[4, 2, 16], help="input spp (first: reference owner)")
    parser.add_argument("--reference-spp", type=int, default=1024)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model", default="default", help="the model evaluated as `mcdenoise` and fitted from: "
                        "a shipped name or a .pt file (default: default)")
    parser.add_argument("--fit-minutes", type=float, default=3.0, help="fit budget per scene (0: skip the fit)")
    parser.add_argument("--no-flip", action="store_true")
    parser.add_argument("--out", default="quality", help="results name: benchmarks/results/OUT.json and "
                        "OUT_psnr_vs_spp.png (default: quality, the published full run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from mcdenoise.scenes import SCENES, get_scene, procedural_scene

    scenes = [get_scene(n) for n in (args.named if args.named is not None else list(SCENES))]
    scenes += [procedural_scene(FIRST_SEED + i) for i in range(args.procedural)]
    data = Path(args.data)

    try:  # a bad --model is reported before any rendering, in one line
        shipped = {"mcdenoise": Denoiser(args.model, backend=table_backend(args.model)),
                   "mcdenoise-lean": Denoiser("lean", backend=table_backend("lean"))}
        if args.fit_minutes > 0:
            load_checkpoint(args.model)  # the fit starts from a PyTorch checkpoint, not an .onnx file
    except McDenoiseError as exc:
        parser.error(str(exc))
    # fitted models are kept per (model, budget): a rerun with another of either must not reuse them
    fit_dir = data / f"fitted_{Path(args.model).stem}_{args.fit_minutes:g}min"
    render_set(data, scenes, args.spp, args.reference_spp, args.size)
    oidn = {f"oidn-{q}": oidn_method(q) for q in OIDN_QUALITIES}
    rows = []
    for spec in scenes:
        fit_path = fitted_model(data, spec.name, args.model, args.fit_minutes, fit_dir) if args.fit_minutes > 0 else None
        fitted = Denoiser(fit_path, backend=table_backend(fit_path)) if fit_path else None
        for spp in args.spp:
            for view in scan_scene(data / f"spp{spp}" / spec.name).views:
                ref = read_reference(view.reference)
                frame = read_frame(view.renders[0].path)
                images = {"input": frame.color}
                images.update({name: d.denoise(frame) for name, d in shipped.items()})
                if fitted is not None:
                    images["mcdenoise-fit"] = fitted.denoise(frame)
                images.update({name: run(frame) for name, run in oidn.items() if run is not None})
                filt = view.name.rsplit("_", 1)[-1]
                for method, img in images.items():
                    rows.append({"scene": spec.name, "view": view.name, "filter": filt, "spp": spp, "method": method,
                                 **compare(img, ref, flip=not args.no_flip)})
                print(f"{spec.name:<12} {view.name:<14} {spp:>3} spp  " + "  ".join(
                    f"{r['method']} {r['psnr']:.2f}" for r in rows[-len(images):]), flush=True)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(rows, indent=1))
    methods = [m for m in METHODS_ORDER if any(r["method"] == m for r in rows)]
    print("\nMean tonemapped PSNR (dB) / relMSE / relMSE without the worst 0.1% of pixels / FLIP over scenes, "
          "by pixel filter and spp")
    print(f"| filter | spp | {' | '.join(methods)} |")
    print("|---|---|" + "---|" * len(methods))
    for filt in ("box", "gaussian"):
        for spp in sorted(args.spp):
            sel = [r for r in rows if r["filter"] == filt and r["spp"] == spp]
            cells = []
            for m in methods:
                mine = [r for r in sel if r["method"] == m]
                flip = f" / {np.mean([r['flip'] for r in mine]):.3f}" if mine and "flip" in mine[0] else ""
                cells.append(f"{np.mean([r['psnr'] for r in mine]):.2f} / {np.mean([r['relmse'] for r in mine]):.4f}"
                             f" / {np.mean([r['rel_trim'] for r in mine]):.4f}{flip}")
            print(f"| {filt} | {spp} | " + " | ".join(cells) + " |")
    plot(rows, methods, sorted(args.spp), RESULTS / f"{args.out}_psnr_vs_spp.png")


def plot(rows: list[dict], methods: list[str], spps: list[int], path: Path) -> None:
    """PSNR vs spp per method, one panel per pixel filter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, filt in zip(axes, ("box", "gaussian")):
        for m in methods:
            ys = [np.mean([r["psnr"] for r in rows if r["filter"] == filt and r["spp"] == s and r["method"] == m])
                  for s in spps]
            ax.plot(spps, ys, marker="o", label=m, linestyle="--" if m.startswith("oidn") else "-")
        ax.set_xscale("log", base=2)
        ax.set_xticks(spps, [str(s) for s in spps])
        ax.set_title(f"{filt} pixel filter")
        ax.set_xlabel("samples per pixel")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("tonemapped PSNR (dB), mean over scenes")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
