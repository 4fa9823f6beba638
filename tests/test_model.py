"""The U-Net, its config and checkpoints, the shared pipeline and the loss."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mcdenoise import color
from mcdenoise.architecture import BASE_BLUR, DEMOD_MIN_ALBEDO, MIX_RAISE_MAX
from mcdenoise.checkpoint import (average_weights, load_checkpoint, load_model, model_from_checkpoint, release_copy,
                                  save_checkpoint)
from mcdenoise.errors import McDenoiseError, ModelError
from mcdenoise.loss import HDR_EPS, hdr_loss
from mcdenoise.model import LEAKY_SLOPE, PRESETS, ModelConfig, UNet, count_parameters, grow, layer_table
from mcdenoise.pipeline import INPUT_CHANNELS, DenoisePipeline, network_input, network_output, pad_to


def test_paper_network_matches_table_2() -> None:
    table = layer_table(ModelConfig())
    names = [name for name, _, _ in table]
    assert names[:7] == [f"enc_conv{i}" for i in range(7)]
    assert table[0] == ("enc_conv0", 9, 48)
    assert table[7] == ("dec_conv5a", 96, 96)  # upsampled bottleneck (48) + pool4 (48)
    assert table[9] == ("dec_conv4a", 144, 96)  # 96 + pool3 (48)
    assert table[-3:] == [("dec_conv1a", 96 + 9, 64), ("dec_conv1b", 64, 32), ("dec_conv1c", 32, 3)]
    assert len(table) == 7 + 8 + 3
    assert ModelConfig().alignment == 32


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_unet_shapes(preset: str) -> None:
    net = UNet(PRESETS[preset])
    a = net.alignment
    x = torch.randn(2, 9, 2 * a, 3 * a)
    out = net(x)
    if net.cfg.output == "kpn":  # one head per scale: kernel logits (+ a blend weight but the coarsest)
        cfg = net.cfg
        assert [o.shape for o in out] == [(2, cfg.head_channels(s), 2 * a >> s, 3 * a >> s) for s in range(cfg.scales)]
        assert cfg.head_channels(0) == cfg.kernel**2 + 1 and cfg.head_channels(cfg.scales - 1) == cfg.kernel**2
    else:  # "mixlog": + the blurred base's share; "mixlog3": + two shares' logits
        assert out.shape == (2, {"mixlog": 4, "mixlog3": 5}.get(net.cfg.output, 3), 2 * a, 3 * a)


def test_fast_is_leaner_than_paper() -> None:
    assert count_parameters(UNet(PRESETS["fast"])) < count_parameters(UNet(PRESETS["paper"])) / 3


def test_checkpoint_rebuilds_model_from_file_alone(tmp_path: Path) -> None:
    cfg = ModelConfig(enc=8, dec=16, head=(12, 6), pools=3)
    net = UNet(cfg)
    best = {"step": 3, "value": 30.0, "key": "val_psnr", "stale": 0, "model": net.state_dict(), "blocks": None}
    path = save_checkpoint(tmp_path / "m.pt", {"model_config": cfg.to_dict(), "model": net.state_dict(),
                                               "best": best, "grad_clip": {"mean": 1.0, "seen": 5},
                                               "ema": {"model": net.state_dict(), "updates": 5}})
    ckpt = torch.load(path, weights_only=True)  # plain data only: safe to open
    rebuilt = model_from_checkpoint(ckpt)
    assert rebuilt.cfg == cfg
    x = torch.randn(1, 9, 16, 16)
    assert torch.equal(rebuilt(x), net.eval()(x))
    small = release_copy(path, tmp_path / "r.pt")
    assert load_checkpoint(small)["model"]["convs.enc_conv0.weight"].dtype == torch.float16
    assert not {"best", "grad_clip", "ema", "optimizer"} & set(load_checkpoint(small))  # training state stays behind
    torch.testing.assert_close(load_model(small)(x), net(x), atol=2e-2, rtol=2e-2)
    again = load_checkpoint(release_copy(load_checkpoint(path), tmp_path / "r2.pt"))  # an already-read checkpoint
    assert all(torch.equal(v, load_checkpoint(small)["model"][k]) for k, v in again["model"].items())
    with pytest.raises(McDenoiseError, match="model being read"):
        release_copy(load_checkpoint(path), path)


def test_mid_run_checkpoint_gives_the_weights_the_run_would_write(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Mid-run, `model` is the last step's raw weights (for --resume); denoising, --init and --release use the
    best validated weights, else the moving average, as the run itself writes at the end."""
    from mcdenoise.cli import main

    cfg = ModelConfig(enc=8, dec=16, head=(12, 6), pools=3)
    raw, average, best = ({k: 0.1 * torch.randn_like(v) for k, v in UNet(cfg).state_dict().items()} for _ in range(3))
    contents = {"model_config": cfg.to_dict(), "model": raw, "optimizer": {}, "step": 40,
                "ema": {"model": average, "updates": 40}}
    x = torch.randn(1, 9, 16, 16)

    def computes(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
        ref = UNet(cfg).eval()
        ref.load_state_dict(state)
        return torch.equal(net(x), ref(x)) and net(x).abs().max() > 0

    path = save_checkpoint(tmp_path / "avg.pt", contents)
    ckpt = load_checkpoint(path)
    assert computes(model_from_checkpoint(ckpt), average)  # was the raw weights
    assert computes(model_from_checkpoint(ckpt, resume=True), raw)
    released = release_copy(path, tmp_path / "avg_r.pt", half=False)
    assert computes(load_model(released), average)
    assert main(["model", str(released)]) == 0 and "moving average at step 40" in capsys.readouterr().out
    contents["best"] = {"step": 20, "value": 30.0, "key": "val_psnr", "stale": 1, "model": best, "blocks": None}
    path = save_checkpoint(tmp_path / "best.pt", contents)
    assert computes(model_from_checkpoint(load_checkpoint(path)), best)
    assert main(["model", str(path)]) == 0 and "best validation (step 20)" in capsys.readouterr().out


def test_release_never_replaces_its_source(tmp_path: Path) -> None:
    """`model run.pt --release run.pt` used to replace a resumable run with its inference-only copy."""
    from mcdenoise.cli import main

    cfg = ModelConfig(enc=8, dec=16, head=(12, 6), pools=3)
    net = UNet(cfg)
    path = save_checkpoint(tmp_path / "run.pt", {"model_config": cfg.to_dict(), "model": net.state_dict(),
                                                 "optimizer": {}, "step": 7})
    assert main(["model", str(path), "--release", str(path)]) == 2
    assert "optimizer" in load_checkpoint(path)  # still resumable
    with pytest.raises(McDenoiseError, match="being read"):
        release_copy(path, tmp_path / "." / "run.pt")


def test_release_can_pick_a_runs_moving_average_over_its_best(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A resumed run that never beat its old best wrote the old best; `--weights average` releases its new average."""
    from mcdenoise.cli import main

    cfg = ModelConfig(enc=8, dec=16, head=(12, 6), pools=3)
    last, avg, best = ({k: torch.randn_like(v) for k, v in UNet(cfg).state_dict().items()} for _ in range(3))
    run = save_checkpoint(tmp_path / "run.pt", {"model_config": cfg.to_dict(), "model": last, "optimizer": {},
                                                "step": 90, "metrics": {"val_psnr": 42.0},
                                                "ema": {"model": avg, "updates": 90}, "best": {"step": 50, "model": best}})
    for which, want, told in (("auto", best, "best validation (step 50)"), ("best", best, "best validation (step 50)"),
                              ("average", avg, "moving average at step 90"), ("last", last, "last step (90)")):
        out = tmp_path / f"{which}.pt"
        assert main(["model", str(run), "--weights", which, "--release", str(out)]) == 0
        assert told in capsys.readouterr().out
        written = load_checkpoint(out)
        for name in want:
            assert torch.equal(written["model"][name], want[name].half()), (which, name)
        assert ("metrics" in written) == (want is best)  # the run's metrics are its best's, not the others'
    plain = save_checkpoint(tmp_path / "plain.pt", {"model_config": cfg.to_dict(), "model": last})
    assert main(["model", str(plain), "--weights", "average", "--release", str(tmp_path / "p.pt")]) == 2
    err = capsys.readouterr().err
    assert "holds no moving average" in err and "Traceback" not in err and not (tmp_path / "p.pt").exists()
    assert main(["model", str(run), "--weights", "average"]) == 2  # nothing to write
    assert "--release OUT" in capsys.readouterr().err
    assert main(["model", str(run), "--weights", "last", "--average", str(plain), "--release", str(tmp_path / "q.pt")]) == 2
    assert "not go with --average" in capsys.readouterr().err and not (tmp_path / "q.pt").exists()


def test_average_weights_is_the_weighted_mean_of_one_networks_weights(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`model A --average B --release OUT`: OUT's weights are the (weighted) mean of A's and B's run weights."""
    from mcdenoise.cli import main

    cfg = ModelConfig(enc=8, dec=16, head=(12, 6), pools=3)
    a, raw_b, best_b = ({k: torch.randn_like(v) for k, v in UNet(cfg).state_dict().items()} for _ in range(3))
    pa = save_checkpoint(tmp_path / "a.pt", {"model_config": cfg.to_dict(), "model": a})
    pb = save_checkpoint(tmp_path / "b.pt", {"model_config": cfg.to_dict(), "model": raw_b, "optimizer": {}, "step": 9,
                                             "best": {"step": 5, "model": best_b}})  # B gives its best weights
    out = average_weights([pa, pb], tmp_path / "ab.pt", [3, 1], half=False)
    mean = load_checkpoint(out)["model"]
    for name in a:
        torch.testing.assert_close(mean[name], 0.75 * a[name] + 0.25 * best_b[name])
    assert main(["model", str(pa), "--average", str(pb), "--release", str(tmp_path / "ab16.pt")]) == 0
    printed = capsys.readouterr().out
    assert "the average of 2 models" in printed and "0.5 x" in printed and "best validation (step 5)" in printed
    assert load_checkpoint(tmp_path / "ab16.pt")["model"]["convs.enc_conv0.weight"].dtype == torch.float16
    load_model(tmp_path / "ab16.pt")  # an ordinary model file: denoise, export and --init take it
    older = {k: v for k, v in cfg.to_dict().items() if k != "wide_blur"}  # a file from before a key was added
    pd = save_checkpoint(tmp_path / "d.pt", {"model_config": older, "model": a})
    average_weights([pa, pd], tmp_path / "ad.pt")  # the same network: its config at the defaults

    other = UNet(ModelConfig(enc=8, dec=16, head=(12, 6), pools=2)).state_dict()
    pc = save_checkpoint(tmp_path / "c.pt", {"model_config": ModelConfig(enc=8, dec=16, head=(12, 6), pools=2).to_dict(),
                                             "model": other})
    with pytest.raises(ModelError, match="another network"):
        average_weights([pa, pc], tmp_path / "ac.pt")
    for bad in ([1.0], [1.0, -1.0], [0.0, 0.0], [1.0, float("nan")]):
        with pytest.raises(McDenoiseError, match="weight"):
            average_weights([pa, pb], tmp_path / "x.pt", bad)
    with pytest.raises(McDenoiseError, match="being read"):
        average_weights([pa, pb], pb)
    assert main(["model", str(pa), "--average", str(pb)]) == 2  # no --release: nothing to write to
    assert main(["model", str(pa), "--average-weights", "1", "2", "--release", str(tmp_path / "y.pt")]) == 2
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "y.pt").exists() and not (tmp_path / "ac.pt").exists()


def test_bad_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not an mcdenoise model file"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ModelError, match="not an mcdenoise model"):
        load_checkpoint(other)
    bad = save_checkpoint(tmp_path / "bad.pt", {"model_config": ModelConfig().to_dict(), "model": {}})
    with pytest.raises(ModelError, match="do not match"):
        model_from_checkpoint(load_checkpoint(bad))
    with pytest.raises(McDenoiseError, match="unknown fields"):
        ModelConfig.from_dict({"enc": 8, "wings": 2})


def test_shipped_model_loads() -> None:
    net = load_model(None)
    assert isinstance(net, UNet)
    assert net.cfg.in_channels == len(INPUT_CHANNELS)


# ---------------------------------------------------------------------------------------- pipeline

def test_network_input_ranges_and_round_trip() -> None:
    g = torch.Generator().manual_seed(0)
    c = torch.rand(2, 3, 8, 8, generator=g) * 50
    a = torch.rand(2, 3, 8, 8, generator=g) * 2  # albedo above 1 at emitters
    n = torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    exposure = color.autoexposure(c)
    x = network_input(c, a, n, exposure)
    assert x.shape == (2, 9, 8, 8)
    assert x.min() >= -0.5 and x.max() <= 0.5
    # Color round-trips through the transfer: inverse tonemap, undo exposure.
    back = color.n2n_inverse(x[:, :3] + 0.5) / exposure.view(-1, 1, 1, 1)
    torch.testing.assert_close(back, c, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close((x[:, 6:] + 0.5) * 2 - 1, n, rtol=0, atol=1e-6)
    torch.testing.assert_close(x[:, 3:6] + 0.5, a.clamp(0, 1))


def test_pad_to_alignment() -> None:
    x = torch.arange(5 * 7, dtype=torch.float32).view(1, 1, 5, 7)
    y = pad_to(x, 4)
    assert y.shape == (1, 1, 8, 8)
    assert torch.equal(y[..., :5, :7], x)
    assert torch.equal(y[..., 7, :7], x[..., 4, :])  # border replicated
    assert torch.equal(pad_to(y, 4), y)


def test_pipeline_keeps_size_clamps_and_undoes_exposure() -> None:
    torch.manual_seed(0)
    pipe = DenoisePipeline(UNet(PRESETS["tiny"])).eval()
    c, a, n = torch.rand(1, 3, 13, 21) * 4, torch.rand(1, 3, 13, 21), torch.rand(1, 3, 13, 21) * 2 - 1
    with torch.no_grad():
        out = pipe(c, a, n)
        assert out.shape == c.shape
        assert out.min() >= 0
        # Exposure normalisation: scaling the radiance scales the result (the net sees the same input).
        torch.testing.assert_close(pipe(c * 8, a, n), out * 8, rtol=1e-3, atol=1e-4)


# -------------------------------------------------------------------------------------------- loss

def test_hdr_loss_has_no_gradient_through_denominator() -> None:
    pred = torch.tensor([0.5, 2.0, -0.3], requires_grad=True)
    target = torch.tensor([1.0, 1.0, 1.0])
    hdr_loss(pred, target).backward()
    p = pred.detach()
    expected = 2 * (p - target) / (p.clamp(min=0) + HDR_EPS) ** 2 / 3  # denominator held constant
    torch.testing.assert_close(pred.grad, expected)


def test_hdr_loss_recovers_the_mean_of_noisy_targets() -> None:
    """The Noise2Noise property: minimising against noisy targets gives their mean."""
    rng = np.random.default_rng(0)
    targets = torch.from_numpy(rng.exponential(2.0, size=4000).astype(np.float32))  # mean 2, heavy noise
    f = torch.tensor(0.5, requires_grad=True)
    opt = torch.optim.Adam([f], lr=0.05)
    for _ in range(800):
        opt.zero_grad()
        hdr_loss(f.expand_as(targets), targets).backward()
        opt.step()
    assert abs(float(f) - float(targets.mean())) < 0.02


def test_windowed_hdr_loss_weights_a_speckle_as_its_surroundings_and_stays_unbiased() -> None:
    """--loss-window: a bright pixel in a dark area costs as much as in absolute terms around it, and a free
    per-pixel image trained against noisy targets still converges to their mean."""
    dark = torch.full((1, 3, 8, 8), 0.05)
    speckled = dark.clone()
    speckled[..., 4, 4] = 2.0
    assert float(hdr_loss(speckled, dark, window=3)) > 40 * float(hdr_loss(speckled, dark))
    assert float(hdr_loss(dark * 0.5, dark, window=3)) == pytest.approx(float(hdr_loss(dark * 0.5, dark)))  # smooth: same
    rng = np.random.default_rng(0)
    means = torch.from_numpy(rng.uniform(0.05, 3.0, size=(1, 1, 6, 6)).astype(np.float32))
    targets = torch.from_numpy(rng.exponential(1.0, size=(3000, 1, 6, 6)).astype(np.float32)) * means  # heavy noise
    f = torch.full((1, 1, 6, 6), 0.5, requires_grad=True)
    opt = torch.optim.Adam([f], lr=0.02)
    for _ in range(1500):
        opt.zero_grad()
        hdr_loss(f.expand_as(targets), targets, window=3).backward()
        opt.step()
    torch.testing.assert_close(f.detach(), targets.mean(0, keepdim=True), rtol=0.03, atol=0.01)


def test_multiscale_hdr_loss_counts_blotches_per_scale_and_stays_unbiased() -> None:
    """--loss-scales: an error constant over blocks (a blotch) counts once more per scale, pixel noise hardly
    more; a free per-pixel image trained against noisy targets still converges to their mean."""
    flat = torch.full((1, 3, 32, 32), 0.5)
    blotch = hdr_loss(flat * 1.2, flat)
    assert float(hdr_loss(flat * 1.2, flat, scales=(4, 16))) == pytest.approx(3 * float(blotch))
    speckle = flat * torch.from_numpy(np.random.default_rng(0).choice([0.8, 1.2], size=(1, 3, 32, 32))).float()
    assert float(hdr_loss(speckle, flat, scales=(4, 16))) < 1.4 * float(hdr_loss(speckle, flat))
    mask = torch.ones(1, 1, 32, 32)
    mask[..., :16, :16] = 0  # held-out tile: its error must not reach any term
    wrong = flat.clone()
    wrong[..., :16, :16] = 5.0
    assert float(hdr_loss(wrong, flat, mask=mask, scales=(4, 16))) == 0.0
    rng = np.random.default_rng(1)
    means = torch.from_numpy(rng.uniform(0.05, 3.0, size=(1, 1, 8, 8)).astype(np.float32))
    targets = torch.from_numpy(rng.exponential(1.0, size=(3000, 1, 8, 8)).astype(np.float32)) * means
    f = torch.full((1, 1, 8, 8), 0.5, requires_grad=True)
    opt = torch.optim.Adam([f], lr=0.02)
    for _ in range(1500):
        opt.zero_grad()
        hdr_loss(f.expand_as(targets), targets, scales=(2, 4)).backward()
        opt.step()
    torch.testing.assert_close(f.detach(), targets.mean(0, keepdim=True), rtol=0.03, atol=0.01)


def test_masked_base_leaves_lamps_out_of_its_blur() -> None:
    """mask_emitters: beside a lamp the blurred base is the wall's own (no halo); away from lamps it is the plain one."""
    from mcdenoise.pipeline import network_output

    wall = torch.full((1, 3, 24, 24), 0.3)
    wall[..., 8:12, 8:12] = 500.0  # a lamp seen directly
    raw = torch.zeros(1, 4, 24, 24)
    raw[:, 3] = 20.0  # share of the blurred base ~1: the base is the blur
    plain = network_output(raw, wall, PRESETS["tiny-mix"])
    masked = network_output(raw, wall, PRESETS["tiny-mix-em"])
    ring = (slice(None), slice(None), slice(6, 14), 13)  # two pixels right of the lamp
    assert float(plain[ring].max()) > 0.5  # the plain blur lights a halo (raised by up to MIX_RAISE_MAX)
    torch.testing.assert_close(masked[ring], torch.full_like(masked[ring], 0.3), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(masked[..., :, 20:], plain[..., :, 20:])  # far from the lamp: unchanged
    assert torch.isfinite(masked).all()  # (the lamp itself: the pipeline returns the input there, `keep_emitters`)
    with pytest.raises(McDenoiseError, match="mask_emitters"):
        dataclasses.replace(PRESETS["tiny"], mask_emitters=True).check()


def test_grow_switches_the_masked_base_on() -> None:
    """`fit --init default --size wide-mix-em`: v6's weights, unchanged, under the masked base."""
    net = UNet(PRESETS["tiny-mix"])
    em = grow(net, PRESETS["tiny-mix-em"])
    assert em.cfg.mask_emitters
    for name in net.convs:
        torch.testing.assert_close(em.convs[name].weight, net.convs[name].weight)


def test_untrained_transfer_model_is_the_identity() -> None:
    """A 'transfer' network starts as the identity on color: training only learns the denoising."""
    pipe = DenoisePipeline(UNet(PRESETS["fast"])).eval()
    c = torch.rand(1, 3, 20, 24) * 10
    with torch.no_grad():
        out = pipe(c, torch.rand(1, 3, 20, 24), torch.rand(1, 3, 20, 24))
    torch.testing.assert_close(out, c, rtol=1e-3, atol=1e-4)


def test_output_never_overshoots_the_brightest_input_nearby() -> None:
    """A log head that brightens everything 2.7x (as trained heads do at small emitters) is clipped to the
    brightest input pixel within 5 px, but only above exposed 1.0: dim pixels may still rise (issue 12)."""
    from mcdenoise.color import autoexposure
    from mcdenoise.pipeline import CAP_FLOOR

    net = UNet(PRESETS["tiny"]).eval()
    with torch.no_grad():
        net.convs["dec_conv1c"].weight.zero_()
        net.convs["dec_conv1c"].bias.fill_(1.0)  # log(1 + v) + 1: v -> e (1 + v) - 1
    c = torch.full((1, 3, 32, 32), 0.05)
    c[..., 8, 8] = 400.0  # a small emitter
    aux = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = DenoisePipeline(net)(c, *aux)
    scale = float(autoexposure(c)[0])
    torch.testing.assert_close(out[..., 8, 8], c[..., 8, 8])  # capped at the emitter's own value, not 2.7x
    far = out[..., 24, 24] * scale  # exposed; nothing bright within 5 px
    expected = min(float(np.e * (1 + 0.05 * scale) - 1), max(CAP_FLOOR, 0.05 * scale))
    torch.testing.assert_close(far, torch.full_like(far, expected), rtol=1e-4, atol=1e-5)
    assert float(far[0, 0]) > 0.05 * scale  # a dim pixel may still be brightened


def test_small_emitters_keep_their_input_and_fireflies_do_not() -> None:
    """A head that darkens everything 10x: a 2x3-pixel lamp (every channel white-hot) comes back as the
    input, so the energy match is not thrown off by it; a lone firefly as bright, and a red lamp
    (one channel dark), are left to the network (stop 17: a lamp room's walls were 26% too bright)."""
    from mcdenoise.color import autoexposure
    from mcdenoise.pipeline import EMITTER_LEVEL

    net = UNet(PRESETS["tiny"]).eval()
    with torch.no_grad():
        net.convs["dec_conv1c"].weight.zero_()
        net.convs["dec_conv1c"].bias.fill_(-2.3)  # log(1 + v) - 2.3: about 10x darker
    c = torch.full((1, 3, 32, 32), 0.05)
    c[..., 4:6, 4:7] = 4000.0  # the lamp
    c[..., 20, 20] = 4000.0  # a firefly
    c[:, 0, 26:28, 26:28] = 4000.0  # a red lamp
    aux = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert float(autoexposure(c)[0]) * 4000.0 > EMITTER_LEVEL
    with torch.no_grad():
        out = DenoisePipeline(net)(c, *aux)
    torch.testing.assert_close(out[..., 4:6, 4:7], c[..., 4:6, 4:7])
    assert float(out[0, 0, 20, 20]) < 1000 and float(out[0, 0, 26, 26]) < 1000
    assert float(out[0, 0, 3, 4]) < 0.05 and float(out[0, 0, 6, 7]) < 0.05  # the lamp's neighbours stay the network's


def test_a_lamp_lights_no_halo_around_it() -> None:
    """An untrained "logblur" head (a 5x5 box blur) smears a 2x3-pixel lamp over the walls around it, as
    trained heads do at small emitters (BENCHMARKS.md stop 20): beside the lamp the output is capped at the
    walls' own level (not the lamp's), the lamp keeps its input, and an antialiased edge pixel its own value."""
    from mcdenoise.color import autoexposure
    from mcdenoise.pipeline import CAP_FLOOR, EMITTER_LEVEL

    net = UNet(PRESETS["fast-logblur"]).eval()
    c = torch.full((1, 3, 32, 32), 0.05)
    c[..., 8:10, 8:11] = 4000.0  # the lamp
    c[..., 10, 9] = 1000.0  # a quarter of a pixel below it is lamp
    aux = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    scale = float(autoexposure(c)[0])
    assert scale * 1000.0 > EMITTER_LEVEL
    with torch.no_grad():
        out = DenoisePipeline(net)(c, *aux)
    torch.testing.assert_close(out[..., 8:10, 8:11], c[..., 8:10, 8:11])
    wall = CAP_FLOOR / scale * (1 + 1e-4)  # the cap's floor: no wall pixel near here is brighter
    for y, x in [(8, 6), (7, 9), (11, 11), (9, 12), (12, 9)]:  # 2 px left, above, diagonal, right, 2 px below
        assert float(out[..., y, x].max()) <= wall, (y, x)
    assert float(out[..., 10, 9].max()) <= 1000.0 * (1 + 1e-4)
    assert float(out[..., 10, 9].min()) > 100.0  # the edge keeps its light


def test_exp_and_logblur_heads_start_black_and_blurred() -> None:
    """Untrained: "exp" predicts 0, "logblur" the 5x5 box blur of the color (borders: of the pixels inside),
    "blurlog" that blur taken of log(1 + color)."""
    from mcdenoise.color import autoexposure

    c = torch.rand(1, 3, 32, 48) * 10  # aligned: no replicate padding on the bottom/right
    aux = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        black = DenoisePipeline(UNet(PRESETS["fast-exp"])).eval()(c, *aux)
        blurred = DenoisePipeline(UNet(PRESETS["fast-logblur"])).eval()(c, *aux)
    assert float(black.abs().max()) < 1e-6
    box = torch.nn.functional.avg_pool2d(c, 5, stride=1, padding=2, count_include_pad=False)
    torch.testing.assert_close(blurred, box, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(blurred[..., 0, 0], c[..., :3, :3].mean(dim=(-2, -1)), rtol=1e-3, atol=1e-4)
    with torch.no_grad():
        geometric = DenoisePipeline(UNet(PRESETS["fast-blurlog"])).eval()(c, *aux)
    e = float(autoexposure(c))  # the blur is of the exposed color's log
    box_log = torch.nn.functional.avg_pool2d(torch.log1p(c * e), 5, stride=1, padding=2, count_include_pad=False)
    torch.testing.assert_close(geometric, torch.expm1(box_log) / e, rtol=1e-3, atol=1e-4)


def test_linear_output_is_the_papers() -> None:
    x = torch.randn(1, 9, 4, 4)
    raw = torch.randn(1, 3, 4, 4)
    assert torch.equal(network_output(raw, x[:, :3], PRESETS["paper"]), raw)
    with pytest.raises(McDenoiseError, match="unknown model output"):
        UNet(ModelConfig(output="sqrt"))


def test_per_level_widths_round_trip_and_checks(tmp_path: Path) -> None:
    cfg = PRESETS["fast-wide"]
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg and isinstance(cfg.to_dict()["enc"], list)
    assert layer_table(cfg)[3] == ("enc_conv3", 24, 48)  # at 1/4: reads the 1/2 level's 24 channels
    assert ("dec_conv4a", 96 + 48, 96) in layer_table(cfg)  # upsampled bottleneck + the 1/8 skip
    # one width per level gives the same network as one number
    same = ModelConfig(enc=(24,) * 5, dec=(48,) * 3, head=(32, 16), pools=4, output="log")
    assert layer_table(same) == layer_table(PRESETS["fast"])
    for bad, match in [({"enc": (8, 8)}, "enc needs one width or 3"), ({"dec": (0,)}, "positive")]:
        with pytest.raises(McDenoiseError, match=match):
            ModelConfig(**{**PRESETS["tiny"].to_dict(), "head": (16, 8), **bad}).check()
    net = UNet(ModelConfig(enc=(8, 12, 16, 20), dec=(16, 24), head=(12, 6), pools=3))
    path = save_checkpoint(tmp_path / "m.pt", {"model_config": net.cfg.to_dict(), "model": net.state_dict()})
    x = torch.randn(1, 9, 16, 24)
    assert torch.equal(load_model(path)(x), net.eval()(x))


def test_grow_keeps_what_the_model_computes() -> None:
    torch.manual_seed(0)
    small = UNet(PRESETS["fast"])
    for p in small.parameters():  # a "trained" model: no zero weights anywhere
        torch.nn.init.normal_(p, std=0.05)
    wide = grow(small, PRESETS["fast-wide"])
    x = torch.rand(2, 9, 32, 48)
    assert count_parameters(wide) > 2 * count_parameters(small)
    torch.testing.assert_close(wide(x), small(x), atol=1e-5, rtol=1e-5)
    # the added channels get gradients once their readers do: the first step moves them
    wide(x).square().mean().backward()
    assert wide.convs["dec_conv4b"].weight.grad[:, 48:].abs().sum() > 0
    with pytest.raises(McDenoiseError, match="at least the old one"):
        grow(wide, PRESETS["fast"])
    with pytest.raises(McDenoiseError, match="same pools, inputs and output"):
        grow(small, PRESETS["lean-kpn"])


def test_a_log_model_grows_into_mixlog_and_learns_its_share() -> None:
    """`fit --init M --size wide-mix`: M's correction is kept, the share channel starts at 0 and trains;
    with a share of 0 it is exactly M."""
    torch.manual_seed(0)
    small = UNet(PRESETS["tiny"])
    for p in small.parameters():
        torch.nn.init.normal_(p, std=0.05)
    mix = grow(small, PRESETS["tiny-mix"])
    x = torch.rand(2, 9, 16, 20)
    raw = mix(x)
    assert raw.shape == (2, 4, 16, 20)
    torch.testing.assert_close(raw[:, :3], small(x), atol=1e-6, rtol=1e-6)
    assert torch.all(raw[:, 3] == 0)
    exposed = torch.rand(2, 3, 16, 20) * 4
    sharp = torch.cat([raw[:, :3], torch.full_like(raw[:, 3:], -100.0)], dim=1)  # a share of 0: the "log" head
    torch.testing.assert_close(network_output(sharp, exposed, mix.cfg), network_output(small(x), exposed, small.cfg))
    blurred = torch.cat([raw[:, :3], torch.full_like(raw[:, 3:], 100.0)], dim=1)  # a share of 1: "blurlog"'s
    blur_cfg = dataclasses.replace(mix.cfg, output="blurlog")  # ... where the blur lowers the pixel
    base = color.log_forward(exposed)
    lowered = (base - F.avg_pool2d(base, BASE_BLUR, 1, BASE_BLUR // 2, count_include_pad=False) > -MIX_RAISE_MAX)
    assert 0.3 < lowered.float().mean() < 1
    torch.testing.assert_close(network_output(blurred, exposed, mix.cfg)[lowered],
                               network_output(small(x), exposed, blur_cfg)[lowered])
    out = network_output(raw, exposed, mix.cfg)
    out.mean().backward()
    assert mix.convs["dec_conv1c"].weight.grad[3].abs().sum() > 0  # the share learns from the first step
    with pytest.raises(McDenoiseError, match="may become 'mixlog'"):
        grow(mix, PRESETS["tiny"])


def test_mixlog_blur_does_not_carry_an_emitter_into_its_dark_neighbours() -> None:
    """A 3x3 emitter (1000) on a dark floor (0.1): with the blurred base fully on, the emitter itself is
    spread (lowered), but its dark neighbours are raised by at most e^MIX_RAISE_MAX in 1 + v (else 2.3x)."""
    cfg = PRESETS["tiny-mix"]
    exposed = torch.full((1, 3, 11, 11), 0.1)
    exposed[..., 4:7, 4:7] = 1000.0
    raw = torch.zeros(1, 4, 11, 11)
    raw[:, 3] = 100.0  # share 1
    out = network_output(raw, exposed, cfg)[0, 0]
    assert out[5, 5] < 100  # the blur lowers the emitter freely
    ring = torch.ones(11, 11, dtype=torch.bool)
    ring[4:7, 4:7] = False
    assert (1 + out[ring]).max() <= 1.1 * math.exp(MIX_RAISE_MAX) + 1e-5


def test_mixlog3_wide_base_flattens_sparse_speckle_and_keeps_the_raise_bound() -> None:
    """"mixlog3" starts at a third of each base; with the wide share on, a floor of sparse bright samples
    is flattened far more than by the 5x5 base, and an emitter's dark neighbours still rise by at most
    e^MIX_RAISE_MAX in 1 + v."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(PRESETS["tiny-mix"], output="mixlog3")
    exposed = (torch.rand(1, 3, 40, 40) < 0.1).float().expand(1, 3, 40, 40) * 2.0  # 1 pixel in 10 lit
    zero = torch.zeros(1, 5, 40, 40)
    log = color.log_forward(exposed)
    thirds = log - (log - F.avg_pool2d(log, 5, 1, 2, count_include_pad=False)).clamp(min=-MIX_RAISE_MAX) / 3 \
        - (log - F.avg_pool2d(log, 13, 1, 6, count_include_pad=False)).clamp(min=-MIX_RAISE_MAX) / 3
    torch.testing.assert_close(network_output(zero, exposed, cfg), torch.exp(thirds) - 1)
    def only(channel: int) -> torch.Tensor:
        raw = torch.zeros(1, 5, 40, 40)
        if channel:
            raw[:, channel] = 100.0
        return network_output(raw, exposed, cfg)[..., 8:32, 8:32]  # away from the border
    assert only(4).std() < 0.5 * only(3).std() < only(0).std()
    emitter = torch.full((1, 3, 21, 21), 0.1)
    emitter[..., 9:12, 9:12] = 1000.0
    raw = torch.zeros(1, 5, 21, 21)
    raw[:, 4] = 100.0  # the wide base only
    out = network_output(raw, emitter, cfg)[0, 0]
    ring = torch.ones(21, 21, dtype=torch.bool)
    ring[9:12, 9:12] = False
    assert (1 + out[ring]).max() <= 1.1 * math.exp(MIX_RAISE_MAX) + 1e-5
    with pytest.raises(McDenoiseError, match="odd wide_blur"):
        dataclasses.replace(cfg, wide_blur=12).check()


def test_a_demodulating_model_denoises_color_over_albedo_and_multiplies_it_back() -> None:
    """`demodulate`: the network sees and corrects color / albedo; channels of (near-)black albedo are not divided."""
    torch.manual_seed(0)
    exposed = torch.rand(1, 3, 16, 16) * 5
    albedo = torch.rand(1, 3, 16, 16) * 0.9 + 0.1
    albedo[..., :4, :] = 0.0  # sky, metal, glass: no albedo to divide out
    albedo[:, 1:, 4:8, :] = DEMOD_MIN_ALBEDO / 2  # a saturated red surface: only red is divided
    normal = torch.rand(1, 3, 16, 16) * 2 - 1
    m = albedo.clone()
    m[..., :4, :] = 1.0
    m[:, 1:, 4:8, :] = 1.0
    plain, demod = PRESETS["tiny-mix"], dataclasses.replace(PRESETS["tiny-mix"], demodulate=True)
    x = network_input(exposed, albedo, normal, torch.ones(1), demodulate=True)
    torch.testing.assert_close(x[:, :3], color.n2n_forward(exposed / m) - 0.5)
    raw = torch.randn(1, 4, 16, 16) * 0.1
    torch.testing.assert_close(network_output(raw, exposed, demod, albedo), m * network_output(raw, exposed / m, plain))
    # a zero correction of the sharp base is still the identity, whatever the albedo
    pipe = DenoisePipeline(UNet(dataclasses.replace(PRESETS["fast"], demodulate=True))).eval()
    with torch.no_grad():
        torch.testing.assert_close(pipe(exposed, albedo, normal), exposed, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="needs albedo"):
        network_output(raw, exposed, demod)
    with pytest.raises(McDenoiseError, match="needs the albedo input"):
        ModelConfig(in_channels=3, demodulate=True).check()
    with pytest.raises(McDenoiseError, match="can only widen"):
        grow(UNet(plain), demod)


def test_average_pooling_passes_the_mean_of_sparse_samples_down() -> None:
    """`pool="avg"`: the encoder averages 2x2 blocks (a lone bright sample is a quarter of its block, not all
    of it); the config round-trips through a checkpoint dict, old dicts without the field load as "max", and an
    unknown pooling is refused."""
    avg = UNet(dataclasses.replace(PRESETS["tiny-mix"], pool="avg"))
    seen = {}
    avg.convs["enc_conv2"].register_forward_hook(lambda m, i, o: seen.setdefault("in", i[0]))
    x = torch.randn(1, 9, 16, 16)
    with torch.no_grad():
        avg(x)
        full = F.leaky_relu(avg.convs["enc_conv1"](F.leaky_relu(avg.convs["enc_conv0"](x), LEAKY_SLOPE)), LEAKY_SLOPE)
    torch.testing.assert_close(seen["in"], F.avg_pool2d(full, 2))
    assert ModelConfig.from_dict(avg.cfg.to_dict()) == avg.cfg
    old = PRESETS["tiny-mix"].to_dict()
    del old["pool"]
    assert ModelConfig.from_dict(old).pool == "max"
    with pytest.raises(McDenoiseError, match="unknown pooling"):
        dataclasses.replace(PRESETS["tiny-mix"], pool="median").check()


def test_input_pyramid_hands_coarse_levels_the_linear_mean() -> None:
    """`pyramid=True`: the conv after the first pool reads, after the features, the input averaged over 2x2 blocks,
    its color averaged in linear radiance (one lit pixel of four is a quarter of its light, tonemapped; not a
    quarter of its tonemapped value); the padded ONNX form computes the same; old configs load without it."""
    from mcdenoise.color import n2n_forward
    from mcdenoise.model import channel_aligned
    from mcdenoise.architecture import INPUT_OFFSET

    cfg = dataclasses.replace(PRESETS["tiny-mix"], pyramid=True)
    assert dict((n, c) for n, c, _ in layer_table(cfg))["enc_conv2"] == cfg.enc_width(0) + 9
    net = UNet(cfg).eval()
    seen = {}
    net.convs["enc_conv2"].register_forward_pre_hook(lambda m, i: seen.update(inp=i[0]))  # returns None: input kept
    x = torch.full((1, 9, 8, 8), -INPUT_OFFSET)  # black, albedo 0, normal -1
    x[:, :3, 0, 0] = float(n2n_forward(torch.tensor(3.0))) - INPUT_OFFSET  # one pixel of its 2x2 block lit: 3.0
    with torch.no_grad():
        net(x)
        pyramid = seen["inp"][:, cfg.enc_width(0):]  # (1, 9, 4, 4)
        torch.testing.assert_close(channel_aligned(net)(x), net(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pyramid[0, :3, 0, 0], (n2n_forward(torch.tensor(0.75)) - INPUT_OFFSET).expand(3))
    torch.testing.assert_close(pyramid[0, 3:, 0, 0], torch.full((6,), -INPUT_OFFSET))
    old = PRESETS["tiny-mix"].to_dict()
    assert ModelConfig.from_dict(old).pyramid is False and ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(McDenoiseError, match="pyramid must be true or false"):
        dataclasses.replace(cfg, pyramid="yes").check()
