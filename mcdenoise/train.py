"""Noise2Noise training (`mcdenoise fit`): one loop, read top to bottom.

Runs as one process, or under `torchrun` with DistributedDataParallel (NCCL on GPUs, gloo on CPU).
Every step's batch is drawn from a generator seeded by (seed, rank, step), so a resumed run sees
exactly the batches an uninterrupted one would, with no RNG state to carry around.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mcdenoise.architecture import PRECISIONS
from mcdenoise.atomic import atomic_write_bytes
from mcdenoise.checkpoint import cpu_has_native_bf16, load_checkpoint, model_from_checkpoint, pick_device, save_checkpoint
from mcdenoise.data import (TEACHER_TARGETS, FrameCache, PairSampler, Prefetcher, TeacherTargets, View, check_views,
                            collect_views, holdout_tiles, split_renders, split_views)
from mcdenoise.errors import DataError, McDenoiseError
from mcdenoise.loss import block_means, hdr_loss, masked_block_means, validation_loss
from mcdenoise.metrics import luminance_ratio, psnr_tonemapped, relmse
from mcdenoise.model import PRESETS, UNet, count_parameters, grow
from mcdenoise.pipeline import DenoisePipeline, network_input, network_output

log = logging.getLogger(__name__)

WARMUP_STEPS = 50  # linear lr warm-up: keeps Adam's first steps from wrecking a pretrained model
VAL_FRAMES = 8  # at most this many validation views are denoised at each validation
# What `val_loss` measures (`loss.validation_loss` on a shot's held-out tiles, against the mean of the other
# renders): a best measured otherwise ("" before stop 21, "tonemap-slope" on the bottom rows in stop 21,
# "tonemap-slope-tiles" against one other render in stops 22-24) is measured again when a run resumes.
VAL_CRITERION = "tonemap-slope-tiles-mean"
# Batch and crop by device type: the paper's 4 x 64^2 on CPUs; on a GPU that size is launch-bound (an H100
# trained 1.5 M px/s with it and 18 M px/s with 32 x 128^2; BENCHMARKS.md stop 21).
AUTO_BATCH = {"cpu": 4, "cuda": 32}
AUTO_CROP = {"cpu": 64, "cuda": 128}
# Fine-tuning validates and keeps a moving average of the weights by default: over 9 quality-set scenes'
# 10-minute fits it kept +0.11 dB box / +0.17 dB gaussian over the raw weights, and up to +0.8 dB where
# the raw weights swing most between validations (BENCHMARKS.md, stop 26).
FIT_EMA = 0.998


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in every checkpoint."""

    scenes: list[str] = field(default_factory=list)  # scene directories to train on
    output: str = "model.pt"  # checkpoint path (also the final model)
    init: str = "default"  # "default" (fine-tune the shipped model), "scratch", or a model file
    size: str | None = None  # model preset (model.PRESETS): from scratch (None: fast), or to widen the --init model into
    aux: bool = True  # with --init scratch: False trains a color-only model (no albedo/normal input)
    steps: int = 0  # optimizer steps; 0 = until `minutes` runs out
    minutes: float = 0.0  # wall-clock budget; 0 = until `steps` are done
    batch: int = 0  # crops per step (per process under torchrun); 0 = AUTO_BATCH for the device
    crop: int = 0  # crop side in pixels (reduced to the smallest view if needed); 0 = AUTO_CROP for the device
    lr: float = 0.0  # Adam learning rate; 0 = 3e-4 from scratch (paper), 1e-4 when fine-tuning
    rampdown: float = 0.3  # final fraction of the run over which the lr ramps smoothly to 0
    seed: int = 0  # model init and batch sampling
    target: str = "mean"  # "mean" or "noisy" (Noise2Noise), "teacher", "ensemble" (`data.TARGETS`) or "clean" (experiments)
    teacher: str = "default"  # targets "teacher" and "ensemble": the model that makes them
    teacher_passes: int = 8  # target "ensemble": oriented passes the teacher averages
    val_views: int = -1  # views held out for validation; -1 = 1 when there are several, else 0
    val_scenes: list[str] = field(default_factory=list)  # extra scene directories for validation only
    val_every: int = 250  # steps between validations
    patience: int = -1  # stop after this many validations without a new best; 0 = never; -1 = 5 when fine-tuning
    checkpoint_minutes: float = 5.0  # minutes between checkpoints
    cache_mb: int = 4096  # memory budget of decoded frames (per process)
    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N"
    precision: str = "auto"  # "auto" (bf16 on CUDA and native-bf16 CPUs, else fp32), "bf16" (autocast) or "fp32"
    mix_spp: bool = False  # inputs averaged from 1..k-1 of a view's k renders (several sample counts)
    clip_grad: float = 0.0  # clip the gradient norm at this multiple of its running mean; 0 = off
    ema: float = -1.0  # decay of a moving average of the weights, validated and written instead; 0 = off;
    # -1 = FIT_EMA when fine-tuning, off from scratch
    loss_window: int = 1  # L_HDR weights from min(f, box mean of f over this window) (`loss.hdr_loss`); 1 = per pixel
    loss_scales: list[int] = field(default_factory=list)  # plus L_HDR on s x s block means, one term per s (`loss.hdr_loss`)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild from a checkpoint, ignoring fields this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ------------------------------------------------------------------------------------------- helpers

