"""Training data: pairs of independent noisy renders of one view, cropped and augmented on the fly.

Frames are decoded once, checked, and kept in a byte-budgeted LRU cache; views beyond the budget are
re-read from disk when sampled, so a farm's worth of frames never has to fit in RAM.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mcdenoise import color
from mcdenoise.errors import AovError, DataError, McDenoiseError
from mcdenoise.exr import read_frame
from mcdenoise.layout import Render, scan_scene
from mcdenoise.orient import orient

log = logging.getLogger(__name__)

# noisy: another independent render (Noise2Noise); mean: the mean of all the view's other renders (still
# independent of the input, so still unbiased, with 1/(k-1) of the variance); teacher: a trained model's
# denoising of that mean (`TeacherTargets`: far less noisy, and biased only by the teacher's own errors on
# a (k-1)x-spp input; still no reference); ensemble: the teacher's own denoising of the input render, averaged
# over oriented passes (self-distillation: a single network learns what N of its passes average to; needs
# no second render); clean: reference.exr.
TARGETS = ("noisy", "mean", "teacher", "ensemble", "clean")
TEACHER_TARGETS = ("teacher", "ensemble")  # targets a trained model makes (`TeacherTargets`)


@dataclass(frozen=True)
class View:
    """One view folder used for training or validation."""

    scene: str  # scene directory name
    name: str  # view folder name
    renders: tuple[Render, ...]  # independent noisy renders (>= 2 for Noise2Noise)
    reference: Path | None  # high-spp render, for metrics or --target clean
    region: str = "all"  # pixels trained or validated on: "all", or "train" / "held" (`holdout_tiles`)

    def mask(self, height: int, width: int) -> np.ndarray | None:
        """(H, W) bool of the pixels this view is trained or validated on; None when it is all of them."""
        return None if self.region == "all" else _region_mask(self.region, height, width)

    @property
    def label(self) -> str:
        """'scene/view' for messages and logs."""
        return f"{self.scene}/{self.name}"


@dataclass(frozen=True)
class CachedFrame:
    """Decoded buffers in channel-first layout, ready to crop."""

    color: np.ndarray  # (3, H, W) float32 linear radiance
    albedo: np.ndarray  # (3, H, W) float16
    normal: np.ndarray  # (3, H, W) float16
    exposure: float  # image-wide autoexposure of the full frame (inference sees the full frame too)

    @property
    def nbytes(self) -> int:
        """Memory held by the buffers."""
        return self.color.nbytes + self.albedo.nbytes + self.normal.nbytes


def load_frame(path: Path, albedo: Path | None = None, normal: Path | None = None, *, need_aux: bool = True) -> CachedFrame:
    """Read one render (or reference) into a CachedFrame; raise a clear error for unusable frames."""
    frame = read_frame(path, albedo=albedo, normal=normal)
    pixels = frame.height * frame.width
    if frame.sanitized.get("color non-finite", 0) == pixels:
        raise DataError(f"{path}: every color pixel is NaN or infinite")
    if need_aux and not frame.has_aux:
        missing = " and ".join(r for r in ("albedo", "normal") if getattr(frame, r) is None)
        raise AovError(f"{path}: no {missing} AOV; training needs color + albedo + normal in every render")
    shape = (3, frame.height, frame.width)
    aux = [np.ascontiguousarray(b.transpose(2, 0, 1), np.float16) if b is not None else np.zeros(shape, np.float16)
           for b in (frame.albedo, frame.normal)]
    rgb = np.ascontiguousarray(frame.color.transpose(2, 0, 1), np.float32)
    return CachedFrame(rgb, aux[0], aux[1], color.autoexposure(frame.color))


class ByteLRU:
    """Least-recently-used store of values with `nbytes` (arrays, frames) under a byte budget; the newest stays."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.used = 0
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        """The value of `key` (now the most recent), or None."""
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, key: Any, value: Any) -> None:
        """Add a value, dropping the least recently used ones while over budget."""
        self._items[key] = value
        self.used += value.nbytes
        while self.used > self.budget and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.used -= old.nbytes


