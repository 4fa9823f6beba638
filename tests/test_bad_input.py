"""Every bad input gives a clear McDenoiseError, never a crash or a NaN in a buffer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcdenoise.errors import AovError, ExrError
from mcdenoise.exr import check_size, encode_exr, frame_channels, probe, read_frame

from conftest import rand, write_parts


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A valid 64x64 RGB EXR."""
    return write_parts(tmp_path / "good.exr", [("", {c: rand(64, 64, i) for i, c in enumerate("RGB")})])


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95])
def test_truncated_file(tmp_path: Path, good: Path, keep: float) -> None:
    data = good.read_bytes()
    bad = tmp_path / "trunc.exr"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ExrError, match="trunc.exr: (truncated|corrupt)"):
        read_frame(bad)


def test_random_bytes(tmp_path: Path) -> None:
    bad = tmp_path / "noise.exr"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ExrError, match="not an OpenEXR image"):
        read_frame(bad)


def test_random_bytes_after_magic(tmp_path: Path) -> None:
    bad = tmp_path / "noise.exr"
    bad.write_bytes(b"\x76\x2f\x31\x01" + np.random.default_rng(0).bytes(5000))
    with pytest.raises(ExrError, match="corrupt or unsupported"):
        read_frame(bad)


def test_not_an_exr(tmp_path: Path) -> None:
    bad = tmp_path / "image.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ExrError, match="not an OpenEXR image"):
        read_frame(bad)


def test_zero_size_and_missing_and_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty.exr"
    empty.write_bytes(b"")
    with pytest.raises(ExrError, match="empty file"):
        read_frame(empty)
    with pytest.raises(ExrError, match="empty data"):
        read_frame(b"")
    with pytest.raises(ExrError, match="no such file"):
        read_frame(tmp_path / "nope.exr")
    with pytest.raises(ExrError, match="is a directory"):
        read_frame(tmp_path)


def test_no_color_channels(tmp_path: Path) -> None:
    path = write_parts(tmp_path / "depth.exr", [("", {"Z": rand(4, 4)})])
    with pytest.raises(AovError, match="no color channels found. Channels in the file: Z"):
        read_frame(path)


def test_nan_inf_negative_are_sanitized(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    color = np.ones((4, 5, 3), np.float32)
    color[0, 0, 0] = np.nan
    color[1, 1, 1] = np.inf
    color[2, 2, 2] = -np.inf
    color[3, 3] = -0.5
    normal = np.zeros((4, 5, 3), np.float32)
    normal[0, 1] = np.nan
    path = tmp_path / "nan.exr"
    path.write_bytes(encode_exr(frame_channels(color, albedo=np.ones_like(color), normal=normal), pixel_type="float"))
    frame = read_frame(path)
    assert np.isfinite(frame.color).all() and (frame.color >= 0).all() and np.isfinite(frame.normal).all()
    assert frame.sanitized == {"color non-finite": 3, "color negative": 1, "normal non-finite": 1}
    assert "replaced bad pixels" in caplog.text


def test_huge_header_rejected_before_reading_pixels(tmp_path: Path) -> None:
    # A tiny file whose header claims 100000x100000 pixels: the data window is checked first.
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION,
              "displayWindow": (np.array([0, 0], np.int32), np.array([99999, 99999], np.int32)),
              "dataWindow": (np.array([0, 0], np.int32), np.array([1, 1], np.int32))}
    path = tmp_path / "huge.exr"
    OpenEXR.File(header, {c: rand(2, 2) for c in "RGB"}).write(str(path))
    info = probe(path)
    assert (info.width, info.height) == (100000, 100000)
    with pytest.raises(ExrError, match="more than the limit"):
        check_size(info, 4096 * 4096)
    with pytest.raises(ExrError, match="more than the limit"):
        read_frame(path, max_pixels=4096 * 4096)
