"""Render handlers: denoise every rendered frame when the scene asks for it.

Animation frames: after Blender writes a frame (render_write), its passes are saved and queued; a
worker thread writes `<frame>.denoised.exr` beside Blender's output, so frame numbering is Blender's.
Stills (F12, nothing written): when the render completes, the result goes to the Image Editor.
Handlers never wait on the network, except at the end of a background (`blender -b`) render, which
waits for the queue so that the process does not exit before the last frame is denoised.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import bpy
from bpy.app.handlers import persistent

from . import render_io
from .props import work_settings
from .work import FrameQueue

log = logging.getLogger(__name__)
_state = {"queue": None, "wrote_frames": False}


def _queue() -> FrameQueue:
    if _state["queue"] is None:
        _state["queue"] = FrameQueue()
    return _state["queue"]


def denoised_path(frame_path: str) -> Path:
    """`/out/shot_0042.png` -> `/out/shot_0042.denoised.exr`."""
    path = Path(frame_path)
    return path.with_name(path.stem + ".denoised.exr") if path.suffix else path.with_name(path.name + ".denoised.exr")


@persistent
def on_render_init(scene: bpy.types.Scene, *_: object) -> None:
    _state["wrote_frames"] = False
    if scene.mcdenoise.denoise_after_render and scene.render.engine == "CYCLES":
        render_io.enable_passes(scene)


@persistent
def on_render_write(scene: bpy.types.Scene, *_: object) -> None:
    """A frame was written: queue its denoising (the written file itself when it is a multilayer EXR)."""
    if not scene.mcdenoise.denoise_after_render:
        return
    _state["wrote_frames"] = True
    written = Path(scene.render.frame_path(frame=scene.frame_current))
    output = denoised_path(str(written))
    source, temporary = written, False
    try:
        if scene.render.image_settings.file_format != "OPEN_EXR_MULTILAYER" or not written.is_file():
            fd, name = tempfile.mkstemp(prefix="mcdenoise_frame_", suffix=".exr", dir=render_io.result_dir())
            os.close(fd)
            source, temporary = Path(name), True
            render_io.save_render_result(scene, source)
        _queue().submit(work_settings(bpy.context, scene), source, output, temporary)
    except render_io.RenderIOError as exc:
        if temporary:
            source.unlink(missing_ok=True)
        scene.mcdenoise.status = f"error: frame {scene.frame_current}: {exc}"
        log.error("mcdenoise: frame %d: %s", scene.frame_current, exc)


@persistent
def on_render_complete(scene: bpy.types.Scene, *_: object) -> None:
    """Stills go to the Image Editor; a background render waits for its queued frames."""
    if not scene.mcdenoise.denoise_after_render:
        return
    if not _state["wrote_frames"]:
        if bpy.app.background:  # no event loop: denoise now
            bpy.ops.mcdenoise.denoise_render(wait=True)
        else:  # on the main thread, once the render job has ended
            bpy.app.timers.register(_denoise_still, first_interval=0.0)
    elif bpy.app.background and _state["queue"] is not None:
        _state["queue"].join()
    if _state["queue"] is not None:
        bpy.app.timers.register(_report_frames, first_interval=0.5)


def _denoise_still() -> None:
    """Run Denoise Render once the still's render job ended (a timer has no window: give it one)."""
    windows = list(getattr(bpy.context.window_manager, "windows", []))
    try:
        if windows:  # the modal operator needs a window for its timer and handler
            with bpy.context.temp_override(window=windows[0]):
                bpy.ops.mcdenoise.denoise_render("INVOKE_DEFAULT")
        else:
            bpy.ops.mcdenoise.denoise_render(wait=True)
    except RuntimeError as exc:
        log.error("mcdenoise: %s", exc)


def _report_frames() -> float | None:
    """Copy the queue's messages into the scene status; poll until the queue is empty."""
    queue = _state["queue"]
    scene = bpy.context.scene
    if queue is None or scene is None:
        return None
    while queue.messages:
        message = queue.messages.pop(0)
        scene.mcdenoise.status = message
        (log.error if message.startswith("ERROR") else log.info)("mcdenoise: %s", message)
    return 0.5 if queue.pending else None


HANDLERS = (("render_init", on_render_init), ("render_write", on_render_write), ("render_complete", on_render_complete))


def register() -> None:
    """Attach the render handlers."""
    for name, fn in HANDLERS:
        getattr(bpy.app.handlers, name).append(fn)


def unregister() -> None:
    """Detach the handlers and stop the worker thread (after frames already queued)."""
    for name, fn in HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        while fn in handlers:
            handlers.remove(fn)
    for timer in (_denoise_still, _report_frames):
        if bpy.app.timers.is_registered(timer):
            bpy.app.timers.unregister(timer)
    if _state["queue"] is not None:
        _state["queue"].stop()
        _state["queue"] = None
