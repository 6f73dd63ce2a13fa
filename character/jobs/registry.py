"""Job kinds: a name, a pydantic config model and a function `fn(config, ctx) -> dict`.

Built-in kinds are registered by module path strings so that importing this module (or the
CLI, or the studio) never imports torch; the module is imported only when a job of that kind
is validated or run. Areas with kinds of their own list them in a `character/<area>/jobs.py`
module that calls `register_job_kind` on import; `JOB_MODULES` names each such module
explicitly. Every name here is exact, not a guess: a module that fails to import raises its
real `ImportError` (a missing dependency, a bug) instead of turning into "not available".
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from character.jobs.errors import JobConfigError, UnknownJobKindError
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


@dataclass
class LazyKind:
    """A built-in kind named by module path, imported on first use."""

    kind: str
    module: str
    config_name: str
    fn_name: str
    resource: Resource
    description: str
    output_name: str | None = None
    """File name (in the run folder) for an unset `output_path`; `{persona}` is filled in."""


_KINDS: dict[str, JobKind] = {}
_LAZY: dict[str, LazyKind] = {}
JOB_MODULES: dict[str, str] = {
    "eval": "character.eval.jobs",
    "feedback": "character.feedback.jobs",
    "sources": "character.sources.jobs",
    "tinker": "character.tinker.jobs",
}
"""Kind prefix -> the module whose import registers that area's kinds."""


def register_job_kind(
    kind: str,
    config_model: type[BaseModel],
    fn: JobFn,
    *,
    resource: Resource = "light",
    description: str = "",
    cooperative_stop: bool = False,
) -> JobKind:
    """Register (or replace) a job kind. `fn(config, ctx)` returns a dict of results; values
    under `artifacts` (list of paths or `{path, type}`) are recorded in artifacts.json."""
    entry = JobKind(kind, config_model, fn, resource, description, cooperative_stop)
    _KINDS[kind] = entry
    return entry


def register_lazy_kind(
    kind: str,
    module: str,
    config_name: str,
    fn_name: str,
    *,
    resource: Resource = "light",
    description: str = "",
    output_name: str | None = None,
) -> None:
    _LAZY[kind] = LazyKind(kind, module, config_name, fn_name, resource, description, output_name)


def _load_lazy(lazy: LazyKind) -> JobKind:
    """Import the kind's module (its errors propagate) and wrap its function."""
    mod = importlib.import_module(lazy.module)
    missing = [n for n in (lazy.config_name, lazy.fn_name) if not hasattr(mod, n)]
    if missing:
        raise ImportError(
            f"job kind {lazy.kind!r}: {lazy.module} has no {' or '.join(missing)}; the "
            "registration in character/jobs/registry.py is out of date",
            name=lazy.module,
        )
    adapted, cooperative = adapt_library_function(getattr(mod, lazy.fn_name), lazy.output_name)
    return JobKind(
        lazy.kind,
        getattr(mod, lazy.config_name),
        adapted,
        lazy.resource,
        lazy.description,
        cooperative_stop=cooperative,
    )


def _import_job_modules() -> None:
    for mod_name in JOB_MODULES.values():
        importlib.import_module(mod_name)


def get_job_kind(kind: str) -> JobKind:
    """Resolve a kind, importing its module on first use. An area's own `jobs.py`
    registration wins over the built-in lazy entry of the same name."""
    if kind in _KINDS:
        return _KINDS[kind]
    area = JOB_MODULES.get(kind.split(".")[0])
    if area:
        importlib.import_module(area)
        if kind in _KINDS:
            return _KINDS[kind]
    if kind in _LAZY:
        entry = _load_lazy(_LAZY[kind])
        _KINDS[kind] = entry
        return entry
    known = ", ".join(sorted(list_job_kinds(include_plugins=True)))
    raise UnknownJobKindError("kind", [f"kind: unknown job kind {kind!r} (known: {known})"])


def list_job_kinds(*, include_plugins: bool = False) -> dict[str, str]:
    """Kind names with descriptions. By default no kind's module is imported; with
    `include_plugins` the `JOB_MODULES` are imported so their kinds show too."""
    if include_plugins:
        _import_job_modules()
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
    from character.output_paths import OutputPathError, check_config_outputs

    entry = get_job_kind(spec.kind)
    try:
        config = entry.config_model.model_validate(spec.config)
    except ValidationError as exc:
        raise JobConfigError(source, format_validation_errors(exc, "config")) from exc
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
    register_lazy_kind(
        "distill.generate",
        "character.distillation.generate",
        "GenerationConfig",
        "generate_dpo_pairs",
        resource="generate",
        description="Teacher/student DPO pairs from a constitution",
        output_name="{persona}_dpo.jsonl",
    )
    register_lazy_kind(
        "distill.train",
        "character.distillation.train",
        "TrainingConfig",
        "run_dpo_training",
        resource="train",
        description="LoRA DPO training on generated pairs",
    )
    register_lazy_kind(
        "introspect.generate",
        "character.introspection.pipeline",
        "IntrospectionGenerationConfig",
        "generate_introspection",
        resource="generate",
        description="Self-reflection and self-interaction data",
        output_name="{persona}_introspection.jsonl",
    )
    register_lazy_kind(
        "introspect.train",
        "character.introspection.pipeline",
        "SftTrainingConfig",
        "run_sft_training",
        resource="train",
        description="SFT on introspection data on top of the DPO adapter",
    )
    register_lazy_kind(
        "pipeline",
        "character.pipeline",
        "PipelineConfig",
        "run_pipeline",
        resource="train",
        description="The whole recipe: distill, train, introspect, train",
    )
    register_lazy_kind(
        "export",
        "character.export.pipeline",
        "ExportConfig",
        "run_export",
        resource="light",
        description="Merge / GGUF / Ollama / adapter-only export",
    )
    register_lazy_kind(
        "export.merge",
        "character.export.merge",
        "MergeConfig",
        "merge_adapter",
        resource="light",
        description="Merge an adapter into its base (checked by comparing logits)",
    )
    register_lazy_kind(
        "export.gguf",
        "character.export.gguf_export",
        "GgufConfig",
        "write_gguf",
        resource="light",
        description="Write a GGUF (and Ollama Modelfile) from a merged model",
    )
    register_lazy_kind(
        "eval.robustness",
        "character.eval.robustness",
        "RobustnessConfig",
        "run_robustness",
        resource="generate",
        description="Persona robustness under adversarial prompts",
    )
    register_lazy_kind(
        "eval.classifier",
        "character.eval.persona_classifier",
        "ClassifierConfig",
        "train_classifier",
        resource="generate",
        description="Persona classifier (embeddings + scikit-learn)",
    )
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
