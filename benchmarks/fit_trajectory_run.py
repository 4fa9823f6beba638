"""A 10-minute fit per quality-set scene with patience off, a snapshot of the weights at every validation
(experiment: what selection rule would keep the step that is best on the scene's other camera). Training
does not depend on validation (batches are seeded by step), so one run serves every rule. Snapshots are
named by validation count x 250; the last one is the run's final step.

    python benchmarks/fit_trajectory_run.py data/quality10 runs/traj cornell metals ...  # 10 min a scene
"""
import sys
from pathlib import Path
import mcdenoise.train as T
from mcdenoise.checkpoint import save_checkpoint

data, out = Path(sys.argv[1]), Path(sys.argv[2])
orig = T.validate
state = {"n": 0, "dir": None}
def validate(net, views, cache, device):
    save_checkpoint(state["dir"] / f"snap_{state['n'] * 250:05d}.pt",
                    {"model_config": net.cfg.to_dict(), "model": {k: v.detach().clone() for k, v in net.state_dict().items()}})
    state["n"] += 1
    return orig(net, views, cache, device)
T.validate = validate
for scene in sys.argv[3:]:
    state["n"], state["dir"] = 0, out / scene
    state["dir"].mkdir(parents=True, exist_ok=True)
    T.fit(T.TrainConfig(scenes=[str(data / "fit" / scene)], output=str(out / scene / "final.pt"), init="default",
                        minutes=10, patience=0), progress=False)
    print("done", scene, flush=True)
