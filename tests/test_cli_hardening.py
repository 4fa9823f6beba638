"""Issue 13's CLI defects: outputs checked before the work, side files never overwritten, temp files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcdenoise.atomic import atomic_write_bytes, clean_stale_temps
from mcdenoise.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "sample_scenes" / "cornell" / "cam0_box"


def test_server_mode_refuses_to_overwrite_side_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    side = tmp_path / "albedo.exr"
    side.write_bytes(b"precious")
    # The check runs before any request: an unreachable server is never contacted.
    rc = main(["denoise", str(SAMPLE / "render_000.exr"), "--albedo", str(side), "-o", str(side),
               "--server", "http://127.0.0.1:9"])
    assert rc == 2 and side.read_bytes() == b"precious" and "refusing to overwrite" in capsys.readouterr().err
    rc = main(["denoise", str(SAMPLE / "render_000.exr"), "--albedo", str(side), "-o", str(side)])
    assert rc == 2 and side.read_bytes() == b"precious"


def test_missing_output_folder_is_reported_before_the_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "nope" / "x.exr"
    assert main(["denoise", str(SAMPLE / "render_000.exr"), "-o", str(out), "--server", "http://127.0.0.1:9"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", "-o", str(tmp_path / "nope" / "m.onnx")]) == 2
    err = capsys.readouterr()
    assert "does not exist" in err.err and "exported" not in err.out + err.err
    assert main(["eval", str(SAMPLE / "render_000.exr"), "--reference", str(SAMPLE / "reference.exr"),
                 "--no-oidn", "--png", str(tmp_path / "nope" / "c.png")]) == 2
    err = capsys.readouterr()
    assert "does not exist" in err.err and "psnr" not in err.out  # refused before computing metrics


def test_killed_write_leaves_a_temp_file_that_the_next_write_removes(tmp_path: Path) -> None:
    target = tmp_path / "frame.exr"
    code = ("import os, sys; from mcdenoise.atomic import atomic_write\n"
            "atomic_write(sys.argv[1], lambda tmp: (open(tmp, 'wb').write(b'half'), os._exit(9)))")
    r = subprocess.run([sys.executable, "-c", code, str(target)], timeout=60)
    assert r.returncode == 9
    stale = list(tmp_path.glob(".frame.exr.*.tmp"))
    assert len(stale) == 1 and not target.exists()
    other = tmp_path / f".frame.exr.elsewhere-{os.getpid()}.abcd.tmp"  # another host's, or a live writer's
    other.write_bytes(b"x")
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not stale[0].exists() and other.exists()
    assert clean_stale_temps(target) == []


def _cli(*args: str) -> subprocess.CompletedProcess:
    """`mcdenoise ARGS` in a fresh process (stdout and stderr as the user's terminal gets them)."""
    return subprocess.run([sys.executable, "-m", "mcdenoise.cli", *args], capture_output=True, text=True, timeout=120)


def test_truncated_file_gives_only_our_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "cut.exr"
    bad.write_bytes((SAMPLE / "render_000.exr").read_bytes()[:3000])
    r = _cli("denoise", str(bad), "-o", str(tmp_path / "o.exr"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"mcdenoise: error: {bad}: truncated or corrupt (pixel data of part 0 "
                                             "could not be read)"]
    verbose = _cli("denoise", "-v", str(bad), "-o", str(tmp_path / "o.exr"))  # -v after the command
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr and "EXR_ERR" in verbose.stderr


def test_model_option_errors_and_help(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x04junk")
    r = _cli("denoise", str(SAMPLE / "render_000.exr"), "-o", str(tmp_path / "o.exr"), "--model", str(junk))
    assert r.returncode == 2 and "not an mcdenoise model file" in r.stderr and "weights_only" not in r.stderr
    r = _cli("denoise", str(SAMPLE / "render_000.exr"), "-o", str(tmp_path / "o.exr"), "--model", "nosuch")
    assert r.returncode == 2 and "default, lean, color" in r.stderr
    r = _cli("denoise", "x.exr", "--threads", "-1")
    assert r.returncode == 2 and "--threads" in r.stderr
    assert "'color'" in _cli("denoise", "--help").stdout
    assert "examples:" in _cli("model", "--help").stdout


def test_exr_writer_takes_any_strides(tmp_path: Path) -> None:
    """A transposed (non-contiguous) array is written as its values, not in memory order."""
    import numpy as np

    from mcdenoise.exr import frame_channels, read_frame, write_exr

    planar = np.random.default_rng(0).random((3, 20, 30), dtype=np.float32)
    image = planar.transpose(1, 2, 0)  # (H, W, 3) view with odd strides, as the README's ONNX output
    assert not image.flags.c_contiguous
    write_exr(tmp_path / "t.exr", frame_channels(image), pixel_type="float")
    np.testing.assert_array_equal(read_frame(tmp_path / "t.exr").color, image)


def test_service_settings_take_the_one_backend_list() -> None:
    from pydantic import ValidationError

    from mcdenoise.backends import BACKENDS
    from mcdenoise.server import Settings

    for name in BACKENDS:
        assert Settings(backend=name).backend == name
    with pytest.raises(ValidationError):
        Settings(backend="tensorrt")
