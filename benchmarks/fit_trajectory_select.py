"""Selection rules simulated on fit_trajectory_eval.py's results (`BestModel` replayed with each criterion): which step each keeps and its PSNR on the other camera.

    python benchmarks/fit_trajectory_select.py runs/traj cornell metals ...
"""
import json
import sys
from pathlib import Path
import numpy as np
import torch

import mcdenoise.train as T

out = Path(sys.argv[1])
dummy = torch.nn.Linear(1, 1)
def select(rows, key, patience):
    best = T.BestModel(patience)
    for r in rows:
        best.update(r["step"], {"val_loss": r[key]}, dummy, np.array(r[key + "_blocks"]))
        if best.should_stop:
            break
    return best.step
tot = {}
for scene in sys.argv[2:]:
    rows = json.load(open(out / scene / "traj.json"))
    views = [k for k in rows[0] if k.startswith("cam")]
    by = {r["step"]: r for r in rows}
    score = lambda s: [by[s][v] for v in views]
    picks = {"start": 0, "old p5": select(rows, "old", 5), "new p5": select(rows, "new", 5),
             "old p0": select(rows, "old", 0), "new p0": select(rows, "new", 0),
             "new lowest": min(rows, key=lambda r: r["new"])["step"], "last": rows[-1]["step"],
             "oracle": max(rows, key=lambda r: np.mean(score(r["step"])))["step"]}
    print(scene, views)
    for k, s in picks.items():
        sc = score(s)
        tot.setdefault(k, []).append(sc)
        print(f"  {k:<11} step {s:5d}  " + "  ".join(f"{x:.2f}" for x in sc))
print("mean over scenes (per view, box first)")
for k, v in tot.items():
    print(f"  {k:<11} " + "  ".join(f"{x:.3f}" for x in np.array(v).mean(axis=0)))
