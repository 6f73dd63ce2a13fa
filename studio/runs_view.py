"""Run detail for the Runs page: progress, charts from metrics.jsonl, log tail and controls.

Everything here reads the run folder through `character.jobs`, so a reload or an app restart
re-attaches to a running job without any state of its own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from character.jobs import (
    RunState,
    cancel,
    get_run,
    read_metrics,
    read_progress,
    request_stop,
    resume,
    run_dir,
    tail_log,
)
from character.redaction import redact_secrets

CHARTS = (
    ("loss", "Loss", "lower is better"),
    ("rewards/margins", "Reward margin", "chosen minus rejected; higher is better"),
    ("rewards/accuracies", "Pair accuracy", "share of pairs where chosen wins"),
)
LIVE_STATES = {RunState.QUEUED, RunState.RUNNING, RunState.STOPPING}
STATE_ICON = {
    "queued": ":material/hourglass_empty:",
    "running": ":material/directions_run:",
    "stopping": ":material/pause_circle:",
    "stopped": ":material/stop_circle:",
    "succeeded": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "interrupted": ":material/warning:",
}
BOOKKEEPING = {"step", "time", "epoch", "elapsed_s", "eta_s", "total_steps", "total"}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def metric_figures(rows: list[dict[str, Any]]) -> list[tuple[str, go.Figure]]:
    """One plotly line chart per known training metric present; else every numeric column."""
    figs: list[tuple[str, go.Figure]] = []
    keys = [k for k, _, _ in CHARTS if any(k in r for r in rows)]
    titles = {k: t for k, t, _ in CHARTS}
    hints = {k: h for k, _, h in CHARTS}
    if not keys:
        numeric = {
            k
            for r in rows
            for k, v in r.items()
            if isinstance(v, (int, float)) and k not in BOOKKEEPING
        }
        keys = sorted(numeric)[:4]
    for key in keys:
        # A whole-recipe run trains twice (DPO, then SFT), each from step 1: one line per
        # training stage, or the steps of the second would be drawn back over the first.
        series: dict[str, list[tuple[Any, float]]] = {}
        for i, r in enumerate(rows):
            if isinstance(r.get(key), (int, float)):
                series.setdefault(str(r.get("stage") or ""), []).append((r.get("step", i), r[key]))
        if not series:
            continue
        fig = go.Figure(
            [
                go.Scatter(
                    x=[p[0] for p in pts],
                    y=[p[1] for p in pts],
                    mode="lines+markers",
                    name=stage_label(stage),
                )
                for stage, pts in series.items()
            ]
        )
        fig.update_layout(
            title=titles.get(key, key),
            height=260,
            margin=dict(l=10, r=10, t=40, b=10),
            xaxis_title="step",
            yaxis_title=hints.get(key, ""),
            showlegend=len(series) > 1,
            legend=dict(orientation="h", y=-0.3),
        )
        figs.append((key, fig))
    return figs


def stage_label(stage: str) -> str:
    """'dpo: train' → 'DPO', 'sft: train' → 'SFT'; other stage names as they are."""
    head = stage.split(":", 1)[0].strip()
    return head.upper() if head in {"dpo", "sft"} else (stage or "training")


def _act(fn: Any, run_id: str, what: str) -> None:
    try:
        fn(run_id)
    except Exception as exc:  # noqa: BLE001
        st.error(redact_secrets(f"Could not {what.lower()}: {exc}"))
        return
    st.toast(f"{what}: {run_id}")
    st.rerun()  # show the new state at once


def render_detail(run_id: str) -> None:
    """The whole detail view; called inside a fragment that reruns on a timer while live."""
    try:
        p = read_progress(run_id)
    except Exception as exc:  # noqa: BLE001
        st.error(
            redact_secrets(
                f"Cannot read run {run_id}: {exc}. It may have been deleted; pick another."
            )
        )
        return
    state = p.state.value
    st.subheader(f"{STATE_ICON.get(state, '')} {p.display_name}")
    cols = st.columns(4)
    cols[0].metric("State", state)
    if p.stage_index and p.stage_count:
        cols[1].metric(
            "Stage",
            f"{p.stage_index} of {p.stage_count}",
            help=f"Now: {p.stage or '–'}. The whole recipe runs its stages one after another.",
        )
    else:
        cols[1].metric("Stage", p.stage or "–")
    cols[2].metric("Elapsed", fmt_duration(p.elapsed_s))
    left = p.overall_eta_s if p.overall_eta_s is not None else p.eta_s
    cols[3].metric(
        "Time left",
        f"about {fmt_duration(left)}" if left is not None else "–",
        help="For a whole recipe: the current stage's measured pace plus estimates for the "
        "stages after it, corrected by how long the finished stages really took.",
    )
    step = f"{p.step}/{p.total}" if p.total else (str(p.step) if p.step else "")
    st.progress(p.fraction or 0.0, text=f"{p.stage or state} {step}".strip())
    if p.queue_position:
        st.info(f"Waiting in the queue (position {p.queue_position}).")
    if p.message:
        st.caption(p.message)
    if p.error:
        st.error(f"The run failed: {p.error}\n\nFix the cause, then press Resume.")
    b = st.columns(4)
    live = p.state in LIVE_STATES
    if b[0].button(
        "Cancel",
        key=f"cancel_{run_id}",
        disabled=not live,
        help="Stop now and discard the current step.",
    ):
        _act(cancel, run_id, "Cancelled")
    if b[1].button(
        "Stop and save",
        key=f"stop_{run_id}",
        disabled=p.state != RunState.RUNNING,
        help="Finish the current step, save, and end; you can resume later.",
    ):
        _act(request_stop, run_id, "Stop requested")
    if b[2].button(
        "Resume",
        key=f"resume_{run_id}",
        disabled=not p.resumable,
        help="Continue from the last save.",
    ):
        _act(resume, run_id, "Resumed")
    rows = read_metrics(run_id)
    figs = metric_figures(rows)
    if figs:
        chart_cols = st.columns(min(3, len(figs)))
        for i, (key, fig) in enumerate(figs):
            chart_cols[i % len(chart_cols)].plotly_chart(
                fig,
                key=f"chart_{run_id}_{key}",
                width="stretch",
                config={"displayModeBar": False},  # it covers the titles of narrow charts
            )
    else:
        st.caption("Charts appear when the run reports its first metrics.")
    _log(run_id, live)
    _artifacts(run_id, downloads=not live)
    if p.kind == "pipeline" and not live:
        _pipeline_result(run_id)
    if p.state == RunState.SUCCEEDED:
        _next_steps(run_id)
    if p.kind == "tinker.train":
        from studio.tinker_ui import render_tinker_run

        st.divider()
        render_tinker_run(run_id)


def _log(run_id: str, live: bool) -> None:
    """The log in plain words: warnings and raw trainer output stay in the file (download it
    for everything), the page says how many were folded away and the trainer's numbers."""
    from character.jobs.log_view import plain_log

    view = plain_log(tail_log(run_id, 400), max_lines=40)
    with st.expander("Log (last lines)", expanded=live):
        if view.trainer_numbers and view.numbers_in_words():
            st.markdown(f"**Latest training numbers:** {view.numbers_in_words()}")
        st.code("\n".join(view.lines) or "(empty)", language=None)
        if view.hidden_note():
            st.caption(view.hidden_note())
        log_file = run_dir(run_id) / "log.txt"
        if log_file.exists():
            st.download_button(
                "Download the full log",
                log_file.read_bytes(),
                file_name=f"{run_id}-log.txt",
                mime="text/plain",
                key=f"log_dl_{run_id}",
                icon=":material/download:",
            )


