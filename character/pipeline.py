"""The whole recipe in one call: prompts → pairs → DPO → introspection → SFT → quick evaluation.

Everything lands in one run folder, `<data>/runs/<id>/`: each stage's data, adapters, metrics,
a marker per finished stage (`stages/<name>.json`, so a rerun with the same id resumes after
the last finished stage) and `summary.json`. `scale` picks the sizes: `paper` uses the recipe's
counts, `demo` is sized for a live class on a laptop CPU with the embedded model.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from character.distillation.generate import GenerationConfig
from character.distillation.train import TrainingConfig
from character.introspection.configs import IntrospectionGenerationConfig, SftTrainingConfig
from character.io import atomic_write_json
from character.presets import PRESETS, Scale, ScalePreset
from character.progress import Progress, Reporter, as_progress
from character.recipe import RecipeConfig, recipe_data, recipe_from_preset
from character.redaction import redact_secrets
from character.settings import get_settings

STAGES = ("prompts", "pairs", "dpo", "introspection", "sft", "eval")


class PipelineConfig(RecipeConfig):
    """One run of the recipe: a recipe config (every stage's settings, nested) plus the run's
    persona, models and folder. Stage settings start from the `scale` preset; the flat
    `overrides` (preset field names, the old form) and then any nested value given win, so
    `{"scale": "demo", "dpo": {"lora_rank": 8}}` is the demo recipe with rank 8. `skip` names
    stages not to run; `resume` with an existing `run_id` continues the run folder, skipping
    stages that have a marker."""

    model_config = ConfigDict(extra="forbid")

    persona: str = Field(description="Persona name or constitution file.")
    scale: Scale = Field(default="demo", description="The preset the stages start from.")
    run_id: str | None = Field(
        default=None, description="Run folder name under <data>/runs; reuse it to resume."
    )
    resume: bool = Field(default=True, description="Continue an existing run folder.")
    skip: list[str] = Field(
        default_factory=list,
        description="Stages not to run: prompts pairs dpo introspection sft eval.",
    )
    teacher_model: str | None = Field(default=None, description="Teacher model reference.")
    student_model: str | None = Field(default=None, description="Student/base model reference.")
    seed: int = Field(default=123456, description="Seed for every stage.")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Preset fields to change by their flat names, e.g. {'pairs': 8} (the older "
        "form of the nested stage fields).",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        scale = data.get("scale", "demo")
        if scale not in PRESETS:
            return data  # the field's own error names the allowed scales
        return {**data, **recipe_data(scale, data)}

    def preset(self) -> ScalePreset:
        """The run's sizes in the flat form (nested overrides included)."""
        return self.as_preset()


class PipelineError(RuntimeError):
    pass


class _Run:
    """Run-folder bookkeeping: paths, stage markers, timings."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stages_dir = folder / "stages"
        self.stages_dir.mkdir(parents=True, exist_ok=True)

    def marker(self, stage: str) -> Path:
        return self.stages_dir / f"{stage}.json"

    def done(self, stage: str) -> dict[str, Any] | None:
        p = self.marker(stage)
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None

    def mark(self, stage: str, seconds: float, outputs: dict[str, Any]) -> dict[str, Any]:
        info = {"stage": stage, "status": "done", "seconds": round(seconds, 2), **outputs}
        atomic_write_json(self.marker(stage), info)
        return info


def _new_run_id(persona: str, scale: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{persona}-{scale}-{stamp}"


def run_pipeline(
    config: PipelineConfig,
    reporter: Reporter | Progress | None = None,
    stop_requested: Callable[[], bool] | None = None,
    run_dir: Path | None = None,
) -> Path:
    """Run (or resume) every stage and return the run folder; `summary.json` is rewritten after
    each stage so a crash still leaves an accurate record.

    As a background job, `run_dir` is the job's own folder: unless `run_id` names an existing
    run to continue, the recipe writes its stages there, so one run has one id and one folder
    (it used to make a second one under runs/)."""
    from character.constitution import resolve_constitution

    unknown = [s for s in config.skip if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stages to skip {unknown}; stages are {list(STAGES)}")
    progress = as_progress(reporter)
    settings = get_settings()
    constitution = resolve_constitution(config.persona)
    preset = config.preset()
    if run_dir is not None and config.run_id is None:
        folder, run_id = Path(run_dir), Path(run_dir).name
    else:
        run_id = config.run_id or _new_run_id(constitution.name, config.scale)
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", run_id):
            raise ValueError(f"run id {run_id!r} must be letters, digits, '.', '_' or '-'")
        folder = settings.data_path / "runs" / run_id
        if folder.exists() and not config.resume and any(folder.iterdir()):
            raise FileExistsError(f"{folder} exists; pass resume=True to continue it")
    run = _Run(folder)
    teacher = config.teacher_model or settings.teacher_model
    student = config.student_model or settings.student_model
    summary: dict[str, Any] = {
        "run_id": run_id,
        "persona": constitution.name,
        "constitution_hash": constitution.content_hash(),
        "scale": config.scale,
        "preset": preset.model_dump(),
        "teacher_model": teacher,
        "student_model": student,
        "config": config.model_dump(mode="json"),
        "settings": settings.public_view(),
        "stages": {},
        "started": time.time(),
    }
    atomic_write_json(folder / "config.json", config.model_dump(mode="json"))

    paths = {
        "prompts": folder / "prompts" / "prompts.json",
        "pairs": folder / "pairs" / "pairs.jsonl",
        "dpo_train": folder / "pairs" / "dpo_train.jsonl",
        "heldout": folder / "pairs" / "heldout.jsonl",
        "dpo": folder / "dpo",
        "merged": folder / "merged-dpo",
        "introspection": folder / "introspection" / "introspection.jsonl",
        "sft": folder / "sft",
        "sft_data": folder / "introspection" / "sft_mix.jsonl",
        "eval": folder / "eval" / "quick_eval.json",
    }

    def write_summary() -> None:
        summary["updated"] = time.time()
        summary["total_seconds"] = round(
            sum(s.get("seconds", 0) for s in summary["stages"].values()), 2
        )
        atomic_write_json(folder / "summary.json", summary)

    from character.stage_estimates import plan_stage, stage_estimates

    estimates = stage_estimates(preset)
    measured: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        if stop_requested is not None and stop_requested():
            summary["stages"][name] = {"status": "not run (stop requested)"}
            write_summary()
            return None
        prior = run.done(name)
        if prior is not None:
            summary["stages"][name] = {**prior, "status": "done (resumed)"}
            progress.log(f"pipeline: {name} already done, skipping")
            write_summary()
            return prior
        if name in config.skip:
            summary["stages"][name] = {"status": "skipped"}
            write_summary()
            return None
        progress.start_stage(f"pipeline: {name}")
        position = plan_stage(
            list(STAGES), name, estimates, measured, set(config.skip), time.time()
        )
        progress.overall(position.model_dump())
        started = time.perf_counter()
        try:
            outputs = fn()
        except Exception as exc:
            summary["stages"][name] = {
                "status": "failed",
                "error": redact_secrets(f"{type(exc).__name__}: {exc}"),
                "seconds": round(time.perf_counter() - started, 2),
            }
            write_summary()
            raise
        if stop_requested is not None and stop_requested():
            # A stopped stage keeps its partial data and checkpoints but gets no marker, so
            # the next run with this id resumes it.
            summary["stages"][name] = {
                "status": "stopped",
                "seconds": round(time.perf_counter() - started, 2),
            }
            write_summary()
            return None
        info = run.mark(name, time.perf_counter() - started, outputs)
        measured[name] = info["seconds"]
        summary["stages"][name] = info
        progress.log(f"pipeline: {name} done in {info['seconds']:.1f}s")
        write_summary()
        return info

    # 1. prompts ------------------------------------------------------------------------------
    def do_prompts() -> dict[str, Any]:
        from character.distillation.prompts import build_prompt_set

        ps = build_prompt_set(constitution, seed=config.seed)
        atomic_write_json(paths["prompts"], ps.model_dump(mode="json"))
        return {"path": str(paths["prompts"]), "count": len(ps), "per_source": ps.counts}

    stage("prompts", do_prompts)

    # 2. pairs --------------------------------------------------------------------------------
    def do_pairs() -> dict[str, Any]:
        from character.distillation.pipeline import generate_dpo_pairs

        cfg = pair_generation_config(
            config.persona,
            config,
            teacher=teacher,
            student=student,
            seed=config.seed,
            output_path=paths["pairs"],
        )
        out = generate_dpo_pairs(cfg, progress, stop_requested)
        n_train, n_held = split_heldout(out, paths["dpo_train"], paths["heldout"], config.heldout)
        from character.distillation.generate import sidecar_paths

        stats = json.loads(sidecar_paths(out)[0].read_text(encoding="utf-8"))
        progress.log(
            f"pairs: kept {stats['kept']}, dropped "
            + (", ".join(f"{n} {why}" for why, n in stats["dropped"].items() if n) or "none")
            + f"; chosen replies in voice (judge): {stats.get('chosen_in_voice')}"
        )
        return {
            "dropped": {why: n for why, n in stats["dropped"].items() if n},
            "voice_judge": stats.get("voice_judge"),
            "chosen_in_voice": stats.get("chosen_in_voice"),
            "chosen_score_mean": stats.get("chosen_score_mean"),
            "rejected_score_mean": stats.get("rejected_score_mean"),
            "path": str(out),
            "train": str(paths["dpo_train"]),
            "heldout": str(paths["heldout"]),
            "train_pairs": n_train,
            "heldout_pairs": n_held,
        }

    stage("pairs", do_pairs)

    # 3. DPO ----------------------------------------------------------------------------------
    def do_dpo() -> dict[str, Any]:
        from character.distillation.pipeline import run_dpo_training

        if not paths["dpo_train"].exists():
            raise PipelineError("DPO needs the pairs stage's data; do not skip 'pairs'")
        cfg = TrainingConfig(
            **config.dpo.model_dump(),
            dataset_path=paths["dpo_train"],
            persona=constitution.name,
            model=student,
            output_dir=paths["dpo"],
            seed=config.seed,
            resume=True,
        )
        out = run_dpo_training(cfg, progress, stop_requested)
        return {"adapter": str(out), "metrics": str(Path(out) / "metrics.jsonl")}

    dpo_info = stage("dpo", do_dpo)
    dpo_adapter = Path(dpo_info["adapter"]) if dpo_info and "adapter" in dpo_info else None

    # 4. introspection (from the exactly merged DPO model) ------------------------------------
    def do_introspection() -> dict[str, Any]:
        from character.introspection.pipeline import generate_introspection, report_path

        model_ref = student
        merge_info: dict[str, Any] = {}
        if dpo_adapter is not None:
            merged, merge_info = merge_dpo(dpo_adapter, paths["merged"])
            model_ref = str(merged)
        cfg = IntrospectionGenerationConfig(
            **config.introspection.model_dump(),
            persona=config.persona,
            teacher_model=model_ref,
            seed=config.seed,
            output_path=paths["introspection"],
            resume=True,
        )
        out = generate_introspection(cfg, progress, constitution=constitution)
        report = json.loads(report_path(out).read_text(encoding="utf-8"))
        return {
            "path": str(out),
            "report": str(report_path(out)),
            "rows": report["rows_total"],
            "reflection_filter": {
                k: report["reflection_filter"][k] for k in ("total", "kept", "dropped", "trimmed")
            },
            "self_interaction": report["self_interaction"],
            **merge_info,
        }

    stage("introspection", do_introspection)

    # 5. SFT ----------------------------------------------------------------------------------
    def do_sft() -> dict[str, Any]:
        from character.introspection.pipeline import run_sft_training

        if not paths["introspection"].exists():
            raise PipelineError("SFT needs the introspection stage's data")
        data, mixed = paths["introspection"], 0
        if preset.sft_with_chosen and paths["dpo_train"].exists():
            data, mixed = sft_mix_with_chosen(
                paths["introspection"], paths["dpo_train"], paths["sft_data"]
            )
        cfg = SftTrainingConfig(
            **config.sft.model_dump(),
            dataset_path=data,
            persona=constitution.name,
            model=str(dpo_adapter) if dpo_adapter else student,
            merged_dir=paths["merged"],
            output_dir=paths["sft"],
            seed=config.seed,
        )
        out = run_sft_training(cfg, progress, stop_requested)
        return {
            "adapter": str(out),
            "metrics": str(paths["sft"] / "metrics.jsonl"),
            "data": str(data),
            "chosen_rows_added": mixed,
        }

    sft_info = stage("sft", do_sft)

    # 6. quick evaluation ---------------------------------------------------------------------
    def do_eval() -> dict[str, Any]:
        from character.introspection.quick_eval import format_share, quick_eval

        result = quick_eval(
            constitution,
            heldout=paths["heldout"],
            train_pairs=paths["dpo_train"],
            base_ref=student,
            dpo_merged=paths["merged"] if paths["merged"].exists() else None,
            sft_adapter=Path(sft_info["adapter"]) if sft_info and "adapter" in sft_info else None,
            output_dir=paths["eval"].parent,
            samples=config.eval.samples,
            max_new_tokens=config.eval.max_new_tokens,
            seed=config.seed,
            voice=config.eval.voice,
        )
        atomic_write_json(paths["eval"], result.model_dump(mode="json"))
        for name, row in result.models.items():
            progress.log(
                f"pipeline: {name} in voice {format_share(row.in_voice)} (classifier), "
                f"{format_share(row.judge_in_voice)} (voice judge)"
            )
        for warning in result.warnings:
            progress.log(f"pipeline: WARNING {warning}")
        return {"path": str(paths["eval"]), **result.headline, "warnings": result.warnings}

    stage("eval", do_eval)
    summary["finished"] = time.time()
    write_summary()
    progress.artifact(str(folder / "summary.json"), "pipeline summary")
    return folder


def pair_generation_config(
    persona: str,
    preset: ScalePreset | RecipeConfig,
    *,
    teacher: str | None = None,
    student: str | None = None,
    seed: int = 123456,
    output_path: Path | None = None,
) -> GenerationConfig:
    """The pairs stage's generation config for a recipe (or a flat preset): the recipe and the
    studio's data preview both build it here, so a preview samples and filters as the run will."""
    recipe = preset if isinstance(preset, RecipeConfig) else recipe_from_preset(preset)
    settings = get_settings()
    return GenerationConfig(
        **recipe.generation.model_dump(),
        persona=persona,
        teacher_model=teacher or settings.teacher_model,
        student_model=student or settings.student_model,
        pair_count=recipe.pairs + recipe.heldout,
        seed=seed,
        output_path=output_path,
        resume=output_path is not None and output_path.exists(),
    )


def split_heldout(pairs: Path, train: Path, heldout: Path, n_heldout: int) -> tuple[int, int]:
    """Hold out whole prompts (all their pairs) so the evaluation never sees a trained prompt."""
    from character.io import read_jsonl

    rows = read_jsonl(pairs)

    def prompt_of(row: dict[str, Any]) -> str:
        p = row.get("prompt")
        if isinstance(p, list):
            return json.dumps(p, sort_keys=True)
        return str(p)

    order: list[str] = []
    for r in rows:
        key = prompt_of(r)
        if key not in order:
            order.append(key)
    n = min(n_heldout, max(0, len(order) - 1))
    held = set(order[len(order) - n :]) if n else set()
    train_rows = [r for r in rows if prompt_of(r) not in held]
    held_rows = [r for r in rows if prompt_of(r) in held]
    from character.io import atomic_write_text

    for path, part in ((train, train_rows), (heldout, held_rows)):
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
    return len(train_rows), len(held_rows)


def sft_mix_with_chosen(introspection: Path, dpo_train: Path, out: Path) -> tuple[Path, int]:
    """The SFT dataset: the introspection rows, then every training pair's chosen reply as a
    TRL `messages` row (the pair's prompt turns, then the chosen answer), with no system
    prompt. Held-out pairs are never in `dpo_train`, so the evaluation stays unseen. Returns
    the file and how many chosen rows it added."""
    from character.io import atomic_write_text, read_jsonl

    rows = read_jsonl(introspection)
    added = 0
    for pair in read_jsonl(dpo_train):
        prompt, chosen = pair.get("prompt"), pair.get("chosen")
        turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        answer = chosen[-1].get("content") if isinstance(chosen, list) and chosen else chosen
        if not isinstance(answer, str) or not answer.strip():
            continue
        turns = [t for t in turns if t.get("role") != "system"]
        rows.append(
            {"messages": [*turns, {"role": "assistant", "content": answer}], "source": "chosen"}
        )
        added += 1
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return out, added


def merge_dpo(adapter: Path, out: Path) -> tuple[Path, dict[str, Any]]:
    from character.models.merge import merge_adapter_exact
    from character.models.registry import local_paths, resolve

    base, adapter_dir = local_paths(resolve(str(adapter)))
    assert adapter_dir is not None
    result = merge_adapter_exact(base, adapter_dir, out)
    return result.path, {
        "merged_model": str(result.path),
        "merge_max_abs_logit_diff": result.max_abs_logit_diff,
    }
