"""The named sample scenes; each stresses something a production denoiser must handle."""

from __future__ import annotations

from typing import Any

import numpy as np

from mcdenoise.scenes.common import SceneSpec, View, area_light, bitmap_texture, rgb, sky_envmap, texture_image


def _floor(mi: Any, bsdf: dict[str, Any], size: float = 10.0) -> dict[str, Any]:
    """A horizontal square at y = 0."""
    return {"type": "rectangle", "to_world": mi.ScalarTransform4f().rotate([1, 0, 0], -90).scale(size), "bsdf": bsdf}


def _ceiling_light(mi: Any, height: float, size: float, radiance: Any) -> dict[str, Any]:
    """A square area light facing down."""
    return {
        "type": "rectangle",
        "to_world": mi.ScalarTransform4f().translate([0, height, 0]).rotate([1, 0, 0], 90).scale(size),
        "emitter": area_light(radiance),
    }


def _cornell(mi: Any, view: View) -> dict[str, Any]:
    """Mitsuba's Cornell box: diffuse interreflection and colour bleeding."""
    base = mi.cornell_box()
    return {k: v for k, v in base.items() if k not in ("type", "integrator", "sensor")}


def _metals(mi: Any, view: View) -> dict[str, Any]:
    """Smooth and rough conductors of increasing roughness under an area light and a dim sky."""
    scene: dict[str, Any] = {
        "floor": _floor(mi, {"type": "diffuse", "reflectance": {"type": "checkerboard",
                              "color0": rgb([0.2, 0.2, 0.2]), "color1": rgb([0.6, 0.6, 0.6]),
                              "to_uv": mi.ScalarTransform4f().scale([8, 8, 1])}}),
        "light": _ceiling_light(mi, 4.0, 1.0, [12, 11, 10]),
        "sky": {"type": "constant", "radiance": rgb([0.05, 0.06, 0.08])},
    }
    metals = [("Au", 0.0), ("Cu", 0.05), ("Al", 0.15), ("Ag", 0.3), ("Cr", 0.5)]
    for i, (material, alpha) in enumerate(metals):
        bsdf = {"type": "conductor", "material": material} if alpha == 0 else {
            "type": "roughconductor", "material": material, "alpha": alpha, "distribution": "ggx"}
        scene[f"ball{i}"] = {"type": "sphere", "center": [-2.0 + i, 0.45, 0.0], "radius": 0.45, "bsdf": bsdf}
    return scene


def _glass(mi: Any, view: View) -> dict[str, Any]:
    """Dielectrics lit by a small light: caustics on the floor, refraction, total internal reflection."""
    return {
        "floor": _floor(mi, {"type": "diffuse", "reflectance": rgb([0.7, 0.7, 0.7])}),
        "back": {"type": "rectangle", "to_world": mi.ScalarTransform4f().translate([0, 0, -2.5]).scale(10),
                 "bsdf": {"type": "diffuse", "reflectance": rgb([0.5, 0.55, 0.6])}},
        "lamp": {"type": "sphere", "center": [1.5, 3.0, 1.0], "radius": 0.12, "emitter": area_light([400, 380, 350])},
        "fill": {"type": "constant", "radiance": rgb([0.03, 0.03, 0.04])},
        "ball": {"type": "sphere", "center": [-0.6, 0.6, 0.0], "radius": 0.6,
                 "bsdf": {"type": "dielectric", "int_ior": 1.5}},
        "block": {"type": "cube", "to_world": mi.ScalarTransform4f().translate([0.9, 0.4, -0.3]).rotate([0, 1, 0], 35).scale(0.4),
                  "bsdf": {"type": "roughdielectric", "int_ior": 1.45, "alpha": 0.08}},
        "tinted": {"type": "sphere", "center": [0.4, 0.3, 0.9], "radius": 0.3,
                   "bsdf": {"type": "dielectric", "int_ior": 1.33, "specular_transmittance": rgb([0.6, 0.9, 0.7])}},
    }


