"""Training launcher: presets, folded advanced settings, checks before launch, CLI equivalent."""

from __future__ import annotations

from typing import Any

import streamlit as st

from character.constitution import list_constitutions
from character.launch_presets import (
    PRESET_HELP,
    PRESETS,
    build_spec,
    cli_command,
    knob_help,
    knob_label,
    launcher_knobs,
    pipeline_config_fields,
    plain_config_problems,
    spec_yaml,
)
from character.preflight_checks import (
    Check,
    available_memory_gb,
    check_dataset_size,
    check_memory,
    check_tokenizer,
    count_rows,
    estimate_training_memory,
)
from studio.common import data_files, model_picker, rel, run_safely
from studio.selection import page_link, persona_picker_default, remember_persona, set_persona
from studio.tinker_ui import WHERE_HELP, WHERE_LOCAL, WHERE_TINKER, render_tinker_launcher

# Material icons ship with Streamlit; emoji need a colour-emoji font the machine may lack.
ICONS = {
    "ok": ":green[:material/check_circle:]",
    "warn": ":material/warning:",
    "error": ":material/error:",
}


@st.cache_resource(show_spinner=False)
def _hardware() -> Any:
    from character.hardware import detect

    return detect()


@st.cache_data(ttl=30, show_spinner=False)
def _pipeline_fields() -> set[str] | None:
    return pipeline_config_fields()


st.title("Training launcher")
st.caption(
    "Pick what to run and a preset; the advanced settings are folded away and each has help. "
    "Runs go to the job runner, so you can close this page: the Runs page follows them."
)

where = st.radio(
    "Where to train",
    [WHERE_LOCAL, WHERE_TINKER],
    horizontal=True,
    key="tl_where",
    help=WHERE_HELP,
)
if where == WHERE_TINKER:
    render_tinker_launcher()
    st.stop()

kinds = {
    "Whole recipe: pairs → DPO → introspection → SFT": "pipeline",
    "Step 1 · generate teacher/student pairs": "distill.generate",
    "Step 2 · train the student on the pairs (DPO)": "distill.train",
    "Smoke test of the job runner (no model)": "demo.count",
}

label = st.radio("What to run", list(kinds), key="tl_kind")
kind = kinds[label]
preset = st.radio(
    "Preset",
    PRESETS,
    horizontal=True,
    key="tl_preset",
    help="demo: minutes on a CPU · small: about an hour · paper: the published sizes.",
)
st.caption(PRESET_HELP[preset])

persona = None
if kind != "demo.count":
    personas = list(list_constitutions())
    if not personas:
        st.warning("No constitution yet: write one in the Constitution editor first.")
    persona_picker_default("tl_persona", personas)
    persona = st.selectbox(
        "Persona",
        personas,
        key="tl_persona",
        on_change=remember_persona,
        args=("tl_persona",),
        help="The constitution the model should learn (the one you worked on last).",
    )

overrides: dict[str, Any] = {}
dataset = None
if kind == "distill.generate":
    c1, c2 = st.columns(2)
    with c1:
        overrides["teacher_model"] = model_picker(
            "Teacher model", key="tl_teacher", help=knob_help(kind, "teacher_model")
        )
    with c2:
        overrides["student_model"] = model_picker(
            "Student model", key="tl_student", help=knob_help(kind, "student_model")
        )
elif kind in ("distill.train", "pipeline"):
    model_field = "model" if kind == "distill.train" else "student_model"
    overrides[model_field] = model_picker(
        "Model to train", key="tl_model", help=knob_help(kind, model_field)
    )
    if kind == "pipeline" and "student_model" not in (_pipeline_fields() or set()):
        overrides.pop("student_model")
if kind == "distill.train":
    files = [p for p in data_files() if "dpo" in p.name]
    if not files:
        st.warning("No pair files yet: run step 1 first, then come back.")
    else:
        names = [rel(p) for p in files]
        pick = st.selectbox(
            "Pairs file", names, key="tl_dataset", help="Pair files found in the data folder."
        )
        dataset = files[names.index(pick)]
        overrides["dataset_path"] = str(dataset)

