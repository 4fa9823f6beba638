"""`fit`: data checks, a tiny fit that learns, exact resume, Ctrl-C checkpoints, torchrun + gloo."""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_scene, write_render
from mcdenoise import train
from mcdenoise.checkpoint import load_checkpoint
from mcdenoise.cli import main
from mcdenoise.data import FrameCache, PairSampler, check_views, collect_views
from mcdenoise.errors import AovError, DataError, McDenoiseError
from mcdenoise.model import PRESETS
from mcdenoise.orient import orient
from mcdenoise.train import GradClipper, TrainConfig, WeightAverage, fit, learning_rate, uses_bf16


def tiny_config(scene: Path, out: Path, **kw: object) -> TrainConfig:
    """A seconds-long from-scratch run of the tiny network."""
    base = TrainConfig(scenes=[str(scene)], output=str(out), init="scratch", size="tiny", steps=6, batch=2, crop=16,
                       lr=1e-3, val_every=1000, val_views=0)
    return replace(base, **kw)


def test_sampler_pairs_crops_and_augments(tiny_scene: Path) -> None:
    views = collect_views([tiny_scene])
    sampler = PairSampler(views, FrameCache(2**30), crop=16)
    b = sampler.sample(np.random.default_rng(0), 5)
    assert b.color.shape == b.target.shape == b.albedo.shape == b.normal.shape == (5, 3, 16, 16)
    assert b.exposure.shape == (5,)
    assert not np.array_equal(b.color, b.target)  # two different renders of one view
    again = sampler.sample(np.random.default_rng(0), 5)
    assert np.array_equal(b.color, again.color)  # a step's batch depends only on its generator
    assert np.allclose(np.linalg.norm(b.normal, axis=1), 1.0, atol=2e-3)  # permuted/flipped, still unit


def test_clean_target_uses_reference(tiny_scene: Path) -> None:
    views = collect_views([tiny_scene], "clean")
    b = PairSampler(views, FrameCache(2**30), crop=32, target="clean").sample(np.random.default_rng(1), 2)
    refs = [FrameCache(2**30).get(v.reference, need_aux=False).color for v in views]
    perms = list(itertools.permutations(range(3)))
    for t in b.target:  # a full-size crop: one of the 8 flips/rotations of a reference, RGB permuted
        assert any(np.array_equal(t, orient(ref, k, axes=(1, 2))[list(p)]) for ref in refs for k in range(8) for p in perms)


def test_mean_target_is_the_mean_of_the_other_renders(tiny_scene: Path) -> None:
    views = collect_views([tiny_scene], "mean")
    cache = FrameCache(2**30)
    b = PairSampler(views, cache, crop=32, target="mean", augment=False).sample(np.random.default_rng(3), 4)
    for color, target in zip(b.color, b.target):
        view = next(v for v in views if any(np.array_equal(color, cache.get(r).color) for r in v.renders))
        renders = [cache.get(r).color for r in view.renders]  # 3 renders: input + the mean of the 2 others
        others = [r for r in renders if not np.array_equal(r, color)]
        assert len(others) == len(renders) - 1
        np.testing.assert_allclose(target, np.mean(others, axis=0), rtol=1e-6)


def test_teacher_target_is_the_teacher_on_the_mean_of_the_other_renders(tmp_path: Path, tiny_scene: Path) -> None:
    """--target teacher: render i's target is a trained model's denoising of the mean of the view's other
    renders (never of render i itself), through the inference pipeline; kept within its byte budget."""
    from mcdenoise.data import TeacherTargets
    from mcdenoise.infer import Denoiser

    fit(tiny_config(tiny_scene, tmp_path / "teacher.pt", steps=2), progress=False)
    views = collect_views([tiny_scene], "teacher")
    cache = FrameCache(2**30)
    teacher = TeacherTargets(str(tmp_path / "teacher.pt"), cache, 2**30)
    b = PairSampler(views, cache, crop=32, target="teacher", augment=False, teacher=teacher).sample(
        np.random.default_rng(3), 4)
    denoiser = Denoiser(tmp_path / "teacher.pt", backend="torch")
    hwc = lambda a: np.mean(a, axis=0).astype(np.float32).transpose(1, 2, 0)  # noqa: E731
    for color, target in zip(b.color, b.target):
        view, i = next((v, i) for v in views for i, r in enumerate(v.renders) if np.array_equal(color, cache.get(r).color))
        others = [cache.get(r) for j, r in enumerate(view.renders) if j != i]
        want = denoiser.denoise_arrays(hwc([f.color for f in others]), hwc([f.albedo for f in others]),
                                       hwc([f.normal for f in others])).transpose(2, 0, 1)
        np.testing.assert_allclose(target, want, rtol=2e-3, atol=1e-4)  # stored as float16
        assert not np.allclose(target, color)
    one = teacher.get(views[0], 0).nbytes
    small = TeacherTargets(str(tmp_path / "teacher.pt"), cache, int(one * 1.5))
    for i in range(3):
        small.get(views[0], i)
    assert small.used <= one * 1.5 and small.computed == 3
    with pytest.raises(DataError, match="without --mix-spp"):
        PairSampler(views, cache, crop=32, target="teacher", mix_spp=True, teacher=teacher)


