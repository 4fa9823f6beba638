"""Operators: denoise the render, save the result, render training pairs, fit a model for this .blend.

Long work runs on threads or child processes polled by a modal timer, so the UI never freezes; with
`wait=True` or in background mode (`blender -b`, scripts, tests) the operator finishes before returning.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from . import render_io
from .client import Service, ServiceError
from .props import prefs, work_settings
from .work import FitProcess, Job, denoise_exr

POLL_S = 0.2


def _blocking(op: bpy.types.Operator) -> bool:
    """Finish inside execute(): scripts ask for it, and background mode has no event loop for timers."""
    return op.wait or bpy.app.background


class _Modal:
    """A timer-driven modal loop; `wait=True` (scripts) or background mode runs the work inside execute()."""

    _timer = None
    wait: BoolProperty(default=False, options={"SKIP_SAVE", "HIDDEN"})

    def _start_modal(self, context: bpy.types.Context) -> set[str]:
        self._timer = context.window_manager.event_timer_add(POLL_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _stop_modal(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None


class MCDENOISE_OT_denoise_render(_Modal, bpy.types.Operator):
    """Denoise the Render Result (Noisy Image/Combined + Denoising Albedo + Denoising Normal) with mcdenoise"""

    bl_idname = "mcdenoise.denoise_render"
    bl_label = "Denoise Render"

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        try:
            if render_io.enable_passes(scene):
                self.report({"WARNING"}, "Denoising Data passes were off: turned them on; render again (F12), then denoise")
                return {"CANCELLED"}
            folder = render_io.result_dir()
            self.source, self.output = folder / "render_input.exr", folder / f"{_safe(scene.name)}_denoised.exr"
            render_io.save_render_result(scene, self.source)
        except render_io.RenderIOError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        settings = work_settings(context, scene)
        self.job = Job(lambda: denoise_exr(settings, self.source, self.output))
        scene.mcdenoise.status = "denoising..."
        if _blocking(self):
            self.job.wait()
            return self._finish(context)
        return self._start_modal(context)

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "TIMER" and self.job.done:
            self._stop_modal(context)
            return self._finish(context)
        return {"PASS_THROUGH"}

    def _finish(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        if self.job.error:
            scene.mcdenoise.status = f"error: {self.job.error}"
            self.report({"ERROR"}, self.job.error)
            return {"CANCELLED"}
        render_io.show_result(self.output)
        scene.mcdenoise.last_result = str(self.output)
        scene.mcdenoise.status = f"denoised: image '{render_io.RESULT_IMAGE}'"
        self.report({"INFO"}, f"mcdenoise: result in image '{render_io.RESULT_IMAGE}'")
        return {"FINISHED"}


class MCDENOISE_OT_save_denoised(bpy.types.Operator, ExportHelper):
    """Save the last denoised result as an OpenEXR file"""

    bl_idname = "mcdenoise.save_denoised"
    bl_label = "Save Denoised EXR"
    filename_ext = ".exr"
    filter_glob: StringProperty(default="*.exr", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        source = Path(context.scene.mcdenoise.last_result)
        if not source.is_file():
            self.report({"ERROR"}, "nothing denoised yet: use Denoise Render first")
            return {"CANCELLED"}
        target = Path(bpy.path.abspath(self.filepath))
        if target.resolve() == source.resolve():
            return {"FINISHED"}
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.report({"ERROR"}, f"cannot write {target}: {exc.strerror or exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"saved {target}")
        return {"FINISHED"}


def _safe(name: str) -> str:
    """A folder-safe version of a Blender name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "scene"


def _training_dir(scene: bpy.types.Scene) -> Path:
    """FOLDER/<scene> of the training renders; a '//' folder needs a saved .blend."""
    root = Path(bpy.path.abspath(scene.mcdenoise.pairs_dir or "//mcdenoise_training/"))
    if not root.is_absolute():
        raise render_io.RenderIOError("save the .blend first, or choose an absolute training folder")
    return root / _safe(scene.name)


