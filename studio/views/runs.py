"""Runs: a live list of every run folder and a detail view that refreshes by itself."""

from __future__ import annotations

import streamlit as st

from character.jobs import get_run, list_runs, reconcile
from studio.classroom_ui import classroom_mode, run_request
from studio.runs_view import LIVE_STATES, fmt_duration, live_detail, render_detail

st.title("Runs")

if not st.session_state.get("runs_reconciled"):
    # Mark runs whose worker died while nobody watched (e.g. a reboot) as interrupted, once.
    try:
        reconcile()
    except Exception:  # noqa: BLE001
        pass
    st.session_state["runs_reconciled"] = True


@st.fragment(run_every=3)
def run_list() -> None:
    runs = list_runs(limit=100)
    if not runs:
        st.info("No runs yet. Start one from the Training launcher.")
        return
    rows = [
        {
            "run": r.run_id,
            "name": r.display_name,
            "kind": r.kind,
            "state": r.state.value,
            "stage": r.stage or "",
            "progress": (f"{100 * min(r.step or 0, r.total) / r.total:.0f}%" if r.total else ""),
            "ETA": fmt_duration(r.eta_s) if r.eta_s else "",
        }
        for r in runs
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


run_list()

ids = [r.run_id for r in list_runs(limit=100)]
wanted = st.query_params.get("run") or st.session_state.get("runs_selected")
if classroom_mode():  # only your own runs: a classmate's id or link is refused plainly
    wanted = run_request(ids, wanted)
if ids:
    index = ids.index(wanted) if wanted in ids else 0
    run_id = st.selectbox("Run", ids, index=index, key="runs_pick")
    st.query_params["run"] = run_id  # a reload comes back to the same run
    st.session_state["runs_selected"] = run_id
    st.divider()
    if get_run(run_id).state in LIVE_STATES:
        live_detail(run_id, every_s=2)
    else:
        render_detail(run_id)
