"""FastAPI dependencies shared by the service's route modules: settings, the model registry, the API key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from mcdenoise.errors import McDenoiseError
from mcdenoise.infer import Denoiser
from mcdenoise.server.registry import ModelRegistry
from mcdenoise.server.settings import Settings


class Unauthorized(McDenoiseError):
    """No or a wrong API key."""


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_denoiser(request: Request) -> Denoiser:
    """The service's default model (the lifespan handler put it there)."""
    return request.app.state.denoiser


def get_registry(request: Request) -> ModelRegistry:
    """The named models (the lifespan handler put it there)."""
    return request.app.state.registry


def require_key(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    """Check `Authorization: Bearer <key>` in constant time when an API key is configured."""
    if settings.api_key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = settings.api_key.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Unauthorized("missing or wrong API key; send 'Authorization: Bearer <key>'")


SettingsDep = Annotated[Settings, Depends(get_settings)]
DenoiserDep = Annotated[Denoiser, Depends(get_denoiser)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
Auth = Depends(require_key)


