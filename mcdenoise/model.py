"""The Noise2Noise U-Net (Lehtinen et al. 2018, Table 2), sized by a config stored in every checkpoint."""

from __future__ import annotations

from dataclasses import fields

import torch
from torch import nn
from torch.nn import functional as F

from mcdenoise.architecture import PRESETS, ModelConfig, layer_inputs, layer_table, receptive_field
from mcdenoise.errors import McDenoiseError

__all__ = ["LEAKY_SLOPE", "PRESETS", "ModelConfig", "UNet", "count_parameters", "grow", "layer_table", "receptive_field"]

LEAKY_SLOPE = 0.1  # leaky ReLU slope of every conv but the last (paper, Table 2)


class UNet(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W); H and W multiples of `alignment`."""

    def __init__(self, cfg: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.convs = nn.ModuleDict({name: nn.Conv2d(cin, cout, 3, padding=1) for name, cin, cout in layer_table(cfg)})
        for name, conv in self.convs.items():
            # He init for leaky ReLU layers; the linear output layer gets gain 1.
            if (name == "dec_conv1c" and cfg.output != "linear") or name.startswith("kpn_head"):
                # zero correction: the untrained model returns its input ("log"), or a box blur with
                # blend weights of 1/2 ("kpn")
                nn.init.zeros_(conv.weight)
            elif name == "dec_conv1c":
                nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
            else:
                nn.init.kaiming_normal_(conv.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
            nn.init.zeros_(conv.bias)

    @property
    def alignment(self) -> int:
        """Input height and width must be multiples of this."""
        return self.cfg.alignment

    def _conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """3x3 conv followed by leaky ReLU."""
        return F.leaky_relu(self.convs[name](x), LEAKY_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Run the U-Net; output is linear (no activation).

        "kpn" models return one tensor per scale, (N, head_channels(s), H/2^s, W/2^s) for s = 0..scales-1.
        """
        p = self.cfg.pools
        skips = [x]  # skips[k]: tensor at 1/2^k resolution to concatenate on the way up
        h = self._conv("enc_conv1", self._conv("enc_conv0", x))
        h = F.max_pool2d(h, 2)  # (N, enc, H/2, W/2)
        for i in range(2, p + 1):
            skips.append(h)
            h = F.max_pool2d(self._conv(f"enc_conv{i}", h), 2)  # (N, enc, H/2^i, W/2^i)
        h = self._conv(f"enc_conv{p + 1}", h)  # bottleneck
        coarse: list[torch.Tensor] = []  # kpn heads, coarsest first
        for level in range(p, 1, -1):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = torch.cat([h, skips[level - 1]], dim=1)
            h = self._conv(f"dec_conv{level}b", self._conv(f"dec_conv{level}a", h))  # (N, dec, H/2^(level-1), ..)
            if self.cfg.output == "kpn" and level - 1 < self.cfg.scales:
                coarse.insert(0, self.convs[f"kpn_head{level - 1}"](h))
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = torch.cat([h, skips[0]], dim=1)  # (N, dec + in_channels, H, W)
        h = self._conv("dec_conv1b", self._conv("dec_conv1a", h))
        out = self.convs["dec_conv1c"](h)
        if self.cfg.output == "kpn":
            return (out, *coarse)
        return out


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def grow(net: UNet, cfg: ModelConfig, seed: int = 0) -> UNet:
    """A wider `cfg` network that computes exactly what `net` does, to fine-tune with more capacity.

    Every conv keeps its trained weights in its first channels; the added output channels get a fresh
    init and the weights that read them start at zero, so the output is unchanged until training moves
    them (function-preserving widening, as in Net2Net).
    """
    old = net.cfg
    same = [f.name for f in fields(ModelConfig) if f.name not in ("enc", "dec", "head")]
    if any(getattr(old, k) != getattr(cfg, k) for k in same):
        raise McDenoiseError("can only widen a model: the new size must have the same pools, inputs and output "
                             f"({old.pools} pools, {old.in_channels} inputs, {old.output!r} output)")
    old_parts, new_parts = layer_inputs(old), layer_inputs(cfg)
    old_out = {name: cout for name, _, cout in layer_table(old)}
    new_out = {name: cout for name, _, cout in layer_table(cfg)}
    if any(new_out[name] < old_out[name] or any(n < o for n, o in zip(new_parts[name], old_parts[name]))
           for name in new_parts):
        raise McDenoiseError("can only widen a model: every width of the new size must be at least the old one")
    with torch.random.fork_rng(devices=[]):  # seeded fresh channels, the caller's RNG state untouched
        torch.manual_seed(seed)
        wide = UNet(cfg)
        with torch.no_grad():
            for name, conv in wide.convs.items():
                src = net.convs[name]
                conv.weight.zero_()
                # input channels: each concatenated part keeps its old channels first
                start_new = start_old = 0
                for n_new, n_old in zip(new_parts[name], old_parts[name]):
                    conv.weight[: old_out[name], start_new:start_new + n_old] = src.weight[:, start_old:start_old + n_old]
                    start_new, start_old = start_new + n_new, start_old + n_old
                # added output channels: a fresh init reading every input (their readers' weights are zero)
                if new_out[name] > old_out[name]:
                    fresh = nn.Conv2d(conv.in_channels, new_out[name] - old_out[name], 3, padding=1)
                    nn.init.kaiming_normal_(fresh.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
                    conv.weight[old_out[name]:] = fresh.weight
                conv.bias.zero_()
                conv.bias[: old_out[name]] = src.bias
    return wide
