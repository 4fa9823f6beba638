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


def _camera(name: str, origin: Any, target: Any, rng: np.random.Generator, *, fov: tuple[float, float],
            dof: float, aperture: tuple[float, float]) -> View:
    """A view from `origin` to `target`: depth of field with probability `dof`, then a random field of view."""
    radius = float(rng.uniform(*aperture)) if rng.random() < dof else 0.0
    return View(name, tuple(float(c) for c in origin), tuple(float(c) for c in target),
                fov=float(rng.uniform(*fov)), aperture=radius)


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
        views.append(_camera(f"cam{v}", origin, target, rng, fov=(30, 60), dof=0.25, aperture=(0.03, 0.15)))
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


# --------------------------------------------------------------------------------------- rooms
# Interiors lit through an opening: the case users render most and denoisers find hardest (mostly
# indirect light, a bright window in view, small bright emitters, glossy and glass objects, thin rods).
ROOM = (3.0, 3.0, 3.0)  # half width (x), height (y), half depth (z); the window is in the z = -3 wall


def _panel(mi: Any, x0: float, x1: float, y0: float, y1: float, z: float, bsdf: dict[str, Any]) -> dict[str, Any]:
    """A two-sided wall rectangle [x0, x1] x [y0, y1] in the plane z."""
    T = mi.ScalarTransform4f
    return {"type": "rectangle", "to_world": T().translate([(x0 + x1) / 2, (y0 + y1) / 2, z])
            .scale([(x1 - x0) / 2, (y1 - y0) / 2, 1.0]), "bsdf": {"type": "twosided", "bsdf": bsdf}}


