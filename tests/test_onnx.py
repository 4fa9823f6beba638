"""ONNX export: a self-contained graph, parity with the PyTorch pipeline, metadata, the README's
plain-onnxruntime snippet, the shipped .onnx in sync with the shipped .pt, and bad input."""

from __future__ import annotations

import json
import os
from dataclasses import replace
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import clean_image, raw_inputs, write_render
from mcdenoise import color as color_mod
from mcdenoise import onnx_contract
from mcdenoise.backends import OnnxBackend, open_backend
from mcdenoise.shipped import SHIPPED, shipped_path
from mcdenoise.checkpoint import load_checkpoint, load_model, weights_digest
from mcdenoise.cli import main
from mcdenoise.errors import McDenoiseError
from mcdenoise.export import export_bytes, export_onnx
from mcdenoise.pipeline import DenoisePipeline

README = Path(__file__).resolve().parents[1] / "README.md"


def _session(data: bytes) -> ort.InferenceSession:
    """A CPU session for an exported model."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def shipped_onnx() -> bytes:
    """The shipped model exported now (not the committed file: that one has its own sync test)."""
    return export_bytes(None)


def test_graph_is_valid_and_documents_itself(shipped_onnx: bytes) -> None:
    proto = onnx.load_from_string(shipped_onnx)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    sess = _session(shipped_onnx)
    assert [i.name for i in sess.get_inputs()] == list(onnx_contract.INPUTS)  # exposure is optional
    assert [o.name for o in sess.get_outputs()] == [onnx_contract.OUTPUT]
    for i in sess.get_inputs():
        assert i.type == "tensor(float)" and i.shape[1] == 3
        assert isinstance(i.shape[2], str) and isinstance(i.shape[3], str)  # dynamic height and width
    meta = sess.get_modelmeta().custom_metadata_map
    for key in ("mcdenoise.version", "model.name", "model.version", "model.config", "training.config",
                "alignment", "inputs", "precision"):
        assert meta[key], key
    assert json.loads(meta["model.config"])["pools"] == 4 and meta["alignment"] == "16"
    assert meta["model.version"] == weights_digest(load_checkpoint(None)["model"])


# (height, width, HDR peak): odd sizes, a frame smaller than the alignment, values up to 1e4
CASES = [(37, 53, 1.0), (1081, 67, 50.0), (7, 5, 1.0), (64, 48, 1e4)]


@pytest.mark.parametrize(("h", "w", "peak"), CASES)
def test_onnx_matches_pytorch(shipped_onnx: bytes, h: int, w: int, peak: float) -> None:
    color, albedo, normal = raw_inputs(h, w, seed=h * w, peak=peak)
    color[..., : h // 4, : w // 4] = 0.0  # a black corner
    out = _session(shipped_onnx).run(None, {"color": color, "albedo": albedo, "normal": normal})[0]
    with torch.no_grad():
        ref = DenoisePipeline(load_model()).eval()(*map(torch.from_numpy, (color, albedo, normal))).numpy()
    assert out.shape == (1, 3, h, w) and np.all(np.isfinite(out)) and out.min() >= 0
    # Stated tolerance: relative error <= 1e-3, all pixels; below 1e-2 in the frame's exposed units (the
    # pipeline's working scale, where the frame's log-average is 0.18) absolute instead: float32 rounding
    # of a pixel 1e-6 of the frame's brightest differs between the two runtimes.
    floor = 1e-2 / color_mod.autoexposure(color[0].transpose(1, 2, 0))
    assert np.max(np.abs(out - ref) / (np.abs(ref) + floor)) < 1e-3


def test_shipped_graph_runs_in_one_blocked_layout(shipped_onnx: bytes, tmp_path: Path) -> None:
    """ONNX Runtime converts layouts once on the way in and once out: the 9-channel input's skip no longer makes it
    reorder the largest tensors between its blocked (NCHWc) and plain layouts in the middle of the network."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(shipped_onnx, sess_options=opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    assert ops.count("ReorderInput") <= 1 and ops.count("ReorderOutput") <= 1, ops


