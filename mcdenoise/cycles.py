"""Render scenes with Blender's Cycles through `bpy` (Blender as a Python module).

The scene builders' renderer-neutral description (`mcdenoise.scenes.neutral`: Mitsuba-style dicts
with numpy transforms) is translated into a bpy scene: shapes into meshes, Mitsuba's BSDFs into the
Principled BSDF, emitters into emission, the camera and pixel filter into Cycles settings. Renders
are written by Blender itself as multi-part multilayer EXRs (Combined, Denoising Albedo, Denoising
Normal), exactly the files artists get from Blender.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from mcdenoise import native
from mcdenoise.atomic import atomic_write
from mcdenoise.errors import RenderError
from mcdenoise.scenes import neutral
from mcdenoise.scenes.common import SceneSpec, View

log = logging.getLogger(__name__)

# Mitsuba is y-up, Blender z-up: (x, y, z) -> (x, -z, y).
Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
# Mitsuba cameras look down local +z with +x to the left; Blender's look down -z with +x to the right.
CAMERA_FLIP = np.diag([-1.0, 1.0, -1.0, 1.0])
# Normal-incidence reflectance (linear RGB) of Mitsuba's named conductors, for the Principled BSDF.
METAL_COLORS = {"Au": (1.0, 0.766, 0.336), "Cu": (0.955, 0.638, 0.538), "Al": (0.913, 0.922, 0.924),
                "Ag": (0.972, 0.960, 0.915), "Cr": (0.550, 0.556, 0.554)}
CYCLES_FILTERS = {"box": ("BOX", 1.0), "gaussian": ("GAUSSIAN", 1.5)}  # layout filter -> Cycles type, width
SPHERE_SEGMENTS = (64, 32)
ROUND_SEGMENTS = 48


def load_bpy() -> Any:
    """Import bpy, or raise a clear RenderError."""
    try:
        import bpy
    except ImportError as exc:
        raise RenderError(
            "Blender's Python module (bpy) is not installed here; bpy 5.0.1 needs Python 3.11 and pins numpy < 2, "
            "so give it a venv of its own: python3.11 -m venv .venv-blender && "
            ".venv-blender/bin/pip install 'mcdenoise[blender]'"
        ) from exc
    return bpy


def renderer_name(bpy: Any) -> str:
    """'Blender 5.0.1 Cycles'."""
    return f"Blender {bpy.app.version_string} Cycles"


def _roughness(alpha: float) -> float:
    """Blender's roughness r is Mitsuba's GGX alpha = r^2."""
    return float(math.sqrt(max(alpha, 0.0)))


class _Builder:
    """Turns one neutral scene dict into objects, materials and a world in the current bpy scene."""

    def __init__(self, bpy: Any, scene_dict: dict[str, Any]) -> None:
        self.bpy = bpy
        self.refs = {k: v for k, v in scene_dict.items() if isinstance(v, dict) and v.get("type") in BSDF_TYPES}
        self.scene = bpy.context.scene
        self.count = 0

    # ---------------------------------------------------------------- textures and materials
    def _color_input(self, tree: Any, socket: Any, spec: Any) -> None:
        """Connect an rgb / checkerboard / bitmap reflectance to `socket`."""
        if not isinstance(spec, dict):
            socket.default_value = (*np.broadcast_to(np.asarray(spec, float), 3), 1.0)
            return
        kind = spec["type"]
        if kind == "rgb":
            socket.default_value = (*[float(v) for v in spec["value"]], 1.0)
            return
        nodes, links = tree.nodes, tree.links
        coords = nodes.new("ShaderNodeTexCoord")
        mapping = nodes.new("ShaderNodeMapping")
        if "to_uv" in spec:  # Mitsuba's to_uv is a scale of the UVs
            uv = spec["to_uv"].matrix
            mapping.inputs["Scale"].default_value = (float(uv[0, 0]), float(uv[1, 1]), 1.0)
        links.new(coords.outputs["UV"], mapping.inputs["Vector"])
        if kind == "checkerboard":
            tex = nodes.new("ShaderNodeTexChecker")
            tex.inputs["Scale"].default_value = 2.0  # Mitsuba: 2x2 checks per UV unit
            self._color_input(tree, tex.inputs["Color1"], spec["color1"])
            self._color_input(tree, tex.inputs["Color2"], spec["color0"])
        elif kind == "bitmap":
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = self._image(spec["bitmap"].array)
        else:
            raise RenderError(f"the Cycles backend cannot translate texture type {kind!r}")
        links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        links.new(tex.outputs["Color"], socket)

    def _image(self, array: np.ndarray) -> Any:
        """A float, linear bpy image holding `array` (H, W, 3); Blender stores rows bottom-up."""
        h, w = array.shape[:2]
        self.count += 1
        image = self.bpy.data.images.new(f"mcdenoise_tex{self.count}", w, h, float_buffer=True)
        image.colorspace_settings.name = "Linear Rec.709"
        rgba = np.ones((h, w, 4), np.float32)
        rgba[..., :3] = array[::-1]
        image.pixels.foreach_set(rgba.ravel())
        image.pack()
        return image

    def material(self, bsdf: dict[str, Any] | None, emitter: dict[str, Any] | None) -> Any:
        """A Principled BSDF material for a Mitsuba BSDF dict (and an area emitter, if any)."""
        self.count += 1
        mat = self.bpy.data.materials.new(f"mcdenoise_mat{self.count}")
        tree = mat.node_tree
        p = tree.nodes["Principled BSDF"]
        while bsdf is not None and bsdf.get("type") in ("ref", "twosided"):  # Blender surfaces are two-sided
            bsdf = self.refs[bsdf["id"]] if bsdf["type"] == "ref" else bsdf["bsdf"]
        kind = bsdf["type"] if bsdf else "black"
        inp = p.inputs
        inp["Specular IOR Level"].default_value = 0.5
        if kind == "black":
            inp["Base Color"].default_value = (0, 0, 0, 1)
            inp["Specular IOR Level"].default_value = 0.0
        elif kind == "diffuse":
            self._color_input(tree, inp["Base Color"], bsdf.get("reflectance", [0.5] * 3))
            inp["Roughness"].default_value = 1.0
            inp["Specular IOR Level"].default_value = 0.0
        elif kind in ("plastic", "roughplastic"):
            self._color_input(tree, inp["Base Color"], bsdf.get("diffuse_reflectance", [0.5] * 3))
            inp["Roughness"].default_value = _roughness(bsdf.get("alpha", 0.0)) if kind == "roughplastic" else 0.0
            inp["IOR"].default_value = float(bsdf.get("int_ior", 1.49))
        elif kind in ("conductor", "roughconductor"):
            inp["Base Color"].default_value = (*METAL_COLORS.get(bsdf.get("material", "Al"), METAL_COLORS["Al"]), 1)
            inp["Metallic"].default_value = 1.0
            inp["Roughness"].default_value = _roughness(bsdf.get("alpha", 0.0)) if kind == "roughconductor" else 0.0
        elif kind in ("dielectric", "roughdielectric"):
            self._color_input(tree, inp["Base Color"], bsdf.get("specular_transmittance", [1.0] * 3))
            inp["Transmission Weight"].default_value = 1.0
            inp["IOR"].default_value = float(bsdf.get("int_ior", 1.5))
            inp["Roughness"].default_value = _roughness(bsdf.get("alpha", 0.0)) if kind == "roughdielectric" else 0.0
        else:
            raise RenderError(f"the Cycles backend cannot translate BSDF type {kind!r}")
        if emitter is not None:  # radiance (linear RGB) = colour x strength, as Mitsuba's area emitter
            radiance = np.asarray(emitter["radiance"]["value"], float)
            strength = float(radiance.max())
            inp["Emission Color"].default_value = (*(radiance / max(strength, 1e-12)), 1.0)
            # Mitsuba's area emitters are one-sided: strength x (1 - Backfacing).
            geometry = tree.nodes.new("ShaderNodeNewGeometry")
            front = tree.nodes.new("ShaderNodeMath")
            front.operation = "MULTIPLY_ADD"  # backfacing x (-strength) + strength
            front.inputs[1].default_value = -strength
            front.inputs[2].default_value = strength
            tree.links.new(geometry.outputs["Backfacing"], front.inputs[0])
            tree.links.new(front.outputs["Value"], inp["Emission Strength"])
        return mat

    # ---------------------------------------------------------------- shapes
    def shape(self, name: str, spec: dict[str, Any]) -> None:
        """A mesh object for a Mitsuba rectangle, cube, sphere, cylinder or disk."""
        import bmesh

        bm = bmesh.new()
        uv = bm.loops.layers.uv.new("UVMap")
        local = np.eye(4)
        kind = spec["type"]
        smooth = False
        if kind == "rectangle":  # [-1, 1]^2 in z = 0, facing +z
            bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=1.0, calc_uvs=True)
        elif kind == "cube":  # [-1, 1]^3
            bmesh.ops.create_cube(bm, size=2.0, calc_uvs=True)
        elif kind == "sphere":
            bmesh.ops.create_uvsphere(bm, u_segments=SPHERE_SEGMENTS[0], v_segments=SPHERE_SEGMENTS[1],
                                      radius=1.0, calc_uvs=True)
            radius = float(spec.get("radius", 1.0))
            local = np.diag([radius, radius, radius, 1.0])
            local[:3, 3] = spec.get("center", (0.0, 0.0, 0.0))
            smooth = True
        elif kind == "cylinder":  # open tube from z = 0 to z = 1 (Mitsuba's default p0, p1)
            radius = float(spec.get("radius", 1.0))
            bmesh.ops.create_cone(bm, cap_ends=False, segments=ROUND_SEGMENTS, radius1=radius, radius2=radius,
                                  depth=1.0, calc_uvs=True)
            bmesh.ops.translate(bm, verts=bm.verts, vec=(0.0, 0.0, 0.5))
            smooth = True
        elif kind == "disk":
            bmesh.ops.create_circle(bm, cap_ends=True, segments=ROUND_SEGMENTS, radius=1.0, calc_uvs=True)
        else:
            raise RenderError(f"the Cycles backend cannot translate shape type {kind!r}")
        del uv
        mesh = self.bpy.data.meshes.new(f"mcdenoise_{name}")
        bm.to_mesh(mesh)
        bm.free()
        if smooth:
            mesh.shade_smooth()
        mesh.materials.append(self.material(spec.get("bsdf"), spec.get("emitter")))
        obj = self.bpy.data.objects.new(name, mesh)
        to_world = spec["to_world"].matrix if "to_world" in spec else np.eye(4)
        obj.matrix_world = _matrix(Y_UP_TO_Z_UP @ to_world @ local)
        self.scene.collection.objects.link(obj)

    # ---------------------------------------------------------------- world
    def world(self, spec: dict[str, Any] | None) -> None:
        """A constant or lat-long environment (black when the scene has none)."""
        world = self.bpy.data.worlds.new("mcdenoise_world")
        self.scene.world = world
        tree = world.node_tree
        background = tree.nodes["Background"]
        if spec is None:
            background.inputs["Color"].default_value = (0, 0, 0, 1)
        elif spec["type"] == "constant":
            self._color_input(tree, background.inputs["Color"], spec["radiance"])
        else:  # envmap: both map lat-long images about the up axis; Blender's u is Mitsuba's + 1/4
            tex = tree.nodes.new("ShaderNodeTexEnvironment")
            array = spec["bitmap"].array
            tex.image = self._image(np.roll(array, array.shape[1] // 4, axis=1))
            tree.links.new(tex.outputs["Color"], background.inputs["Color"])
            background.inputs["Strength"].default_value = float(spec.get("scale", 1.0))


BSDF_TYPES = {"diffuse", "plastic", "roughplastic", "conductor", "roughconductor", "dielectric",
              "roughdielectric", "twosided"}
SHAPE_TYPES = {"rectangle", "cube", "sphere", "cylinder", "disk"}
EMITTER_TYPES = {"constant", "envmap"}


def _matrix(m: np.ndarray) -> Any:
    """A mathutils Matrix from a numpy 4x4."""
    from mathutils import Matrix

    return Matrix([[float(v) for v in row] for row in m])


def _camera(bpy: Any, view: View, width: int, height: int) -> Any:
    """A Blender camera matching Mitsuba's perspective / thin-lens sensor for `view`."""
    cam = bpy.data.cameras.new("mcdenoise_camera")
    # Mitsuba's fov is along the smaller image axis.
    if width <= height:
        cam.sensor_fit = "HORIZONTAL"
        cam.angle_x = math.radians(view.fov)
    else:
        cam.sensor_fit = "VERTICAL"
        cam.angle_y = math.radians(view.fov)
    if view.aperture > 0:  # Cycles: aperture radius = focal length / (2 f-stop)
        distance = float(np.linalg.norm(np.subtract(view.target, view.origin)))
        cam.dof.use_dof = True
        cam.dof.focus_distance = view.focus_distance or distance
        cam.dof.aperture_fstop = (cam.lens * 1e-3) / (2.0 * view.aperture)
    obj = bpy.data.objects.new("mcdenoise_camera", cam)
    look = neutral.ScalarTransform4f().look_at(origin=view.origin, target=view.target, up=view.up).matrix
    obj.matrix_world = _matrix(Y_UP_TO_Z_UP @ look @ CAMERA_FLIP)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def build_scene(bpy: Any, spec: SceneSpec, view: View, width: int, height: int, pixel_filter: str) -> Any:
    """Reset Blender and build `spec` seen from `view` as a Cycles scene; return the bpy scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene_dict = spec.build(neutral, view)
    scene = bpy.context.scene
    builder = _Builder(bpy, scene_dict)
    env = None
    for name, item in scene_dict.items():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in SHAPE_TYPES:
            builder.shape(name, item)
        elif kind in EMITTER_TYPES:
            env = item
        elif kind not in BSDF_TYPES:
            raise RenderError(f"the Cycles backend cannot translate {name!r} of type {kind!r}")
    builder.world(env)
    scene.camera = _camera(bpy, view, width, height)

    render = scene.render
    render.engine = "CYCLES"
    render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
    render.use_file_extension = False  # we write to an exact (temporary) path
    cycles = scene.cycles
    cycles.device = "CPU"
    cycles.use_adaptive_sampling = False  # a fixed spp per render, like the Mitsuba backend
    cycles.use_denoising = False
    cycles.sample_clamp_direct = 0.0  # no clamping: clamped renders are biased (darker)
    cycles.sample_clamp_indirect = 0.0
    cycles.blur_glossy = 0.0
    cycles.caustics_reflective = cycles.caustics_refractive = True
    depth = max(spec.max_depth - 1, 1)  # Mitsuba's max_depth counts the camera ray
    cycles.max_bounces = cycles.diffuse_bounces = cycles.glossy_bounces = depth
    cycles.transmission_bounces = cycles.transparent_max_bounces = depth
    cycles.pixel_filter_type, cycles.filter_width = CYCLES_FILTERS[pixel_filter]
    scene.view_layers[0].cycles.denoising_store_passes = True  # Denoising Albedo / Normal passes
    settings = render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.exr_codec = "ZIP"
    return scene


class CyclesView:
    """One (view, pixel filter) of a scene built in Blender, rendered as often as needed with new seeds."""

    def __init__(self, spec: SceneSpec, view: View, width: int, height: int, pixel_filter: str) -> None:
        self.bpy = load_bpy()
        self.scene = build_scene(self.bpy, spec, view, width, height, pixel_filter)

    def render(self, path: Path, spp: int, seed: int, pixel_type: str, header: dict[str, Any]) -> None:
        """Render `spp` samples with `seed`; Blender writes the multilayer EXR (its own header), atomically."""
        del header  # Blender writes its own; scene.json records spp and seeds
        if "#" in str(path):  # Blender would replace '#' in an output path with the frame number
            raise RenderError(f"{path}: the Blender backend cannot write to paths containing '#'")
        scene = self.scene
        scene.cycles.samples = spp
        scene.cycles.seed = seed & 0x7FFFFFFF
        scene.render.image_settings.color_depth = "16" if pixel_type == "half" else "32"

        def write(tmp: str) -> None:
            scene.render.filepath = tmp
            with native.output_captured("Blender", log):  # Blender prints "Saved: ..." per file
                self.bpy.ops.render.render(write_still=True)
            if not Path(tmp).stat().st_size:
                raise RenderError(f"Blender did not write {path}")

        atomic_write(path, write)

    def reference(self, path: Path, spp: int, seed: int, header: dict[str, Any], bar: Any) -> None:
        """A high-spp float render (Cycles accumulates progressively; no chunks needed)."""
        self.render(path, spp, seed, "float", header)
        bar.update(spp)
