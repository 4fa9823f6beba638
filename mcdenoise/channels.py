"""The one table of renderer channel names: which EXR channels hold color, albedo and normal.

A channel name is split at its last two dots into ``<layer>.<pass>.<component>``:
``ViewLayer.Denoising Albedo.R`` is layer ``ViewLayer``, pass ``Denoising Albedo``, component ``R``;
``albedo.R`` is layer ``""``, pass ``albedo``; a bare ``R`` has an empty layer and pass.
Pass names match case-insensitively; earlier entries in a rule win over later ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcdenoise.errors import AovError

# Buffer roles, in the order the model stacks them into its 9 input channels.
ROLES: tuple[str, ...] = ("color", "albedo", "normal")

RGB = ("R", "G", "B")
XYZ = ("X", "Y", "Z")


@dataclass(frozen=True)
class AovRule:
    """How one role (color/albedo/normal) is named by the renderers we know."""

    role: str
    passes: tuple[str, ...]  # pass names in priority order ("" = bare channels)
    components: tuple[tuple[str, str, str], ...]  # accepted component triples, in priority order
    hint: str  # how a user should name the channels, shown in errors


AOV_TABLE: tuple[AovRule, ...] = (
    AovRule(
        role="color",
        passes=(
            "Noisy Image",  # Blender/Cycles: the noisy beauty when Blender's own denoiser ran
            "",  # Mitsuba 3, generic: R,G,B(,A)
            "Combined",  # Blender/Cycles beauty
            "rgba", "rgb", "beauty", "color", "Ci",  # Nuke, Arnold/RenderMan style
        ),
        components=(RGB, ("r", "g", "b"), ("red", "green", "blue")),
        hint="R,G,B (or <layer>.Combined.R/G/B, <layer>.Noisy Image.R/G/B)",
    ),
    AovRule(
        role="albedo",
        passes=(
            "Denoising Albedo",  # Blender/Cycles Denoising Data
            "albedo",  # Mitsuba 3 aov integrator ('albedo:albedo'), generic
            "diffuse_albedo", "albedo_diffuse", "DiffCol",
        ),
        components=(RGB, ("r", "g", "b"), ("red", "green", "blue")),
        hint="albedo.R/G/B (or <layer>.Denoising Albedo.R/G/B, diffuse_albedo.R/G/B)",
    ),
    AovRule(
        role="normal",
        passes=(
            "Denoising Normal",  # Blender/Cycles Denoising Data (camera space)
            "nn", "sh_normal",  # Mitsuba 3 aov integrator ('nn:sh_normal'), world space
            "normal", "normals", "N", "Nw", "Normal", "geo_normal",
        ),
        components=(XYZ, ("x", "y", "z"), RGB, ("r", "g", "b")),
        hint="normal.X/Y/Z (or nn.X/Y/Z, N.X/Y/Z, <layer>.Denoising Normal.X/Y/Z)",
    ),
)

RULES: dict[str, AovRule] = {rule.role: rule for rule in AOV_TABLE}

# A side file given as --albedo/--normal may hold its buffer as plain R,G,B (or X,Y,Z) channels.
SIDE_FILE_FALLBACK: dict[str, tuple[tuple[str, str, str], ...]] = {
    "albedo": (RGB,),
    "normal": (XYZ, RGB),
}

# Names used when mcdenoise itself writes buffers (the renders of `mcdenoise render` use Mitsuba's).
WRITE_NAMES: dict[str, tuple[str, tuple[str, str, str]]] = {
    "color": ("", RGB),
    "albedo": ("albedo", RGB),
    "normal": ("nn", XYZ),
}

ALPHA_COMPONENTS: tuple[str, ...] = ("A", "a", "alpha")


def split_channel(name: str) -> tuple[str, str, str]:
    """Split ``layer.pass.component`` into its three parts (missing parts are "")."""
    tokens = name.split(".")
    component = tokens[-1]
    pass_name = tokens[-2] if len(tokens) >= 2 else ""
    layer = ".".join(tokens[:-2])
    return layer, pass_name, component


def join_channel(layer: str, pass_name: str, component: str) -> str:
    """Inverse of `split_channel`."""
    return ".".join(t for t in (layer, pass_name, component) if t)


@dataclass(frozen=True)
class ChannelRef:
    """One channel of an EXR file as detection sees it."""

    name: str  # full name, qualified with the part name where the part's channels are bare
    part: int  # index of the part holding it
    raw_name: str  # the name as stored inside its part
    pixel_type: str  # "HALF" | "FLOAT" | "UINT"


@dataclass(frozen=True)
class BufferSource:
    """Where one buffer (color, albedo or normal) of a frame was found."""

    role: str
    file: str
    part: int
    layer: str
    pass_name: str
    channels: tuple[ChannelRef, ChannelRef, ChannelRef]

    def describe(self) -> str:
        """Human summary such as ``ViewLayer.Combined.{R,G,B} (part 0, HALF)``."""
        prefix = ".".join(t for t in (self.layer, self.pass_name) if t)
        comps = ",".join(split_channel(c.name)[2] for c in self.channels)
        name = f"{prefix}.{{{comps}}}" if prefix else comps
        types = sorted({c.pixel_type for c in self.channels})
        return f"{name} (part {self.part}, {'/'.join(types)})"


@dataclass(frozen=True)
class Detection:
    """The result of matching a file's channel names against `AOV_TABLE`."""

    layer: str  # the view layer used ("" for files without layers)
    layers: tuple[str, ...]  # every layer that holds a color buffer, in file order
    sources: dict[str, BufferSource]  # role -> source; color is always present
    alpha: ChannelRef | None  # the alpha channel of the color pass, if any
    notes: tuple[str, ...]  # incomplete passes and other things a user should know


