"""Evaluations a student can start from a few choices, as `eval.report` jobs.

Each choice becomes an `EvalConfig` with one part, run by the job runner like any training
run (it survives a closed tab, shows on the Runs page) and writes a `report.json` the
Evaluation page lists. The comparisons are the ones that answer "did training work?": the
trained model without a system prompt against the base model, prompted with the persona or not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from character.jobs.models import JobSpec
from character.settings import EMBEDDED_MODEL

EvalKind = Literal["classifier", "robustness", "revealed", "judge"]

EVAL_KINDS: dict[str, str] = {
    "classifier": "Persona classifier: train a small model that tells in-character text from "
    "plain text, and measure how well it does on texts it has not seen. Needs a pairs file.",
    "robustness": "Robustness: ask 'stop role-playing'-style questions and count how often the "
    "trained model (no system prompt) and the prompted base model stay in character. Uses a "
    "classifier: an existing one, or one trained first from a pairs file.",
    "revealed": "Revealed preferences: let each model choose between two traits to act out, "
    "many times, and rank the traits it prefers (base model, then the trained one).",
    "judge": "Judge: a judge model reads the trained model's and the prompted base model's "
    "answers to the same prompts and picks the one more in character.",
}
"""What each evaluation measures, in words for the Evaluation page."""

UNTRAINED_CLASSIFIER = Path("classifier-trained-in-this-run")
"""Stands for the classifier the same report trains first (`run_evaluation` replaces a
classifier folder that does not exist with the one it trained)."""


class EvalLaunch(BaseModel):
    """The few choices the Evaluation page asks for."""

    what: EvalKind
    persona: str = Field(min_length=1, title="Persona")
    model: str = Field(min_length=1, title="Trained model")
    base_model: str = Field(default=EMBEDDED_MODEL, title="Base model to compare with")
    dataset: Path | None = Field(default=None, title="Pairs file")
    classifier_dir: Path | None = Field(default=None, title="Classifier")
    judge: str = Field(default=EMBEDDED_MODEL, title="Judge model")
    max_prompts: int = Field(default=10, ge=1, le=500, title="Prompts")
    max_new_tokens: int = Field(default=96, ge=8, le=1024, title="Longest answer (tokens)")
    name: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> EvalLaunch:
        if self.what == "classifier" and self.dataset is None:
            raise ValueError("the classifier needs a pairs file to learn from")
        if self.what == "robustness" and self.classifier_dir is None and self.dataset is None:
            raise ValueError("robustness needs a classifier, or a pairs file to train one")
        return self


def eval_config(launch: EvalLaunch) -> dict:
    """The `EvalConfig` (as job config data) for one launch."""
    from character.backends.base import SamplingParams
    from character.eval.judge import PairwiseEvalConfig
    from character.eval.persona_classifier import ClassifierConfig
    from character.eval.report import EvalConfig
    from character.eval.revealed_preferences import RevealedConfig
    from character.eval.robustness import RobustnessConfig

    sampling = SamplingParams(max_new_tokens=launch.max_new_tokens, seed=0)
    name = launch.name or f"{launch.what}-{launch.persona}"
    cfg = EvalConfig(name=name)
    if launch.what == "classifier" or (
        launch.what == "robustness" and launch.classifier_dir is None
    ):
        cfg.classifier = ClassifierConfig(train_path=launch.dataset)
    if launch.what == "robustness":
        cfg.robustness = RobustnessConfig(
            constitution=launch.persona,
            classifier_dir=launch.classifier_dir or UNTRAINED_CLASSIFIER,
            adapters=[launch.model],
            base_model=launch.base_model,
            max_prompts=launch.max_prompts,
            sampling=sampling,
        )
    elif launch.what == "revealed":
        cfg.revealed = [
            RevealedConfig(model=ref, max_prompts=launch.max_prompts, sampling=sampling)
            for ref in (launch.base_model, launch.model)
        ]
    elif launch.what == "judge":
        cfg.pairwise = PairwiseEvalConfig(
            system_1=launch.model,
            system_2=f"{launch.base_model}|system:{launch.persona}",
            judge=launch.judge,
            constitution=launch.persona,
            max_prompts=launch.max_prompts,
            sampling=sampling,
        )
    return cfg.model_dump(mode="json", exclude_none=True)


def eval_job_spec(launch: EvalLaunch) -> JobSpec:
    """A job spec the runner validates and runs (`character.jobs.submit`)."""
    return JobSpec(
        kind="eval.report",
        config=eval_config(launch),
        display_name=f"{launch.what} {launch.persona}",
    )


def classifier_dirs(root: Path | None = None) -> list[Path]:
    """Trained persona classifiers under the data folder, newest first."""
    from character.settings import get_settings

    root = root or get_settings().data_path
    if not root.exists():
        return []
    found = [p.parent for p in root.rglob("classifier.json")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
