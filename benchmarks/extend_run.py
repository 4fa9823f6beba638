"""Copy a resumable training checkpoint with more scene directories added to its training set, or a new batch seed.

    python benchmarks/extend_run.py RUN.pt NEW.pt --add data/train3/proc_* data/train_lamps2/lamp_*
    mcdenoise fit --resume -o NEW.pt --minutes 280 --lr 1.5e-4 --rampdown 0.39
    python benchmarks/extend_run.py RUN.pt SIBLING.pt --seed 1     same data, another batch order (a sibling branch)

`fit --resume` trains on the directories stored in the checkpoint (an exact continuation). This makes a
copy whose continuation sees more data, with the model, optimizer, moving average and step kept, so a
warm restart on more data compares with one on the same data (stop 18's run A) at the same state.
With --seed the continuation draws other batches (each step's batch depends on (seed, rank, step)): sibling
branches from one state, for averaging their weights (`mcdenoise model --average`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mcdenoise.checkpoint import load_checkpoint, save_checkpoint
from mcdenoise.errors import McDenoiseError


def main() -> None:
    """Write NEW with the added scene directories; refuse to overwrite anything."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a resumable checkpoint (with optimizer state)")
    parser.add_argument("new", type=Path, help="the copy to write (must not exist)")
    parser.add_argument("--add", nargs="+", default=[], help="scene directories to add to the training set")
    parser.add_argument("--seed", type=int, help="a new batch-sampling seed for the continuation")
    args = parser.parse_args()
    if not args.add and args.seed is None:
        parser.error("nothing to change: give --add and/or --seed")
    if args.new.exists():
        parser.error(f"{args.new} exists; choose another name")
    missing = [d for d in args.add if not Path(d).is_dir()]
    if missing:
        parser.error(f"not directories: {' '.join(missing)}")
    try:
        ckpt = load_checkpoint(args.run)  # plain tensors only (weights_only), and a clear error for other files
    except McDenoiseError as exc:
        parser.error(str(exc))
    ckpt.pop("path", None)  # added by load_checkpoint, not part of the file
    if "optimizer" not in ckpt:
        parser.error(f"{args.run} holds no optimizer state (a released model): nothing to resume")
    cfg = dict(ckpt["train_config"])
    added = [d for d in args.add if d not in cfg["scenes"]]
    cfg["scenes"] = list(cfg["scenes"]) + added
    if args.seed is not None:
        cfg["seed"] = args.seed
    cfg["output"] = str(args.new)
    ckpt["train_config"] = cfg
    save_checkpoint(args.new, ckpt)
    print(f"{args.new}: {len(cfg['scenes'])} scene directories ({len(added)} added) from {args.run}, "
          f"step {ckpt['step']}, seed {cfg['seed']}")


if __name__ == "__main__":
    main()
