"""Tinker in the studio: the launcher's "train on Tinker" section and the Tinker run panel.

Thin by design: every decision (key state, base models, cost, the job spec, checkpoints, the
adapter download) is a function in `character.tinker.launcher` / `character.tinker.runs`;
this module only lays those results out and wires buttons to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from character.launch_presets import knob_label
from studio.common import rel, run_safely

WHERE_LOCAL = "Local (this computer)"
WHERE_TINKER = "Tinker (remote service)"
WHERE_HELP = (
    "Local trains the embedded model (or any local model) on this computer's CPU or GPU: free "
    "and offline, but small models only. Tinker is a paid managed service that trains LoRA "
    "adapters on large models (8B-70B) remotely; it needs TINKER_API_KEY and shows the "
    "estimated cost before you launch. Progress shows on the Runs page either way."
)
METRIC_TITLES = {
    "loss": "Loss (lower is better)",
    "dpo_loss": "DPO loss (lower is better)",
    "accuracy": "Accuracy: share of pairs where chosen wins",
    "margin": "Reward margin: chosen minus rejected",
    "nll": "NLL of the chosen answers",
    "kl": "KL to the base model",
    "lr": "Learning rate",
}


@st.cache_data(ttl=60, show_spinner="Asking Tinker which models it trains…")
def _choices(base_url_hint: str | None, key_fp: str | None) -> Any:
    """Cached per base URL and key fingerprint (arguments are only cache keys)."""
    from character.tinker.launcher import base_model_choices

    return base_model_choices()


@st.cache_data(ttl=60, show_spinner="Checking Tinker and estimating the cost…")
def _check(
    dataset: str | None,
    mtime: float,
    base_model: str,
    epochs: int,
    batch_size: int,
    max_steps: int | None,
    key_fp: str | None,
    base_url_hint: str | None,
) -> Any:
    from character.tinker.launcher import launch_check

    return launch_check(
        dataset, base_model, epochs=epochs, batch_size=batch_size, max_steps=max_steps
    )


def render_tinker_launcher() -> None:
    """The Tinker half of the training launcher (the page calls this, then stops)."""
    from character.config_fields import field_help
    from character.launch_presets import PRESETS, cli_command, spec_yaml
    from character.settings import get_settings
    from character.tinker.launcher import (
        TINKER_PRESETS,
        key_status,
        tinker_job_spec,
        training_files,
    )
    from character.tinker.train import TinkerTrainingConfig

    key = key_status()
    url_hint = get_settings().tinker_base_url
    if key.well_formed:
        st.success(f"{key.message} (the key itself is never shown).", icon=":material/key:")
    else:
        st.error(key.message, icon=":material/key_off:")
    if not key.set:
        st.caption(
            "Without a key you can still pick a data file and see the estimated cost; "
            "launching needs the key."
        )

    files = training_files()
    dataset: Path | None = None
    if not files:
        st.warning(
            "No training file yet: generate DPO pairs (Local → Step 1) or import SFT "
            "conversations first. Tinker trains on the same JSONL files as local training."
        )
    else:
        labels = [
            f"{rel(p)} · {'DPO pairs' if k == 'dpo' else 'SFT conversations'}" for p, k in files
        ]
        pick = st.selectbox(
            "Data file",
            labels,
            key="tk_dataset",
            help="Rows with chosen/rejected train with DPO; rows with messages train with SFT.",
        )
        dataset = files[labels.index(pick)][0]

    choices = _choices(url_hint, key.fingerprint)
    if choices.source == "price table":
        st.caption(
            f"Models below come from the price table: the service was not asked ({choices.problem})"
        )
    base_model = st.selectbox(
        "Base model",
        choices.models,
        key="tk_model",
        help="The model Tinker adds your LoRA adapter to. Larger models hold a persona better "
        "and cost more per token.",
    )
    preset = st.radio(
        "Preset",
        PRESETS,
        horizontal=True,
        key="tk_preset",
        help="demo: a few steps to see it work · small: one pass at moderate batch · paper: "
        "the published recipe's sizes.",
    )
    knobs: dict[str, Any] = {}
    with st.expander("Advanced settings"):
        for knob, value in TINKER_PRESETS[preset].items():
            k = f"tk_{preset}_{knob}"
            if isinstance(value, float):
                fmt = "%.0e" if value < 0.01 else "%.2f"
                knobs[knob] = st.number_input(
                    knob_label(knob),
                    0.0,
                    1.0,
                    value,
                    format=fmt,
                    key=k,
                    help=field_help(TinkerTrainingConfig, knob),
                )
            else:
                knobs[knob] = int(
                    st.number_input(
                        knob_label(knob),
                        1,
                        1_000_000,
                        value,
                        key=k,
                        help=field_help(TinkerTrainingConfig, knob),
                    )
                )
        auto_download = st.checkbox(
            "Download the adapter when the run ends",
            True,
            key="tk_autodl",
            help="Saves the trained LoRA as a local PEFT folder in the run. You can also "
            "download it later from the Runs page.",
        )
    display = st.text_input("Run name", key="tk_name", help="A label for the Runs page (optional).")

    st.subheader("Cost estimate and checks")
    mtime = dataset.stat().st_mtime if dataset else 0.0
    check = _check(
        str(dataset) if dataset else None,
        mtime,
        base_model or "",
        int(knobs.get("epochs", 1)),
        int(knobs.get("batch_size", 8)),
        knobs.get("max_steps"),
        key.fingerprint,
        url_hint,
    )
    _show_estimate(check.estimate)
    if check.estimate_problem and not check.estimate:
        st.caption(f"No estimate: {check.estimate_problem}")
    if check.preflight and not check.problems:
        ms = check.preflight.get("latency_ms")
        st.markdown(
            f":material/check_circle: **service**: reachable at `{check.preflight['base_url']}`"
            + (f" ({ms:.0f} ms)" if ms else "")
            + f"; `{base_model}` can be trained there."
        )
    for p in check.problems:
        st.error(p)

    spec = None
    config_problems: list[str] = []
    if dataset is not None and base_model:
        spec = tinker_job_spec(
            dataset,
            base_model,
            preset,
            display_name=display or None,
            download_adapter=auto_download,
            **knobs,
        )
        from character.jobs import JobConfigError, validate

        try:
            validate(spec)
        except JobConfigError as exc:
            config_problems = exc.problems
            for problem in config_problems:
                st.error(f"Config: {problem}")
        st.subheader("The same from a terminal")
        st.code(cli_command(spec), language="bash")
        st.download_button("Download job.yaml", spec_yaml(spec), "job.yaml", key="tk_dl_yaml")

    if st.button(
        "Launch on Tinker",
        key="tk_launch",
        type="primary",
        disabled=spec is None or bool(config_problems) or not check.can_launch,
        help="Starts a local worker that drives the remote training; you can close the page.",
    ):
        from character.jobs import submit

        run_id = run_safely(lambda: submit(spec), "start the Tinker run", "Check the settings.")
        if run_id:
            st.session_state["runs_selected"] = run_id
            st.success(f"Started Tinker run `{run_id}`.")
            st.page_link(
                "studio/views/runs.py",
                label="Follow it on the Runs page",
                icon=":material/monitoring:",
            )


def _show_estimate(est: dict[str, Any] | None) -> None:
    if not est:
        return
    tokens = est["tokens"]
    cols = st.columns(4)
    cols[0].metric(
        "Estimated cost", f"${est['usd']:.2f}" if est["usd"] >= 0.01 else f"${est['usd']:.4f}"
    )
    cols[1].metric(
        "Tokens per pass",
        f"{tokens['total_tokens']:,}",
        help="Exact with the model's local tokenizer, else about 4 characters per token.",
    )
    cols[2].metric("Training steps", str(est["steps"]))
    cols[3].metric("Training kind", est["kind"].upper())
    row = est["price_row"]
    st.caption(
        f"Priced at ${row['train']}/M train tokens and ${row['prefill']}/M prefill tokens "
        f"from the editable price table `{est.get('price_table') or 'prices.yaml'}` "
        "(copy it to the data folder as tinker_prices.yaml to edit). "
        + " ".join(est.get("notes") or [])
    )


# ------------------------------------------------------------------------------ runs page


def _figures(rows: list[dict[str, Any]]) -> list[tuple[str, go.Figure]]:
    from character.tinker.runs import METRIC_KEYS

    figs = []
    for key in METRIC_KEYS:
        if key == "loss":
            continue  # the Runs page's own loss chart already shows it
        pts = [(r.get("step"), r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        if not pts:
            continue
        fig = go.Figure(
            go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers")
        )
        fig.update_layout(
            title=METRIC_TITLES.get(key, key),
            height=240,
            margin=dict(l=10, r=10, t=40, b=10),
            xaxis_title="step",
        )
        figs.append((key, fig))
    return figs


def render_tinker_run(run_id: str) -> None:
    """Tinker details for a tinker.train run: per-step metrics, checkpoints, the adapter."""
    from character.tinker.runs import fetch_run_adapter, tinker_run_info

    info = run_safely(lambda: tinker_run_info(run_id), "read the Tinker run")
    if info is None:
        return
    st.markdown(
        f"**Tinker run** · base model `{info.base_model or '?'}` · "
        f"{(info.kind or '?').upper()} · output `{info.output_dir}`"
    )
    if info.failure:
        f = info.failure
        resumable = " It is resumable: press Resume." if f.get("resumable") else ""
        st.warning(
            f"Tinker stopped with a {f.get('error_kind')} error: {f.get('error')}{resumable}"
        )
    figs = _figures(info.metrics)
    if figs:
        st.caption(f"Per-step metrics ({len(info.metrics)} steps recorded by the Tinker worker)")
        cols = st.columns(min(3, len(figs)))
        for i, (key, fig) in enumerate(figs):
            cols[i % len(cols)].plotly_chart(fig, key=f"tk_chart_{run_id}_{key}", width="stretch")
    if info.checkpoints:
        st.markdown("**Checkpoints** (state: resume from it · sampler: sample from it)")
        st.dataframe(
            [
                {
                    "name": c.name,
                    "step": c.step,
                    "state": c.state_path or "",
                    "sampler": c.sampler_path or "",
                }
                for c in info.checkpoints
            ],
            hide_index=True,
            width="stretch",
        )
    if info.sampler_path and info.state == "succeeded":
        st.caption(
            f"Sample the trained weights anywhere a model is picked (Arena, Models): "
            f"`{info.sampler_path}`"
        )
        st.page_link("studio/views/arena.py", label="Try it in the Arena", icon=":material/swords:")
    if not info.external_path and not info.adapter_dir:
        if info.state == "succeeded":
            st.caption("This run exported no adapter (export_weights was off).")
        return
    folder = info.adapter_dir
    label = "Download adapter again" if folder else "Download adapter"
    if st.button(
        label,
        key=f"tk_fetch_{run_id}",
        help="Fetch the trained LoRA from Tinker into a local PEFT folder inside the run.",
    ):
        with st.spinner("Downloading the adapter from Tinker…"):
            got = run_safely(
                lambda: fetch_run_adapter(run_id, overwrite=bool(folder)), "download the adapter"
            )
        if got is not None:
            folder = str(got)
            st.success(f"Adapter saved as a PEFT folder: `{folder}`")
    if folder:
        st.caption(
            f"Local PEFT folder: `{folder}`. It is listed on the Models page and in every "
            "model picker; merge, export and serve it like a local adapter."
        )
        from character.tinker.runs import zip_folder

        st.download_button(
            "Save adapter (.zip)",
            lambda f=folder: zip_folder(f),  # packed only when clicked (adapters can be large)
            f"{run_id}-adapter.zip",
            mime="application/zip",
            key=f"tk_zip_{run_id}",
            on_click="ignore",
            help="A zip of the PEFT folder (adapter_config.json + adapter_model.safetensors).",
        )
