"""AOV detection on Blender-, Mitsuba- and generically named files, view layers and side files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcdenoise.channels import AOV_TABLE, ROLES, ChannelRef, detect
from mcdenoise.errors import AovError
from mcdenoise.exr import read_frame

from conftest import rand, write_parts


def refs(*names: str) -> list[ChannelRef]:
    """Channel refs in one part."""
    return [ChannelRef(n, 0, n, "HALF") for n in names]


def test_table_covers_every_role() -> None:
    assert tuple(rule.role for rule in AOV_TABLE) == ROLES


def test_blender_multipart_prefers_noisy_image(blender_multipart: Path) -> None:
    frame = read_frame(blender_multipart)
    assert frame.layer == "ViewLayer"
    assert frame.sources["color"].pass_name == "Noisy Image"
    assert frame.sources["albedo"].pass_name == "Denoising Albedo"
    assert frame.sources["normal"].pass_name == "Denoising Normal"
    assert frame.alpha is not None
    assert frame.albedo.max() == pytest.approx(77.0)  # emitter albedo is kept, not clipped at read time


def test_blender_singlepart_layers(blender_singlepart: Path) -> None:
    frame = read_frame(blender_singlepart)
    assert frame.layers == ("Background", "Foreground")  # file order (channels are sorted)
    assert frame.layer == "Background"
    fg = read_frame(blender_singlepart, layer="Foreground")
    assert fg.layer == "Foreground" and fg.sources["color"].pass_name == "Combined"
    assert not np.array_equal(fg.color, frame.color)
    with pytest.raises(AovError, match="'Nope' has no color.*'Background', 'Foreground'"):
        read_frame(blender_singlepart, layer="Nope")


def test_blender_part_names_qualify_bare_channels(tmp_path: Path) -> None:
    parts = [("RenderLayer.Combined", {c: rand(4, 4, i) for i, c in enumerate("RGBA")}),
             ("RenderLayer.Denoising Normal", {c: rand(4, 4, 5 + i) for i, c in enumerate("XYZ")})]
    frame = read_frame(write_parts(tmp_path / "bare.exr", parts))
    assert frame.layer == "RenderLayer" and frame.normal is not None and frame.albedo is None


def test_mitsuba_naming(mitsuba_style: Path) -> None:
    frame = read_frame(mitsuba_style)
    assert frame.layer == ""
    assert frame.sources["color"].describe().startswith("R,G,B")
    assert frame.sources["albedo"].pass_name == "albedo" and frame.sources["normal"].pass_name == "nn"


@pytest.mark.parametrize(
    "names,albedo,normal",
    [
        (("R", "G", "B", "diffuse_albedo.R", "diffuse_albedo.G", "diffuse_albedo.B", "N.X", "N.Y", "N.Z"), "diffuse_albedo", "N"),
        (("R", "G", "B", "A", "albedo.R", "albedo.G", "albedo.B", "Nw.R", "Nw.G", "Nw.B"), "albedo", "Nw"),
        (("rgba.R", "rgba.G", "rgba.B", "normal.x", "normal.y", "normal.z"), None, "normal"),
        (("R", "G", "B", "sh_normal.X", "sh_normal.Y", "sh_normal.Z"), None, "sh_normal"),
    ],
)
def test_generic_names(names: tuple[str, ...], albedo: str | None, normal: str | None) -> None:
    det = detect(refs(*names), "f.exr")
    assert det.sources.get("albedo") is None if albedo is None else det.sources["albedo"].pass_name == albedo
    assert det.sources["normal"].pass_name == normal


def test_missing_color_lists_channels_and_hint() -> None:
    with pytest.raises(AovError) as err:
        detect(refs("depth.Z", "albedo.R", "albedo.G", "albedo.B"), "f.exr")
    message = str(err.value)
    assert "no color channels" in message and "depth.Z" in message and "R,G,B" in message


def test_incomplete_pass_is_noted() -> None:
    det = detect(refs("R", "G", "B", "albedo.R", "albedo.G"), "f.exr")
    assert "albedo" not in det.sources
    assert any("incomplete" in n and "albedo.G" in n for n in det.notes)


def test_side_files(tmp_path: Path) -> None:
    h, w = 6, 8
    color = write_parts(tmp_path / "beauty.exr", [("", {c: rand(h, w, i) for i, c in enumerate("RGB")})])
    albedo = write_parts(tmp_path / "beauty.albedo.exr", [("", {c: rand(h, w, 5 + i) for i, c in enumerate("RGB")})])
    normal = write_parts(tmp_path / "beauty.normal.exr", [("", {c: rand(h, w, 9 + i) for i, c in enumerate("XYZ")})])
    frame = read_frame(color, albedo=albedo, normal=normal)
    assert frame.has_aux
    assert frame.sources["albedo"].file == str(albedo) and frame.sources["normal"].file == str(normal)
    np.testing.assert_array_equal(frame.albedo[..., 0], rand(h, w, 5))


def test_side_file_of_other_size(tmp_path: Path) -> None:
    color = write_parts(tmp_path / "c.exr", [("", {c: rand(6, 8, i) for i, c in enumerate("RGB")})])
    albedo = write_parts(tmp_path / "a.exr", [("", {c: rand(5, 8, i) for i, c in enumerate("RGB")})])
    with pytest.raises(AovError, match="albedo is 8x5 but the color .* is 8x6"):
        read_frame(color, albedo=albedo)


def test_side_file_without_channels(tmp_path: Path) -> None:
    color = write_parts(tmp_path / "c.exr", [("", {c: rand(6, 8, i) for i, c in enumerate("RGB")})])
    normal = write_parts(tmp_path / "n.exr", [("", {"Z": rand(6, 8)})])
    with pytest.raises(AovError, match="no normal channels found.*Z"):
        read_frame(color, normal=normal)