class FrameCache:
    """LRU cache of decoded frames with a byte budget."""

    def __init__(self, budget_bytes: int, *, need_aux: bool = True) -> None:
        self.need_aux = need_aux  # renders must carry albedo + normal (False for color-only models)
        self.misses = 0
        self._frames = ByteLRU(budget_bytes)  # path -> CachedFrame
        self._lock = threading.RLock()  # the batch prefetcher and validation share the cache

    @property
    def used(self) -> int:
        """Bytes held."""
        return self._frames.used

    def get(self, render: Render | Path, *, need_aux: bool | None = None) -> CachedFrame:
        """The decoded frame of a render or reference file, from memory when it is cached."""
        with self._lock:
            return self._get(render, need_aux)

    def _get(self, render: Render | Path, need_aux: bool | None) -> CachedFrame:
        """`get` without the lock."""
        path = render.path if isinstance(render, Render) else render
        hit = self._frames.get(path)
        if hit is not None:
            return hit
        self.misses += 1
        need_aux = self.need_aux if need_aux is None else need_aux
        if isinstance(render, Render):
            frame = load_frame(render.path, render.albedo, render.normal, need_aux=need_aux)
        else:
            frame = load_frame(path, need_aux=need_aux)
        self._frames.put(path, frame)
        return frame


def collect_views(scene_dirs: Sequence[str | os.PathLike], target: str = "noisy", *, validation: bool = False) -> list[View]:
    """Every view of the given scene directories, checked for what training (or validation) needs."""
    if target not in TARGETS:
        raise DataError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")
    if not scene_dirs:
        raise DataError("no scene directories given")
    views: list[View] = []
    for scene_dir in scene_dirs:
        scene = scan_scene(scene_dir)
        for v in scene.views:
            view = View(scene.path.name, v.name, v.renders, v.reference)
            if validation:  # a render and its reference, or a held-out pair
                if not v.renders or (v.reference is None and len(v.renders) < 2):
                    raise DataError(f"{v.path}: a validation view needs a render and reference.exr, or 2 renders")
            elif target == "ensemble" and not v.renders:
                raise DataError(f"{v.path}: no noisy render to train on")
            elif target in ("noisy", "mean", "teacher") and len(v.renders) < 2:
                raise DataError(
                    f"{v.path}: {len(v.renders)} noisy render(s); Noise2Noise needs at least 2 independent "
                    "renders of each view (same camera, different seeds)"
                )
            if target == "clean" and (v.reference is None or not v.renders):
                raise DataError(f"{v.path}: --target clean needs reference.exr and at least one render")
            views.append(view)
    labels = [v.label for v in views]
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise DataError(f"two scene directories share a name: {', '.join(dup)}; rename one")
    return views


def check_views(views: Sequence[View], cache: FrameCache, *, need_reference: bool = False, desc: str = "checking renders") -> None:
    """Decode every frame once (filling the cache) and check sizes agree within each view."""
    files = [(v, r) for v in views for r in v.renders]
    files += [(v, v.reference) for v in views if need_reference and v.reference is not None]
    sizes: dict[str, tuple[int, int, Path]] = {}
    for view, item in tqdm(files, desc=desc, unit="file", disable=len(files) < 8, leave=False):
        is_reference = not isinstance(item, Render)
        try:
            frame = cache.get(item, need_aux=False if is_reference else None)
        except McDenoiseError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoder failures on a user's file are a user problem
            path = item if is_reference else item.path
            raise DataError(f"{path}: unreadable ({exc})") from exc
        size = frame.color.shape[1:]
        path = item if is_reference else item.path
        first = sizes.setdefault(view.label, (size[0], size[1], path))
        if first[:2] != size:
            raise DataError(
                f"{view.label}: {path.name} is {size[1]}x{size[0]} but {first[2].name} is {first[1]}x{first[0]}; "
                "every render of a view must have the same resolution"
            )


