"""OpenEXR reading and writing: multi-part, tiled, any compression, renderer AOV naming.

Rules worth knowing:
- Pixels land in the file's *display window*. Parts of the data window outside it are cropped and
  display-window pixels the data window does not cover are 0 (OpenEXR's own convention).
- Channel names are matched against `mcdenoise.channels.AOV_TABLE`; in a multi-part file whose
  channels are stored without their part's prefix, the part name is prepended first.
- Writes are atomic (temporary file in the same folder, then rename) and never replace a file that
  was named as an input.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import OpenEXR

from mcdenoise import native
from mcdenoise.atomic import atomic_write
from mcdenoise.channels import (
    RULES,
    WRITE_NAMES,
    BufferSource,
    ChannelRef,
    Detection,
    channel_listing,
    detect,
    find_buffer,
    join_channel,
    split_channel,
)
from mcdenoise.errors import AovError, ExrError, ImageTooLarge, McDenoiseError
from mcdenoise.frame import Frame, sanitize_frame

log = logging.getLogger(__name__)

ExrSource = Union[str, os.PathLike, bytes, bytearray, memoryview]

EXR_MAGIC = b"\x76\x2f\x31\x01"
HALF_MAX = 65504.0

PIXEL_TYPES: dict[str, Any] = {"half": OpenEXR.HALF, "float": OpenEXR.FLOAT}



def _compression_key(enum_name: str) -> str:
    """'ZIP_COMPRESSION' -> 'zip', 'NO_COMPRESSION' -> 'none'."""
    key = enum_name.removesuffix("_COMPRESSION").lower()
    return "none" if key == "no" else key


# "zip" -> OpenEXR.ZIP_COMPRESSION, ... for every compression this OpenEXR build knows.
COMPRESSIONS: dict[str, Any] = {
    _compression_key(name): value
    for name, value in OpenEXR.Compression.__members__.items()
    if name.endswith("_COMPRESSION")
}

# Header attributes that describe the stored layout; they are rebuilt on write, never copied.
_STRUCTURAL_KEYS = frozenset(
    {"channels", "compression", "dataWindow", "type", "tiles", "chunkCount", "name", "view",
     "version", "lineOrder", "maxSamplesPerPixel"}
)


@dataclass(frozen=True)
class PartInfo:
    """Header facts about one part of an EXR file."""

    index: int
    name: str
    storage: str  # "scanline" | "tiled" | "deepscanline" | "deeptile"
    compression: str  # key of COMPRESSIONS, e.g. "zip"
    data_window: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive)
    display_window: tuple[int, int, int, int]
    channels: tuple[ChannelRef, ...]
    header: dict[str, Any]  # every attribute, as the bindings return them


@dataclass(frozen=True)
class ExrInfo:
    """Everything about an EXR file that its headers tell, read without pixel data."""

    name: str  # path or upload name, for messages
    parts: tuple[PartInfo, ...]

    @property
    def header(self) -> dict[str, Any]:
        """The first part's header."""
        return self.parts[0].header

    @property
    def channels(self) -> list[ChannelRef]:
        """Every channel of every part, with qualified names, in file order."""
        return [ch for part in self.parts for ch in part.channels]

    @property
    def display_window(self) -> tuple[int, int, int, int]:
        """The first part's display window (x0, y0, x1, y1)."""
        return self.parts[0].display_window

    @property
    def width(self) -> int:
        """Display-window width."""
        x0, _, x1, _ = self.display_window
        return x1 - x0 + 1

    @property
    def height(self) -> int:
        """Display-window height."""
        _, y0, _, y1 = self.display_window
        return y1 - y0 + 1


def _display_name(source: ExrSource, name: str | None) -> str:
    """A name for messages: the given name, the path, or '<upload>' for bytes."""
    if name:
        return name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<upload>"
    return os.fspath(source)


