"""Frame lists for `denoise`: files, folders, globs and frame-number patterns, and where outputs go."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from pathlib import Path

from mcdenoise.errors import McDenoiseError

EXR_SUFFIXES = (".exr",)
DENOISED_TAG = ".denoised"  # `shot.exr` -> `shot.denoised.exr` when no -o is given
_PRINTF = re.compile(r"%0?(\d*)d")  # shot.%04d.exr
_HASHES = re.compile(r"#+")  # shot.####.exr (Houdini/Nuke style)


def _frame_pattern(spec: str) -> tuple[str, re.Pattern[str]] | None:
    """(glob, regex on the file name) for a %04d / #### pattern; None for other specs."""
    name = os.path.basename(spec)
    if not (_PRINTF.search(name) or _HASHES.search(name)):
        return None
    regex, glob_name, pos = "", "", 0
    for m in re.finditer(f"{_PRINTF.pattern}|{_HASHES.pattern}", name):
        regex += re.escape(name[pos:m.start()])
        glob_name += glob.escape(name[pos:m.start()])
        width = len(m.group(0)) if m.group(0).startswith("#") else int(m.group(1) or 0)
        regex += rf"\d{{{width}}}" if width else r"\d+"
        glob_name += "*"
        pos = m.end()
    regex += re.escape(name[pos:])
    glob_name += glob.escape(name[pos:])
    return os.path.join(glob.escape(os.path.dirname(spec)), glob_name), re.compile(regex + r"\Z")


def _natural_key(path: Path) -> list[object]:
    """Sort key that orders frame 2 before frame 10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def expand_inputs(specs: list[str]) -> list[Path]:
    """Input files from paths, folders (their .exr files), globs and %04d/#### patterns, in frame order.

    Folders, globs and patterns leave out earlier `*.denoised.exr` outputs; files named explicitly are kept.
    """
    files: list[Path] = []
    for spec in specs:
        if os.path.isfile(spec):
            files.append(Path(spec))
            continue
        if os.path.isdir(spec):
            found = [p for p in Path(spec).iterdir() if p.is_file() and p.suffix.lower() in EXR_SUFFIXES]
            if not found:
                raise McDenoiseError(f"{spec}: folder holds no .exr files")
        elif (pattern := _frame_pattern(spec)) is not None:
            found = [Path(p) for p in glob.glob(pattern[0]) if pattern[1].match(os.path.basename(p))]
            if not found:
                raise McDenoiseError(f"{spec}: no frames match this pattern")
        elif glob.has_magic(spec):
            found = [Path(p) for p in glob.glob(spec) if os.path.isfile(p)]
            if not found:
                raise McDenoiseError(f"{spec}: no files match this pattern")
        else:
            raise McDenoiseError(f"{spec}: no such file")
        found = [p for p in found if not p.stem.endswith(DENOISED_TAG)]
        files.extend(sorted(found, key=_natural_key))
    unique: dict[str, Path] = {}
    for f in files:
        unique.setdefault(os.path.realpath(f), f)
    return list(unique.values())


def default_output(path: str | os.PathLike) -> Path:
    """`shot.exr` -> `shot.denoised.exr` beside it."""
    p = Path(path)
    return p.with_name(f"{p.stem}{DENOISED_TAG}{p.suffix or '.exr'}")


def plan_outputs(inputs: list[Path], output: str | None,
                 protect: Sequence[str | os.PathLike | None] = ()) -> list[Path]:
    """Output path of every input: beside it (no -o), the -o file (one input) or inside the -o folder.

    A folder is created when missing. Raises, before any work, when two inputs would write the same
    output, an output would replace an input or a `protect`ed file (--albedo/--normal side files), or
    a single output file is not named *.exr or its folder does not exist.
    """
    as_folder = output is not None and (len(inputs) > 1 or os.path.isdir(output) or output.endswith(("/", os.sep)))
    if output is None:
        outs = [default_output(p) for p in inputs]
    elif as_folder:
        folder = Path(output)
        if folder.exists() and not folder.is_dir():
            raise McDenoiseError(f"{folder}: with several inputs, -o must be a folder")
        outs = [folder / p.name for p in inputs]
    else:
        outs = [Path(output)]
        if outs[0].suffix.lower() != ".exr":  # else `-o x.png` gets EXR bytes, `-o denoised` a file, not a folder
            raise McDenoiseError(f"{output}: denoise writes OpenEXR; name the output file *.exr, or end a folder "
                                 "name with a trailing / (mcdenoise eval --png makes PNG previews)")
    seen: dict[str, Path] = {}
    sources = {os.path.realpath(p) for p in (*inputs, *(q for q in protect if q is not None))}
    for src, out in zip(inputs, outs):
        key = os.path.realpath(out)
        if key in sources:
            raise McDenoiseError(f"{out}: refusing to overwrite an input file; choose another output path")
        if not as_folder and not out.parent.is_dir():
            raise McDenoiseError(f"{out}: output folder {out.parent} does not exist")
        if key in seen:
            raise McDenoiseError(f"{seen[key]} and {src} would both be written to {out}; denoise them into separate folders")
        seen[key] = src
    if as_folder:
        Path(output).mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    return outs
