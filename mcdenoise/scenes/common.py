"""Building blocks shared by the named and procedural scenes: views, cameras, film, integrator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcdenoise.channels import WRITE_NAMES

# AOVs requested from Mitsuba's `aov` integrator, named as mcdenoise.channels.WRITE_NAMES says.
AOV_SPEC = f"{WRITE_NAMES['albedo'][0]}:albedo,{WRITE_NAMES['normal'][0]}:sh_normal"
PIXEL_FILTERS = ("box", "gaussian")  # box: independent pixels; gaussian (Mitsuba's default) splats


@dataclass(frozen=True)
class View:
    """A camera placement; `aperture` > 0 makes a thin-lens camera with depth of field."""

    name: str
    origin: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    fov: float = 40.0  # degrees, along the smaller image axis
    aperture: float = 0.0  # thin-lens aperture radius in scene units
    focus_distance: float = 0.0  # 0 = distance from origin to target


@dataclass(frozen=True)
class SceneSpec:
    """A renderable scene: `build(mi, view)` returns the scene dict without sensor and integrator."""

    name: str
    description: str
    stresses: tuple[str, ...]
    views: tuple[View, ...]
    build: Callable[[Any, View], dict[str, Any]] = field(repr=False)
    max_depth: int = 8


def sensor(mi: Any, view: View, width: int, height: int, pixel_filter: str) -> dict[str, Any]:
    """A perspective or thin-lens sensor with an HDR film using `pixel_filter`."""
    to_world = mi.ScalarTransform4f().look_at(origin=list(view.origin), target=list(view.target), up=list(view.up))
    sensor_dict: dict[str, Any] = {
        "type": "perspective",
        "fov": view.fov,
        "fov_axis": "smaller",
        "to_world": to_world,
        "film": {
            "type": "hdrfilm",
            "width": width,
            "height": height,
            "rfilter": {"type": pixel_filter},
            "pixel_format": "rgb",
            "component_format": "float32",
        },
        "sampler": {"type": "independent", "sample_count": 1},
    }
    if view.aperture > 0:
        distance = float(np.linalg.norm(np.subtract(view.target, view.origin)))
        sensor_dict.update(
            type="thinlens", aperture_radius=view.aperture, focus_distance=view.focus_distance or distance
        )
    return sensor_dict


def integrator(max_depth: int) -> dict[str, Any]:
    """A path tracer wrapped in the AOV integrator that also writes albedo and shading normals."""
    return {"type": "aov", "aovs": AOV_SPEC, "integrator": {"type": "path", "max_depth": max_depth}}


def full_scene(mi: Any, spec: SceneSpec, view: View, width: int, height: int, pixel_filter: str) -> dict[str, Any]:
    """The complete Mitsuba scene dict for one view of `spec`."""
    return {
        "type": "scene",
        "integrator": integrator(spec.max_depth),
        "sensor": sensor(mi, view, width, height, pixel_filter),
        **spec.build(mi, view),
    }


def rgb(value: Any) -> dict[str, Any]:
    """A Mitsuba RGB spectrum."""
    return {"type": "rgb", "value": [float(v) for v in value]}


def area_light(radiance: Any) -> dict[str, Any]:
    """An area emitter with RGB radiance."""
    return {"type": "area", "radiance": rgb(radiance)}


def texture_image(kind: str, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A generated (size, size, 3) float32 texture: 'stripes', 'noise', 'dots' or 'bricks'."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(0.05, 0.9, 3), rng.uniform(0.05, 0.9, 3)
    if kind == "stripes":
        freq, angle = rng.uniform(4, 16), rng.uniform(0, np.pi)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (x * np.cos(angle) + y * np.sin(angle)))
    elif kind == "dots":
        freq = int(rng.integers(4, 12))
        fx, fy = (x * freq) % 1 - 0.5, (y * freq) % 1 - 0.5
        t = (fx**2 + fy**2 < 0.09).astype(np.float32)
    elif kind == "bricks":
        rows = int(rng.integers(6, 14))
        row = np.floor(y * rows)
        u = (x * rows / 2 + 0.5 * (row % 2)) % 1
        v = (y * rows) % 1
        t = ((u > 0.05) & (v > 0.1)).astype(np.float32)
    else:  # value noise: bilinear upsampling of a coarse random grid, three octaves
        t = np.zeros_like(x)
        for octave, cells in enumerate((4, 8, 16)):
            grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
            gx, gy = x * cells, y * cells
            ix, iy = gx.astype(int), gy.astype(int)
            fx, fy = gx - ix, gy - iy
            top = grid[iy, ix] * (1 - fx) + grid[iy, ix + 1] * fx
            bottom = grid[iy + 1, ix] * (1 - fx) + grid[iy + 1, ix + 1] * fx
            t += (top * (1 - fy) + bottom * fy) / 2**octave
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)


def bitmap_texture(mi: Any, image: np.ndarray, scale: float = 1.0) -> dict[str, Any]:
    """A bitmap texture from an in-memory image (no files on disk), tiled `scale` times."""
    return {"type": "bitmap", "bitmap": mi.Bitmap(image), "to_uv": mi.ScalarTransform4f().scale([scale, scale, 1])}


def sky_envmap(mi: Any, rng: np.random.Generator, sun: float, height: int = 64) -> dict[str, Any]:
    """A generated lat-long sky: blue-to-white gradient plus a small sun of radiance `sun`."""
    width = 2 * height
    theta = (np.arange(height, dtype=np.float32) + 0.5) / height  # 0 = zenith
    sky = np.empty((height, width, 3), np.float32)
    zenith, horizon = np.array([0.25, 0.4, 0.8]), np.array([0.9, 0.9, 0.95])
    sky[:] = (zenith * (1 - theta[:, None]) + horizon * theta[:, None])[:, None, :]
    sky[height // 2 :] *= 0.3  # darker ground hemisphere
    sy, sx = int(rng.integers(height // 8, height // 3)), int(rng.integers(0, width - 2))
    sky[sy : sy + 2, sx : sx + 2] = sun
    return {"type": "envmap", "bitmap": mi.Bitmap(sky), "scale": float(rng.uniform(0.5, 1.5))}