def _open(source: ExrSource, name: str, *, header_only: bool) -> OpenEXR.File:
    """Open an EXR from a path or bytes, turning every failure into a one-line ExrError."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ExrError(f"{name}: empty data, not an OpenEXR image")
        if data[:4] != EXR_MAGIC:
            raise ExrError(f"{name}: not an OpenEXR image (bad magic number)")
        target: Any = io.BytesIO(data)
    else:
        path = Path(source)
        if not path.exists():
            raise ExrError(f"{name}: no such file")
        if path.is_dir():
            raise ExrError(f"{name}: is a directory, not an EXR file")
        try:
            with path.open("rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            raise ExrError(f"{name}: cannot read ({exc.strerror})") from exc
        if not magic:
            raise ExrError(f"{name}: empty file, not an OpenEXR image")
        if magic != EXR_MAGIC:
            raise ExrError(f"{name}: not an OpenEXR image (bad magic number)")
        target = str(path)
    try:
        with native.output_captured(f"{name}: OpenEXR", log):
            if header_only:
                return OpenEXR.File(target, header_only=True)
            return OpenEXR.File(target, separate_channels=True)
    except Exception as exc:  # the bindings raise RuntimeError/ValueError with C++ messages
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ExrError(f"{name}: corrupt or unsupported OpenEXR file ({detail})") from exc


def _box(value: Any) -> tuple[int, int, int, int]:
    """An OpenEXR box2i ((x0, y0), (x1, y1)) as a flat tuple."""
    lo, hi = value
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def _enum_name(value: Any) -> str:
    """'HALF' for PixelType.HALF, 'scanlineimage' for Storage.scanlineimage."""
    return getattr(value, "name", str(value).rsplit(".", 1)[-1])


_PIXEL_TYPE_NAMES = ("UINT", "HALF", "FLOAT")
_MULTIPART_FLAG = 0x1000
_HEADER_BYTES = 4 << 20  # headers are read from at most this many leading bytes


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    """A NUL-terminated string at `pos` and the position after it."""
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def _pixel_types(head: bytes) -> list[dict[str, str]]:
    """Per part, channel name -> pixel type, parsed from the raw header bytes.

    The Python bindings only report a channel's type once its pixels are decoded, and `info` and
    size checks must not decode pixels, so the `chlist` attributes are read here directly
    (OpenEXR file layout: magic, version, then NUL-terminated attribute records per header).
    """
    multipart = bool(struct.unpack_from("<i", head, 4)[0] & _MULTIPART_FLAG)
    pos, parts = 8, []
    while True:
        types: dict[str, str] = {}
        name, pos = _cstring(head, pos)
        if not name:  # an empty header name ends the header list (multi-part) or the header
            break
        while name:
            attr_type, pos = _cstring(head, pos)
            (size,) = struct.unpack_from("<i", head, pos)
            pos += 4
            if attr_type == "chlist":
                q = pos
                while head[q] != 0:
                    channel, q = _cstring(head, q)
                    (ptype,) = struct.unpack_from("<i", head, q)
                    types[channel] = _PIXEL_TYPE_NAMES[ptype] if 0 <= ptype < 3 else "?"
                    q += 16  # pixel type, pLinear + 3 reserved bytes, x and y sampling
            pos += size
            name, pos = _cstring(head, pos)
        parts.append(types)
        if not multipart:
            break
    return parts


def _read_head(source: ExrSource) -> bytes:
    """The leading bytes of an EXR, enough to hold its headers."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:_HEADER_BYTES])
    with open(source, "rb") as fh:
        return fh.read(_HEADER_BYTES)