def _room_shell(mi: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Floor, ceiling, three walls and a window wall with a rectangular opening."""
    T = mi.ScalarTransform4f
    w, h, d = ROOM
    wall = {"type": "diffuse", "reflectance": _reflectance(mi, rng) if rng.random() < 0.3 else
            rgb(rng.uniform(0.4, 0.85, 3))}
    shell: dict[str, Any] = {
        "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale([w, d, 1]),
                  "bsdf": _material(mi, rng) if rng.random() < 0.3 else {"type": "diffuse",
                                                                       "reflectance": _reflectance(mi, rng)}},
        "ceiling": {"type": "rectangle", "to_world": T().translate([0, h, 0]).rotate([1, 0, 0], 90).scale([w, d, 1]),
                    "bsdf": {"type": "twosided", "bsdf": {"type": "diffuse", "reflectance": rgb([0.8, 0.8, 0.8])}}},
        "left": {"type": "rectangle", "to_world": T().translate([-w, h / 2, 0]).rotate([0, 1, 0], 90)
                 .scale([d, h / 2, 1]), "bsdf": {"type": "twosided", "bsdf": wall}},
        "right": {"type": "rectangle", "to_world": T().translate([w, h / 2, 0]).rotate([0, 1, 0], -90)
                  .scale([d, h / 2, 1]), "bsdf": {"type": "twosided", "bsdf": wall}},
        "front": _panel(mi, -w, w, 0.0, h, d, wall),
    }
    # The window: an opening of random size and place in the back wall (z = -d), framed by 4 panels.
    ww, wh = float(rng.uniform(0.6, 2.5)), float(rng.uniform(0.6, 1.8))
    cx, cy = float(rng.uniform(-w + ww / 2 + 0.2, w - ww / 2 - 0.2)), float(rng.uniform(wh / 2 + 0.3, h - wh / 2 - 0.2))
    x0, x1, y0, y1 = cx - ww / 2, cx + ww / 2, cy - wh / 2, cy + wh / 2
    shell["back_left"] = _panel(mi, -w, x0, 0.0, h, -d, wall)
    shell["back_right"] = _panel(mi, x1, w, 0.0, h, -d, wall)
    shell["back_below"] = _panel(mi, x0, x1, 0.0, y0, -d, wall)
    shell["back_above"] = _panel(mi, x0, x1, y1, h, -d, wall)
    return shell


def _room_views(seed: int, salt: int = 11) -> tuple[View, ...]:
    """Cameras inside the room, mostly facing the window wall, some across the room; some with depth of field."""
    w, h, d = ROOM
    views = []
    for v in range(N_VIEWS):
        rng = _rng(seed, salt, v)
        origin = (rng.uniform(-w + 0.6, w - 0.6), rng.uniform(0.8, h - 0.6), rng.uniform(0.5, d - 0.4))
        if rng.random() < 0.7:  # toward the window wall
            target = (rng.uniform(-w + 0.5, w - 0.5), rng.uniform(0.4, h - 0.6), -d)
        else:  # across the room: the window lights the scene from off screen
            target = (rng.choice([-w, w]), rng.uniform(0.4, h - 0.6), rng.uniform(-d + 0.5, d - 1.0))
        views.append(_camera(f"cam{v}", origin, target, rng, fov=(45, 75), dof=0.2, aperture=(0.01, 0.05)))
    return tuple(views)


def room_scene(seed: int) -> SceneSpec:
    """A reproducible random interior named `room_<seed>`: lit by a sky (and often the sun) through a window."""

    def build(mi: Any, view: View) -> dict[str, Any]:
        rng = _rng(seed, 10)
        scene = _room_shell(mi, rng)
        scene["sky"] = sky_envmap(mi, rng, sun=float(rng.uniform(200, 2000)))
        scene.update(_furnish(mi, rng))
        return scene

    return SceneSpec(
        name=f"room_{seed}",
        description=f"procedural interior lit through a window, seed {seed}",
        stresses=("indirect light through an opening", "bright window in view", "thin geometry", "small emitters"),
        views=_room_views(seed),
        build=build,
        max_depth=12,
    )


def _furnish(mi: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Objects on the floor, often thin rods, sometimes small very bright bulbs."""
    w, h, d = ROOM
    scene: dict[str, Any] = {}
    for i in range(int(rng.integers(2, 7))):
        position = np.array([rng.uniform(-w + 0.8, w - 0.8), 0.0, rng.uniform(-d + 0.8, d - 1.2)])
        shape = _shape(mi, rng, position, float(rng.uniform(0.15, 0.6)))
        shape["bsdf"] = _material(mi, rng)
        scene[f"object{i}"] = shape
    if rng.random() < 0.5:  # thin geometry: rods, a rail, table legs
        T = mi.ScalarTransform4f
        bsdf = _material(mi, rng)
        for i in range(int(rng.integers(2, 7))):
            x, z = float(rng.uniform(-w + 0.3, w - 0.3)), float(rng.uniform(-d + 0.3, d - 0.8))
            scene[f"rod{i}"] = {"type": "cylinder", "radius": float(rng.uniform(0.006, 0.03)),
                                "to_world": T().translate([x, 0.0, z]).rotate([1, 0, 0], -90)
                                .scale([1.0, 1.0, float(rng.uniform(0.5, h))]), "bsdf": bsdf}
    if rng.random() < 0.4:  # small very bright emitters: the fireflies of indirect paths
        for i in range(int(rng.integers(1, 3))):
            radius = float(rng.uniform(0.02, 0.06))
            pos = [float(rng.uniform(-w + 0.5, w - 0.5)), float(rng.uniform(1.0, h - 0.2)),
                   float(rng.uniform(-d + 0.5, d - 0.5))]
            scene[f"bulb{i}"] = {"type": "sphere", "center": pos, "radius": radius,
                                 "emitter": area_light(rng.uniform(0.7, 1.0, 3) * rng.uniform(2, 8) / radius**2)}
    return scene


# ------------------------------------------------------------------------------------ lamp rooms
# Closed rooms lit only by lamps, as in a Cornell box: flat walls lit almost entirely by indirect
# light, where 4-spp noise is low-frequency and blotchy, and each wall has its own colour to bleed.


def _lamp_shell(mi: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Floor, ceiling and four closed walls, each wall its own colour."""
    T = mi.ScalarTransform4f
    w, h, d = ROOM

    def wall() -> dict[str, Any]:
        return {"type": "diffuse", "reflectance": _reflectance(mi, rng) if rng.random() < 0.2 else rgb(rng.uniform(0.1, 0.85, 3))}

    return {
        "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale([w, d, 1]),
                  "bsdf": _material(mi, rng) if rng.random() < 0.3 else {"type": "diffuse",
                                                                       "reflectance": _reflectance(mi, rng)}},
        "ceiling": {"type": "rectangle", "to_world": T().translate([0, h, 0]).rotate([1, 0, 0], 90).scale([w, d, 1]),
                    "bsdf": {"type": "twosided", "bsdf": {"type": "diffuse", "reflectance": rgb(rng.uniform(0.6, 0.85, 3))}}},
        "left": {"type": "rectangle", "to_world": T().translate([-w, h / 2, 0]).rotate([0, 1, 0], 90)
                 .scale([d, h / 2, 1]), "bsdf": {"type": "twosided", "bsdf": wall()}},
        "right": {"type": "rectangle", "to_world": T().translate([w, h / 2, 0]).rotate([0, 1, 0], -90)
                  .scale([d, h / 2, 1]), "bsdf": {"type": "twosided", "bsdf": wall()}},
        "front": _panel(mi, -w, w, 0.0, h, d, wall()),
        "back": _panel(mi, -w, w, 0.0, h, -d, wall()),
    }


def lamp_scene(seed: int) -> SceneSpec:
    """A reproducible closed room named `lamp_<seed>`: lit by one or two ceiling panels (and bulbs), no sky."""

    def build(mi: Any, view: View) -> dict[str, Any]:
        rng = _rng(seed, 20)
        w, h, d = ROOM
        T = mi.ScalarTransform4f
        scene = _lamp_shell(mi, rng)
        for i in range(int(rng.integers(1, 3))):  # panels facing down just below the ceiling
            # half extents; a 1.5 x 1.5 panel of radiance 16 lights this room about as a Cornell box's lamp does
            sx, sz = (float(v) for v in rng.uniform(0.3, 1.5, 2))
            x, z = float(rng.uniform(-w + sx + 0.1, w - sx - 0.1)), float(rng.uniform(-d + sz + 0.1, d - sz - 0.1))
            radiance = rng.uniform(0.7, 1.0, 3) * rng.uniform(6, 25)
            scene[f"lamp{i}"] = {"type": "rectangle", "to_world": T().translate([x, h - 0.01, z]).rotate([1, 0, 0], 90)
                                 .scale([sx, sz, 1]), "emitter": area_light(radiance)}
        scene.update(_furnish(mi, rng))
        return scene

    return SceneSpec(
        name=f"lamp_{seed}",
        description=f"procedural closed room lit by ceiling lamps, seed {seed}",
        stresses=("indirect light on flat walls", "colour bleeding", "an emitter in view", "small emitters"),
        views=_room_views(seed, salt=21),
        build=build,
        max_depth=12,
    )