def _textures(mi: Any, view: View) -> dict[str, Any]:
    """Checkerboard and generated bitmap textures: detail the denoiser must keep sharp."""
    rng = np.random.default_rng(7)
    return {
        "floor": _floor(mi, {"type": "diffuse", "reflectance": {"type": "checkerboard",
                              "color0": rgb([0.1, 0.1, 0.12]), "color1": rgb([0.8, 0.8, 0.75]),
                              "to_uv": mi.ScalarTransform4f().scale([20, 20, 1])}}),
        "light": _ceiling_light(mi, 5.0, 1.5, [6, 6, 6]),
        "sky": {"type": "constant", "radiance": rgb([0.1, 0.1, 0.1])},
        "ball": {"type": "sphere", "center": [-1.0, 0.6, 0.0], "radius": 0.6,
                 "bsdf": {"type": "diffuse", "reflectance": bitmap_texture(mi, texture_image("stripes", rng), 2)}},
        "box": {"type": "cube", "to_world": mi.ScalarTransform4f().translate([0.6, 0.5, -0.2]).rotate([0, 1, 0], 25).scale(0.5),
                "bsdf": {"type": "diffuse", "reflectance": bitmap_texture(mi, texture_image("bricks", rng))}},
        "plastic": {"type": "sphere", "center": [1.6, 0.35, 0.8], "radius": 0.35,
                    "bsdf": {"type": "roughplastic", "alpha": 0.1,
                             "diffuse_reflectance": bitmap_texture(mi, texture_image("noise", rng), 3)}},
        "panel": {"type": "rectangle", "to_world": mi.ScalarTransform4f().translate([0, 1.5, -1.5]).scale([2.5, 1.5, 1]),
                  "bsdf": {"type": "diffuse", "reflectance": bitmap_texture(mi, texture_image("dots", rng), 2)}},
    }


def _fireflies(mi: Any, view: View) -> dict[str, Any]:
    """A tiny, very bright light and a sky with a sun seen through glossy bounces: fireflies."""
    rng = np.random.default_rng(11)
    return {
        "floor": _floor(mi, {"type": "roughplastic", "alpha": 0.2, "diffuse_reflectance": rgb([0.4, 0.35, 0.3])}),
        "sky": sky_envmap(mi, rng, sun=400.0),
        "spark": {"type": "sphere", "center": [0.5, 1.2, 0.8], "radius": 0.03, "emitter": area_light([8000, 7000, 5000])},
        "mirrorball": {"type": "sphere", "center": [-0.8, 0.5, 0.0], "radius": 0.5,
                       "bsdf": {"type": "roughconductor", "material": "Ag", "alpha": 0.02}},
        "glossy": {"type": "sphere", "center": [0.6, 0.4, -0.4], "radius": 0.4,
                   "bsdf": {"type": "plastic", "diffuse_reflectance": rgb([0.1, 0.3, 0.8])}},
        "wall": {"type": "rectangle", "to_world": mi.ScalarTransform4f().translate([0, 1.0, -2.0]).scale([3, 1, 1]),
                 "bsdf": {"type": "roughconductor", "material": "Cu", "alpha": 0.25}},
    }


def _dof(mi: Any, view: View) -> dict[str, Any]:
    """A row of objects at increasing depth seen through a thin lens: defocus blur."""
    rng = np.random.default_rng(3)
    scene: dict[str, Any] = {
        "floor": _floor(mi, {"type": "diffuse", "reflectance": bitmap_texture(mi, texture_image("bricks", rng), 10)}),
        "light": _ceiling_light(mi, 5.0, 2.0, [4, 4, 4]),
        "sky": {"type": "constant", "radiance": rgb([0.15, 0.15, 0.2])},
    }
    for i in range(6):
        color = rng.uniform(0.1, 0.9, 3)
        bsdf = {"type": "roughplastic", "alpha": 0.15, "diffuse_reflectance": rgb(color)} if i % 2 else {
            "type": "diffuse", "reflectance": bitmap_texture(mi, texture_image("stripes", rng), 2)}
        scene[f"ball{i}"] = {"type": "sphere", "center": [0.8 * (-1) ** i, 0.4, 2.0 - 1.6 * i], "radius": 0.4, "bsdf": bsdf}
    return scene


