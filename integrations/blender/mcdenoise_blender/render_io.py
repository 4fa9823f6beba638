"""Moving pixels between Blender and files: the Render Result out as a multilayer EXR, results in as images."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

RESULT_IMAGE = "mcdenoise Denoised"


class RenderIOError(Exception):
    """A user-facing problem with the render (no render yet, wrong engine); str() is the message."""


def enable_passes(scene: bpy.types.Scene) -> bool:
    """Turn on Cycles' Denoising Data passes on every view layer; True when any was off."""
    if scene.render.engine != "CYCLES":
        raise RenderIOError(f"mcdenoise needs Cycles' Denoising Data passes; the render engine is {scene.render.engine}")
    changed = False
    for layer in scene.view_layers:
        if not layer.cycles.denoising_store_passes:
            layer.cycles.denoising_store_passes = True
            changed = True
    return changed


def save_render_result(scene: bpy.types.Scene, path: Path) -> None:
    """Write the Render Result with all its passes as a half-float multilayer EXR (ZIP), leaving the scene's
    settings as they were. Half keeps a 4K frame's upload well under the service's default size limit."""
    image = bpy.data.images.get("Render Result")
    if image is None:
        raise RenderIOError("there is no render yet: render (F12) first")
    settings = scene.render.image_settings
    saved = (settings.media_type, settings.file_format, settings.color_depth, settings.exr_codec)
    try:
        settings.media_type = "MULTI_LAYER_IMAGE"
        settings.file_format = "OPEN_EXR_MULTILAYER"
        settings.color_depth = "16"
        settings.exr_codec = "ZIP"
        tmp = path.with_name(f".{path.name}.part.exr")  # then a rename: nobody sees half a file
        try:
            image.save_render(str(tmp), scene=scene)
            os.replace(tmp, path)
        except RuntimeError as exc:
            raise RenderIOError(f"the Render Result cannot be saved ({exc}); render (F12) first") from None
        except OSError as exc:
            raise RenderIOError(f"cannot write {path}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        settings.media_type = saved[0]  # first: it decides which file formats are valid
        settings.file_format = saved[1]
        settings.color_depth, settings.exr_codec = saved[2], saved[3]


def show_result(path: Path) -> bpy.types.Image:
    """Load (or reload) the denoised EXR as the image RESULT_IMAGE and show it in every Image Editor."""
    image = bpy.data.images.get(RESULT_IMAGE)
    if image is None:
        image = bpy.data.images.load(str(path), check_existing=False)
        image.name = RESULT_IMAGE
    else:
        image.filepath = str(path)
        image.reload()
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
    return image


def result_dir() -> Path:
    """A folder for denoised results of this session (Blender's temp directory)."""
    folder = Path(bpy.app.tempdir or "/tmp") / "mcdenoise"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