def learning_rate(base: float, step: int, progress: float, rampdown: float) -> float:
    """Warm-up, then constant, then a smooth (cosine) ramp-down to 0 over the last `rampdown` of the run."""
    lr = base * min(1.0, (step + 1) / WARMUP_STEPS)
    start = 1.0 - rampdown
    if rampdown > 0 and progress > start:
        lr *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, (progress - start) / rampdown)))
    return lr


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether training runs in bf16 autocast: asked for, or "auto" on CUDA and on CPUs with native bf16.

    bf16 trains `fast` at 2.5x the pixels/s of float32 on an AMX Xeon and 2.2x on an AVX-512 BF16 EPYC
    (v6's `wide-mix` 2.0x), and reaches a better model in the same time (BENCHMARKS.md, the ablation and
    stop 28); without native support CPU bf16 is emulated: about 10x slower than float32 (stop 29, AVX2 EPYC).
    """
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("bf16 asked for on a CPU without native bf16 (AMX or AVX-512 BF16): it is emulated, about "
                    "10x slower than float32 here; --precision auto picks float32 on this CPU")
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


@dataclass
class Distributed:
    """Process-group facts; a single process is rank 0 of 1."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the process that logs, validates and writes checkpoints."""
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the torchrun process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _log_paths(output: Path) -> tuple[Path, Path]:
    """Training log (JSON lines) and curve PNG next to the checkpoint."""
    stem = output.with_suffix("")
    return stem.with_name(stem.name + ".log.jsonl"), stem.with_name(stem.name + ".curve.png")


def _read_log(path: Path, upto_step: int) -> list[dict[str, Any]]:
    """Log entries up to a step (a resumed run rewrites what came after its checkpoint)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("step", 0) <= upto_step:
            rows.append(row)
    return rows


def _pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend, or None. fit() loads it (backend too: pyplot loads that only at
    the first figure) before its loop, so the loop's checkpoints import nothing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_curve(rows: list[dict[str, Any]], path: Path) -> None:
    """Loss and validation PSNR against step, as a PNG (skipped when matplotlib is missing)."""
    plt = _pyplot()
    if plt is None:
        log.debug("matplotlib not installed; no curve written")
        return
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_psnr" in r or "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8, color="tab:blue", label="train loss")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("L_HDR")
    if val:
        key = "val_psnr" if "val_psnr" in val[-1] else "val_loss"
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in val], [r[key] for r in val], "o-", color="tab:red", label=key)
        ax2.set_ylabel("validation PSNR (dB)" if key == "val_psnr" else "validation L_HDR")
    ax.set_title(path.stem)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


@torch.no_grad()
def validate(net: nn.Module, views: list[View], cache: FrameCache, device: torch.device,
             teacher: TeacherTargets | None = None) -> dict[str, Any]:
    """Denoise full validation frames: PSNR/relMSE vs reference.exr, else the error against an independent
    render of the held-out pair (`loss.validation_loss`), else (a single render, `--target ensemble`) against
    the teacher's target for it."""
    pipe = DenoisePipeline(net).eval()
    psnrs, rels, lums, losses, blocks = [], [], [], [], []
    for view in views[:VAL_FRAMES]:
        a = cache.get(view.renders[0])
        to = lambda arr: torch.from_numpy(np.asarray(arr, np.float32))[None].to(device)  # noqa: E731
        out = pipe(to(a.color), to(a.albedo), to(a.normal))[0].float().cpu().numpy()  # (3, H, W) linear
        h, w = out.shape[1:]
        mask = view.mask(h, w)  # measured on the view's held-out tiles (all pixels by default)
        pick = (lambda arr: arr) if mask is None else (lambda arr: arr[..., mask])  # noqa: E731 - (3, n) or (n,)
        if view.reference is not None:
            ref = pick(cache.get(view.reference, need_aux=False).color)
            psnrs.append(psnr_tonemapped(pick(out), ref))
            rels.append(relmse(pick(out), ref))
            lums.append(abs(luminance_ratio(pick(out).reshape(3, -1).T, ref.reshape(3, -1).T) - 1.0))
            continue
        if len(view.renders) > 1:
            # The first two renders are each the input once; the target of each is the mean of all the
            # view's other renders (unbiased, 1/(k-1) of one render's noise): two measurements of the same
            # error, with targets quiet enough for a paired test to tell a real gain from their noise.
            # Linear values as rendered, like PSNR (the tonemap's slope is not scale-invariant). The whole
            # frame is weighted (the input's blur needs its neighbours), then the held-out tiles are kept.
            b = cache.get(view.renders[1])
            out_b = pipe(to(b.color), to(b.albedo), to(b.normal))[0].float().cpu().numpy()
            ca, cb = (np.asarray(f.color, np.float32) for f in (a, b))  # (3, H, W)
            total = ca + cb
            for render in view.renders[2:]:  # summed one at a time: memory stays two frames, whatever k is
                total += cache.get(render).color
            k = len(view.renders)
            error = 0.5 * (validation_loss(out, (total - ca) / (k - 1), ca)
                           + validation_loss(out_b, (total - cb) / (k - 1), cb))  # (H, W)
        elif teacher is not None:
            # One render: no independent target, so the error is measured against what the student is taught
            # (the teacher's passes): it catches drift away from them, not gains beyond them.
            error = validation_loss(out, teacher.get(view, 0).astype(np.float32), np.asarray(a.color, np.float32))
        else:
            continue
        losses.append(float(pick(error).mean()))
        blocks.append(block_means(error) if mask is None else masked_block_means(error, holdout_tiles(h, w)))
    metrics: dict[str, float] = {}
    if psnrs:
        # val_lum: the worst view's |mean luminance / the reference's - 1| (energy gained or lost)
        metrics.update(val_psnr=float(np.mean(psnrs)), val_relmse=float(np.mean(rels)), val_lum=float(np.max(lums)))
    if losses:
        metrics["val_loss"] = float(np.mean(losses))
        metrics["val_blocks"] = np.concatenate(blocks)  # for BestModel's paired test; callers pop it
    return metrics


