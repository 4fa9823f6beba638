"""Exceptions for user-facing mistakes; the CLI turns these into one line and exit code 2."""


class McDenoiseError(Exception):
    """A problem with the user's input or setup, reported without a traceback."""


class ExrError(McDenoiseError):
    """A file is missing, is not an OpenEXR image, or cannot be read or written."""


class ImageTooLarge(ExrError):
    """An image's header claims more pixels than the configured limit (refused before decoding)."""


class AovError(McDenoiseError):
    """The channels of an EXR do not name a usable color/albedo/normal buffer."""


class LayoutError(McDenoiseError):
    """A scene directory does not follow the documented layout."""


class RenderError(McDenoiseError):
    """A scene cannot be rendered (unknown scene, Mitsuba missing, bad settings)."""


class DataError(McDenoiseError):
    """Training data cannot be used (too few renders, mismatched sizes, all-NaN frames)."""


class ModelError(McDenoiseError):
    """A model file is missing, is not an mcdenoise checkpoint, or does not fit the data."""
