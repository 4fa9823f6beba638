"""The `mcdenoise` command line. User mistakes print one line and exit 2; --verbose adds details."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from mcdenoise import __version__
from mcdenoise.errors import McDenoiseError

EXIT_USER_ERROR = 2
log = logging.getLogger("mcdenoise")


class _Formatter(logging.Formatter):
    """'mcdenoise: message' for info, 'mcdenoise: warning: message' for the rest."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"mcdenoise: {record.levelname.lower()}: {message}"
        return f"mcdenoise: {message}"


def _setup_logging(verbose: bool) -> None:
    """Route library logging to stderr; --verbose shows debug details."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("mcdenoise")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


# ---------------------------------------------------------------------------------------------- info

def _info_report(path: str, layer: str | None, decode: bool) -> dict[str, Any]:
    """Everything `info` says about one file, as a JSON-ready dict."""
    from mcdenoise.channels import detect
    from mcdenoise.exr import probe, read_frame

    info = probe(path)
    x0, y0, x1, y1 = info.display_window
    report: dict[str, Any] = {
        "file": path,
        "width": info.width,
        "height": info.height,
        "display_window": [x0, y0, x1, y1],
        "parts": [
            {
                "index": part.index,
                "name": part.name,
                "storage": part.storage,
                "compression": part.compression,
                "data_window": list(part.data_window),
                "channels": [{"name": ch.name, "type": ch.pixel_type} for ch in part.channels],
            }
            for part in info.parts
        ],
    }
    try:
        detection = detect(info.channels, info.name, layer)
    except McDenoiseError as exc:
        report["error"] = str(exc)
        return report
    report["layer"] = detection.layer
    report["layers"] = list(detection.layers)
    report["detected"] = {role: src.describe() for role, src in detection.sources.items()}
    report["alpha"] = detection.alpha.name if detection.alpha else None
    report["notes"] = list(detection.notes)
    if decode:  # headers can be fine while the pixel data is truncated: decode to be sure
        try:
            frame = read_frame(path, layer=detection.layer, info=info)
        except McDenoiseError as exc:
            report["error"] = str(exc)
            return report
        report["pixels"] = {
            "color_mean": float(frame.color.mean()),
            "color_max": float(frame.color.max()),
            "replaced": frame.sanitized,
        }
    return report


def _print_report(report: dict[str, Any]) -> None:
    """Human-readable form of `_info_report`."""
    w, h = report["width"], report["height"]
    print(f"{report['file']}")
    print(f"  resolution   {w}x{h}   display window {tuple(report['display_window'])}")
    print(f"  parts        {len(report['parts'])}")
    for part in report["parts"]:
        name = f" {part['name']!r}" if part["name"] else ""
        dw = "" if part["data_window"] == report["display_window"] else f", data window {tuple(part['data_window'])}"
        print(f"  part {part['index']}{name}: {part['storage']}, {part['compression']} compression{dw}")
        for ch in part["channels"]:
            print(f"      {ch['name']:<36} {ch['type']}")
    if "error" in report and "detected" not in report:
        print(f"  detected     NO COLOR: {report['error']}")
        return
    layers = report["layers"]
    layer_note = f" (of {len(layers)}: {', '.join(layers)}; choose with --layer)" if len(layers) > 1 else ""
    print(f"  view layer   {report['layer']!r}{layer_note}" if report["layer"] else "  view layer   (none)")
    for role in ("color", "albedo", "normal"):
        print(f"  {role:<12} {report['detected'].get(role, 'not found')}")
    if report["alpha"]:
        print(f"  {'alpha':<12} {report['alpha']}")
    for note in report["notes"]:
        print(f"  note         {note}")
    if "error" in report:
        print(f"  pixels       UNREADABLE: {report['error']}")
    elif "pixels" in report:
        px = report["pixels"]
        replaced = ", ".join(f"{n} {what}" for what, n in px["replaced"].items()) or "no NaN/Inf/negative"
        print(f"  pixels       ok; color mean {px['color_mean']:.4g}, max {px['color_max']:.4g}; {replaced}")


def cmd_info(args: argparse.Namespace) -> int:
    """Print resolution, parts, channels and detected AOVs of each file."""
    failures = 0
    reports = []
    for path in args.files:
        try:
            report = _info_report(path, args.layer, decode=not args.headers_only)
        except McDenoiseError as exc:
            report = {"file": path, "error": str(exc), "unreadable": True}
        failures += "error" in report
        reports.append(report)
        if args.json:
            continue
        if report.get("unreadable"):
            print(f"{path}\n  error        {report['error']}")
        else:
            _print_report(report)
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    if failures:
        log.error("%d of %d file(s) cannot be denoised as they are (see above)", failures, len(reports))
        return EXIT_USER_ERROR
    return 0


# -------------------------------------------------------------------------------------------- render

def _size(text: str) -> tuple[int, int]:
    """'256' or '320x240' -> (width, height)."""
    try:
        if "x" in text:
            w, h = text.lower().split("x")
            return int(w), int(h)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}; use N or WIDTHxHEIGHT") from None


def cmd_render(args: argparse.Namespace) -> int:
    """Render named and/or procedural scenes into the scene layout."""
    from mcdenoise.render import RenderSettings, render_scene
    from mcdenoise.scenes import SCENES, get_scene, procedural_scene

    if args.list:
        for spec in SCENES.values():
            views = ", ".join(v.name for v in spec.views)
            print(f"{spec.name:<10} {spec.description}  [{'; '.join(spec.stresses)}]  views: {views}")
        print("proc_<seed> procedural random scene (see --procedural)")
        return 0
    specs = [get_scene(name) for name in args.scenes]
    specs += [procedural_scene(args.first_seed + i) for i in range(args.procedural)]
    if not specs:
        raise McDenoiseError("nothing to render: name scenes (see --list) or use --procedural N")
    if args.output is None:
        raise McDenoiseError("give an output folder with -o/--output")
    width, height = args.size
    filters = ("box", "gaussian") if args.filter == "both" else (args.filter,)
    settings = RenderSettings(
        spp=args.spp, count=args.count, reference_spp=args.reference_spp, width=width, height=height,
        filters=filters, seed=args.seed, pixel_type=args.pixel_type, force=args.force,
    )
    views = args.views.split(",") if args.views else None
    from tqdm import tqdm

    for spec in tqdm(specs, desc="scenes", unit="scene", disable=len(specs) < 2):
        scene_dir = render_scene(spec, args.output, settings, views=views)
        print(f"{scene_dir}")
    return 0


# ----------------------------------------------------------------------------------------------- fit

def _require_torch() -> None:
    """Fail with an install hint when PyTorch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise McDenoiseError("PyTorch is not installed; install it with: pip install 'mcdenoise[train]'") from None