def test_ensemble_target_is_the_teachers_passes_on_the_input_itself(tmp_path: Path, tiny_scene: Path) -> None:
    """--target ensemble: render i's target is the teacher's `--passes N` denoising of render i itself."""
    from mcdenoise.data import TeacherTargets
    from mcdenoise.infer import Denoiser

    fit(tiny_config(tiny_scene, tmp_path / "teacher.pt", steps=2), progress=False)
    views = collect_views([tiny_scene], "ensemble")
    cache = FrameCache(2**30)
    small = TeacherTargets(str(tmp_path / "teacher.pt"), cache, 1000, source="ensemble", passes=4)
    assert not small.prefill(views, progress=False) and small.computed == 0  # too many for the budget: on use
    teacher = TeacherTargets(str(tmp_path / "teacher.pt"), cache, 2**30, source="ensemble", passes=4)
    assert teacher.prefill(views, progress=False)
    assert teacher.computed == sum(len(v.renders) for v in views)
    b = PairSampler(views, cache, crop=32, target="ensemble", augment=False, teacher=teacher).sample(
        np.random.default_rng(3), 4)
    denoiser = Denoiser(tmp_path / "teacher.pt", backend="torch")
    hwc = lambda a: a.astype(np.float32).transpose(1, 2, 0)  # noqa: E731
    for color, target in zip(b.color, b.target):
        f = next(cache.get(r) for v in views for r in v.renders if np.array_equal(color, cache.get(r).color))
        want = denoiser.denoise_arrays(hwc(f.color), hwc(f.albedo), hwc(f.normal), passes=4).transpose(2, 0, 1)
        np.testing.assert_allclose(target, want, rtol=2e-3, atol=1e-4)  # stored as float16
        one_pass = denoiser.denoise_arrays(hwc(f.color), hwc(f.albedo), hwc(f.normal)).transpose(2, 0, 1)
        assert not np.allclose(target, one_pass, rtol=2e-3, atol=1e-4)
    assert teacher.computed == sum(len(v.renders) for v in views)  # sampling reused the prefilled targets


def test_fit_with_ensemble_targets_needs_one_render_per_view(tmp_path: Path) -> None:
    """`fit --target ensemble` trains on views with a single render (no pair needed) and keeps its settings."""
    scene = make_scene(tmp_path / "scenes", renders=1, reference=False)
    fit(tiny_config(make_scene(tmp_path / "pairs"), tmp_path / "teacher.pt", steps=2), progress=False)
    assert main(["fit", str(scene), "-o", str(tmp_path / "s.pt"), "--init", "scratch", "--size", "tiny",
                 "--steps", "3", "--batch", "2", "--crop", "16", "--val-views", "0", "--target", "ensemble",
                 "--teacher", str(tmp_path / "teacher.pt"), "--teacher-passes", "2"]) == 0
    cfg = load_checkpoint(tmp_path / "s.pt")["train_config"]
    assert cfg["target"] == "ensemble" and cfg["teacher_passes"] == 2
    with pytest.raises(DataError, match="2 independent"):
        collect_views([scene], "mean")
    assert main(["fit", str(scene), "-o", str(tmp_path / "t.pt"), "--init", "scratch", "--size", "tiny", "--steps", "1",
                 "--val-views", "0", "--target", "ensemble", "--teacher", str(tmp_path / "teacher.pt"),
                 "--teacher-passes", "9"]) != 0


@pytest.mark.parametrize("views", [1, 3])
def test_fit_with_ensemble_targets_validates_single_renders(tmp_path: Path, views: int) -> None:
    """One render per view still validates, against the teacher's targets: on held-out tiles of a shot's one
    view, or on a held-out view of three (before: no validation, and with 3 views one view lost to nothing)."""
    scene = make_scene(tmp_path / "scenes", views=views, renders=1, reference=False)
    fit(tiny_config(make_scene(tmp_path / "pairs"), tmp_path / "teacher.pt", steps=2), progress=False)
    summary = fit(tiny_config(scene, tmp_path / "s.pt", steps=3, val_views=-1, val_every=2, target="ensemble",
                              teacher=str(tmp_path / "teacher.pt"), teacher_passes=2), progress=False)
    assert summary["val_views"] == 1 and summary["train_views"] == (1 if views == 1 else 2)
    assert "val_loss" in summary["metrics"] and np.isfinite(summary["metrics"]["val_loss"])


def test_a_bad_teacher_fails_before_the_data_is_read(tmp_path: Path) -> None:
    with pytest.raises(McDenoiseError, match="nope.pt"):
        fit(tiny_config(tmp_path / "no_scene", tmp_path / "m.pt", target="teacher", teacher=str(tmp_path / "nope.pt")),
            progress=False)


def test_fit_with_teacher_targets(tmp_path: Path, tiny_scene: Path) -> None:
    """`fit --target teacher --teacher M` trains (M: any model file) and stores the teacher in the run's config."""
    fit(tiny_config(tiny_scene, tmp_path / "teacher.pt", steps=2), progress=False)
    assert main(["fit", str(tiny_scene), "-o", str(tmp_path / "s.pt"), "--init", "scratch", "--size", "tiny",
                 "--steps", "3", "--batch", "2", "--crop", "16", "--val-views", "0", "--target", "teacher",
                 "--teacher", str(tmp_path / "teacher.pt")]) == 0
    cfg = load_checkpoint(tmp_path / "s.pt")["train_config"]
    assert cfg["target"] == "teacher" and cfg["teacher"] == str(tmp_path / "teacher.pt")


def test_frame_cache_respects_budget(tiny_scene: Path) -> None:
    views = collect_views([tiny_scene])
    one = FrameCache(2**30).get(views[0].renders[0]).nbytes
    cache = FrameCache(int(one * 2.5))
    check_views(views, cache)
    assert cache.used <= one * 2.5 and cache.misses == 6


def test_learning_rate_schedule() -> None:
    assert learning_rate(1.0, 0, 0.0, 0.3) < 0.1  # warm-up
    assert learning_rate(1.0, 100, 0.5, 0.3) == 1.0
    assert 0 < learning_rate(1.0, 100, 0.85, 0.3) < 1.0
    assert learning_rate(1.0, 100, 1.0, 0.3) == pytest.approx(0.0, abs=1e-12)