def _artifacts(run_id: str, downloads: bool = False) -> None:
    from character.jobs.store import read_artifacts

    try:
        arts = read_artifacts(run_dir(run_id))
    except Exception:  # noqa: BLE001
        return
    for warning in arts.result.get("warnings") or []:  # e.g. a requested model went unused
        st.warning(str(warning))
    if "embedding_model_used" in arts.result:
        used = arts.result["embedding_model_used"] or "TF-IDF word features (no embedding model)"
        st.caption(f"Classifier features: {used}")
    if arts.artifacts:
        from studio.downloads import file_download, folder_download

        st.markdown("**Produced**")
        for i, a in enumerate(arts.artifacts):
            path = Path(a.path)
            what = a.name or ("run folder" if path.is_dir() else path.name)
            st.markdown(f"- {what}: `{a.path}`")
            if not downloads:
                continue  # a live run's files are still changing
            if path.is_dir():
                folder_download(
                    path,
                    f"Download {what}",
                    key=f"art_dl_{run_id}_{i}",
                    file_name=f"{run_id}-{path.name}.zip",
                )
            else:
                file_download(path, f"Download {what}", key=f"art_dl_{run_id}_{i}")


def _pipeline_summary(run_id: str) -> dict[str, Any] | None:
    """The `summary.json` the whole-recipe run wrote (its own folder, named in the artifacts)."""
    import json
    from pathlib import Path

    from character.jobs.store import read_artifacts

    arts = read_artifacts(run_dir(run_id))
    found = [a.path for a in arts.artifacts if a.path.endswith("summary.json")]
    output = arts.result.get("output")
    if output:
        found.append(str(Path(output) / "summary.json"))
    for path in found:
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None


