"""Split large frames into overlapping tiles that fit a memory cap (like OIDN's `maxMemoryMB`).

Tiles start on multiples of the model's alignment, so every tile sees the same pooling grid as the
whole frame, and they overlap by half the receptive field on each side: the pixels a tile keeps
have all the context they would have in an untiled run. Each tile keeps the pixels up to the middle
of its overlaps (a hard cut in the middle of the overlap, where both neighbours are exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcdenoise.architecture import ModelConfig, conv_level, layer_inputs, layer_table, receptive_field
from mcdenoise.errors import McDenoiseError

DEFAULT_MAX_MEMORY_MB = 2048  # working memory of one model run; the frame's own buffers come on top
# Working bytes per pixel = this x 4 bytes x the channels of every full-resolution tensor of the U-Net;
# measured: ONNX Runtime on CPU peaks at 1.8x that sum for the `fast` preset (1.2 KB/px).
MEMORY_FACTOR = 2.0


def bytes_per_pixel(cfg: ModelConfig) -> int:
    """Estimated working memory of one model run per input pixel."""
    full_res = cfg.in_channels + sum(cout for name, _, cout in layer_table(cfg) if conv_level(name) == 0)
    full_res += sum(layer_inputs(cfg)["dec_conv1a"])  # the skip concatenation before dec_conv1a
    return int(MEMORY_FACTOR * 4 * full_res)


def tile_overlap(cfg: ModelConfig) -> int:
    """Context kept around each tile: half the receptive field, rounded up to the alignment."""
    half = receptive_field(cfg) // 2
    return -(-half // cfg.alignment) * cfg.alignment


def min_tile_side(cfg: ModelConfig) -> int:
    """Smallest useful tile side: both overlaps plus one alignment step of new pixels."""
    return 2 * tile_overlap(cfg) + cfg.alignment


def check_memory(cfg: ModelConfig, max_memory_mb: float) -> int:
    """Pixels one run may hold within `max_memory_mb`; raise when not even the smallest tile fits."""
    budget = int(max_memory_mb * 2**20 / bytes_per_pixel(cfg))
    if budget < min_tile_side(cfg) ** 2:
        need = math.ceil(min_tile_side(cfg) ** 2 * bytes_per_pixel(cfg) / 2**20)
        raise McDenoiseError(f"--max-memory-mb {max_memory_mb:g} is too small for this model; it needs at least {need}")
    return budget


@dataclass(frozen=True)
class Span:
    """One tile along an axis: read [start, end), keep [keep_start, keep_end) (absolute positions)."""

    start: int
    end: int
    keep_start: int
    keep_end: int


def tile_length(length: int, count: int, overlap: int, alignment: int) -> int:
    """Length of each of `count` equal tiles over `length` pixels (the last may add < alignment);
    0 when `count` tiles would each be as long as the whole axis (splitting gains nothing)."""
    if count == 1:
        return length
    # n tiles of length T, evenly spread, overlap their neighbours by >= 2 overlap when
    # n T >= L + 2 overlap (n - 1); + alignment covers rounding the starts down to the alignment.
    size = -(-(length - 2 * overlap) // count) + 2 * overlap + alignment
    size = -(-size // alignment) * alignment
    return size if size < length else 0


def plan_axis(length: int, count: int, overlap: int, alignment: int) -> list[Span]:
    """`count` equal, evenly spread tiles over [0, length), starting on multiples of `alignment`."""
    size = tile_length(length, count, overlap, alignment)
    if size == 0 or size >= length:
        return [Span(0, length, 0, length)]
    starts = [round(i * (length - size) / (count - 1)) // alignment * alignment for i in range(count)]
    ends = [s + size for s in starts[:-1]] + [length]  # the last tile reaches the edge
    spans = []
    for i, (s, e) in enumerate(zip(starts, ends)):
        keep_start = 0 if i == 0 else (ends[i - 1] + s) // 2  # middle of the overlap with the previous tile
        keep_end = length if i == count - 1 else (e + starts[i + 1]) // 2
        spans.append(Span(s, e, keep_start, keep_end))
    return spans


@dataclass(frozen=True)
class Tile:
    """A rectangle to run the model on and the part of its output to keep."""

    y: Span
    x: Span


def plan_tiles(height: int, width: int, cfg: ModelConfig, max_memory_mb: float = DEFAULT_MAX_MEMORY_MB) -> list[Tile]:
    """The tiling with the fewest computed pixels whose tiles fit the memory cap (one tile if the frame fits)."""
    budget = check_memory(cfg, max_memory_mb)
    if height * width <= budget:
        return [Tile(Span(0, height, 0, height), Span(0, width, 0, width))]
    overlap, align = tile_overlap(cfg), cfg.alignment
    best: tuple[int, int, int, int] | None = None  # (computed pixels, tiles, ny, nx)
    for ny in range(1, height // align + 2):
        th = tile_length(height, ny, overlap, align)
        if th == 0:
            continue
        for nx in range(1, width // align + 2):
            tw = tile_length(width, nx, overlap, align)
            if tw and th * tw <= budget:
                candidate = (ny * nx * th * tw, ny * nx, ny, nx)
                best = candidate if best is None or candidate < best else best
                break  # more columns only add overlap
    if best is None:
        raise McDenoiseError(f"--max-memory-mb {max_memory_mb:g} is too small for a {width}x{height} frame")
    _, _, ny, nx = best
    ys, xs = plan_axis(height, ny, overlap, align), plan_axis(width, nx, overlap, align)
    return [Tile(y, x) for y in ys for x in xs]
