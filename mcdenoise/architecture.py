"""The U-Net's shape, without PyTorch: config, named sizes, layer table, receptive field.

Importable where only ONNX Runtime is installed (the service), so a model file's metadata can be
interpreted without PyTorch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mcdenoise.errors import McDenoiseError

INPUT_OFFSET = 0.5  # network inputs are centred: [0, 1] -> [-0.5, 0.5] (paper, appendix A)
OUTPUTS = ("linear", "log", "kpn", "exp", "logblur", "blurlog", "mixlog", "mixlog3")
BASE_BLUR = 5  # "logblur", "blurlog", "mixlog" and "mixlog3": side of the box blur in their base
# "mixlog": the blurred base may lower a pixel freely (speckle, fireflies) but raise it by at most this
# much in log(1 + v), a factor e^0.5 = 1.65; beyond it the blur only carries a bright neighbour's light
# into a dark pixel (halos of 100x the reference around small emitters, BENCHMARKS.md stop 17).
MIX_RAISE_MAX = 0.5
# `ModelConfig.demodulate`: color channels whose albedo is below this are not divided (divisor 1). Sky,
# metals, glass and black paint have albedo ~0 in renderers' AOVs, and dividing by it (or by albedo + 0.01,
# stop 28's first try) scaled their light up to 100x and lost 1.8 dB (BENCHMARKS.md stop 28).
DEMOD_MIN_ALBEDO = 0.05
BLURRED_BASES = ("logblur", "blurlog", "mixlog", "mixlog3")  # outputs whose base blurs the input (`ModelConfig.mask_emitters`)
POOLINGS = ("max", "avg")  # `ModelConfig.pool`
PRECISIONS = ("auto", "bf16", "fp32")  # network math (training, the torch and openvino backends): auto = bf16 where native, else fp32


@dataclass(frozen=True)
class ModelConfig:
    """U-Net shape; `ModelConfig()` is the paper's network."""

    in_channels: int = 9  # 9: color + albedo + normal (`mcdenoise.pipeline.INPUT_CHANNELS`); 3: color only
    out_channels: int = 3  # linear HDR RGB
    # Widths: one number for every level, or one per level. `enc`: pools + 1 widths, full resolution first
    # (enc_conv0/1, then after each pool, the last the bottleneck); `dec`: pools - 1 widths of the decoder
    # stages at 1/2 ... 1/2^(pools-1). Coarse levels are cheap (a conv at 1/2^l costs 1/4^l per pixel), so
    # per-level widths add capacity where it costs little time.
    enc: int | tuple[int, ...] = 48
    dec: int | tuple[int, ...] = 96
    head: tuple[int, int] = (64, 32)  # widths of the last decoder stage (full resolution)
    pools: int = 5  # number of 2x2 max-pools (and nearest upsamplings)
    # What the last (linear) conv predicts, see `mcdenoise.pipeline.network_output`:
    # "linear": linear HDR radiance directly (the paper); "log": a correction to the input's
    # log(1 + v) color, mapped back to linear HDR (starts as the identity); "kpn": per-pixel
    # softmax kernels applied to the linear noisy color at `scales` resolutions and blended coarse
    # to fine (`mcdenoise.kpn`): a convex combination of input radiance (starts as a blur).
    # "exp": log(1 + radiance) directly, not anchored to the noisy input (fireflies are not passed through
    # by default; starts black). "logblur": a correction to log(1 + a 5x5 box blur of the color) (starts
    # as that blur: sparse samples and fireflies are spread before the network corrects them). "blurlog":
    # a correction to the 5x5 box blur of log(1 + color) (a geometric mean: emitters and fireflies
    # spread far less into their neighbours). "mixlog": a correction to a per-pixel blend of "log"'s and
    # "blurlog"'s bases, by a share the network predicts in a 4th channel (starts halfway; `fit --init M
    # --size wide-mix` grows a "log" model M into it, keeping M's correction): where few samples are lit,
    # the blurred base stops the input's speckle passing through; at edges and emitters the sharp one wins.
    # "mixlog3": "mixlog" with a third base, the `wide_blur` box blur of log(1 + color), and a softmax over
    # three shares (2 more channels; starts at 1/3 each): sparse dark speckle needs more than 5x5 pixels'
    # samples to average out. Lost to "mixlog" at equal CPU time (-0.6 dB box, more blotches: BENCHMARKS.md,
    # stops 29-30); kept as an ablation option.
    output: str = "linear"
    kernel: int = 5  # "kpn" only: odd kernel side
    scales: int = 3  # "kpn" only: full, 1/2, 1/4 ... resolution (<= pools)
    wide_blur: int = 13  # "mixlog3" only: odd side of its wider box blur
    # Albedo demodulation (KPCN, Bako et al. 2017): the network sees and predicts color / albedo (channels
    # with albedo >= DEMOD_MIN_ALBEDO), the light arriving at each surface with textures divided out; the
    # output is multiplied back. Its base blurs (mixlog) then no longer blur across texture edges. Exactly
    # invertible. An ablation option (BENCHMARKS.md stop 28), not used by the shipped models.
    demodulate: bool = False
    # The encoder's 2x2 downsampling: "max" (the paper, OIDN) or "avg". In dark, sparsely sampled areas a max
    # keeps whichever of 4 pixels caught a bright sample, so coarse levels see a firefly map, not the local mean
    # the low frequencies (the blotches) need; an average passes that mean down exactly. Same multiply-adds.
    # Lost at equal steps (-0.08 dB box, -0.67 on the Cornell box; BENCHMARKS.md stop 33): an ablation option.
    pool: str = "max"
    # Input pyramid: every encoder conv after a pool also reads the input averaged over its 2^l x 2^l block (the
    # color averaged in linear radiance, then tonemapped as the input is). Max-pooled features hand coarse levels
    # whichever pixel caught a bright sample; this hands them the unbiased local mean as well, which is what the
    # low-frequency blotches of dark, sparsely sampled areas need. +1.4% multiply-adds for `fast` (stop 34).
    pyramid: bool = False
    # Blurred bases ("logblur", "blurlog", "mixlog", "mixlog3") leave out emitters seen directly and the pixels beside
    # them (`mcdenoise.pipeline.emitter_mask`, dilated by a pixel): the blur averages a surface's own samples, not a
    # lamp's. Unmasked, the 5x5 blur beside a lamp is 5x the wall's log value and v6's base raised the two rings
    # of pixels around the Cornell box's lamp by 0.17 in log(1 + v), 16% of that view's error (stop 37).
    mask_emitters: bool = False

    @property
    def aux(self) -> bool:
        """True when the model takes albedo and normal besides color."""
        return self.in_channels == 9

    @property
    def alignment(self) -> int:
        """Input height and width must be multiples of this (2^pools)."""
        return 2**self.pools

    def enc_width(self, level: int) -> int:
        """Width of the encoder conv(s) at pooling `level` (0 = full resolution, `pools` = bottleneck)."""
        return self.enc if isinstance(self.enc, int) else self.enc[level]

    def dec_width(self, level: int) -> int:
        """Width of the decoder stage at pooling `level` (1 .. pools - 1)."""
        return self.dec if isinstance(self.dec, int) else self.dec[level - 1]

    def head_channels(self, level: int) -> int:
        """Output channels of the conv predicting at pooling `level` (0 = full resolution)."""
        if self.output == "mixlog":
            return self.out_channels + 1  # + the share of the blurred base
        if self.output == "mixlog3":
            return self.out_channels + 2  # + the logits of the two blurred bases' shares (the sharp base's is 0)
        if self.output != "kpn":
            return self.out_channels
        return self.kernel**2 + (1 if level < self.scales - 1 else 0)  # kernel logits (+ blend weight)

    def check(self) -> None:
        """Raise McDenoiseError for a config no network can be built from."""
        if self.pools < 1:
            raise McDenoiseError("a U-Net needs at least one pooling level")
        if self.in_channels not in (3, 9):
            raise McDenoiseError(f"in_channels must be 9 (color + albedo + normal) or 3 (color only), not {self.in_channels}")
        if self.output not in OUTPUTS:
            raise McDenoiseError(f"unknown model output {self.output!r}; use one of {', '.join(OUTPUTS)}")
        for name, widths, n in (("enc", self.enc, self.pools + 1), ("dec", self.dec, self.pools - 1)):
            per_level = (widths,) if isinstance(widths, int) else widths
            if not isinstance(widths, int) and len(widths) != n:
                raise McDenoiseError(f"{name} needs one width or {n} (one per level), not {len(widths)}")
            if any(not isinstance(w, int) or w < 1 for w in per_level):
                raise McDenoiseError(f"{name} widths must be positive integers, not {widths}")
        if self.pool not in POOLINGS:
            raise McDenoiseError(f"unknown pooling {self.pool!r}; use one of {', '.join(POOLINGS)}")
        for flag in ("demodulate", "pyramid", "mask_emitters"):  # a model file's JSON could say "yes", which is truthy
            if not isinstance(getattr(self, flag), bool):
                raise McDenoiseError(f"{flag} must be true or false, not {getattr(self, flag)!r}")
        if self.demodulate and not self.aux:
            raise McDenoiseError("a model that demodulates by albedo needs the albedo input (in_channels 9)")
        if self.mask_emitters and self.output not in BLURRED_BASES:
            raise McDenoiseError(f"mask_emitters needs an output with a blurred base ({', '.join(BLURRED_BASES)}), "
                                 f"not {self.output!r}")
        if self.output == "mixlog3" and (self.wide_blur <= BASE_BLUR or self.wide_blur % 2 == 0):
            raise McDenoiseError(f"mixlog3 needs an odd wide_blur above {BASE_BLUR}, not {self.wide_blur}")
        if self.output == "kpn" and (self.kernel < 1 or self.kernel % 2 == 0 or not 1 <= self.scales <= self.pools):
            raise McDenoiseError(f"kpn needs an odd kernel (got {self.kernel}) and 1 <= scales <= pools "
                                 f"(got scales {self.scales}, pools {self.pools})")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints (lists, not tuples, so `weights_only` loading accepts it)."""
        d = asdict(self)
        for key in ("head", "enc", "dec"):
            if isinstance(d[key], tuple):
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Rebuild from `to_dict` output; unknown keys are an error (a file from a newer version)."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise McDenoiseError(f"model config has unknown fields {sorted(extra)}; is mcdenoise up to date?")
        d = dict(d)
        for key in ("head", "enc", "dec"):
            if isinstance(d.get(key), list):
                d[key] = tuple(d[key])
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
    # Kernel-predicting variants of the same trunks (issue 12): 5x5 kernels at 1, 1/2 and 1/4 resolution.
    "fast-kpn": ModelConfig(enc=24, dec=48, head=(32, 32), pools=4, output="kpn"),
    "lean-kpn": ModelConfig(enc=16, dec=32, head=(32, 32), pools=4, output="kpn"),
    "tiny-kpn": ModelConfig(enc=8, dec=16, head=(16, 16), pools=2, output="kpn", kernel=3, scales=2),
    # Output-head ablations of the `fast` trunk (issue 12): see ModelConfig.output.
    "fast-exp": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="exp"),
    "fast-logblur": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="logblur"),
    "fast-blurlog": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="blurlog"),
    "fast-mixlog": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="mixlog"),
    # `fast` with 2.5x the parameters at its coarse levels (1/4 .. 1/16) for +18% multiply-adds (+10% ONNX
    # Runtime time): the shipped `default` v3. `fit --init M --size fast-wide` grows a `fast` model M into it
    # (`model.grow`), keeping what it computes.
    "fast-wide": ModelConfig(enc=(24, 24, 48, 64, 96), dec=(48, 64, 96), head=(32, 16), pools=4, output="log"),
    # `fast-wide` with 32 channels at full and half resolution: every width a multiple of 16, so ONNX Runtime
    # pads nothing (it runs 24 channels as 32 anyway); `fit --init M --size wide` grows `fast-wide` into it.
    "wide": ModelConfig(enc=(32, 32, 48, 64, 96), dec=(48, 64, 96), head=(32, 16), pools=4, output="log"),
    # `wide` with the "mixlog" head (best head from scratch at equal compute, BENCHMARKS.md; `fit --init M
    # --size wide-mix` grows a `wide` model M into it, but its correction then starts on a half-blurred base).
    "wide-mix": ModelConfig(enc=(32, 32, 48, 64, 96), dec=(48, 64, 96), head=(32, 16), pools=4, output="mixlog"),
    # `wide-mix` with 16 channels in the full-resolution encoder and 32 in the half-resolution decoder: 41.5k
    # instead of 62.9k multiply-adds per pixel, 0.68x its ONNX Runtime time (one thread), for the speed target.
    "slim-mix": ModelConfig(enc=(16, 32, 48, 64, 96), dec=(32, 64, 96), head=(32, 16), pools=4, output="mixlog"),
    # `slim-mix` with wider 1/8 and 1/16 levels (45.3k multiply-adds, +9% time, 1.5x the parameters): more
    # capacity where low-frequency blotches are removed, at little cost.
    "slim-wide-mix": ModelConfig(enc=(16, 32, 48, 96, 128), dec=(32, 64, 128), head=(32, 16), pools=4, output="mixlog"),
    # `wide-mix` with 1.5x the full-resolution encoder and head and wider coarse levels: 2.06x the multiply-adds
    # (129.7k per pixel), 1.94x the parameters. A quality-first size; `fit --init default --size large-mix` grows
    # v6 into it, computing what v6 does until training moves the added channels.
    "large-mix": ModelConfig(enc=(48, 48, 64, 96, 128), dec=(64, 96, 128), head=(48, 32), pools=4, output="mixlog"),
    # `fast-mixlog` on demodulated color (`ModelConfig.demodulate`): the ablation of albedo demodulation.
    "fast-mixdemod": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="mixlog", demodulate=True),
    # `fast-mixlog` with average instead of max pooling (`ModelConfig.pool`): the stop 33 trunk ablation (lost).
    "fast-mixavg": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="mixlog", pool="avg"),
    # `fast-mixlog` with a fifth pool (1/32): the paper's and OIDN's depth, for 0.7% more multiply-adds; twice the
    # receptive field (290 px), for dark areas whose few samples must be averaged over large regions. Stop 34: +0.28 dB
    # box with 128-px crops, -0.08 with 64-px ones; 64-px crops with 4 pools match the best of it (an ablation option).
    "fast-mix5": ModelConfig(enc=24, dec=48, head=(32, 16), pools=5, output="mixlog"),
    # `wide-mix` (v6) with the fifth pool: its 1/16 widths repeated at 1/32 (+1.5% multiply-adds, inputs multiples of
    # 32). Stop 34's +0.28 dB box for `fast-mix5` did not carry over: from scratch with v6's recipe and steps, -0.05 dB
    # box and -0.46 on the Cornell box, fewer blotches (BENCHMARKS.md stop 36). An ablation option.
    "wide-mix5": ModelConfig(enc=(32, 32, 48, 64, 96, 96), dec=(48, 64, 96, 96), head=(32, 16), pools=5, output="mixlog"),
    # `slim-mix` with the same fifth pool, for the speed target: ties `slim` step for step (stop 36). An ablation option.
    "slim-mix5": ModelConfig(enc=(16, 32, 48, 64, 96, 96), dec=(32, 64, 96, 96), head=(32, 16), pools=5, output="mixlog"),
    # `fast-mixlog` with the input pyramid (`ModelConfig.pyramid`): the stop 34 trunk ablation (+0.24 dB box with
    # 128-px crops but -0.33 on the Cornell box; -0.12 with 64-px crops; not additive with the fifth pool).
    "fast-mixpyr": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="mixlog", pyramid=True),
    "fast-mix5pyr": ModelConfig(enc=24, dec=48, head=(32, 16), pools=5, output="mixlog", pyramid=True),  # both
    # `wide-mix` (v6) whose blurred base leaves out emitters and the pixels beside them (`ModelConfig.mask_emitters`);
    # `fit --init default --size wide-mix-em` starts it from v6's weights (the same layers).
    "wide-mix-em": ModelConfig(enc=(32, 32, 48, 64, 96), dec=(48, 64, 96), head=(32, 16), pools=4, output="mixlog",
                               mask_emitters=True),
    "tiny-mix": ModelConfig(enc=8, dec=16, head=(16, 8), pools=2, output="mixlog"),  # smoke tests only
    "tiny-mix-em": ModelConfig(enc=8, dec=16, head=(16, 8), pools=2, output="mixlog", mask_emitters=True),  # smoke tests
    # `fast-mixlog` with a third, wider blurred base (13x13 or 25x25): the stops 29-30 ablation (lost).
    "fast-mix3": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="mixlog3"),
    "fast-mix3w": ModelConfig(enc=24, dec=48, head=(32, 16), pools=4, output="mixlog3", wide_blur=25),
}


def layer_table(cfg: ModelConfig) -> list[tuple[str, int, int]]:
    """(name, in_channels, out_channels) of every conv, in order; one line per layer as in the paper."""
    return [(name, sum(parts), cout) for name, parts, cout in _layers(cfg)]


def layer_inputs(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Conv name -> widths of the tensors concatenated into its input, in order (upsampled, then skip)."""
    return {name: parts for name, parts, _ in _layers(cfg)}


