"""Model files: one dict holding the model config, weights and (for training runs) optimizer state.

A file is rebuilt into a model from its own contents (`load_model`), loaded with `weights_only=True`
so opening a model file never runs code from it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from mcdenoise import __version__
from mcdenoise.atomic import atomic_write
from mcdenoise.errors import McDenoiseError, ModelError
from mcdenoise.model import ModelConfig, UNet
from mcdenoise.shipped import SHIPPED, WEIGHT_CHOICES, shipped_name, shipped_path

log = logging.getLogger(__name__)
FORMAT = "mcdenoise-model"
FORMAT_VERSION = 1


def pick_device(name: str) -> torch.device:
    """Resolve "auto" to CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise McDenoiseError(f"--device {name}: no CUDA device is available")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """True on CPUs that compute bf16 matmuls natively: AMX tiles (Sapphire Rapids and newer Xeons) or
    AVX-512 BF16 (Cooper Lake Xeons, AMD Zen 4 and newer)."""
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):  # private, so looked up defensively
        check = getattr(torch.cpu, name, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:
            pass
    return False


def resolve_model_path(path: str | os.PathLike | None) -> Path:
    """`path`, or the file of a shipped model for None/"default"/"lean"."""
    name = shipped_name(path)
    return shipped_path(name, ".pt") if name else Path(path)  # type: ignore[arg-type]


def save_checkpoint(path: str | os.PathLike, contents: dict[str, Any]) -> Path:
    """Atomically write a checkpoint dict (temp file + rename: an interrupt never leaves half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "mcdenoise_version": __version__, **contents}
    return atomic_write(target, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | os.PathLike | None, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a model file (None/"default": the shipped one); raise ModelError when it is not one."""
    file = resolve_model_path(path)
    if not file.is_file():
        if shipped_name(path):
            raise ModelError(f"the shipped model {file} is missing; reinstall mcdenoise or pass --model PATH")
        raise ModelError(f"{file}: no such model file (shipped models: {', '.join(SHIPPED)})")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols of non-model files
            warnings.simplefilter("ignore")
            ckpt = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a model file"
        # PyTorch's own text advises weights_only=False, which would run code from the file: never show it.
        log.debug("torch.load(%s) failed: %s", file, exc)
        raise ModelError(f"{file}: not an mcdenoise model file (not a PyTorch checkpoint of plain tensors, or "
                         "damaged); use a .pt written by `mcdenoise fit` or an .onnx from `mcdenoise export`") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelError(f"{file}: not an mcdenoise model file (no '{FORMAT}' marker)")
    if int(ckpt.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{file}: written by a newer mcdenoise ({ckpt.get('mcdenoise_version')}); upgrade to read it")
    ckpt["path"] = str(file)
    return ckpt


def run_weights(ckpt: dict[str, Any], which: str = "auto") -> tuple[dict[str, torch.Tensor], str]:
    """The weights a checkpoint gives for inference, release and fine-tuning, and which they are.

    A `fit` run writes its best validated weights at the end (else its moving average, else the last
    step's): that is "auto". Mid-run its `model` holds the last step's raw weights, which `--resume` continues from;
    denoising with those would not be the model the run's log reports, so the same choice is made here.
    "best", "average" and "last" ask for one kind: a resumed run that never beat its old best still
    ends with a moving average of all its new steps, which may be worth releasing or averaging.
    """
    if which not in WEIGHT_CHOICES:
        raise McDenoiseError(f"unknown weights {which!r}; choose one of {', '.join(WEIGHT_CHOICES)}")
    best = ckpt.get("best") or {}
    average = ckpt.get("ema") or {}
    if which in ("auto", "best") and best.get("model") is not None:
        return best["model"], f"best validation (step {best.get('step')})"
    if which in ("auto", "average") and average.get("model") is not None:
        return average["model"], f"moving average at step {ckpt.get('step')}"
    if which in ("auto", "last") and "optimizer" in ckpt:
        return ckpt["model"], f"last step ({ckpt.get('step')})"
    if which == "auto":
        return ckpt["model"], ckpt.get("weights_from", "as written")
    kind = {"best": "best validated weights", "average": "moving average", "last": "last step's weights"}[which]
    raise McDenoiseError(f"{ckpt.get('path', 'model')} holds no {kind} (only a `fit` checkpoint that is "
                         f"resumable has them); by default it gives: {run_weights(ckpt)[1]}")


def model_from_checkpoint(ckpt: dict[str, Any], *, resume: bool = False) -> UNet:
    """Build the U-Net described by a checkpoint and load its weights (float32, eval mode): those
    `run_weights` picks, or with `resume` the last step's (what training continues from)."""
    try:
        cfg = ModelConfig.from_dict(ckpt["model_config"])
        model = UNet(cfg)
        weights = ckpt["model"] if resume else run_weights(ckpt)[0]
        state = {k: v.float() for k, v in weights.items()}
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ModelError(f"{ckpt.get('path', 'model')}: weights do not match the stored config ({exc})") from exc
    return model.eval()


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """Short SHA-256 of a state dict's float32 values: names a model version across formats."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> UNet:
    """The model stored in `path` (None: the shipped model) on `device`, in eval mode."""
    return model_from_checkpoint(load_checkpoint(path)).to(device)


def _refuse_overwriting(sources: list[str | os.PathLike | None], dst: str | os.PathLike) -> None:
    """Raise McDenoiseError when `dst` is one of the model files being read (a release would replace its source)."""
    target = Path(dst).resolve()
    for src in sources:
        if resolve_model_path(src).resolve() == target:
            raise McDenoiseError(f"{dst} is the model being read; write the copy to another file")


def release_copy(src: str | os.PathLike | dict[str, Any], dst: str | os.PathLike, *, half: bool = True,
                 which: str = "auto") -> Path:
    """Write an inference-only copy of a training checkpoint (no optimizer state; float16 weights).

    `src`: a model file, or a checkpoint `load_checkpoint` has read already (not read again).
    `which` picks the weights (WEIGHT_CHOICES; "auto": those the run would write)."""
    _refuse_overwriting([src["path"] if isinstance(src, dict) else src], dst)
    ckpt = src if isinstance(src, dict) else load_checkpoint(src)
    # best and ema: more full copies of the weights (fit's selection and its moving average)
    training_state = ("optimizer", "best", "grad_clip", "ema")
    keep = {k: v for k, v in ckpt.items()
            if k not in (*training_state, "path", "format", "format_version", "mcdenoise_version")}
    weights, keep["weights_from"] = run_weights(ckpt, which)  # auto, mid-run: what the run would write
    if weights is not run_weights(ckpt)[0]:
        keep.pop("metrics", None)  # the run's metrics are its best's validation, not these weights'
    keep["model"] = {k: v.half() for k, v in weights.items()} if half else weights
    return save_checkpoint(dst, keep)


def load_one_network(sources: list[str | os.PathLike | None]
                     ) -> tuple[ModelConfig, list[dict[str, Any]], list[tuple[dict[str, torch.Tensor], str]]]:
    """Load model files that must be one network: its config, their checkpoints and their `run_weights`."""
    ckpts = [load_checkpoint(src) for src in sources]
    nets = [model_from_checkpoint(ckpt).cfg for ckpt in ckpts]  # a clear error now if a config and its weights disagree
    for ckpt, net in zip(ckpts[1:], nets[1:]):
        if net != nets[0]:  # configs, not their dicts: older files lack the keys added since (at their defaults)
            raise ModelError(f"{ckpt['path']} is another network than {ckpts[0]['path']}; only models of one "
                             "network (one --size) can be averaged")
    # one network, so one set of names (each loaded strictly above)
    return nets[0], ckpts, [run_weights(ckpt) for ckpt in ckpts]


def average_weights(sources: list[str | os.PathLike | None], dst: str | os.PathLike,
                    weights: list[float] | None = None, *, half: bool = True) -> Path:
    """Write an inference-only model whose weights are the (weighted) mean of several models' weights.

    Only models trained on from one common state (a run and its extension, sibling branches of a run, a
    shot's `fit` and the model it started from) lie in one basin of the loss: there the mean is a working model
    between them (stop 38 measured it tracing a smooth line, no better than the best part, but keeping what
    each did best where they differ); the mean of models trained from scratch separately computes nothing
    useful. Each source gives the weights `run_weights` picks (its best validated).
    """
    if len(sources) < 2:
        raise McDenoiseError("averaging needs two or more models")
    if weights is None:
        weights = [1.0] * len(sources)
    if len(weights) != len(sources):
        raise McDenoiseError(f"{len(weights)} averaging weight(s) for {len(sources)} models; give one per model")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise McDenoiseError(f"averaging weights must be >= 0 and not all 0, not {weights}")
    _refuse_overwriting(sources, dst)
    net, ckpts, picked = load_one_network(sources)
    states = [state for state, _ in picked]
    share = [w / sum(weights) for w in weights]
    mean = {name: sum(s * state[name].float() for s, state in zip(share, states)) for name in states[0]}
    keep = {k: v for k, v in ckpts[0].items() if k == "train_config"}
    keep["model_config"] = net.to_dict()
    keep["model"] = {k: v.half() if half else v for k, v in mean.items()}
    keep["averaged_from"] = [{"path": ckpt["path"], "share": s, "weights": which, "version": weights_digest(state)}
                             for ckpt, s, (state, which) in zip(ckpts, share, picked)]
    keep["weights_from"] = f"the average of {len(ckpts)} models"
    return save_checkpoint(dst, keep)
