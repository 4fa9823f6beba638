"""mcdenoise for Blender: denoise Cycles renders through an mcdenoise service (or mcdenoise in Blender's
Python), render Noise2Noise training pairs of a shot, and fit a model for it.

Install the zip built by `python integrations/blender/build.py` (Edit > Preferences > Get Extensions >
Install from Disk), set the service URL in the add-on's preferences, and find the panel under
Render Properties > mcdenoise.
"""

from __future__ import annotations

import bpy

from . import handlers, operators, panel, props

bl_info = {  # legacy add-on installs (Blender < 4.2); 4.2+ reads blender_manifest.toml
    "name": "mcdenoise",
    "author": "mcdenoise developers",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "Properties > Render > mcdenoise",
    "description": "Denoise Cycles renders with an mcdenoise service or model",
    "category": "Render",
}


def register() -> None:
    """Register properties, operators, the panel and the render handlers."""
    props.register()
    for cls in operators.CLASSES + panel.CLASSES:
        bpy.utils.register_class(cls)
    handlers.register()


def unregister() -> None:
    """Undo register() completely."""
    handlers.unregister()
    for cls in reversed(operators.CLASSES + panel.CLASSES):
        bpy.utils.unregister_class(cls)
    props.unregister()
