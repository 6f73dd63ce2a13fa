"""Drafts tab of the constitution editor: versions of a persona and a side-by-side comparison.

Versions are stored by the library (`save_draft` / `list_drafts`); the comparison is the
library's trait diff plus both versions answering the same prompts from the same model with
the same seed, so the only difference between the columns is the constitution.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from character.constitution import (
    Constitution,
    ConstitutionError,
    diff_constitutions,
    list_drafts,
    load_constitution,
    save_draft,
)
from character.persona_prompt import persona_conversation
from studio.common import cached_backend, model_picker, run_safely, sampling_controls

EDITOR = "(the editor, unsaved)"


def _label(path: Path) -> str:
    from character.constitution import draft_label

    return draft_label(path)


def _ask_keep() -> None:
    st.session_state["dr_confirming"] = True
    st.session_state.pop("dr_kept", None)


def _cancel_keep() -> None:
    st.session_state["dr_confirming"] = False


def render_drafts(current: Constitution | None) -> None:
    if current is None:
        st.info("Fix the problems in the Edit tab first; drafts are kept of valid versions.")
        return
    st.caption(
        "Keep versions of this persona while you edit, then compare any two: what changed, "
        "and how each version answers the same prompts."
    )
    st.button(
        "Keep this version as a draft…",
        key="dr_save",
        icon=":material/bookmark_add:",
        on_click=_ask_keep,
        help="Asks for a few words on what this version is, then keeps it.",
    )
    if st.session_state.get("dr_confirming"):
        with st.container(border=True):
            st.markdown(
                f"Keep the editor's version of **{current.name}** ({len(current.traits)} traits, "
                f"{len(current.questions())} questions) as a draft?"
            )
            note = st.text_input(
                "What is this version? (a few words, optional)",
                key="dr_note",
                placeholder="e.g. more bee metaphors",
                help="Names the draft, with the persona and the time. Left empty, the draft is "
                "named by what changed since the last one.",
            )
            y, n = st.columns(2)
            if y.button("Yes, keep it", key="dr_confirm", type="primary"):
                path = run_safely(lambda: save_draft(current, note=note), "save the draft")
                st.session_state["dr_confirming"] = False
                if path is not None:
                    st.session_state["dr_kept"] = _label(path)
                    st.toast(f"Draft kept: {_label(path)}")
                    st.rerun()
            n.button("Cancel", key="dr_cancel", on_click=_cancel_keep)
    if st.session_state.get("dr_kept"):
        st.success(f"Draft kept: {st.session_state['dr_kept']}. It is listed below to compare.")
    drafts: list[Path] = list_drafts(current.name)
    options = {EDITOR: None, **{_label(p): p for p in reversed(drafts)}}
    st.caption(f"{len(drafts)} draft(s) of `{current.name}`.")
    if len(options) < 2:
        st.info("Keep at least one draft to compare it with the editor.")
        return
    c1, c2 = st.columns(2)
    left = c1.selectbox("Left", list(options), index=1, key="dr_left")
    right = c2.selectbox("Right", list(options), index=0, key="dr_right")

    def _load(name: str) -> Constitution | None:
        path = options[name]
        if path is None:
            return current
        try:
            return load_constitution(path)
        except ConstitutionError as exc:
            st.error(f"Draft {name} cannot be read: {exc}")
            return None

    a, b = _load(left), _load(right)
    if a is None or b is None:
        return
    d = diff_constitutions(a, b)
    st.markdown("**What changed (left → right)**")
    st.code(d.summary(), language="diff")
    t1, t2 = st.columns(2)
    for col, c in ((t1, a), (t2, b)):
        col.markdown("\n".join(f"{i + 1}. {t.trait}" for i, t in enumerate(c.traits)) or "—")

    st.markdown("**Both versions answer the same prompts**")
    defaults = list(dict.fromkeys([*a.questions()[:2], *b.questions()[:2]]))[:3]
    prompts_text = st.text_area(
        "Prompts (one per line)", "\n".join(defaults), key="dr_prompts", height=90
    )
    model = model_picker("Model", key="dr_model")
    params = sampling_controls("dr", max_new_tokens=64)
    if st.button("Answer with both versions", key="dr_go", type="primary"):
        prompts = [p.strip() for p in prompts_text.splitlines() if p.strip()][:5]
        backend = run_safely(lambda: cached_backend(model), f"load {model}")
        if backend is not None and prompts:
            answers = []
            for c in (a, b):
                convs = [persona_conversation(c, p, model) for p in prompts]
                with st.spinner(f"{c.name}: answering {len(prompts)} prompts…"):
                    out = run_safely(lambda cv=convs: backend.generate(cv, params), "sample")
                answers.append([o[0].display_text() for o in out] if out else ["–"] * len(prompts))
            st.session_state["dr_answers"] = (left, right, prompts, answers)
    if "dr_answers" in st.session_state:
        lname, rname, prompts, (la, ra) = st.session_state["dr_answers"]
        for p, x, y in zip(prompts, la, ra, strict=True):
            st.markdown(f"**{p}**")
            c1, c2 = st.columns(2)
            c1.caption(lname)
            c1.write(x)
            c2.caption(rname)
            c2.write(y)
