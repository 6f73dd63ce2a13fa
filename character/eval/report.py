"""One evaluation job: run the chosen parts and write a JSON report plus plotly figures.

The job runner calls `run_evaluation(config, reporter)` with `output_dir` pointing into the run
folder; the studio's Evaluation page reads `report.json` and `figures/*.plotly.json` from there
and can compare runs, because every section keeps its sample sizes and 95% intervals.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from character.eval.judge import InterviewEvalConfig, PairwiseEvalConfig
from character.eval.persona_classifier import ClassifierConfig
from character.eval.revealed_preferences import RevealedConfig
from character.eval.robustness import RobustnessConfig
from character.io import atomic_write_json
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Reporter, as_progress

REPORT_FILE = "report.json"
FIGURES_DIR = "figures"


class EvalConfig(BaseModel):
    """Which evaluations to run; every part is optional. Paths left empty go in `output_dir`."""

    model_config = ConfigDict(extra="forbid")

    name: str = "evaluation"
    output_dir: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()
    classifier: ClassifierConfig | None = None
    robustness: RobustnessConfig | None = Field(
        default=None,
        description="With a `classifier` section too, an unset classifier_dir uses the one "
        "trained here.",
    )
    revealed: list[RevealedConfig] = Field(
        default_factory=list,
        description="One or more runs (e.g. base, then trained); the first two are compared.",
    )
    pairwise: PairwiseEvalConfig | None = None
    interview: InterviewEvalConfig | None = None
    matches_path: Path | None = Field(default=None, description="Base-vs-tuned matches JSONL.")
    arena: bool = Field(default=False, description="Include the arena leaderboard.")
    bootstrap_rounds: int = Field(default=1000, ge=0)
    seed: int = 0


def _fig_path(out: Path, name: str) -> Path:
    return out / FIGURES_DIR / f"{name}.plotly.json"


def _write_fig(out: Path, name: str, fig: Any, figures: list[str]) -> None:
    path = _fig_path(out, name)
    atomic_write_json(path, json.loads(fig.to_json()))
    figures.append(str(path.relative_to(out)))


def run_evaluation(config: EvalConfig, reporter: Reporter | None = None) -> Path:
    """Run every configured part in order and return the path of `report.json`.

    Parts run in order classifier → robustness → revealed → pairwise → interview → matches →
    arena, and the report is rewritten after each one, so a failure later keeps what was
    already measured.
    """
    check_config_outputs(config)
    from character.eval.bradley_terry import leaderboard_figure

    progress = as_progress(reporter)
    from character.settings import get_settings

    out = Path(config.output_dir or get_settings().data_path / "eval" / "reports" / config.name)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "name": config.name,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.model_dump(mode="json"),
        "sections": {},
        "figures": [],
    }
    sections: dict[str, Any] = report["sections"]
    figures: list[str] = report["figures"]
    report_path = out / REPORT_FILE

    def save() -> None:
        atomic_write_json(report_path, report)

    classifier_dir: Path | None = None
    if config.classifier is not None:
        from character.eval.persona_classifier import train_classifier

        cfg = config.classifier
        if cfg.output_dir is None:
            cfg = cfg.model_copy(update={"output_dir": out / "classifier"})
        if config.allow_outside_data_dir:
            cfg = cfg.model_copy(update={"allow_outside_data_dir": True})
        res = train_classifier(cfg, reporter=progress)
        classifier_dir = cfg.output_dir
        sections["classifier"] = res.model_dump(mode="json")
        from character.eval.persona_classifier import confusion_figure

        _write_fig(out, "classifier_confusion", confusion_figure(res), figures)
        save()

    if config.robustness is not None:
        from character.eval.robustness import robustness_figure, run_robustness

        rcfg = config.robustness
        updates: dict[str, Any] = {}
        if config.allow_outside_data_dir:
            updates["allow_outside_data_dir"] = True
        if rcfg.output_dir is None:
            updates["output_dir"] = out / "robustness"
        if classifier_dir is not None and not Path(rcfg.classifier_dir).exists():
            updates["classifier_dir"] = classifier_dir
        rcfg = rcfg.model_copy(update=updates)
        rep = run_robustness(rcfg, reporter=progress)
        sections["robustness"] = rep.model_dump(mode="json")
        _write_fig(out, "robustness", robustness_figure(rep), figures)
        save()

    if config.revealed:
        from character.eval.revealed_preferences import (
            compare_rankings,
            ranking_figure,
            run_revealed_preferences,
        )

        runs = []
        for n, rv in enumerate(config.revealed):
            if rv.output_path is None:
                rv = rv.model_copy(update={"output_path": out / f"revealed_{n}.jsonl"})
            if config.allow_outside_data_dir:
                rv = rv.model_copy(update={"allow_outside_data_dir": True})
            rep = run_revealed_preferences(rv, reporter=progress)
            runs.append(rep)
            if rep.leaderboard is not None:
                _write_fig(
                    out,
                    f"revealed_{n}",
                    leaderboard_figure(rep.leaderboard, f"Revealed traits: {rv.model}"),
                    figures,
                )
        section: dict[str, Any] = {"runs": [r.model_dump(mode="json") for r in runs]}
        if len(runs) >= 2 and runs[0].leaderboard and runs[1].leaderboard:
            section["shift"] = compare_rankings(
                runs[0].leaderboard, runs[1].leaderboard
            ).model_dump()
            _write_fig(
                out,
                "revealed_before_after",
                ranking_figure(runs[0].leaderboard, runs[1].leaderboard),
                figures,
            )
        sections["revealed"] = section
        save()

    if config.pairwise is not None:
        from character.eval.judge import run_pairwise_eval

        prep = run_pairwise_eval(config.pairwise, reporter=progress)
        sections["pairwise"] = prep.model_dump(mode="json")
        save()

    if config.interview is not None:
        from character.eval.judge import run_interview_eval

        irep = run_interview_eval(config.interview, reporter=progress)
        sections["interview"] = irep.model_dump(mode="json")
        save()

    if config.matches_path is not None:
        from character.eval.elo import load_matches, ratings_with_intervals, score_report

        matches = load_matches(config.matches_path)
        sections["matches"] = score_report(
            matches, rounds=config.bootstrap_rounds, seed=config.seed
        )
        _write_fig(
            out,
            "matches",
            leaderboard_figure(ratings_with_intervals(matches, rounds=config.bootstrap_rounds)),
            figures,
        )
        save()

    if config.arena:
        from character.eval.arena import arena_leaderboard

        lb = arena_leaderboard(rounds=config.bootstrap_rounds, seed=config.seed)
        sections["arena"] = lb.model_dump(mode="json")
        if lb.leaderboard is not None:
            _write_fig(out, "arena", leaderboard_figure(lb.leaderboard, "Arena"), figures)
        save()

    if not sections:
        raise ValueError(
            "nothing to evaluate: set at least one of classifier, robustness, revealed, "
            "pairwise, interview, matches_path or arena"
        )
    save()
    progress.artifact(str(report_path), "evaluation report")
    return report_path


def load_report(path: Path | str) -> dict[str, Any]:
    """A report and its figures (as plotly dicts), for the studio."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT_FILE
    report = json.loads(path.read_text(encoding="utf-8"))
    report["figure_data"] = {
        name: json.loads((path.parent / name).read_text(encoding="utf-8"))
        for name in report.get("figures", [])
        if (path.parent / name).exists()
    }
    return report
