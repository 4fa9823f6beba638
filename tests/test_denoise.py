"""`denoise`: resolution, pixel type, header and alpha kept; inputs never overwritten; clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import clean_image, write_parts, write_render
from mcdenoise.cli import main
from mcdenoise.errors import AovError
from mcdenoise.exr import probe, read_frame
from mcdenoise.infer import Denoiser, denoise_file
from mcdenoise.metrics import psnr_tonemapped
from mcdenoise.shipped import SHIPPED

SAMPLE = Path(__file__).resolve().parents[1] / "sample_scenes" / "cornell" / "cam0_box"


@pytest.mark.parametrize("pixel_type", ["half", "float"])
def test_denoise_keeps_resolution_pixel_type_and_header(tmp_path: Path, tiny_model: Path, pixel_type: str) -> None:
    h, w = 37, 29  # not a multiple of the alignment: padded, then cropped back
    color, albedo, normal = clean_image(h, w, 0)
    src = tmp_path / "shot.exr"
    chans = {"R": color[..., 0], "G": color[..., 1], "B": color[..., 2], "A": np.full((h, w), 0.5, np.float32)}
    chans.update({f"albedo.{c}": albedo[..., i] for i, c in enumerate("RGB")})
    chans.update({f"nn.{c}": normal[..., i] for i, c in enumerate("XYZ")})
    dtype = np.float16 if pixel_type == "half" else np.float32
    write_parts(src, [("", {k: v.astype(dtype) for k, v in chans.items()})], owner="lighting", frameNumber=12)
    out = tmp_path / "out.exr"
    assert main(["denoise", str(src), "-o", str(out), "--model", str(tiny_model)]) == 0
    info = probe(out)
    assert (info.width, info.height) == (w, h)
    assert {ch.pixel_type for ch in info.channels} == {pixel_type.upper()}
    assert [ch.name for ch in info.channels] == ["A", "B", "G", "R"]
    header = info.parts[0].header
    assert header["owner"] == "lighting" and header["frameNumber"] == 12
    frame = read_frame(out)
    assert np.all(frame.color >= 0) and np.allclose(frame.alpha, 0.5)


def test_side_files_default_output_and_keep_aovs(tmp_path: Path, tiny_model: Path) -> None:
    color, albedo, normal = clean_image(16, 16, 1)
    beauty = write_render(tmp_path / "beauty.exr", color, None, None)
    write_render(tmp_path / "beauty.albedo.exr", albedo, None, None)
    write_render(tmp_path / "beauty.normal.exr", normal, None, None)
    assert main(["denoise", str(beauty), "--albedo", str(tmp_path / "beauty.albedo.exr"),
                 "--normal", str(tmp_path / "beauty.normal.exr"), "--model", str(tiny_model), "--keep-aovs"]) == 0
    out = tmp_path / "beauty.denoised.exr"
    assert read_frame(out).has_aux


def test_denoise_never_overwrites_input(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    color, albedo, normal = clean_image(16, 16, 2)
    src = write_render(tmp_path / "shot.exr", color, albedo, normal)
    before = src.read_bytes()
    assert main(["denoise", str(src), "-o", str(src), "--model", str(tiny_model)]) == 2
    assert src.read_bytes() == before
    assert "refusing to overwrite" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_denoise_errors(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    color, _, _ = clean_image(16, 16, 3)
    src = write_render(tmp_path / "noaov.exr", color, None, None)
    with pytest.raises(AovError, match="--albedo/--normal"):
        denoise_file(Denoiser(tiny_model), src, tmp_path / "o.exr")
    assert main(["denoise", str(src), "--model", str(tiny_model)]) == 2
    assert main(["denoise", str(tmp_path / "missing.exr"), "--model", str(tiny_model)]) == 2
    assert main(["denoise", str(src), "--model", str(tmp_path / "missing.pt")]) == 2
    junk = tmp_path / "junk.exr"
    junk.write_bytes(b"junk")
    assert main(["denoise", str(junk), "--model", str(tiny_model)]) == 2
    for line in capsys.readouterr().err.strip().splitlines():
        assert line.startswith("mcdenoise: ")
    assert not (tmp_path / "noaov.denoised.exr").exists()


def test_several_inputs_into_a_folder(tmp_path: Path, tiny_model: Path) -> None:
    inputs = []
    for i in range(2):
        c, a, n = clean_image(16, 16, i)
        inputs.append(str(write_render(tmp_path / f"f{i}.exr", c, a, n)))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["denoise", *inputs, "-o", str(out), "--model", str(tiny_model)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["f0.exr", "f1.exr"]


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_models_denoise_the_sample(name: str) -> None:
    """Each pretrained model improves the bundled 4-spp sample (quality numbers live in benchmarks/)."""
    frame = read_frame(SAMPLE / "render_000.exr")
    reference = read_frame(SAMPLE / "reference.exr").color
    out = Denoiser(name, device="cpu").denoise(frame)
    assert out.shape == frame.color.shape
    assert psnr_tonemapped(out, reference) > psnr_tonemapped(frame.color, reference) + 3


def test_model_command_describes_and_releases(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    release = tmp_path / "release.pt"
    assert main(["model", str(tiny_model), "--release", str(release)]) == 0
    out = capsys.readouterr().out
    assert "U-Net enc 8" in out and "inference-only copy" in out
    assert main(["model", str(release)]) == 0
    assert "resumable    no" in capsys.readouterr().out
    assert main(["model", str(tmp_path / "missing.pt")]) == 2


def test_passes_average_the_flipped_and_transposed_denoises(tmp_path: Path) -> None:
    """--passes N: the mean of N oriented denoises, each undone correctly (a non-square frame, tiled too)."""
    from mcdenoise.orient import orient, unorient

    frame = read_frame(SAMPLE / "render_000.exr")
    reference = read_frame(SAMPLE / "reference.exr").color
    d = Denoiser("default", device="cpu", energy_match=False)  # the passes alone (energy matching: its own test)
    for k in range(8):  # on 256 x 200, where a transpose changes the shape
        assert np.array_equal(unorient(orient(frame.color[:, :200], k), k), frame.color[:, :200])
    c, a, n = frame.color, frame.albedo, frame.normal  # square: each pass's own exposure equals the frame's
    expected = np.mean([unorient(d.denoise_arrays(*(orient(x, k) for x in (c, a, n))), k) for k in range(4)], 0)
    calls: list[tuple[int, int]] = []
    four = d.denoise_arrays(c, a, n, lambda done, total: calls.append((done, total)), passes=4)
    np.testing.assert_allclose(four, expected, rtol=1e-5, atol=1e-6)
    assert calls[-1] == (len(calls), len(calls)) and len(calls) % 4 == 0  # progress counts every pass's tiles
    one = d.denoise_arrays(c, a, n)
    assert psnr_tonemapped(four, reference) > psnr_tonemapped(one, reference)  # the point of it
    c, a, n = (x[:, :200] for x in (c, a, n))
    untiled = d.denoise_arrays(c, a, n, passes=8)
    tiled = Denoiser("default", device="cpu", max_memory_mb=60, energy_match=False).denoise_arrays(c, a, n, passes=8)
    assert tiled.shape == c.shape and np.abs(tiled - untiled).max() < 1e-3


def test_energy_match_keeps_the_noisy_totals_and_brightness(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """By default each channel keeps the noisy frame's total (tiled or not); --no-energy-match gives the raw network."""
    from mcdenoise.metrics import luminance_ratio

    frame = read_frame(SAMPLE / "render_000.exr")
    reference = read_frame(SAMPLE / "reference.exr").color
    c, a, n = frame.color, frame.albedo, frame.normal
    matched = Denoiser("default", device="cpu").denoise_arrays(c, a, n)
    raw = Denoiser("default", device="cpu", energy_match=False).denoise_arrays(c, a, n)
    tiled = Denoiser("default", device="cpu", max_memory_mb=60).denoise_arrays(c, a, n)  # per-tile runs, one scale
    totals = c.sum((0, 1), dtype=np.float64)
    np.testing.assert_allclose(matched.sum((0, 1), dtype=np.float64), totals, rtol=1e-4)
    assert np.abs(tiled - matched).max() < 1e-3
    assert abs(luminance_ratio(matched, reference) - 1) < abs(luminance_ratio(raw, reference) - 1)
    out = tmp_path / "raw.exr"
    assert main(["denoise", str(SAMPLE / "render_000.exr"), "-o", str(out), "--no-energy-match"]) == 0
    np.testing.assert_allclose(read_frame(out).color, raw, rtol=2e-3, atol=1e-3)  # stored as half
    assert main(["denoise", str(SAMPLE / "render_000.exr"), "-o", str(tmp_path / "s.exr"), "--no-energy-match",
                 "--server", "http://127.0.0.1:9"]) == 2
    assert "MCDENOISE_ENERGY_MATCH" in capsys.readouterr().err and not (tmp_path / "s.exr").exists()


