"""Probe (stop 31): how good is an ensemble of several networks x 8 oriented passes (a distillation teacher)?

    python benchmarks/ensemble_teacher_probe.py data/quality10/spp4/*
"""
import sys

sys.path.insert(0, "benchmarks")
from evalset import eval_views, evaluate, ours, print_table

views = eval_views(sys.argv[1:])
base = {"v6x8": ours(None, 8), "slimx8": ours("slim", 8), "largex8": ours("benchmarks/results/training/large_mix.pt", 8)}
memo = {}
def cached(name):
    def run(frame):
        key = (name, id(frame))
        if key not in memo:
            memo[key] = base[name](frame)
        return memo[key]
    return run
def avg(*names):
    return lambda frame: sum(cached(n)(frame) for n in names) / len(names)
methods = {"v6x8": cached("v6x8"), "slimx8": cached("slimx8"), "largex8": cached("largex8"),
           "v6+slim": avg("v6x8", "slimx8"), "v6+large": avg("v6x8", "largex8"), "all3": avg("v6x8", "slimx8", "largex8")}
rows = evaluate(views, methods)
print_table(rows, list(methods), "ensemble teachers", baseline=None)
