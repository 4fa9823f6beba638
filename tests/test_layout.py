"""The scene directory layout: views, renders, side files, reference, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcdenoise.errors import LayoutError
from mcdenoise.layout import scan_scene


def touch(path: Path) -> Path:
    """Create an empty file (layout scanning does not read pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_scan_views_renders_reference_and_side_files(tmp_path: Path) -> None:
    for name in ("render_000.exr", "render_001.exr", "reference.exr"):
        touch(tmp_path / "cam0_box" / name)
    for name in ("a.exr", "a.albedo.exr", "a.normal.exr", "b.exr", "b.albedo.exr", "b.normal.exr"):
        touch(tmp_path / "cam1" / name)
    (tmp_path / "scene.json").write_text('{"scene": "x"}')
    scene = scan_scene(tmp_path)
    assert [v.name for v in scene.views] == ["cam0_box", "cam1"]
    cam0, cam1 = scene.views
    assert [r.path.name for r in cam0.renders] == ["render_000.exr", "render_001.exr"]
    assert cam0.reference is not None and cam0.reference.name == "reference.exr"
    assert [(r.path.name, r.albedo.name, r.normal.name) for r in cam1.renders] == [
        ("a.exr", "a.albedo.exr", "a.normal.exr"), ("b.exr", "b.albedo.exr", "b.normal.exr")]
    assert cam1.reference is None
    assert scene.metadata == {"scene": "x"}


def test_orphan_side_file(tmp_path: Path) -> None:
    touch(tmp_path / "v" / "a.exr")
    touch(tmp_path / "v" / "b.albedo.exr")
    with pytest.raises(LayoutError, match="side files without a render: b.albedo.exr"):
        scan_scene(tmp_path)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="no such scene directory"):
        scan_scene(tmp_path / "nope")
    with pytest.raises(LayoutError, match="no view folders"):
        scan_scene(tmp_path)
    touch(tmp_path / "loose.exr")
    with pytest.raises(LayoutError, match="one subfolder per view"):
        scan_scene(tmp_path)
    with pytest.raises(LayoutError, match="not a directory"):
        scan_scene(tmp_path / "loose.exr")
