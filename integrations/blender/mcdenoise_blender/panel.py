"""The mcdenoise panel in Render Properties (draws only; every action is an operator)."""

from __future__ import annotations

import bpy

from .props import ADDON_ID


class RENDER_PT_mcdenoise(bpy.types.Panel):
    """Denoise with mcdenoise, render training pairs, fit a model for this .blend."""

    bl_label = "mcdenoise"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    COMPAT_ENGINES = {"CYCLES"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        s = context.scene.mcdenoise
        addon = context.preferences.addons.get(ADDON_ID)
        if addon is not None:
            p = addon.preferences
            layout.label(text=f"Service: {p.service_url}" if p.mode == "SERVICE" else "Local mcdenoise",
                         icon="URL" if p.mode == "SERVICE" else "DESKTOP")
        if context.scene.render.engine != "CYCLES":
            layout.label(text="Needs Cycles (Denoising Data passes)", icon="ERROR")
        layout.prop(s, "model")
        layout.prop(s, "passes")
        row = layout.row(align=True)
        row.operator("mcdenoise.denoise_render", icon="SHADERFX")
        row.operator("mcdenoise.save_denoised", text="", icon="FILE_TICK")
        layout.prop(s, "denoise_after_render")

        box = layout.box()
        box.label(text="Fit a model for this shot", icon="MOD_SMOOTH")
        box.prop(s, "pairs_dir")
        row = box.row(align=True)
        row.prop(s, "pairs_count")
        row.prop(s, "pairs_spp")
        box.prop(s, "pairs_all_cameras")
        box.operator("mcdenoise.render_training_pairs", icon="RENDER_STILL")
        row = box.row(align=True)
        row.prop(s, "fit_minutes")
        row.prop(s, "fit_name", text="Name")
        box.operator("mcdenoise.fit", icon="PLAY")
        if s.status:
            layout.label(text=s.status, icon="ERROR" if s.status.startswith("error") else "INFO")


CLASSES = (RENDER_PT_mcdenoise,)
