"""`mcdenoise denoise`: denoise EXR renders (color + albedo + normal)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcdenoise.cli.common import EXIT_USER_ERROR, log, model_options, require_torch
from mcdenoise.errors import McDenoiseError
from mcdenoise.tiling import DEFAULT_MAX_MEMORY_MB

EPILOG = """examples:
  mcdenoise denoise shot.exr -o shot_dn.exr
  mcdenoise denoise beauty.exr --albedo beauty.albedo.exr --normal beauty.normal.exr -o out.exr
  mcdenoise denoise 'frames/*.exr' -o denoised/ --skip-existing      a sequence; re-runs skip finished frames
  mcdenoise denoise frames/shot.%04d.exr -o denoised/                   also shot.####.exr, or a folder
  mcdenoise denoise big_4k.exr --max-memory-mb 1024                     smaller tiles, less memory
  mcdenoise denoise final.exr --passes 8                                best quality, 8x the time
  mcdenoise denoise shot.exr --model sq010.pt --backend torch

Frames are independent: a farm can split a sequence across machines. A frame that fails is
reported and the rest go on; the exit code is 2 if any failed. Outputs keep each input's name,
header and pixel type, and are written atomically (never over an input).
"""


def _output_is_current(path: str) -> bool:
    """True when `path` is an EXR whose header reads (an earlier run's finished output)."""
    from mcdenoise.exr import probe

    try:
        probe(path)
    except McDenoiseError:
        return False
    return True


def _open_denoiser(args: argparse.Namespace):  # noqa: ANN202 - Denoiser, imported lazily
    """The Denoiser for --model/--backend/--device; exports a .pt in memory for --backend onnx/openvino."""
    from mcdenoise.infer import Denoiser

    from mcdenoise.shipped import shipped_name

    model: str | bytes | None = args.model
    if args.backend in ("onnx", "openvino") and not shipped_name(model) and not str(model).lower().endswith(".onnx"):
        require_torch()
        from mcdenoise.export import export_bytes

        log.info("exporting %s to ONNX in memory (save time next run: mcdenoise export %s -o MODEL.onnx)", model, model)
        model = export_bytes(model)
    return Denoiser(model, backend=args.backend, device=args.device, max_memory_mb=args.max_memory_mb,
                    threads=args.threads, energy_match=not args.no_energy_match)


def _tile_bar(passes: int = 1) -> Callable[[int, int], None]:
    """A `progress(done, total)` callback: a bar over the tiles of all passes, once there are 2 or more runs."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if total < 2:
            return
        if bar is None:
            bar = tqdm(total=total, desc="tiles" if passes == 1 else f"tiles x {passes} passes", unit="tile",
                       leave=False)
        bar.update(1)
        if done == total:
            bar.close()

    return update


def _each_frame(todo: list[tuple[Path, Path]], denoise_one: Callable[[Path, Path], Path]) -> int:
    """Run `denoise_one(input, output)` on every frame with a progress bar; a failing frame is reported
    on one line and the others go on (a single frame's error is raised as usual). Exit code."""
    from tqdm import tqdm

    failed = []
    for src, out in tqdm(todo, desc="denoise", unit="frame", disable=len(todo) < 2):
        try:
            tqdm.write(str(denoise_one(src, out)))
        except McDenoiseError as exc:
            if len(todo) == 1:
                raise
            tqdm.write(f"mcdenoise: error: {exc}", file=sys.stderr)
            failed.append(src)
    if failed:
        print(f"mcdenoise: error: {len(failed)} of {len(todo)} frame(s) failed: {', '.join(map(str, failed[:5]))}"
              f"{' ...' if len(failed) > 5 else ''}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def run(args: argparse.Namespace) -> int:
    """Denoise EXR files, folders, globs and frame patterns with the shipped or a given model."""
    from mcdenoise.sequence import expand_inputs, plan_outputs

    from mcdenoise.infer import check_passes

    check_passes(args.passes)
    inputs = expand_inputs(args.inputs)
    if len(inputs) > 1 and (args.albedo or args.normal):
        raise McDenoiseError("--albedo/--normal side files go with a single input file")
    outputs = plan_outputs(inputs, args.output, protect=(args.albedo, args.normal))
    todo = [(i, o) for i, o in zip(inputs, outputs) if not (args.skip_existing and _output_is_current(str(o)))]
    if len(todo) < len(inputs):
        log.info("skipping %d frame(s) already denoised (--skip-existing)", len(inputs) - len(todo))
    if not todo:
        return 0
    if args.server:
        if args.no_energy_match:
            raise McDenoiseError("--no-energy-match is for local denoising; with --server the service's "
                                 "MCDENOISE_ENERGY_MATCH setting decides")
        from mcdenoise.atomic import atomic_write_bytes
        from mcdenoise.client import denoise_remote

        def remote(src: Path, out: Path) -> Path:
            data = denoise_remote(args.server, src, albedo=args.albedo, normal=args.normal, layer=args.layer,
                                  passes=args.passes)
            if not out.parent.is_dir():
                raise McDenoiseError(f"{out}: output folder {out.parent} does not exist")
            return atomic_write_bytes(out, data)

        return _each_frame(todo, remote)

    from mcdenoise.infer import denoise_file

    denoiser = _open_denoiser(args)
    return _each_frame(todo, lambda src, out: denoise_file(
        denoiser, src, out, albedo=args.albedo, normal=args.normal, layer=args.layer, keep_aovs=args.keep_aovs,
        progress=_tile_bar(args.passes) if len(todo) == 1 else None, passes=args.passes))


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("denoise", help="denoise EXR renders (color + albedo + normal)",
                       epilog=EPILOG)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="EXR files, folders, quoted globs ('f/*.exr') or frame patterns (f.%%04d.exr, f.####.exr)")
    p.add_argument("-o", "--output", help="output .exr file, or folder for several inputs (a trailing / makes a "
                   "new one; default: NAME.denoised.exr)")
    model_options(p, threads=True)
    p.add_argument("--max-memory-mb", type=float, default=DEFAULT_MAX_MEMORY_MB, metavar="MB",
                   help=f"working memory cap; larger frames run in overlapping tiles (default {DEFAULT_MAX_MEMORY_MB})")
    p.add_argument("--passes", type=int, default=1, metavar="N",
                   help="also denoise N-1 flipped/transposed copies and average (1-8; about +0.25 dB for 2, "
                        "+0.5 dB for 8, at N times the time: for final frames)")
    p.add_argument("--no-energy-match", action="store_true",
                   help="keep the network's brightness as is; by default each channel is scaled to the noisy "
                        "frame's total, which is unbiased (the network alone drifts by a few %% on interiors)")
    p.add_argument("--skip-existing", action="store_true", help="skip frames whose output already exists")
    p.add_argument("--server", metavar="URL", help="send frames to a running `mcdenoise serve` instead "
                   "(API key from MCDENOISE_API_KEY)")
    p.add_argument("--albedo", help="albedo side file for a single input")
    p.add_argument("--normal", help="normal side file for a single input")
    p.add_argument("--layer", help="view layer to denoise (default: the first one with color)")
    p.add_argument("--keep-aovs", action="store_true", help="also write the albedo and normal used")
    p.set_defaults(func=run)
