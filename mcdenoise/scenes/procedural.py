"""Procedural random scenes for training data: shapes, materials, textures, lights and cameras.

`procedural_scene(seed)` is deterministic: the same seed gives the same scene and views on every
machine, so a data set is described by its seed range alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mcdenoise.scenes.common import SceneSpec, View, area_light, bitmap_texture, rgb, sky_envmap, texture_image

N_VIEWS = 3
TEXTURE_KINDS = ("stripes", "noise", "dots", "bricks")
METALS = ("Au", "Cu", "Al", "Ag", "Cr")


def _rng(seed: int, *salt: int) -> np.random.Generator:
    """An independent, reproducible stream for one aspect of one scene."""
    return np.random.default_rng([seed, *salt])


def _reflectance(mi: Any, rng: np.random.Generator) -> dict[str, Any]:
    """A plain colour, a checkerboard or a generated bitmap."""
    pick = rng.random()
    if pick < 0.5:
        return rgb(rng.uniform(0.05, 0.9, 3))
    if pick < 0.7:
        return {"type": "checkerboard", "color0": rgb(rng.uniform(0.02, 0.5, 3)),
                "color1": rgb(rng.uniform(0.4, 0.95, 3)),
                "to_uv": mi.ScalarTransform4f().scale([float(rng.uniform(2, 20))] * 2 + [1])}
    return bitmap_texture(mi, texture_image(str(rng.choice(TEXTURE_KINDS)), rng), float(rng.uniform(1, 6)))


def _material(mi: Any, rng: np.random.Generator) -> dict[str, Any]:
    """A random BSDF drawn from the materials production scenes use most."""
    kind = rng.choice(["diffuse", "diffuse", "plastic", "roughplastic", "conductor", "roughconductor",
                       "dielectric", "roughdielectric"])
    if kind == "diffuse":
        return {"type": "diffuse", "reflectance": _reflectance(mi, rng)}
    if kind == "plastic":
        return {"type": "plastic", "diffuse_reflectance": _reflectance(mi, rng)}
    if kind == "roughplastic":
        return {"type": "roughplastic", "alpha": float(rng.uniform(0.05, 0.4)), "diffuse_reflectance": _reflectance(mi, rng)}
    if kind == "conductor":
        return {"type": "conductor", "material": str(rng.choice(METALS))}
    if kind == "roughconductor":
        return {"type": "roughconductor", "material": str(rng.choice(METALS)), "alpha": float(rng.uniform(0.03, 0.5))}
    if kind == "dielectric":
        return {"type": "dielectric", "int_ior": float(rng.uniform(1.3, 1.8))}
    return {"type": "roughdielectric", "int_ior": float(rng.uniform(1.3, 1.8)), "alpha": float(rng.uniform(0.03, 0.3))}


def _shape(mi: Any, rng: np.random.Generator, position: np.ndarray, size: float) -> dict[str, Any]:
    """A sphere, cube, cylinder or disk of roughly `size` resting near `position`."""
    kind = rng.choice(["sphere", "sphere", "cube", "cylinder", "disk"])
    T = mi.ScalarTransform4f
    angle = float(rng.uniform(0, 360))
    if kind == "sphere":
        return {"type": "sphere", "center": [float(position[0]), size, float(position[2])], "radius": size}
    if kind == "cube":
        return {"type": "cube", "to_world": T().translate([float(position[0]), size, float(position[2])])
                .rotate([0, 1, 0], angle).scale(size)}
    if kind == "cylinder":
        height = float(rng.uniform(0.5, 2.5)) * size
        return {"type": "cylinder", "to_world": T().translate([float(position[0]), 0.0, float(position[2])])
                .rotate([1, 0, 0], -90).scale([size * 0.6, size * 0.6, height])}
    return {"type": "disk", "to_world": T().translate([float(position[0]), size * 1.5, float(position[2])])
            .rotate([0, 1, 0], angle).rotate([1, 0, 0], float(rng.uniform(-60, 0))).scale(size)}


def _lights(mi: Any, rng: np.random.Generator) -> dict[str, Any]:
    """One to three emitters: area panels, small bright spheres, a constant or a sky environment."""
    T = mi.ScalarTransform4f
    lights: dict[str, Any] = {}
    env = rng.random()
    if env < 0.35:
        lights["env"] = sky_envmap(mi, rng, sun=float(rng.uniform(50, 600)))
    elif env < 0.7:
        lights["env"] = {"type": "constant", "radiance": rgb(rng.uniform(0.02, 0.6, 3))}
    for i in range(int(rng.integers(1 if env >= 0.7 else 0, 3))):
        pos = [float(rng.uniform(-3, 3)), float(rng.uniform(2, 5)), float(rng.uniform(-3, 3))]
        tint = rng.uniform(0.6, 1.0, 3)
        if rng.random() < 0.6:
            size = float(rng.uniform(0.3, 1.5))
            lights[f"panel{i}"] = {"type": "rectangle", "to_world": T().look_at(origin=pos, target=[0, 0, 0], up=[0, 1, 0]).scale(size),
                                   "emitter": area_light(tint * rng.uniform(3, 20) / size**2)}
        else:
            radius = float(rng.uniform(0.03, 0.2))
            lights[f"bulb{i}"] = {"type": "sphere", "center": pos, "radius": radius,
                                  "emitter": area_light(tint * rng.uniform(1, 6) / radius**2)}
    return lights


def _views(seed: int) -> tuple[View, ...]:
    """Cameras on a ring around the scene centre, some with depth of field."""
    views = []
    for v in range(N_VIEWS):
        rng = _rng(seed, 1, v)
        # In front of the (optional) back wall at z < -2.5, whose back face is black.
        azimuth, elevation = rng.uniform(-1.2, 1.2), rng.uniform(0.1, 0.7)
        distance = rng.uniform(3.5, 8.0)
        origin = (distance * np.cos(elevation) * np.sin(azimuth), 0.3 + distance * np.sin(elevation),
                  distance * np.cos(elevation) * np.cos(azimuth))
        target = (rng.uniform(-0.5, 0.5), rng.uniform(0.2, 0.8), rng.uniform(-0.5, 0.5))
        aperture = float(rng.uniform(0.03, 0.15)) if rng.random() < 0.25 else 0.0
        views.append(View(f"cam{v}", tuple(float(c) for c in origin), tuple(float(c) for c in target),
                          fov=float(rng.uniform(30, 60)), aperture=aperture))
    return tuple(views)


def procedural_scene(seed: int) -> SceneSpec:
    """A reproducible random scene named `proc_<seed>` with `N_VIEWS` camera views."""

    def build(mi: Any, view: View) -> dict[str, Any]:
        rng = _rng(seed, 0)
        scene: dict[str, Any] = {
            "floor": {"type": "rectangle", "to_world": mi.ScalarTransform4f().rotate([1, 0, 0], -90).scale(12),
                      "bsdf": _material(mi, rng) if rng.random() < 0.3 else {"type": "diffuse", "reflectance": _reflectance(mi, rng)}},
        }
        if rng.random() < 0.5:  # a back wall gives interreflection and a horizon
            scene["wall"] = {"type": "rectangle", "to_world": mi.ScalarTransform4f().translate([0, 0, float(rng.uniform(-5, -2.5))]).scale(12),
                             "bsdf": {"type": "diffuse", "reflectance": _reflectance(mi, rng)}}
        for i in range(int(rng.integers(3, 9))):
            position = np.array([rng.uniform(-2.5, 2.5), 0.0, rng.uniform(-2.5, 2.5)])
            shape = _shape(mi, rng, position, float(rng.uniform(0.2, 0.8)))
            shape["bsdf"] = _material(mi, rng)
            scene[f"object{i}"] = shape
        scene.update(_lights(mi, rng))
        return scene

    return SceneSpec(
        name=f"proc_{seed}",
        description=f"procedural scene, seed {seed}",
        stresses=("random shapes", "random materials", "random lights"),
        views=_views(seed),
        build=build,
    )
