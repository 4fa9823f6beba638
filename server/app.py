"""The FastAPI app: `POST /denoise` (EXR in, EXR out), health, readiness, model info and metrics.

    uvicorn mcdenoise.server.app:app            # settings from MCDENOISE_* environment variables
    mcdenoise serve --port 8000                 # the same, with command-line overrides

The model is loaded once per process in the lifespan handler; inference (EXR decoding, the shared
`mcdenoise.infer` path, EXR encoding) runs in a worker thread so health checks stay responsive, behind
a bounded concurrency limit and wait queue. Domain errors map to HTTP statuses in one table.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from urllib.parse import quote
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.datastructures import UploadFile

from mcdenoise import __version__
from mcdenoise.architecture import receptive_field
from mcdenoise.errors import AovError, ExrError, ImageTooLarge, McDenoiseError
from mcdenoise.exr import encode_exr, read_frame
from mcdenoise.infer import Denoiser, denoised_image, input_pixel_type
from mcdenoise.server.deps import Auth, DenoiserDep, RegistryDep, Unauthorized
from mcdenoise.server.limits import BodyLimit, Busy, Limiter, SlowUpload, UploadTooLarge
from mcdenoise.server.models_api import router as models_router
from mcdenoise.server.registry import BadModel, BadModelName, ModelRegistry, ModelTooLarge, NoModelsDir, UnknownModel
from mcdenoise.server.metrics import Metrics, MetricsMiddleware
from mcdenoise.server.settings import Settings

log = logging.getLogger(__name__)

EXR_TYPES = ("image/x-exr", "application/octet-stream")  # raw-body uploads
EXR_MEDIA = "image/x-exr"


class UnsupportedMedia(McDenoiseError):
    """The request is neither multipart/form-data nor a raw EXR body."""


class BadPixels(McDenoiseError):
    """NaN/Inf pixels with nan=reject."""


class MissingField(McDenoiseError):
    """A multipart request without its `color` file."""


class TooManyPasses(McDenoiseError):
    """?passes= above the service's max_passes."""


# Domain errors -> HTTP status, first match wins (subclasses before their bases).
ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (Unauthorized, 401), (UnknownModel, 404), (SlowUpload, 408), (NoModelsDir, 409), (ImageTooLarge, 413),
    (UploadTooLarge, 413), (ModelTooLarge, 413), (UnsupportedMedia, 415), (BadModelName, 422), (BadModel, 422),
    (MissingField, 422), (TooManyPasses, 422), (AovError, 422), (BadPixels, 422), (Busy, 503), (ExrError, 400), (McDenoiseError, 400),
]
ERROR_DOCS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not an OpenEXR file, truncated or corrupt EXR, or another bad request"},
    401: {"description": "Missing or wrong API key (only when MCDENOISE_API_KEY is set)"},
    404: {"description": "?model=NAME names no model of this service (GET /v1/models lists them)"},
    408: {"description": "The request body did not arrive within body_timeout_s"},
    413: {"description": "Upload above max_upload_mb, or an image above max_pixels or needing more than "
                         "max_decoded_mb to decode (decided from its headers)"},
    415: {"description": "Content-Type is neither multipart/form-data nor image/x-exr"},
    422: {"description": "No color channels, AOVs missing or of another size, NaN/Inf pixels (nan=reject), "
                         "missing `color` field, passes above max_passes, or a bad query parameter"},
    503: {"description": "Every inference slot and queue place is taken; retry after Retry-After seconds"},
}
for _status in ERROR_DOCS:
    ERROR_DOCS[_status]["content"] = {"application/json": {"example": {"detail": "what went wrong", "error": "ExrError"}}}

UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "description": "Either multipart/form-data with a `color` EXR file (which may already hold albedo and "
                       "normal layers, Blender- or Mitsuba-style) and optional `albedo` and `normal` EXR files of "
                       "the same size; or a raw body (Content-Type: image/x-exr) holding one multilayer EXR.",
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["color"], "properties": {
                "color": {"type": "string", "format": "binary", "description": "the noisy render (EXR)"},
                "albedo": {"type": "string", "format": "binary", "description": "albedo AOV side file (EXR)"},
                "normal": {"type": "string", "format": "binary", "description": "normal AOV side file (EXR)"},
            }}},
            EXR_MEDIA: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@dataclass
class DenoiseParams:
    """Query options of /denoise."""

    layer: Annotated[str | None, Query(description="view layer to denoise (default: the first with color)")] = None
    pixel_type: Annotated[Literal["half", "float"] | None, Query(description="output pixel type (default: the input's)")] = None
    aux: Annotated[Literal["auto", "none"], Query(description="auto: use albedo/normal when present; none: ignore them")] = "auto"
    nan: Annotated[Literal["reject", "replace"] | None, Query(description="NaN/Inf pixels: 422, or replace with 0 "
                                                                          "(default: the server's nan_policy)")] = None
    model: Annotated[str | None, Query(description="a model name from GET /v1/models (default: the service's "
                                                   "own model)")] = None
    passes: Annotated[int, Query(ge=1, le=8, description="also denoise passes-1 flipped/transposed copies and "
                                 "average: cleaner, passes times the time (at most the service's max_passes)")] = 1