class MCDENOISE_OT_render_training_pairs(_Modal, bpy.types.Operator):
    """Render independent low-spp seeds of the camera(s) into a scene folder that mcdenoise fit reads"""

    bl_idname = "mcdenoise.render_training_pairs"
    bl_label = "Render Training Pairs"

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        s = scene.mcdenoise
        if scene.render.engine != "CYCLES":
            self.report({"ERROR"}, f"training pairs need Cycles; the render engine is {scene.render.engine}")
            return {"CANCELLED"}
        cameras = [o for o in scene.objects if o.type == "CAMERA"] if s.pairs_all_cameras else [scene.camera]
        if not cameras or cameras[0] is None:
            self.report({"ERROR"}, "the scene has no camera")
            return {"CANCELLED"}
        try:
            self.scene_dir = _training_dir(scene)
            self.scene_dir.mkdir(parents=True, exist_ok=True)
        except render_io.RenderIOError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except OSError as exc:
            self.report({"ERROR"}, f"cannot create the training folder: {exc.strerror or exc}")
            return {"CANCELLED"}
        self.todo = [(cam, i) for cam in cameras for i in range(s.pairs_count)]
        self.total = len(self.todo)
        cycles = scene.cycles
        self.saved = (scene.camera, cycles.samples, cycles.seed, cycles.use_denoising, cycles.use_adaptive_sampling,
                      cycles.use_animated_seed)
        render_io.enable_passes(scene)
        cycles.samples, cycles.use_denoising, cycles.use_adaptive_sampling = s.pairs_spp, False, False
        cycles.use_animated_seed = False
        if _blocking(self):
            while self.todo:
                if not self._step(context):
                    return {"CANCELLED"}
            return self._finish(context)
        return self._start_modal(context)

    def _step(self, context: bpy.types.Context) -> bool:
        """Render and save the next (camera, seed); False after an error (reported, settings restored)."""
        scene = context.scene
        cam, i = self.todo.pop(0)
        scene.camera = cam
        scene.cycles.seed = 1000 + i  # one fixed seed per render index: re-running gives the same files
        view_dir = self.scene_dir / f"{_safe(cam.name)}_box"
        view_dir.mkdir(exist_ok=True)
        try:
            bpy.ops.render.render()
            render_io.save_render_result(scene, view_dir / f"render_{i:03d}.exr")
        except (render_io.RenderIOError, RuntimeError) as exc:
            self._restore(context)
            self.report({"ERROR"}, f"training render failed: {exc}")
            return False
        scene.mcdenoise.status = f"training renders: {self.total - len(self.todo)}/{self.total}"
        return True

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self._stop_modal(context)
            self._restore(context)
            self.report({"WARNING"}, "training renders stopped; the files written so far are kept")
            return {"CANCELLED"}
        if event.type == "TIMER":
            if not self._step(context):
                self._stop_modal(context)
                return {"CANCELLED"}
            if not self.todo:
                self._stop_modal(context)
                return self._finish(context)
        return {"RUNNING_MODAL"}

    def _restore(self, context: bpy.types.Context) -> None:
        scene, cycles = context.scene, context.scene.cycles
        (scene.camera, cycles.samples, cycles.seed, cycles.use_denoising, cycles.use_adaptive_sampling,
         cycles.use_animated_seed) = self.saved

    def _finish(self, context: bpy.types.Context) -> set[str]:
        self._restore(context)
        scene = context.scene
        meta = {"scene": scene.name, "renderer": f"Blender {bpy.app.version_string} Cycles",
                "description": "training renders from the mcdenoise Blender add-on", "spp": scene.mcdenoise.pairs_spp}
        (self.scene_dir / "scene.json").write_text(json.dumps(meta, indent=2) + "\n")
        scene.mcdenoise.status = f"{self.total} training renders in {self.scene_dir}"
        self.report({"INFO"}, scene.mcdenoise.status)
        return {"FINISHED"}


class MCDENOISE_OT_fit(_Modal, bpy.types.Operator):
    """Fine-tune a model on the training renders (mcdenoise fit), export it, and use it for this .blend"""

    bl_idname = "mcdenoise.fit"
    bl_label = "Fit Model"

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        s = scene.mcdenoise
        try:
            scene_dir = _training_dir(scene)
        except render_io.RenderIOError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if not any(scene_dir.glob("*/render_*.exr")):
            self.report({"ERROR"}, f"no training renders in {scene_dir}: use Render Training Pairs first")
            return {"CANCELLED"}
        self.model_name = _safe(s.fit_name or scene.name)
        p = prefs(context)
        name = self.model_name
        try:
            service = Service(p.service_url, p.api_key, p.timeout) if p.mode == "SERVICE" else None
            upload = (lambda onnx: service.upload_model(name, onnx.read_bytes())) if service else None
            self.proc = FitProcess(p.mcdenoise_command, scene_dir, scene_dir / f"{self.model_name}.pt", s.fit_minutes,
                                   after=upload)
        except ServiceError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if _blocking(self):
            self.proc.wait()
            return self._finish(context)
        return self._start_modal(context)

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self.proc.cancel()
        if event.type == "TIMER":
            context.scene.mcdenoise.status = f"fit: {self.proc.status}"
            for area in context.screen.areas if context.screen else []:
                if area.type == "PROPERTIES":
                    area.tag_redraw()
            if self.proc.done:
                self._stop_modal(context)
                return self._finish(context)
        return {"PASS_THROUGH"}

    def _finish(self, context: bpy.types.Context) -> set[str]:
        s = context.scene.mcdenoise
        if self.proc.error:
            s.status = f"fit: {self.proc.error}"
            self.report({"ERROR"}, f"fit: {self.proc.error}")
            return {"CANCELLED"}
        # Service mode: the thread uploaded it under its name; local mode: the .onnx file itself.
        s.model = self.model_name if prefs(context).mode == "SERVICE" else str(self.proc.onnx)
        s.status = f"fitted: this .blend now uses model {s.model!r}"
        self.report({"INFO"}, s.status)
        return {"FINISHED"}


CLASSES = (MCDENOISE_OT_denoise_render, MCDENOISE_OT_save_denoised, MCDENOISE_OT_render_training_pairs, MCDENOISE_OT_fit)
