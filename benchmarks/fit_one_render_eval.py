"""Stop 31 probe (after benchmarks/fit_one_render.sh): each quality-set scene's fitted models (runs/s31/fit_<variant>/<scene>.pt) on its cam0 views."""
import json
import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
from evalset import eval_views, evaluate, oidn, ours, print_table  # noqa: E402

variants = sys.argv[1:] or ["ensemble1", "n2n4"]
rows = []
for scene in sorted(Path("data/quality10/spp4").iterdir()):
    methods = {"v6": ours(None)}
    for v in variants:
        p = Path(f"runs/s31/fit_{v}/{scene.name}.pt")
        if p.exists():
            methods[f"fit-{v}"] = ours(str(p))
    methods["oidn-balanced"] = oidn("balanced")
    if len(methods) < 2 + len(variants):
        continue
    rows += evaluate(eval_views([scene]), methods)
Path("benchmarks/results/s31_fit_one_render.json").write_text(json.dumps(rows, indent=1))
print_table(rows, ["v6", *[f"fit-{v}" for v in variants], "oidn-balanced"],
            "3-minute fit on the scene's other cameras, evaluated on cam0 (4 spp)", baseline="oidn-balanced")
