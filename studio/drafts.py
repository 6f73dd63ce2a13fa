"""Drafts tab of the constitution editor: versions of a persona and a side-by-side comparison."""

from __future__ import annotations

import streamlit as st

from character.constitution import Constitution
from studio.common import coming_soon, lib_attr


def render_drafts(current: Constitution | None) -> None:
    list_drafts = lib_attr("character.LLM", "list_drafts")
    if list_drafts is None:
        coming_soon("draft versions and side-by-side comparison", "character.LLM.list_drafts")
        return
    st.write("Drafts landed; comparison UI below.")
