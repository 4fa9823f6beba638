"""Sample scenes: a tiny real Mitsuba 3 render into the layout, and reproducible procedural scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcdenoise.backends import cpu_threads
from mcdenoise.errors import RenderError
from mcdenoise.exr import probe, read_frame
from mcdenoise.layout import scan_scene
from mcdenoise.render import RenderSettings, render_scene
from mcdenoise.scenes import SCENES, get_scene, procedural_scene


def test_named_scenes_cover_the_brief() -> None:
    stresses = " ".join(s for spec in SCENES.values() for s in spec.stresses)
    for need in ("interreflection", "rough metals", "caustics", "texture", "fireflies", "environment", "depth of field"):
        assert need in stresses
    assert len(SCENES) >= 5 and all(len(spec.views) >= 2 for spec in SCENES.values())


def test_procedural_is_reproducible() -> None:
    assert procedural_scene(5).views == procedural_scene(5).views
    assert procedural_scene(5).views != procedural_scene(6).views
    assert get_scene("proc_12").name == "proc_12"
    with pytest.raises(RenderError, match="unknown scene"):
        get_scene("nope")


@pytest.mark.render
def test_tiny_render_into_layout(tmp_path: Path) -> None:
    pytest.importorskip("mitsuba")
    settings = RenderSettings(spp=2, count=2, reference_spp=8, width=24, height=16, filters=("box", "gaussian"))
    scene_dir = render_scene(get_scene("cornell"), tmp_path, settings, views=["cam0"], progress=False)
    scene = scan_scene(scene_dir)
    assert [v.name for v in scene.views] == ["cam0_box", "cam0_gaussian"]
    meta = json.loads((scene_dir / "scene.json").read_text())
    assert meta["views"]["cam0_gaussian"]["filter"] == "gaussian"
    for view in scene.views:
        assert len(view.renders) == 2 and view.reference is not None
        a, b = (read_frame(r.path) for r in view.renders)
        assert a.color.shape == (16, 24, 3) and a.has_aux
        assert not np.array_equal(a.color, b.color)  # independent seeds
        assert probe(view.renders[0].path).header["mcdenoise_filter"] == view.name.split("_")[1]
        ref = read_frame(view.reference)
        assert ref.pixel_type == "FLOAT" and ref.color.mean() > 0
    # Existing files are kept: a second run renders nothing new.
    stamp = scene.views[0].renders[0].path.stat().st_mtime_ns
    render_scene(get_scene("cornell"), tmp_path, settings, views=["cam0"], progress=False)
    assert scene.views[0].renders[0].path.stat().st_mtime_ns == stamp


@pytest.mark.render
def test_procedural_scene_renders(tmp_path: Path) -> None:
    pytest.importorskip("mitsuba")
    settings = RenderSettings(spp=1, count=1, width=16, height=16)
    scene_dir = render_scene(procedural_scene(3), tmp_path, settings, views=["cam0"], progress=False)
    assert read_frame(scene_dir / "cam0_box" / "render_000.exr").has_aux


@pytest.mark.render
def test_room_family_renders_and_is_named(tmp_path: Path) -> None:
    """Interiors lit through a window: reproducible, reachable by name, and they render (lit, finite)."""
    pytest.importorskip("mitsuba")
    from mcdenoise.scenes import room_scene

    assert room_scene(4).views == get_scene("room_4").views != room_scene(5).views
    settings = RenderSettings(spp=2, count=1, width=24, height=24)
    scene_dir = render_scene(room_scene(4), tmp_path, settings, views=["cam0"], progress=False)
    frame = read_frame(scene_dir / "cam0_box" / "render_000.exr")
    assert frame.has_aux and np.isfinite(frame.color).all() and frame.color.mean() > 0


@pytest.mark.render
def test_lamp_family_renders_and_is_named(tmp_path: Path) -> None:
    """Closed rooms lit by ceiling lamps: reproducible, reachable by name, lit only by their lamps."""
    pytest.importorskip("mitsuba")
    from mcdenoise.scenes import lamp_scene

    assert lamp_scene(4).views == get_scene("lamp_4").views != lamp_scene(5).views
    assert lamp_scene(4).views != get_scene("room_4").views  # its own cameras, not the window rooms'
    settings = RenderSettings(spp=2, count=1, width=24, height=24)
    scene_dir = render_scene(lamp_scene(4), tmp_path, settings, views=["cam0"], progress=False)
    frame = read_frame(scene_dir / "cam0_box" / "render_000.exr")
    assert frame.has_aux and np.isfinite(frame.color).all() and frame.color.mean() > 0


@pytest.mark.render
def test_render_rejects_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no view 'cam9'"):
        render_scene(get_scene("cornell"), tmp_path, RenderSettings(), views=["cam9"])
    with pytest.raises(RenderError, match="at least 1"):
        render_scene(get_scene("cornell"), tmp_path, RenderSettings(spp=0))


@pytest.mark.render
def test_file_written_by_mitsuba_itself(tmp_path: Path) -> None:
    """A file from Mitsuba's own Bitmap.write (aov integrator) is detected as color/albedo/normal."""
    if cpu_threads() < 2:  # seen with mitsuba 3.9.1 on Linux: Bitmap.write never returns there
        pytest.skip("Mitsuba's Bitmap.write hangs in a process allowed on one core (taskset, cpusets)")
    from mcdenoise.render import load_mitsuba
    from mcdenoise.scenes.common import full_scene

    mi = load_mitsuba()
    spec = get_scene("cornell")
    scene = mi.load_dict(full_scene(mi, spec, spec.views[0], 16, 12, "gaussian"))
    mi.render(scene, spp=2, seed=1)
    path = tmp_path / "mitsuba_native.exr"
    scene.sensors()[0].film().bitmap(raw=False).write(str(path))
    frame = read_frame(path)
    assert frame.sources["color"].pass_name == "" and frame.sources["albedo"].pass_name == "albedo"
    assert frame.sources["normal"].pass_name == "nn" and frame.color.shape == (12, 16, 3)