def _interior(mi: Any, view: View) -> dict[str, Any]:
    """A room lit by sky and sun through a window: a glass ball, a brushed-metal ball, a textured box."""
    from mcdenoise.scenes.procedural import ROOM, _panel

    T = mi.ScalarTransform4f
    w, h, d = ROOM
    wall = {"type": "diffuse", "reflectance": rgb([0.75, 0.72, 0.65])}
    x0, x1, y0, y1 = -1.6, 0.4, 1.0, 2.4  # the window opening in the back wall (z = -d)
    rng = np.random.default_rng(5)
    scene: dict[str, Any] = {
        "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale([w, d, 1]),
                  "bsdf": {"type": "roughplastic", "alpha": 0.25,
                           "diffuse_reflectance": bitmap_texture(mi, texture_image("bricks", rng), 4)}},
        "ceiling": {"type": "rectangle", "to_world": T().translate([0, h, 0]).rotate([1, 0, 0], 90).scale([w, d, 1]),
                    "bsdf": {"type": "twosided", "bsdf": {"type": "diffuse", "reflectance": rgb([0.8, 0.8, 0.8])}}},
        "left": _panel(mi, -d, d, 0.0, h, 0.0, wall) | {"to_world": T().translate([-w, h / 2, 0]).rotate([0, 1, 0], 90)
                                                        .scale([d, h / 2, 1])},
        "right": _panel(mi, -d, d, 0.0, h, 0.0, wall) | {"to_world": T().translate([w, h / 2, 0]).rotate([0, 1, 0], -90)
                                                         .scale([d, h / 2, 1])},
        "front": _panel(mi, -w, w, 0.0, h, d, wall),
        "back_left": _panel(mi, -w, x0, 0.0, h, -d, wall),
        "back_right": _panel(mi, x1, w, 0.0, h, -d, wall),
        "back_below": _panel(mi, x0, x1, 0.0, y0, -d, wall),
        "back_above": _panel(mi, x0, x1, y1, h, -d, wall),
        "sky": sky_envmap(mi, np.random.default_rng(13), sun=800.0),  # seed 13: the sun shines in
        "glass": {"type": "sphere", "center": [-0.5, 0.45, -0.6], "radius": 0.45,
                  "bsdf": {"type": "dielectric", "int_ior": 1.5}},
        "metal": {"type": "sphere", "center": [0.7, 0.4, -0.2], "radius": 0.4,
                  "bsdf": {"type": "roughconductor", "material": "Cu", "alpha": 0.12}},
        "box": {"type": "cube", "to_world": T().translate([1.6, 0.35, -1.4]).rotate([0, 1, 0], 30).scale(0.35),
                "bsdf": {"type": "diffuse", "reflectance": bitmap_texture(mi, texture_image("stripes", rng), 2)}},
    }
    return scene


SCENES: dict[str, SceneSpec] = {
    spec.name: spec
    for spec in (
        SceneSpec(
            "cornell", "Cornell box", ("diffuse interreflection", "colour bleeding", "area light"),
            (View("cam0", (0.0, 0.0, 3.9), (0.0, 0.0, 0.0), fov=39.3),
             View("cam1", (0.7, 0.3, 3.5), (-0.1, -0.1, 0.0), fov=45.0)),
            _cornell,
        ),
        SceneSpec(
            "metals", "conductors from mirror-smooth to rough", ("glossy reflection", "rough metals"),
            (View("cam0", (0.0, 1.6, 4.5), (0.0, 0.4, 0.0)),
             View("cam1", (-3.0, 1.0, 3.0), (0.0, 0.4, 0.0))),
            _metals,
        ),
        SceneSpec(
            "glass", "dielectrics under a small light", ("caustics", "refraction", "small light"),
            (View("cam0", (0.0, 1.5, 4.0), (0.0, 0.4, 0.0)),
             View("cam1", (2.5, 2.0, 2.5), (0.0, 0.3, 0.0))),
            _glass, max_depth=12,
        ),
        SceneSpec(
            "textures", "checkerboard and bitmap textures", ("texture detail", "high-frequency albedo"),
            (View("cam0", (0.0, 1.5, 4.0), (0.0, 0.6, 0.0)),
             View("cam1", (2.0, 0.8, 3.0), (0.0, 0.6, 0.0), fov=50.0)),
            _textures,
        ),
        SceneSpec(
            "fireflies", "tiny bright light and sun through glossy paths", ("fireflies", "environment light"),
            (View("cam0", (0.0, 1.0, 3.5), (0.0, 0.5, 0.0)),
             View("cam1", (-2.0, 1.5, 2.5), (0.0, 0.4, 0.0))),
            _fireflies,
        ),
        SceneSpec(
            "dof", "objects at many depths through a thin lens", ("depth of field", "defocus blur"),
            (View("cam0", (0.0, 0.8, 4.5), (0.0, 0.4, 0.0), aperture=0.08),
             View("cam1", (1.5, 1.0, 4.0), (0.0, 0.4, -2.0), aperture=0.15, fov=35.0)),
            _dof,
        ),
        SceneSpec(
            "interior", "a room lit through a window, glass and metal balls", (
                "indirect light through an opening", "bright window in view", "glass", "glossy metal"),
            (View("cam0", (1.8, 1.4, 2.4), (-0.3, 0.9, -2.0), fov=60.0),
             View("cam1", (-2.2, 1.6, 2.0), (0.6, 0.5, -1.0), fov=55.0)),
            _interior, max_depth=12,
        ),
    )
}