def cmd_fit(args: argparse.Namespace) -> int:
    """Train or fine-tune a model on scene directories of noisy render pairs."""
    _require_torch()
    from dataclasses import replace

    from mcdenoise.checkpoint import load_checkpoint
    from mcdenoise.train import TrainConfig, fit

    if args.resume:
        ckpt = load_checkpoint(args.output)
        cfg = TrainConfig.from_dict(ckpt.get("train_config", {}))
        cfg = replace(cfg, output=args.output)
        if args.scenes:
            log.warning("--resume trains on the scene directories stored in %s; ignoring the ones given", args.output)
        if args.steps is not None:  # extending a finished run changes its lr schedule, on purpose
            cfg = replace(cfg, steps=args.steps)
        if args.minutes is not None:
            cfg = replace(cfg, minutes=args.minutes)
    else:
        if not args.scenes:
            raise McDenoiseError("give at least one scene directory to train on")
        from mcdenoise.checkpoint import resolve_model_path

        if args.init != "scratch" and os.path.abspath(args.output) == os.path.abspath(resolve_model_path(args.init)):
            raise McDenoiseError(f"-o {args.output} is the model training starts from; write to another file")
        if os.path.exists(args.output) and not args.force:
            raise McDenoiseError(f"{args.output} already exists; --resume to continue it, --force to start over")
        cfg = TrainConfig(
            scenes=list(args.scenes), output=args.output, init=args.init, size=args.size,
            steps=args.steps or 0, minutes=args.minutes or 0.0, batch=args.batch, crop=args.crop, lr=args.lr,
            rampdown=args.rampdown, seed=args.seed, target=args.target, val_views=args.val_views,
            val_scenes=list(args.val or []), val_every=args.val_every, checkpoint_minutes=args.checkpoint_minutes,
            cache_mb=args.cache_mb, device=args.device,
        )
    try:
        summary = fit(cfg, resume=args.resume)
    except KeyboardInterrupt:
        if os.path.exists(cfg.output):
            print(f"mcdenoise: interrupted; checkpoint saved in {cfg.output} (continue with: "
                  f"mcdenoise fit --resume -o {cfg.output})", file=sys.stderr)
        raise
    if int(os.environ.get("RANK", "0")) == 0:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary.get("metrics", {}).items())
        print(f"{cfg.output}: {summary['steps']} steps in {summary['elapsed'] / 60:.1f} min" + (f"; {metrics}" if metrics else ""))
    return 0


