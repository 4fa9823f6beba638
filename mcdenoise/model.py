"""The Noise2Noise U-Net (Lehtinen et al. 2018, Table 2), sized by a config stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from mcdenoise.errors import McDenoiseError

LEAKY_SLOPE = 0.1  # leaky ReLU slope of every conv but the last (paper, Table 2)
OUTPUTS = ("linear", "log")


@dataclass(frozen=True)
class ModelConfig:
    """U-Net shape; `ModelConfig()` is the paper's network."""

    in_channels: int = 9  # color (3) + albedo (3) + normal (3), see `mcdenoise.pipeline.INPUT_CHANNELS`
    out_channels: int = 3  # linear HDR RGB
    enc: int = 48  # width of every encoder conv
    dec: int = 96  # width of every decoder conv but the last stage
    head: tuple[int, int] = (64, 32)  # widths of the last decoder stage (full resolution)
    pools: int = 5  # number of 2x2 max-pools (and nearest upsamplings)
    # What the last (linear) conv predicts, see `mcdenoise.pipeline.network_output`:
    # "linear": linear HDR radiance directly (the paper); "log": a correction to the input's
    # log(1 + v) color, mapped back to linear HDR (starts as the identity).
    output: str = "linear"

    @property
    def alignment(self) -> int:
        """Input height and width must be multiples of this (2^pools)."""
        return 2**self.pools

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints (lists, not tuples, so `weights_only` loading accepts it)."""
        d = asdict(self)
        d["head"] = list(self.head)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Rebuild from `to_dict` output; unknown keys are an error (a file from a newer version)."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise McDenoiseError(f"model config has unknown fields {sorted(extra)}; is mcdenoise up to date?")
        d = dict(d)
        if "head" in d:
            d["head"] = tuple(d["head"])
        return cls(**d)


# Named sizes. `fast` keeps the paper's topology at half the width and one pool less: 47k instead of
# 180k multiply-adds per pixel, for CPU training, fitting a scene in minutes and quick previews.
PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "fast": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="log"),
    "tiny": ModelConfig(enc=8, dec=16, head=(16, 8), pools=2, output="log"),  # smoke tests only
}


def layer_table(cfg: ModelConfig) -> list[tuple[str, int, int]]:
    """(name, in_channels, out_channels) of every conv, in order; one line per layer as in the paper."""
    e, d, (h1, h2), c = cfg.enc, cfg.dec, cfg.head, cfg.in_channels
    table = [("enc_conv0", c, e), ("enc_conv1", e, e)]  # full resolution, then pool1
    table += [(f"enc_conv{i}", e, e) for i in range(2, cfg.pools + 1)]  # after pool(i-1), then pool(i)
    table += [(f"enc_conv{cfg.pools + 1}", e, e)]  # bottleneck at 1/2^pools
    for level in range(cfg.pools, 1, -1):  # upsample, concat the encoder output of the level above
        below = e if level == cfg.pools else d
        table += [(f"dec_conv{level}a", below + e, d), (f"dec_conv{level}b", d, d)]
    table += [("dec_conv1a", (d if cfg.pools > 1 else e) + c, h1), ("dec_conv1b", h1, h2)]
    table += [("dec_conv1c", h2, cfg.out_channels)]  # linear output
    return table


class UNet(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W); H and W multiples of `alignment`."""

    def __init__(self, cfg: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        if cfg.pools < 1:
            raise McDenoiseError("a U-Net needs at least one pooling level")
        if cfg.output not in OUTPUTS:
            raise McDenoiseError(f"unknown model output {cfg.output!r}; use one of {', '.join(OUTPUTS)}")
        self.cfg = cfg
        self.convs = nn.ModuleDict({name: nn.Conv2d(cin, cout, 3, padding=1) for name, cin, cout in layer_table(cfg)})
        for name, conv in self.convs.items():
            # He init for leaky ReLU layers; the linear output layer gets gain 1.
            if name == "dec_conv1c" and cfg.output != "linear":
                nn.init.zeros_(conv.weight)  # zero correction: the untrained model returns its input
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the U-Net; output is linear (no activation)."""
        p = self.cfg.pools
        skips = [x]  # skips[k]: tensor at 1/2^k resolution to concatenate on the way up
        h = self._conv("enc_conv1", self._conv("enc_conv0", x))
        h = F.max_pool2d(h, 2)  # (N, enc, H/2, W/2)
        for i in range(2, p + 1):
            skips.append(h)
            h = F.max_pool2d(self._conv(f"enc_conv{i}", h), 2)  # (N, enc, H/2^i, W/2^i)
        h = self._conv(f"enc_conv{p + 1}", h)  # bottleneck
        for level in range(p, 1, -1):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = torch.cat([h, skips[level - 1]], dim=1)
            h = self._conv(f"dec_conv{level}b", self._conv(f"dec_conv{level}a", h))
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = torch.cat([h, skips[0]], dim=1)  # (N, dec + in_channels, H, W)
        h = self._conv("dec_conv1b", self._conv("dec_conv1a", h))
        return self.convs["dec_conv1c"](h)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
