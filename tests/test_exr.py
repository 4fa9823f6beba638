"""EXR round-trips: pixel types, compressions, multi-part, tiled, data windows, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from mcdenoise.errors import ExrError
from mcdenoise.exr import COMPRESSIONS, encode_exr, frame_channels, probe, read_frame, write_exr

from conftest import rand, write_parts


def _rgb(h: int = 9, w: int = 13) -> np.ndarray:
    """Positive HDR test colours."""
    return np.random.default_rng(1).random((h, w, 3)).astype(np.float32) * 4


@pytest.mark.parametrize("pixel_type,tol", [("float", 0.0), ("half", 2e-3)])
def test_round_trip_pixel_types(tmp_path: Path, pixel_type: str, tol: float) -> None:
    color = _rgb()
    albedo, normal = color / 4, color / 2 - 1
    path = write_exr(tmp_path / "a.exr", frame_channels(color, albedo=albedo, normal=normal), pixel_type=pixel_type)
    frame = read_frame(path)
    assert frame.pixel_type == pixel_type.upper()
    np.testing.assert_allclose(frame.color, color, rtol=tol, atol=tol)
    np.testing.assert_allclose(frame.albedo, albedo, rtol=tol, atol=tol)
    np.testing.assert_allclose(frame.normal, normal, rtol=tol, atol=tol)


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_every_compression_reads_back(tmp_path: Path, compression: str) -> None:
    color = _rgb(32, 40)
    path = write_exr(tmp_path / f"{compression}.exr", frame_channels(color), pixel_type="half", compression=compression)
    assert probe(path).parts[0].compression == compression
    frame = read_frame(path)
    if compression in ("pxr24", "b44", "b44a", "dwaa", "dwab"):  # lossy: the image survives on average
        assert frame.color.mean() == pytest.approx(color.mean(), rel=0.02)
    else:
        np.testing.assert_allclose(frame.color, color, rtol=2e-3, atol=2e-3)


def test_compressions_include_the_common_ones() -> None:
    assert {"none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab"} <= set(COMPRESSIONS)


def test_uint_and_mixed_channels(tmp_path: Path) -> None:
    r = np.arange(20, dtype=np.uint32).reshape(4, 5)
    path = write_parts(tmp_path / "u.exr", [("", {"R": r, "G": r.astype(np.float16), "B": r.astype(np.float32)})])
    frame = read_frame(path)
    assert frame.color.dtype == np.float32
    np.testing.assert_array_equal(frame.color[..., 0], r.astype(np.float32))
    assert {c.pixel_type for c in frame.sources["color"].channels} == {"UINT", "HALF", "FLOAT"}


def test_tiled_with_data_window_lands_in_display_window(tmp_path: Path) -> None:
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode = 8, 8, OpenEXR.ONE_LEVEL
    h, w = 4, 6
    r = rand(h, w)
    header = {
        "compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.tiledimage, "tiles": tiles,
        # data window x 2..7, y 1..4 inside display window 0..9 x 0..9
        "dataWindow": (np.array([2, 1], np.int32), np.array([7, 4], np.int32)),
        "displayWindow": (np.array([0, 0], np.int32), np.array([9, 9], np.int32)),
    }
    path = tmp_path / "tiled.exr"
    OpenEXR.File(header, {"R": r, "G": r, "B": r}).write(str(path))
    info = probe(path)
    assert info.parts[0].storage == "tiled"
    assert (info.width, info.height) == (10, 10)
    frame = read_frame(path)
    assert frame.color.shape == (10, 10, 3)
    np.testing.assert_array_equal(frame.color[1:5, 2:8, 0], r)
    assert frame.color[0].sum() == 0 and frame.color[:, :2].sum() == 0 and frame.color[5:].sum() == 0


def test_data_window_larger_than_display_window_is_cropped(tmp_path: Path) -> None:
    r = rand(6, 6)
    header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "dataWindow": (np.array([-1, -1], np.int32), np.array([4, 4], np.int32)),
        "displayWindow": (np.array([0, 0], np.int32), np.array([3, 3], np.int32)),
    }
    path = tmp_path / "overscan.exr"
    OpenEXR.File(header, {"R": r, "G": r, "B": r}).write(str(path))
    frame = read_frame(path)
    np.testing.assert_array_equal(frame.color[..., 1], r[1:5, 1:5])


def test_multipart_reads_every_part(blender_multipart: Path) -> None:
    info = probe(blender_multipart)
    assert len(info.parts) == 4
    frame = read_frame(blender_multipart)
    assert {frame.sources[r].part for r in ("color", "albedo", "normal")} == {3, 1, 2}


def test_write_keeps_header_attributes(tmp_path: Path) -> None:
    src = write_parts(tmp_path / "in.exr", [("", {c: rand(5, 7, i) for i, c in enumerate("RGB")})],
                      owner="studio", frameNumber=12, exposure_note="keep me")
    frame = read_frame(src)
    out = write_exr(tmp_path / "out.exr", frame_channels(frame.color), header=frame.header)
    header = probe(out).header
    assert header["owner"] == "studio" and header["exposure_note"] == "keep me" and header["frameNumber"] == 12


def test_alpha_is_kept(tmp_path: Path) -> None:
    a = rand(5, 7, 9)
    src = write_parts(tmp_path / "rgba.exr", [("", {"R": a, "G": a, "B": a, "A": a})])
    frame = read_frame(src)
    np.testing.assert_array_equal(frame.alpha, a)
    out = write_exr(tmp_path / "o.exr", frame_channels(frame.color, alpha=frame.alpha), pixel_type="float")
    assert read_frame(out).alpha is not None


def test_half_clamps_out_of_range_values(tmp_path: Path) -> None:
    color = np.full((2, 2, 3), 1e6, np.float32)
    frame = read_frame(write_exr(tmp_path / "big.exr", frame_channels(color), pixel_type="half"))
    assert np.isfinite(frame.color).all() and frame.color.max() == pytest.approx(65504.0)


def test_bytes_source_and_encode(tmp_path: Path) -> None:
    color = _rgb()
    data = encode_exr(frame_channels(color), pixel_type="float")
    frame = read_frame(data)
    assert frame.path == "<upload>"
    np.testing.assert_array_equal(frame.color, color)


def test_atomic_write_refuses_input_and_leaves_no_temp(tmp_path: Path) -> None:
    src = write_exr(tmp_path / "in.exr", frame_channels(_rgb()))
    before = src.read_bytes()
    with pytest.raises(ExrError, match="refusing to overwrite an input"):
        write_exr(src, frame_channels(_rgb() * 2), protect=[src])
    assert src.read_bytes() == before
    with pytest.raises(ExrError, match="already exists"):
        write_exr(src, frame_channels(_rgb()), overwrite=False)
    with pytest.raises(ExrError, match="does not exist"):
        write_exr(tmp_path / "missing" / "o.exr", frame_channels(_rgb()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.exr"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExrError):
        write_exr(tmp_path / "o.exr", frame_channels(_rgb()), compression="nope")
    assert list(tmp_path.iterdir()) == []


def test_written_file_is_readable_by_others(tmp_path: Path) -> None:
    out = write_exr(tmp_path / "o.exr", frame_channels(_rgb()))
    assert os.stat(out).st_mode & 0o044 == 0o044


def test_display_window_origin_is_kept_on_write(tmp_path: Path) -> None:
    r = rand(4, 6)
    window = (np.array([10, 20], np.int32), np.array([15, 23], np.int32))
    src = tmp_path / "offset.exr"
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "displayWindow": window, "dataWindow": window},
                 {"R": r, "G": r, "B": r}).write(str(src))
    frame = read_frame(src)
    out = write_exr(tmp_path / "o.exr", frame_channels(frame.color), header=frame.header, pixel_type="float")
    assert probe(out).display_window == (10, 20, 15, 23)
    np.testing.assert_array_equal(read_frame(out).color[..., 0], r)
