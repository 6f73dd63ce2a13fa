"""Class arena (students): vote between two anonymous classmates' personas, then see who they
were and the class standings. Battles, votes and standings live in `character.classroom`."""

from __future__ import annotations

import streamlit as st

from character.backends.base import SamplingParams
from character.classroom.arena import (
    class_contestants,
    class_standings,
    create_class_battle,
    my_result,
    standings_figure,
    vote_class_battle,
)
from studio.classroom_ui import class_dir, current_session
from studio.common import run_safely

session = current_session()
if session is None:
    st.stop()
st.title("Class arena")
st.caption(
    "Two systems your classmates published answer the same prompt. You see them as A and B "
    "without knowing whose they are, and pick the one that sounds more like a real "
    "character. You vote once per battle; after your vote you see who was who and the class "
    "standings."
)

contestants = run_safely(lambda: class_contestants(class_dir()), "read the class gallery") or []
if len(contestants) < 2:
    st.info(
        "The class arena needs at least two systems: publish a persona or a trained run on "
        "the Class gallery page (yours or a classmate's)."
    )
    st.stop()
st.caption(f"{len(contestants)} systems from the class gallery can take part.")

prompt = st.text_area(
    "Prompt",
    "What would you do with a free afternoon?",
    key="ca_prompt",
    help="Both systems answer this. Ask something that lets a character show.",
)
if st.button("New battle", key="ca_new", type="primary"):
    with st.spinner("Both systems are answering…"):
        battle = run_safely(
            lambda: create_class_battle(
                class_dir(), session, prompt, sampling=SamplingParams(max_new_tokens=64)
            ),
            "start the battle",
        )
    if battle is not None:
        st.session_state["ca_battle"] = battle

battle = st.session_state.get("ca_battle")
if battle is None:
    st.stop()
st.markdown(f"**Prompt:** {battle.prompt}")
left, right = st.columns(2)
with left.container(border=True):
    st.markdown("#### A")
    st.text(battle.response_a)  # as plain text: a reply is never markup
with right.container(border=True):
    st.markdown("#### B")
    st.text(battle.response_b)

result = run_safely(lambda: my_result(class_dir(), session, battle.battle_id), "read your vote")
choices = (("A", "A is better"), ("B", "B is better"), ("tie", "Tie"), ("both_bad", "Both bad"))
for col, (choice, label) in zip(st.columns(4), choices, strict=True):
    if col.button(label, key=f"ca_vote_{choice}", disabled=result is not None):
        voted = run_safely(
            lambda c=choice: vote_class_battle(class_dir(), session, battle.battle_id, c),
            "save your vote",
        )
        if voted is not None:
            st.rerun()
if result is None:
    st.stop()

said = dict(choices)[result.choice]
st.success(f"Vote saved ({said}). A was **{result.label_a}**; B was **{result.label_b}**.")
st.subheader("Class standings")
board = run_safely(lambda: class_standings(class_dir(), rounds=200), "compute the standings")
if board is not None:
    if board.rows:
        st.plotly_chart(standings_figure(board, font_size=15), key="ca_standings")
        st.caption(
            "Ratings on the Elo scale (1000 is the class average). The bar's whiskers are the "
            "95% interval: where the rating would likely land with many more votes. A system "
            "needs a few games before its interval is drawn. '(trained)' is a classmate's "
            "trained model answering with no instructions; '(prompted)' is the untrained base "
            "model told to play the persona."
        )
    for note in board.notes[:3]:
        st.info(note)
