"""Mitsuba 3 scene definitions: named sample scenes and a procedural random-scene generator.

A scene is a `SceneSpec`: a name, what it stresses, its camera views, and a `build` function that
returns a Mitsuba scene dict for one view. Builders receive the `mitsuba` module, so importing
this package does not need Mitsuba installed.
"""

from mcdenoise.scenes.common import SceneSpec, View
from mcdenoise.scenes.library import SCENES
from mcdenoise.scenes.procedural import lamp_scene, procedural_scene, room_scene

__all__ = ["FAMILIES", "FAMILY_HELP", "SCENES", "SceneSpec", "View", "get_scene", "lamp_scene", "procedural_scene", "room_scene"]

# Procedural scene families: name prefix -> generator (`<prefix>_<seed>`).
FAMILIES = {"proc": procedural_scene, "room": room_scene, "lamp": lamp_scene}
FAMILY_HELP = {  # what `render --list` and `--family` say of each
    "proc": "procedural random scene: objects on a floor",
    "room": "procedural interior lit through a window",
    "lamp": "procedural closed room lit by ceiling lamps (Cornell-box-like indirect light)",
}


def get_scene(name: str) -> SceneSpec:
    """A named scene, or `<family>_<seed>` (`proc_3`, `room_3`, `lamp_3`) for a procedural one; raises RenderError if unknown."""
    from mcdenoise.errors import RenderError

    if name in SCENES:
        return SCENES[name]
    family, _, seed = name.partition("_")
    if family in FAMILIES and seed.isdigit():
        return FAMILIES[family](int(seed))
    raise RenderError(
        f"unknown scene {name!r}; named scenes: {', '.join(SCENES)}; "
        f"or {' / '.join(f'{f}_<seed>' for f in FAMILIES)} for a procedural one"
    )
