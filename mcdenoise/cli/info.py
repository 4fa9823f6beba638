"""`mcdenoise info`: show an EXR's parts, channels and detected color/albedo/normal."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mcdenoise.cli.common import EXIT_USER_ERROR, log
from mcdenoise.errors import McDenoiseError
from mcdenoise.exr import describe

EPILOG = """examples:
  mcdenoise info render.exr                 what a renderer wrote, and what mcdenoise will use
  mcdenoise info shot.exr --layer FG        a Blender file with several view layers
  mcdenoise info frames/*.exr --json        machine-readable, one entry per file
"""


def _print_report(report: dict[str, Any]) -> None:
    """Human-readable form of `mcdenoise.exr.describe`."""
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


def run(args: argparse.Namespace) -> int:
    """Print resolution, parts, channels and detected AOVs of each file."""
    failures = 0
    reports = []
    for path in args.files:
        try:
            report = describe(path, args.layer, decode=not args.headers_only)
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


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("info", help="show an EXR's parts, channels and detected color/albedo/normal",
                       epilog=EPILOG)
    p.add_argument("files", nargs="+", metavar="FILE.exr")
    p.add_argument("--layer", help="view layer to use (default: the first one with color)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--headers-only", action="store_true",
                   help="read headers only (fast); by default pixels are decoded to catch truncated files")
    p.set_defaults(func=run)
