"""The command line: info on renderer files, one-line errors with exit code 2, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcdenoise.cli import main

from conftest import rand, write_parts

SAMPLE = Path(__file__).resolve().parents[1] / "sample_scenes" / "cornell" / "cam0_box"


def test_info_blender(blender_multipart: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(blender_multipart)]) == 0
    out = capsys.readouterr().out
    assert "view layer   'ViewLayer'" in out
    assert "color        ViewLayer.Noisy Image.{R,G,B} (part 3, HALF)" in out
    assert "albedo       ViewLayer.Denoising Albedo.{R,G,B}" in out
    assert "normal       ViewLayer.Denoising Normal.{X,Y,Z}" in out


def test_info_layers_and_json(blender_singlepart: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(blender_singlepart), "--layer", "Foreground", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layer"] == "Foreground" and report["layers"] == ["Background", "Foreground"]
    assert report["detected"]["normal"].startswith("Foreground.Denoising Normal")


def test_info_mitsuba(mitsuba_style: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(mitsuba_style)]) == 0
    out = capsys.readouterr().out
    assert "albedo       albedo.{R,G,B}" in out and "normal       nn.{X,Y,Z}" in out


def test_info_bad_files_exit_2(tmp_path: Path, mitsuba_style: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.exr"
    junk.write_text("not an image")
    depth = write_parts(tmp_path / "depth.exr", [("", {"Z": rand(3, 3)})])
    assert main(["info", str(mitsuba_style), str(junk), str(depth), str(tmp_path / "missing.exr")]) == 2
    captured = capsys.readouterr()
    assert "not an OpenEXR image" in captured.out and "no such file" in captured.out
    assert "NO COLOR" in captured.out
    assert "3 of 4 file(s)" in captured.err


def test_user_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mcdenoise.cli", "render", "nope", "-o", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "mcdenoise: error: unknown scene 'nope'; named scenes: cornell, metals, glass, textures, fireflies, dof, interior; "
        "or proc_<seed> / room_<seed> / lamp_<seed> for a procedural one"]


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    assert "examples:" in capsys.readouterr().out


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="bundled sample not present")
def test_info_on_bundled_sample(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in SAMPLE.glob("*.exr"))
    assert len(files) >= 3
    assert main(["info", *files]) == 0
    assert capsys.readouterr().out.count("normal       nn.{X,Y,Z}") == len(files)


def test_info_decodes_pixels_to_catch_truncation(tmp_path: Path, mitsuba_style: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut.exr"
    data = mitsuba_style.read_bytes()
    cut.write_bytes(data[: len(data) - 200])
    assert main(["info", str(cut), "--headers-only"]) == 0  # the headers alone look fine
    assert main(["info", str(cut)]) == 2
    assert "pixels       UNREADABLE" in capsys.readouterr().out
    assert main(["info", str(mitsuba_style)]) == 0
    assert "pixels       ok; color mean" in capsys.readouterr().out
