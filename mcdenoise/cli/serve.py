"""`mcdenoise serve`: run the HTTP denoising service (POST /denoise)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mcdenoise.cli.common import model_options
from mcdenoise.errors import McDenoiseError

EPILOG = """examples:
  mcdenoise serve                                   http://127.0.0.1:8000, docs at /docs
  MCDENOISE_API_KEY=... mcdenoise serve --host 0.0.0.0 --workers 2
  curl -f --data-binary @shot.exr -H 'Content-Type: image/x-exr' http://127.0.0.1:8000/denoise -o shot_dn.exr

Every setting is an environment variable MCDENOISE_<NAME> (see README): MAX_UPLOAD_MB, MAX_PIXELS,
MAX_CONCURRENCY, MAX_QUEUE, API_KEY, NAN_POLICY, MAX_MEMORY_MB, THREADS, BACKEND, ...
"""


def _check_port_free(host: str, port: int, source: str) -> None:
    """Raise a one-line error when (host, port) cannot be listened on, before any model is loaded."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise McDenoiseError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            raise McDenoiseError(f"cannot listen on {host}:{port} ({exc.strerror}); another process may be using "
                                 f"it: pick another port with {source}") from None


def run(args: argparse.Namespace) -> int:
    """Run the HTTP service with uvicorn (settings: MCDENOISE_* environment, overridden by options)."""
    try:
        import uvicorn
        from pydantic import ValidationError

        from mcdenoise.server.settings import Settings
    except ImportError as exc:
        raise McDenoiseError(f"serve needs the serve extra ({exc.name} is missing): pip install 'mcdenoise[serve]'") from None
    options = {"model": args.model, "host": args.host, "port": args.port, "workers": args.workers, "device": args.device}
    given = {name for name, value in options.items() if value is not None}
    for name in given:  # the environment carries them to every uvicorn worker process
        os.environ[f"MCDENOISE_{name.upper()}"] = str(options[name])
    try:
        settings = Settings()
    except ValidationError as exc:
        def source(loc: tuple) -> str:
            """Name the flag when the bad value came from the command line, else the variable."""
            name = "_".join(map(str, loc))
            return f"--{name.replace('_', '-')}" if name in given else f"MCDENOISE_{name.upper()}"

        problems = "; ".join(f"{source(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise McDenoiseError(f"bad service settings: {problems}") from None
    from mcdenoise.shipped import SHIPPED, shipped_name

    if not shipped_name(settings.model) and not os.path.isfile(settings.model):
        raise McDenoiseError(f"{settings.model}: no such model file (or shipped model: {', '.join(SHIPPED)})")
    _check_port_free(settings.host, settings.port, "--port" if "port" in given else "MCDENOISE_PORT")
    import copy

    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # uvicorn's, plus our access/info lines
    log_config["loggers"]["mcdenoise"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run("mcdenoise.server.app:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="info", log_config=log_config)
    return 0


def add_parser(sub: Any) -> None:
    """Declare the subcommand and its options."""
    p = sub.add_parser("serve", help="run the HTTP denoising service (POST /denoise)",
                       epilog=EPILOG)
    model_options(p, backend=False, device=False)
    p.add_argument("--host", help="interface (default 127.0.0.1; 0.0.0.0 in containers)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--workers", type=int, help="worker processes, each with its own model (default 1)")
    p.add_argument("--device", help="auto (CUDA when available; the default), cpu, cuda or cuda:N")
    p.set_defaults(func=run)
