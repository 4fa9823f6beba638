"""Routes of the model registry: `GET /v1/models`, `PUT /v1/models/{name}` (an .onnx file as the raw body)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request

from mcdenoise.server.deps import Auth, RegistryDep, SettingsDep
from mcdenoise.server.limits import SlowUpload
from mcdenoise.server.registry import ModelTooLarge

router = APIRouter(prefix="/v1/models", dependencies=[Auth], tags=["models"])


@router.get("")
async def list_models(registry: RegistryDep) -> list[dict[str, Any]]:
    """Every model `/denoise?model=NAME` accepts: the service default, the shipped ones, the models directory."""
    return registry.names()


@router.put("/{name}", status_code=201, openapi_extra={"requestBody": {
    "required": True, "description": "the .onnx file from `mcdenoise export`, as the raw body",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def put_model(name: str, request: Request, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    """Store a model under NAME after validating it (an mcdenoise ONNX export); replaces NAME's earlier version."""
    limit = int(settings.max_model_mb * 2**20)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:  # refuse before reading the body
        raise ModelTooLarge(f"model upload of {int(declared) / 2**20:.1f} MB is larger than the limit of "
                            f"{settings.max_model_mb:g} MB (max_model_mb)")
    data = bytearray()
    try:
        with anyio.fail_after(settings.body_timeout_s):
            async for chunk in request.stream():
                data += chunk
                if len(data) > limit:
                    raise ModelTooLarge(f"model upload is larger than the limit of {settings.max_model_mb:g} MB "
                                        "(max_model_mb)")
    except TimeoutError:
        raise SlowUpload(f"the model upload did not arrive within {settings.body_timeout_s:g} s") from None
    return await anyio.to_thread.run_sync(registry.put, name, bytes(data), limit)