def test_tiny_fit_lowers_validation_error(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "s", views=3, renders=3, size=(32, 32))
    out = tmp_path / "m.pt"
    summary = fit(tiny_config(scene, out, steps=300, val_views=1, val_every=300, lr=3e-3), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_psnr" in r]
    assert val[0]["step"] == 0 and val[-1]["step"] == 300
    assert val[-1]["val_psnr"] > val[0]["val_psnr"] + 3
    assert val[-1]["val_relmse"] < val[0]["val_relmse"]
    assert 0 <= val[-1]["val_lum"] < val[0]["val_lum"] + 0.5  # worst-view |luminance ratio - 1| is logged
    assert summary["steps"] == 300
    assert (tmp_path / "m.curve.png").stat().st_size > 1000
    ckpt = load_checkpoint(out)
    assert ckpt["step"] == 300 and "optimizer" in ckpt and ckpt["train_config"]["size"] == "tiny"


@pytest.mark.parametrize("extra", [{}, {"clip_grad": 1.2, "steps": 30}, {"ema": 0.9, "steps": 30}],
                         ids=["plain", "clip-grad", "ema"])
def test_resume_after_interrupt_equals_uninterrupted(tmp_path: Path, tiny_scene: Path, monkeypatch: pytest.MonkeyPatch,
                                                     extra: dict[str, float]) -> None:
    full = tiny_config(tiny_scene, tmp_path / "full.pt", **extra)
    fit(full, progress=False)
    stop = full.steps - 3

    calls = {"n": 0}
    original = PairSampler.sample

    def interrupt_at_step_3(self: PairSampler, rng: np.random.Generator, batch: int):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == stop + 1:
            raise KeyboardInterrupt  # Ctrl-C during step `stop` (batches are built a step ahead)
        return original(self, rng, batch)

    part = replace(full, output=str(tmp_path / "part.pt"))
    monkeypatch.setattr(PairSampler, "sample", interrupt_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        fit(part, progress=False)
    monkeypatch.setattr(PairSampler, "sample", original)
    assert load_checkpoint(part.output)["step"] == stop  # saved on Ctrl-C
    fit(part, resume=True, progress=False)

    a, b = load_checkpoint(full.output), load_checkpoint(part.output)
    assert b["step"] == full.steps
    if "clip_grad" in extra:  # the clipper's running mean is carried across the resume
        assert a["grad_clip"] == b["grad_clip"] and a["grad_clip"]["seen"] == full.steps
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    if "ema" in extra:  # the average is carried across the resume, and it is what the run writes
        assert a["ema"]["updates"] == b["ema"]["updates"] == full.steps
        for key in a["model"]:
            assert torch.equal(a["model"][key], a["ema"]["model"][key]), key


def test_grad_clipper_shortens_only_outlier_steps() -> None:
    """A firefly's gradient (100x the usual norm) is cut to K x the running mean; ordinary steps are untouched."""
    p = torch.nn.Parameter(torch.zeros(4))
    clip = GradClipper(4.0)
    for _ in range(GradClipper.WARMUP + 10):
        p.grad = torch.full((4,), 0.5)  # norm 1
        assert not clip([p]) and torch.equal(p.grad, torch.full((4,), 0.5))
    p.grad = torch.full((4,), 50.0)  # norm 100
    assert clip([p])
    assert float(p.grad.norm()) == pytest.approx(4.0)
    assert clip.mean < 1.2  # the spike counts as its clipped norm: the running mean hardly moves
    again = GradClipper(4.0)
    again.load(clip.to_dict())
    assert again.to_dict() == clip.to_dict()


def test_weight_average_follows_the_weights_with_warm_up() -> None:
    """The average starts at the network, moves by the warmed-up weight, and tends to a constant target."""
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.zero_()
    avg = WeightAverage(net, decay=0.99)
    with torch.no_grad():
        net.weight.fill_(1.0)
    avg.update(net)  # warm-up decay (1 + 1) / (10 + 1): moves 9/11 of the way at once
    assert torch.allclose(avg.net.weight, torch.full((2, 2), 9 / 11))
    for _ in range(2000):
        avg.update(net)
    assert torch.allclose(avg.net.weight, torch.ones(2, 2)) and not avg.net.weight.requires_grad
    again = WeightAverage(torch.nn.Linear(2, 2), decay=0.99)
    again.load(avg.to_dict())
    assert again.updates == avg.updates and torch.equal(again.net.weight, avg.net.weight)


def test_ema_logs_both_and_must_be_below_one(tmp_path: Path, tiny_scene: Path) -> None:
    fit(tiny_config(tiny_scene, tmp_path / "m.pt", ema=0.9, steps=20, val_views=1, val_every=10), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "raw_val_psnr" in r] == [10, 20]  # the raw weights' figure next to the average's
    with pytest.raises(McDenoiseError, match="--ema"):
        fit(tiny_config(tiny_scene, tmp_path / "n.pt", ema=1.0), progress=False)


def test_fine_tuning_keeps_a_moving_average_by_default(tmp_path: Path, tiny_scene: Path) -> None:
    """Fine-tuning writes the moving average (decay FIT_EMA); from scratch, or with --ema 0, the raw weights."""
    scratch = tiny_config(tiny_scene, tmp_path / "a.pt")
    fit(scratch, progress=False)
    a = load_checkpoint(tmp_path / "a.pt")
    assert a["train_config"]["ema"] == 0.0 and a["ema"] is None
    fit(replace(scratch, output=str(tmp_path / "b.pt"), init=str(tmp_path / "a.pt")), progress=False)
    b = load_checkpoint(tmp_path / "b.pt")
    assert b["train_config"]["ema"] == train.FIT_EMA and b["ema"]["updates"] == scratch.steps  # stored resolved
    for key in b["model"]:  # no validation: the model written is the average
        assert torch.equal(b["model"][key], b["ema"]["model"][key]), key
    fit(replace(scratch, output=str(tmp_path / "c.pt"), init=str(tmp_path / "a.pt"), ema=0.0), progress=False)
    assert load_checkpoint(tmp_path / "c.pt")["ema"] is None


def test_resuming_a_run_from_before_the_average_goes_on_without_one(tmp_path: Path, tiny_scene: Path) -> None:
    """A checkpoint whose train_config has no `ema` (a run from before the average) resumes without one."""
    fit(tiny_config(tiny_scene, tmp_path / "a.pt"), progress=False)
    old = replace(tiny_config(tiny_scene, tmp_path / "b.pt"), init=str(tmp_path / "a.pt"))
    fit(old, progress=False)
    ckpt = load_checkpoint(tmp_path / "b.pt")
    del ckpt["train_config"]["ema"]
    ckpt["ema"] = None
    torch.save(ckpt, tmp_path / "b.pt")
    fit(TrainConfig.from_dict({**ckpt["train_config"], "steps": 9}), resume=True, progress=False)
    again = load_checkpoint(tmp_path / "b.pt")
    assert again["step"] == 9 and again["ema"] is None and again["train_config"]["ema"] == 0.0


def test_auto_precision_is_bf16_on_cuda_and_native_bf16_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for native in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):  # AMX Xeons; AVX-512 BF16 (Zen 4)
        for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
            monkeypatch.setattr(torch.cpu, name, lambda n=name: n == native, raising=False)
        assert uses_bf16("auto", cpu) and uses_bf16("auto", cuda) and not uses_bf16("fp32", cpu)
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)  # emulated bf16 would be slower than float32
    assert not uses_bf16("auto", cpu) and uses_bf16("auto", cuda) and uses_bf16("bf16", cpu)


