"""Projector (instructor): one student's run, or two side by side, or the class arena's
standings, in large type."""

from __future__ import annotations

import streamlit as st

from character.classroom import class_overview, read_student_run
from character.classroom.arena import class_standings, standings_figure
from character.classroom.overview import StudentRunView
from studio.classroom_ui import class_dir, require_instructor
from studio.common import run_safely
from studio.runs_view import BOOKKEEPING, fmt_duration, metric_figures

require_instructor()
st.markdown(
    """<style>
    [data-testid="stMainBlockContainer"] h1 {font-size: 3.2rem;}
    [data-testid="stMainBlockContainer"] h2 {font-size: 2.4rem;}
    [data-testid="stMetricValue"] {font-size: 2.6rem;}
    [data-testid="stMetricLabel"] p {font-size: 1.3rem;}
    [data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p {
        font-size: 1.3rem;
    }
    </style>""",
    unsafe_allow_html=True,
)  # static styles of ours only: nothing a student typed goes into HTML
st.title("Projector")
RUNS, STANDINGS = "Students' runs", "Class arena standings"
showing = st.radio("Show", [RUNS, STANDINGS], horizontal=True, key="proj_show")

if showing == STANDINGS:

    @st.fragment(run_every=10)
    def standings() -> None:
        """Refreshes itself while students vote."""
        board = run_safely(lambda: class_standings(class_dir(), rounds=300), "rate the class")
        if board is None:
            return
        st.header(f"Votes: {board.n_votes} · People who voted: {board.n_voters}")
        if not board.rows:
            st.info(
                board.notes[-1]
                if board.notes
                else "No votes yet: students vote on the Class arena page."
            )
            return
        fig = standings_figure(board, font_size=24)
        # theme=None: Streamlit's chart theme would shrink the fonts back to page size
        st.plotly_chart(fig, key="proj_standings", theme=None)
        st.caption(
            "1000 is the class average. Whiskers: 95% intervals (drawn once a system has a "
            "few games)."
        )

    standings()
    st.stop()

students = run_safely(lambda: class_overview(class_dir()), "read the class's workspaces") or []
with_runs = {s.user: s for s in students if s.runs}
if not with_runs:
    st.info("No student has a run yet. Their runs appear here as soon as they start one.")
    st.stop()
users = list(with_runs)


def pick(slot: str, default_user: str | None, default_run: str | None) -> tuple[str, str]:
    """A student and one of their runs (newest first) for one side of the screen."""
    cols = st.columns(2)
    user_key, run_key = f"proj_user_{slot}", f"proj_run_{slot}"
    if user_key not in st.session_state and default_user in users:
        st.session_state[user_key] = default_user
    user = cols[0].selectbox(
        "Student", users, key=user_key, format_func=lambda u: with_runs[u].display_name
    )
    runs = {r.run_id: r for r in with_runs[user].runs}
    if run_key not in st.session_state and default_run in runs:
        st.session_state[run_key] = default_run
    if st.session_state.get(run_key) not in runs:
        st.session_state.pop(run_key, None)
    run_id = cols[1].selectbox(
        "Run", list(runs), key=run_key, format_func=lambda r: runs[r].display_name
    )
    return user, run_id


def show(view: StudentRunView, *, chart_height: int) -> None:
    p = view.progress
    st.header(f"{view.display_name}: {p.display_name}")
    cols = st.columns(3)
    cols[0].metric("State", p.state.value)
    stage = f"{p.stage_index} of {p.stage_count}" if p.stage_index and p.stage_count else None
    cols[1].metric("Stage", stage or p.stage or "–")
    cols[2].metric("Time", fmt_duration(p.elapsed_s))
    last = view.metrics[-1] if view.metrics else {}
    shown = [
        (k, v) for k, v in last.items() if isinstance(v, (int, float)) and k not in BOOKKEEPING
    ][:3]
    if shown:
        for col, (key, value) in zip(st.columns(len(shown)), shown, strict=True):
            col.metric(key, f"{value:.4g}")
    for key, fig in metric_figures(view.metrics):
        fig.update_layout(height=chart_height, font=dict(size=20))
        st.plotly_chart(fig, key=f"proj_{view.user}_{p.run_id}_{key}")
    if not view.metrics:
        st.caption("No numbers yet: charts appear when the run writes its first metrics.")


first = pick("a", st.query_params.get("user"), st.query_params.get("run"))
side_by_side = st.toggle("Side by side with another run", key="proj_side")
# the other side opens on another student, the usual comparison
other = next((u for u in users if u != first[0]), first[0])
second = pick("b", other, None) if side_by_side else None
st.query_params.update({"user": first[0], "run": first[1]})
st.divider()


@st.fragment(run_every=5)
def screen() -> None:
    views = [
        run_safely(lambda u=u, r=r: read_student_run(class_dir(), u, r), "read the run")
        for u, r in ([first, second] if second else [first])
    ]
    if second is None:
        if views[0] is not None:
            show(views[0], chart_height=420)
        return
    for col, view in zip(st.columns(2), views, strict=True):
        with col:
            if view is not None:
                show(view, chart_height=340)


screen()