def test_passes_out_of_range_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.exr"
    assert main(["denoise", str(SAMPLE / "render_000.exr"), "-o", str(out), "--passes", "9"]) == 2
    assert "passes must be 1 to 8" in capsys.readouterr().err and not out.exists()
    assert main(["denoise", str(SAMPLE / "render_000.exr"), "-o", str(out), "--passes", "2"]) == 0
    assert read_frame(out).header["mcdenoise_passes"] == "2"


def test_output_header_names_the_backend(tmp_path: Path) -> None:
    """`auto` may differ between farm nodes (OpenVINO bfloat16 on some CPUs): each frame says what computed it."""
    out = tmp_path / "o.exr"
    assert main(["denoise", str(SAMPLE / "render_000.exr"), "-o", str(out), "--backend", "onnx", "--device", "cpu"]) == 0
    assert read_frame(out).header["mcdenoise_backend"] == "onnx CPUExecutionProvider"


def test_torch_backend_precision_on_the_cpu(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--backend torch: channels_last float32 computes what the plain network does; bf16 (auto on AMX / AVX-512 BF16
    CPUs) gives the same picture; elsewhere auto is float32, and a bad precision is a clear error."""
    import torch

    import mcdenoise.checkpoint as checkpoint
    from mcdenoise.backends import open_backend
    from mcdenoise.errors import McDenoiseError

    rgb, alb, nrm = clean_image(48, 40, seed=3)
    rgb = rgb * np.random.default_rng(3).exponential(1.0, rgb.shape).astype(np.float32)  # noisy
    f32 = Denoiser(tiny_model, backend="torch", device="cpu", precision="fp32")
    assert f32.backend.device == "cpu (fp32)"
    plain = Denoiser(tiny_model, backend="torch", device="cpu", precision="fp32")
    plain.backend.pipeline.net = plain.backend.pipeline.net.net.to(memory_format=torch.contiguous_format)  # NCHW U-Net
    np.testing.assert_allclose(f32.denoise_arrays(rgb, alb, nrm), plain.denoise_arrays(rgb, alb, nrm), rtol=1e-4, atol=1e-5)
    if checkpoint.cpu_has_native_bf16():
        bf16 = Denoiser(tiny_model, backend="torch", device="cpu")
        assert bf16.backend.device == "cpu (bf16)"
        assert psnr_tonemapped(bf16.denoise_arrays(rgb, alb, nrm), f32.denoise_arrays(rgb, alb, nrm)) > 45
    monkeypatch.setattr(checkpoint, "cpu_has_native_bf16", lambda: False)
    assert Denoiser(tiny_model, backend="torch", device="cpu").backend.device == "cpu (fp32)"
    with pytest.raises(McDenoiseError, match="no native bfloat16"):
        open_backend(tiny_model, backend="torch", device="cpu", precision="bf16")
    with pytest.raises(McDenoiseError, match="unknown precision"):
        open_backend(tiny_model, backend="torch", precision="fp16")
    with pytest.raises(McDenoiseError, match="ONNX Runtime runs fp32"):
        open_backend("default", backend="onnx", precision="bf16")
    with pytest.raises(McDenoiseError, match="unknown precision"):
        open_backend("default", precision="f16")