def _layers(cfg: ModelConfig) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, input parts, out_channels) of every conv, in order."""
    e, d, (h1, h2), c = cfg.enc_width, cfg.dec_width, cfg.head, cfg.in_channels
    table = [("enc_conv0", (c,), e(0)), ("enc_conv1", (e(0),), e(0))]  # full resolution, then pool1
    pyr = (c,) if cfg.pyramid else ()  # the input averaged to that resolution, after the features
    table += [(f"enc_conv{i}", (e(i - 2), *pyr), e(i - 1)) for i in range(2, cfg.pools + 1)]  # at 1/2^(i-1), then pool(i)
    table += [(f"enc_conv{cfg.pools + 1}", (e(cfg.pools - 1), *pyr), e(cfg.pools))]  # bottleneck at 1/2^pools
    for level in range(cfg.pools, 1, -1):  # at 1/2^(level-1): upsample, concat the skip of that resolution
        below = e(cfg.pools) if level == cfg.pools else d(level)
        table += [(f"dec_conv{level}a", (below, e(level - 2)), d(level - 1)), (f"dec_conv{level}b", (d(level - 1),), d(level - 1))]
    table += [("dec_conv1a", (d(1) if cfg.pools > 1 else e(cfg.pools), c), h1), ("dec_conv1b", (h1,), h2)]
    table += [("dec_conv1c", (h2,), cfg.head_channels(0))]  # linear output
    if cfg.output == "kpn":  # kernels at 1/2^level from the decoder stage at that level (dec_conv<level+1>b)
        table += [(f"kpn_head{level}", (d(level),), cfg.head_channels(level)) for level in range(1, cfg.scales)]
    return table


def conv_level(name: str) -> int:
    """Pooling level (0 = full resolution) a conv of `layer_table` runs at."""
    if name.startswith("enc_conv"):
        return max(int(name[8:]) - 1, 0)  # enc_conv0/1 at full resolution, enc_conv<i> after i-1 pools
    if name.startswith("kpn_head"):
        return int(name[8:])
    return int(name[8:-1]) - 1  # dec_conv<level>{a,b,c}


def receptive_field(cfg: ModelConfig) -> int:
    """Side in pixels of the input window one output pixel depends on: what tiles must overlap by."""
    convs = sum(2 * 2 ** conv_level(name) for name, _, _ in layer_table(cfg))  # a 3x3 conv at 1/2^l adds 2*2^l
    pools = sum(2**k for k in range(cfg.pools))  # a 2x2 pool at 1/2^k adds 2^k
    if cfg.output == "kpn":  # the kernels' own footprint on the color pyramid (+ its pooling and upsampling)
        pools += sum((cfg.kernel - 1) * 2**s + 2 * 2**s for s in range(cfg.scales))
    if cfg.output in ("logblur", "blurlog", "mixlog"):  # the blur in the base
        pools += BASE_BLUR - 1
    if cfg.mask_emitters:  # the mask of the pixels it blurs: a 2x2 block test, then a pixel's dilation
        pools += 4
    if cfg.output == "mixlog3":  # its widest blurred base
        pools += cfg.wide_blur - 1
    return 1 + convs + pools
