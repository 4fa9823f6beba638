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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mcdenoise",
        description="Noise2Noise Monte Carlo render denoiser: inspect EXRs, render training scenes.",
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