def test_bf16_asked_for_on_a_cpu_that_emulates_it_warns(monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Forced bf16 on an AVX2-only CPU trained at 1/10 of float32's pixels/s, silently (stop 29)."""
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="mcdenoise.train"):
        assert not uses_bf16("auto", torch.device("cpu")) and not uses_bf16("fp32", torch.device("cpu"))
        assert not caplog.records
        assert uses_bf16("bf16", torch.device("cpu"))
    assert "emulated" in caplog.text and "--precision auto" in caplog.text
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    caplog.clear()
    assert uses_bf16("bf16", torch.device("cpu")) and not caplog.records


def test_loss_scales_must_fit_the_crop(tmp_path: Path, tiny_scene: Path) -> None:
    for bad in ([1], [9], [4, 0]):  # crop 16: block sides 2 to 8
        with pytest.raises(McDenoiseError, match="--loss-scales"):
            fit(tiny_config(tiny_scene, tmp_path / "m.pt", loss_scales=bad), progress=False)
    fit(tiny_config(tiny_scene, tmp_path / "m.pt", loss_scales=[2, 8], steps=2), progress=False)


def test_loss_window_must_be_odd(tmp_path: Path, tiny_scene: Path) -> None:
    with pytest.raises(McDenoiseError, match="--loss-window"):
        fit(tiny_config(tiny_scene, tmp_path / "m.pt", loss_window=2), progress=False)
    fit(tiny_config(tiny_scene, tmp_path / "m.pt", loss_window=3, steps=2), progress=False)


def test_clip_grad_must_be_above_one(tmp_path: Path, tiny_scene: Path) -> None:
    with pytest.raises(McDenoiseError, match="--clip-grad"):
        fit(tiny_config(tiny_scene, tmp_path / "m.pt", clip_grad=0.5), progress=False)


def test_fine_tune_from_a_model_file(tmp_path: Path, tiny_scene: Path) -> None:
    first = tiny_config(tiny_scene, tmp_path / "a.pt")
    fit(first, progress=False)
    second = fit(replace(first, output=str(tmp_path / "b.pt"), init=str(tmp_path / "a.pt"), lr=0.0), progress=False)
    assert second["lr"] == 1e-4  # fine-tuning default
    assert load_checkpoint(tmp_path / "b.pt")["model_config"] == load_checkpoint(tmp_path / "a.pt")["model_config"]


# --------------------------------------------------------------------------------------- bad input