# ------------------------------------------------------------------------------------------- denoise

def cmd_denoise(args: argparse.Namespace) -> int:
    """Denoise EXR files with the shipped or a given model."""
    _require_torch()
    from pathlib import Path

    from mcdenoise.infer import Denoiser, default_output, denoise_file

    if len(args.inputs) > 1 and (args.albedo or args.normal):
        raise McDenoiseError("--albedo/--normal side files go with a single input file")
    out_dir = None
    if args.output is not None and (len(args.inputs) > 1 or Path(args.output).is_dir()):
        out_dir = Path(args.output)
        if not out_dir.is_dir():
            raise McDenoiseError(f"{out_dir}: with several inputs, -o must be an existing folder")
    for path in args.inputs:
        if not os.path.isfile(path):
            raise McDenoiseError(f"{path}: no such file")
    denoiser = Denoiser(args.model, device=args.device)
    from tqdm import tqdm

    for path in tqdm(args.inputs, desc="denoise", unit="frame", disable=len(args.inputs) < 2):
        if out_dir is not None:
            target = out_dir / Path(path).name
        else:
            target = Path(args.output) if args.output else default_output(path)
        written = denoise_file(denoiser, path, target, albedo=args.albedo, normal=args.normal, layer=args.layer,
                               keep_aovs=args.keep_aovs)
        print(written)
    return 0


# --------------------------------------------------------------------------------------------- model

def cmd_model(args: argparse.Namespace) -> int:
    """Describe a model file; optionally write an inference-only copy."""
    _require_torch()
    from mcdenoise.checkpoint import load_checkpoint, model_from_checkpoint, release_copy

    ckpt = load_checkpoint(args.model)
    net = model_from_checkpoint(ckpt)
    cfg = net.cfg
    train = ckpt.get("train_config", {})
    print(ckpt["path"])
    print(f"  network      U-Net enc {cfg.enc}, dec {cfg.dec}, head {cfg.head}, {cfg.pools} pools; "
          f"{sum(p.numel() for p in net.parameters()):,} parameters; pad to multiples of {cfg.alignment}")
    print(f"  written by   mcdenoise {ckpt.get('mcdenoise_version', '?')}")
    if "step" in ckpt:
        print(f"  trained      {ckpt['step']} steps, {float(ckpt.get('elapsed', 0)) / 60:.1f} min, "
              f"target {train.get('target', '?')}, init {train.get('init', '?')}")
    if train.get("scenes"):
        scenes = train["scenes"]
        print(f"  data         {len(scenes)} scene dir(s): {', '.join(scenes[:4])}{' ...' if len(scenes) > 4 else ''}")
    if ckpt.get("metrics"):
        print("  validation   " + ", ".join(f"{k} {v:.4g}" for k, v in ckpt["metrics"].items()))
    print(f"  resumable    {'yes' if 'optimizer' in ckpt else 'no (inference only)'}")
    if args.release:
        out = release_copy(ckpt["path"], args.release)
        print(f"{out}: inference-only copy (float16 weights)")
    return 0