async def read_upload(request: Request) -> tuple[bytes, bytes | None, bytes | None, str]:
    """(color, albedo, normal, file name) from a multipart form or a raw EXR body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form(max_files=3, max_fields=3)
        try:
            files = {k: v for k, v in form.items() if isinstance(v, UploadFile)}
            if "color" not in files:
                raise MissingField("multipart upload without a `color` file field (fields: color, albedo, normal)")
            data = {k: await files[k].read() if k in files else None for k in ("color", "albedo", "normal")}
            return data["color"], data["albedo"], data["normal"], files["color"].filename or "upload.exr"
        finally:
            await form.close()  # removes spooled temp files
    if kind in EXR_TYPES:
        return await request.body(), None, None, "upload.exr"
    raise UnsupportedMedia(f"Content-Type {kind or '(none)'!r} is not supported; send multipart/form-data "
                           f"(fields color, albedo, normal) or a raw EXR body as {EXR_MEDIA}")


def run_denoise(denoiser: Denoiser, color: bytes, albedo: bytes | None, normal: bytes | None,
                params: DenoiseParams, settings: Settings) -> tuple[bytes, dict[str, float], int]:
    """Decode, check, denoise and encode one upload (in a worker thread): EXR bytes, timings, pixels."""
    t0 = time.perf_counter()
    frame = read_frame(color, layer=params.layer, albedo=albedo, normal=normal, name="color",
                       max_pixels=settings.max_pixels, max_decode_bytes=int(settings.max_decoded_mb * 2**20))
    nonfinite = {k: n for k, n in frame.sanitized.items() if k.endswith("non-finite")}
    if nonfinite and (params.nan or settings.nan_policy) == "reject":
        detail = ", ".join(f"{n} {k.split()[0]}" for k, n in nonfinite.items())
        raise BadPixels(f"NaN/Inf pixels in the upload ({detail}); fix the render or send ?nan=replace to treat them as 0")
    if params.aux == "none":
        frame.albedo = frame.normal = None
    if denoiser.backend.config.aux and not frame.has_aux:
        raise AovError("this model needs color + albedo + normal; the upload has no "
                       + " and ".join(r for r in ("albedo", "normal") if getattr(frame, r) is None)
                       + " (send them as layers of the color EXR or as albedo/normal form fields, or run the "
                       "service with a color-only model: MCDENOISE_MODEL=color)")
    t1 = time.perf_counter()
    channels, header = denoised_image(denoiser, frame, passes=params.passes)
    t2 = time.perf_counter()
    data = encode_exr(channels, header=header, pixel_type=params.pixel_type or input_pixel_type(frame))
    t3 = time.perf_counter()
    return data, {"decode": t1 - t0, "denoise": t2 - t1, "encode": t3 - t2}, frame.width * frame.height


def content_disposition(filename: str) -> str:
    """`attachment` header for NAME.denoised.exr from an upload's file name (RFC 6266 / RFC 5987).

    The plain `filename=` is a safe ASCII form (no quotes, control characters, path parts); the
    original name, UTF-8 and percent-encoded, goes in `filename*=` for clients that read it.
    """
    base = re.split(r"[\\/]", filename)[-1]  # a client may send a path
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")  # CR, LF, NUL, ...
    stem = (base.rsplit(".", 1)[0] if "." in base else base).strip() or "upload"
    name = f"{stem}.denoised.exr"
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9._ -]", "_", ascii_stem).strip(" .")
    ascii_name = f"{ascii_stem if ascii_stem.strip('_') else 'upload'}.denoised.exr"
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def trim_heap() -> None:
    """Give freed heap pages back to the OS after a request (glibc keeps them otherwise), so the
    process returns to its baseline size between frames."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def error_response(exc: McDenoiseError, retry_after_s: int) -> JSONResponse:
    """The JSON error for a domain exception, with the status from ERROR_STATUS."""
    status = next(code for kind, code in ERROR_STATUS if isinstance(exc, kind))
    headers = {}
    if isinstance(exc, Busy):
        headers["Retry-After"] = str(retry_after_s)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=status, headers=headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A service instance; `settings` default to the MCDENOISE_* environment."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Load the model once; the app answers /readyz with 200 only after this."""
        def open_model(source: str | bytes | None) -> Denoiser:
            """A Denoiser for the default or a named model, with the service's settings."""
            return Denoiser(source, backend=settings.backend, device=settings.device,
                            max_memory_mb=settings.max_memory_mb, threads=settings.threads,
                            release_memory=settings.release_memory, energy_match=settings.energy_match)

        app.state.denoiser = await anyio.to_thread.run_sync(open_model, settings.model)
        app.state.limiter = Limiter(settings.max_concurrency, settings.max_queue, settings.queue_timeout_s)
        app.state.registry = ModelRegistry(app.state.denoiser, settings.models_dir,
                                           max_loaded=settings.max_loaded_models, open_model=open_model)
        log.info("model %s ready", app.state.denoiser.backend.describe())
        yield
        app.state.denoiser = None

    app = FastAPI(title="mcdenoise", version=__version__, lifespan=lifespan,
                  description="Noise2Noise Monte Carlo render denoiser: POST an EXR with color + albedo + normal, "
                              "get the denoised EXR back. Errors are JSON: {\"detail\": message, \"error\": kind}.")
    app.state.settings, app.state.metrics, app.state.denoiser = settings, metrics, None
    app.include_router(models_router)
    app.add_middleware(BodyLimit, max_bytes=int(settings.max_upload_mb * 2**20))  # model uploads too
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last = outermost: sees the 413s too

    @app.exception_handler(McDenoiseError)
    async def domain_error(request: Request, exc: McDenoiseError) -> JSONResponse:
        """Every user-facing error, mapped in one place (ERROR_STATUS)."""
        return error_response(exc, settings.retry_after_s)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Framework errors (bad multipart, too many fields, 404, 405) in the same {detail, error} format."""
        return JSONResponse({"detail": str(exc.detail), "error": "HTTPError"}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A bad query value: 422 in the same format, one readable line."""
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
                           for e in exc.errors())
        return JSONResponse({"detail": detail, "error": "BadParameter"}, status_code=422)

    @app.post("/denoise", dependencies=[Auth], response_class=Response, openapi_extra=UPLOAD_DOC,
              responses={200: {"content": {EXR_MEDIA: {}}, "description": "the denoised EXR (input header kept); "
                               "headers Server-Timing and X-Mcdenoise-Model"}, **ERROR_DOCS})
    async def denoise(request: Request, registry: RegistryDep, params: Annotated[DenoiseParams, Depends()]) -> Response:
        """Denoise one EXR frame (color + albedo + normal)."""
        limiter: Limiter = request.app.state.limiter
        registry.check(params.model)  # an unknown model name is refused before the body is read
        if params.passes > settings.max_passes:
            raise TooManyPasses(f"passes={params.passes} is above this service's limit of {settings.max_passes} "
                                "(max_passes)")
        async with limiter.admit():  # a place is taken (or 503) before the body is read
            try:
                with anyio.fail_after(settings.body_timeout_s):
                    color, albedo, normal, filename = await read_upload(request)
            except TimeoutError:
                raise SlowUpload(f"the request body did not arrive within {settings.body_timeout_s:g} s "
                                 "(body_timeout_s)") from None
            start = time.perf_counter()
            async with limiter.slot():
                waited = time.perf_counter() - start
                try:
                    denoiser = await anyio.to_thread.run_sync(registry.get, params.model)  # loads on first use
                    data, timings, pixels = await anyio.to_thread.run_sync(
                        run_denoise, denoiser, color, albedo, normal, params, settings)
                finally:
                    del color, albedo, normal
                    if settings.release_memory:
                        await anyio.to_thread.run_sync(trim_heap)
        metrics.pixels += pixels
        timing = ", ".join(f"{k};dur={1000 * v:.1f}" for k, v in {"queue": waited, **timings}.items())
        return Response(data, media_type=EXR_MEDIA, headers={
            "Server-Timing": timing, "X-Mcdenoise-Model": denoiser.model_name,
            "X-Mcdenoise-Model-Version": denoiser.backend.model_version,
            "Content-Disposition": content_disposition(filename)})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "model not loaded"}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the model is loaded (route traffic here)."""
        denoiser: Denoiser | None = request.app.state.denoiser
        if denoiser is None:
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True, "backend": denoiser.backend.name, "device": denoiser.backend.device})

    @app.get("/v1/model", dependencies=[Auth], responses={401: ERROR_DOCS[401]})
    async def model_info(denoiser: DenoiserDep) -> dict[str, Any]:
        """The loaded model: name, version, network config, backend and execution provider."""
        b = denoiser.backend
        return {"name": b.model_name, "version": b.model_version, "config": b.config.to_dict(),
                "alignment": b.config.alignment, "receptive_field": receptive_field(b.config),
                "backend": b.name, "provider": b.device, "mcdenoise_version": __version__,
                "max_memory_mb": denoiser.max_memory_mb}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics_text(request: Request) -> PlainTextResponse:
        """Prometheus metrics."""
        limiter: Limiter | None = getattr(request.app.state, "limiter", None)
        return PlainTextResponse(metrics.render(limiter.waiting if limiter else 0),
                                 media_type="text/plain; version=0.0.4")

    return app


def __getattr__(name: str) -> Any:
    """`app` for `uvicorn mcdenoise.server.app:app`, built from the environment on first access."""
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