def split_views(views: list[View], count: int) -> tuple[list[View], list[View]]:
    """Hold `count` views out of training for validation, preferring views with a reference."""
    if count <= 0:
        return views, []
    if count >= len(views):
        raise DataError(f"--val-views {count} would leave no training views (there are {len(views)})")
    # Deterministic: the last views in sorted order, those with references first.
    order = sorted(range(len(views)), key=lambda i: (views[i].reference is not None, views[i].label))
    held = set(order[-count:])
    return [v for i, v in enumerate(views) if i not in held], [v for i, v in enumerate(views) if i in held]


HOLDOUT_TILE = 32  # px: side of the tiles a shot's own validation measures on, never trained on
HOLDOUT_BLOCK = 16  # px: side of the blocks whose mean errors are the paired test's samples


def holdout_tiles(height: int, width: int) -> np.ndarray:
    """(H, W) int map: the index of the validation block each held-out pixel falls in, -1 elsewhere.

    The held-out tiles are every other tile of every other row of tiles (a quarter of the frame), spread
    over the whole image, so that validation sees what the view holds (emitters, walls, glass) rather than
    one band of it. Smaller frames get smaller tiles (at least 4 px), so every frame holds some out.
    """
    tile = max(4, min(HOLDOUT_TILE, min(height, width) // 4))
    block = min(HOLDOUT_BLOCK, tile)
    y, x = np.arange(height), np.arange(width)
    held = ((y // tile) % 2 == 1)[:, None] & ((x // tile) % 2 == 1)[None, :]
    blocks = (y // block)[:, None] * (width // block + 1) + (x // block)[None, :]
    return np.where(held, blocks, -1)


@functools.lru_cache(maxsize=16)
def _region_mask(region: str, height: int, width: int) -> np.ndarray:
    """`View.mask`, computed once per frame size (read-only: it is shared)."""
    held = holdout_tiles(height, width) >= 0
    mask = held if region == "held" else ~held
    mask.flags.writeable = False
    return mask


def split_renders(view: View, *, fewest: int = 2) -> tuple[View, View] | None:
    """Validate on a view's renders, measured on held-out tiles; None with fewer than `fewest` renders
    (1 for targets a model makes from the render itself, `--target ensemble`).

    Training keeps every render but never takes its loss on the held-out tiles (`holdout_tiles`), where
    validation measures (each of two renders against the mean of the others, `train.validate`): pixels
    training also learns from would reward memorizing this view's content, which does not carry to new views.
    No target pixel validation sees is ever trained on, so the error still estimates the clean error (plus
    a constant). Before stop 24 a pair was taken out of training altogether: a 4-render view then trained
    on one noisy pair, and a 2-render view did not validate.
    Stop 22 spread the tiles over the frame; before, they were the bottom quarter, which on the Cornell
    box is mostly floor and did not see a fit's +0.9 dB on the scene's other camera.
    """
    if len(view.renders) < fewest:
        return None
    return (View(view.scene, view.name, view.renders, view.reference, region="train"),
            View(view.scene, view.name + " (held-out tiles)", view.renders, view.reference, region="held"))


@dataclass
class Batch:
    """One training batch; every tensor is (N, 3, crop, crop) but exposure (N,)."""

    color: np.ndarray  # input render a
    albedo: np.ndarray
    normal: np.ndarray
    exposure: np.ndarray  # of render a's full frame
    target: np.ndarray  # render b (noisy) or the reference (clean), linear, never tonemapped
    weight: np.ndarray | None = None  # (N, 1, crop, crop): 1 where the loss counts, 0 on held-out tiles; None: all


class TeacherTargets:
    """Targets from a trained model, for render i of a view: its denoising of the mean of the view's other renders
    ("teacher"), or of render i itself averaged over `passes` oriented passes ("ensemble").

    "teacher": the other renders are independent of render i, so the target's remaining error is the teacher's
    on a (k-1)x-spp input, not the input's noise. "ensemble": the target is what `denoise --passes N` gives for
    the very input the student sees, so the student learns the average of the teacher's orientations.
    Kept in a byte-budgeted LRU (float16 where it fits), computed on first use (or by `prefill`).
    """

    def __init__(self, model: str, cache: FrameCache, budget_bytes: int, *, device: str = "cpu",
                 source: str = "teacher", passes: int = 1) -> None:
        from mcdenoise.infer import Denoiser, check_passes  # inference stack only when a teacher is asked for

        if source not in TEACHER_TARGETS:
            raise ValueError(f"source must be one of {TEACHER_TARGETS}")
        check_passes(passes)
        # ONNX Runtime where it can (the shipped models on a CPU: about 2x PyTorch's float32 speed)
        self.denoiser = Denoiser(model, backend="auto" if device == "cpu" else "torch", device=device)
        self.cache = cache
        self.source, self.passes = source, passes
        self.computed = 0
        # render path -> (3, H, W) target: a view and its held-out tiles (`split_renders`) share targets
        self._targets = ByteLRU(budget_bytes)
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Bytes held."""
        return self._targets.used

    def get(self, view: View, i: int) -> np.ndarray:
        """(3, H, W) target for render `i` of `view`."""
        key = view.renders[i].path
        with self._lock:
            hit = self._targets.get(key)
            if hit is not None:
                return hit
            if self.source == "ensemble":
                frames = [self.cache.get(view.renders[i])]
            else:
                frames = [self.cache.get(r) for j, r in enumerate(view.renders) if j != i]
            mean = lambda bufs: np.mean([b.astype(np.float32) for b in bufs], axis=0).transpose(1, 2, 0)  # noqa: E731
            aux = self.denoiser.backend.config.aux
            y = self.denoiser.denoise_arrays(mean([f.color for f in frames]),
                                             mean([f.albedo for f in frames]) if aux else None,
                                             mean([f.normal for f in frames]) if aux else None, passes=self.passes)
            target = np.ascontiguousarray(y.transpose(2, 0, 1))  # (3, H, W)
            if float(target.max(initial=0.0)) < float(np.finfo(np.float16).max):
                target = target.astype(np.float16)
            self.computed += 1
            self._targets.put(key, target)
            return target

    def prefill(self, views: Sequence[View], *, progress: bool = True) -> bool:
        """Compute every render's target now (a progress bar instead of slow first steps) when all of them fit
        in the budget; False (nothing computed) when they do not, and targets are made on first use."""
        keys = [(v, i) for v in views for i in range(len(v.renders))]
        # float16 (3, H, W) per render
        needed = sum(len(v.renders) * 6 * int(np.prod(self.cache.get(v.renders[0]).color.shape[1:])) for v in views)
        if needed > self._targets.budget:
            return False
        for v, i in tqdm(keys, desc=f"teacher targets ({self.source}, {self.passes} pass(es))", unit="render",
                         disable=not progress, dynamic_ncols=True):
            self.get(v, i)
        return True


class PairSampler:
    """Draws random crops of (input render, target render) pairs from the training views."""

    def __init__(self, views: Sequence[View], cache: FrameCache, *, crop: int, target: str = "noisy",
                 augment: bool = True, mix_spp: bool = False, teacher: TeacherTargets | None = None) -> None:
        if (target in TEACHER_TARGETS) != (teacher is not None):
            raise ValueError("targets 'teacher' and 'ensemble' and a TeacherTargets go together")
        if teacher is not None and mix_spp:
            raise DataError(f"--target {target} takes its targets from a model, per render: use it without --mix-spp")
        self.views = list(views)
        self.cache = cache
        self.crop = crop
        self.target = target
        self.teacher = teacher
        # Inputs at several sample counts: the mean of 1 to k-1 of a view's k renders (the target is
        # drawn from the renders left, so it stays independent of the input and unbiased).
        self.mix_spp = mix_spp
        self.augment = augment  # flips/rotations, one RGB permutation, normal axis permutations/signs

    def sample(self, rng: np.random.Generator, batch: int) -> Batch:
        """`batch` crops; all randomness comes from `rng` (so a step's batch is reproducible)."""
        items = [self._item(rng) for _ in range(batch)]
        weights = [it[5] for it in items]
        weight = None
        if any(w is not None for w in weights):  # a shot's own views, with held-out tiles
            weight = np.stack([np.ones_like(items[0][0][:1]) if w is None else w for w in weights])
        return Batch(*(np.stack([it[i] for it in items]) for i in range(4)), np.stack([it[4] for it in items]), weight)

    def _item(self, rng: np.random.Generator) -> tuple[Any, ...]:
        """One augmented crop: color, albedo, normal, exposure, target, and the loss weight (None: all 1)."""
        view = self.views[int(rng.integers(len(self.views)))]
        if self.target == "clean":
            a = self.cache.get(view.renders[int(rng.integers(len(view.renders)))])
            b = self.cache.get(view.reference, need_aux=False)
            others = [b]
            inputs = [a]
        else:
            n = len(view.renders)
            order = rng.permutation(n)  # random order swaps the roles
            m = int(rng.integers(1, n)) if self.mix_spp and n > 2 else 1  # renders averaged into the input
            inputs = [self.cache.get(view.renders[int(j)]) for j in order[:m]]
            a = inputs[0]
            rest = order[m:] if self.target == "mean" else order[m : m + 1]
            others = [] if self.teacher else [self.cache.get(view.renders[int(j)]) for j in rest]
        h, w = a.color.shape[1:]
        c = self.crop
        y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
        k = int(rng.integers(8)) if self.augment else 0
        # One RGB permutation for color, albedo and target (OIDN's augmentation): the noise and the
        # mean permute together, so the target stays an unbiased estimate of the permuted input's mean.
        rgb = rng.permutation(3) if self.augment else np.arange(3)
        crop = lambda arr: np.ascontiguousarray(orient(arr[:, y : y + c, x : x + c], k, axes=(1, 2)), np.float32)  # noqa: E731
        normal = crop(a.normal)
        if self.augment:  # normals may be world- or camera-space depending on the renderer: randomise the frame
            normal = normal[rng.permutation(3)] * rng.choice(np.array([-1.0, 1.0], np.float32), size=(3, 1, 1))

        def mean_crop(frames: list[CachedFrame]) -> np.ndarray:
            """Mean of the frames' color crops (a copy: a full-frame crop may be the cached array itself)."""
            out = crop(frames[0].color).copy()
            for f in frames[1:]:
                out += crop(f.color)
            return out / len(frames)

        if self.teacher is not None:
            target = crop(self.teacher.get(view, int(order[0])))
        else:
            target = mean_crop(others)
        color_, albedo = mean_crop(inputs), crop(a.albedo)
        mask = view.mask(h, w)
        weight = None if mask is None else crop(mask[None])
        return (color_[rgb], albedo[rgb], normal.astype(np.float32), np.float32(a.exposure),
                np.ascontiguousarray(target[rgb]), weight)


class Prefetcher:
    """Builds the batches of steps start, start+1, ... on a background thread, a few steps ahead.

    Cropping, augmenting and the occasional frame decode then overlap the training step. Batches depend
    only on their step (`make(step)`), so the result is the same as building them in the loop.
    """

    def __init__(self, make: Callable[[int], Batch], start: int, depth: int = 2) -> None:
        self._make = make
        self._queue: queue.Queue[tuple[int, Batch | BaseException]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(start,), name="mcdenoise-batches", daemon=True)
        self._thread.start()

    def _run(self, step: int) -> None:
        """Worker: make batches in step order until stopped; an exception is handed to the consumer."""
        while not self._stop.is_set():
            try:
                item: Batch | BaseException = self._make(step)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the training thread
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put((step, item), timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return
            step += 1

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        """The next step's batch (raises what the worker raised)."""
        _, item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the worker and wait for it."""
        self._stop.set()
        self._thread.join(timeout=5)
