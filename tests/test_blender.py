"""Blender: the Cycles render backend and the add-on, headless through `bpy` against a live service.

bpy 5.0.1 needs numpy < 2, so it lives in its own venv (`.venv-blender`, made by `.ci/run`; or set
MCDENOISE_BLENDER_PYTHON). Without it these tests skip, except under MCDENOISE_REQUIRE_BLENDER=1
(CI), where a missing Blender is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mcdenoise.cli import main
from mcdenoise.errors import RenderError
from mcdenoise.exr import read_frame
from mcdenoise.metrics import psnr_tonemapped
from mcdenoise.scenes import get_scene, neutral
from conftest import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "integrations" / "blender"


def blender_python() -> Path:
    """The Python that has bpy; skip (or fail in CI) when there is none."""
    path = Path(os.environ.get("MCDENOISE_BLENDER_PYTHON") or ROOT / ".venv-blender" / "bin" / "python")
    if not path.is_file():
        if os.environ.get("MCDENOISE_REQUIRE_BLENDER") == "1":
            pytest.fail(f"no Blender Python at {path} (MCDENOISE_REQUIRE_BLENDER=1)")
        pytest.skip(f"no Blender Python at {path}; .ci/run makes .venv-blender")
    return path


def run_blender(args: list[str], tmp_path: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the Blender-venv Python with a private HOME (Blender's config and extensions go there)."""
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    return subprocess.run([str(blender_python()), *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)


# ------------------------------------------------------------------------------------------ no bpy needed
def test_neutral_description_matches_mitsuba() -> None:
    """The renderer-neutral transforms are Mitsuba's, so one scene definition drives both backends."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    ours, theirs = neutral.cornell_box(), mi.cornell_box()
    for name, item in ours.items():
        if isinstance(item, dict) and "to_world" in item:
            np.testing.assert_allclose(item["to_world"].matrix, np.array(theirs[name]["to_world"].matrix), atol=1e-6)
    chain = dict(origin=[1, 2, 3], target=[0, 0.5, 0], up=[0, 1, 0])
    a = neutral.ScalarTransform4f().look_at(**chain).rotate([0.6, 0.8, 0], 33).scale([1, 2, 3]).translate([1, -2, 0.5])
    b = mi.ScalarTransform4f().look_at(**chain).rotate([0.6, 0.8, 0], 33).scale([1, 2, 3]).translate([1, -2, 0.5])
    np.testing.assert_allclose(a.matrix, np.array(b.matrix), atol=1e-5)
    for name in ("interior", "room_3", "lamp_3", "proc_7"):  # every builder runs on the neutral module
        spec = get_scene(name)
        assert spec.build(neutral, spec.views[0])


def test_blender_backend_without_bpy_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import bpy  # noqa: F401
        pytest.skip("bpy is installed in this Python")
    except ImportError:
        pass
    assert main(["render", "cornell", "--backend", "blender", "-o", str(tmp_path), "--size", "8"]) == 2
    err = capsys.readouterr().err
    assert "mcdenoise[blender]" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_one_scene_folder_holds_one_renderer(tmp_path: Path) -> None:
    pytest.importorskip("mitsuba")
    from mcdenoise.render import RenderSettings, render_scene

    (tmp_path / "cornell").mkdir()
    (tmp_path / "cornell" / "scene.json").write_text(json.dumps({"renderer": "Blender 5.0.1 Cycles", "views": {}}))
    with pytest.raises(RenderError, match="another folder"):
        render_scene(get_scene("cornell"), tmp_path, RenderSettings(width=8, height=8, spp=1, count=2), progress=False)


def test_addon_zip_has_a_manifest_at_its_root(tmp_path: Path) -> None:
    sys.path.insert(0, str(ADDON))
    try:
        from build import build
    finally:
        sys.path.remove(str(ADDON))
    target = build(tmp_path)
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert "__init__.py" in names and not any("__pycache__" in n for n in names)
    assert manifest["id"] == "mcdenoise" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] >= "4.2.0" and "network" in manifest["permissions"]


# ------------------------------------------------------------------------------------------ with bpy
def test_cycles_backend_renders_the_layout_and_fit_reads_it(tmp_path: Path) -> None:
    done = run_blender(["-m", "mcdenoise.cli", "render", "cornell", "--backend", "blender", "-o", str(tmp_path / "data"),
                        "--views", "cam0", "--size", "32", "--spp", "2", "--count", "2", "--reference-spp", "16"],
                       tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Saved:" not in done.stdout  # Blender's own per-file lines stay out of the CLI's output
    view = tmp_path / "data" / "cornell" / "cam0_box"
    assert sorted(p.name for p in view.iterdir()) == ["reference.exr", "render_000.exr", "render_001.exr"]
    meta = json.loads((tmp_path / "data" / "cornell" / "scene.json").read_text())
    assert meta["renderer"].startswith("Blender 5") and meta["views"]["cam0_box"]["spp"] == 2
    frame = read_frame(view / "render_000.exr")  # Blender's own multi-part multilayer EXR
    assert frame.color.shape == (32, 32, 3) and frame.has_aux and np.isfinite(frame.color).all()
    assert 0.05 < read_frame(view / "reference.exr").color.mean() < 0.5  # lit like Mitsuba's Cornell box (0.15)
    assert main(["info", str(view / "render_000.exr")]) == 0
    assert main(["denoise", str(view / "render_000.exr"), "-o", str(tmp_path / "dn.exr")]) == 0
    assert read_frame(tmp_path / "dn.exr").color.shape == (32, 32, 3)
    out = tmp_path / "fit.pt"
    assert main(["fit", str(tmp_path / "data" / "cornell"), "-o", str(out), "--init", "scratch", "--size", "tiny",
                 "--steps", "3", "--crop", "16", "--val-every", "3"]) == 0
    assert out.is_file()


def test_addon_end_to_end_against_a_live_service(tmp_path: Path) -> None:
    """Install the zip in bpy, run every operator and error case against uvicorn on 127.0.0.1, unregister."""
    python = blender_python()
    sys.path.insert(0, str(ADDON))
    try:
        from build import build
    finally:
        sys.path.remove(str(ADDON))
    addon_zip = build(tmp_path / "dist")
    port, key = free_port(), "test-key"
    (tmp_path / "models").mkdir()
    env = {**os.environ, "MCDENOISE_API_KEY": key, "MCDENOISE_MODELS_DIR": str(tmp_path / "models")}
    server = subprocess.Popen([sys.executable, "-m", "mcdenoise.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, server)
        out = tmp_path / "out"
        (out / "frames").mkdir(parents=True)
        command = str(Path(sys.executable).with_name("mcdenoise"))
        done = run_blender([str(ROOT / "tests" / "blender" / "addon_driver.py"), str(addon_zip),
                            f"http://127.0.0.1:{port}", key, str(out), command], tmp_path)
    finally:
        server.terminate()
        server.wait(10)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    r = json.loads(lines[-1][len("RESULTS "):])
    assert python.is_file()

    assert r["registered"]
    # Every error is one clear report.
    assert "render (F12) first" in r["no_render"]
    assert r["passes_off"] == "result ['CANCELLED']" and r["passes_turned_on"]
    assert "needs Cycles" in r["not_cycles"]
    assert "refused the API key (401)" in r["wrong_key"]
    assert "404" in r["unknown_model"] and "no_such_model" in r["unknown_model"]
    assert "cannot reach the mcdenoise service" in r["service_down"]
    assert "save the .blend first" in r["pairs_unsaved_blend"]
    assert "use Render Training Pairs first" in r["fit_without_pairs"]
    assert not any("Traceback" in str(v) for v in r.values())
    # Denoise render: shown as an image, saved as EXR, right size, finite, closer to 256 spp than the input.
    assert r["denoise"] == "" and r["image_shown"] and r["save"] == ""
    denoised, noisy = read_frame(out / "saved.exr").color, read_frame(out / "input.exr").color
    reference = read_frame(out / "reference.exr").color
    assert denoised.shape == noisy.shape == (64, 64, 3) and np.isfinite(denoised).all()
    assert psnr_tonemapped(denoised, reference) > psnr_tonemapped(noisy, reference) + 2.0
    # Passes: a different (averaged) result, as good.
    assert r["denoise_passes"] == r["save_passes"] == ""
    four = read_frame(out / "saved_passes.exr").color
    assert not np.array_equal(four, denoised)
    assert psnr_tonemapped(four, reference) > psnr_tonemapped(noisy, reference) + 2.0
    # Animation: each frame denoised beside Blender's output, same numbering.
    assert r["frames"] == ["f_0001.denoised.exr", "f_0001.png", "f_0002.denoised.exr", "f_0002.png"]
    assert read_frame(out / "frames" / "f_0002.denoised.exr").color.shape == (64, 64, 3)
    # Training pairs in the project's layout; fit uploads the model and this .blend uses it.
    assert r["pairs"] == "" and r["samples_restored"] == 2
    assert r["pairs_files"] == ["pairs/Scene/mcdenoise_camera_box/render_000.exr",
                                "pairs/Scene/mcdenoise_camera_box/render_001.exr"]
    assert r["fit"] == "" and r["model_after_fit"] == "shot010" and (tmp_path / "models" / "shot010.onnx").is_file()
    assert r["denoise_with_fit"] == ""
    # Local mode runs mcdenoise's own inference path inside Blender's Python.
    assert r["local"] == "" and r["local_save"] == ""
    local = read_frame(out / "saved_local.exr").color
    assert local.shape == (64, 64, 3) and np.isfinite(local).all()
    assert "missing.onnx" in r["local_missing_model"]
    assert r["clean_after_unregister"]
