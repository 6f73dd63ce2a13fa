"""Feedback: judge responses, turn judgements into suggestions and a new round, and see whether
the round helped.

`feedback_form` is the questionnaire other pages show under a response ("Give feedback"); the
page body only runs when Streamlit runs this file as a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from studio.common import data_files, model_picker, rel, run_safely, sampling_controls, settings
from studio.selection import (
    adapter_name_for,
    current_model,
    default_option,
    persona_picker_default,
    remember_persona,
)


def _constitution(persona: str | None) -> Any:
    from character.constitution import list_constitutions, load_constitution

    paths = list_constitutions()
    if not persona or persona not in paths:
        return None
    return load_constitution(paths[persona])


def feedback_form(
    key: str,
    *,
    persona: str | None,
    conversation: list[dict[str, str]],
    response: str,
    model: str,
    sampling: dict[str, Any] | None = None,
    source: str = "chat",
) -> Any:
    """The questionnaire for one response, in an expander. Returns the saved record, or None."""
    from character.feedback.store import ERROR_TAG_HELP, ErrorTag, FeedbackRecord, record_feedback
    from character.models.registry import UnknownModelError, resolve

    with st.expander("Give feedback on this response"):
        const = _constitution(persona)
        if const is None:
            st.info("Pick a persona (constitution) to rate this response against its traits.")
            return None
        traits = [t.trait for t in const.traits]
        rating = st.slider(
            "In character (1 = not at all, 5 = exactly what the persona would say)",
            1,
            5,
            3,
            key=f"{key}_rating",
        )
        shown = st.multiselect("Traits that showed", traits, key=f"{key}_shown")
        missing = st.multiselect(
            "Traits that were missing",
            [t for t in traits if t not in shown],
            key=f"{key}_missing",
            help="Missing traits become suggested new questions for that trait.",
        )
        tags = st.multiselect(
            "What went wrong",
            [t.value for t in ErrorTag],
            key=f"{key}_tags",
            format_func=lambda v: ERROR_TAG_HELP[ErrorTag(v)],
            help="'Knows too much' becomes a suggested protective scene.",
        )
        correction = st.text_area(
            "Correction: what the character would really say (optional, most useful)",
            key=f"{key}_correction",
            help="A correction becomes a training pair: your reply preferred over this one.",
        )
        confidence = st.slider("How sure are you?", 1, 5, 3, key=f"{key}_confidence")
        rater = st.text_input("Your name (optional)", "anonymous", key=f"{key}_rater")
        if not st.button("Save feedback", key=f"{key}_save"):
            return None
        adapter = None
        try:
            adapter = str(resolve(model).adapter) if resolve(model).adapter else None
        except UnknownModelError:
            pass

        def save() -> Any:
            rec = FeedbackRecord(
                rater=rater.strip() or "anonymous",
                source=source if source in ("chat", "preview", "arena") else "other",
                persona=const.name,
                conversation=conversation,
                response=response,
                model=model,
                adapter=adapter,
                sampling=sampling or {},
                rating=rating,
                traits_shown=shown,
                traits_missing=missing,
                error_tags=[ErrorTag(t) for t in tags],
                correction=correction or None,
                confidence=confidence,
            )
            return record_feedback(rec, constitution=const)

        saved = run_safely(save, "save the feedback")
        if saved is not None:
            st.success(f"Feedback saved ({saved.id}).")
        return saved


def _adapters() -> dict[str, Path]:
    from character.models.registry import known_adapters

    try:
        return known_adapters()
    except Exception:  # noqa: BLE001 - an unreadable folder must not break the page
        return {}


def _classifiers() -> list[Path]:
    return [p.parent for p in data_files((".json",)) if p.name == "classifier.json"]


def _submit(kind: str, config: dict[str, Any], name: str) -> str | None:
    from character.jobs import submit

    run_id = run_safely(
        lambda: submit({"kind": kind, "config": config, "display_name": name}),
        "start the job",
        "Check the settings above.",
    )
    if run_id:
        st.success(f"Started run `{run_id}`: follow it on the Runs page.")
    return run_id


def show_round_report(path: Path) -> None:
    from character.feedback.report import load_round_report

    rep = load_round_report(path)
    (st.success if rep.verdict.startswith("significant improvement") else st.info)(
        f"**Verdict:** {rep.verdict}"
    )
    if rep.arena:
        a = rep.arena
        st.markdown(
            f"Arena ({a.judge}): {a.win_rate.wins} wins, {a.win_rate.losses} losses, "
            f"{a.win_rate.ties} ties for round N+1."
        )
    if rep.retention:
        r = rep.retention
        st.markdown(
            "Persona retention under adversarial prompts: "
            + ", ".join(f"{k} {v.estimate:.0%}" for k, v in r.adversarial.items())
            + f" ({r.n_prompts} held-out prompts)"
        )
    if rep.fixes and rep.fixes.fixed_new is not None:
        f = rep.fixes
        st.markdown(
            f"Previously failing prompts now in persona: {f.fixed_new.estimate:.0%} "
            f"(round N: {f.fixed_previous.estimate:.0%}, n={f.n_failing}). {f.note}"  # type: ignore[union-attr]
        )
    for n in rep.notes:
        st.warning(n)
    fig_path = path.with_name("round_report.plotly.json")
    if fig_path.exists():
        import plotly.io as pio

        st.plotly_chart(pio.from_json(fig_path.read_text(encoding="utf-8")), key=f"fig_{path}")


def _page() -> None:
    from character.constitution import list_constitutions

    st.title("Feedback")
    st.caption(
        "Judge the character's replies. Corrections become training pairs, missing traits "
        "become suggested questions, and a new round trains from the previous adapter. The "
        "round report says plainly whether the new round is better."
    )
    personas = list(list_constitutions())
    if not personas:
        st.warning("No constitutions yet: write one on the Constitution editor page.")
        return
    give, browse, sugg, round_tab, report_tab = st.tabs(
        ["Give feedback", "All feedback", "Suggestions", "New round", "Round report"]
    )

    with give:
        persona_picker_default("fb_persona", personas)
        persona = st.selectbox(
            "Persona",
            personas,
            key="fb_persona",
            on_change=remember_persona,
            args=("fb_persona",),
        )
        model = model_picker(
            "Model that answers", key="fb_model", default=current_model(), remember=True
        )
        prompt = st.text_area("Prompt", "What would you do with a free afternoon?", key="fb_prompt")
        params = sampling_controls("fb", max_new_tokens=96)
        if st.button("Get a response", key="fb_generate", type="primary"):
            from studio.common import cached_backend

            conv = [{"role": "user", "content": prompt}]
            backend = run_safely(lambda: cached_backend(model), f"load {model}")
            if backend is not None:
                with st.spinner("Answering…"):
                    reply = run_safely(lambda: backend.chat(conv, params), "reply")
                if reply is not None:
                    st.session_state["fb_item"] = (persona, conv, reply, model, params.model_dump())
        pasted = st.text_area(
            "…or paste a response to rate",
            key="fb_pasted",
            help="Rate a reply you got elsewhere (it is stored with the model named above).",
        )
        if pasted.strip():
            conv = [{"role": "user", "content": prompt}]
            st.session_state["fb_item"] = (persona, conv, pasted.strip(), model, {})
        item = st.session_state.get("fb_item")
        if item is not None:
            p, conv, reply, m, sampling = item
            st.markdown(f"**Response ({Path(m).name}):**")
            st.write(reply)
            feedback_form(
                "fb_q",
                persona=p,
                conversation=conv,
                response=reply,
                model=m,
                sampling=sampling,
                source="preview",
            )

    with browse:
        from character.feedback.store import export_feedback, load_feedback

        records = run_safely(load_feedback, "read the feedback") or []
        st.metric("Feedback records", len(records))
        if records:
            gone = sum(not r.model_available for r in records)
            if gone:
                st.warning(f"{gone} record(s) are about models that were deleted (kept, marked).")
            st.dataframe(
                [
                    {
                        "id": r.id,
                        "persona": r.persona,
                        "rating": r.rating,
                        "model": Path(r.model).name,
                        "model available": r.model_available,
                        "tags": ", ".join(t.value for t in r.error_tags),
                        "correction": r.correction or "",
                    }
                    for r in records
                ],
                hide_index=True,
                width="stretch",
            )
            fmt = st.radio("Export format", ["jsonl", "csv"], horizontal=True, key="fb_fmt")
            out = settings().data_path / "feedback" / f"feedback_export.{fmt}"
            if st.button("Export", key="fb_export"):
                done = run_safely(lambda: export_feedback(out, fmt=fmt), "export the feedback")
                if done is not None:
                    st.success(f"Wrote {rel(done)}.")
                    st.download_button("Download", done.read_bytes(), done.name, key="fb_download")

    with sugg:
        from character.feedback.training_data import decide_suggestion, refresh_suggestions

        suggestions = run_safely(refresh_suggestions, "compute suggestions") or []
        pending = [s for s in suggestions if s.status == "pending"]
        st.caption(
            "Accepting a question adds it to that trait in the constitution; accepting a "
            "protective scene adds it to the persona's protective prompts."
        )
        if not suggestions:
            st.info("No suggestions yet: mark missing traits or 'knows too much' in feedback.")
        for s in pending[:20]:
            label = (
                f"Ask more about **{s.trait}**: “{s.text}”"
                if s.kind == "trait_question"
                else f"Protective scene: “{s.text}”"
            )
            c1, c2, c3 = st.columns([6, 1, 1])
            c1.markdown(f"{label} ({s.count}×, {s.persona})")
            for col, accept, word in ((c2, True, "Accept"), (c3, False, "Reject")):
                clicked = col.button(word, key=f"fb_{word.lower()}_{s.id}")
                if clicked and run_safely(
                    lambda s=s, a=accept: decide_suggestion(s.id, a), word.lower()
                ):
                    st.rerun()
        decided = [s for s in suggestions if s.status != "pending"]
        if decided:
            st.caption(f"{len(decided)} decided: " + ", ".join(f"{s.status}" for s in decided))

    adapters = _adapters()
    with round_tab:
        st.caption(
            "Round N+1 continues training round N's adapter on DPO pairs from corrections "
            "(and exported arena votes), mixed with round N's data at a capped share."
        )
        persona_picker_default("fb_r_persona", personas)
        r_persona = st.selectbox(
            "Persona",
            personas,
            key="fb_r_persona",
            on_change=remember_persona,
            args=("fb_r_persona",),
        )
        if not adapters:
            st.info("No adapters yet: train one on the Training launcher page first.")
        else:
            default_option("fb_r_prev", list(adapters), adapter_name_for(current_model(), adapters))
            prev = st.selectbox("Previous round's adapter", list(adapters), key="fb_r_prev")
            datasets = [None, *data_files()]
            base_ds = st.selectbox(
                "Previous round's DPO pairs (mixed in)",
                datasets,
                key="fb_r_base",
                format_func=lambda p: "(feedback only)" if p is None else rel(p),
            )
            share = st.slider(
                "Largest share of feedback pairs in the mix",
                0.05,
                1.0,
                0.3,
                0.05,
                key="fb_r_share",
                help="A few raters' taste should not swamp the distilled data.",
            )
            steps = st.number_input(
                "Training steps (0 = one pass over the data)",
                0,
                10000,
                0,
                key="fb_r_steps",
                help="How many updates to make; each looks at a few pairs. 0 makes one pass "
                "over all pairs.",
            )
            if st.button("Launch round", key="fb_r_launch", type="primary"):
                cfg = {
                    "persona": r_persona,
                    "previous_adapter": str(adapters[prev]),
                    "base_dataset": str(base_ds) if base_ds else None,
                    "max_feedback_share": share,
                    "max_steps": int(steps) or None,
                }
                _submit("feedback.round", cfg, f"{r_persona} feedback round")

    with report_tab:
        st.caption(
            "Blind arena of round N+1 vs round N (human votes when there are any, otherwise an "
            "automatic judge), persona retention on held-out prompts, and the share of "
            "previously failing prompts that now pass."
        )
        if len(adapters) >= 1:
            persona_picker_default("fb_rep_persona", personas)
            rp = st.selectbox(
                "Persona",
                personas,
                key="fb_rep_persona",
                on_change=remember_persona,
                args=("fb_rep_persona",),
            )
            names = list(adapters)
            new = st.selectbox("Round N+1", names, key="fb_rep_new")
            prev_name = st.selectbox(
                "Round N", names, index=min(1, len(names) - 1), key="fb_rep_prev"
            )
            classifiers = [None, *_classifiers()]
            clf = st.selectbox(
                "Persona classifier (for retention and the fix rate)",
                classifiers,
                key="fb_rep_clf",
                format_func=lambda p: "(none: arena only)" if p is None else rel(p),
            )
            judge = st.selectbox(
                "Judge",
                ["auto", "human", "classifier", "embedding"],
                key="fb_rep_judge",
                help="auto: human arena votes between the two when there are any, otherwise "
                "the classifier (or the offline embedding judge).",
            )
            if st.button("Run report", key="fb_rep_launch", type="primary"):
                if new == prev_name:
                    st.error("Pick two different rounds.")
                else:
                    cfg = {
                        "persona": rp,
                        "new_model": str(adapters[new]),
                        "previous_model": str(adapters[prev_name]),
                        "classifier_dir": str(clf) if clf else None,
                        "judge": judge,
                    }
                    _submit("feedback.report", cfg, f"{rp} round report")
        reports = [p for p in data_files((".json",)) if p.name == "round_report.json"]
        if reports:
            chosen = st.selectbox("Reports", reports, key="fb_rep_pick", format_func=rel)
            run_safely(lambda: show_round_report(chosen), "show the report")
        else:
            st.info("No round reports yet.")


if __name__ == "__main__":
    _page()