def _expect(tmp_path: Path, scene: Path, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        fit(tiny_config(scene, tmp_path / "m.pt"), progress=False)
    assert not (tmp_path / "m.pt").exists()  # nothing written before the data is known good


def test_view_with_one_render(tmp_path: Path) -> None:
    _expect(tmp_path, make_scene(tmp_path / "s", renders=1), DataError, "at least 2 independent")


def test_mismatched_sizes(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "s")
    c = np.ones((24, 32, 3), np.float32)
    write_render(scene / "cam1" / "render_001.exr", c, c, c)
    _expect(tmp_path, scene, DataError, "same resolution")


def test_no_aovs(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "s")
    write_render(scene / "cam0" / "render_002.exr", np.ones((32, 32, 3), np.float32), None, None)
    _expect(tmp_path, scene, AovError, "training needs color \\+ albedo \\+ normal")


def test_unreadable_file(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "s")
    (scene / "cam0" / "render_001.exr").write_bytes(b"\x76\x2f\x31\x01" + b"\0" * 40)
    _expect(tmp_path, scene, Exception, "render_001.exr")


def test_all_nan_frame(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "s")
    c = np.full((32, 32, 3), np.nan, np.float32)
    write_render(scene / "cam1" / "render_000.exr", c, np.ones_like(c), np.ones_like(c), pixel_type="float")
    _expect(tmp_path, scene, DataError, "every color pixel is NaN")


def test_clean_target_needs_reference(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "s", reference=False)
    with pytest.raises(DataError, match="needs reference.exr"):
        fit(tiny_config(scene, tmp_path / "m.pt", target="clean"), progress=False)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = make_scene(tmp_path / "s", renders=1)
    assert main(["fit", str(scene), "-o", str(tmp_path / "m.pt"), "--steps", "2", "--init", "scratch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mcdenoise: error:") and "Traceback" not in err[0]
    assert main(["fit", str(tmp_path / "nope"), "-o", str(tmp_path / "m.pt"), "--steps", "2"]) == 2
    assert main(["fit", str(scene), "-o", str(tmp_path / "m.pt")]) == 2  # no budget
    assert main(["fit", "--resume", "-o", str(tmp_path / "none.pt")]) == 2
    out, good = tmp_path / "ok.pt", make_scene(tmp_path / "t")
    assert main(["fit", str(good), "-o", str(out), "--steps", "2", "--init", "scratch", "--size", "tiny", "--crop", "16",
                 "--val-views", "0"]) == 0
    for bad in (["--lr", "-1"], ["--lr", "nan"], ["--rampdown", "2"], ["--rampdown", "-0.5"]):
        capsys.readouterr()
        assert main(["fit", "--resume", "-o", str(out), "--steps", "4", *bad]) == 2, bad
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("mcdenoise: error: --") and "Traceback" not in "".join(err), bad
    assert load_checkpoint(out)["step"] == 2  # nothing trained, nothing lost


def test_cli_fit_refuses_to_replace_a_model(tmp_path: Path, tiny_scene: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.pt"
    out.write_bytes(b"precious")
    assert main(["fit", str(tiny_scene), "-o", str(out), "--steps", "2", "--init", "scratch"]) == 2
    assert out.read_bytes() == b"precious"
    assert "--resume" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- DDP

def test_torchrun_two_cpu_processes_with_gloo(tmp_path: Path, tiny_scene: Path) -> None:
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "mcdenoise.cli", "fit", str(tiny_scene), "-o", str(out), "--init", "scratch", "--size", "tiny",
           "--steps", "4", "--batch", "1", "--crop", "16", "--val-views", "1", "--device", "cpu"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = load_checkpoint(out)
    assert ckpt["step"] == 4 and ckpt["summary"]["processes"] == 2


def test_validation_scene_needs_only_one_render_and_a_reference(tmp_path: Path, tiny_scene: Path) -> None:
    held = make_scene(tmp_path / "held", "held", views=1, renders=1, seed=5)
    summary = fit(tiny_config(tiny_scene, tmp_path / "m.pt", steps=2, val_scenes=[str(held)]), progress=False)
    assert summary["val_views"] == 1 and "val_psnr" in summary["metrics"]
    bare = make_scene(tmp_path / "bare", "bare", views=1, renders=1, reference=False)
    with pytest.raises(DataError, match="validation view needs"):
        fit(tiny_config(tiny_scene, tmp_path / "n.pt", steps=2, val_scenes=[str(bare)]), progress=False)


def test_cli_fit_never_overwrites_its_init_model(tmp_path: Path, tiny_scene: Path) -> None:
    first = tmp_path / "a.pt"
    fit(tiny_config(tiny_scene, first, steps=1), progress=False)
    before = first.read_bytes()
    assert main(["fit", str(tiny_scene), "-o", str(first), "--init", str(first), "--steps", "2", "--force"]) == 2
    assert first.read_bytes() == before


def test_color_only_model_trains_on_renders_without_aovs(tmp_path: Path) -> None:
    """`fit --no-aux`: a 3-channel model; renders need no albedo/normal; fine-tuning keeps its inputs."""
    scene = make_scene(tmp_path / "s")
    write_render(scene / "cam0" / "render_002.exr", np.ones((32, 32, 3), np.float32), None, None)  # beauty only
    fit(tiny_config(scene, tmp_path / "c.pt", aux=False), progress=False)
    assert load_checkpoint(tmp_path / "c.pt")["model_config"]["in_channels"] == 3
    fit(tiny_config(scene, tmp_path / "c2.pt", init=str(tmp_path / "c.pt")), progress=False)  # inputs follow the init
    assert load_checkpoint(tmp_path / "c2.pt")["model_config"]["in_channels"] == 3
    full = tiny_config(make_scene(tmp_path / "t"), tmp_path / "a.pt")
    fit(full, progress=False)
    with pytest.raises(McDenoiseError, match="takes albedo and normal"):
        fit(replace(full, output=str(tmp_path / "x.pt"), init=str(tmp_path / "a.pt"), aux=False), progress=False)


def test_sigterm_checkpoints_and_resume_continues(tmp_path: Path, tiny_scene: Path) -> None:
    """A preempted farm job (SIGTERM) keeps its progress: checkpoint written, --resume goes on from it."""
    import signal
    import time

    out = tmp_path / "m.pt"
    cmd = [sys.executable, "-m", "mcdenoise.cli", "fit", str(tiny_scene), "-o", str(out), "--init", "scratch",
           "--size", "tiny", "--steps", "100000", "--crop", "16", "--batch", "2", "--val-views", "0",
           "--checkpoint-minutes", "0.002"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "m.log.jsonl"
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)  # the first periodic checkpoint: past data checks and into the loop (on a busy machine too)
    while time.monotonic() < deadline and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:  # a loaded machine may take a while to write the checkpoint and exit: a second signal would kill it
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            continue
    err = proc.stderr.read()
    assert proc.returncode == 130 and "checkpoint saved" in err, err
    step = load_checkpoint(out)["step"]
    assert 0 < step < 100000 and log.is_file()
    r = subprocess.run([sys.executable, "-m", "mcdenoise.cli", "fit", "--resume", "-o", str(out), "--steps",
                        str(step + 5)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(out)["step"] == step + 5


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_during_a_periodic_checkpoint_waits_for_it(tmp_path: Path, tiny_scene: Path,
                                                            monkeypatch: pytest.MonkeyPatch, signum: str) -> None:
    """A signal landing inside a checkpoint's writing (CI: inside matplotlib's import) stops the run cleanly."""
    import signal

    calls = {"n": 0}
    original = train.plot_curve

    def signalled_mid_import(rows: list, path: Path) -> None:  # type: ignore[type-arg]
        calls["n"] += 1
        try:
            os.kill(os.getpid(), getattr(signal, signum))  # the handler runs at the next bytecode, inside here
            for _ in range(1000):
                sum(range(10))
        except KeyboardInterrupt as e:  # what a C extension's init does with it
            raise ImportError("initialization failed") from e
        original(rows, path)

    out = tmp_path / "m.pt"
    monkeypatch.setattr(train, "plot_curve", signalled_mid_import)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(tiny_scene, out, steps=100000, checkpoint_minutes=0.0), progress=False)
    assert calls["n"] == 1  # the periodic checkpoint finished and holds the last step: no second save of it
    assert 0 < load_checkpoint(out)["step"] < 100000 and (tmp_path / "m.curve.png").is_file()


def test_resume_takes_a_new_schedule_and_says_what_it_ignores(tmp_path: Path, tiny_scene: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Extending a finished run: --lr and --rampdown apply (a warm restart), recipe options are named as ignored."""
    out = tmp_path / "m.pt"
    fit(tiny_config(tiny_scene, out, steps=60), progress=False)
    assert main(["fit", "--resume", "-o", str(out), "--steps", "80", "--lr", "2e-3", "--rampdown", "0",
                 "--crop", "32"]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt["step"] == 80 and ckpt["train_config"]["lr"] == 2e-3 and ckpt["train_config"]["crop"] == 16
    rows = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows if r.get("step") == 80] == [2e-3]  # was silently the run's own 1e-3
    err = capsys.readouterr().err
    assert "ignoring" in err and "--crop" in err and "--lr" not in err


def test_resume_without_the_log_says_the_history_starts_over(tmp_path: Path, tiny_scene: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A checkpoint copied without its .log.jsonl resumes, but says that its log and curve start at the resume."""
    out = tmp_path / "m.pt"
    fit(tiny_config(tiny_scene, out, steps=20), progress=False)
    (tmp_path / "m.log.jsonl").unlink()
    assert main(["fit", "--resume", "-o", str(out), "--steps", "24"]) == 0
    err = capsys.readouterr().err
    assert "no training log" in err and "step 20" in err
    assert main(["fit", "--resume", "-o", str(out), "--steps", "28"]) == 0  # its own log is there now: no warning
    assert "no training log" not in capsys.readouterr().err


def test_mixed_sample_counts_split_the_renders(tiny_scene: Path) -> None:
    """--mix-spp: the input is the mean of some renders, the target the mean of the others, never shared."""
    views = collect_views([tiny_scene], "mean")
    cache = FrameCache(2**30)
    renders = {v.label: [cache.get(r).color for r in v.renders] for v in views}
    sampler = PairSampler(views, cache, crop=32, target="mean", augment=False, mix_spp=True)
    counts = set()
    for seed in range(12):
        b = sampler.sample(np.random.default_rng(seed), 1)
        found = False
        for frames in renders.values():
            for m in (1, 2):
                for subset in itertools.combinations(range(len(frames)), m):
                    rest = [i for i in range(len(frames)) if i not in subset]
                    if np.allclose(b.color[0], np.mean([frames[i] for i in subset], axis=0), rtol=1e-5) and \
                            np.allclose(b.target[0], np.mean([frames[i] for i in rest], axis=0), rtol=1e-5):
                        found, _ = True, counts.add(m)
        assert found
    assert counts == {1, 2}  # 3 renders: 1 or 2 averaged into the input


def test_one_view_validates_on_a_pair_of_its_renders(tmp_path: Path) -> None:
    """`fit` on a folder with one view still validates: two of its renders on the held-out tiles."""
    scene = make_scene(tmp_path / "s", "one", views=1, renders=4, size=(32, 32), reference=False)
    summary = fit(TrainConfig(scenes=[str(scene)], output=str(tmp_path / "m.pt"), init="scratch", size="tiny",
                              steps=4, crop=16, val_every=2), progress=False)
    assert summary["train_views"] == 1 and summary["val_views"] == 1
    rows = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [0, 2, 4]
    assert load_checkpoint(tmp_path / "m.pt")["best"]["step"] in (0, 2, 4)  # loads (plain tensors only)


def test_two_views_each_validate_on_a_pair_of_renders(tmp_path: Path) -> None:
    """A shot rendered with two filters keeps both views in training; each validates on two of its renders."""
    scene = make_scene(tmp_path / "s", "shot", views=2, renders=4, size=(32, 32), reference=False)
    summary = fit(TrainConfig(scenes=[str(scene)], output=str(tmp_path / "m.pt"), init="scratch", size="tiny",
                              steps=2, crop=16, val_every=2), progress=False)
    assert summary["train_views"] == 2 and summary["val_views"] == 2


def test_a_view_of_two_renders_validates_and_trains_on_both(tmp_path: Path) -> None:
    """A shot of one view and 2 renders (the Noise2Noise minimum) validates on its held-out tiles; before
    stop 24 a view needed 4 renders to validate, and lent 2 of them, so that training kept only a pair."""
    scene = make_scene(tmp_path / "s", "shot", views=1, renders=2, size=(32, 32), reference=False)
    summary = fit(TrainConfig(scenes=[str(scene)], output=str(tmp_path / "m.pt"), init="scratch", size="tiny",
                              steps=2, crop=16, val_every=2), progress=False)
    assert summary["train_views"] == 1 and summary["val_views"] == 1
    rows = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [0, 2]


def test_fit_keeps_the_best_validated_model_and_stops_when_it_stops_improving(
        tmp_path: Path, tiny_scene: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fine-tune whose validation gets worse ends with the best weights, not the last ones (no drift)."""
    import mcdenoise.train as train_mod

    scripted = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99])  # val_loss at steps 0, 2, 4, ...: best at step 2
    seen: dict[int, dict] = {}

    def fake_validate(net, views, cache, device, teacher=None):  # noqa: ANN001, ANN202
        seen[len(seen)] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}  # CUDA too
        return {"val_loss": next(scripted)}

    monkeypatch.setattr(train_mod, "validate", fake_validate)
    init = fit(TrainConfig(scenes=[str(tiny_scene)], output=str(tmp_path / "init.pt"), init="scratch", size="tiny",
                           steps=1, crop=16, val_views=0), progress=False)
    assert init["steps"] == 1
    out = tmp_path / "ft.pt"
    summary = fit(TrainConfig(scenes=[str(tiny_scene)], output=str(out), init=str(tmp_path / "init.pt"), steps=50,
                              crop=16, val_views=1, val_every=2, patience=3, lr=1e-3, ema=0.0),  # one validation a step
                  progress=False)
    assert summary["best_step"] == 2 and summary["steps"] == 8  # stopped after 3 validations without a new best
    saved = load_checkpoint(out)["model"]
    for k, v in seen[1].items():  # the weights validated at step 2
        assert torch.equal(saved[k].float(), v.float()), k


def test_held_out_tiles_are_never_trained_on(tmp_path: Path) -> None:
    """A shot's own validation measures on tiles spread over the frame that training never takes its loss on
    (no reward for memorizing the view): every loss-weighted pixel is outside them, and they reach every
    quarter of the frame (the bottom quarter alone held out before stop 22 missed what a fit gained)."""
    from mcdenoise.data import holdout_tiles, split_renders

    view_dir = tmp_path / "shot" / "cam0"
    view_dir.mkdir(parents=True)
    held = holdout_tiles(64, 48) >= 0
    color = np.full((64, 48, 3), 0.5, np.float32)
    color[held] = 100.0  # the held-out tiles are marked
    for i in range(4):
        write_render(view_dir / f"render_{i:03d}.exr", color, np.full_like(color, 0.5), np.dstack([color[..., :2] * 0, color[..., :1] * 0 + 1]))
    (view,) = collect_views([str(tmp_path / "shot")], "noisy")
    train_view, val_view = split_renders(view)
    assert train_view.renders == view.renders == val_view.renders  # no render lost to training; all are targets
    assert np.array_equal(val_view.mask(64, 48), held) and np.array_equal(train_view.mask(64, 48), ~held)
    assert 0.15 < held.mean() < 0.35
    for top, left in ((0, 0), (0, 24), (32, 0), (32, 24)):  # every quarter of the frame holds some out
        assert held[top:top + 32, left:left + 24].any()
    sampler = PairSampler([train_view], FrameCache(2**26), crop=16)
    for seed in range(20):
        batch = sampler.sample(np.random.default_rng(seed), 8)
        assert batch.weight is not None and batch.weight.shape == (8, 1, 16, 16)
        counted = batch.weight[:, 0] > 0
        assert (batch.target.max(axis=1)[counted] < 1.0).all() and (batch.target.max(axis=1)[~counted] > 1.0).all()
    plain = PairSampler([view], FrameCache(2**26), crop=16).sample(np.random.default_rng(0), 2)
    assert plain.weight is None  # ordinary training: no mask, the loss as before


def test_validation_targets_are_the_mean_of_the_other_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A held-out view of k renders validates each input against the mean of its k-1 others: a perfect model's
    error is the targets' noise, 1/(k-1) of one render's (before, render 1 alone was render 0's target, and
    the paired test could not see a fit's gain on metals through that noise)."""
    from mcdenoise.data import View, holdout_tiles

    rng = np.random.default_rng(0)
    clean = np.full((64, 64, 3), 0.5, np.float32)
    view_dir = tmp_path / "shot" / "cam0"
    view_dir.mkdir(parents=True)
    for i in range(4):
        noisy = clean + rng.normal(0.0, 0.05, clean.shape).astype(np.float32)
        write_render(view_dir / f"render_{i:03d}.exr", noisy, np.full_like(clean, 0.5), np.dstack([clean[..., :2] * 0, clean[..., :1] * 0 + 1]))
    (view,) = collect_views([str(tmp_path / "shot")], "noisy")

    class Perfect(torch.nn.Module):  # stands in for DenoisePipeline: returns the clean image
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()

        def forward(self, color: torch.Tensor, *aux: torch.Tensor) -> torch.Tensor:
            return torch.full_like(color, 0.5)

    monkeypatch.setattr(train, "DenoisePipeline", Perfect)
    cache = FrameCache(2**26)
    held = View(view.scene, view.name, view.renders, None, region="held")
    assert (holdout_tiles(64, 64) >= 0).any()
    pairs = [train.validate(torch.nn.Identity(), [View(view.scene, view.name, rs, None, region="held")], cache,
                            torch.device("cpu"))["val_loss"] for rs in (view.renders[:2], view.renders[2:])]
    quiet = train.validate(torch.nn.Identity(), [held], cache, torch.device("cpu"))["val_loss"]
    assert quiet == pytest.approx(np.mean(pairs) / 3, rel=0.15)


def test_masked_hdr_loss_is_the_mean_over_the_kept_pixels() -> None:
    """hdr_loss with a mask averages over the kept pixels only; an all-ones mask changes nothing."""
    from mcdenoise.loss import hdr_loss

    rng = np.random.default_rng(0)
    pred, target = (torch.from_numpy(rng.uniform(0, 2, (2, 3, 8, 8)).astype(np.float32)) for _ in range(2))
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, :4] = 1.0
    assert torch.allclose(hdr_loss(pred, target, mask=mask), hdr_loss(pred[:, :, :4], target[:, :, :4]))
    assert torch.allclose(hdr_loss(pred, target, mask=torch.ones(2, 1, 8, 8)), hdr_loss(pred, target))


def test_masked_block_means_match_block_means_on_a_rectangle() -> None:
    """The held-out tiles' block means are `block_means` of the same blocks."""
    from mcdenoise.data import holdout_tiles
    from mcdenoise.loss import block_means, masked_block_means

    error = np.random.default_rng(0).uniform(0, 1, (256, 256))
    labels = holdout_tiles(256, 256)
    means = masked_block_means(error, labels)
    assert len(means) == 64  # 16 held-out 32-px tiles of 4 16-px blocks
    assert np.allclose(means[:2], block_means(error[32:48, 32:64]))


def test_validation_loss_does_not_reward_a_brighter_model() -> None:
    """On heavy-tailed noisy targets, L_HDR (weights from the prediction) prefers a too-bright model; the
    validation criterion (weights from the input) prefers the unbiased one."""
    from mcdenoise.loss import hdr_loss, validation_loss

    rng = np.random.default_rng(0)
    clean = rng.uniform(0.05, 1.0, (3, 64, 64)).astype(np.float32)
    sparse = lambda: clean * rng.binomial(1, 0.1, clean.shape) / 0.1  # noqa: E731 - mean = clean, fireflies
    noisy_input, target = sparse().astype(np.float32), sparse().astype(np.float32)
    right, bright = clean, 1.5 * clean
    as_t = torch.from_numpy
    assert float(hdr_loss(as_t(bright), as_t(target))) < float(hdr_loss(as_t(right), as_t(target)))  # the trap
    assert validation_loss(right, target, noisy_input).mean() < validation_loss(bright, target, noisy_input).mean()


def test_validation_loss_ranks_models_as_psnr_does() -> None:
    """A model 40% off in a near-black area but exact where it is lit beats one 12% off where it is lit, in
    tonemapped PSNR; the validation ranks them the same way (its weights before stop 21, 1/(lum+0.01)^2,
    ranked them the other way, and held back fits that helped)."""
    from mcdenoise.loss import validation_loss
    from mcdenoise.metrics import psnr_tonemapped

    clean = np.full((3, 32, 64), 0.2, np.float32)
    clean[:, :, :32] = 0.005  # a near-black half and a lit half
    dark_off, lit_off = clean.copy(), clean.copy()
    dark_off[:, :, :32] *= 1.4
    lit_off[:, :, 32:] *= 1.118
    assert psnr_tonemapped(dark_off, clean) > psnr_tonemapped(lit_off, clean) + 2
    assert validation_loss(dark_off, clean, clean).mean() < validation_loss(lit_off, clean, clean).mean()


def test_best_model_needs_a_significant_improvement_against_noisy_targets() -> None:
    """A new model whose validation error is lower by less than the noise does not replace the best."""
    from mcdenoise.train import BestModel

    net = torch.nn.Linear(1, 1)
    rng = np.random.default_rng(0)
    base = rng.gamma(1.0, 1.0, 400)
    best = BestModel(patience=2)
    assert best.update(0, {"val_loss": float(base.mean())}, net, base)
    noise = base + rng.normal(0, 0.5, 400)  # lower mean by chance at most, far inside the noise
    chance = noise - (noise.mean() - base.mean()) - 0.01
    assert not best.update(1, {"val_loss": float(chance.mean())}, net, chance) and best.step == 0
    clearly = base * 0.8
    assert best.update(2, {"val_loss": float(clearly.mean())}, net, clearly) and best.step == 2


def test_patience_waits_while_the_error_keeps_setting_records() -> None:
    """Lower errors that are not yet significant keep the fit going; only validations without a record stop it."""
    from mcdenoise.train import BestModel

    net = torch.nn.Linear(1, 1)
    rng = np.random.default_rng(0)
    base = rng.gamma(1.0, 1.0, 400)
    best = BestModel(patience=2)
    best.update(0, {"val_loss": float(base.mean())}, net, base)
    for step in range(1, 6):  # each a little lower than the last, each far inside the noise of the paired test
        lower = base + rng.normal(0, 0.5, 400)
        lower += base.mean() - lower.mean() - 1e-4 * step
        assert not best.update(step, {"val_loss": float(lower.mean())}, net, lower)
        assert best.step == 0 and best.stale == 0 and not best.should_stop
    for step in range(6, 8):  # no new record: patience runs out
        worse = base + 0.01
        best.update(step, {"val_loss": float(worse.mean())}, net, worse)
    assert best.should_stop and best.step == 0
    restored = BestModel(patience=2)
    restored.load(best.to_dict())
    assert restored.lowest == best.lowest < best.value


def test_more_validation_views_than_are_used_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Validation denoises at most VAL_FRAMES views; passing more must not go unnoticed."""
    from mcdenoise.train import VAL_FRAMES

    train = make_scene(tmp_path / "t", "train", views=1, renders=2, size=(32, 32), reference=False)
    val = make_scene(tmp_path / "v", "val", views=VAL_FRAMES + 1, renders=1, size=(32, 32))
    with caplog.at_level("WARNING", logger="mcdenoise.train"):
        fit(TrainConfig(scenes=[str(train)], output=str(tmp_path / "m.pt"), init="scratch", size="tiny", steps=1,
                        crop=16, val_scenes=[str(val)], val_every=1000), progress=False)
    assert f"first {VAL_FRAMES} of {VAL_FRAMES + 1} validation views" in caplog.text


def test_fine_tune_widened(tmp_path: Path, tiny_scene: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--init M --size S` grows M to S (same result until trained), then fine-tunes; narrowing is refused."""
    monkeypatch.setitem(PRESETS, "tiny-wider", replace(PRESETS["tiny"], enc=(8, 16, 24), dec=(24,)))
    first = tiny_config(tiny_scene, tmp_path / "a.pt")
    fit(first, progress=False)
    fit(replace(first, output=str(tmp_path / "b.pt"), init=str(tmp_path / "a.pt"), size="tiny-wider"), progress=False)
    ckpt = load_checkpoint(tmp_path / "b.pt")
    assert ckpt["model_config"]["enc"] == [8, 16, 24] and ckpt["train_config"]["size"] == "tiny-wider"
    with pytest.raises(McDenoiseError, match="at least the old one"):
        fit(replace(first, output=str(tmp_path / "c.pt"), init=str(tmp_path / "b.pt"), size="tiny"), progress=False)
    assert not (tmp_path / "c.pt").exists()


def test_batch_and_crop_default_to_the_devices_and_are_stored(tmp_path: Path) -> None:
    """0 = the device's default (4 x 64^2 on a CPU), written resolved so that --resume on a GPU keeps it."""
    scene = make_scene(tmp_path, views=3, renders=4, size=(96, 96))
    out = tmp_path / "m.pt"
    assert main(["fit", str(scene), "-o", str(out), "--init", "scratch", "--size", "tiny", "--steps", "2",
                 "--device", "cpu"]) == 0
    cfg = load_checkpoint(out)["train_config"]
    assert (cfg["batch"], cfg["crop"]) == (train.AUTO_BATCH["cpu"], train.AUTO_CROP["cpu"]) == (4, 64)


def test_resume_measures_an_old_best_again_with_this_versions_validation(tmp_path: Path) -> None:
    """A run validated with an older `val_loss` (another scale) resumes comparing new validations with its
    best measured again, not with a number from another criterion."""
    scene = make_scene(tmp_path, views=1, renders=4, size=(64, 64), reference=False)  # a held-out noisy pair
    out = tmp_path / "m.pt"
    cfg = train.TrainConfig(scenes=[str(scene)], output=str(out), init="scratch", size="tiny", steps=4, batch=2,
                            crop=32, val_every=2, patience=0)
    fit(cfg, progress=False)
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["best"]["key"] == "val_loss" and ckpt["best"]["criterion"] == train.VAL_CRITERION
    ckpt["best"].update(criterion="", value=1e9, blocks=ckpt["best"]["blocks"] * 1e9)  # as if from an old version
    torch.save(ckpt, out)
    fit(train.TrainConfig(**{**cfg.__dict__, "steps": 6}), resume=True, progress=False)
    best = torch.load(out, weights_only=True)["best"]
    assert best["criterion"] == train.VAL_CRITERION and best["value"] < 1e3