def probe(source: ExrSource, *, name: str | None = None) -> ExrInfo:
    """Read only the headers of an EXR file (cheap: no pixel data is decoded)."""
    label = _display_name(source, name)
    exr = _open(source, label, header_only=True)
    raw_parts = list(exr.parts)
    if not raw_parts:
        raise ExrError(f"{label}: the file has no image parts")
    multi = len(raw_parts) > 1
    try:
        pixel_types = _pixel_types(_read_head(source))
    except (ValueError, IndexError, struct.error, OSError):  # unusual header: types stay unknown
        pixel_types = []
    parts = []
    for index, part in enumerate(raw_parts):
        header = part.header
        part_name = str(header.get("name", "") or "")
        storage = _enum_name(header.get("type", OpenEXR.scanlineimage)).replace("image", "")
        compression = _compression_key(_enum_name(header.get("compression", OpenEXR.NO_COMPRESSION)))
        refs = []
        for ch in header.get("channels", []):
            raw = ch.name
            if ch.xSampling != 1 or ch.ySampling != 1:
                raise ExrError(
                    f"{label}: channel {raw!r} is subsampled ({ch.xSampling}x{ch.ySampling}); "
                    "only full-resolution channels are supported"
                )
            qualified = raw
            if multi and part_name and not raw.startswith(part_name + "."):
                qualified = f"{part_name}.{raw}"
            ptype = pixel_types[index].get(raw, "?") if index < len(pixel_types) else "?"
            refs.append(ChannelRef(qualified, index, raw, ptype))
        parts.append(
            PartInfo(
                index=index,
                name=part_name,
                storage=storage,
                compression=compression,
                data_window=_box(header["dataWindow"]),
                display_window=_box(header["displayWindow"]),
                channels=tuple(refs),
                header=dict(header),
            )
        )
    info = ExrInfo(name=label, parts=tuple(parts))
    if info.width < 1 or info.height < 1:
        raise ExrError(f"{label}: zero-size display window {info.display_window}")
    return info


def check_size(info: ExrInfo, max_pixels: int | None) -> None:
    """Refuse, from the header alone, images larger than `max_pixels` (before allocating)."""
    if max_pixels is None:
        return
    for part in info.parts:
        for x0, y0, x1, y1 in (part.display_window, part.data_window):
            pixels = max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)
            if pixels > max_pixels:
                raise ImageTooLarge(
                    f"{info.name}: {x1 - x0 + 1}x{y1 - y0 + 1} pixels is more than the limit of "
                    f"{max_pixels} pixels"
                )


_DECODED_BYTES = {"HALF": 2, "FLOAT": 4, "UINT": 4}
FRAME_CHANNELS = 10  # float32 planes `read_frame` builds: color, albedo, normal (3 each) and alpha


def decode_bytes(info: ExrInfo) -> int:
    """Memory, in bytes, that decoding this file costs, from its headers alone.

    OpenEXR's Python bindings decode every channel of every part (not only those used), so every
    channel counts, at its stored size; the float32 frame built from it comes on top (`frame_bytes`).
    """
    total = 0
    for part in info.parts:
        x0, y0, x1, y1 = part.data_window
        pixels = max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)
        total += pixels * sum(_DECODED_BYTES.get(ch.pixel_type, 4) for ch in part.channels)
    return total


def frame_bytes(info: ExrInfo) -> int:
    """Memory of the float32 buffers `read_frame` returns for this file's display window."""
    return info.width * info.height * 4 * FRAME_CHANNELS


def check_decode(infos: Iterable[ExrInfo], max_bytes: int | None) -> None:
    """Refuse, from the headers alone, uploads whose decoding would take more than `max_bytes`."""
    if max_bytes is None:
        return
    infos = list(infos)
    need = sum(decode_bytes(i) for i in infos) + frame_bytes(infos[0])
    if need > max_bytes:
        channels = sum(len(i.channels) for i in infos)
        raise ImageTooLarge(
            f"{infos[0].name}: decoding {infos[0].width}x{infos[0].height} pixels with {channels} channels needs "
            f"about {need / 2**20:.0f} MB, more than the limit of {max_bytes / 2**20:g} MB; send only the color, "
            "albedo and normal channels, or a smaller image"
        )


