"""Sources: describe a character by its lines (transcripts), its life (a profile) or its card.

The page only gathers inputs and calls `character.sources`; long work goes to the job runner.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import streamlit as st

from character.constitution import list_constitutions, resolve_constitution
from character.io import iter_jsonl
from character.sources.augment import load_card_variants, update_card
from character.sources.experience import load_experience_stats
from character.sources.transcripts import (
    MAX_UPLOAD_FILE_BYTES,
    TranscriptImportConfig,
    guess_format,
    load_transcripts,
    save_uploaded_transcripts,
    transcript_folders,
)
from studio.common import data_files, model_picker, rel, run_safely, settings
from studio.selection import persona_picker_default, remember_persona


def _launch(kind: str, config: dict[str, Any], name: str) -> None:
    """Validate, submit, and point at the Runs page."""
    from character.jobs import JobConfigError, JobSpec, submit, validate

    spec = JobSpec(kind=kind, config=config, display_name=name or None)
    try:
        validate(spec)
    except JobConfigError as exc:
        for p in exc.problems:
            st.error(f"Config: {p}")
        return
    run_id = run_safely(lambda: submit(spec), "start the run", "Check the settings above.")
    if run_id:
        st.session_state["runs_selected"] = run_id
        st.success(f"Started run `{run_id}`.")
        st.page_link("studio/views/runs.py", label="Follow it on the Runs page", icon="📈")


@st.cache_data(ttl=20, show_spinner="Reading transcripts…")
def _corpus(folder: str, fmt: str, stamp: float, min_share: float = 0.5) -> dict[str, Any]:
    corpus = load_transcripts(
        TranscriptImportConfig(data_folder=Path(folder), format=fmt, min_parsed_share=min_share)
    )
    return {
        "speakers": corpus.speakers(),
        "problems": corpus.problems,
        "duplicates": corpus.duplicate_scenes,
        "scenes": len(corpus.scenes()),
    }


def _stamp(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


st.title("Sources")
st.caption(
    "Other ways to describe a character: their own lines in transcripts, a profile of their "
    "life (experience upload), or a character card that augmentation rewrites in many voices."
)
tab_t, tab_p, tab_c = st.tabs(["Transcripts", "Profile", "Character card"])

# ------------------------------------------------------------------ transcripts
with tab_t:
    with st.expander("Upload transcripts"):
        st.caption(
            "Screenplay text (`NAME: line`, or a play's `Ham.` on its own line before the speech; "
            "scene headings like `INT.`, `SCENE II.` or `#`) or JSON "
            'lines `{"speaker": ..., "text": ...}`; .txt or .jsonl, at most '
            f"{MAX_UPLOAD_FILE_BYTES // 1024} KiB per file."
        )
        uploads = st.file_uploader(
            "Transcript files", type=["txt", "jsonl"], accept_multiple_files=True, key="src_up"
        )
        up_name = st.text_input(
            "Folder name", key="src_up_name", help="Letters, digits, '-' or '_'."
        )
        if st.button("Save upload", key="src_up_save", disabled=not uploads):
            files = [(f.name, f.getvalue()) for f in uploads or []]
            saved = run_safely(
                lambda: save_uploaded_transcripts(up_name.strip(), files), "save the upload"
            )
            if saved:
                st.success(f"Saved {len(files)} file(s) to `{saved}`.")
                st.session_state["src_folder"] = up_name.strip()

    folders = transcript_folders()
    if not folders:
        st.info("No transcripts yet: upload some above.")
    else:
        names = list(folders)
        pick = st.selectbox("Transcript folder", names, key="src_folder")
        folder = folders[pick or names[0]]
        formats = ["jsonl", "raw"]
        fmt = st.radio(
            "Format",
            formats,
            index=formats.index(guess_format(folder)),
            horizontal=True,
            key=f"src_fmt_{pick}",
            help="jsonl: one JSON object per line; raw: screenplay text.",
        )
        min_share = 0.5
        if fmt == "raw":
            min_share = st.slider(
                "Lines that must parse",
                0.05,
                1.0,
                0.5,
                0.05,
                key=f"src_share_{pick}",
                help="A raw file where fewer of its lines parse as speeches, headings or stage "
                "directions is refused as no screenplay. Lower it for files with long front "
                "matter (a cast list, a preface).",
            )
        info = run_safely(
            lambda: _corpus(str(folder), fmt, _stamp(folder), min_share),
            f"read the transcripts in {folder}",
        )
        if info:
            st.markdown(f"**{len(info['speakers'])} speakers, {info['scenes']} scenes**")
            st.dataframe(
                [
                    {
                        "speaker": r["speaker"],
                        "lines": r["lines"],
                        "words": r["words"],
                        "sample lines": " / ".join(r["samples"]),
                    }
                    for r in info["speakers"]
                ],
                hide_index=True,
                key="src_speakers",
            )
            for d in info["duplicates"]:
                st.warning(f"Duplicate scene dropped: {d}")
            if info["problems"]:
                with st.expander(f"{len(info['problems'])} lines skipped"):
                    st.code("\n".join(info["problems"][:50]))
            speakers = [r["speaker"] for r in info["speakers"]]
            counts = {r["speaker"]: r["lines"] for r in info["speakers"]}
            target = st.selectbox(
                "Target speaker", speakers, key="src_target", help="Whose voice to learn."
            )
            where = st.radio(
                "Train on",
                ["local", "tinker"],
                horizontal=True,
                key="src_t_backend",
                help="local: this machine (CPU or GPU). tinker: the Tinker service, which needs "
                "TINKER_API_KEY in .env; the adapter is downloaded into the run folder.",
            )
            if where == "tinker":
                model = st.text_input(
                    "Tinker base model",
                    "Qwen/Qwen3-8B",
                    key="src_t_tinker_model",
                    help="A model name Tinker trains, e.g. Qwen/Qwen3-8B.",
                ).strip()
                if not settings().tinker_key():
                    st.warning("Set TINKER_API_KEY in .env to train on Tinker.")
            else:
                model = model_picker("Base model", key="src_t_model")
            with st.expander("Training settings"):
                c1, c2, c3 = st.columns(3)
                epochs = c1.number_input("Epochs", 0.5, 50.0, 3.0, 0.5, key="src_epochs")
                max_length = c2.number_input("Max length", 64, 4096, 512, 64, key="src_maxlen")
                batch = c3.number_input("Batch size", 1, 64, 4, key="src_batch")
                window = c1.number_input("Context lines", 1, 20, 4, key="src_window")
                turns = c2.number_input("Replies per example", 1, 20, 6, key="src_turns")
                hold = c3.number_input("Held-out share", 0.05, 0.5, 0.2, 0.05, key="src_hold")
            need = 20
            if target and counts.get(target, 0) < need:
                st.warning(
                    f"{target} has {counts[target]} lines; at least {need} are needed to train."
                )
            run_name = st.text_input("Run name", key="src_t_name")
            if st.button("Train on these lines", key="src_t_launch", type="primary"):
                if where == "tinker" and not (settings().tinker_key() and model):
                    st.error("Tinker needs TINKER_API_KEY in .env and a base model name.")
                else:
                    _launch(
                        "sources.transcripts.train",
                        {
                            "target": target,
                            "model": model,
                            "backend": where,
                            "data_folder": str(folder),
                            "format": fmt,
                            "min_parsed_share": float(min_share),
                            "epochs": float(epochs),
                            "max_length": int(max_length),
                            "batch_size": int(batch),
                            "context_window": int(window),
                            "max_assistant_turns": int(turns),
                            "holdout_share": float(hold),
                        },
                        run_name,
                    )

# ------------------------------------------------------------------ profile
with tab_p:
    st.caption(
        "Experience upload: a teacher imagines scenes from the character's life, writes each as "
        "a script from their perspective, and adds protective scenes where they deflect what "
        "they could not know."
    )
    who = st.text_input("Character name", key="src_p_name")
    profile = st.text_area("Profile", height=200, key="src_p_profile")
    teacher = model_picker(
        "Teacher model",
        key="src_p_teacher",
        help="Who writes the scenes. The embedded model runs offline; an OpenAI-compatible "
        "endpoint (the 'openai' row, base URL from LLM_BASE_URL or OPENAI_BASE_URL) writes better "
        "scripts.",
    )
    if not (settings().openai_url() or settings().openai_key()):
        st.caption(
            "To use an OpenAI-compatible teacher (OpenAI, vLLM, Ollama, `transformers serve`), "
            "set LLM_BASE_URL (and LLM_API_KEY if it needs one) in .env."
        )
    c1, c2, c3 = st.columns(3)
    n_scenes = c1.number_input("Scenes", 1, 5000, 8, key="src_p_scenes")
    n_prot = c2.number_input("Protective scenes", 0, 5000, 4, key="src_p_prot")
    n_tokens = c3.number_input("Longest reply (tokens)", 16, 4096, 200, 8, key="src_p_tokens")
    era = st.text_input(
        "Cannot know about", key="src_p_era", help="e.g. 'anything after 1850' (optional)."
    )
    strict = st.checkbox(
        "Keep only protective replies that say the character does not know",
        key="src_p_strict",
        help="Worth it with a strong teacher; a small model rarely phrases it that way.",
    )
    if st.button("Generate experiences", key="src_p_launch", type="primary"):
        if not who.strip() or not profile.strip():
            st.error("Give the character's name and a profile.")
        else:
            _launch(
                "sources.experience",
                {
                    "character": who.strip(),
                    "profile": profile,
                    "teacher_model": teacher,
                    "scenes": int(n_scenes),
                    "protective_scenes": int(n_prot),
                    "max_new_tokens": int(n_tokens),
                    "era_hint": era,
                    "require_deflection": bool(strict),
                },
                f"experience: {who.strip()}",
            )

    experience_files = [p for p in data_files() if p.name.endswith("experience.jsonl")]
    if experience_files:
        with st.expander("Train an adapter on experience data"):
            st.caption(
                "SFT with the loss on every reply of the character (the introspection trainer), "
                "the same as `character introspect train --dataset FILE`."
            )
            names = [rel(p) for p in experience_files]
            pick_exp = st.selectbox("Experience file", names, key="src_p_file")
            exp_path = experience_files[names.index(pick_exp)]
            if exp_path.with_suffix(".stats.json").exists():
                stats = load_experience_stats(exp_path)
                st.caption(
                    ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats.counts().items())
                )
            exp_model = model_picker("Model to train", key="src_p_model")
            exp_epochs = st.number_input("Epochs", 0.5, 20.0, 2.0, 0.5, key="src_p_epochs")
            if st.button("Train on this file", key="src_p_train"):
                first = next((o for _, o in iter_jsonl(exp_path, skip_bad=True)), {})
                who_slug = re.sub(r"[^a-z0-9]+", "-", str(first.get("character", "")).lower())
                slug = who_slug.strip("-") or "character"
                _launch(
                    "introspect.train",
                    {
                        "dataset_path": str(exp_path),
                        "persona": slug,
                        "model": exp_model,
                        "epochs": float(exp_epochs),
                    },
                    f"experience SFT: {slug}",
                )

# ------------------------------------------------------------------ card
with tab_c:
    personas = list(list_constitutions())
    if not personas:
        st.info("No constitution yet: write one in the Constitution editor first.")
    else:
        persona_picker_default("src_c_persona", personas)
        persona = st.selectbox(
            "Persona",
            personas,
            key="src_c_persona",
            on_change=remember_persona,
            args=("src_c_persona",),
        )
        c = run_safely(lambda: resolve_constitution(persona), f"load {persona}")
        if c is not None:
            st.caption("One item per line. Attributes say who the character is; behaviors how.")
            a, b = c.attributes, c.behaviors
            identity = st.text_input("Identity", a.identity, key=f"src_c_identity_{persona}")
            lists: dict[str, list[str]] = {}
            col_a, col_b = st.columns(2)
            for field in ("interests", "viewpoints", "experiences", "achievements"):
                text = col_a.text_area(
                    field.title(), "\n".join(getattr(a, field)), key=f"src_c_{field}_{persona}"
                )
                lists[field] = [x.strip() for x in text.splitlines() if x.strip()]
            for field in ("linguistic_features", "emotional_expression", "interaction_patterns"):
                text = col_b.text_area(
                    field.replace("_", " ").capitalize(),
                    "\n".join(getattr(b, field)),
                    key=f"src_c_{field}_{persona}",
                )
                lists[field] = [x.strip() for x in text.splitlines() if x.strip()]
            if st.button("Save card", key="src_c_save"):
                attrs = {
                    "identity": identity,
                    **{k: lists[k] for k in ("interests", "viewpoints", "experiences")},
                    "achievements": lists["achievements"],
                    "relationships": a.relationships,
                }
                behs = {
                    k: lists[k]
                    for k in ("linguistic_features", "emotional_expression", "interaction_patterns")
                }
                path = run_safely(lambda: update_card(persona, attrs, behs), "save the card")
                if path:
                    st.success(f"Saved to `{path}`.")
            variants = load_card_variants(c.name)
            if variants:
                with st.expander(f"{len(variants)} augmented variants"):
                    for v in variants:
                        st.markdown(f"**{v.style}** ({v.origin}): {v.system_prompt}")
            aug_model = model_picker("Rewriting model", key="src_c_model")
            per_style = st.number_input("Variants per style", 1, 20, 1, key="src_c_n")
            if st.button("Augment the card", key="src_c_launch", type="primary"):
                _launch(
                    "sources.augment",
                    {"persona": persona, "model": aug_model, "variants_per_style": int(per_style)},
                    f"augment: {persona}",
                )
