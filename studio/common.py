"""Shared helpers for studio pages: cached heavy objects, feature detection, friendly errors.

Pages stay thin: they build typed configs from widgets and call the `character` library. Pages
import the library directly: a library module that fails to import is a bug to see, not a
feature to hide behind a "coming soon" note.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from character.redaction import redact_secrets
from character.settings import EMBEDDED_MODEL, Settings, get_settings

T = TypeVar("T")

MAX_UPLOAD_BYTES = 256 * 1024
"""Uploads (constitutions, small datasets) larger than this are refused with a message."""


def settings() -> Settings:
    return get_settings()


def run_safely(action: Callable[[], T], what: str, hint: str = "") -> T | None:
    """Run a library call; on failure show an error that says what to do, not a traceback."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the UI must never show a traceback
        msg = f"Could not {what}: {exc}"
        if hint:
            msg += f"\n\n{hint}"
        st.error(redact_secrets(msg))
        return None


@st.cache_resource(show_spinner="Loading the model (once per app start)…", max_entries=4)
def cached_backend(ref: str) -> Any:
    """A generation backend, loaded once per process and shared by every session."""
    from character.models.registry import get_backend

    return get_backend(ref)


def cached_interactive_backend(ref: str) -> Any:
    """The backend for one conversation at a time (chat, side-by-side): llama.cpp when it is
    installed and the model has a GGUF (CHARACTER_INTERACTIVE_ENGINE), shared like the above."""
    from character.models.registry import get_interactive_backend

    return get_interactive_backend(ref)


def model_rows() -> list[dict[str, str]]:
    """Models a user can pick (embedded first), from the library's registry."""
    from character.models.registry import list_models

    try:
        rows = list_models()
    except Exception:  # noqa: BLE001
        rows = [{"ref": EMBEDDED_MODEL, "kind": "local", "description": "embedded"}]
    return rows + tinker_checkpoint_rows()


def tinker_checkpoint_rows() -> list[dict[str, str]]:
    """Trained `tinker://` sampler checkpoints of finished Tinker runs (needs the key to
    sample, so they are offered only when one is set)."""
    if not settings().tinker_key():
        return []
    from character.tinker.runs import trained_checkpoints

    try:
        found = trained_checkpoints()
    except Exception:  # noqa: BLE001 - a torn run folder must not break every picker
        return []
    return [{"ref": c.sampler_path, "kind": "tinker", "description": c.label} for c in found]


def model_refs() -> list[str]:
    return [r["ref"] for r in model_rows()]


def matching_ref(wanted: str | None, refs: list[str]) -> str | None:
    """The entry of `refs` that names the same model as `wanted` (adapter paths compared as
    resolved folders, since a run may record a relative path and the registry an absolute one)."""
    if not wanted:
        return None
    if wanted in refs:
        return wanted
    try:
        target = Path(wanted).resolve()
    except (OSError, ValueError):
        return None
    for ref in refs:
        if "/" in ref or "\\" in ref:
            try:
                if Path(ref).resolve() == target:
                    return ref
            except (OSError, ValueError):
                continue
    return None


def model_picker(
    label: str,
    key: str,
    help: str | None = None,
    default: str | None = None,
    remember: bool = False,
) -> str:
    """Pick any model the registry knows; endpoint rows ask for the model name.

    `default` is preselected when the page opens (e.g. the adapter the user just trained);
    with `remember`, a pick becomes the studio's current model for the other pages."""
    from studio.selection import default_option, remember_model

    rows = model_rows()
    labels = {
        r["ref"]: r["description"]
        if r["ref"].startswith(("tinker://", "demo:"))
        else f"{Path(r['ref']).name} — {r.get('description', '')}"
        for r in rows
    }
    default_option(key, list(labels), matching_ref(default, list(labels)))
    choice = st.selectbox(
        label,
        list(labels),
        key=key,
        format_func=lambda ref: labels.get(ref, ref),
        help=help or "Which model writes the text. The embedded model runs offline on a CPU.",
        on_change=remember_model if remember else None,
        args=(key,) if remember else None,
    )
    if choice and "<model>" in choice:
        prefix = choice.split(":", 1)[0]
        name = st.text_input(
            f"{prefix} model name", key=f"{key}_name", help="The model id at that endpoint."
        )
        if not name.strip():
            st.warning(f"Type the {prefix} model name to use this endpoint.")
            return EMBEDDED_MODEL
        return f"{prefix}:{name.strip()}"
    return choice or EMBEDDED_MODEL


def sampling_controls(key: str, max_new_tokens: int = 120) -> Any:
    """Sampling knobs folded away, with plain-words help; returns `SamplingParams`."""
    from character.backends.base import SamplingParams

    with st.expander("Sampling settings"):
        temperature = st.slider(
            "Temperature",
            0.0,
            1.5,
            0.7,
            0.05,
            key=f"{key}_temp",
            help="Higher is more varied and surprising; 0 always picks the most likely word.",
        )
        tokens = st.slider(
            "Longest reply (tokens)",
            16,
            512,
            max_new_tokens,
            8,
            key=f"{key}_tokens",
            help="A token is about three quarters of a word. Longer replies take longer on a CPU.",
        )
        seed = st.number_input(
            "Seed",
            0,
            2**31 - 1,
            0,
            key=f"{key}_seed",
            help="The same seed with the same settings gives the same reply, for fair comparisons.",
        )
    return SamplingParams(temperature=temperature, max_new_tokens=tokens, seed=int(seed))


def data_files(suffixes: tuple[str, ...] = (".jsonl",), under: str | None = None) -> list[Path]:
    """Files inside the data folder (never typed paths), newest first."""
    root = settings().data_path
    if under:
        root = root / under
    if not root.exists():
        return []
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix in suffixes]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def rel(path: Path) -> str:
    """A path shown relative to the data folder."""
    try:
        return str(path.relative_to(settings().data_path))
    except ValueError:
        return str(path)
