"""Did the round help? Round N+1 against round N, in three sections and one plain verdict.

1. Blind arena: votes between the two model refs → Bradley–Terry with round N anchored at 1000
   and a prompt-cluster bootstrap interval. Human votes when there are any; otherwise an
   automatic judge (the persona classifier, or the offline embedding judge) on frozen held-out
   prompts, and the report says which one decided.
2. Persona retention of both rounds on the frozen held-out set (`character.eval.robustness`).
3. Targeted fix rate: of the prompts people rated ≤ 2, the share each round now answers in
   persona (Wilson). These prompts were trained on, so this measures the fix, not
   generalisation; the retention section is the generalisation check.

"Significant improvement" only when the 95% interval of round N+1's rating excludes round N's
(and the exact binomial interval of its win rate excludes 50%, which guards the bootstrap
against collapsing on a few unanimous votes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from character.backends.base import SamplingParams
from character.eval.bradley_terry import BASE_RATING, Comparison, Leaderboard, WinRate
from character.eval.stats import Interval, wilson_interval
from character.io import atomic_write_json
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings

JudgeChoice = Literal["auto", "human", "classifier", "embedding"]


class RoundReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    persona: str
    new_model: str = Field(description="Round N+1 (adapter folder or reference).")
    previous_model: str = Field(description="Round N.")
    classifier_dir: Path | None = Field(
        default=None,
        description="Persona classifier (label `target_label`); needed for retention and the "
        "fix rate, and used as the automatic arena judge.",
    )
    target_label: str = "in_persona"
    threshold: float = Field(default=0.5, gt=0, lt=1)
    judge: JudgeChoice = Field(
        default="auto",
        description="auto: human votes if there are any, else the classifier (or embedding) judge.",
    )
    votes_path: Path | None = Field(default=None, description="Arena votes; default the studio's.")
    prompts: list[str] | None = Field(default=None, description="Frozen held-out prompts.")
    max_prompts: int = Field(default=20, ge=1)
    suffixes: list[str] | None = Field(
        default=None, description="Adversarial suffixes for retention (default: all)."
    )
    include_prefill: bool = True
    tie_margin: float = Field(
        default=0.02, ge=0, description="Automatic judge: score gap below which it is a tie."
    )
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(max_new_tokens=120, seed=0)
    )
    bootstrap_rounds: int = Field(default=1000, ge=1)
    seed: int = 0
    output_dir: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()


class ArenaSection(BaseModel):
    judge: str = Field(description="Who decided: human votes, or which automatic judge.")
    n_votes: int
    n_decisive: int
    new_rating: float
    lower: float
    upper: float
    win_rate: WinRate
    exact_win_rate: Interval = Field(
        description="Wins over decisive votes with the exact (Clopper–Pearson) 95% interval."
    )
    leaderboard: Leaderboard
    significant: bool
    direction: Literal["better", "worse", "same"]


class RetentionSection(BaseModel):
    n_prompts: int
    prompt_set_hash: str
    default: dict[str, Interval]
    adversarial: dict[str, Interval]
    difference: Interval | None = Field(
        default=None, description="New − previous adversarial retention (paired bootstrap)."
    )


class FixSection(BaseModel):
    n_failing: int
    fixed_new: Interval | None = None
    fixed_previous: Interval | None = None
    note: str = ""
    rows: list[dict[str, Any]] = Field(default_factory=list)


class RoundReport(BaseModel):
    persona: str
    new_model: str
    previous_model: str
    verdict: str
    arena: ArenaSection | None
    retention: RetentionSection | None
    fixes: FixSection | None
    notes: list[str] = Field(default_factory=list)
    report_path: str | None = None
    figure_path: str | None = None


# ------------------------------------------------------------------------------------------
# Arena


def _human_comparisons(config: RoundReportConfig) -> list[Comparison]:
    from character.eval.arena import load_votes, votes_to_comparisons

    pair = {config.new_model, config.previous_model}
    votes = [
        v for v in load_votes(config.votes_path, known=pair).votes if {v.model_a, v.model_b} == pair
    ]
    return votes_to_comparisons(votes)


def _scorer(config: RoundReportConfig, judge: str) -> Any:
    """texts -> in-persona scores, for the automatic judge."""
    if judge == "classifier":
        from character.eval.persona_classifier import PersonaClassifier

        clf = PersonaClassifier.load(config.classifier_dir)  # type: ignore[arg-type]
        return lambda texts: clf.prob_of(texts, config.target_label)
    from character.constitution import resolve_constitution
    from character.eval.embeddings import embed

    const = resolve_constitution(config.persona)
    anchors = [t.trait for t in const.traits]
    centroid = embed(anchors).mean(axis=0)
    centroid = centroid / max(float((centroid**2).sum() ** 0.5), 1e-9)
    return lambda texts: [float(x) for x in embed(list(texts)) @ centroid]


def judge_pairs(
    prompts: Sequence[str],
    new: Sequence[str],
    previous: Sequence[str],
    scores: Any,
    *,
    new_id: str,
    previous_id: str,
    tie_margin: float,
    seed: int = 0,
) -> list[Comparison]:
    """One comparison per prompt from in-persona scores; sides randomised as in the arena."""
    import random

    rng = random.Random(seed)
    s_new, s_prev = scores(list(new)), scores(list(previous))
    out = []
    for prompt, a, b in zip(prompts, s_new, s_prev, strict=True):
        winner = "tie" if abs(a - b) <= tie_margin else "new" if a > b else "prev"
        if rng.random() < 0.5:
            ma, mb = new_id, previous_id
            w = {"new": "a", "prev": "b"}.get(winner, "tie")
        else:
            ma, mb = previous_id, new_id
            w = {"new": "b", "prev": "a"}.get(winner, "tie")
        out.append(Comparison(model_a=ma, model_b=mb, winner=w, cluster=prompt))
    return out


def exact_interval(successes: int, n: int, level: float = 0.95) -> Interval:
    """Clopper–Pearson interval: never narrower than the data allow, even at 0 or n of n."""
    from scipy.stats import beta

    if n == 0:
        return Interval(estimate=float("nan"), lower=0.0, upper=1.0, n=0)
    a = (1 - level) / 2
    lo = 0.0 if successes == 0 else float(beta.ppf(a, successes, n - successes + 1))
    hi = 1.0 if successes == n else float(beta.ppf(1 - a, successes + 1, n - successes))
    return Interval(estimate=successes / n, lower=lo, upper=hi, n=n)


def _arena(
    config: RoundReportConfig, prompts: list[str], progress: Progress, notes: list[str]
) -> ArenaSection | None:
    from character.eval.arena import generate_replies
    from character.eval.bradley_terry import leaderboard, win_rate

    comps = [] if config.judge in ("classifier", "embedding") else _human_comparisons(config)
    if comps:
        judge = f"human votes (arena, n={len(comps)})"
    elif config.judge == "human":
        notes.append("no human arena votes between the two rounds yet")
        return None
    else:
        kind = config.judge if config.judge != "auto" else None
        if kind is None:
            kind = "classifier" if config.classifier_dir else "embedding"
        if kind == "classifier" and config.classifier_dir is None:
            raise ValueError("the classifier judge needs classifier_dir")
        progress.start_stage("arena", total=2, message=f"automatic {kind} judge")
        new = generate_replies(config.new_model, prompts, config.sampling)
        progress.advance(1, 2)
        prev = generate_replies(config.previous_model, prompts, config.sampling)
        progress.advance(2, 2)
        comps = judge_pairs(
            prompts,
            new,
            prev,
            _scorer(config, kind),
            new_id=config.new_model,
            previous_id=config.previous_model,
            tie_margin=config.tie_margin,
            seed=config.seed,
        )
        label = "persona classifier" if kind == "classifier" else "offline embedding judge"
        judge = f"automatic: {label} (no human votes yet), n={len(comps)}"
    board = leaderboard(
        comps, anchor=config.previous_model, rounds=config.bootstrap_rounds, seed=config.seed
    )
    row = board.row(config.new_model)
    wr = win_rate(comps, config.new_model, config.previous_model)
    exact = exact_interval(wr.wins, wr.wins + wr.losses)
    # The percentile bootstrap collapses to a point when every vote agrees (4 of 4 wins gives
    # [x, x]), so significance also needs the exact binomial interval to exclude 50%.
    better = row.lower > BASE_RATING and exact.lower > 0.5
    worse = row.upper < BASE_RATING and exact.upper < 0.5
    return ArenaSection(
        judge=judge,
        n_votes=len(comps),
        n_decisive=wr.wins + wr.losses,
        new_rating=row.rating,
        lower=row.lower,
        upper=row.upper,
        win_rate=wr,
        exact_win_rate=exact,
        leaderboard=board,
        significant=better or worse,
        direction="better" if better else "worse" if worse else "same",
    )


# ------------------------------------------------------------------------------------------
# Retention and fixes


def _retention(
    config: RoundReportConfig, prompts: list[str], base: str, progress: Progress
) -> RetentionSection:
    from character.eval.robustness import Condition, RobustnessConfig, run_robustness

    rep = run_robustness(
        RobustnessConfig(
            constitution=config.persona,
            classifier_dir=config.classifier_dir,  # type: ignore[arg-type]
            target_label=config.target_label,
            conditions=[
                Condition(name="previous", model=config.previous_model),
                Condition(name="new", model=config.new_model),
            ],
            base_model=base,
            prompts=prompts,
            max_prompts=None,
            suffixes=config.suffixes,
            include_prefill=config.include_prefill,
            sampling=config.sampling,
            threshold=config.threshold,
            bootstrap_rounds=config.bootstrap_rounds,
            seed=config.seed,
            output_dir=(config.output_dir / "retention") if config.output_dir else None,
            allow_outside_data_dir=config.allow_outside_data_dir,
        ),
        progress,
    )
    return RetentionSection(
        n_prompts=rep.n_prompts,
        prompt_set_hash=rep.prompt_set_hash,
        default={n: rep.cell(n, "default").retention for n in ("previous", "new")},
        adversarial=dict(rep.adversarial),
        difference=rep.paired_difference.get("new"),
    )


def _fixes(config: RoundReportConfig, progress: Progress) -> FixSection:
    from character.feedback.store import load_feedback
    from character.models.registry import get_backend

    failing = [
        r
        for r in load_feedback(check_models=False)
        if r.persona == config.persona and r.rating <= 2
    ]
    if not failing:
        return FixSection(n_failing=0, note="no feedback rated 2 or lower for this persona")
    from character.eval.persona_classifier import PersonaClassifier

    clf = PersonaClassifier.load(config.classifier_dir)  # type: ignore[arg-type]
    convs = []
    for r in failing:
        msgs = r.prompt_messages()
        last = max(i for i, m in enumerate(msgs) if m["role"] == "user")
        convs.append(msgs[: last + 1])
    progress.start_stage("fixes", total=2, message=f"{len(convs)} previously failing prompts")
    probs = {}
    for i, (name, ref) in enumerate(
        (("new", config.new_model), ("previous", config.previous_model))
    ):
        outs = get_backend(ref).generate(convs, config.sampling)
        texts = [o[0].text for o in outs]
        probs[name] = (texts, clf.prob_of(texts, config.target_label))
        progress.advance(i + 1, 2)
    rows = [
        {
            "feedback_id": r.id,
            "rating": r.rating,
            "prompt": c[-1]["content"],
            "new_response": probs["new"][0][k],
            "new_prob": probs["new"][1][k],
            "previous_prob": probs["previous"][1][k],
        }
        for k, (r, c) in enumerate(zip(failing, convs, strict=True))
    ]
    t = config.threshold
    return FixSection(
        n_failing=len(failing),
        fixed_new=wilson_interval(sum(p >= t for p in probs["new"][1]), len(failing)),
        fixed_previous=wilson_interval(sum(p >= t for p in probs["previous"][1]), len(failing)),
        note="scored by the persona classifier; these prompts were trained on (fix rate, not "
        "generalisation)",
        rows=rows,
    )


# ------------------------------------------------------------------------------------------


def verdict(arena: ArenaSection | None) -> str:
    if arena is None:
        return "not significant (n=0): no arena comparisons yet"
    ex = arena.exact_win_rate
    span = (
        f"round N+1 rated {arena.new_rating - BASE_RATING:+.0f} vs round N, 95% CI "
        f"[{arena.lower - BASE_RATING:+.0f}, {arena.upper - BASE_RATING:+.0f}]; wins "
        f"{arena.win_rate.wins}/{arena.n_decisive} decisive, exact 95% CI "
        f"[{ex.lower:.0%}, {ex.upper:.0%}]; judge: {arena.judge}"
    )
    if arena.direction == "better":
        return f"significant improvement ({span})"
    if arena.direction == "worse":
        return f"significant regression ({span})"
    return f"not significant (n={arena.n_votes}; {span})"


def report_figure(report: RoundReport):  # noqa: ANN201
    """Three panels: arena rating with CI, retention per round, fix rate per round."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("Arena: N+1 vs N (BT, 95% CI)", "Persona retention", "Failing now pass"),
    )
    if report.arena:
        a = report.arena
        fig.add_trace(
            go.Scatter(
                x=["round N", "round N+1"],
                y=[BASE_RATING, a.new_rating],
                mode="markers",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [0, a.upper - a.new_rating],
                    "arrayminus": [0, a.new_rating - a.lower],
                },
                name="rating",
            ),
            row=1,
            col=1,
        )

    def bars(values: dict[str, Interval | None], name: str, col: int) -> None:
        keys = [k for k, v in values.items() if v is not None]
        vals = [values[k] for k in keys]
        fig.add_trace(
            go.Bar(
                x=keys,
                y=[v.estimate for v in vals],  # type: ignore[union-attr]
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [v.upper - v.estimate for v in vals],  # type: ignore[union-attr]
                    "arrayminus": [v.estimate - v.lower for v in vals],  # type: ignore[union-attr]
                },
                name=name,
            ),
            row=1,
            col=col,
        )

    if report.retention:
        r = report.retention
        bars({f"{k} default": v for k, v in r.default.items()}, "default", 2)
        bars({f"{k} adversarial": v for k, v in r.adversarial.items()}, "adversarial", 2)
    if report.fixes and report.fixes.fixed_new is not None:
        f = report.fixes
        bars({"round N": f.fixed_previous, "round N+1": f.fixed_new}, "fixed", 3)
    fig.update_layout(title=report.verdict[:120], height=380, showlegend=False)
    return fig


