"""Evaluation: reports written by evaluation runs, their figures, and two reports compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from character.eval.report import load_report
from studio.common import rel, run_safely, settings

st.title("Evaluation")

st.caption(
    "Is the trained model more in character than the base model with a system prompt? "
    "Each evaluation run writes a report with numbers, 95% intervals and charts."
)
root = settings().data_path
reports = (
    sorted(root.rglob("report.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    if root.exists()
    else []
)
if not reports:
    st.info(
        "No evaluation reports yet. Start one from a terminal, e.g. `character eval --help`, "
        "or as a job (kinds `eval.report`, `eval.classifier`, `eval.robustness`, "
        "`eval.revealed`); its report shows up here."
    )
    st.stop()


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
    for name, fig in report.get("figure_data", {}).items():
        try:
            st.plotly_chart(go.Figure(fig), key=f"{key}_{name}")
        except Exception as exc:  # noqa: BLE001
            st.warning(f"Figure {name} could not be drawn: {exc}")


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
