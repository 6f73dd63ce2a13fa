"""Arena: blind A/B votes between any two systems, and the Bradley–Terry leaderboard."""

from __future__ import annotations

import streamlit as st

from character.constitution import list_constitutions
from character.eval.arena import (
    arena_leaderboard,
    contestant_id,
    create_battle,
    export_dpo_pairs,
    parse_contestant,
    record_vote,
    votes_path,
)
from studio.common import model_picker, run_safely, sampling_controls, settings
from studio.selection import current_model, current_persona, default_option

st.title("Arena")

st.caption(
    "Two systems answer the same prompt; you see them as A and B without knowing which is "
    "which, and pick the one more in character. Votes are kept and rated with Bradley–Terry."
)
NONE = "(no system prompt)"
personas = [NONE, *list_constitutions()]
vote_tab, board_tab = st.tabs(["Vote", "Leaderboard"])

with vote_tab:
    st.caption(
        "By default: your trained model without a system prompt against the base model "
        "prompted with the same persona (did training beat prompting?)."
    )
    mine = current_persona() or (personas[1] if len(personas) > 1 else None)
    default_option("ar_p2", personas, mine)
    c1, c2 = st.columns(2)
    with c1:
        m1 = model_picker("System 1", key="ar_m1", default=current_model(), remember=True)
        p1 = st.selectbox("System 1 prompt", personas, key="ar_p1")
    with c2:
        m2 = model_picker("System 2", key="ar_m2")
        p2 = st.selectbox("System 2 prompt", personas, key="ar_p2")
    prompt = st.text_area("Prompt", "What would you do with a free afternoon?", key="ar_prompt")
    params = sampling_controls("ar", max_new_tokens=96)
    voter = st.text_input(
        "Your name (stored with the vote)",
        "anonymous",
        key="ar_voter",
        help="Kept with each vote so votes can be counted per person; any name works.",
    )
    if st.button("New battle", key="ar_new", type="primary"):
        c_1 = contestant_id(m1, None if p1 == NONE else p1)
        c_2 = contestant_id(m2, None if p2 == NONE else p2)
        with st.spinner("Both systems are answering…"):
            battle = run_safely(
                lambda: create_battle(prompt, c_1, c_2, sampling=params),
                "start the battle",
                "Pick two different systems (a model, or the same model with another prompt).",
            )
        if battle is not None:
            st.session_state["ar_battle"] = battle
            st.session_state.pop("ar_voted", None)
    battle = st.session_state.get("ar_battle")
    if battle is not None:
        st.markdown(f"**Prompt:** {battle.prompt}")
        a, b = st.columns(2)
        a.markdown("#### A")
        a.write(battle.response_a)
        b.markdown("#### B")
        b.write(battle.response_b)
        voted = st.session_state.get("ar_voted")
        cols = st.columns(4)
        for col, (choice, label) in zip(
            cols,
            (("A", "A is better"), ("B", "B is better"), ("tie", "Tie"), ("both_bad", "Both bad")),
            strict=True,
        ):
            if col.button(label, key=f"ar_vote_{choice}", disabled=voted is not None):
                vote = run_safely(
                    lambda c=choice: record_vote(battle, c, voter=voter), "save the vote"
                )
                if vote is not None:
                    st.session_state["ar_voted"] = vote
                    st.rerun()
        if voted is not None:
            st.success(f"Vote saved. A was **{battle.model_a}**, B was **{battle.model_b}**.")
            from studio.views.feedback import feedback_form  # noqa: E402 - feedback helper

            for side, cid, text in (
                ("a", battle.model_a, battle.response_a),
                ("b", battle.model_b, battle.response_b),
            ):
                model_ref, persona_ref = parse_contestant(cid)
                st.caption(f"Feedback on {side.upper()} ({cid})")
                feedback_form(
                    f"ar_fb_{side}",
                    persona=persona_ref or next((x for x in (p1, p2) if x != NONE), None),
                    conversation=[{"role": "user", "content": battle.prompt}],
                    response=text,
                    model=model_ref,
                    sampling=battle.sampling,
                    source="arena",
                )

with board_tab:
    path = votes_path()
    mtime = path.stat().st_mtime if path.exists() else 0.0

    @st.cache_data(show_spinner="Fitting ratings…")
    def _board(p: str, m: float) -> object:
        return arena_leaderboard(p, rounds=200)

    board = run_safely(lambda: _board(str(path), mtime), "compute the leaderboard")
    if board is not None:
        notes = list(board.problems)
        if board.leaderboard is None:
            st.metric("Votes", board.n_votes)
            st.info(
                notes.pop() if board.n_votes and notes else "No votes yet: vote in the first tab."
            )
        else:
            from character.eval.bradley_terry import interval_text, leaderboard_figure

            st.metric("Votes", board.n_votes)
            st.dataframe(
                [
                    {
                        "system": r.system,
                        "rating": round(r.rating),
                        "95% interval": interval_text(r),
                        "games": r.games,
                        "wins": r.wins,
                        "losses": r.losses,
                        "ties": r.ties,
                        "both bad": r.both_bad,
                    }
                    for r in board.leaderboard.rows
                ],
                hide_index=True,
                width="stretch",
            )
            st.caption(
                "The 95% interval is the range the rating would likely fall in with many more "
                "votes; it shows once a system has a few games."
            )
            st.plotly_chart(leaderboard_figure(board.leaderboard), key="ar_board_fig")
        if board.unknown_models:
            st.warning(
                "Votes mention models that no longer exist (kept, still rated): "
                + ", ".join(board.unknown_models)
            )
        for p in notes[:5]:
            st.warning(p)
        if board.n_votes and st.button("Export decisive votes as DPO pairs", key="ar_export"):
            out = settings().data_path / "eval" / "arena" / "arena_dpo.jsonl"
            res = run_safely(lambda: export_dpo_pairs(out), "export the votes")
            if res is not None:
                st.success(
                    f"Wrote {res.n_pairs} pairs to {out.name} (skipped {res.skipped_ties} ties, "
                    f"{res.skipped_both_bad} both-bad)."
                )
