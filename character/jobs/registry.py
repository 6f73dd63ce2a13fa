"""Job kinds: a name, a pydantic config model and a function `fn(config, ctx) -> dict`.

Every built-in kind is one row of `BUILTIN_KINDS`: the exact module, config and function
(a library function, or an area's `character/<area>/jobs.py` job function). Modules are named
by path so that importing this module (or the CLI, or the studio) never imports torch; a
module is imported only when a job of its kind is validated or run. Nothing is guessed: a
module that fails to import raises `JobKindImportError` naming the kind and the module,
chained to the real error (a missing dependency, a bug), never "not available".
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from character.jobs.errors import JobConfigError, JobKindImportError, UnknownJobKindError
from character.jobs.models import JobSpec, Resource
from character.jobs.store import format_validation_errors
from character.progress import Reporter

ConfigT = TypeVar("ConfigT", bound=BaseModel)


@dataclass
class JobContext:
    """What a job function gets besides its config."""

    run_dir: Path
    reporter: Reporter
    stop_requested: Callable[[], bool]
    resume: bool = False
    run_id: str = ""
    resume_of: str | None = None

    def with_run_defaults(self, config: ConfigT) -> ConfigT:
        """`config` with an unset `output_dir` pointed into the run folder (so the folder holds
        what the run made, and a resume finds it) and `resume` on when this run resumes."""
        fields = type(config).model_fields
        updates: dict[str, Any] = {}
        if "output_dir" in fields and config.output_dir is None:
            updates["output_dir"] = self.run_dir / "output"
        if self.resume and "resume" in fields:
            updates["resume"] = True
        return config.model_copy(update=updates) if updates else config


JobFn = Callable[[Any, JobContext], "dict[str, Any] | None"]


@dataclass
class JobKind:
    kind: str
    config_model: type[BaseModel]
    fn: JobFn
    resource: Resource = "light"
    description: str = ""
    cooperative_stop: bool = False
    """True when `fn` polls `ctx.stop_requested()` itself; otherwise the reporter raises
    `JobStopped` at the next progress event after a stop request."""


@dataclass(frozen=True)
class KindEntry:
    """One built-in kind, named by module path and imported on first use.

    `job_fn` says what `fn_name` is: False, a library function `fn(config, reporter=...)`
    that `adapt_library_function` wraps; True, a job function `fn(config, ctx)` already (an
    area's `jobs.py`), whose `cooperative_stop` is declared here."""

    kind: str
    module: str
    config_name: str
    fn_name: str
    resource: Resource
    description: str
    output_name: str | None = None
    """File name (in the run folder) for an unset `output_path`; `{persona}` is filled in."""
    job_fn: bool = False
    cooperative_stop: bool = False


LazyKind = KindEntry
"""The old name of `KindEntry`."""


BUILTIN_KINDS: tuple[KindEntry, ...] = (
    KindEntry(
        "distill.generate",
        "character.distillation.generate",
        "GenerationConfig",
        "generate_dpo_pairs",
        "generate",
        "Teacher/student DPO pairs from a constitution",
        output_name="{persona}_dpo.jsonl",
    ),
    KindEntry(
        "distill.train",
        "character.distillation.train",
        "TrainingConfig",
        "run_dpo_training",
        "train",
        "LoRA DPO training on generated pairs",
    ),
    KindEntry(
        "introspect.generate",
        "character.introspection.pipeline",
        "IntrospectionGenerationConfig",
        "generate_introspection",
        "generate",
        "Self-reflection and self-interaction data",
        output_name="{persona}_introspection.jsonl",
    ),
    KindEntry(
        "introspect.train",
        "character.introspection.pipeline",
        "SftTrainingConfig",
        "run_sft_training",
        "train",
        "SFT on introspection data on top of the DPO adapter",
    ),
    KindEntry(
        "pipeline",
        "character.pipeline",
        "PipelineConfig",
        "run_pipeline",
        "train",
        "The whole recipe: distill, train, introspect, train",
    ),
    KindEntry(
        "export",
        "character.export.pipeline",
        "ExportConfig",
        "run_export",
        "light",
        "Merge / GGUF / Ollama / adapter-only export",
    ),
    KindEntry(
        "export.merge",
        "character.export.merge",
        "MergeConfig",
        "merge_adapter",
        "light",
        "Merge an adapter into its base (checked by comparing logits)",
    ),
    KindEntry(
        "export.gguf",
        "character.export.gguf_export",
        "GgufConfig",
        "write_gguf",
        "light",
        "Write a GGUF (and Ollama Modelfile) from a merged model",
    ),
    KindEntry(
        "eval.robustness",
        "character.eval.robustness",
        "RobustnessConfig",
        "run_robustness",
        "generate",
        "Persona robustness under adversarial prompts",
    ),
    KindEntry(
        "eval.classifier",
        "character.eval.persona_classifier",
        "ClassifierConfig",
        "train_classifier",
        "generate",
        "Persona classifier (embeddings + scikit-learn)",
    ),
    KindEntry(
        "eval.report",
        "character.eval.jobs",
        "EvalConfig",
        "eval_report_job",
        "generate",
        "Evaluation report: classifier, robustness, revealed preferences, judges, arena",
        job_fn=True,
    ),
    KindEntry(
        "eval.revealed",
        "character.eval.jobs",
        "RevealedConfig",
        "revealed_preferences_job",
        "generate",
        "Revealed trait preferences with Bradley–Terry ratings",
        job_fn=True,
    ),
    KindEntry(
        "feedback.round",
        "character.feedback.jobs",
        "RoundConfig",
        "feedback_round_job",
        "train",
        "Feedback round: continue the previous adapter on feedback-derived DPO pairs",
        job_fn=True,
        cooperative_stop=True,
    ),
    KindEntry(
        "feedback.report",
        "character.feedback.jobs",
        "RoundReportConfig",
        "feedback_report_job",
        "generate",
        "Round-over-round report: arena (Bradley–Terry), retention, fixed prompts",
        job_fn=True,
    ),
    KindEntry(
        "sources.transcripts.train",
        "character.sources.jobs",
        "TranscriptTrainJobConfig",
        "transcripts_train_job",
        "train",
        "LoRA on one speaker's transcript lines, then held-out perplexity",
        job_fn=True,
        cooperative_stop=True,
    ),
    KindEntry(
        "sources.experience",
        "character.sources.jobs",
        "ExperienceConfig",
        "experience_job",
        "generate",
        "Experience upload: scenes, scripts and protective scenes from a profile",
        job_fn=True,
    ),
    KindEntry(
        "sources.augment",
        "character.sources.jobs",
        "AugmentConfig",
        "augment_job",
        "generate",
        "Character-card augmentation (summarize, paraphrase, stylize)",
        job_fn=True,
    ),
    KindEntry(
        "tinker.train",
        "character.tinker.jobs",
        "TinkerTrainingConfig",
        "tinker_train_job",
        "light",
        "LoRA DPO/SFT on Tinker (remote); resumable",
        job_fn=True,
        cooperative_stop=True,
    ),
)
"""Every built-in kind, with the exact module, config and function that run it. This is the
one place a built-in kind is registered: no module is guessed and no import is swallowed."""

_KINDS: dict[str, JobKind] = {}
_LAZY: dict[str, KindEntry] = {}


def register_job_kind(
    kind: str,
    config_model: type[BaseModel],
    fn: JobFn,
    *,
    resource: Resource = "light",
    description: str = "",
    cooperative_stop: bool = False,
) -> JobKind:
    """Register (or replace) a kind at run time (tests, an application's own kinds); built-in
    kinds are rows of `BUILTIN_KINDS`. `fn(config, ctx)` returns a dict of results; values
    under `artifacts` (list of paths or `{path, type}`) are recorded in artifacts.json."""
    entry = JobKind(kind, config_model, fn, resource, description, cooperative_stop)
    _KINDS[kind] = entry
    return entry


def register_lazy_kind(entry: KindEntry) -> None:
    """Add a kind named by module path (imported when a job of that kind is validated or run)."""
    _LAZY[entry.kind] = entry


def _load_lazy(lazy: KindEntry) -> JobKind:
    """Import the kind's module and resolve its config and function. A failure is a
    `JobKindImportError` naming the kind and the module, chained to the real error."""
    try:
        mod = importlib.import_module(lazy.module)
    except ImportError as exc:
        raise JobKindImportError(
            f"job kind {lazy.kind!r}: importing its module {lazy.module} failed: "
            f"{type(exc).__name__}: {exc}",
            name=lazy.module,
        ) from exc
    missing = [n for n in (lazy.config_name, lazy.fn_name) if not hasattr(mod, n)]
    if missing:
        raise JobKindImportError(
            f"job kind {lazy.kind!r}: {lazy.module} has no {' or '.join(missing)}; the "
            "registration in character/jobs/registry.py is out of date",
            name=lazy.module,
        )
    fn = getattr(mod, lazy.fn_name)
    if lazy.job_fn:
        adapted, cooperative = fn, lazy.cooperative_stop
    else:
        adapted, cooperative = adapt_library_function(fn, lazy.output_name)
    return JobKind(
        lazy.kind,
        getattr(mod, lazy.config_name),
        adapted,
        lazy.resource,
        lazy.description,
        cooperative_stop=cooperative,
    )


def get_job_kind(kind: str) -> JobKind:
    """Resolve a kind, importing its module on first use (a run-time registration of the
    same name wins)."""
    if kind in _KINDS:
        return _KINDS[kind]
    if kind in _LAZY:
        entry = _load_lazy(_LAZY[kind])
        _KINDS[kind] = entry
        return entry
    known = ", ".join(sorted(list_job_kinds()))
    raise UnknownJobKindError("kind", [f"kind: unknown job kind {kind!r} (known: {known})"])


def list_job_kinds(*, include_plugins: bool = False) -> dict[str, str]:
    """Kind names with descriptions, from the table alone: no kind's module is imported.
    `include_plugins` is kept for old callers; every built-in kind is always listed."""
    del include_plugins
    out = {k: v.description for k, v in _LAZY.items()}
    out.update({k: v.description for k, v in _KINDS.items()})
    return dict(sorted(out.items()))


def kind_resource(kind: str) -> Resource:
    if kind in _KINDS:
        return _KINDS[kind].resource
    if kind in _LAZY:
        return _LAZY[kind].resource
    return "light"


def validate_spec(spec: JobSpec, source: str = "config") -> BaseModel:
    """The kind's typed config, or `JobConfigError` listing every problem."""
    from character.output_paths import (
        OutputPathError,
        allow_outside_settings,
        check_config_outputs,
        confined,
    )

    entry = get_job_kind(spec.kind)
    if confined():  # a classroom student: nothing may point outside their workspace
        found = allow_outside_settings(spec.config)
        if found:
            raise JobConfigError(
                source,
                [
                    f"{where}: outputs in a class workspace stay inside your own folder, so "
                    "'allow outside data folder' cannot be turned on; remove this setting."
                    for where in found
                ],
            )
    try:
        config = entry.config_model.model_validate(spec.config)
    except ValidationError as exc:
        raise JobConfigError(source, format_validation_errors(exc, "config")) from exc
    if confined():  # also where a nested config turned it on by itself
        found = allow_outside_settings(config.model_dump(mode="json"))
        if found:
            raise JobConfigError(source, [f"{w}: not allowed in a class workspace" for w in found])
    try:  # refused before it is queued, not when the job starts writing
        check_config_outputs(config, claim=False, defaults=False)
    except OutputPathError as exc:
        raise JobConfigError(source, [f"config.{exc}"]) from exc
    return config


def adapt_library_function(
    fn: Callable[..., Any], output_name: str | None = None
) -> tuple[JobFn, bool]:
    """Wrap a library function `fn(config, reporter=..., ...)` as a job function; also says
    whether it stops cooperatively (it takes `stop_requested`).

    It passes what the function accepts (`reporter`/`progress`, `stop_requested`, `run_dir`),
    turns on a `resume` field of the config when resuming, points an unset `output_dir` /
    `output_path` into the run folder (so the run folder holds what it made and a resume finds
    it), and records a returned path as an artifact.
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    cooperative = "stop_requested" in params

    def run(config: Any, ctx: JobContext) -> dict[str, Any]:
        updates: dict[str, Any] = {}
        fields = getattr(type(config), "model_fields", {})
        if ctx.resume and "resume" in fields:
            updates["resume"] = True
        named = "save_name" in fields and getattr(config, "save_name", None)
        for name in ("output_dir", "out_dir"):
            if name in fields and getattr(config, name) is None and not named:
                updates[name] = ctx.run_dir / "output"
        if output_name and "output_path" in fields and config.output_path is None:
            persona = Path(str(getattr(config, "persona", None) or "output")).stem
            updates["output_path"] = ctx.run_dir / output_name.format(persona=persona)
        if updates:
            config = config.model_copy(update=updates)
        kwargs: dict[str, Any] = {}
        for name in ("reporter", "progress"):
            if name in params:
                kwargs[name] = ctx.reporter
        if "stop_requested" in params:
            kwargs["stop_requested"] = ctx.stop_requested
        if "run_dir" in params:
            kwargs["run_dir"] = ctx.run_dir
        result = fn(config, **kwargs)
        if isinstance(result, (str, Path)):
            out: dict[str, Any] = {"output": str(result), "artifacts": [str(result)]}
        elif isinstance(result, dict):
            out = dict(result)
        elif isinstance(result, BaseModel):
            out = result.model_dump(mode="json")
        else:
            out = {"result": repr(result)} if result is not None else {}
        produced = out.setdefault("artifacts", [])
        out_dir = getattr(config, "output_dir", None)
        listed = [str(p.get("path") if isinstance(p, dict) else p) for p in produced]
        if out_dir and Path(out_dir).exists() and str(out_dir) not in listed:
            produced.append(str(out_dir))
        if cooperative and ctx.stop_requested():
            out["stopped"] = True  # it returned early at a stop request; resume continues it
        return out

    return run, cooperative


def _register_builtins() -> None:
    for entry in BUILTIN_KINDS:
        register_lazy_kind(entry)
    from character.jobs import demo

    register_job_kind(
        "demo.count",
        demo.CountConfig,
        demo.count,
        resource="light",
        description="Counts to N with a pause per step (a smoke job; supports resume/stop)",
        cooperative_stop=True,
    )


_register_builtins()
