"""Data preview: sample prompts for a persona, teacher vs student answers, browse datasets."""

from __future__ import annotations

from collections import Counter
from typing import Any

import streamlit as st

from character.constitution import ConstitutionError, list_constitutions, load_constitution
from character.distillation.generate import pair_verdict_text, preview_pairs
from character.distillation.prompts import build_prompt_set
from character.io import DataFileError, JsonlProblem, iter_jsonl
from character.pipeline import PRESETS, pair_generation_config
from studio.common import (
    cached_backend,
    data_files,
    model_picker,
    rel,
    run_safely,
)
from studio.selection import page_link, persona_picker_default, remember_persona

MAX_ROWS = 5000  # rows read from a dataset for browsing; larger files show their first rows

st.title("Data preview")
st.caption(
    "Training data are pairs: the **teacher** answers with the persona in its instructions "
    "(the *chosen* answer), the **student** answers without it (the *rejected* answer). "
    "Training teaches the student to prefer the chosen one."
)
known = list_constitutions()
pairs_tab, browse_tab = st.tabs(["Teacher vs student", "Browse datasets"])

with pairs_tab:
    if not known:
        st.warning("No constitution yet: create one in the Constitution editor first.")
    persona_picker_default("dp_persona", list(known))
    persona = st.selectbox(
        "Persona",
        list(known),
        key="dp_persona",
        on_change=remember_persona,
        args=("dp_persona",),
        help="The persona you worked on last is picked for you.",
    )
    c = None
    if persona:
        try:
            c = load_constitution(known[persona])
        except ConstitutionError as exc:
            st.error(f"{exc}\n\nFix the file in the Constitution editor.")
    cols = st.columns(2)
    n_prompts = cols[0].slider(
        "How many prompts", 1, 10, 2, key="dp_n", help="Prompts to sample for the preview."
    )
    seed = cols[1].number_input(
        "Prompt seed", 0, 10_000, 0, key="dp_seed", help="Another seed gives other prompts."
    )

    @st.cache_data(max_entries=32, show_spinner=False)
    def _prompt_set(constitution_json: str, seed: int) -> object:
        from character.constitution import Constitution

        const = Constitution.model_validate_json(constitution_json)
        return build_prompt_set(const, seed=seed, template_count=50)

    if c is not None:
        pset = _prompt_set(c.model_dump_json(), int(seed))
        st.caption(
            "Prompt mix available: "
            + ", ".join(f"{k} {v}" for k, v in pset.counts.items())
            + f" (duplicates removed: {pset.duplicates_removed})"
        )
        prompts = [f"[{p.source}] {p.text}" for p in pset.prompts[:n_prompts]]
        st.session_state["dp_prompts"] = [p.text for p in pset.prompts[:n_prompts]]
        st.markdown("\n".join(f"{i + 1}. {p}" for i, p in enumerate(prompts)))

    t_col, s_col, scale_col = st.columns(3)
    with t_col:
        teacher = model_picker("Teacher model (with the constitution)", key="dp_teacher")
    with s_col:
        student = model_picker("Student model (without it)", key="dp_student")
    scale = scale_col.selectbox(
        "Recipe size",
        list(PRESETS),
        key="dp_scale",
        help="The preview samples and filters exactly as a recipe run of this size would: "
        "the same reply length, number of teacher tries per prompt and voice judge.",
    )
    go = st.button(
        "Generate pairs",
        key="dp_go",
        type="primary",
        disabled=c is None,
        help="Samples both models on the prompts above; takes a few seconds per prompt on a CPU.",
    )
    if go and c is not None:
        prompts_text: list[str] = st.session_state.get("dp_prompts", [])
        cfg = pair_generation_config(
            str(known[persona]), PRESETS[scale], teacher=teacher, student=student
        )
        with st.spinner(
            f"Sampling {len(prompts_text)} prompts: {cfg.best_of} teacher tries and one student "
            "answer each…"
        ):
            tb = run_safely(lambda: cached_backend(teacher), f"load teacher {teacher}")
            sb = run_safely(lambda: cached_backend(student), f"load student {student}")
            decisions = (
                run_safely(
                    lambda: preview_pairs(cfg, prompts_text, teacher=tb, student=sb),
                    "sample and judge the pairs",
                )
                if tb and sb
                else None
            )
        if decisions is not None:
            st.session_state["dp_pairs"] = decisions
    if persona:
        page_link(
            "studio/views/training.py",
            f"Train {persona} on data like this",
            ":material/rocket_launch:",
            persona=persona,
        )
    for i, d in enumerate(st.session_state.get("dp_pairs", [])):
        st.markdown(f"**Prompt {i + 1}:** {d.prompt}")
        left, right = st.columns(2)
        box = left.container(border=True)
        box.markdown(":green[**Chosen — teacher with constitution**]")
        box.write(d.chosen.display_text() or "(empty)")
        box = right.container(border=True)
        box.markdown(":red[**Rejected — student without it**]")
        box.write(d.rejected.display_text() or "(empty)")
        st.caption(pair_verdict_text(d))


