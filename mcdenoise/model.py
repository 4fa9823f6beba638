"""The Noise2Noise U-Net (Lehtinen et al. 2018, Table 2), sized by a config stored in every checkpoint."""

from __future__ import annotations

import copy
from dataclasses import fields

import torch
from torch import nn
from torch.nn import functional as F

from mcdenoise.architecture import INPUT_OFFSET, PRESETS, ModelConfig, layer_inputs, layer_table, receptive_field
from mcdenoise.color import n2n_forward, n2n_inverse
from mcdenoise.errors import McDenoiseError

__all__ = ["LEAKY_SLOPE", "PRESETS", "ModelConfig", "UNet", "channel_aligned", "count_parameters", "grow", "input_pyramid",
           "layer_table", "receptive_field"]

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
        self.input_skip: nn.Module = nn.Identity()  # the full-resolution skip of the input (see `channel_aligned`)

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
        skips = [self.input_skip(x)]  # skips[k]: tensor at 1/2^k resolution to concatenate on the way up
        pyramid = input_pyramid(x, p) if self.cfg.pyramid else None
        h = self._conv("enc_conv1", self._conv("enc_conv0", x))
        pool = F.avg_pool2d if self.cfg.pool == "avg" else F.max_pool2d
        h = pool(h, 2)  # (N, enc, H/2, W/2)
        for i in range(2, p + 1):
            skips.append(h)
            if pyramid is not None:
                h = torch.cat([h, pyramid[i - 1]], dim=1)  # (N, enc + in_channels, H/2^(i-1), W/2^(i-1))
            h = pool(self._conv(f"enc_conv{i}", h), 2)  # (N, enc, H/2^i, W/2^i)
        if pyramid is not None:
            h = torch.cat([h, pyramid[p]], dim=1)
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


def input_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The network input (N, C, H, W) averaged over 2^l x 2^l blocks, l = 0..levels (`ModelConfig.pyramid`; [0] is x).

    The color (the first 3 channels, tonemapped by `network_input`) is averaged in linear radiance and
    tonemapped again: at 4 spp a dark block is a few lit pixels among black ones, and a mean of tonemapped
    values would undercount them by up to 2x. Other channels (albedo, normal, zero padding) are averaged as
    they are. Float32 whatever the autocast: the inverse tonemap spans 1e-6..1e30.
    """
    x = x.float()
    radiance, rest = n2n_inverse(x[:, :3] + INPUT_OFFSET), x[:, 3:]
    out = [x]
    for _ in range(levels):
        radiance, rest = F.avg_pool2d(radiance, 2), F.avg_pool2d(rest, 2)
        out.append(torch.cat([n2n_forward(radiance) - INPUT_OFFSET, rest], dim=1))
    return out


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _PaddedInput(nn.Module):
    """A U-Net behind zero channels appended to its input (`channel_aligned`)."""

    def __init__(self, net: UNet, pad: int) -> None:
        super().__init__()
        self.net, self.pad = net, pad
        self.cfg, self.alignment = net.cfg, net.alignment  # what DenoisePipeline reads: the original model's

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """(N, in_channels, H, W) -> what `net` returns."""
        return self.net(F.pad(x, (0, 0, 0, 0, 0, self.pad)))  # (N, in_channels + pad, H, W) into the net


def channel_aligned(net: UNet, multiple: int = 16) -> nn.Module:
    """`net`'s function with its input zero-padded to a multiple of `multiple` channels, for ONNX Runtime.

    ONNX Runtime's CPU convolutions run in a blocked layout (NCHWc, 16 channels per block with AVX-512)
    only where every tensor's channel count is a multiple of the block. The 9-channel input is not, so
    the full-resolution skip concat (48 + 9 channels) made it convert the largest tensors of the network
    back and forth and run the biggest conv unblocked. Padded to 16 channels (zero weights read the
    padding, so the output is unchanged) and passed through a 1x1 identity conv (which ONNX Runtime
    runs blocked), the whole network stays in the blocked layout. Inference only: the padded network
    is not a trainable `ModelConfig`.
    """
    pad = (-net.cfg.in_channels) % multiple
    if pad == 0:
        return net
    net = copy.deepcopy(net)
    width = net.cfg.in_channels + pad
    with torch.no_grad():
        readers = ["enc_conv0", "dec_conv1a"]  # the convs reading the input; its channels come last in each
        if net.cfg.pyramid:  # and the encoder convs reading the input pyramid
            readers += [f"enc_conv{i}" for i in range(2, net.cfg.pools + 2)]
        for name in readers:
            old = net.convs[name]
            conv = nn.Conv2d(old.in_channels + pad, old.out_channels, 3, padding=1).to(old.weight)
            conv.weight.zero_()
            conv.weight[:, :old.in_channels] = old.weight
            conv.bias.copy_(old.bias)
            net.convs[name] = conv
        skip = nn.Conv2d(width, width, 1, bias=False).to(net.convs["enc_conv0"].weight)
        skip.weight.copy_(torch.eye(width)[:, :, None, None])
        net.input_skip = skip
    return _PaddedInput(net.eval(), pad)


def grow(net: UNet, cfg: ModelConfig, seed: int = 0) -> UNet:
    """A wider `cfg` network that computes exactly what `net` does, to fine-tune with more capacity.

    Every conv keeps its trained weights in its first channels; the added output channels get a fresh
    init and the weights that read them start at zero, so the output is unchanged until training moves
    them (function-preserving widening, as in Net2Net). A "log" model may also become "mixlog": it keeps
    its correction, and its added share channel starts at zero: halfway blurred. `mask_emitters` may be
    switched on (the same layers): only the base changes, beside lamps, for fine-tuning to adapt to.
    """
    old = net.cfg
    # mask_emitters may be switched on: same layers, a base that leaves lamps out of its blur (fine-tune to adapt)
    same = [f.name for f in fields(ModelConfig) if f.name not in ("enc", "dec", "head", "output", "mask_emitters")]
    output_ok = old.output == cfg.output or (old.output, cfg.output) == ("log", "mixlog")
    if any(getattr(old, k) != getattr(cfg, k) for k in same) or not output_ok:
        raise McDenoiseError("can only widen a model: the new size must have the same pools, inputs and output "
                             f"({old.pools} pools, {old.in_channels} inputs, {old.output!r} output; "
                             "a 'log' output may become 'mixlog')")
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
                if new_out[name] > old_out[name] and name != "dec_conv1c":  # "mixlog"'s share channel stays 0
                    fresh = nn.Conv2d(conv.in_channels, new_out[name] - old_out[name], 3, padding=1)
                    nn.init.kaiming_normal_(fresh.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
                    conv.weight[old_out[name]:] = fresh.weight
                conv.bias.zero_()
                conv.bias[: old_out[name]] = src.bias
    return wide
