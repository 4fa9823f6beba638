"""A 10-minute fit per quality-set scene with patience off, a snapshot of the weights at every validation
(experiment: what selection rule would keep the step that is best on the scene's other camera). Training
does not depend on validation (batches are seeded by step), so one run serves every rule. Snapshots are
named by validation count x 250; the last one is the run's final step. With --ema the snapshot is the
moving average (what `fit --ema` validates and keeps); the raw weights beside it are saved, not validated
(so the run takes as many steps as one without the raw figure), under OUT_raw/SCENE/ for the same scoring.

    python benchmarks/fit_trajectory_run.py data/quality10 runs/traj cornell metals ...  # 10 min a scene
    python benchmarks/fit_trajectory_run.py data/quality10 runs/traj_ema998 --ema 0.998 cornell ...  # + runs/traj_ema998_raw
"""
import argparse
from pathlib import Path
import mcdenoise.train as T
from mcdenoise.checkpoint import save_checkpoint

parser = argparse.ArgumentParser()
parser.add_argument("data", type=Path)
parser.add_argument("out", type=Path)
parser.add_argument("scenes", nargs="+")
parser.add_argument("--ema", type=float, default=0.0,
                    help="the fit's moving average (0: the raw weights, as stop 25 measured them)")
parser.add_argument("--minutes", type=float, default=10.0)
args = parser.parse_args()
orig = T.validate
state = {"calls": 0, "scene": ""}


def validate(net, views, cache, device):
    """Snapshot the judged network, then validate as `fit` does (the raw weights under --ema: snapshot only)."""
    n = state["calls"]
    state["calls"] += 1
    # Call 0 is step 0; after it `fit --ema` validates the average, then the raw weights, at each step
    # (the final step, when it is not a validation step, validates the average alone).
    per_step = 2 if args.ema > 0 else 1
    index = 0 if n == 0 else (n - 1) // per_step + 1
    raw = n > 0 and (n - 1) % per_step == 1
    raw_folder = args.out.with_name(args.out.name + "_raw") / state["scene"]
    # step 0 (the starting model) is both the average's and the raw weights' first snapshot
    folders = [raw_folder] if raw else [args.out / state["scene"]] + ([raw_folder] if n == 0 and args.ema > 0 else [])
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint(folder / f"snap_{index * 250:05d}.pt",
                        {"model_config": net.cfg.to_dict(),
                         "model": {k: v.detach().clone() for k, v in net.state_dict().items()}})
    return {} if raw else orig(net, views, cache, device)


T.validate = validate
for scene in args.scenes:
    state["calls"], state["scene"] = 0, scene
    T.fit(T.TrainConfig(scenes=[str(args.data / "fit" / scene)], output=str(args.out / scene / "final.pt"),
                        init="default", minutes=args.minutes, patience=0, ema=args.ema), progress=False)
    print("done", scene, flush=True)
