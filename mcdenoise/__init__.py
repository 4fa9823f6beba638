"""mcdenoise: Noise2Noise Monte Carlo render denoiser."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcdenoise")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from mcdenoise.errors import McDenoiseError

__all__ = ["McDenoiseError", "__version__"]
