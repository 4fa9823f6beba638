"""The scene directory layout, the contract between rendering, `fit` and evaluation.

    SCENE_DIR/
      scene.json                  optional metadata (written by `mcdenoise render`)
      <view>/                     one folder per camera view (and pixel filter)
        render_000.exr            independent noisy renders of this view: same resolution,
        render_001.exr            different seeds, each with color + albedo + normal channels
        ...
        reference.exr             optional high-spp render, used only for metrics, never training

A render may instead keep its AOVs in side files `<name>.albedo.exr` and `<name>.normal.exr`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcdenoise.atomic import atomic_write_bytes
from mcdenoise.errors import LayoutError

REFERENCE_NAME = "reference.exr"
METADATA_NAME = "scene.json"
SIDE_SUFFIXES = {"albedo": ".albedo.exr", "normal": ".normal.exr"}


@dataclass(frozen=True)
class Render:
    """One noisy render of a view, with its side files when it has them."""

    path: Path
    albedo: Path | None = None
    normal: Path | None = None


@dataclass(frozen=True)
class ViewDir:
    """One view folder: its noisy renders and optional reference."""

    name: str
    path: Path
    renders: tuple[Render, ...]
    reference: Path | None


@dataclass(frozen=True)
class SceneDir:
    """A scanned scene directory."""

    path: Path
    views: tuple[ViewDir, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


def render_name(index: int) -> str:
    """File name of the `index`-th noisy render of a view."""
    return f"render_{index:03d}.exr"


def _scan_view(path: Path) -> ViewDir:
    """Collect renders, side files and the reference of one view folder."""
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(".exr") and not p.name.startswith("."))
    reference = next((p for p in files if p.name == REFERENCE_NAME), None)
    sides = {role: {p.name[: -len(suffix)]: p for p in files if p.name.endswith(suffix)} for role, suffix in SIDE_SUFFIXES.items()}
    side_paths = {p for by_role in sides.values() for p in by_role.values()}
    reference_sides = {f"{REFERENCE_NAME[:-4]}{s}" for s in SIDE_SUFFIXES.values()}
    renders = []
    for p in files:
        if p == reference or p in side_paths:
            continue
        stem = p.name[:-4]
        renders.append(Render(p, sides["albedo"].pop(stem, None), sides["normal"].pop(stem, None)))
    orphans = [p.name for by_role in sides.values() for p in by_role.values() if p.name not in reference_sides]
    if orphans:
        raise LayoutError(f"{path}: side files without a render: {', '.join(sorted(orphans))}")
    return ViewDir(path.name, path, tuple(renders), reference)


def scan_scene(path: str | os.PathLike) -> SceneDir:
    """Scan a scene directory; raise LayoutError with a hint when it does not follow the layout."""
    root = Path(path)
    if not root.exists():
        raise LayoutError(f"{root}: no such scene directory")
    if not root.is_dir():
        raise LayoutError(f"{root}: not a directory (a scene directory holds one folder per view)")
    views = [_scan_view(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    views = [v for v in views if v.renders or v.reference]
    if not views:
        loose = any(p.suffix.lower() == ".exr" for p in root.iterdir())
        hint = " (EXR files must sit in one subfolder per view: SCENE_DIR/<view>/*.exr)" if loose else ""
        raise LayoutError(f"{root}: no view folders with EXR renders{hint}")
    metadata: dict[str, Any] = {}
    meta_path = root / METADATA_NAME
    if meta_path.is_file():
        try:
            metadata = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise LayoutError(f"{meta_path}: unreadable metadata ({exc})") from exc
    return SceneDir(root, tuple(views), metadata)


def write_metadata(scene_dir: Path, metadata: dict[str, Any]) -> None:
    """Atomically write scene.json."""
    atomic_write_bytes(scene_dir / METADATA_NAME, (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode())