defaults = launcher_knobs(kind, preset)
with st.expander("Advanced settings"):
    if not defaults:
        st.caption("The preset decides everything for this choice.")
    else:
        st.caption("Each setting has help (the ? icon); the job file keeps their short names.")
    for knob, value in defaults.items():
        key = f"tl_{kind}_{preset}_{knob}"
        label = knob_label(knob)
        help_text = f"{knob_help(kind, knob)}\n\nIn the job file: `{knob}`."
        if isinstance(value, bool):
            overrides[knob] = st.checkbox(label, value, key=key, help=help_text)
        elif isinstance(value, int):
            overrides[knob] = int(
                st.number_input(label, 1, 1_000_000, value, key=key, help=help_text)
            )
        elif isinstance(value, float):
            fmt = "%.0e" if value < 0.01 else "%.2f"
            overrides[knob] = st.number_input(
                label, 0.0, 1e6, value, format=fmt, key=key, help=help_text
            )

display = st.text_input("Run name", key="tl_name", help="A label for the Runs page (optional).")
spec = build_spec(kind, preset, persona, display_name=display or None, **overrides)

# ------------------------------------------------------------------ checks before launch
checks: list[Check] = []
problems: list[str] = []
try:
    from character.jobs import JobConfigError, validate

    validate(spec)
except JobConfigError as exc:
    problems = plain_config_problems(exc)
except Exception as exc:  # noqa: BLE001 - e.g. a kind whose module has not landed
    problems = [str(exc)]
model_ref = overrides.get("model") or overrides.get("student_model")
if kind != "demo.count" and model_ref:
    from character.models.embedded import is_converted
    from character.models.registry import local_paths, resolve

    spec_m = run_safely(lambda: resolve(model_ref), f"find model {model_ref}")
    if spec_m is not None and spec_m.kind == "local":
        if spec_m.path is None and spec_m.adapter is None and not is_converted():
            checks.append(Check(name="model", level="warn", message="run `make setup` first"))
        else:
            paths = run_safely(lambda: local_paths(spec_m), "locate the model files")
            if paths is not None:
                base_dir = paths[0]
                checks.extend(check_tokenizer(base_dir))
                if kind in ("distill.train", "pipeline"):
                    hw = _hardware()
                    knobs = {**defaults, **spec.config, **spec.config.get("overrides", {})}
                    est = estimate_training_memory(
                        base_dir,
                        batch_size=int(knobs.get("batch_size", knobs.get("dpo_batch", 4))),
                        max_length=int(knobs.get("max_length", knobs.get("dpo_max_length", 1024))),
                        lora_rank=int(knobs.get("lora_rank", knobs.get("dpo_rank", 32))),
                        bytes_per_param=4 if hw.device == "cpu" else 2,
                        device=hw.device,
                        available_gb=available_memory_gb(hw.device, hw.gpu_memory_gb),
                    )
                    checks.append(check_memory(est))
                    with st.expander("Memory estimate details"):
                        st.json(est.model_dump())
if kind == "distill.train" and dataset is not None:
    checks.append(check_dataset_size(count_rows(dataset)))
elif kind == "distill.generate":
    checks.append(check_dataset_size(int(spec.config.get("pair_count", 0))))
elif kind == "pipeline" and "pairs" in defaults:
    pairs = spec.config.get("overrides", {}).get("pairs", defaults["pairs"])
    checks.append(check_dataset_size(int(pairs)))

st.subheader("Checks before launch")
for p in problems:
    st.error(f"Settings: {p}")
for c in checks:
    text = f"{ICONS[c.level]} **{c.title}**: {c.summary()}"
    (st.error if c.level == "error" else st.warning if c.level == "warn" else st.markdown)(text)
if checks:
    with st.expander("Technical details of the checks"):
        st.markdown("\n".join(f"- `{c.name}`: {c.message}" for c in checks))
if not problems and not checks:
    st.caption("Nothing to check for this choice: it loads no model and writes a tiny file.")
blocked = bool(problems) or any(c.level == "error" for c in checks)

st.subheader("The same from a terminal")
st.code(cli_command(spec), language="bash")
st.download_button("Download job.yaml", spec_yaml(spec), "job.yaml", key="tl_dl")

if st.button("Launch", key="tl_launch", type="primary", disabled=blocked):
    from character.jobs import submit
    from studio.classroom_ui import classroom_mode, current_session

    to_run = spec
    student = current_session() if classroom_mode() else None
    if student is not None and not student.is_instructor:
        from character.classroom.routing import route_class_job

        route = run_safely(lambda: route_class_job(spec), "choose where the run goes")
        if route is not None:
            to_run = route.spec
            st.info(route.reason)
    run_id = run_safely(lambda: submit(to_run), "start the run", "Check the settings above.")
    if run_id:
        st.session_state["runs_selected"] = run_id
        set_persona(persona)
        st.success(f"Started run `{run_id}`.")
        page_link(
            "studio/views/runs.py",
            "Follow it on the Runs page",
            ":material/monitoring:",
            run=run_id,
        )
