"""Class gallery: personas and runs students chose to share with the class."""

from __future__ import annotations

import json
import time

import streamlit as st

from character.classroom import list_gallery, publish_persona, publish_run, unpublish
from character.classroom.gallery import gallery_file, gallery_metrics
from character.constitution import list_constitutions
from character.jobs import list_runs
from studio.classroom_ui import class_dir, current_session
from studio.common import run_safely
from studio.runs_view import fmt_duration, metric_figures

session = current_session()
if session is None:
    st.stop()
st.title("Class gallery")
st.caption(
    "What classmates chose to share: a copy of a persona or of a run's numbers. Publishing "
    "is up to you; your workspace itself stays yours."
)

if not session.is_instructor:
    with st.expander("Share with the class", expanded=True):
        note = st.text_input("A note for the class (optional)", key="gal_note", max_chars=500)
        cols = st.columns(2)
        personas = sorted(list_constitutions())
        persona = cols[0].selectbox("Persona", personas, key="gal_persona")
        if cols[0].button("Publish persona", key="gal_pub_persona", disabled=not persona):
            entry = run_safely(
                lambda: publish_persona(class_dir(), session, persona, note), "publish"
            )
            if entry is not None:
                st.success(f"Published persona {entry.title!r}.")
        runs = {r.run_id: r for r in list_runs(limit=100)}
        run_id = cols[1].selectbox(
            "Run", list(runs), key="gal_run", format_func=lambda r: runs[r].display_name
        )
        if cols[1].button("Publish run", key="gal_pub_run", disabled=not run_id):
            entry = run_safely(lambda: publish_run(class_dir(), session, run_id, note), "publish")
            if entry is not None:
                st.success(f"Published run {entry.title!r}.")

entries = run_safely(lambda: list_gallery(class_dir()), "read the gallery") or []
if not entries:
    st.info("Nothing shared yet.")
now = time.time()
for entry in entries:
    with st.container(border=True):
        st.subheader(f"{entry.title} · {entry.kind} by {entry.owner_display}")
        st.caption(f"published {fmt_duration(now - entry.published_at)} ago")
        if entry.note:
            st.write(entry.note)
        if entry.kind == "persona":
            path = gallery_file(class_dir(), entry, entry.files[0])
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                traits = [t.get("trait", "") for t in data.get("traits", []) if isinstance(t, dict)]
                st.markdown("\n".join(f"- {t}" for t in traits) or "_no traits_")
            except (OSError, ValueError):
                st.code(path.read_text(encoding="utf-8", errors="replace")[:4000])
        else:
            st.caption(f"{entry.summary.get('kind', '')} · {entry.summary.get('state', '')}")
            for key, fig in metric_figures(gallery_metrics(class_dir(), entry)):
                st.plotly_chart(fig, key=f"gal_{entry.entry_id}_{key}")
        mine = session.is_instructor or entry.owner == session.user
        if mine and st.button("Remove from the gallery", key=f"gal_rm_{entry.entry_id}"):
            removed = run_safely(
                lambda e=entry: unpublish(class_dir(), session, e.entry_id) or True,
                "remove it",
            )
            if removed:
                st.rerun()