# ---------------------------------------------------------------------------------------------- main

EPILOG_INFO = """examples:
  mcdenoise info render.exr                 what a renderer wrote, and what mcdenoise will use
  mcdenoise info shot.exr --layer FG        a Blender file with several view layers
  mcdenoise info frames/*.exr --json        machine-readable, one entry per file
"""

EPILOG_RENDER = """examples:
  mcdenoise render --list
  mcdenoise render cornell glass -o data/ --spp 4 --count 4 --reference-spp 1024
  mcdenoise render --procedural 50 --first-seed 1000 -o data/train --filter both
  mcdenoise render cornell -o data/ --views cam0 --size 320x240

layout written: OUT/<scene>/<view>_<filter>/render_000.exr ... [reference.exr], OUT/<scene>/scene.json
Existing files are kept (an interrupted run resumes); --force re-renders them.
"""

EPILOG_FIT = """examples:
  mcdenoise fit shots/sq010 -o sq010.pt --minutes 15          fine-tune the shipped model on a scene
  mcdenoise fit data/train/* -o big.pt --init scratch --size paper --steps 20000
  mcdenoise fit --resume -o big.pt                             continue an interrupted run exactly
  torchrun --nproc_per_node 4 -m mcdenoise.cli fit data/train/* -o big.pt --steps 20000

Each SCENE_DIR holds one folder per view with >= 2 noisy renders (different seeds) of that view;
reference.exr, when present, is only used for validation metrics (or --target clean).
Writes OUT, OUT's .log.jsonl (training log) and .curve.png; checkpoints every few minutes and on Ctrl-C.
"""

