"""The current selection: the persona the user is working on and the model they just made.

Every picker reads its default from here, and every link between pages carries it in the URL
(`?persona=...&model=...`), so "Chat with the trained model" opens on that model and the
launcher on the persona just edited, with no manual picker changes. Pickers write back when
the user picks something else, so the next page follows their choice.

How it works: a link's query parameters are adopted into the session once per page load
(`adopt_link_targets`, called by the app before the page runs); a picker's default is applied
only while its widget has no state yet (i.e. when the page is opened), never over a choice the
user made on the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

PERSONA = "persona"
MODEL = "model"
_STATE = {PERSONA: "sel_persona", MODEL: "sel_model"}


def adopt_link_targets() -> None:
    """Take `?persona=` / `?model=` from the URL (a link from another page, or a reload)."""
    for param, key in _STATE.items():
        value = st.query_params.get(param)
        if value:
            st.session_state[key] = value


def current_persona() -> str | None:
    """The persona picked or saved last in this session, else the one saved last on disk."""
    chosen = st.session_state.get(_STATE[PERSONA])
    if chosen:
        return chosen
    from character.constitution import latest_constitution

    try:
        return latest_constitution()
    except OSError:
        return None


def set_persona(name: str | None) -> None:
    """Make `name` the current persona (and forget a model trained for another persona)."""
    if not name or name == st.session_state.get(_STATE[PERSONA]):
        return
    st.session_state[_STATE[PERSONA]] = name
    st.session_state.pop(_STATE[MODEL], None)
    _sync_url()


def set_model(ref: str | None) -> None:
    """Make `ref` (a model reference: a path for adapters) the current model."""
    if not ref:
        return
    st.session_state[_STATE[MODEL]] = str(ref)
    _sync_url()


def current_model() -> str | None:
    """The model picked last, else the final adapter of the newest run for the persona
    picked in this session (any persona's in a fresh session), else None (the picker's own
    default, the base model, applies)."""
    chosen = st.session_state.get(_STATE[MODEL])
    if chosen:
        return chosen
    from character.jobs.latest import latest_adapter

    try:
        found = latest_adapter(st.session_state.get(_STATE[PERSONA]))
    except Exception:  # noqa: BLE001 - an unreadable index must not break every picker
        return None
    return str(found.path) if found else None


def _sync_url() -> None:
    """Keep the URL in step with the selection, so a reload opens the same targets."""
    for param, key in _STATE.items():
        value = st.session_state.get(key)
        if value:
            st.query_params[param] = value
        elif param in st.query_params:
            del st.query_params[param]


def link_params(**extra: str) -> dict[str, str]:
    """Query parameters that carry the current selection (plus `extra`) to another page."""
    out = {PERSONA: current_persona(), MODEL: st.session_state.get(_STATE[MODEL])}
    out.update(extra)
    return {k: str(v) for k, v in out.items() if v}


def page_link(page: str, label: str, icon: str | None = None, **targets: str) -> None:
    """`st.page_link` that carries the selection and `targets` (e.g. `model=`, `run=`)."""
    st.page_link(page, label=label, icon=icon, query_params=link_params(**targets))


def default_option(key: str, options: Sequence[Any], wanted: Any) -> None:
    """Preselect `wanted` in the picker `key` when the page opens (its widget has no state
    yet) and `wanted` is one of its options; a choice made on the page is never overridden."""
    if key in st.session_state or wanted is None:
        return
    if wanted in options:
        st.session_state[key] = wanted


def persona_picker_default(key: str, options: Sequence[str]) -> None:
    default_option(key, options, current_persona())


def remember_persona(key: str) -> None:
    """on_change callback of a persona picker: the pick becomes the current persona."""
    set_persona(st.session_state.get(key))


def remember_model(key: str) -> None:
    """on_change callback of a model picker: the pick becomes the current model."""
    set_model(st.session_state.get(key))


def adapter_name_for(ref: str | None, adapters: dict[str, Path]) -> str | None:
    """The name under which `known_adapters()` lists the adapter at `ref` (a path)."""
    if not ref:
        return None
    try:
        target = Path(ref).resolve()
    except (OSError, ValueError):
        return None
    for name, path in adapters.items():
        if Path(path).resolve() == target:
            return name
    return ref if ref in adapters else None