def _index(channels: list[ChannelRef]) -> dict[str, dict[str, dict[str, ChannelRef]]]:
    """Group channels as layer -> lower-case pass -> component -> channel, in file order."""
    index: dict[str, dict[str, dict[str, ChannelRef]]] = {}
    for ch in channels:
        layer, pass_name, component = split_channel(ch.name)
        index.setdefault(layer, {}).setdefault(pass_name.lower(), {})[component] = ch
    return index


def _match(
    comps_by_pass: dict[str, dict[str, ChannelRef]],
    passes: tuple[str, ...],
    triples: tuple[tuple[str, str, str], ...],
    notes: list[str],
) -> tuple[str, tuple[ChannelRef, ChannelRef, ChannelRef]] | None:
    """Return the first (pass, channels) in priority order that has all three components."""
    for pass_name in passes:
        comps = comps_by_pass.get(pass_name.lower())
        if not comps:
            continue
        for triple in triples:
            if all(c in comps for c in triple):
                return pass_name, (comps[triple[0]], comps[triple[1]], comps[triple[2]])
        if any(c in comps for t in triples for c in t):
            found = ", ".join(ch.name for ch in comps.values())
            notes.append(f"pass '{pass_name or '(bare)'}' is incomplete: has {found}")
    return None


def find_buffer(
    channels: list[ChannelRef],
    role: str,
    layer: str,
    file: str,
    notes: list[str],
    *,
    side_file: bool = False,
) -> BufferSource | None:
    """Find `role`'s buffer in one layer; a side file may also hold it as plain channels."""
    rule = RULES[role]
    comps_by_pass = _index(channels).get(layer, {})
    found = _match(comps_by_pass, rule.passes, rule.components, notes)
    if found is None and side_file:
        found = _match(comps_by_pass, ("",), SIDE_FILE_FALLBACK[role], notes)
    if found is None:
        return None
    pass_name, refs = found
    part = refs[0].part
    return BufferSource(role=role, file=file, part=part, layer=layer, pass_name=pass_name, channels=refs)


def channel_listing(channels: list[ChannelRef], limit: int = 40) -> str:
    """Comma-separated channel names, shortened past `limit`."""
    names = [c.name for c in channels]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "(none)"


def detect(channels: list[ChannelRef], file: str, layer: str | None = None) -> Detection:
    """Find color (required), albedo and normal in one view layer of a file's channels.

    Raises AovError when there is no color buffer or the requested layer does not exist.
    """
    index = _index(channels)
    color_rule = RULES["color"]
    scratch: list[str] = []
    layers = tuple(
        name for name, passes in index.items()
        if _match(passes, color_rule.passes, color_rule.components, scratch) is not None
    )
    if layer is None:
        if not layers:
            raise AovError(
                f"{file}: no color channels found. Channels in the file: {channel_listing(channels)}. "
                f"Name the color channels {color_rule.hint}."
            )
        layer = layers[0]
    elif layer not in layers:
        have = ", ".join(repr(x) for x in layers) if layers else "none"
        raise AovError(f"{file}: view layer {layer!r} has no color channels; layers with color: {have}")

    notes: list[str] = []
    sources: dict[str, BufferSource] = {}
    for role in ROLES:
        source = find_buffer(channels, role, layer, file, notes)
        if source is not None:
            sources[role] = source
    color = sources["color"]
    alpha = None
    color_pass = index[layer].get(color.pass_name.lower(), {})
    for comp in ALPHA_COMPONENTS:
        if comp in color_pass:
            alpha = color_pass[comp]
            break
    if len(layers) > 1:
        notes.insert(0, f"{len(layers)} view layers with color ({', '.join(layers)}); using {layer!r}")
    return Detection(layer=layer, layers=layers, sources=sources, alpha=alpha, notes=tuple(notes))
