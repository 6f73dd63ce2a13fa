"""Data preview: sample prompts for a persona, teacher vs student answers, browse datasets."""

from __future__ import annotations

from collections import Counter
from typing import Any

import streamlit as st

from character.constitution import ConstitutionError, list_constitutions, load_constitution
from character.io import DataFileError, JsonlProblem, iter_jsonl
from character.persona_prompt import persona_conversation
from studio.common import (
    cached_backend,
    coming_soon,
    data_files,
    has_module,
    model_picker,
    rel,
    run_safely,
    sampling_controls,
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
    if has_module("character.distillation.prompts"):
        from character.distillation.prompts import build_prompt_set

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
    else:
        coming_soon("the prompt mix", "character.distillation.prompts")
        st.session_state["dp_prompts"] = c.questions()[:n_prompts] if c else []

    t_col, s_col = st.columns(2)
    with t_col:
        teacher = model_picker("Teacher model (with the constitution)", key="dp_teacher")
    with s_col:
        student = model_picker("Student model (without it)", key="dp_student")
    params = sampling_controls("dps", max_new_tokens=64)
    go = st.button(
        "Generate pairs",
        key="dp_go",
        type="primary",
        disabled=c is None,
        help="Samples both models on the prompts above; takes a few seconds per prompt on a CPU.",
    )
    if go and c is not None:
        prompts_text: list[str] = st.session_state.get("dp_prompts", [])
        t_convs = [persona_conversation(c, p, teacher) for p in prompts_text]
        s_convs = [[{"role": "user", "content": p}] for p in prompts_text]
        with st.spinner(f"Sampling {len(prompts_text)} teacher and student answers…"):
            tb = run_safely(lambda: cached_backend(teacher), f"load teacher {teacher}")
            sb = run_safely(lambda: cached_backend(student), f"load student {student}")
            t_out = (
                run_safely(lambda: tb.generate(t_convs, params), "sample the teacher")
                if tb
                else None
            )
            s_out = (
                run_safely(lambda: sb.generate(s_convs, params), "sample the student")
                if sb
                else None
            )
        if t_out is not None and s_out is not None:
            st.session_state["dp_pairs"] = [
                (p, t[0], s[0]) for p, t, s in zip(prompts_text, t_out, s_out, strict=True)
            ]
    if persona:
        page_link(
            "studio/views/training.py",
            f"Train {persona} on data like this",
            ":material/rocket_launch:",
            persona=persona,
        )
    check_pair = None
    if has_module("character.distillation.filters"):
        from character.distillation.filters import check_pair
    for i, (prompt, chosen, rejected) in enumerate(st.session_state.get("dp_pairs", [])):
        st.markdown(f"**Prompt {i + 1}:** {prompt}")
        left, right = st.columns(2)
        box = left.container(border=True)
        box.markdown(":green[**Chosen — teacher with constitution**]")
        box.write(chosen.display_text() or "(empty)")
        box = right.container(border=True)
        box.markdown(":red[**Rejected — student without it**]")
        box.write(rejected.display_text() or "(empty)")
        if check_pair is not None:
            reason, detail = check_pair(chosen, rejected, prompt=prompt)
            if reason:
                st.caption(
                    f":material/warning: The generator would drop this pair: {reason} ({detail})."
                )
            else:
                st.caption(":material/check: The generator's filters would keep this pair.")


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
