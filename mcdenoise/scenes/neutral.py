"""A stand-in for the `mitsuba` module that scene builders use, so any renderer can read their output.

Scene builders (`SceneSpec.build(mi, view)`) return a Mitsuba-style scene dict and only touch three
things of `mi`: `ScalarTransform4f` (translate/rotate/scale/look_at chains), `Bitmap` (an in-memory
texture) and `cornell_box()`. Given this module instead of Mitsuba, they return the same dict with
plain numpy matrices and arrays in it: the renderer-neutral scene description that the Cycles
backend (`mcdenoise.cycles`) translates. One seed therefore gives the same scene in both renderers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__version__ = "neutral"


def _vec(value: Any) -> np.ndarray:
    """A 3-vector from a scalar (uniform) or a sequence."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    return np.repeat(arr, 3) if arr.size == 1 else arr[:3]


class ScalarTransform4f:
    """A 4x4 affine transform composed like Mitsuba's: `T().translate(a).rotate(b)` applies b first."""

    def __init__(self, matrix: Any = None) -> None:
        self.matrix = np.eye(4) if matrix is None else np.asarray(matrix, dtype=np.float64).reshape(4, 4)

    def _then(self, other: np.ndarray) -> ScalarTransform4f:
        return ScalarTransform4f(self.matrix @ other)

    def translate(self, v: Any) -> ScalarTransform4f:
        """Append a translation."""
        m = np.eye(4)
        m[:3, 3] = _vec(v)
        return self._then(m)

    def scale(self, v: Any) -> ScalarTransform4f:
        """Append a (possibly non-uniform) scale."""
        return self._then(np.diag([*_vec(v), 1.0]))

    def rotate(self, axis: Any, angle: float) -> ScalarTransform4f:
        """Append a rotation of `angle` degrees about the unit vector `axis` (right-handed, as Mitsuba)."""
        x, y, z = _vec(axis)  # not normalized, exactly as Mitsuba: builders pass unit axes
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        m = np.eye(4)
        m[:3, :3] = [[c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
                     [y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s],
                     [z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)]]
        return self._then(m)

    def look_at(self, origin: Any, target: Any, up: Any) -> ScalarTransform4f:
        """Append Mitsuba's camera frame: local +z looks from `origin` to `target`, +x is to the left."""
        origin, target, up = _vec(origin), _vec(target), _vec(up)
        direction = (target - origin) / np.linalg.norm(target - origin)
        left = np.cross(up, direction)
        left /= np.linalg.norm(left)
        new_up = np.cross(direction, left)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = left, new_up, direction, origin
        return self._then(m)


class Bitmap:
    """An in-memory (H, W, 3) float32 image."""

    def __init__(self, array: Any) -> None:
        self.array = np.ascontiguousarray(array, dtype=np.float32)


def cornell_box() -> dict[str, Any]:
    """Mitsuba 3's `cornell_box()` scene dict (geometry, materials, light), without sensor and integrator."""
    T = ScalarTransform4f
    white = {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.885809, 0.698859, 0.666422]}}
    return {
        "type": "scene",
        "white": white,
        "green": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.105421, 0.37798, 0.076425]}},
        "red": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.570068, 0.0430135, 0.0443706]}},
        "light": {"type": "rectangle", "to_world": T().translate([0.0, 0.99, 0.01]).rotate([1, 0, 0], 90)
                  .scale([0.23, 0.19, 0.19]), "bsdf": {"type": "ref", "id": "white"},
                  "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [18.387, 13.9873, 6.75357]}}},
        "floor": {"type": "rectangle", "to_world": T().translate([0.0, -1.0, 0.0]).rotate([1, 0, 0], -90),
                  "bsdf": {"type": "ref", "id": "white"}},
        "ceiling": {"type": "rectangle", "to_world": T().translate([0.0, 1.0, 0.0]).rotate([1, 0, 0], 90),
                    "bsdf": {"type": "ref", "id": "white"}},
        "back": {"type": "rectangle", "to_world": T().translate([0.0, 0.0, -1.0]),
                 "bsdf": {"type": "ref", "id": "white"}},
        "green-wall": {"type": "rectangle", "to_world": T().translate([1.0, 0.0, 0.0]).rotate([0, 1, 0], -90),
                       "bsdf": {"type": "ref", "id": "green"}},
        "red-wall": {"type": "rectangle", "to_world": T().translate([-1.0, 0.0, 0.0]).rotate([0, 1, 0], 90),
                     "bsdf": {"type": "ref", "id": "red"}},
        "small-box": {"type": "cube", "to_world": T().translate([0.335, -0.7, 0.38]).rotate([0, 1, 0], -17)
                      .scale(0.3), "bsdf": {"type": "ref", "id": "white"}},
        "large-box": {"type": "cube", "to_world": T().translate([-0.33, -0.4, -0.28]).rotate([0, 1, 0], 18.25)
                      .scale([0.3, 0.61, 0.3]), "bsdf": {"type": "ref", "id": "white"}},
    }
