"""Sequences: globs, folders and frame patterns; names kept; --skip-existing; failures reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import clean_image, write_render
from mcdenoise.cli import main
from mcdenoise.errors import McDenoiseError
from mcdenoise.exr import probe
from mcdenoise.sequence import expand_inputs, plan_outputs


def _frames(folder: Path, n: int = 3, first: int = 1001) -> list[Path]:
    """shot.1001.exr ... small renders with AOVs."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_render(folder / f"shot.{first + i:04d}.exr", *clean_image(20, 24, i)) for i in range(n)]


def test_expand_globs_folders_and_patterns(tmp_path: Path) -> None:
    frames = _frames(tmp_path / "f", 3, first=998)  # 0998, 0999, 1000: natural frame order
    (tmp_path / "f" / "shot.0999.denoised.exr").write_bytes(b"")  # an earlier output: left out
    (tmp_path / "f" / "notes.txt").write_text("x")
    for spec in (str(tmp_path / "f"), str(tmp_path / "f" / "*.exr"), str(tmp_path / "f" / "shot.%04d.exr"),
                 str(tmp_path / "f" / "shot.####.exr")):
        assert expand_inputs([spec]) == frames, spec
    assert expand_inputs([str(frames[1]), str(frames[1])]) == [frames[1]]  # de-duplicated
    for spec, msg in ((tmp_path / "none.exr", "no such file"), (tmp_path / "f" / "x.%04d.exr", "no frames match"),
                      (tmp_path / "f" / "*.tif", "no files match")):
        with pytest.raises(McDenoiseError, match=msg):
            expand_inputs([str(spec)])


def test_plan_outputs_refuses_collisions_and_inputs(tmp_path: Path) -> None:
    a, b = _frames(tmp_path / "a", 1)[0], _frames(tmp_path / "b", 1)[0]  # same name in two folders
    with pytest.raises(McDenoiseError, match="would both be written"):
        plan_outputs([a, b], str(tmp_path / "out"))
    with pytest.raises(McDenoiseError, match="refusing to overwrite an input"):
        plan_outputs([a], str(tmp_path / "a"))
    assert plan_outputs([a], None) == [tmp_path / "a" / "shot.1001.denoised.exr"]
    assert plan_outputs([a], str(tmp_path / "new") + "/") == [tmp_path / "new" / "shot.1001.exr"]
    assert plan_outputs([a], str(tmp_path / "b" / "x.EXR")) == [tmp_path / "b" / "x.EXR"]


@pytest.mark.parametrize("name", ["preview.png", "denoised"])
def test_a_single_output_that_is_not_an_exr_is_refused(tmp_path: Path, name: str) -> None:
    """`-o preview.png` used to write OpenEXR bytes under a .png name; `-o denoised` a file, not a folder."""
    a = _frames(tmp_path / "a", 1)[0]
    with pytest.raises(McDenoiseError, match=r"writes OpenEXR.*\.exr.*trailing /"):
        plan_outputs([a], str(tmp_path / name))
    assert not (tmp_path / name).exists()


def test_sequence_keeps_names_skips_existing_and_reports_failures(
        tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _frames(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in" / "shot.%04d.exr"), "-o", str(out), "--model", str(tiny_model)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f.name for f in frames]
    assert probe(out / "shot.1002.exr").width == 24
    stamp = (out / "shot.1002.exr").stat().st_mtime_ns
    (out / "shot.1003.exr").unlink()  # an interrupted run: the last frames are missing
    assert main(["denoise", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_model), "--skip-existing"]) == 0
    assert (out / "shot.1002.exr").stat().st_mtime_ns == stamp and (out / "shot.1003.exr").exists()
    capsys.readouterr()

    frames[1].write_bytes(frames[1].read_bytes()[:300])  # a truncated frame in the middle
    os.remove(out / "shot.1004.exr")
    rc = main(["denoise", str(tmp_path / "in" / "*.exr"), "-o", str(tmp_path / "out2"), "--model", str(tiny_model)])
    err = capsys.readouterr().err
    assert rc == 2 and "shot.1002.exr" in err and "1 of 4 frame(s) failed" in err
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["shot.1001.exr", "shot.1003.exr", "shot.1004.exr"]
    assert "Traceback" not in err


def test_model_needs_aovs_the_frame_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    color, _, _ = clean_image(20, 20, 0)
    src = write_render(tmp_path / "beauty_only.exr", color, None, None)
    assert main(["denoise", str(src)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no albedo and normal AOV" in err and len(err.splitlines()) == 1


def test_color_model_denoises_beauty_only_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    color, _, _ = clean_image(20, 20, 0)
    src = write_render(tmp_path / "beauty_only.exr", color, None, None)
    assert main(["denoise", str(src)]) == 2
    assert "--model color" in capsys.readouterr().err
    for backend in ("onnx", "torch"):
        out = tmp_path / f"dn_{backend}.exr"
        assert main(["denoise", str(src), "-o", str(out), "--model", "color", "--backend", backend]) == 0
        assert probe(out).width == 20
