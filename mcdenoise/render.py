"""Render scenes with Mitsuba 3 or Blender Cycles into the scene directory layout (see `mcdenoise.layout`)."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mcdenoise.channels import WRITE_NAMES, join_channel
from mcdenoise.errors import RenderError
from mcdenoise.exr import frame_channels, write_exr
from mcdenoise.layout import METADATA_NAME, REFERENCE_NAME, render_name, write_metadata
from mcdenoise.scenes import SceneSpec
from mcdenoise.scenes.common import PIXEL_FILTERS, full_scene

log = logging.getLogger(__name__)

MITSUBA_VARIANT = "scalar_rgb"  # the LLVM/CUDA variants are not available on every machine
REFERENCE_CHUNK_SPP = 64  # the reference is averaged from chunks of this many spp (progress, memory)
RENDER_BACKENDS = ("mitsuba", "blender")  # `render --backend`: Mitsuba 3 (scalar_rgb) or Cycles through bpy


@dataclass(frozen=True)
class RenderSettings:
    """How to render each view of a scene."""

    spp: int = 4  # samples per pixel of each noisy render
    count: int = 4  # independent noisy renders per view (different seeds)
    reference_spp: int = 0  # samples per pixel of reference.exr; 0 = no reference
    width: int = 256
    height: int = 256
    filters: tuple[str, ...] = ("box",)  # pixel filters; each gives its own view folder
    seed: int = 0  # shifts every render's seed, for more independent data of the same scene
    pixel_type: str = "half"  # EXR pixel type of the written files
    force: bool = False  # re-render files that already exist (otherwise they are kept: resumable)
    backend: str = "mitsuba"  # one of RENDER_BACKENDS


def load_mitsuba() -> Any:
    """Import Mitsuba and select the scalar RGB variant, or raise a clear RenderError."""
    try:
        import mitsuba as mi
    except ImportError as exc:
        raise RenderError("Mitsuba 3 is not installed; install it with: pip install 'mcdenoise[render]'") from exc
    mi.set_variant(MITSUBA_VARIANT)
    return mi


def _seed(*parts: Any) -> int:
    """A stable 31-bit seed from strings and numbers (same on every machine and Python run)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def _buffers(film: Any) -> dict[str, np.ndarray]:
    """color/albedo/normal (H, W, 3) arrays from a developed AOV film, found by channel name."""
    bitmap = film.bitmap(raw=False)
    names = [f.name for f in bitmap.struct_()]
    data = np.asarray(bitmap)
    index = {name: i for i, name in enumerate(names)}
    out = {}
    for role, (pass_name, comps) in WRITE_NAMES.items():  # the AOV integrator writes these names
        chans = [join_channel("", pass_name, c) for c in comps]
        out[role] = np.stack([data[..., index[c]] for c in chans], axis=-1).astype(np.float32)
    return out


def _validate(spec: SceneSpec, settings: RenderSettings, views: Sequence[str] | None) -> list[Any]:
    """Check settings; return the views to render."""
    if settings.spp < 1 or settings.count < 1 or settings.reference_spp < 0:
        raise RenderError("--spp and --count must be at least 1 and --reference-spp at least 0")
    if not (1 <= settings.width <= 8192 and 1 <= settings.height <= 8192):
        raise RenderError(f"image size {settings.width}x{settings.height} is out of range (1..8192)")
    if settings.backend not in RENDER_BACKENDS:
        raise RenderError(f"unknown render backend {settings.backend!r}; use {' or '.join(RENDER_BACKENDS)}")
    bad = [f for f in settings.filters if f not in PIXEL_FILTERS]
    if bad:
        raise RenderError(f"unknown pixel filter {bad[0]!r}; use {' or '.join(PIXEL_FILTERS)}")
    if views is None:
        return list(spec.views)
    known = {v.name: v for v in spec.views}
    missing = [v for v in views if v not in known]
    if missing:
        raise RenderError(f"scene {spec.name!r} has no view {missing[0]!r}; views: {', '.join(known)}")
    return [known[v] for v in views]


