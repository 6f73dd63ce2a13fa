"""Evaluation: start any evaluation as a background job, then read its report (figures,
two reports side by side, downloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from character.constitution import list_constitutions
from character.eval.report import load_report
from studio.common import data_files, model_picker, rel, run_safely, settings
from studio.selection import current_model, page_link, persona_picker_default, remember_persona

st.title("Evaluation")

st.caption(
    "Is the trained model more in character than the base model with a system prompt? "
    "Each evaluation runs in the background (follow it on the Runs page) and writes a report "
    "with numbers, 95% intervals and charts."
)
TITLES = {
    "classifier": "Persona classifier",
    "robustness": "Robustness",
    "revealed": "Revealed preferences",
    "judge": "Judge",
}
TRAIN_ONE = "(train one first from the pairs file)"


def _pairs_files() -> list[Path]:
    return [
        p for p in data_files() if "dpo" in p.name or "pairs" in p.name or p.parent.name == "pairs"
    ]


def _launcher() -> None:
    from pydantic import ValidationError

    from character.eval.launch import EVAL_KINDS, EvalLaunch, classifier_dirs, eval_job_spec
    from character.plain_errors import config_labels, plain_problems

    what = st.radio(
        "What to measure",
        list(EVAL_KINDS),
        format_func=lambda k: TITLES.get(k, k),
        horizontal=True,
        key="ev_what",
    )
    st.caption(EVAL_KINDS[what])
    personas = list(list_constitutions())
    if not personas:
        st.warning("No constitution yet: write one in the Constitution editor first.")
        return
    c1, c2 = st.columns(2)
    persona_picker_default("ev_persona", personas)
    persona = c1.selectbox(
        "Persona",
        personas,
        key="ev_persona",
        on_change=remember_persona,
        args=("ev_persona",),
        help="The persona the models should show (the one you worked on last).",
    )
    with c2:
        model = model_picker(
            "Trained model",
            key="ev_model",
            default=current_model(),
            remember=True,
            help="The model to evaluate, answering without a system prompt (the adapter you "
            "trained last is picked for you).",
        )
    base = model_picker(
        "Base model to compare with",
        key="ev_base",
        help="The model before training; where it applies, it gets the persona as a system "
        "prompt, so the comparison asks whether training beat prompting.",
    )
    dataset: Path | None = None
    classifier: Path | None = None
    judge = None
    if what in ("classifier", "robustness"):
        files = _pairs_files()
        if what == "robustness":
            found = classifier_dirs()
            names = [TRAIN_ONE, *[rel(p) for p in found]]
            pick = st.selectbox(
                "Classifier",
                names,
                index=1 if found else 0,
                key="ev_classifier",
                help="The classifier that decides whether a reply is in character.",
            )
            if pick != TRAIN_ONE:
                classifier = found[names.index(pick) - 1]
        if what == "classifier" or classifier is None:
            if not files:
                st.info("No pairs file yet: generate pairs on the Training launcher first.")
            else:
                names = [rel(p) for p in files]
                pick = st.selectbox(
                    "Pairs file",
                    names,
                    key="ev_dataset",
                    help="Teacher/student pairs: the teacher's answers count as in character, "
                    "the student's as not.",
                )
                dataset = files[names.index(pick)]
    if what == "judge":
        judge = model_picker(
            "Judge model",
            key="ev_judge",
            help="The model that reads both answers and picks the one more in character. A "
            "bigger model judges better; the embedded one works offline.",
        )
    p1, p2 = st.columns(2)
    prompts = p1.number_input(
        "Prompts",
        1,
        500,
        10,
        key="ev_prompts",
        help="How many questions each model answers. More gives tighter intervals and takes "
        "longer (each answer takes seconds on a CPU).",
    )
    tokens = p2.number_input(
        "Longest answer (tokens)",
        8,
        1024,
        96,
        8,
        key="ev_tokens",
        help="A token is about three quarters of a word.",
    )
    if st.button(
        "Start the evaluation", key="ev_start", type="primary", icon=":material/play_arrow:"
    ):
        from character.jobs import submit

        try:
            launch = EvalLaunch(
                what=what,
                persona=persona,
                model=model,
                base_model=base,
                dataset=dataset,
                classifier_dir=classifier,
                judge=judge or base,
                max_prompts=int(prompts),
                max_new_tokens=int(tokens),
            )
        except ValidationError as exc:
            for p in plain_problems(exc, config_labels(EvalLaunch)):
                st.error(p)
            return
        run_id = run_safely(lambda: submit(eval_job_spec(launch)), "start the evaluation")
        if run_id:
            st.session_state["runs_selected"] = run_id
            st.session_state["ev_started"] = run_id
    started = st.session_state.get("ev_started")
    if started:
        st.success(f"Started evaluation run `{started}`; its report appears under Reports.")
        page_link(
            "studio/views/runs.py",
            "Follow it on the Runs page",
            ":material/monitoring:",
            run=started,
        )


start_tab, reports_tab = st.tabs(["Start an evaluation", "Reports"])
with start_tab:
    _launcher()


def _show(path: Path, key: str) -> None:
    report: dict[str, Any] | None = run_safely(lambda: load_report(path), f"read {rel(path)}")
    if report is None:
        return
    st.markdown(f"**{report.get('name', path.parent.name)}** · {report.get('created_at', '')}")
    for name, section in report.get("sections", {}).items():
        if isinstance(section, dict):
            for warning in section.get("warnings") or []:
                st.warning(f"{name}: {warning}")
            if "embedding_model_used" in section:
                used = section["embedding_model_used"] or "TF-IDF word features"
                st.caption(f"{name} features: {used}")
        with st.expander(f"{name}", expanded=False):
            st.json(section, expanded=1)
    from studio.downloads import file_download, folder_download

    d1, d2 = st.columns(2)
    with d1:
        file_download(path, "Download report.json", key=f"{key}_dl_json")
    with d2:
        folder_download(
            path.parent,
            "Download the report with its figures",
            key=f"{key}_dl_zip",
            file_name=f"{report.get('name', path.parent.name)}-report.zip",
        )
    for name, fig in report.get("figure_data", {}).items():
        try:
            st.plotly_chart(go.Figure(fig), key=f"{key}_{name}")
        except Exception as exc:  # noqa: BLE001
            st.warning(f"Figure {name} could not be drawn: {exc}")


def _reports() -> None:
    root = settings().data_path
    reports = (
        sorted(root.rglob("report.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        if root.exists()
        else []
    )
    if not reports:
        st.info(
            "No evaluation reports yet: start one in the first tab; its report shows up here "
            "when the run ends."
        )
        return
    names = [rel(p) for p in reports]
    compare = st.toggle("Compare two reports side by side", key="ev_compare")
    if compare and len(reports) > 1:
        c1, c2 = st.columns(2)
        with c1:
            left = st.selectbox("Left", names, key="ev_left")
            _show(reports[names.index(left)], "ev_l")
        with c2:
            right = st.selectbox("Right", names, index=1, key="ev_right")
            _show(reports[names.index(right)], "ev_r")
    else:
        pick = st.selectbox("Report", names, key="ev_pick")
        _show(reports[names.index(pick)], "ev_one")


with reports_tab:
    _reports()
