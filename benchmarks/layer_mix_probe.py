"""Layer-wise means of two models of one network: each part of the U-Net takes its own share of model B.

`mcdenoise model A --average B` gives every layer one share; here the encoder, the coarse decoder levels and
the full-resolution head (`dec_conv1*`, which writes the output and the blend) each get theirs, so a variant
can keep one model's head and mix the rest. Writes one inference-only model file per variant into OUT; score
them with `benchmarks/denoise_quality.py`.

    python benchmarks/layer_mix_probe.py benchmarks/results/training/default_v6_release.pt \
        benchmarks/results/training/wide_mix.pt runs/s38/lw --variant b=0.5,0.5,0 --variant e=0.75,0.75,0.25
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mcdenoise.checkpoint import load_one_network, save_checkpoint
from mcdenoise.errors import McDenoiseError

GROUPS = ("enc", "dec", "head")  # the order of a variant's three shares


def group(name: str) -> str:
    """Which part of the U-Net a weight belongs to: enc, dec (coarse decoder levels) or head (full resolution)."""
    if ".enc_conv" in name:
        return "enc"
    return "head" if ".dec_conv1" in name else "dec"


def parse_variant(text: str) -> tuple[str, dict[str, float]]:
    """'NAME=E,D,H' -> (NAME, B's share in each group), each share in [0, 1]."""
    name, _, shares = text.partition("=")
    try:
        values = [float(v) for v in shares.split(",")]
    except ValueError:
        values = []
    if not name or len(values) != len(GROUPS) or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"--variant takes NAME=E,D,H with three shares in [0, 1], not {text!r}")
    return name, dict(zip(GROUPS, values))


def main() -> None:
    """Write one layer-wise mean of A and B per --variant."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="model A (.pt or a shipped name)")
    parser.add_argument("b", help="model B, the same network")
    parser.add_argument("out", type=Path, help="folder for the variants (NAME.pt each; must not exist yet)")
    parser.add_argument("--variant", type=parse_variant, action="append", required=True,
                        metavar="NAME=E,D,H", help="B's share in the encoder, the coarse decoder and the head")
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"{args.out} exists; choose another folder")
    try:
        net, _, ((wa, _), (wb, _)) = load_one_network([args.a, args.b])
    except McDenoiseError as exc:
        parser.exit(2, f"error: {exc}\n")
    config = net.to_dict()
    for name, share in args.variant:
        mean = {k: ((1 - share[group(k)]) * wa[k].float() + share[group(k)] * wb[k].float()).half() for k in wa}
        path = save_checkpoint(args.out / f"{name}.pt", {"model_config": config, "model": mean,
                                                         "weights_from": f"layer-wise mean {share} of {args.a}, {args.b}"})
        print(f"{path}: B's share {share}")


if __name__ == "__main__":
    main()