def test_channel_aligned_network_computes_the_same() -> None:
    from mcdenoise.model import PRESETS, UNet, channel_aligned

    torch.manual_seed(0)
    for preset, channels in (("tiny", 9), ("tiny", 3), ("tiny-kpn", 9)):
        net = UNet(replace(PRESETS[preset], in_channels=channels)).eval()
        for conv in net.convs.values():  # every weight nonzero, so a misplaced zero column would show
            torch.nn.init.normal_(conv.weight, std=0.1)
        aligned = channel_aligned(net)
        x = torch.randn(1, channels, 12, 20)
        with torch.no_grad():
            for a, b in zip(*(o if isinstance(o, tuple) else (o,) for o in (net(x), aligned(x)))):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        assert aligned.cfg == net.cfg and aligned.net.convs["enc_conv0"].in_channels == 16
        assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in UNet(net.cfg).parameters())


def test_zeros_and_nan_inputs_give_finite_output(shipped_onnx: bytes) -> None:
    sess = _session(shipped_onnx)
    zeros = np.zeros((1, 3, 20, 30), np.float32)
    out = sess.run(None, {"color": zeros, "albedo": zeros, "normal": zeros})[0]
    assert np.all(np.isfinite(out)) and np.abs(out).max() < 1e-2  # black stays (nearly) black
    color, albedo, normal = raw_inputs(20, 30, 1)
    color[0, 0, 3, 4], color[0, 1, 5, 6], normal[0, 2, 7, 8] = np.nan, np.inf, np.nan
    out = sess.run(None, {"color": color, "albedo": albedo, "normal": normal})[0]
    assert np.all(np.isfinite(out))


def test_exposure_override_matches_pytorch_with_the_same_exposure(shipped_onnx: bytes) -> None:
    color, albedo, normal = raw_inputs(40, 40, 3, peak=5.0)
    feeds = {"color": color, "albedo": albedo, "normal": normal, "exposure": np.array([0.37], np.float32)}
    out = _session(shipped_onnx).run(None, feeds)[0]
    with torch.no_grad():
        ref = DenoisePipeline(load_model()).eval()(*map(torch.from_numpy, (color, albedo, normal)),
                                                     torch.tensor([0.37])).numpy()
    assert np.max(np.abs(out - ref) / (np.abs(ref) + 1e-2)) < 1e-3
    auto = _session(shipped_onnx).run(None, {k: v for k, v in feeds.items() if k != "exposure"})[0]
    assert not np.allclose(auto, out)  # the override is really used


def test_half_variant_runs_close_to_float(shipped_onnx: bytes) -> None:
    half = export_bytes(None, half=True)
    assert onnx.load_from_string(half).metadata_props and len(half) < 0.6 * len(shipped_onnx)
    color, albedo, normal = raw_inputs(33, 47, 5, peak=4.0)
    feeds = {"color": color, "albedo": albedo, "normal": normal}
    full, low = (_session(d).run(None, feeds)[0] for d in (shipped_onnx, half))
    tonemap = lambda v: (v / (1 + v)) ** (1 / 2.2)  # noqa: E731
    assert np.abs(tonemap(full) - tonemap(low)).max() < 2e-2  # float16 math inside, float32 I/O


def test_wrong_input_names_or_shapes_get_onnxruntime_errors(shipped_onnx: bytes) -> None:
    sess = _session(shipped_onnx)
    color, albedo, normal = raw_inputs(16, 16, 0)
    with pytest.raises(Exception, match="(?i)input|missing|invalid"):
        sess.run(None, {"rgb": color, "albedo": albedo, "normal": normal})
    with pytest.raises(Exception, match="(?i)dimension|shape|invalid"):
        sess.run(None, {"color": color[:, :2], "albedo": albedo, "normal": normal})


@pytest.mark.parametrize("name", list(SHIPPED))
def test_committed_onnx_is_the_shipped_model_exported(name: str) -> None:
    """mcdenoise/weights/<model>.onnx must be re-exported whenever <model>.pt changes."""
    backend = OnnxBackend(shipped_path(name, ".onnx"), device="cpu")
    assert backend.model_version == weights_digest(load_checkpoint(name)["model"]), (
        f"re-export: mcdenoise export {name} -o {shipped_path(name, '.onnx')}")
    assert backend.model_name == SHIPPED[name]


def test_readme_snippet_runs_with_plain_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's ten lines of plain onnxruntime, run as written on a Mitsuba-style EXR."""
    text = README.read_text()
    snippet = re.search(r"<!-- onnx-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert snippet, "README lost its onnx snippet marker"
    code = snippet.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    shutil.copy(shipped_path("default", ".onnx"), tmp_path / "n2n.onnx")
    color, albedo, normal = clean_image(24, 40, 2)
    write_render(tmp_path / "shot.exr", color * 3, albedo, normal)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the documented snippet itself
    from mcdenoise.exr import read_frame

    out = read_frame(tmp_path / "shot_dn.exr").color
    assert out.shape == (24, 40, 3) and np.all(np.isfinite(out))
    # Pixel values, not only shape: the same as `mcdenoise denoise` with the same ONNX model on ONNX Runtime
    # (auto may pick OpenVINO in bfloat16 on this CPU).
    assert main(["denoise", "shot.exr", "-o", "cli.exr", "--model", "n2n.onnx", "--backend", "onnx"]) == 0
    cli = read_frame(tmp_path / "cli.exr").color
    assert np.max(np.abs(out - cli) / (np.abs(cli) + 1e-2)) < 2e-3  # both HALF on disk


def test_export_cli_and_bad_checkpoints(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(tiny_model), "-o", str(out)]) == 0
    assert OnnxBackend(out, device="cpu").config.pools == 2
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04not a checkpoint")
    assert main(["export", str(corrupt), "-o", str(tmp_path / "c.onnx")]) == 2
    err = capsys.readouterr().err
    assert "not an mcdenoise model file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.onnx").exists()
    assert main(["export", str(tiny_model), "-o", str(tiny_model)]) == 2  # never over its own checkpoint
    assert main(["export", str(tiny_model), "-o", str(tmp_path / "no" / "such" / "dir.onnx")]) == 2


def test_an_averaged_model_exports_and_names_its_parts(tmp_path: Path, tiny_model: Path) -> None:
    """`model --average` output is an ordinary model file; its ONNX metadata says which models, in which shares."""
    import json

    assert main(["model", str(tiny_model), "--average", str(tiny_model), "--average-weights", "3", "1",
                 "--release", str(tmp_path / "avg.pt")]) == 0
    assert main(["export", str(tmp_path / "avg.pt"), "-o", str(tmp_path / "avg.onnx")]) == 0
    parts = json.loads(OnnxBackend(tmp_path / "avg.onnx", device="cpu").metadata["model.averaged_from"])
    assert [p["share"] for p in parts] == [0.75, 0.25] and parts[0]["path"] == str(tiny_model)
    assert "model.steps" not in OnnxBackend(tmp_path / "avg.onnx", device="cpu").metadata  # no steps of its own


def test_onnx_backend_rejects_non_models(tmp_path: Path) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(os.urandom(100))
    with pytest.raises(McDenoiseError, match="not a loadable ONNX model"):
        OnnxBackend(bad, device="cpu")
    with pytest.raises(McDenoiseError, match="no such ONNX model"):
        OnnxBackend(tmp_path / "none.onnx", device="cpu")
    with pytest.raises(McDenoiseError, match="needs an .onnx file"):
        open_backend(tmp_path / "m.pt", backend="onnx")
    with pytest.raises(McDenoiseError, match="needs a PyTorch checkpoint"):
        open_backend(bad, backend="torch")


def test_export_writes_atomically_and_refuses_unwritable(tmp_path: Path, tiny_model: Path) -> None:
    out = export_onnx(tiny_model, tmp_path / "a.onnx")
    assert out.stat().st_size > 1000 and not list(tmp_path.glob(".a.onnx.*"))


def test_color_only_model_exports_a_color_only_graph(tmp_path: Path) -> None:
    from mcdenoise.checkpoint import save_checkpoint
    from mcdenoise.infer import Denoiser
    from mcdenoise.model import PRESETS, ModelConfig, UNet

    torch.manual_seed(1)
    cfg = ModelConfig(**{**PRESETS["tiny"].to_dict(), "in_channels": 3, "head": (16, 8)})
    net = UNet(cfg)
    torch.nn.init.normal_(net.convs["dec_conv1c"].weight, std=0.05)
    pt = save_checkpoint(tmp_path / "c.pt", {"model_config": cfg.to_dict(), "model": net.state_dict()})
    data = export_bytes(pt)
    sess = _session(data)
    assert [i.name for i in sess.get_inputs()] == ["color"]
    assert "color-only" in sess.get_modelmeta().custom_metadata_map["inputs"]
    color, _, _ = raw_inputs(29, 35, 2, peak=3.0)
    out = sess.run(None, {"color": color})[0]
    with torch.no_grad():
        ref = DenoisePipeline(net.eval())(torch.from_numpy(color)).numpy()
    assert np.max(np.abs(out - ref) / (np.abs(ref) + 1e-2)) < 1e-3
    onnx_file = tmp_path / "c.onnx"
    onnx_file.write_bytes(data)
    rgb = color[0].transpose(1, 2, 0)
    a, b = (Denoiser(m, device="cpu", precision="fp32").denoise_arrays(rgb, None, None) for m in (pt, onnx_file))
    assert np.max(np.abs(a - b) / (np.abs(a) + 1e-2)) < 1e-3


@pytest.mark.parametrize("preset", ["tiny-exp", "tiny-logblur", "tiny-blurlog", "tiny-mixlog", "tiny-mixlog3", "tiny-mixlog-demod",
                                    "tiny-mixlog-avg", "tiny-mixlog-pyr", "tiny-mixlog-em", "tiny-blurlog-em"])
def test_exp_and_logblur_heads_export_with_dynamic_size(tmp_path: Path, preset: str) -> None:
    """The ablation heads (and albedo demodulation, average pooling, the input pyramid) run in ONNX Runtime at any size, as PyTorch
    computes them."""
    from dataclasses import replace

    from mcdenoise.checkpoint import save_checkpoint
    from mcdenoise.model import PRESETS, UNet

    torch.manual_seed(3)
    net = UNet(replace(PRESETS["tiny"], output=preset.split("-")[1], demodulate=preset.endswith("-demod"),
                       pool="avg" if preset.endswith("-avg") else "max", pyramid=preset.endswith("-pyr"),
                       mask_emitters=preset.endswith("-em")))
    torch.nn.init.normal_(net.convs["dec_conv1c"].weight, std=0.1)
    pt = save_checkpoint(tmp_path / "m.pt", {"model_config": net.cfg.to_dict(), "model": net.state_dict()})
    sess = _session(export_bytes(pt))
    for h, w, peak in [(37, 53, 1e3), (7, 5, 1.0)]:
        color, albedo, normal = raw_inputs(h, w, seed=h + w, peak=peak)
        color[..., 3:7, 2:6] = 1e4  # a lamp (white-hot 2x2 blocks): the masked bases leave it out
        out = sess.run(None, {"color": color, "albedo": albedo, "normal": normal})[0]
        with torch.no_grad():
            ref = DenoisePipeline(net.eval())(*map(torch.from_numpy, (color, albedo, normal))).numpy()
        assert out.shape == (1, 3, h, w) and np.all(np.isfinite(out))
        assert np.max(np.abs(out - ref) / (np.abs(ref) + 1.0)) < 1e-3  # exp - 1: float32 rounding near 0


def test_per_level_widths_export_and_rebuild_from_the_onnx_file(tmp_path: Path) -> None:
    """A network with one width per level (like `fast-wide`) exports; the file's metadata rebuilds its config."""
    from mcdenoise.checkpoint import save_checkpoint
    from mcdenoise.infer import Denoiser
    from mcdenoise.model import ModelConfig, UNet

    torch.manual_seed(5)
    net = UNet(ModelConfig(enc=(8, 12, 16), dec=(24,), head=(16, 8), pools=2, output="log"))
    torch.nn.init.normal_(net.convs["dec_conv1c"].weight, std=0.1)
    pt = save_checkpoint(tmp_path / "m.pt", {"model_config": net.cfg.to_dict(), "model": net.state_dict()})
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(export_bytes(pt))
    color, albedo, normal = raw_inputs(21, 30, seed=1, peak=10.0)
    rgb, alb, nrm = (a[0].transpose(1, 2, 0) for a in (color, albedo, normal))
    a, b = (Denoiser(m, device="cpu", precision="fp32").denoise_arrays(rgb, alb, nrm) for m in (pt, onnx_file))
    assert np.max(np.abs(a - b) / (np.abs(a) + 1e-2)) < 1e-3


@pytest.mark.parametrize("half", [False, True])
def test_kernel_predicting_model_exports_with_dynamic_size(tmp_path: Path, half: bool) -> None:
    """A "kpn" model (kernels at 1 and 1/2 resolution) runs in ONNX Runtime at any size, tiled or not."""
    from mcdenoise.checkpoint import save_checkpoint
    from mcdenoise.infer import Denoiser
    from mcdenoise.model import PRESETS, UNet

    torch.manual_seed(2)
    net = UNet(PRESETS["tiny-kpn"])
    for name in ("dec_conv1c", "kpn_head1"):  # random kernels and blend weights, not the untrained blur
        torch.nn.init.normal_(net.convs[name].weight, std=0.2)
    pt = save_checkpoint(tmp_path / "k.pt", {"model_config": net.cfg.to_dict(), "model": net.state_dict()})
    sess = _session(export_bytes(pt, half=half))
    for h, w, peak in [(37, 53, 1e3), (7, 5, 1.0), (96, 80, 20.0)]:
        color, albedo, normal = raw_inputs(h, w, seed=h + w, peak=peak)
        color[..., 3:7, 2:6] = 1e4  # a lamp (white-hot 2x2 blocks): the masked bases leave it out
        out = sess.run(None, {"color": color, "albedo": albedo, "normal": normal})[0]
        with torch.no_grad():
            ref = DenoisePipeline(net.eval())(*map(torch.from_numpy, (color, albedo, normal))).numpy()
        assert out.shape == (1, 3, h, w) and np.all(np.isfinite(out))
        tol = 3e-2 if half else 1e-3  # fp16 kernels: weights to ~3 significant digits
        assert np.max(np.abs(out - ref) / (np.abs(ref) + 1e-2)) < tol
    # Tiled == untiled through the one inference path (tiles share the pooling grid and exposure).
    onnx_file = tmp_path / "k.onnx"
    onnx_file.write_bytes(export_bytes(pt))
    color, albedo, normal = raw_inputs(150, 190, seed=5, peak=30.0)
    rgb, alb, nrm = (a[0].transpose(1, 2, 0) for a in (color, albedo, normal))
    whole = Denoiser(onnx_file, device="cpu").denoise_arrays(rgb, alb, nrm)
    tiled = Denoiser(onnx_file, device="cpu", max_memory_mb=3).denoise_arrays(rgb, alb, nrm)
    assert np.max(np.abs(whole - tiled) / (np.abs(whole) + 1e-2)) < 1e-4
