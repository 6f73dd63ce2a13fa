"""Class overview (instructor): every student, their runs and how far they got."""

from __future__ import annotations

import time

import streamlit as st

from character.classroom import class_overview, load_classroom, reset_pin
from studio.classroom_ui import class_dir, require_instructor
from studio.common import run_safely
from studio.runs_view import fmt_duration

session = require_instructor()
cfg = load_classroom(class_dir())
st.title("Class overview")
st.caption(
    f"Class code **{cfg.class_code}** · each student may run {cfg.max_jobs_per_student} "
    "job(s) at once; more wait in the shared queue in order."
)


@st.fragment(run_every=5)
def overview() -> None:
    students = run_safely(lambda: class_overview(class_dir()), "read the class's workspaces")
    if students is None:
        return
    if not students:
        st.info("No student has signed in yet. They open this address and type the class code.")
        return
    runs = [r for s in students for r in s.runs]
    cols = st.columns(4)
    cols[0].metric("Students", len(students))
    cols[1].metric("Running", sum(r.state.value in ("running", "stopping") for r in runs))
    cols[2].metric("Queued", sum(r.state.value == "queued" for r in runs))
    cols[3].metric("Finished", sum(r.state.value == "succeeded" for r in runs))
    now = time.time()
    st.dataframe(
        [
            {
                "student": s.display_name,
                "folder": s.user,
                "runs": len(s.runs),
                **{k: s.counts().get(k, 0) for k in ("running", "queued", "succeeded", "failed")},
                "newest run": s.runs[0].display_name if s.runs else "",
                "last sign-in": f"{fmt_duration(now - s.last_seen_at)} ago",
            }
            for s in students
        ],
        hide_index=True,
        width="stretch",
    )
    for s in students:
        with st.expander(f"{s.display_name}: {len(s.runs)} run(s)"):
            if st.button(
                "Reset PIN",
                key=f"class_reset_{s.user}",
                help="Forgotten or locked out: their next sign-in sets a new PIN.",
            ) and run_safely(lambda u=s.user: reset_pin(class_dir(), session, u) or True, "reset"):
                st.success(f"{s.display_name} sets a new PIN at the next sign-in.")
            if not s.runs:
                st.caption("No runs yet.")
                continue
            st.dataframe(
                [
                    {
                        "run": r.run_id,
                        "name": r.display_name,
                        "kind": r.kind,
                        "state": r.state.value,
                        "stage": r.stage or "",
                        "progress": (
                            f"{100 * min(r.step or 0, r.total) / r.total:.0f}%" if r.total else ""
                        ),
                        "queue position": r.queue_position or "",
                    }
                    for r in s.runs
                ],
                hide_index=True,
                width="stretch",
            )
            st.page_link(
                "studio/views/projector.py",
                label=f"Show {s.display_name}'s newest run on the projector",
                icon=":material/co_present:",
                query_params={"user": s.user, "run": s.runs[0].run_id},
            )


overview()