class _MitsubaView:
    """One (view, pixel filter) of a scene loaded in Mitsuba, rendered as often as needed with new seeds."""

    def __init__(self, spec: SceneSpec, view: Any, width: int, height: int, pixel_filter: str) -> None:
        self.mi = load_mitsuba()
        self.scene = self.mi.load_dict(full_scene(self.mi, spec, view, width, height, pixel_filter))
        self.film = self.scene.sensors()[0].film()

    def render(self, path: Path, spp: int, seed: int, pixel_type: str, header: dict[str, Any]) -> None:
        """Render `spp` samples with `seed` into a single-part EXR."""
        self.mi.render(self.scene, spp=spp, seed=seed)
        buffers = _buffers(self.film)
        write_exr(path, frame_channels(buffers["color"], albedo=buffers["albedo"], normal=buffers["normal"]),
                  header={**header, "mcdenoise_spp": spp, "mcdenoise_seed": seed}, pixel_type=pixel_type)

    def reference(self, path: Path, spp: int, seed: int, header: dict[str, Any], bar: tqdm) -> None:
        """Average independent chunks of `REFERENCE_CHUNK_SPP` samples into a high-spp reference."""
        sums: dict[str, np.ndarray] = {}
        done = 0
        chunk_index = 0
        while done < spp:
            chunk = min(REFERENCE_CHUNK_SPP, spp - done)
            self.mi.render(self.scene, spp=chunk, seed=(seed + chunk_index) & 0x7FFFFFFF)
            for role, buffer in _buffers(self.film).items():
                sums[role] = sums.get(role, 0) + buffer * chunk  # weight chunks by their sample count
            done += chunk
            chunk_index += 1
            bar.update(chunk)
        mean = {role: total / done for role, total in sums.items()}
        write_exr(path, frame_channels(mean["color"], albedo=mean["albedo"], normal=mean["normal"]),
                  header={**header, "mcdenoise_spp": spp, "mcdenoise_seed": seed}, pixel_type="float")


def _backend(name: str) -> tuple[str, Any]:
    """(renderer description, view class) of a render backend; raises RenderError if it is not installed."""
    if name == "blender":
        from mcdenoise.cycles import CyclesView, load_bpy, renderer_name

        return renderer_name(load_bpy()), CyclesView
    mi = load_mitsuba()
    return f"Mitsuba {mi.__version__} {MITSUBA_VARIANT}", _MitsubaView


def render_scene(
    spec: SceneSpec,
    out_root: str | Path,
    settings: RenderSettings,
    *,
    views: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Render every (view, filter) of `spec` into OUT_ROOT/<scene>/<view>_<filter>/; return the scene dir."""
    chosen = _validate(spec, settings, views)
    renderer, view_class = _backend(settings.backend)
    scene_dir = Path(out_root) / spec.name
    scene_dir.mkdir(parents=True, exist_ok=True)
    meta_path = scene_dir / METADATA_NAME
    metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if metadata.get("renderer", renderer).split(" ")[0] != renderer.split(" ")[0]:
        raise RenderError(f"{scene_dir} holds renders of {metadata['renderer']}; render {renderer} into another folder")
    metadata.update(scene=spec.name, description=spec.description, stresses=list(spec.stresses), renderer=renderer)
    metadata.setdefault("views", {})

    per_view = settings.count * settings.spp + settings.reference_spp
    total = per_view * len(chosen) * len(settings.filters)
    with tqdm(total=total, desc=spec.name, unit="spp", disable=not progress, leave=False) as bar:
        for view in chosen:
            for pixel_filter in settings.filters:
                view_name = f"{view.name}_{pixel_filter}"
                view_dir = scene_dir / view_name
                view_dir.mkdir(exist_ok=True)
                header = {
                    "renderer": renderer,
                    "mcdenoise_scene": spec.name,
                    "mcdenoise_view": view_name,
                    "mcdenoise_filter": pixel_filter,
                }
                seeds = [_seed(spec.name, view_name, settings.seed, i) for i in range(settings.count)]
                todo = [i for i in range(settings.count) if settings.force or not (view_dir / render_name(i)).exists()]
                reference = view_dir / REFERENCE_NAME
                need_reference = settings.reference_spp and (settings.force or not reference.exists())
                bar.update(settings.spp * (settings.count - len(todo)))
                if not need_reference:
                    bar.update(settings.reference_spp)
                if todo or need_reference:  # building a scene costs seconds: only when something is missing
                    renders = view_class(spec, view, settings.width, settings.height, pixel_filter)
                    for i in todo:
                        renders.render(view_dir / render_name(i), settings.spp, seeds[i], settings.pixel_type, header)
                        bar.update(settings.spp)
                    if need_reference:
                        renders.reference(reference, settings.reference_spp, _seed(spec.name, view_name, "reference"),
                                          header, bar)
                metadata["views"][view_name] = {
                    "camera": view.name, "origin": list(view.origin), "target": list(view.target), "fov": view.fov,
                    "aperture": view.aperture, "filter": pixel_filter, "spp": settings.spp, "seeds": seeds,
                    "reference_spp": settings.reference_spp or metadata["views"].get(view_name, {}).get("reference_spp", 0),
                    "width": settings.width, "height": settings.height, "max_depth": spec.max_depth,
                }
                write_metadata(scene_dir, metadata)
    return scene_dir
