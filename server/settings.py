"""Service configuration from the environment (prefix MCDENOISE_) or keyword arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcdenoise.backends import BACKENDS
from mcdenoise.tiling import DEFAULT_MAX_MEMORY_MB


class Settings(BaseSettings):
    """Every setting can be given as MCDENOISE_<NAME> (e.g. MCDENOISE_MAX_UPLOAD_MB=256)."""

    model_config = SettingsConfigDict(env_prefix="MCDENOISE_", protected_namespaces=())

    model: str = "default"  # a shipped model (mcdenoise.shipped.SHIPPED), or a file: .onnx (.pt needs PyTorch)
    backend: Literal[BACKENDS] = "auto"  # auto: ONNX Runtime (OpenVINO on bf16 CPUs when release_memory is off)
    device: str = "auto"  # auto (CUDA provider when available), cpu, cuda, cuda:N
    threads: int = Field(0, ge=0)  # CPU threads per inference; 0 = all cores this process may use
    max_memory_mb: float = Field(DEFAULT_MAX_MEMORY_MB, gt=0)  # working memory cap; larger frames are tiled
    energy_match: bool = True  # scale each channel to the noisy frame's total (mcdenoise.color.match_energy)
    release_memory: bool = True  # return to the baseline size after each request (ONNX Runtime: 15-40% slower)
    host: str = "127.0.0.1"  # interface to listen on (0.0.0.0 in containers)
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1)  # uvicorn worker processes, each with its own model
    max_upload_mb: float = Field(512, gt=0)  # request bodies above this get 413 (checked while streaming)
    max_pixels: int = Field(8192 * 8192, gt=0)  # larger images get 413, decided from the EXR header
    max_concurrency: int = Field(1, ge=1)  # inferences at once per worker (each already uses every core)
    max_queue: int = Field(8, ge=0)  # requests waiting for a slot; beyond it: 503 with Retry-After
    retry_after_s: int = Field(2, ge=1)  # Retry-After sent with 503 when busy
    max_decoded_mb: float = Field(1024, gt=0)  # decoding one upload (all its channels + the frame) may use this;
    # more gets 413, decided from the EXR headers before decoding
    body_timeout_s: float = Field(60, gt=0)  # the whole request body must arrive within this (else 408)
    queue_timeout_s: float = Field(300, gt=0)  # longest wait for an inference slot once the body is read (else 503)
    api_key: SecretStr | None = None  # when set, /denoise and /v1/model need "Authorization: Bearer <key>"
    models_dir: Path | None = None  # named models (NAME.onnx) for ?model=NAME; PUT /v1/models/NAME writes here
    max_loaded_models: int = Field(4, ge=1)  # named models kept loaded (least recently used dropped first)
    max_model_mb: float = Field(200, gt=0)  # PUT /v1/models/NAME bodies above this get 413
    max_passes: int = Field(8, ge=1, le=8)  # ?passes= above this gets 422 (each pass costs a full denoise)
    nan_policy: Literal["reject", "replace"] = "reject"  # NaN/Inf pixels: 422, or replace by 0 (per request: ?nan=)

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty MCDENOISE_API_KEY= would turn auth on and accept an empty bearer token: refuse it."""
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("MCDENOISE_API_KEY is set but empty; set a real key, or unset it to run without auth")
        return value