class GradClipper:
    """Clips a step's gradient norm at `factor` times its running mean (an EMA of the clipped norms).

    Against noisy HDR targets one firefly in a dark pixel gives L_HDR a gradient 10^3-10^5 times the
    usual; Adam then takes a step of several lr in that pixel's direction and its inflated second moment
    stalls learning for thousands of steps (the dips of interior training). Only such outlier steps are
    shortened; ordinary ones, and so the loss's unbiased minimiser, are left alone.
    """

    WARMUP = 20  # steps that only feed the running mean, never clip

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.mean = 0.0
        self.seen = 0

    def __call__(self, params: list[nn.Parameter]) -> bool:
        """Clip the gradients of `params` in place; True when this step was clipped."""
        grads = [p.grad for p in params if p.grad is not None]
        norm = float(torch.nn.utils.get_total_norm(grads))
        limit = self.factor * self.mean
        clipped = self.seen >= self.WARMUP and math.isfinite(norm) and norm > limit
        if clipped:
            torch._foreach_mul_(grads, limit / norm)
        kept = min(norm, limit) if self.seen >= self.WARMUP else norm
        if math.isfinite(kept):
            self.seen += 1
            self.mean += (kept - self.mean) / min(self.seen, 100)  # running mean, then an EMA over ~100 steps
        return clipped

    def to_dict(self) -> dict[str, float]:
        """For the checkpoint (exact --resume)."""
        return {"mean": self.mean, "seen": self.seen}

    def load(self, d: dict[str, float]) -> None:
        """Restore from a checkpoint."""
        self.mean, self.seen = float(d["mean"]), int(d["seen"])


class WeightAverage:
    """An exponential moving average of a network's weights (Polyak averaging), in a copy of the network.

    At a constant lr the weights of a Noise2Noise model wander around the minimum by several tenths of a dB
    from one validation to the next (each step follows one noisy target); the average sits near its centre.
    The decay warms up as (1 + n) / (10 + n) so that the first steps of a run are not weighted by the
    starting model alone.
    """

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.net = copy.deepcopy(net).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """Move the average towards `net`'s current weights."""
        self.updates += 1
        weight = 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        mine = [t for t in self.net.state_dict().values() if t.is_floating_point()]
        theirs = [t for t in net.state_dict().values() if t.is_floating_point()]
        torch._foreach_lerp_(mine, theirs, weight)

    def to_dict(self) -> dict[str, Any]:
        """For the checkpoint (exact --resume)."""
        return {"model": self.net.state_dict(), "updates": self.updates}

    def load(self, d: dict[str, Any]) -> None:
        """Restore from a checkpoint."""
        self.net.load_state_dict(d["model"])
        self.updates = int(d["updates"])


