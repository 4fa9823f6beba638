"""Trace the whole denoising pipeline (exposure, transfer, pad, U-Net, crop, clamp) into one ONNX graph.

The graph's contract is in `mcdenoise.onnx_contract`: raw linear `color`, `albedo`, `normal` in,
linear `output` out, any height and width. Its optional `exposure` input is an initializer that
callers may override (ONNX Runtime's "overridable initializer"); mcdenoise's tiler feeds the full
frame's exposure to every tile through it, farms can ignore it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from mcdenoise import __version__, color, onnx_contract
from mcdenoise.checkpoint import load_checkpoint, model_from_checkpoint, run_weights, weights_digest
from mcdenoise.errors import ModelError
from mcdenoise.atomic import atomic_write_bytes, check_output
from mcdenoise.architecture import receptive_field
from mcdenoise.model import channel_aligned
from mcdenoise.pipeline import DenoisePipeline

OPSET = 18  # ONNX Runtime >= 1.14 runs it; opset 18 has Pad with dynamic pads and ReduceMean axes inputs
log = logging.getLogger(__name__)


class _HalfNet(nn.Module):
    """Runs a U-Net in float16 between float32 tensors (the float16-weights variant for GPUs)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.half()
        self.cfg = net.cfg
        self.alignment = net.alignment

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """float32 (N, C, H, W) in and out (one tensor per scale for "kpn"); float16 inside."""
        out = self.net(x.half())
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


class _FarmGraph(nn.Module):
    """The exported module: `DenoisePipeline` plus "exposure <= 0 means compute it from color"."""

    def __init__(self, pipeline: DenoisePipeline) -> None:
        super().__init__()
        self.pipeline = pipeline

    def forward(self, color_: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        """color, [albedo, normal,] exposure: (N, 3, H, W) each and (1,) -> (N, 3, H, W) denoised linear color."""
        *aux, exposure = rest
        exposure = torch.where(exposure > 0, exposure, color.autoexposure(color_))  # (N,)
        return self.pipeline(color_, *aux, exposure=exposure) if aux else self.pipeline(color_, exposure=exposure)


def export_bytes(model: str | os.PathLike | None = None, *, half: bool = False, opset: int = OPSET) -> bytes:
    """The serialized ONNX model of a checkpoint (None: the shipped model)."""
    ckpt = load_checkpoint(model)
    net = model_from_checkpoint(ckpt)
    cfg = net.cfg
    net = channel_aligned(net)  # the same function, in ONNX Runtime's blocked layout throughout
    graph = _FarmGraph(DenoisePipeline(_HalfNet(net) if half else net)).eval()
    size = cfg.alignment * 2 + 3  # an unaligned example, so the traced graph pads and crops
    inputs = onnx_contract.input_names(cfg.aux)
    example = tuple(torch.rand(1, 3, size, size) for _ in inputs) + (torch.ones(1),)
    names = list(inputs) + [onnx_contract.EXPOSURE]
    dynamic = {name: {0: "batch", 2: "height", 3: "width"} for name in (*inputs, onnx_contract.OUTPUT)}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic: the graph is tested for dynamic sizes
        torch.onnx.export(graph, example, buffer, input_names=names, output_names=[onnx_contract.OUTPUT],
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False, do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())

    # `exposure` becomes an initializer with a default of 0 (= automatic) that stays a graph input:
    # callers may feed it, but need not.
    proto.graph.initializer.append(numpy_helper.from_array(np.zeros(1, np.float32), onnx_contract.EXPOSURE))

    train = ckpt.get("train_config", {})
    meta = {
        "mcdenoise.version": __version__,
        "model.name": Path(ckpt["path"]).stem,
        "model.version": weights_digest(run_weights(ckpt)[0]),
        "model.config": json.dumps(cfg.to_dict()),
        "training.config": json.dumps(train, default=str),
        "precision": "float16" if half else "float32",
        "alignment": str(cfg.alignment),
        "receptive_field": str(receptive_field(cfg)),
        "inputs": onnx_contract.DESCRIPTION if cfg.aux else onnx_contract.COLOR_ONLY_DESCRIPTION,
    }
    if "step" in ckpt:  # a trained run's; a mean of several models (`model --average`) has none of its own
        meta["model.steps"] = str(ckpt["step"])
    if ckpt.get("averaged_from"):  # `mcdenoise model --average`: which models, in which shares
        meta["model.averaged_from"] = json.dumps([{k: part[k] for k in ("path", "share", "version")}
                                                  for part in ckpt["averaged_from"]])
    onnx.helper.set_model_props(proto, meta)
    proto.producer_name, proto.producer_version = "mcdenoise", __version__
    proto.doc_string = meta["inputs"]
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def export_onnx(model: str | os.PathLike | None, output: str | os.PathLike, *, half: bool = False,
                opset: int = OPSET) -> Path:
    """Write the ONNX model of a checkpoint to `output` (atomically); never overwrites the checkpoint."""
    src = load_checkpoint(model)["path"]
    if Path(output).resolve() == Path(src).resolve():
        raise ModelError(f"-o {output} is the checkpoint being exported; write to another file")
    check_output(output)  # before the (slow) export, not after
    data = export_bytes(model, half=half, opset=opset)
    written = atomic_write_bytes(output, data)
    log.info("exported %s (%d KB, %s)", output, len(data) // 1024, "float16" if half else "float32")
    return written