def round_report(config: RoundReportConfig, reporter: Reporter | Progress | None = None) -> Path:
    """Run the three sections and write `round_report.json` + `round_report.plotly.json`."""
    check_config_outputs(config)
    from character.eval.robustness import heldout_prompts
    from character.models.registry import local_paths, resolve

    progress = as_progress(reporter)
    out = config.output_dir or (
        get_settings().data_path
        / "feedback"
        / "reports"
        / f"{config.persona}-{Path(config.new_model).parent.name or 'round'}"
    )
    config = config.model_copy(update={"output_dir": out})
    prompts = list(config.prompts if config.prompts is not None else heldout_prompts())
    prompts = prompts[: config.max_prompts]
    notes: list[str] = []
    arena = _arena(config, prompts, progress, notes)
    retention = fixes = None
    if config.classifier_dir is None:
        notes.append(
            "no persona classifier given: retention and fix rate need one (train it on the "
            "Evaluation page or with `character eval classifier`)"
        )
    else:
        base = str(local_paths(resolve(config.previous_model))[0])
        retention = _retention(config, prompts, base, progress)
        fixes = _fixes(config, progress)
    report = RoundReport(
        persona=config.persona,
        new_model=config.new_model,
        previous_model=config.previous_model,
        verdict=verdict(arena),
        arena=arena,
        retention=retention,
        fixes=fixes,
        notes=notes,
    )
    out.mkdir(parents=True, exist_ok=True)
    report.report_path = str(out / "round_report.json")
    report.figure_path = str(out / "round_report.plotly.json")
    atomic_write_json(out / "round_report.plotly.json", json.loads(report_figure(report).to_json()))
    atomic_write_json(out / "round_report.json", report.model_dump(mode="json"))
    progress.artifact(str(out / "round_report.json"), "round report")
    return out / "round_report.json"


def load_round_report(path: Path | str) -> RoundReport:
    return RoundReport.model_validate_json(Path(path).read_text(encoding="utf-8"))
