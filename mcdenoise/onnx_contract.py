"""The contract of mcdenoise's ONNX files: input/output names and what they hold (one place for both
the exporter and the ONNX Runtime backend)."""

from __future__ import annotations

INPUTS = ("color", "albedo", "normal")  # float32 (N, 3, H, W) each, in this order
COLOR_ONLY_INPUTS = ("color",)  # models trained with `fit --no-aux`
OUTPUT = "output"  # float32 (N, 3, H, W)
EXPOSURE = "exposure"  # optional float32 (1,): overridable initializer, default 0

DESCRIPTION = (
    "Inputs: color, albedo, normal: float32 tensors of shape (1, 3, H, W), any H and W, the raw linear "
    "buffers as the renderer wrote them (color: HDR radiance; albedo: [0, 1]; normal: unit vectors in "
    "[-1, 1], world or camera space); NaN and Inf count as 0. Output: output, float32 "
    "(1, 3, H, W), denoised linear HDR color >= 0. Exposure normalization, tonemapping, padding to the "
    "model's alignment and cropping back happen inside the graph. Optional input exposure (float32 (1,), "
    "an overridable initializer): a scale > 0 to use instead of the automatic one, so that the tiles of "
    "one frame share its exposure; <= 0 (the default) computes it from color."
)
COLOR_ONLY_DESCRIPTION = DESCRIPTION.replace("Inputs: color, albedo, normal", "Input: color (a color-only model)")


def input_names(aux: bool) -> tuple[str, ...]:
    """The graph inputs of a model with (aux) or without albedo/normal."""
    return INPUTS if aux else COLOR_ONLY_INPUTS
