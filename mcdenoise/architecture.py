"""The U-Net's shape, without PyTorch: config, named sizes, layer table, receptive field.

Importable where only ONNX Runtime is installed (the service), so a model file's metadata can be
interpreted without PyTorch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mcdenoise.errors import McDenoiseError

OUTPUTS = ("linear", "log")


@dataclass(frozen=True)
class ModelConfig:
    """U-Net shape; `ModelConfig()` is the paper's network."""

    in_channels: int = 9  # 9: color + albedo + normal (`mcdenoise.pipeline.INPUT_CHANNELS`); 3: color only
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
    def aux(self) -> bool:
        """True when the model takes albedo and normal besides color."""
        return self.in_channels == 9

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
# `lean` (20.5k) is sized for CPU inference speed: every width a multiple of 16, so ONNX Runtime's
# blocked (NCHWc) convolutions run without layout reorders (benchmarks/speed.py: ~2x `fast`).
PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "fast": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="log"),
    "lean": ModelConfig(enc=16, dec=32, head=(16, 16), pools=4, output="log"),
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


def conv_level(name: str) -> int:
    """Pooling level (0 = full resolution) a conv of `layer_table` runs at."""
    if name.startswith("enc_conv"):
        return max(int(name[8:]) - 1, 0)  # enc_conv0/1 at full resolution, enc_conv<i> after i-1 pools
    return int(name[8:-1]) - 1  # dec_conv<level>{a,b,c}


def receptive_field(cfg: ModelConfig) -> int:
    """Side in pixels of the input window one output pixel depends on: what tiles must overlap by."""
    convs = sum(2 * 2 ** conv_level(name) for name, _, _ in layer_table(cfg))  # a 3x3 conv at 1/2^l adds 2*2^l
    pools = sum(2**k for k in range(cfg.pools))  # a 2x2 pool at 1/2^k adds 2^k
    return 1 + convs + pools