def _place(pixels: np.ndarray, data: tuple[int, int, int, int], display: tuple[int, int, int, int]) -> np.ndarray:
    """Put a data-window array into a zero-filled display-window array (float32, (H, W))."""
    dx0, dy0, dx1, dy1 = data
    wx0, wy0, wx1, wy1 = display
    if (dx0, dy0, dx1, dy1) == (wx0, wy0, wx1, wy1):
        return pixels.astype(np.float32, copy=False)
    out = np.zeros((wy1 - wy0 + 1, wx1 - wx0 + 1), dtype=np.float32)
    # Intersection of the two windows, in absolute pixel coordinates.
    x0, y0, x1, y1 = max(dx0, wx0), max(dy0, wy0), min(dx1, wx1), min(dy1, wy1)
    if x0 <= x1 and y0 <= y1:
        out[y0 - wy0 : y1 - wy0 + 1, x0 - wx0 : x1 - wx0 + 1] = pixels[y0 - dy0 : y1 - dy0 + 1, x0 - dx0 : x1 - dx0 + 1]
    return out


def _read_channels(
    source: ExrSource, info: ExrInfo, wanted: Iterable[ChannelRef], display: tuple[int, int, int, int]
) -> dict[ChannelRef, np.ndarray]:
    """Decode the file once and return each wanted channel as a (H, W) float32 display-window array."""
    exr = _open(source, info.name, header_only=False)
    parts = list(exr.parts)
    out: dict[ChannelRef, np.ndarray] = {}
    for ref in wanted:
        if ref.part >= len(parts):
            raise ExrError(f"{info.name}: truncated or corrupt (pixel data of part {ref.part} could not be read)")
        channel = parts[ref.part].channels.get(ref.raw_name)
        if channel is None or channel.pixels is None:
            raise ExrError(f"{info.name}: truncated or corrupt (channel {ref.name!r} could not be read)")
        pixels = np.asarray(channel.pixels)
        part = info.parts[ref.part]
        x0, y0, x1, y1 = part.data_window
        if pixels.shape != (max(0, y1 - y0 + 1), max(0, x1 - x0 + 1)):
            raise ExrError(f"{info.name}: channel {ref.name!r} has an unexpected shape {pixels.shape}")
        out[ref] = _place(pixels, part.data_window, display)
    return out


def _stack(channels: dict[ChannelRef, np.ndarray], source: BufferSource) -> np.ndarray:
    """(H, W, 3) float32 from a buffer's three channels."""
    return np.stack([channels[ref] for ref in source.channels], axis=-1).astype(np.float32, copy=False)


def _side_source(info: ExrInfo, role: str, layer: str) -> BufferSource:
    """Find `role` in a side file: the main file's layer first, then any layer, then plain RGB/XYZ."""
    notes: list[str] = []
    in_file = dict.fromkeys(split_channel(ch.name)[0] for ch in info.channels)
    layers = [layer] + [name for name in in_file if name != layer]
    for candidate in layers:
        found = find_buffer(info.channels, role, candidate, info.name, notes, side_file=True)
        if found is not None:
            return found
    raise AovError(
        f"{info.name}: no {role} channels found. Channels in the file: {channel_listing(info.channels)}. "
        f"Name them {RULES[role].hint}, or plain R,G,B."
    )


def read_frame(
    source: ExrSource,
    *,
    layer: str | None = None,
    albedo: ExrSource | None = None,
    normal: ExrSource | None = None,
    name: str | None = None,
    max_pixels: int | None = None,
    info: ExrInfo | None = None,
    max_decode_bytes: int | None = None,
) -> Frame:
    """Read color (+ albedo/normal from the same file or side files) into a sanitized Frame.

    `info` is `probe(source)` when the caller already has it (saves reading the headers again).
    `max_pixels` and `max_decode_bytes` refuse (ImageTooLarge) from the headers, before any decoding.
    """
    info = info if info is not None else probe(source, name=name)
    check_size(info, max_pixels)
    detection: Detection = detect(info.channels, info.name, layer)
    sources = dict(detection.sources)
    for note in detection.notes:
        log.info("%s: %s", info.name, note)

    side_files: dict[str, tuple[ExrSource, ExrInfo]] = {}
    for role, side in (("albedo", albedo), ("normal", normal)):
        if side is None:
            continue
        side_info = probe(side)
        check_size(side_info, max_pixels)
        if (side_info.width, side_info.height) != (info.width, info.height):
            raise AovError(
                f"{side_info.name}: {role} is {side_info.width}x{side_info.height} but the color in "
                f"{info.name} is {info.width}x{info.height}"
            )
        sources[role] = _side_source(side_info, role, detection.layer)
        side_files[role] = (side, side_info)
    check_decode([info, *(i for _, i in side_files.values())], max_decode_bytes)

    # Decode each file once, for all the buffers it provides.
    main_refs = [ref for role, src in sources.items() if role not in side_files for ref in src.channels]
    if detection.alpha is not None:
        main_refs.append(detection.alpha)
    decoded = _read_channels(source, info, main_refs, info.display_window)
    for role, (side, side_info) in side_files.items():
        decoded.update(_read_channels(side, side_info, sources[role].channels, side_info.display_window))

    frame = Frame(
        color=_stack(decoded, sources["color"]),
        albedo=_stack(decoded, sources["albedo"]) if "albedo" in sources else None,
        normal=_stack(decoded, sources["normal"]) if "normal" in sources else None,
        alpha=decoded[detection.alpha].copy() if detection.alpha is not None else None,
        header=dict(info.parts[sources["color"].part].header),
        sources=sources,
        layer=detection.layer,
        layers=detection.layers,
        path=info.name,
    )
    return sanitize_frame(frame)


