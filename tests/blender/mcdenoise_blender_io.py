"""Test helper for addon_driver.py: keep the noisy input and a higher-spp render of the same view."""

from __future__ import annotations

from pathlib import Path


def save_input_and_reference(bpy, scene, out: Path) -> None:
    """Copy the current Render Result to OUT/input.exr, then render 256 spp to OUT/reference.exr."""
    settings = scene.render.image_settings
    saved = (settings.media_type, settings.file_format)
    settings.media_type, settings.file_format, settings.color_depth = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER", "32"
    bpy.data.images["Render Result"].save_render(str(out / "input.exr"), scene=scene)
    samples = scene.cycles.samples
    scene.cycles.samples = 256
    bpy.ops.render.render()
    bpy.data.images["Render Result"].save_render(str(out / "reference.exr"), scene=scene)
    scene.cycles.samples = samples
    settings.media_type, settings.file_format = saved