def _pipeline_result(run_id: str) -> None:
    """What the whole recipe made: each stage, the quick evaluation and the adapters to try."""
    summary = _pipeline_summary(run_id)
    if summary is None:
        return
    st.subheader("Result")
    stages = summary.get("stages", {})
    st.table(
        {
            name: {"status": info.get("status", ""), "time": fmt_duration(info.get("seconds"))}
            for name, info in stages.items()
        }
    )
    eval_path = stages.get("eval", {}).get("path")
    if eval_path:
        _quick_eval(Path(eval_path))
    adapters = [(name, stages.get(name, {}).get("adapter")) for name in ("dpo", "sft")]
    adapters = [(n, a) for n, a in adapters if a]
    if adapters:
        st.markdown(
            "**Trained adapters** (the last one is the finished character):  \n"
            + "  \n".join(f"- {n}: `{a}`" for n, a in adapters)
        )


def _next_steps(run_id: str) -> None:
    """Links that open the other pages on this run's finished adapter and persona."""
    from character.jobs.latest import final_adapter, run_adapters
    from studio.selection import page_link

    final = final_adapter(run_adapters(run_id))
    if final is None:
        return
    targets = {"model": str(final.path)}
    if final.persona:
        targets["persona"] = final.persona
    st.markdown(
        f"**Next:** try the finished adapter `{final.path.name}` ({final.name or 'adapter'})"
    )
    cols = st.columns(4)
    for col, (page, label, icon) in zip(
        cols,
        (
            ("studio/views/models.py", "Chat with the trained model", ":material/chat:"),
            ("studio/views/arena.py", "Compare it in the Arena", ":material/swords:"),
            ("studio/views/evaluation.py", "Evaluate it", ":material/analytics:"),
            ("studio/views/export.py", "Export or download it", ":material/package_2:"),
        ),
        strict=True,
    ):
        with col:
            page_link(page, label, icon, **targets)


def _quick_eval(path: Path) -> None:
    """The quick evaluation: in-voice share with its interval per model, both judges."""
    from pydantic import ValidationError

    from character.introspection.quick_eval import (
        QuickEvalResult,
        format_share,
        quick_eval_figure,
    )

    try:
        result = QuickEvalResult.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError) as exc:
        st.warning(
            f"Cannot read the quick evaluation {path} (a run from an older version writes "
            f"another format; rerun its eval stage): {str(exc).splitlines()[0]}"
        )
        return
    st.markdown(
        f"**Quick evaluation** ({result.eval_prompts} held-out prompts: "
        f"{result.prompts_from_heldout_pairs} from the run's held-out pairs, "
        f"{result.prompts_from_builtin} built-in)"
    )
    report = result.classifier.report
    judge = result.voice_judge
    st.caption(
        "In voice: share of sampled replies (95% interval) that a persona classifier trained "
        "on this run's DPO pairs counts in persona"
        + (
            f" (its accuracy on pairs it did not fit: {format_share(report.accuracy)})"
            if report
            else ""
        )
        + (
            f"; judge: the voice judge ({judge.name}, score ≥ {judge.min_in_voice:.2f})"
            if judge
            else ""
        )
        + ". Held-out NLL: how likely each model finds the teacher's in-character answers "
        "without a system prompt (lower is closer to the persona)."
    )
    for warning in result.warnings:
        st.warning(warning)
    st.table(
        [
            {
                "model": name,
                "system prompt": "persona" if row.system_prompt else "none",
                "in voice (classifier)": format_share(row.in_voice),
                "in voice (judge)": format_share(row.judge_in_voice),
                "held-out NLL": "–"
                if row.heldout_answer_nll is None
                else f"{row.heldout_answer_nll:.3f}",
            }
            for name, row in result.models.items()
        ]
    )
    st.plotly_chart(
        quick_eval_figure(result), key=f"quick_eval_{path}", config={"displayModeBar": False}
    )
    with st.expander("Sample replies"):
        for name, row in result.models.items():
            for s in row.samples[:2]:
                score = (
                    f" · classifier {s.classifier_in_voice:.2f}"
                    if s.classifier_in_voice is not None
                    else ""
                )
                st.markdown(f"**{name}** · _{s.prompt}_{score}")
                st.write(s.answer or "–")


def live_detail(run_id: str, every_s: float) -> None:
    """Refresh by itself while the run is live; a full rerun once it ends stops the timer."""

    @st.fragment(run_every=every_s)
    def _live() -> None:
        render_detail(run_id)
        try:
            if get_run(run_id).state not in LIVE_STATES:
                st.session_state["runs_last_refresh"] = time.time()
                st.rerun()
        except Exception:  # noqa: BLE001
            return

    _live()
