"""Add-on preferences (where to denoise) and per-scene settings (saved in the .blend)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .work import Settings

ADDON_ID = __package__  # "mcdenoise_blender", or "bl_ext.<repo>.mcdenoise" when installed as an extension


class MCDENOISE_AP_preferences(bpy.types.AddonPreferences):
    """Service URL and key, or local mode."""

    bl_idname = ADDON_ID

    mode: EnumProperty(name="Denoise with", items=[
        ("SERVICE", "Service", "POST renders to an mcdenoise service (mcdenoise serve)"),
        ("LOCAL", "Local", "mcdenoise installed in Blender's Python (its ONNX Runtime or PyTorch backend)"),
    ], default="SERVICE")
    service_url: StringProperty(name="Service URL", default="http://127.0.0.1:8000")
    api_key: StringProperty(name="API key", subtype="PASSWORD", description="the service's MCDENOISE_API_KEY, if set")
    timeout: FloatProperty(name="Timeout (s)", default=120.0, min=1.0, max=3600.0,
                           description="longest wait for one answer of the service")
    mcdenoise_command: StringProperty(name="mcdenoise command", default="mcdenoise",
                                      description="the mcdenoise executable used by Fit (name on PATH or full path)")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "mode", expand=True)
        col = layout.column()
        col.enabled = self.mode == "SERVICE"
        col.prop(self, "service_url")
        col.prop(self, "api_key")
        layout.prop(self, "timeout")
        layout.prop(self, "mcdenoise_command")


class MCDENOISE_PG_scene(bpy.types.PropertyGroup):
    """Per-scene settings: the model this .blend uses, automatic denoising, training pairs and fit."""

    model: StringProperty(name="Model", default="",
                          description="default (best on Cycles frames too), slim (faster), lean, interior, or a "
                                      "fitted model's name (in local mode also a .onnx path); "
                                      "empty: the service's default")
    passes: IntProperty(name="Passes", default=1, min=1, max=8,
                        description="denoise 1-8 flipped/transposed copies and average them: cleaner, that many "
                                    "times the time (8 for final frames)")
    denoise_after_render: BoolProperty(name="Denoise after every render", default=False,
                                       description="denoise each rendered still or animation frame; animation frames "
                                                   "are written beside Blender's output as <frame>.denoised.exr")
    pairs_dir: StringProperty(name="Folder", subtype="DIR_PATH", default="//mcdenoise_training/",
                              description="training renders go to FOLDER/<scene>/<camera>_box/render_NNN.exr")
    pairs_count: IntProperty(name="Renders", default=4, min=2, max=64,
                             description="independent renders (seeds) per camera")
    pairs_spp: IntProperty(name="Samples", default=4, min=1, max=4096, description="samples per pixel of each render")
    pairs_all_cameras: BoolProperty(name="All cameras", default=False,
                                    description="render every camera of the scene, not only the active one")
    fit_minutes: FloatProperty(name="Minutes", default=10.0, min=0.1, max=10000.0)
    fit_name: StringProperty(name="Model name", default="",
                             description="name of the fitted model (default: the scene's name)")
    status: StringProperty(name="Status", default="")
    last_result: StringProperty(name="Last result", subtype="FILE_PATH", default="")


def prefs(context: bpy.types.Context) -> MCDENOISE_AP_preferences:
    """The add-on preferences."""
    return context.preferences.addons[ADDON_ID].preferences


def work_settings(context: bpy.types.Context, scene: bpy.types.Scene) -> Settings:
    """A thread-safe copy of what a denoise needs."""
    p = prefs(context)
    return Settings(mode=p.mode, url=p.service_url, api_key=p.api_key, timeout=p.timeout, model=scene.mcdenoise.model,
                    passes=scene.mcdenoise.passes)


CLASSES = (MCDENOISE_AP_preferences, MCDENOISE_PG_scene)


def register() -> None:
    """Register the property classes and attach the scene settings."""
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.mcdenoise = bpy.props.PointerProperty(type=MCDENOISE_PG_scene)


def unregister() -> None:
    """Detach and unregister."""
    del bpy.types.Scene.mcdenoise
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
