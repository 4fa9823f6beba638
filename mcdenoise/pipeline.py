"""The one preprocessing/postprocessing path shared by training, `denoise`, the service and ONNX export.

Order (as in OIDN's infer.py): exposure -> transfer -> pad -> model -> crop -> clamp -> undo exposure.
Everything here is written with torch ops only, so `DenoisePipeline` traces into one ONNX graph.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torch.nn import functional as F

from mcdenoise import color
from mcdenoise.architecture import BASE_BLUR, DEMOD_MIN_ALBEDO, INPUT_OFFSET, MIX_RAISE_MAX, ModelConfig
from mcdenoise.kpn import kpn_output

# Input channel order of the network: the one place it is defined.
INPUT_CHANNELS = ("color.R", "color.G", "color.B", "albedo.R", "albedo.G", "albedo.B",
                  "normal.X", "normal.Y", "normal.Z")
CAP_WINDOW = 5  # the output may not exceed the brightest input pixel of this window around it ...
CAP_FLOOR = 1.0  # ... above this exposed value (highlights only: dark pixels may rise above a few noisy samples)
EMITTER_LEVEL = 16.0  # exposed value of the dimmest channel above which a 2x2 input block counts as an emitter
LOG_MAX = 20.0  # "log" outputs: log(1 + v) is clamped here (v < 5e8) so exp never overflows


def network_input(color_: torch.Tensor, albedo: torch.Tensor | None, normal: torch.Tensor | None,
                  exposure: torch.Tensor, demodulate: bool = False) -> torch.Tensor:
    """(N, 9, H, W) network input from linear color, albedo, normal (each (N, 3, H, W)) and (N,) exposure;
    (N, 3, H, W) for color-only models (albedo and normal None). `demodulate`: the color is divided by
    `demodulation(albedo)` first (`ModelConfig.demodulate`)."""
    exposed = color_ * exposure.view(-1, 1, 1, 1)
    if albedo is None or normal is None:
        if demodulate:
            raise ValueError("a demodulating model needs albedo")
        return color.n2n_forward(exposed) - INPUT_OFFSET
    if demodulate:
        exposed = exposed / demodulation(albedo)
    c = color.n2n_forward(exposed)  # tonemapped exposed color in [0, 1)
    a = albedo.clamp(0.0, 1.0)  # emitters and some renderers write albedo > 1
    n = normal.clamp(-1.0, 1.0) * 0.5 + 0.5  # [-1, 1] -> [0, 1]
    return torch.cat([c, a, n], dim=1) - INPUT_OFFSET


def demodulation(albedo: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) what a demodulating model divides color by and multiplies its output by: the albedo,
    or 1 in channels whose albedo is below DEMOD_MIN_ALBEDO (sky, metals, glass: nothing to divide out)."""
    a = albedo.clamp(0.0, 1.0)
    return torch.where(a >= DEMOD_MIN_ALBEDO, a, torch.ones_like(a))