EPILOG_DENOISE = """examples:
  mcdenoise denoise shot.exr -o shot_dn.exr
  mcdenoise denoise beauty.exr --albedo beauty.albedo.exr --normal beauty.normal.exr -o out.exr
  mcdenoise denoise frames/*.exr -o denoised/ --model sq010.pt
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mcdenoise",
        description="Noise2Noise Monte Carlo render denoiser: denoise EXRs, fit models on noisy renders, render training scenes.",
        epilog="Run 'mcdenoise COMMAND --help' for examples.",
    )
    parser.add_argument("--version", action="version", version=f"mcdenoise {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show details and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="show an EXR's parts, channels and detected color/albedo/normal",
                          epilog=EPILOG_INFO, formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("files", nargs="+", metavar="FILE.exr")
    info.add_argument("--layer", help="view layer to use (default: the first one with color)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--headers-only", action="store_true",
                      help="read headers only (fast); by default pixels are decoded to catch truncated files")
    info.set_defaults(func=cmd_info)

    render = sub.add_parser("render", help="render sample or procedural scenes with Mitsuba 3 into the scene layout",
                            epilog=EPILOG_RENDER, formatter_class=argparse.RawDescriptionHelpFormatter)
    render.add_argument("scenes", nargs="*", metavar="SCENE", help="named scene (see --list) or proc_<seed>")
    render.add_argument("-o", "--output", help="output folder (scene folders are created inside)")
    render.add_argument("--list", action="store_true", help="list the named scenes and exit")
    render.add_argument("--procedural", type=int, default=0, metavar="N", help="also render N procedural scenes")
    render.add_argument("--first-seed", type=int, default=0, metavar="S", help="seed of the first procedural scene")
    render.add_argument("--views", help="comma-separated camera views (default: all)")
    render.add_argument("--spp", type=int, default=4, help="samples per pixel of each noisy render (default 4)")
    render.add_argument("--count", type=int, default=4, help="noisy renders per view, different seeds (default 4)")
    render.add_argument("--reference-spp", type=int, default=0, metavar="SPP",
                        help="also render reference.exr with this many spp (for metrics only; default none)")
    render.add_argument("--size", type=_size, default=(256, 256), metavar="N|WxH", help="image size (default 256)")
    render.add_argument("--filter", choices=("box", "gaussian", "both"), default="box",
                        help="pixel filter; gaussian (Mitsuba's default) splats and correlates noise (default box)")
    render.add_argument("--seed", type=int, default=0, help="offset for every render's seed (default 0)")
    render.add_argument("--pixel-type", choices=("half", "float"), default="half", help="EXR pixel type (default half)")
    render.add_argument("--force", action="store_true", help="re-render files that already exist")
    render.set_defaults(func=cmd_render)

    fitp = sub.add_parser("fit", help="train or fine-tune a Noise2Noise model on pairs of noisy renders",
                          epilog=EPILOG_FIT, formatter_class=argparse.RawDescriptionHelpFormatter)
    fitp.add_argument("scenes", nargs="*", metavar="SCENE_DIR", help="scene directories (see layout below)")
    fitp.add_argument("-o", "--output", required=True, help="model checkpoint to write (and --resume from)")
    fitp.add_argument("--init", default="default",
                      help="'default' (fine-tune the shipped model), 'scratch', or a model file (default: default)")
    fitp.add_argument("--size", default="fast", choices=("fast", "paper", "tiny"),
                      help="network size with --init scratch: fast (default), paper, tiny (smoke tests)")
    fitp.add_argument("--steps", type=int, help="optimizer steps")
    fitp.add_argument("--minutes", type=float, help="wall-clock budget in minutes (with or instead of --steps)")
    fitp.add_argument("--batch", type=int, default=4, help="crops per step (default 4, as in the paper)")
    fitp.add_argument("--crop", type=int, default=64, help="crop side in pixels (default 64)")
    fitp.add_argument("--lr", type=float, default=0.0,
                      help="Adam learning rate (default 3e-4 from scratch, 1e-4 when fine-tuning)")
    fitp.add_argument("--rampdown", type=float, default=0.3, help="fraction of the run the lr ramps down over")
    fitp.add_argument("--seed", type=int, default=0, help="seed of the model init and the batch sampling")
    fitp.add_argument("--target", choices=("noisy", "clean"), default="noisy",
                      help="noisy: Noise2Noise (default); clean: train against reference.exr (experiments)")
    fitp.add_argument("--val-views", type=int, default=-1,
                      help="views held out for validation (default 1 when there are several)")
    fitp.add_argument("--val", nargs="+", metavar="SCENE_DIR", help="extra scene directories to validate on")
    fitp.add_argument("--val-every", type=int, default=250, help="steps between validations (default 250)")
    fitp.add_argument("--checkpoint-minutes", type=float, default=5.0, help="minutes between checkpoints")
    fitp.add_argument("--cache-mb", type=int, default=4096, help="memory for decoded frames (default 4096)")
    fitp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fitp.add_argument("--resume", action="store_true", help="continue the run saved in -o exactly")
    fitp.add_argument("--force", action="store_true", help="start over even if -o exists")
    fitp.set_defaults(func=cmd_fit)

    den = sub.add_parser("denoise", help="denoise EXR renders (color + albedo + normal)",
                         epilog=EPILOG_DENOISE, formatter_class=argparse.RawDescriptionHelpFormatter)
    den.add_argument("inputs", nargs="+", metavar="INPUT.exr")
    den.add_argument("-o", "--output", help="output file, or folder for several inputs (default: NAME.denoised.exr)")
    den.add_argument("--model", help="model file (default: the shipped pretrained model)")
    den.add_argument("--albedo", help="albedo side file for a single input")
    den.add_argument("--normal", help="normal side file for a single input")
    den.add_argument("--layer", help="view layer to denoise (default: the first one with color)")
    den.add_argument("--keep-aovs", action="store_true", help="also write the albedo and normal used")
    den.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    den.set_defaults(func=cmd_denoise)

    mod = sub.add_parser("model", help="describe a model file (default: the shipped one)")
    mod.add_argument("model", nargs="?", help="model file (default: the shipped model)")
    mod.add_argument("--release", metavar="OUT", help="write an inference-only float16 copy to OUT")
    mod.set_defaults(func=cmd_model)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mcdenoise` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except McDenoiseError as exc:
        if args.verbose:
            log.exception("details")
        print(f"mcdenoise: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("mcdenoise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # disk full, permissions: the user's environment, not a bug
        if args.verbose:
            log.exception("details")
        print(f"mcdenoise: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
