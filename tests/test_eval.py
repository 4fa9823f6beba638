"""`mcdenoise eval`: metrics on a pair and on a scene directory, the comparison PNG, and bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import clean_image, make_scene, write_render
from mcdenoise import metrics
from mcdenoise.cli import main
from mcdenoise.comparison import hardest_crop

SAMPLE = Path(__file__).resolve().parents[1] / "sample_scenes" / "cornell"


def test_metrics_known_values() -> None:
    ref = clean_image(32, 32, 0)[0]
    assert metrics.ssim(ref, ref) == pytest.approx(1.0)
    assert metrics.smape(ref, ref) == 0.0 and metrics.relmse(ref, ref) == 0.0
    noisy = ref * np.random.default_rng(0).gamma(4.0, 0.25, ref.shape)
    assert 0 < metrics.ssim(noisy, ref) < 0.99 and 0 < metrics.smape(noisy, ref) < 1
    assert metrics.smape(ref * 0, ref) == pytest.approx(np.mean(ref / (ref + 0.01)))
    flip, error_map = metrics.flip_hdr(noisy, ref)
    assert 0 < flip < 1 and error_map.shape == (32, 32) and metrics.flip_hdr(ref, ref)[0] == pytest.approx(0, abs=1e-6)


def test_hardest_crop_finds_the_error() -> None:
    err = np.zeros((50, 60))
    err[30:38, 40:48] = 1.0
    assert hardest_crop(err, 8) == (30, 40)


def test_eval_pair_table_json_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    noisy = SAMPLE / "cam0_box" / "render_000.exr"
    ref = SAMPLE / "cam0_box" / "reference.exr"
    den = tmp_path / "dn.exr"
    assert main(["denoise", str(noisy), "-o", str(den)]) == 0
    capsys.readouterr()
    assert main(["eval", str(den), "--reference", str(ref), "--noisy", str(noisy), "--json",
                 "--png", str(tmp_path / "cmp.png")]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {r["method"]: r["metrics"] for r in rows}
    assert set(by) == {"noisy", "mcdenoise", "oidn-high"}
    assert set(by["mcdenoise"]) == {"psnr", "relmse", "rel_trim", "rel_hi", "smape", "ssim", "flip", "lum"}
    assert by["mcdenoise"]["rel_hi"] >= 0  # the Cornell box's light is above 1
    assert 0.9 < by["mcdenoise"]["lum"] < 1.1  # the mean luminance ratio to the reference
    assert by["mcdenoise"]["psnr"] > by["noisy"]["psnr"] + 5 and by["mcdenoise"]["flip"] < by["noisy"]["flip"]
    png = (tmp_path / "cmp.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert main(["eval", str(den), "--reference", str(ref), "--no-flip"]) == 0
    out = capsys.readouterr().out
    assert "mcdenoise" in out and "psnr" in out and "flip" not in out.splitlines()[0]


def test_eval_scene_dirs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = make_scene(tmp_path, "s", views=2, renders=2, size=(32, 48))
    assert main(["eval", str(scene), "--no-flip", "--no-oidn", "--png", str(tmp_path / "pngs")]) == 0
    out = capsys.readouterr().out
    assert "mean of 2 views" in out
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 2


def test_eval_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_render(tmp_path / "a.exr", *clean_image(16, 16, 0))
    b = write_render(tmp_path / "b.exr", *clean_image(16, 24, 0))
    nan_ref = clean_image(16, 16, 1)[0]
    nan_ref[3, 3] = np.nan
    n = write_render(tmp_path / "n.exr", nan_ref, None, None, pixel_type="float")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["eval", str(a), "--reference", str(b)], "16x16 but the reference is 24x16"),
        (["eval", str(a), "--reference", str(tmp_path / "missing.exr")], "no such file"),
        (["eval", str(tmp_path / "missing.exr"), "--reference", str(a)], "no such file"),
        (["eval", str(a), "--reference", str(n)], "NaN/Inf"),
        (["eval", str(a)], "--reference"),
        (["eval", str(empty)], "no view"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err.splitlines()[-1] and "Traceback" not in err, (argv, err)
        assert len([line for line in err.splitlines() if "error:" in line]) == 1


def test_highlight_relmse_sees_overshoot_the_image_wide_metrics_miss() -> None:
    """A model that doubles a 4-pixel light source: relMSE and tonemapped PSNR hardly move, rel_hi does."""
    ref = np.full((64, 64, 3), 0.2)
    ref[:2, :2] = 50.0
    over = ref.copy()
    over[:2, :2] = 100.0
    assert metrics.relmse(over, ref) < 0.001 and metrics.psnr_tonemapped(over, ref) > 40
    assert metrics.relmse_highlights(over, ref) == pytest.approx(1.0, rel=1e-3)
    assert metrics.relmse_highlights(ref, ref) == 0.0
    assert np.isnan(metrics.relmse_highlights(np.full((8, 8, 3), 0.5), np.full((8, 8, 3), 0.5)))  # no highlights


def test_trimmed_relmse_is_steady_where_a_few_caustic_pixels_swing_relmse() -> None:
    """Two denoisers alike but for 3 dark-reference pixels: relMSE differs several-fold, rel_trim hardly."""
    rng = np.random.default_rng(0)
    ref = np.full((100, 100, 3), 0.3)
    ref[:1, :3] = 0.001  # a caustic's dark surround: any error there is huge relative to ref^2 + eps
    a = ref * (1 + rng.normal(0, 0.05, ref.shape))
    b = a.copy()
    b[:1, :3] = 2.0
    assert metrics.relmse(b, ref) > 5 * metrics.relmse(a, ref)
    assert metrics.relmse_trimmed(b, ref) == pytest.approx(metrics.relmse_trimmed(a, ref), rel=0.05)
    assert metrics.relmse_trimmed(a, ref) <= metrics.relmse(a, ref)
    assert metrics.relmse_trimmed(ref, ref) == 0.0
    small = np.full((10, 10, 3), 0.5)  # 100 pixels: 0.1% is less than one pixel, nothing is left out
    assert metrics.relmse_trimmed(small * 1.1, small) == pytest.approx(metrics.relmse(small * 1.1, small))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pixels: NaN, as relmse_highlights, not numpy's "mean of empty slice"
        assert np.isnan(metrics.relmse_trimmed(np.zeros((0, 4, 3)), np.zeros((0, 4, 3))))


def test_lowpass_psnr_tells_blotches_from_grain() -> None:
    """Per-pixel grain averages out under the blur; a smooth blotch of the same energy does not."""
    rng = np.random.default_rng(0)
    ref = np.full((64, 64, 3), 0.3)
    y, x = np.mgrid[:64, :64]
    blotch = 0.05 * np.exp(-((x - 32) ** 2 + (y - 32) ** 2) / (2 * 10.0**2))[..., None]
    grain = rng.normal(0, 1, ref.shape)
    grain *= np.sqrt(np.mean(blotch**2) / np.mean(grain**2))  # the same squared error in linear values
    a, b = ref + grain, ref + blotch
    assert abs(metrics.psnr_tonemapped(a, ref) - metrics.psnr_tonemapped(b, ref)) < 1.5
    assert metrics.psnr_lowpass(a, ref) > metrics.psnr_lowpass(b, ref) + 15
    assert metrics.psnr_lowpass(ref, ref) == float("inf")


def test_unknown_oidn_quality_is_a_clear_error() -> None:
    """The benchmarks' --oidn: a typo is an error naming the choices, not pyoidn's traceback mid-run."""
    from mcdenoise.errors import McDenoiseError
    from mcdenoise.evaluate import OIDN_QUALITIES, oidn_method

    with pytest.raises(McDenoiseError, match="balanced"):
        oidn_method("none")
    assert set(OIDN_QUALITIES) == {"fast", "balanced", "high"}