def frame_channels(
    color: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    albedo: np.ndarray | None = None,
    normal: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Channel name -> (H, W) array for the buffers given, named as `channels.WRITE_NAMES` says."""
    out: dict[str, np.ndarray] = {}
    for role, buffer in (("color", color), ("albedo", albedo), ("normal", normal)):
        if buffer is None:
            continue
        if buffer.ndim != 3 or buffer.shape[2] != 3:
            raise ValueError(f"{role} must be (H, W, 3), got {buffer.shape}")
        pass_name, comps = WRITE_NAMES[role]
        for i, comp in enumerate(comps):
            out[join_channel("", pass_name, comp)] = buffer[..., i]
        if role == "color" and alpha is not None:
            out["A"] = alpha
    return out


def _convert(pixels: np.ndarray, pixel_type: str, name: str) -> np.ndarray:
    """Cast one channel to the EXR pixel type, clamping finite values to HALF's range."""
    if pixel_type == "float":
        return np.ascontiguousarray(pixels, dtype=np.float32)
    over = np.abs(pixels) > HALF_MAX
    if over.any():
        log.warning("%d values of channel %s exceed the HALF range and were clamped to %g; "
                    "write FLOAT to keep them", int(over.sum()), name, HALF_MAX)
        pixels = np.clip(pixels, -HALF_MAX, HALF_MAX)
    return np.ascontiguousarray(pixels, dtype=np.float16)


def _build_file(
    channels: Mapping[str, np.ndarray], header: Mapping[str, Any] | None, pixel_type: str, compression: str
) -> tuple[OpenEXR.File, dict[str, Any]]:
    """An in-memory single-part OpenEXR.File; returns it with the header it was given."""
    if pixel_type not in PIXEL_TYPES:
        raise ExrError(f"unknown pixel type {pixel_type!r}; use one of {', '.join(PIXEL_TYPES)}")
    if compression not in COMPRESSIONS:
        raise ExrError(f"unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}")
    if not channels:
        raise ValueError("no channels to write")
    shapes = {np.shape(a) for a in channels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"every channel must be one (H, W) array of the same size, got {shapes}")
    height, width = next(iter(shapes))
    out_header = {k: v for k, v in (header or {}).items() if k not in _STRUCTURAL_KEYS}
    # Keep the input's display window (its origin may be non-zero) when the pixels fill it exactly.
    x0, y0 = 0, 0
    if "displayWindow" in out_header:
        bx0, by0, bx1, by1 = _box(out_header["displayWindow"])
        if (bx1 - bx0 + 1, by1 - by0 + 1) == (width, height):
            x0, y0 = bx0, by0
    window = (np.array([x0, y0], dtype=np.int32), np.array([x0 + width - 1, y0 + height - 1], dtype=np.int32))
    out_header["displayWindow"] = window
    out_header["dataWindow"] = window
    out_header["compression"] = COMPRESSIONS[compression]
    out_header["type"] = OpenEXR.scanlineimage
    pixels = {name: _convert(np.asarray(a), pixel_type, name) for name, a in channels.items()}
    try:
        return OpenEXR.File(out_header, pixels), out_header
    except Exception:  # an attribute the bindings cannot write back: keep only the essentials
        log.warning("some header attributes could not be written and were dropped")
        keep = {k: out_header[k] for k in ("displayWindow", "dataWindow", "compression", "type")}
        for key in ("chromaticities", "pixelAspectRatio", "screenWindowCenter", "screenWindowWidth"):
            if key in out_header:
                keep[key] = out_header[key]
        return OpenEXR.File(keep, pixels), keep


def encode_exr(
    channels: Mapping[str, np.ndarray],
    *,
    header: Mapping[str, Any] | None = None,
    pixel_type: str = "half",
    compression: str = "zip",
) -> bytes:
    """Encode channels into the bytes of a single-part scanline EXR file."""
    exr, _ = _build_file(channels, header, pixel_type, compression)
    stream = io.BytesIO()
    exr.write(stream)
    return stream.getvalue()


def _same_file(a: Path, b: Path) -> bool:
    """True when both paths name one existing file."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write_exr(
    path: str | os.PathLike,
    channels: Mapping[str, np.ndarray],
    *,
    header: Mapping[str, Any] | None = None,
    pixel_type: str = "half",
    compression: str = "zip",
    protect: Iterable[str | os.PathLike] = (),
    overwrite: bool = True,
) -> Path:
    """Atomically write a single-part EXR; refuse to replace any file listed in `protect`."""
    target = Path(path)
    for other in protect:
        if isinstance(other, (str, os.PathLike)) and (
            _same_file(target, Path(other)) or target.resolve() == Path(other).resolve()
        ):
            raise ExrError(f"{target}: refusing to overwrite an input file; choose another output path")
    if target.is_dir():
        raise ExrError(f"{target}: is a directory; give an output file name")
    if target.exists() and not overwrite:
        raise ExrError(f"{target}: already exists (use --force to replace it)")
    if not target.parent.is_dir():
        raise ExrError(f"{target}: output folder {target.parent} does not exist")
    exr, _ = _build_file(channels, header, pixel_type, compression)
    try:
        return atomic_write(target, exr.write)
    except (ExrError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - OpenEXR and OS errors alike mean "could not write"
        raise ExrError(f"{target}: could not write ({exc})") from exc


def describe(path: str, layer: str | None = None, decode: bool = True) -> dict[str, Any]:
    """Everything `mcdenoise info` says about one file, as a JSON-ready dict (an "error" key when unusable)."""

    info = probe(path)
    x0, y0, x1, y1 = info.display_window
    report: dict[str, Any] = {
        "file": path,
        "width": info.width,
        "height": info.height,
        "display_window": [x0, y0, x1, y1],
        "parts": [
            {
                "index": part.index,
                "name": part.name,
                "storage": part.storage,
                "compression": part.compression,
                "data_window": list(part.data_window),
                "channels": [{"name": ch.name, "type": ch.pixel_type} for ch in part.channels],
            }
            for part in info.parts
        ],
    }
    try:
        detection = detect(info.channels, info.name, layer)
    except McDenoiseError as exc:
        report["error"] = str(exc)
        return report
    report["layer"] = detection.layer
    report["layers"] = list(detection.layers)
    report["detected"] = {role: src.describe() for role, src in detection.sources.items()}
    report["alpha"] = detection.alpha.name if detection.alpha else None
    report["notes"] = list(detection.notes)
    if decode:  # headers can be fine while the pixel data is truncated: decode to be sure
        try:
            frame = read_frame(path, layer=detection.layer, info=info)
        except McDenoiseError as exc:
            report["error"] = str(exc)
            return report
        report["pixels"] = {
            "color_mean": float(frame.color.mean()),
            "color_max": float(frame.color.max()),
            "replaced": frame.sanitized,
        }
    return report
