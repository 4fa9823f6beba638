"""Score each snapshot of fit_trajectory_run.py: PSNR on the scene's evaluated camera (spp4/), and `fit`'s
validation under the old (one other render) and new (mean of the other renders) targets, with the blocks
the paired test needs. fit_trajectory_select.py then simulates the selection rules.

    python benchmarks/fit_trajectory_eval.py data/quality10 runs/traj cornell metals ...  # writes runs/traj/SCENE/traj.json
"""
import json
import sys
from pathlib import Path
import torch

import mcdenoise.train as T
from mcdenoise.checkpoint import load_checkpoint, model_from_checkpoint
from mcdenoise.data import FrameCache, View, collect_views, split_views
from mcdenoise.evaluate import compare, read_reference
from mcdenoise.exr import read_frame
from mcdenoise.infer import Denoiser
from mcdenoise.layout import scan_scene

data, out = Path(sys.argv[1]), Path(sys.argv[2])
for scene in sys.argv[3:]:
    views = collect_views([str(data / "fit" / scene)], "mean")
    if len(views) >= 3:
        _, (held,) = split_views(views, 1)
        val = {"old": [View(held.scene, held.name, held.renders[:2], None)], "new": [View(held.scene, held.name, held.renders, None)]}
    else:
        val = {"old": [View(v.scene, v.name, v.renders[-2:], None, region="held") for v in views],
               "new": [View(v.scene, v.name, v.renders, None, region="held") for v in views]}
    evals = [(v.name, read_frame(v.renders[0].path), read_reference(v.reference)) for v in scan_scene(data / "spp4" / scene).views]
    cache = FrameCache(2**31)
    rows = []
    for snap in sorted((out / scene).glob("snap_*.pt")):
        ckpt = load_checkpoint(snap)
        net = model_from_checkpoint(ckpt)
        row = {"step": int(snap.stem[5:])}
        for k, vs in val.items():
            m = T.validate(net, vs, cache, torch.device("cpu"))
            row[k], row[k + "_blocks"] = m["val_loss"], m["val_blocks"].tolist()
        d = Denoiser(str(snap))
        for name, frame, ref in evals:
            row[name] = compare(d.denoise(frame), ref, flip=False)["psnr"]
        rows.append(row)
        print(scene, row["step"], {k: row[k] for k in ("old", "new")}, {n: round(row[n], 3) for n, _, _ in evals},
              flush=True)
    json.dump(rows, open(out / scene / "traj.json", "w"))
