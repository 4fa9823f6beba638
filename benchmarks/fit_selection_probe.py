"""How `fit` picks its model: every validation's paired block errors against the starting model's, and
the held-out camera's score of the weights at each validation, for a few quality-set scenes.

    python benchmarks/fit_selection_probe.py --data data/quality10 --scenes cornell interior glass --minutes 10

For each scene: `fit` the model on the scene's other camera (`<data>/fit/<scene>`) with --patience 0, as
`mcdenoise fit` would (held-out renders and tiles); at each validation record the per-16x16-block
validation errors and the weights, then score those weights on the evaluated camera
(`<data>/spp4/<scene>/cam0_*`, against its reference). Prints, per validation, the paired tests `fit`
could use (mean: `fit`'s own; median and sign: robust to a few firefly blocks, but biased under skewed
noise; tm: one render of the pair as input; tmfull: both, on the whole frame) and PSNR / relMSE.
(Stop 21's variants on the bottom rows, and the linearized-tonemap ones it dropped, are in git history.)
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch

import mcdenoise.train as train_mod
from mcdenoise.exr import read_frame
from mcdenoise.infer import Denoiser
from mcdenoise.data import holdout_tiles
from mcdenoise.loss import block_means, masked_block_means, validation_loss
from mcdenoise.metrics import psnr_tonemapped, relmse
from mcdenoise.pipeline import DenoisePipeline
from mcdenoise.train import TrainConfig, fit



def paired_tests(new: np.ndarray, base: np.ndarray) -> dict[str, float]:
    """z-scores of `new` being lower than `base` per block (positive: better): mean, median (bootstrap), sign."""
    d = new - base
    n = len(d)
    z_mean = -float(d.mean()) / max(float(d.std(ddof=1)) / math.sqrt(n), 1e-12)
    rng = np.random.default_rng(0)
    medians = np.median(d[rng.integers(0, n, size=(500, n))], axis=1)
    z_median = -float(np.median(d)) / max(float(medians.std()), 1e-12)
    wins = float((d < 0).sum())
    z_sign = (wins - n / 2) / math.sqrt(n / 4)
    return {"z_mean": z_mean, "z_median": z_median, "z_sign": z_sign, "wins": wins / n}


@torch.no_grad()
def alt_blocks(net, views, cache, device) -> dict[str, np.ndarray]:  # noqa: ANN001 - validate's own arguments
    """Per-block errors of other unbiased validations on the held-out pair: one render as input on the held-out
    tiles (tm), and both renders in turn on the whole frame (tmfull: it includes pixels training saw)."""
    pipe = DenoisePipeline(net).eval()
    out: dict[str, list] = {"tm": [], "tmfull": []}
    for view in views:
        if len(view.renders) < 2 or view.reference is not None:
            continue
        frames = [cache.get(r) for r in view.renders[:2]]
        to = lambda arr: torch.from_numpy(np.asarray(arr, np.float32))[None].to(device)  # noqa: E731
        preds = [pipe(to(f.color), to(f.albedo), to(f.normal))[0].float().cpu().numpy() for f in frames]
        errs = [validation_loss(preds[i], frames[1 - i].color.astype(np.float32), frames[i].color.astype(np.float32))
                for i in (0, 1)]  # the weights `fit` uses since stop 21
        held = view.region == "held"
        out["tm"].append(masked_block_means(errs[0], holdout_tiles(*errs[0].shape)) if held else block_means(errs[0]))
        out["tmfull"].append(block_means(0.5 * (errs[0] + errs[1])))
    return {k: np.concatenate(v) for k, v in out.items() if v}


def score(weights: dict[str, torch.Tensor], ckpt_template: dict, eval_dir: Path) -> dict[str, float]:
    """PSNR / relMSE of the weights on the evaluated camera's box and gaussian views."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.pt"
        torch.save({**ckpt_template, "model": weights, "best": None, "ema": None}, path)
        den = Denoiser(str(path), backend="torch", device="cpu")
        out = {}
        for view in sorted(eval_dir.glob("cam0_*")):
            frame = read_frame(view / "render_000.exr")
            ref = read_frame(view / "reference.exr").color
            y = den.denoise_arrays(frame.color, frame.albedo, frame.normal)
            name = view.name.split("_", 1)[1]
            out[f"{name}_psnr"] = psnr_tonemapped(y.transpose(2, 0, 1), ref.transpose(2, 0, 1))
            out[f"{name}_relmse"] = relmse(y, ref)
        return out


def probe(data: Path, scene: str, model: str, minutes: float, out_dir: Path) -> list[dict]:
    """Fit one scene and score every validation's weights."""
    records: list[dict] = []
    real_validate = train_mod.validate

    def recording_validate(net, views, cache, device):  # noqa: ANN001, ANN202 - validate's own signature
        metrics = real_validate(net, views, cache, device)
        state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
        records.append({"blocks": metrics.get("val_blocks"), "val_loss": metrics.get("val_loss"), "state": state,
                        "alt": alt_blocks(net, views, cache, device)})
        return metrics

    train_mod.validate = recording_validate
    try:
        output = out_dir / f"{scene}.pt"
        fit(TrainConfig(scenes=[str(data / "fit" / scene)], output=str(output), init=model, minutes=minutes,
                        patience=0, val_every=500, checkpoint_minutes=1e9), progress=False)
    finally:
        train_mod.validate = real_validate
    template = torch.load(output, map_location="cpu", weights_only=True)
    base = records[0]["blocks"]
    rows = []
    for i, rec in enumerate(records):
        row = {"scene": scene, "validation": i, "val_loss": rec["val_loss"], **paired_tests(rec["blocks"], base)}
        for name, blocks in rec["alt"].items():
            row[f"z_{name}"] = paired_tests(blocks, records[0]["alt"][name])["z_mean"]
        row.update(score(rec["state"], template, data / "spp4" / scene))
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return rows


def main() -> None:
    """Run the probe and write its rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/quality10"))
    parser.add_argument("--scenes", nargs="+", default=["cornell", "interior", "glass"])
    parser.add_argument("--model", default="default")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scene in args.scenes:
            rows += probe(args.data, scene, args.model, args.minutes, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