def _text(value: Any) -> str:
    """The text of a field that is either a string or a TRL message list (last message)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return "" if value is None else str(value)


with browse_tab:
    internal = ("metrics.jsonl", "events.jsonl", "progress.jsonl", "votes.jsonl")
    files = [p for p in data_files() if p.name not in internal]
    if not files:
        st.info(
            "No datasets yet. They appear here once a generation run writes a `.jsonl` file "
            "into the data folder."
        )
    else:
        choice = st.selectbox("Dataset", [rel(p) for p in files], key="dp_file")
        path = files[[rel(p) for p in files].index(choice)]
        from studio.downloads import file_download

        file_download(path, "Download this dataset (JSONL)", key="dp_dl")
        problems: list[JsonlProblem] = []
        rows: list[dict[str, Any]] = []
        try:
            for _, obj in iter_jsonl(path, skip_bad=True, problems=problems):
                rows.append(obj)
                if len(rows) >= MAX_ROWS:
                    st.caption(f"Showing the first {MAX_ROWS} rows.")
                    break
        except DataFileError as exc:
            st.error(f"{exc}. The file is left untouched; regenerate it or pick another.")
        if problems:
            st.warning(
                f"{len(problems)} unreadable lines skipped, e.g. line {problems[0].line}: "
                f"{problems[0].problem}"
            )
        text_cols = [
            k for k in ("prompt", "chosen", "rejected", "messages") if rows and k in rows[0]
        ]
        f1, f2, f3 = st.columns(3)
        contains = f1.text_input("Contains text", key="dp_contains", help="Case-insensitive.")
        min_chars = f2.number_input(
            "Shortest answer (characters)",
            0,
            5000,
            0,
            key="dp_min",
            help="Hide rows whose chosen answer is shorter than this.",
        )
        personas = sorted({str(r.get("constitution", "")) for r in rows if r.get("constitution")})
        persona_pick = f3.multiselect("Persona", personas, key="dp_pfilter")
        dropped: Counter[str] = Counter()
        kept: list[dict[str, Any]] = []
        for r in rows:
            flat = {k: _text(r.get(k)) for k in text_cols}
            if contains and not any(contains.lower() in v.lower() for v in flat.values()):
                dropped["text filter"] += 1
                continue
            answer = flat.get("chosen") or flat.get("messages", "")
            if min_chars and len(answer) < min_chars:
                dropped["too short"] += 1
                continue
            if persona_pick and str(r.get("constitution", "")) not in persona_pick:
                dropped["other persona"] += 1
                continue
            extra = {
                k: v for k, v in r.items() if k not in text_cols and not isinstance(v, (list, dict))
            }
            kept.append({**flat, **extra})
        m = st.columns(2 + len(dropped))
        m[0].metric("Rows", len(rows))
        m[1].metric("Shown", len(kept))
        for i, (why, count) in enumerate(dropped.items()):
            m[2 + i].metric(f"Hidden: {why}", count)
        st.dataframe(kept[:500], hide_index=True, width="stretch")