class BestModel:
    """The best validation so far (PSNR when references exist, else the Noise2Noise loss on held-out renders)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.step = -1
        self.value = math.nan
        self.key = ""
        self.state: dict[str, torch.Tensor] | None = None
        self.stale = 0  # validations since the last new best or new record (`lowest`)
        # The best point estimate measured so far, significant or not: the lowest `val_loss`, or the highest
        # `val_psnr` when validation has references. While validation keeps setting such records the model
        # is still improving, so patience waits even if no single step beats the best by two standard errors
        # yet (stop 22: the Cornell fit stopped at 1,750 of ~6,000 steps on a slow, steady gain that the
        # paired test only confirms over several validations).
        self.lowest = math.nan
        self.blocks: np.ndarray | None = None  # the best model's per-block validation errors
        self.criterion = VAL_CRITERION  # what `val_loss` measured when the best was validated

    def update(self, step: int, metrics: dict[str, float], net: nn.Module, blocks: np.ndarray | None = None) -> bool:
        """Record a validation; keep a copy of the weights when it is the best. True when it is.

        Against noisy targets a new model counts as better only when its error is lower by more than
        twice the standard error of the paired difference (per 16x16 block, same targets): on a few
        held-out renders the noise would otherwise pick a model that is better by chance.
        """
        key = "val_psnr" if "val_psnr" in metrics else "val_loss" if "val_loss" in metrics else ""
        if not key:
            return False
        value = metrics[key]
        if key == "val_psnr":
            better = value > self.value
        elif blocks is not None and self.blocks is not None and len(blocks) == len(self.blocks) > 1:
            diff = blocks - self.blocks
            better = float(diff.mean()) < -2.0 * float(diff.std(ddof=1)) / math.sqrt(len(diff))
        else:
            better = value < self.value
        fresh = self.step < 0 or key != self.key
        record = fresh or (value > self.lowest if key == "val_psnr" else value < self.lowest)
        if record:
            self.lowest = value
        if fresh or better:
            self.step, self.value, self.key, self.stale, self.blocks = step, value, key, 0, blocks
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
            return True
        self.stale = 0 if record else self.stale + 1
        return False

    @property
    def should_stop(self) -> bool:
        """True once `patience` validations in a row brought neither a new best nor a new record."""
        return self.patience > 0 and self.stale >= self.patience

    def to_dict(self) -> dict[str, Any]:
        """For the checkpoint (so that --resume keeps the best model)."""
        blocks = None if self.blocks is None else torch.from_numpy(np.asarray(self.blocks, np.float64))
        # tensors and plain types only: weights_only loads
        return {"step": self.step, "value": self.value, "key": self.key, "stale": self.stale, "model": self.state,
                "blocks": blocks, "criterion": self.criterion, "lowest": self.lowest}

    def load(self, d: dict[str, Any]) -> None:
        """Restore from a checkpoint."""
        self.step, self.value, self.key, self.stale, self.state = d["step"], d["value"], d["key"], d["stale"], d["model"]
        self.blocks = None if d.get("blocks") is None else d["blocks"].numpy()
        self.criterion = d.get("criterion", "")
        self.lowest = d.get("lowest", self.value)  # older checkpoints: the best's own value

    @property
    def outdated(self) -> bool:
        """True when the best was measured with another `val_loss` than this version's (a resumed old run)."""
        return self.key == "val_loss" and self.state is not None and self.criterion != VAL_CRITERION


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM for the duration (main thread only; elsewhere signals never arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then raise KeyboardInterrupt (main thread only).

    An interrupt raised inside a checkpoint's writing can land in an import or a C extension, which turns it
    into another error (matplotlib's: ImportError "initialization failed") and loses the run's last steps."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


def _on_sigterm_interrupt() -> Any:
    """Make SIGTERM raise KeyboardInterrupt in the main thread; return the previous handler (None if not set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


# ---------------------------------------------------------------------------------------------- fit

def fit(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train (or fine-tune, or resume) a model as `cfg` says; return the final summary."""
    device = pick_device(cfg.device)
    dist_info = init_distributed(device)
    if device.type == "cuda" and dist_info.world > 1:
        device = torch.device("cuda", dist_info.local_rank)
    output = Path(cfg.output)
    if cfg.steps <= 0 and cfg.minutes <= 0:
        raise McDenoiseError("give a budget: --steps N and/or --minutes M")
    if not (0 <= cfg.ema < 1 or cfg.ema == -1):
        raise McDenoiseError(f"--ema must be in [0, 1) (e.g. 0.999; 0 = off), not {cfg.ema}")
    # Stored resolved: --resume keeps them. A -1 met on --resume comes from a run older than the average
    # (the field's default): it ran without one, and goes on without one.
    cfg = replace(cfg, batch=cfg.batch or AUTO_BATCH.get(device.type, AUTO_BATCH["cpu"]),
                  crop=cfg.crop or AUTO_CROP.get(device.type, AUTO_CROP["cpu"]),
                  ema=cfg.ema if cfg.ema >= 0 else (FIT_EMA if cfg.init != "scratch" and not resume else 0.0))
    if cfg.batch < 1 or cfg.crop < 8:
        raise McDenoiseError("--batch must be >= 1 and --crop >= 8 (or 0 for the device's default)")
    if not math.isfinite(cfg.lr) or cfg.lr < 0:
        raise McDenoiseError(f"--lr must be a positive number (or 0 for the default), not {cfg.lr}")
    if not 0 <= cfg.rampdown <= 1:
        raise McDenoiseError(f"--rampdown must be a fraction of the run, 0 to 1, not {cfg.rampdown}")
    if cfg.clip_grad < 0 or 0 < cfg.clip_grad <= 1:
        raise McDenoiseError(f"--clip-grad must be 0 (off) or above 1 (times the running mean norm), not {cfg.clip_grad}")
    if cfg.loss_window < 1 or cfg.loss_window % 2 == 0:
        raise McDenoiseError(f"--loss-window must be an odd number of pixels (1 = per pixel), not {cfg.loss_window}")
    if any(not isinstance(k, int) or not 2 <= k <= cfg.crop // 2 for k in cfg.loss_scales):
        raise McDenoiseError(f"--loss-scales must be block sides from 2 to half the crop ({cfg.crop // 2}), "
                             f"not {cfg.loss_scales}")
    if cfg.precision not in PRECISIONS:
        raise McDenoiseError(f"unknown precision {cfg.precision!r}; use one of {', '.join(PRECISIONS)}")
    if cfg.target in TEACHER_TARGETS:
        load_checkpoint(cfg.teacher)  # a bad --teacher fails now, not after minutes of checking renders
        from mcdenoise.infer import check_passes  # the inference stack only when a teacher is asked for

        try:
            check_passes(cfg.teacher_passes)
        except McDenoiseError as exc:
            raise McDenoiseError(f"--teacher-passes: {exc}") from None

    # 1. Resume or start: the model config comes from the checkpoint, the shipped model, or a preset.
    ckpt: dict[str, Any] | None = None
    if resume:
        if not output.is_file():
            raise McDenoiseError(f"--resume: {output} does not exist yet; run without --resume to start")
        ckpt = load_checkpoint(output)
        if "optimizer" not in ckpt:
            raise McDenoiseError(f"--resume: {output} holds no optimizer state (a released model); "
                                 "use --init PATH to fine-tune it instead")
        net = model_from_checkpoint(ckpt, resume=True)  # the last step's weights, not the best or the average
    else:
        size = cfg.size or ("fast" if cfg.init == "scratch" else None)
        if size is not None and size not in PRESETS:
            raise McDenoiseError(f"unknown model size {size!r}; use one of {', '.join(PRESETS)}")
        if cfg.init == "scratch":
            torch.manual_seed(cfg.seed)
            net = UNet(PRESETS[size] if cfg.aux else replace(PRESETS[size], in_channels=3))
        else:
            net = model_from_checkpoint(load_checkpoint(cfg.init))
            if net.cfg.aux and not cfg.aux:  # fine-tuning keeps the starting model's inputs
                raise McDenoiseError(f"--no-aux: --init {cfg.init} takes albedo and normal; start from a color-only "
                                     "model (--init color) or from scratch")
            if size is not None:  # widen the starting model; it computes the same until trained
                target = replace(PRESETS[size], in_channels=net.cfg.in_channels)
                if target != net.cfg:
                    net = grow(net, target, seed=cfg.seed)
                    log.info("widened %s to %s: %d parameters", cfg.init, size, count_parameters(net))
    base_lr = cfg.lr if cfg.lr > 0 else (3e-4 if cfg.init == "scratch" else 1e-4)
    fine_tuning = cfg.init != "scratch"
    best = BestModel(cfg.patience if cfg.patience >= 0 else (5 if fine_tuning else 0))
    align = net.alignment

    # 2. Data: scan, check every frame up front (clear errors before any training), split validation.
    # Validation without references: the Noise2Noise loss on an independent pair estimates the clean loss
    # (plus a constant). Default: one held-out view when there are 3 or more; with 1 or 2 views (a shot's
    # own renders), a pair of each view's renders on tiles that training never takes its loss on, so that
    # no view and no render is lost to training.
    views = collect_views(cfg.scenes, cfg.target)
    n_val = cfg.val_views if cfg.val_views >= 0 else (1 if len(views) >= 3 and not cfg.val_scenes else 0)
    train_views, val_views = split_views(views, n_val)
    if len(views) < 3 and cfg.val_views < 0 and not cfg.val_scenes:
        fewest = 1 if cfg.target == "ensemble" else 2  # ensemble targets need no second render to validate
        splits = [split_renders(v, fewest=fewest) or (v, None) for v in views]
        train_views = [t for t, _ in splits]
        val_views = [v for _, v in splits if v is not None]
        if not val_views:
            log.warning("no view has 2 or more renders: no validation (render 2 or more of a view to validate "
                        "and keep the best model)")
    if cfg.val_scenes:
        val_views += collect_views(cfg.val_scenes, validation=True)
    cache = FrameCache(cfg.cache_mb * 2**20, need_aux=net.cfg.aux)
    check_views(train_views, cache, need_reference=cfg.target == "clean")
    check_views(val_views, cache, need_reference=True, desc="checking validation")
    smallest = min(min(cache.get(v.renders[0]).color.shape[1:]) for v in train_views)
    crop = min(cfg.crop, smallest) // align * align
    if crop < align:
        raise DataError(f"renders are {smallest} px on their short side; the model needs at least {align}")
    if crop != cfg.crop and dist_info.main:
        log.warning("crop reduced from %d to %d px to fit the smallest view (multiple of %d)", cfg.crop, crop, align)
    # Teacher targets get a memory budget of their own, as large as the frames'.
    teacher = None
    if cfg.target in TEACHER_TARGETS:
        teacher = TeacherTargets(cfg.teacher, cache, cfg.cache_mb * 2**20, device=str(device), source=cfg.target,
                                 passes=cfg.teacher_passes if cfg.target == "ensemble" else 1)
        teacher.prefill(train_views, progress=progress and dist_info.main)  # when they all fit in memory
    sampler = PairSampler(train_views, cache, crop=crop, target=cfg.target, mix_spp=cfg.mix_spp, teacher=teacher)
    val_teacher = teacher if cfg.target == "ensemble" else None  # validates single-render views (`validate`)

    # 3. Model, optimizer (paper: Adam b1 0.9, b2 0.99, eps 1e-8), bf16 autocast + channels_last on
    # CUDA and on CPUs with native bf16 matmuls, unless fp32 is asked for (`uses_bf16`).
    net = net.to(device).train()
    use_amp = uses_bf16(cfg.precision, device)
    if use_amp:
        net = net.to(memory_format=torch.channels_last)
    model: nn.Module = net
    if dist_info.world > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.Adam(net.parameters(), lr=base_lr, betas=(0.9, 0.99), eps=1e-8)
    clipper = GradClipper(cfg.clip_grad) if cfg.clip_grad > 0 else None
    average = WeightAverage(net, cfg.ema) if cfg.ema > 0 else None
    judged = average.net if average is not None else net  # the network validated, kept as best and written
    step, elapsed_before = 0, 0.0
    if ckpt is not None:
        opt.load_state_dict(ckpt["optimizer"])
        if clipper is not None and ckpt.get("grad_clip"):
            clipper.load(ckpt["grad_clip"])
        if average is not None and ckpt.get("ema"):
            average.load(ckpt["ema"])
        step, elapsed_before = int(ckpt["step"]), float(ckpt.get("elapsed", 0.0))
        if ckpt.get("best"):
            best.load(ckpt["best"])
        if best.outdated and val_views and dist_info.main:
            # Measure the best weights again, so that the validations to come are compared with it on one scale.
            judge = copy.deepcopy(net)
            judge.load_state_dict(best.state)
            remeasured = validate(judge, val_views, cache, device, teacher=val_teacher)
            best.value, best.blocks, best.criterion = remeasured["val_loss"], remeasured.get("val_blocks"), VAL_CRITERION
            best.lowest = best.value  # records from the old criterion are not comparable either
            log.info("measured the best model (step %d) again with this version's validation: val_loss %.4g",
                     best.step, best.value)
    log_path, curve_path = _log_paths(output)
    rows = _read_log(log_path, step) if (ckpt is not None and dist_info.main) else []
    if ckpt is not None and step > 0 and not rows and dist_info.main:
        # A checkpoint copied without its log: the log and curve restart here; the earlier part stays where it was.
        log.warning("no training log beside %s (%s): this log and its curve start at step %d; copy the run's "
                    ".log.jsonl beside the checkpoint to keep its history", output, log_path.name, step)
    summary = {"train_views": len(train_views), "val_views": len(val_views), "crop": crop, "lr": base_lr,
               "parameters": sum(p.numel() for p in net.parameters()), "processes": dist_info.world}
    if dist_info.main:
        log.info("training on %d views (%d renders), validating on %d; crop %d, batch %d x %d process(es), lr %.1e",
                 len(train_views), sum(len(v.renders) for v in train_views), len(val_views), crop, cfg.batch,
                 dist_info.world, base_lr)
        if len(val_views) > VAL_FRAMES:
            log.warning("validating on the first %d of %d validation views (%s ... %s); pass fewer to choose them",
                        VAL_FRAMES, len(val_views), val_views[0].label, val_views[VAL_FRAMES - 1].label)

    def checkpoint(elapsed: float, metrics: dict[str, float]) -> None:
        """Write model + optimizer + step atomically (main process only)."""
        if not dist_info.main:
            return
        save_checkpoint(output, {
            "model_config": net.cfg.to_dict(), "model": net.state_dict(), "optimizer": opt.state_dict(),
            "train_config": asdict(cfg), "step": step, "elapsed": elapsed, "metrics": metrics, "summary": summary,
            "best": best.to_dict(), "grad_clip": clipper.to_dict() if clipper is not None else None,
            "ema": average.to_dict() if average is not None else None,
        })
        atomic_write_bytes(log_path, "".join(json.dumps(r) + "\n" for r in rows).encode())  # --resume needs it whole
        plot_curve(rows, curve_path)

    def run_progress(elapsed: float) -> float:
        """Fraction of the budget spent (the larger of steps and time)."""
        p = step / cfg.steps if cfg.steps > 0 else 0.0
        return max(p, elapsed / (cfg.minutes * 60) if cfg.minutes > 0 else 0.0)

    # 4. The loop.
    start = time.monotonic()
    last_ckpt, saved_step = start, -1  # saved_step: the step the checkpoint on disk holds (-1: none this run)
    metrics: dict[str, float] = {}
    if val_views and dist_info.main and step == 0:
        metrics = validate(net, val_views, cache, device, teacher=val_teacher)
        blocks = metrics.pop("val_blocks", None)
        rows.append({"step": 0, "elapsed": 0.0, **metrics})
        best.update(0, metrics, judged, blocks)  # the starting model is a candidate too: fine-tuning never ends worse
        log.info("step 0: %s", ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    total = cfg.steps if cfg.steps > 0 else None
    bar = tqdm(total=total, initial=step, desc="fit", unit="step", disable=not (progress and dist_info.main),
               dynamic_ncols=True)
    pixels_per_step = cfg.batch * crop * crop * dist_info.world
    loss_avg, t_window, n_window, n_clipped = 0.0, time.monotonic(), 0, 0
    # SIGTERM (a farm scheduler preempting the job, `kill`) checkpoints like Ctrl-C, so --resume loses nothing.
    if dist_info.main:
        _pyplot()
    previous_term = _on_sigterm_interrupt()
    # Batches are built a step ahead on a thread; each step's batch still depends only on (seed, rank, step).
    batches = Prefetcher(lambda s: sampler.sample(np.random.default_rng([cfg.seed, dist_info.rank, s]), cfg.batch),
                         start=step)
    try:
        while True:
            elapsed = elapsed_before + time.monotonic() - start
            if dist_info.world > 1:  # every process must agree on the schedule and when to stop
                t = torch.tensor([elapsed], dtype=torch.float64)
                torch.distributed.broadcast(t, 0)
                elapsed = float(t)
            done = run_progress(elapsed)
            if done >= 1.0:
                break
            lr = learning_rate(base_lr, step, done, cfg.rampdown)
            for group in opt.param_groups:
                group["lr"] = lr

            b = next(batches)
            to = lambda a: torch.from_numpy(a).to(device, non_blocking=True)  # noqa: E731
            color_, albedo, normal, exposure, target = map(to, (b.color, b.albedo, b.normal, b.exposure, b.target))
            if not net.cfg.aux:  # a color-only model
                albedo = normal = None
            # (N, 9 or 3, crop, crop), tonemapped input (color over albedo for a demodulating model)
            x = network_input(color_, albedo, normal, exposure, net.cfg.demodulate)
            y = target * exposure.view(-1, 1, 1, 1)  # linear target at the input's exposure, NOT tonemapped
            if use_amp:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                raw = model(x)
            pred = network_output(raw, color_ * exposure.view(-1, 1, 1, 1), net.cfg, albedo)  # linear HDR
            weight = None if b.weight is None else to(b.weight)  # (N, 1, crop, crop): 0 on a shot's held-out tiles
            loss = hdr_loss(pred, y, window=cfg.loss_window, mask=weight, scales=tuple(cfg.loss_scales))
            if not torch.isfinite(loss):
                raise McDenoiseError(f"loss became {float(loss)} at step {step}; lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clipper is not None:  # (under DDP the gradients are already averaged: every rank clips alike)
                n_clipped += clipper(list(net.parameters()))
            opt.step()
            if average is not None:
                average.update(net)
            step += 1

            loss_avg += loss.item()
            n_window += 1
            if dist_info.main and (n_window == 20 or step == cfg.steps):
                now = time.monotonic()
                rate = pixels_per_step * n_window / max(now - t_window, 1e-9)
                rows.append({"step": step, "loss": loss_avg / n_window, "lr": lr, "pixels_per_s": rate,
                             "elapsed": elapsed_before + now - start}
                            | ({"clipped": n_clipped / n_window} if clipper is not None else {}))
                post = {"loss": f"{loss_avg / n_window:.4f}", "px_s": f"{rate:,.0f}", "lr": f"{lr:.1e}"}
                if cfg.minutes > 0:
                    left = max(0.0, cfg.minutes * 60 - (elapsed_before + now - start))
                    post["left"] = f"{int(left // 60)}:{int(left % 60):02d}"
                bar.set_postfix(post)
                loss_avg, t_window, n_window, n_clipped = 0.0, now, 0, 0
            bar.update(1)
            if dist_info.main and val_views and step % cfg.val_every == 0:
                net.eval()
                metrics = validate(judged, val_views, cache, device, teacher=val_teacher)
                blocks = metrics.pop("val_blocks", None)
                if average is not None:  # the raw weights' figure too, to show what the average buys
                    raw = validate(net, val_views, cache, device, teacher=val_teacher)
                    metrics |= {f"raw_{k}": v for k, v in raw.items() if k in ("val_psnr", "val_loss")}
                net.train()
                rows.append({"step": step, "elapsed": elapsed_before + time.monotonic() - start, **metrics})
                new_best = best.update(step, metrics, judged, blocks)
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
                          + (" (best)" if new_best else f" (best: step {best.step})"))
                if best.should_stop and dist_info.world == 1:  # (under torchrun the schedule alone decides)
                    bar.write(f"stopping: {best.stale} validations without improvement; keeping step {best.step}")
                    break
            if time.monotonic() - last_ckpt > cfg.checkpoint_minutes * 60:
                with _interrupts_deferred():  # a signal now stops the run once this checkpoint is whole
                    checkpoint(elapsed_before + time.monotonic() - start, metrics)
                    saved_step = step
                last_ckpt = time.monotonic()
    except KeyboardInterrupt:
        if saved_step != step:  # (a signal held during a periodic save finds this step already on disk)
            with _interrupts_ignored():  # a second Ctrl-C or SIGTERM must not cut the final checkpoint short
                checkpoint(elapsed_before + time.monotonic() - start, metrics)
        bar.close()
        raise
    finally:
        batches.close()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    bar.close()
    elapsed = elapsed_before + time.monotonic() - start
    validated_now = any(r["step"] == step and ("val_psnr" in r or "val_loss" in r) for r in rows[-2:])
    if dist_info.main and val_views and not validated_now:
        metrics = validate(judged.eval(), val_views, cache, device, teacher=val_teacher)
        blocks = metrics.pop("val_blocks", None)
        rows.append({"step": step, "elapsed": elapsed, **metrics})
        best.update(step, metrics, judged, blocks)
    if average is not None:  # the model written is the average (or, below, the best validated one)
        net.load_state_dict(average.net.state_dict())
    if dist_info.main and best.state is not None and best.step != step:  # the model written is the best one
        net.load_state_dict(best.state)
        metrics = next((r for r in rows if r["step"] == best.step and best.key in r), metrics)
        metrics = {k: v for k, v in metrics.items() if k.startswith("val_")}
        log.info("keeping the best validation: step %d (%s %.4g)", best.step, best.key, best.value)
    summary.update(steps=step, elapsed=elapsed, metrics=metrics, best_step=best.step if best.state is not None else step)
    with _interrupts_ignored():  # the run is done: a preemption now would only cost its last save
        checkpoint(elapsed, metrics)
    if dist_info.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary
