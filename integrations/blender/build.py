#!/usr/bin/env python3
"""Build the installable Blender add-on zip: `python integrations/blender/build.py [-o DIR]`.

The zip holds the package with `blender_manifest.toml` at its root (Blender 4.2+ extension layout).
"""

from __future__ import annotations

import argparse
import tomllib
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "mcdenoise_blender"


def build(out_dir: Path) -> Path:
    """Write mcdenoise_blender-<version>.zip into `out_dir`; return its path."""
    manifest = tomllib.loads((PACKAGE / "blender_manifest.toml").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"mcdenoise_blender-{manifest['version']}.zip"
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(PACKAGE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(PACKAGE).as_posix())
    tmp.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("dist"), help="folder for the zip (default dist/)")
    print(build(parser.parse_args().output))


if __name__ == "__main__":
    main()
