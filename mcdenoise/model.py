"""The Noise2Noise U-Net (Lehtinen et al. 2018, Table 2), sized by a config stored in every checkpoint."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mcdenoise.architecture import PRESETS, ModelConfig, layer_table, receptive_field

__all__ = ["LEAKY_SLOPE", "PRESETS", "ModelConfig", "UNet", "count_parameters", "layer_table", "receptive_field"]

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
