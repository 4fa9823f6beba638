"""Training and inference speed of the model presets on this machine, with OIDN's inference alongside.

    python benchmarks/throughput.py --size 256 --steps 20

Absolute numbers depend on the (shared) machine; compare the ratios printed in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from evalset import oidn

from mcdenoise.frame import Frame
from mcdenoise.loss import hdr_loss
from mcdenoise.model import PRESETS, UNet
from mcdenoise.pipeline import DenoisePipeline, network_input, network_output


def train_rate(preset: str, steps: int, batch: int, crop: int, bf16: bool = False) -> float:
    """Training pixels per second (forward + backward + Adam step) on random data, as `mcdenoise fit`
    runs it (bf16: autocast + channels_last, `fit --precision bf16`)."""
    torch.manual_seed(0)
    net = UNet(PRESETS[preset])
    if bf16:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99))
    c, a, n = torch.rand(batch, 3, crop, crop) * 2, torch.rand(batch, 3, crop, crop), torch.rand(batch, 3, crop, crop)
    exposure, target = torch.ones(batch), torch.rand(batch, 3, crop, crop)
    for i in range(steps + 3):
        if i == 3:  # the first steps allocate and pick kernels
            start = time.perf_counter()
        x = network_input(c, a, n, exposure)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            raw = net(x)
        loss = hdr_loss(network_output(raw, c, net.cfg), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch * crop * crop / (time.perf_counter() - start)


def infer_seconds(run, repeats: int) -> float:  # noqa: ANN001 - any callable
    """Best-of-`repeats` wall time of one call (after a warm-up call)."""
    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    """Print the training and inference table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="inference image side (default 256)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per preset")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=["fast", "fast-kpn", "lean", "lean-kpn", "paper"],
                        choices=sorted(PRESETS))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    rng = np.random.default_rng(0)
    s = args.size
    color = (rng.random((s, s, 3)) * 2).astype(np.float32)
    albedo = rng.random((s, s, 3)).astype(np.float32)
    normal = (rng.random((s, s, 3)) * 2 - 1).astype(np.float32)
    frame = Frame(color=color, albedo=albedo, normal=normal)
    oidn_s = {q: infer_seconds(lambda q=q: oidn(q)(frame), args.repeats) for q in ("fast", "high")}

    print(f"\n{'model':<10}{'train px/s':>14}{'bf16 px/s':>14}{'infer ' + str(s) + '^2 (s)':>18}"
          f"{'vs oidn-fast':>14}{'vs oidn-high':>14}")
    for preset in args.presets:
        rate = train_rate(preset, args.steps, args.batch, args.crop)
        rate16 = train_rate(preset, args.steps, args.batch, args.crop, bf16=True)
        pipe = DenoisePipeline(UNet(PRESETS[preset])).eval()
        t = [torch.from_numpy(b.transpose(2, 0, 1).copy())[None] for b in (color, albedo, normal)]
        with torch.no_grad():
            sec = infer_seconds(lambda: pipe(*t), args.repeats)
        print(f"{preset:<10}{rate:>14,.0f}{rate16:>14,.0f}{sec:>18.3f}{sec / oidn_s['fast']:>13.2f}x{sec / oidn_s['high']:>13.2f}x")
    for q, sec in oidn_s.items():
        print(f"{'oidn-' + q:<10}{'-':>14}{'-':>14}{sec:>18.3f}")
    print("\n(train: batch %d x %d^2 crops, forward + backward + Adam, fp32 and bf16 autocast + channels_last;"
          " infer: whole pipeline incl. exposure/pad)"
          % (args.batch, args.crop))


if __name__ == "__main__":
    main()