def network_output(raw: torch.Tensor | tuple[torch.Tensor, ...], exposed: torch.Tensor, cfg: ModelConfig,
                   albedo: torch.Tensor | None = None, emitters: torch.Tensor | None = None) -> torch.Tensor:
    """Exposed linear HDR prediction (N, 3, H, W) from the network's output and the exposed input color.

    "linear" (the paper): the conv output is the radiance. "log": it corrects log(1 + color), so an
    untrained model is the identity (training only has to learn the denoising) and the correction has
    the same relative precision at every brightness. "kpn": per-pixel kernels filter the exposed color
    itself (`mcdenoise.kpn`). The loss always sees linear HDR. A demodulating model (`albedo` (N, 3, H, W)
    needed) does all of this on the color divided by `demodulation(albedo)` and multiplies the result back.
    `emitters`: `emitter_mask(exposed)` when the caller has it already (`mask_emitters` models use it).
    """
    if cfg.demodulate:
        if albedo is None:
            raise ValueError("a demodulating model needs albedo")
        m = demodulation(albedo)  # (N, 3, H, W)
        return m * network_output(raw, exposed / m, replace(cfg, demodulate=False), emitters=emitters)
    if cfg.output == "kpn":
        return kpn_output(tuple(r.float() for r in raw), exposed, cfg.kernel)
    raw = raw.float()
    if cfg.output == "linear":
        return raw
    if cfg.output == "exp":
        return torch.exp(raw.clamp(max=LOG_MAX)) - 1.0
    # The log-space heads: a correction `raw` to a base in log(1 + v) space.
    keep = None
    if cfg.mask_emitters:  # (N, 1, H, W) 1 where the blur may look: not an emitter, nor beside one
        keep = (~near_emitters(emitter_mask(exposed) if emitters is None else emitters)).to(exposed.dtype)

    def blur(t: torch.Tensor, side: int = BASE_BLUR) -> torch.Tensor:
        # count_include_pad=False: the border is a blur of the pixels that exist
        def box(u: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(u, side, stride=1, padding=side // 2, count_include_pad=False)
        if keep is None:
            return box(t)
        # the mean of the kept pixels of the window; inside a large lamp, none: the pixel itself (no blur)
        kept = box(keep)
        return torch.where(kept > 0, box(t * keep) / kept.clamp(min=1e-6), t)

    def lowering(log: torch.Tensor, blurred: torch.Tensor) -> torch.Tensor:
        # what moving to a blurred base takes off log(1 + v): a raise (a dark pixel beside a lamp) is bounded
        return (log - blurred).clamp(min=-MIX_RAISE_MAX)

    if cfg.output == "logblur":
        base = color.log_forward(blur(exposed))
    elif cfg.output == "blurlog":
        base = blur(color.log_forward(exposed))
    elif cfg.output == "mixlog":  # raw: (N, 4, H, W), a correction and the logit of the blurred base's share
        log = color.log_forward(exposed)
        share = torch.sigmoid(raw[:, 3:])  # (N, 1, H, W), 1/2 at a zero output; one share for R, G, B (no colour shift)
        base, raw = log - share * lowering(log, blur(log)), raw[:, :3]
    elif cfg.output == "mixlog3":  # raw: (N, 5, H, W), a correction and the logits of the 5x5 and wide bases' shares
        log = color.log_forward(exposed)
        share = torch.softmax(torch.cat([torch.zeros_like(raw[:, 3:4]), raw[:, 3:5]], dim=1), dim=1)  # (N, 3, H, W)
        base = (log - share[:, 1:2] * lowering(log, blur(log))
                - share[:, 2:3] * lowering(log, blur(log, cfg.wide_blur)))
        raw = raw[:, :3]
    else:  # "log"
        base = color.log_forward(exposed)
    # Not color.log_inverse: that clamps at 0, which would stop the gradient of negative predictions.
    # exp - 1 rather than expm1: ONNX has no Expm1 op.
    return torch.exp((base + raw).clamp(max=LOG_MAX)) - 1.0


def emitter_mask(exposed: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) True where a pixel of the exposed input (N, 3, H, W) lies in a 2x2 block that is white-hot throughout.

    Emitters seen directly are nearly noise-free in the input, but a network sees a small lamp (a few
    pixels at 10,000x the walls) as a cluster of fireflies. A firefly is one pixel: a 2x2 block of them
    at 1-16 spp, every channel above EMITTER_LEVEL (tonemapped 0.97), is vanishingly rare. Coloured
    emitters (a channel below the level) are left to the network.
    """
    dim = exposed.amin(dim=1, keepdim=True)  # (N, 1, H, W): the dimmest channel
    block = -F.max_pool2d(-dim, 2, stride=1)  # (N, 1, H-1, W-1): the minimum of each 2x2 block
    return F.max_pool2d(F.pad(block, (1, 1, 1, 1)), 2, stride=1) > EMITTER_LEVEL  # (N, 1, H, W): in a bright block


def near_emitters(emitters: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) True on `emitters` (`emitter_mask`) and the pixels beside them (a lamp's antialiased edge)."""
    return F.max_pool2d(emitters.float(), 3, stride=1, padding=1) > 0


def cap_overshoot(y: torch.Tensor, exposed: torch.Tensor, emitters: torch.Tensor) -> torch.Tensor:
    """Clip the exposed prediction (N, 3, H, W) to the brightest input pixel within CAP_WINDOW, per channel.

    A denoised pixel is an average of samples, so it cannot be brighter than every noisy pixel around
    it; log-space heads break that at small emitters, where a small error in log space overshoots by
    2-3x in linear HDR (issue 12), and the energy match would then darken the whole frame to pay for it.
    The bound leaves out `emitters` (N, 1, H, W) and the pixels next to them (a lamp's antialiased edge):
    a lamp's light is not evidence for a bright wall beside it, and networks smear it into a halo of
    10-300x the reference there (most of the held-out lamp rooms' HDR error, BENCHMARKS.md stop 20).
    Every pixel's own input still bounds it, so an edge pixel keeps its partial coverage. Below CAP_FLOOR
    (exposed; mid-grey is about 0.18) nothing is clipped: at 1-4 spp a dim pixel's clean value can exceed
    all of its neighbours' few samples.
    """
    near = near_emitters(emitters)  # (N, 1, H, W)
    source = torch.where(near, torch.zeros_like(exposed), exposed)
    bound = torch.maximum(F.max_pool2d(source, CAP_WINDOW, stride=1, padding=CAP_WINDOW // 2), exposed)
    return torch.minimum(y, bound.clamp(min=CAP_FLOOR))


def keep_emitters(y: torch.Tensor, exposed: torch.Tensor, emitters: torch.Tensor) -> torch.Tensor:
    """Return the input itself (N, 3, H, W) on `emitters` (`emitter_mask`).

    A network halves a small lamp; where such lamps hold most of a frame's energy, the energy match then
    brightens everything else to pay for it (+26% on a held-out lamp room, -4 dB; BENCHMARKS.md stop 17).
    """
    return torch.where(emitters, exposed, y)


def finite_or_zero(x: torch.Tensor) -> torch.Tensor:
    """NaN and +-Inf -> 0, as `mcdenoise.frame.sanitize_frame` does, so the ONNX graph is safe on its own.

    |x| <= max is False exactly for NaN and +-Inf: 3 elementwise ops (nan_to_num exports as 10).
    """
    return torch.where(x.abs() <= torch.finfo(x.dtype).max, x, torch.zeros_like(x))


def pad_to(x: torch.Tensor, alignment: int) -> torch.Tensor:
    """Pad the bottom/right edges (replicating border pixels) so H and W are multiples of `alignment`."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % alignment, (-w) % alignment
    # Always a Pad op (possibly of 0), so an ONNX trace keeps it for every input size.
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


class InferenceNet(nn.Module):
    """The U-Net for inference on CPUs: channels_last (oneDNN's fast layout), in bfloat16 when `bf16`.

    Float32 in and out, so the pipeline around it (tonemap, log-space base, exp, cap) keeps full range.
    On an AMX Xeon, a 1 MP frame: 1.6 s float32 NCHW, 0.84 s channels_last, 0.41 s bf16 (BENCHMARKS.md stop 37).
    """

    def __init__(self, net: nn.Module, bf16: bool) -> None:
        super().__init__()
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.net = net.to(self.dtype).to(memory_format=torch.channels_last)
        self.cfg, self.alignment = net.cfg, net.alignment  # what DenoisePipeline reads

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """(N, C, H, W) float32 -> the U-Net's output(s), float32."""
        out = self.net(x.to(self.dtype).contiguous(memory_format=torch.channels_last))
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


class DenoisePipeline(nn.Module):
    """Linear color/albedo/normal (N, 3, H, W) -> denoised linear color (N, 3, H, W), >= 0."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.alignment = int(net.alignment)
        self.aux = bool(net.cfg.aux)  # False: a color-only model, albedo and normal are ignored

    def forward(self, color_: torch.Tensor, albedo: torch.Tensor | None = None, normal: torch.Tensor | None = None,
                exposure: torch.Tensor | None = None) -> torch.Tensor:
        """Run exposure, transfer, pad, model, highlight cap, emitters, crop, clamp and inverse exposure.

        `exposure` (N,): the image-wide scale, given when this call sees one tile of a larger frame
        (every tile must share the full frame's exposure); None computes it from `color_`.
        """
        h, w = color_.shape[-2:]
        color_ = finite_or_zero(color_)
        if self.aux:
            if albedo is None or normal is None:
                raise ValueError("this model needs albedo and normal")
            albedo, normal = finite_or_zero(albedo), finite_or_zero(normal)
        else:
            albedo = normal = None
        if exposure is None:
            exposure = color.autoexposure(color_)  # (N,)
        scale = exposure.view(-1, 1, 1, 1)
        demodulate = self.net.cfg.demodulate
        x = pad_to(network_input(color_, albedo, normal, exposure, demodulate), self.alignment)
        exposed = pad_to(color_ * scale, self.alignment)
        albedo = pad_to(albedo, self.alignment) if demodulate else None
        emitters = emitter_mask(exposed)
        y = cap_overshoot(network_output(self.net(x), exposed, self.net.cfg, albedo, emitters), exposed, emitters)
        y = keep_emitters(y, exposed, emitters)[..., :h, :w]  # exposed linear HDR
        return y.clamp(min=0.0) / scale
