"""Drive the Blender add-on headless (run by tests/test_blender.py with the Blender-venv Python).

    python addon_driver.py ZIP URL API_KEY OUT_DIR MCDENOISE_COMMAND

Builds a tiny Cycles scene, installs and enables the add-on from its zip, runs every operator and
error case against the live service at URL, unregisters, and prints one JSON line of results.
Images are written under OUT_DIR for the test to check with mcdenoise's own reader.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy

from mcdenoise.cycles import build_scene
from mcdenoise.scenes import get_scene

zip_path, url, api_key, out_dir, command = sys.argv[-5:]
out = Path(out_dir)
results: dict[str, object] = {}


def call(op, **kwargs) -> str:
    """Run an operator; '' when it finished, else the error text it reported (RuntimeError) or its result."""
    try:
        result = op(**kwargs)
    except RuntimeError as exc:
        return str(exc).strip()
    return "" if result == {"FINISHED"} else f"result {sorted(result)}"


# A tiny Cycles scene (the Cornell box of the project's scene library), 64x64, 2 spp.
spec = get_scene("cornell")
scene = build_scene(bpy, spec, spec.views[0], 64, 64, "box")
scene.cycles.samples = 2
scene.render.filepath = str(out / "frames" / "f_####")
scene.render.use_file_extension = True  # build_scene turned it off for its own exact paths
scene.render.image_settings.media_type = "IMAGE"
scene.render.image_settings.file_format = "PNG"

bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
module = next(a.module for a in bpy.context.preferences.addons if a.module.endswith("mcdenoise"))
prefs = bpy.context.preferences.addons[module].preferences
prefs.service_url, prefs.api_key, prefs.timeout, prefs.mcdenoise_command = url, api_key, 60.0, command
results["registered"] = hasattr(bpy.types.Scene, "mcdenoise") and hasattr(bpy.ops.mcdenoise, "denoise_render")
scene = bpy.context.scene

# Errors first: no render yet; passes off; engine not Cycles.
results["no_render"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
scene.view_layers[0].cycles.denoising_store_passes = False
results["passes_off"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
results["passes_turned_on"] = scene.view_layers[0].cycles.denoising_store_passes
scene.render.engine = "BLENDER_EEVEE"
results["not_cycles"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
scene.render.engine = "CYCLES"

# Denoise the render; keep the noisy input and a 256-spp render of the same view to compare.
bpy.ops.render.render()
results["denoise"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
results["denoised"] = scene.mcdenoise.last_result
results["image_shown"] = "mcdenoise Denoised" in bpy.data.images
results["save"] = call(bpy.ops.mcdenoise.save_denoised, filepath=str(out / "saved.exr"))
from mcdenoise_blender_io import save_input_and_reference  # noqa: E402  (helper next to this script)

save_input_and_reference(bpy, scene, out)

# Final-quality passes: the service averages 4 oriented denoises (header says so).
scene.mcdenoise.passes = 4
results["denoise_passes"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
results["save_passes"] = call(bpy.ops.mcdenoise.save_denoised, filepath=str(out / "saved_passes.exr"))
scene.mcdenoise.passes = 1

# Service errors: wrong key, unknown model, service down.
prefs.api_key = "wrong-key"
results["wrong_key"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
prefs.api_key = api_key
scene.mcdenoise.model = "no_such_model"
results["unknown_model"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
scene.mcdenoise.model = ""
prefs.service_url = "http://127.0.0.1:9"  # nothing listens on the discard port
results["service_down"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
prefs.service_url = url

# Denoise after every animation frame: beside Blender's output, same numbering.
scene.mcdenoise.denoise_after_render = True
scene.frame_start, scene.frame_end = 1, 2
bpy.ops.render.render(animation=True)
scene.mcdenoise.denoise_after_render = False
results["frames"] = sorted(p.name for p in (out / "frames").iterdir())

# Training pairs need a folder: '//' with an unsaved .blend, or a fit before any training render, are errors.
scene.mcdenoise.pairs_dir = "//mcdenoise_training/"
results["pairs_unsaved_blend"] = call(bpy.ops.mcdenoise.render_training_pairs, wait=True)
scene.mcdenoise.pairs_dir = str(out / "empty")
results["fit_without_pairs"] = call(bpy.ops.mcdenoise.fit, wait=True)

# Training pairs of this camera, then a (very short) fit that uploads the model and selects it.
scene.mcdenoise.pairs_dir = str(out / "pairs")
scene.mcdenoise.pairs_count, scene.mcdenoise.pairs_spp = 2, 2
results["pairs"] = call(bpy.ops.mcdenoise.render_training_pairs, wait=True)
results["pairs_files"] = sorted(str(p.relative_to(out)) for p in (out / "pairs").rglob("*.exr"))
results["samples_restored"] = scene.cycles.samples
scene.mcdenoise.fit_minutes, scene.mcdenoise.fit_name = 0.05, "shot010"
results["fit"] = call(bpy.ops.mcdenoise.fit, wait=True)
results["model_after_fit"] = scene.mcdenoise.model
results["denoise_with_fit"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)

# Local mode: mcdenoise (with onnxruntime) in this Python, the shipped model; a missing model file is an error.
prefs.mode, scene.mcdenoise.model = "LOCAL", ""
results["local"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
results["local_save"] = call(bpy.ops.mcdenoise.save_denoised, filepath=str(out / "saved_local.exr"))
scene.mcdenoise.model = str(out / "missing.onnx")
results["local_missing_model"] = call(bpy.ops.mcdenoise.denoise_render, wait=True)
prefs.mode, scene.mcdenoise.model = "SERVICE", ""

# Unregister: nothing of the add-on stays behind.
bpy.ops.preferences.addon_disable(module=module)
handlers = [fn for name in ("render_init", "render_write", "render_complete")
            for fn in getattr(bpy.app.handlers, name) if "mcdenoise" in getattr(fn, "__module__", "")]
results["clean_after_unregister"] = (not hasattr(bpy.types.Scene, "mcdenoise") and not handlers
                                     and not hasattr(bpy.types, "RENDER_PT_mcdenoise"))
print("RESULTS " + json.dumps(results))
