"""The HTTP denoising service (`mcdenoise serve`, or `uvicorn mcdenoise.server.app:app`).

Installed as `mcdenoise.server` (the repository's `server/` folder); needs the `serve` extra
(FastAPI, uvicorn, pydantic-settings, onnxruntime) and no PyTorch.
"""

from mcdenoise.server.app import create_app
from mcdenoise.server.settings import Settings

__all__ = ["Settings", "create_app"]
