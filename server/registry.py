"""Named models for the service: the configured default plus `.onnx` files in a models directory.

A studio fits one model per shot or sequence and serves them by name (`?model=sq010`). Models load
lazily and at most `max_loaded` stay in memory (least recently used is dropped). Uploads are
size-capped, validated by loading them (an mcdenoise ONNX export, by its metadata) before they are
written, and written atomically under a checked name, so a bad upload changes nothing.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcdenoise.atomic import atomic_write_bytes
from mcdenoise.backends import OnnxBackend
from mcdenoise.errors import McDenoiseError, ModelError
from mcdenoise.infer import Denoiser
from mcdenoise.shipped import SHIPPED

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # no path separators, no leading dot
DEFAULT = "default"  # the name of the model the service was started with


class UnknownModel(McDenoiseError):
    """`?model=NAME` names no model of this service."""


class BadModelName(McDenoiseError):
    """An upload name with path tricks or odd characters."""


class BadModel(McDenoiseError):
    """An upload that is not an mcdenoise ONNX model."""


class ModelTooLarge(McDenoiseError):
    """An upload above max_model_mb."""


class NoModelsDir(McDenoiseError):
    """Uploads need a models directory (MCDENOISE_MODELS_DIR)."""


def check_name(name: str) -> str:
    """`name` when it can name a model file; raise BadModelName otherwise."""
    if not NAME_PATTERN.match(name) or name.endswith(".onnx") or ".." in name:
        raise BadModelName(f"bad model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                           "letter or digit, without the .onnx suffix")
    return name


class ModelRegistry:
    """Name -> loaded Denoiser, loading on first use, keeping the `max_loaded` most recently used."""

    def __init__(self, default: Denoiser, models_dir: Path | None, open_model: Callable[[str | bytes], Denoiser],
                 max_loaded: int) -> None:
        self.default = default
        self.models_dir = models_dir
        self._open = open_model  # path or bytes -> Denoiser, with the service's backend/device/memory settings
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, Denoiser] = OrderedDict()
        self._lock = threading.Lock()  # requests resolve models from worker threads

    def _file(self, name: str) -> Path | None:
        """The model file of a name in the models directory, if there is one."""
        if self.models_dir is None:
            return None
        path = self.models_dir / f"{name}.onnx"
        return path if path.is_file() else None

    def _source(self, name: str) -> str:
        """What `name` loads from (a models-dir file or a shipped name); raise when there is none."""
        check_name(name)
        path = self._file(name)
        if path is not None:
            return str(path)
        if name in SHIPPED:
            return name
        raise UnknownModel(f"no model named {name!r}; GET /v1/models lists them")

    def check(self, name: str | None) -> None:
        """Raise, cheaply (nothing is loaded), when `?model=NAME` names no model of this service."""
        if name is not None and name != DEFAULT and name not in self._loaded:
            self._source(name)

    def get(self, name: str | None) -> Denoiser:
        """The model for `?model=NAME` (None or "default": the service's own), loaded on first use."""
        if name is None or name == DEFAULT:
            return self.default
        with self._lock:
            hit = self._loaded.get(name)
            if hit is not None:
                self._loaded.move_to_end(name)
                return hit
            denoiser = self._open(self._source(name))
            self._loaded[name] = denoiser
            while len(self._loaded) > self.max_loaded:
                old, _ = self._loaded.popitem(last=False)
                log.info("model %s unloaded (max_loaded_models %d)", old, self.max_loaded)
            log.info("model %s loaded (%s)", name, denoiser.backend.describe())
            return denoiser

    def names(self) -> list[dict[str, Any]]:
        """Every model this service can run, for GET /v1/models."""
        out = [{"name": DEFAULT, "model": self.default.model_name, "version": self.default.backend.model_version,
                "source": "service default", "loaded": True}]
        out += [{"name": n, "source": "shipped", "loaded": n in self._loaded} for n in SHIPPED]
        if self.models_dir is not None and self.models_dir.is_dir():
            for path in sorted(self.models_dir.glob("*.onnx")):
                if NAME_PATTERN.match(path.stem):
                    out.append({"name": path.stem, "source": "models_dir", "bytes": path.stat().st_size,
                                "loaded": path.stem in self._loaded})
        return out

    def put(self, name: str, data: bytes, max_bytes: int) -> dict[str, Any]:
        """Validate and store an uploaded ONNX model under `name` (atomically); return its description."""
        check_name(name)
        if name == DEFAULT or name in SHIPPED:
            raise BadModelName(f"{name!r} is a built-in model name; choose another")
        if self.models_dir is None:
            raise NoModelsDir("this service has no models directory; start it with MCDENOISE_MODELS_DIR=/path")
        if len(data) > max_bytes:
            raise ModelTooLarge(f"model upload of {len(data) / 2**20:.1f} MB is larger than the limit of "
                                f"{max_bytes / 2**20:g} MB (max_model_mb)")
        if not data:
            raise BadModel("empty upload; send the .onnx file's bytes as the request body")
        try:
            backend = OnnxBackend(data, device="cpu")  # loads the graph and reads the mcdenoise metadata
        except ModelError as exc:
            raise BadModel(f"not an mcdenoise ONNX model: {str(exc).split(': ', 1)[-1]}") from None
        self.models_dir.mkdir(parents=True, exist_ok=True)
        path = atomic_write_bytes(self.models_dir / f"{name}.onnx", data)
        with self._lock:
            self._loaded.pop(name, None)  # the next request loads the new version
        log.info("model %s stored (%s, %d bytes)", name, backend.model_version, len(data))
        return {"name": name, "model": backend.model_name, "version": backend.model_version, "bytes": len(data),
                "config": backend.config.to_dict(), "path": str(path)}
