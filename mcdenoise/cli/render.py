"""`mcdenoise render`: render sample or procedural scenes with Mitsuba 3 or Blender Cycles into the scene layout."""

from __future__ import annotations

import argparse
from typing import Any

from mcdenoise.errors import McDenoiseError
from mcdenoise.scenes import FAMILIES, FAMILY_HELP

EPILOG = """examples:
  mcdenoise render --list
  mcdenoise render cornell glass -o data/ --spp 4 --count 4 --reference-spp 1024
  mcdenoise render --procedural 50 --first-seed 1000 -o data/train --filter both
  mcdenoise render cornell -o data/ --views cam0 --size 320x240
  mcdenoise render interior -o data/cycles --backend blender --reference-spp 1024   (Cycles; needs mcdenoise[blender])

layout written: OUT/<scene>/<view>_<filter>/render_000.exr ... [reference.exr], OUT/<scene>/scene.json
Existing files are kept (an interrupted run resumes); --force re-renders them.
"""


def _size(text: str) -> tuple[int, int]:
    """'256' or '320x240' -> (width, height)."""
    try:
        if "x" in text:
            w, h = text.lower().split("x")
            return int(w), int(h)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}; use N or WIDTHxHEIGHT") from None


def run(args: argparse.Namespace) -> int:
    """Render named and/or procedural scenes into the scene layout."""
    from mcdenoise.render import RenderSettings, render_scene
    from mcdenoise.scenes import SCENES, get_scene

    if args.list:
        for spec in SCENES.values():
            views = ", ".join(v.name for v in spec.views)
            print(f"{spec.name:<10} {spec.description}  [{'; '.join(spec.stresses)}]  views: {views}")
        for family, text in FAMILY_HELP.items():
            print(f"{family + '_<seed>':<10} {text} (--procedural N --family {family})")
        return 0
    specs = [get_scene(name) for name in args.scenes]
    specs += [FAMILIES[args.family](args.first_seed + i) for i in range(args.procedural)]
    if not specs:
        raise McDenoiseError("nothing to render: name scenes (see --list) or use --procedural N")
    if args.output is None:
        raise McDenoiseError("give an output folder with -o/--output")
    width, height = args.size
    filters = ("box", "gaussian") if args.filter == "both" else (args.filter,)
    settings = RenderSettings(
        spp=args.spp, count=args.count, reference_spp=args.reference_spp, width=width, height=height,
        filters=filters, seed=args.seed, pixel_type=args.pixel_type, force=args.force, backend=args.backend,
    )
    views = args.views.split(",") if args.views else None
    from tqdm import tqdm

    for spec in tqdm(specs, desc="scenes", unit="scene", disable=len(specs) < 2):
        scene_dir = render_scene(spec, args.output, settings, views=views)
        print(f"{scene_dir}")
    return 0


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    from mcdenoise.render import RENDER_BACKENDS

    p = sub.add_parser("render", help="render sample or procedural scenes (Mitsuba 3 or Cycles) into the scene layout",
                       epilog=EPILOG)
    p.add_argument("scenes", nargs="*", metavar="SCENE", help="named scene (see --list) or proc_<seed>")
    p.add_argument("-o", "--output", help="output folder (scene folders are created inside)")
    p.add_argument("--list", action="store_true", help="list the named scenes and exit")
    p.add_argument("--procedural", type=int, default=0, metavar="N", help="also render N procedural scenes")
    p.add_argument("--first-seed", type=int, default=0, metavar="S", help="seed of the first procedural scene")
    p.add_argument("--family", choices=sorted(FAMILIES), default="proc",
                   help="procedural family (default proc): " + "; ".join(f"{k}: {v}" for k, v in FAMILY_HELP.items()))
    p.add_argument("--backend", choices=RENDER_BACKENDS, default="mitsuba",
                   help="renderer: mitsuba (Mitsuba 3, default) or blender (Cycles through bpy, Blender's own EXRs)")
    p.add_argument("--views", help="comma-separated camera views (default: all)")
    p.add_argument("--spp", type=int, default=4, help="samples per pixel of each noisy render (default 4)")
    p.add_argument("--count", type=int, default=4, help="noisy renders per view, different seeds (default 4)")
    p.add_argument("--reference-spp", type=int, default=0, metavar="SPP",
                   help="also render reference.exr with this many spp (for metrics only; default none)")
    p.add_argument("--size", type=_size, default=(256, 256), metavar="N|WxH", help="image size (default 256)")
    p.add_argument("--filter", choices=("box", "gaussian", "both"), default="box",
                   help="pixel filter; gaussian (Mitsuba's default) splats and correlates noise (default box); "
                        "Cycles samples its filter, so both keep pixels' noise independent there")
    p.add_argument("--seed", type=int, default=0, help="offset for every render's seed (default 0)")
    p.add_argument("--pixel-type", choices=("half", "float"), default="half", help="EXR pixel type (default half)")
    p.add_argument("--force", action="store_true", help="re-render files that already exist")
    p.set_defaults(func=run)
