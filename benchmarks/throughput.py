"""Training and inference speed of the model presets on this machine, with OIDN's inference alongside.

    python benchmarks/throughput.py --size 256 --steps 20
    python benchmarks/throughput.py --device cuda --batch 32 --crop 128 --size 1024   # on a GPU

Absolute numbers depend on the (shared) machine; compare the ratios printed in the same run. OIDN runs on
the CPU, and only where pyoidn is installed (it is too large to carry to a lent GPU machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mcdenoise.frame import Frame
from mcdenoise.loss import hdr_loss
from mcdenoise.model import PRESETS, UNet
from mcdenoise.pipeline import DenoisePipeline, network_input, network_output


def train_rate(preset: str, steps: int, batch: int, crop: int, bf16: bool = False,
               device: torch.device = torch.device("cpu")) -> float:
    """Training pixels per second (forward + backward + Adam step) on random data, as `mcdenoise fit`
    runs it (bf16: autocast + channels_last, `fit --precision bf16`)."""
    torch.manual_seed(0)
    net = UNet(PRESETS[preset]).to(device)
    if bf16:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99))
    c, a, n = (torch.rand(batch, 3, crop, crop, device=device) * k for k in (2, 1, 1))
    exposure, target = torch.ones(batch, device=device), torch.rand(batch, 3, crop, crop, device=device)
    for i in range(steps + 3):
        if i == 3:  # the first steps allocate and pick kernels
            sync(device)
            start = time.perf_counter()
        x = network_input(c, a, n, exposure, net.cfg.demodulate)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            raw = net(x)
        loss = hdr_loss(network_output(raw, c, net.cfg, a), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch * crop * crop / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (GPU work is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def infer_seconds(run, repeats: int) -> float:  # noqa: ANN001 - any callable
    """Best-of-`repeats` wall time of one call (after a warm-up call)."""
    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def oidn_seconds(frame: Frame, repeats: int) -> dict[str, float]:
    """OIDN's fast and high inference times on the CPU; none where pyoidn is not installed."""
    try:
        import pyoidn  # noqa: F401
    except ImportError:
        return {}
    from evalset import oidn

    return {q: infer_seconds(lambda q=q: oidn(q)(frame), repeats) for q in ("fast", "high")}


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
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (our model; OIDN stays on the CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}")

    rng = np.random.default_rng(0)
    s = args.size
    color = (rng.random((s, s, 3)) * 2).astype(np.float32)
    albedo = rng.random((s, s, 3)).astype(np.float32)
    normal = (rng.random((s, s, 3)) * 2 - 1).astype(np.float32)
    frame = Frame(color=color, albedo=albedo, normal=normal)
    oidn_s = oidn_seconds(frame, args.repeats)
    ratio = lambda sec, q: f"{sec / oidn_s[q]:>13.2f}x" if q in oidn_s else f"{'-':>14}"  # noqa: E731

    print(f"\n{'model':<10}{'train px/s':>14}{'bf16 px/s':>14}{'infer ' + str(s) + '^2 (s)':>18}"
          f"{'vs oidn-fast':>14}{'vs oidn-high':>14}")
    for preset in args.presets:
        rate = train_rate(preset, args.steps, args.batch, args.crop, device=device)
        rate16 = train_rate(preset, args.steps, args.batch, args.crop, bf16=True, device=device)
        pipe = DenoisePipeline(UNet(PRESETS[preset])).to(device).eval()
        t = [torch.from_numpy(b.transpose(2, 0, 1).copy())[None].to(device) for b in (color, albedo, normal)]

        def infer() -> None:
            with torch.no_grad():
                pipe(*t)
            sync(device)

        sec = infer_seconds(infer, args.repeats)
        print(f"{preset:<10}{rate:>14,.0f}{rate16:>14,.0f}{sec:>18.3f}{ratio(sec, 'fast')}{ratio(sec, 'high')}")
    for q, sec in oidn_s.items():
        print(f"{'oidn-' + q:<10}{'-':>14}{'-':>14}{sec:>18.3f}")
    if not oidn_s:
        print("(OIDN: not measured, pyoidn is not installed)")
    print("\n(train: batch %d x %d^2 crops on %s, forward + backward + Adam, fp32 and bf16 autocast + channels_last;"
          " infer: whole pipeline incl. exposure/pad; OIDN on the CPU)"
          % (args.batch, args.crop, device))


if __name__ == "__main__":
    main()
