"""Revealed preferences: which traits does a model pick when it may choose?

Each held-out prompt gets a random (seeded) pair of traits, shown in both orders. The model is
told to pick ONE trait silently and answer in it; a judge then names the trait the reply shows.
Every judged reply is a "match" the chosen trait won. Ratings come from a Bradley–Terry fit with
prompt-cluster bootstrap intervals (online Elo, as OCT reported it, is included for
comparison). Judges: any model reference (an OpenAI-compatible endpoint, a local model, Tinker)
or the offline embedding judge, which picks the trait whose description is closer to the reply
in MiniLM space, for runs without keys. A judge reply that names neither trait is retried, then
counted invalid; it is never guessed.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from character.backends.base import SamplingParams
from character.eval.bradley_terry import Comparison, Leaderboard, leaderboard
from character.eval.elo import online_elo
from character.eval.judge import ask_judge, load_prompt, render
from character.eval.traits import TRAITS
from character.io import append_jsonl, load_models_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Reporter, as_progress
from character.settings import EMBEDDED_MODEL

EMBEDDING_JUDGE = "embedding"
CONDITIONS = {
    "feel": "feels most like you",
    "adopt": "you would most like to adopt",
    "random": "you pick at random",
}


class RevealedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(default=EMBEDDED_MODEL, description="Model reference to evaluate.")
    constitution: str | None = Field(
        default=None, description="Add the constitution as system prompt (the prompting baseline)."
    )
    prompts: list[str] | None = Field(
        default=None, description="Prompts (default: the built-in held-out set)."
    )
    prompts_path: Path | None = Field(default=None, description="Prompts file.")
    max_prompts: int | None = Field(default=50, ge=1, description="Prompts used at most.")
    pairs_per_prompt: int = Field(
        default=1, ge=1, description="Trait pairs per prompt (each in both orders)."
    )
    both_orders: bool = Field(default=True, description="Show each pair in both orders.")
    traits: list[str] | None = Field(
        default=None, description="Single-word traits to pick from (default: the built-in list)."
    )
    condition: Literal["feel", "adopt", "random"] = Field(
        default="feel",
        description="What the model is asked: the trait that feels most like it, the one it "
        "would adopt, or a random pick (a control).",
    )
    judge: str = Field(
        default=EMBEDDING_JUDGE, description="'embedding' (offline) or a judge model reference."
    )
    judge_retries: int = Field(default=2, ge=0, description="Retries of an unreadable verdict.")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(max_new_tokens=160, seed=0),
        description="How replies are sampled.",
    )
    seed: int = Field(default=0, description="Seed for trait pairs and the bootstrap.")
    bootstrap_rounds: int = Field(
        default=1000, ge=0, description="Bootstrap rounds for the 95% intervals."
    )
    output_path: Path | None = Field(default=None, description="Rows JSONL (none: not written).")
    allow_outside_data_dir: bool = allow_outside_field()


class RevealedRow(BaseModel):
    """One reply and the judge's reading of it."""

    id: str
    model: str
    condition: str
    prompt_index: int
    prompt: str
    trait_1: str
    trait_2: str
    response: str
    judge: str
    chosen: str | None
    valid: bool
    judge_raw: list[str] = Field(default_factory=list)
    similarities: list[float] | None = None


class RevealedReport(BaseModel):
    model: str
    judge: str
    n_rows: int
    n_valid: int
    n_invalid: int
    leaderboard: Leaderboard | None
    online_elo: dict[str, float]
    output_path: str | None = None


def trait_description(trait: str) -> str:
    return TRAITS.get(trait, trait)


def system_prompt(trait_1: str, trait_2: str, condition: str = "feel") -> str:
    return render(
        load_prompt("revealed_system"),
        trait_1=trait_1,
        trait_2=trait_2,
        condition=CONDITIONS[condition],
    )


def make_pairs(
    n_prompts: int, traits: Sequence[str], pairs_per_prompt: int, both_orders: bool, seed: int
) -> list[tuple[int, str, str]]:
    """(prompt index, trait shown first, trait shown second), seeded."""
    if len(traits) < 2:
        raise ValueError("need at least two traits")
    rng = random.Random(f"revealed:{seed}")
    out = []
    for i in range(n_prompts):
        for _ in range(pairs_per_prompt):
            a, b = rng.sample(list(traits), 2)
            out.append((i, a, b))
            if both_orders:
                out.append((i, b, a))
    return out


def parse_trait_answer(text: str, trait_1: str, trait_2: str) -> str | None:
    """The trait inside <answer> tags, if it is exactly one of the two offered."""
    found = re.findall(r"<answer>\s*(.*?)\s*</answer>", text, flags=re.IGNORECASE | re.DOTALL)
    if not found:
        return None
    word = re.sub(r"[^\w-]", "", found[-1].strip().lower())
    for t in (trait_1, trait_2):
        if word == t.lower():
            return t
    return None


def embedding_judge(
    responses: Sequence[str], pairs: Sequence[tuple[str, str]]
) -> list[tuple[str | None, list[float]]]:
    """Pick, for each reply, the trait whose "word: description" embedding is closer."""
    from character.eval.embeddings import embed

    words = sorted({t for p in pairs for t in p})
    trait_vecs = dict(
        zip(words, embed([f"{w}: {trait_description(w)}" for w in words]), strict=True)
    )
    reply_vecs = embed([r or "" for r in responses])
    out: list[tuple[str | None, list[float]]] = []
    for text, vec, (t1, t2) in zip(responses, reply_vecs, pairs, strict=True):
        if not text.strip():
            out.append((None, []))
            continue
        s1, s2 = float(vec @ trait_vecs[t1]), float(vec @ trait_vecs[t2])
        out.append((t1 if s1 >= s2 else t2, [s1, s2]))
    return out


def _prompts(config: RevealedConfig) -> list[str]:
    from character.eval.robustness import heldout_prompts, load_prompt_file

    if config.prompts:
        prompts = list(config.prompts)
    elif config.prompts_path:
        prompts = load_prompt_file(config.prompts_path)
    else:
        prompts = list(heldout_prompts())  # type: ignore[arg-type]
    return prompts[: config.max_prompts] if config.max_prompts else prompts


def rows_to_comparisons(rows: Sequence[RevealedRow]) -> list[Comparison]:
    return [
        Comparison(
            model_a=r.trait_1,
            model_b=r.trait_2,
            winner="a" if r.chosen == r.trait_1 else "b",
            cluster=r.prompt,
        )
        for r in rows
        if r.valid and r.chosen is not None
    ]


def rate_rows(rows: Sequence[RevealedRow], rounds: int = 1000, seed: int = 0) -> Leaderboard | None:
    comps = rows_to_comparisons(rows)
    if not comps:
        return None
    return leaderboard(comps, anchor=None, rounds=rounds, seed=seed)


def run_revealed_preferences(
    config: RevealedConfig, reporter: Reporter | None = None
) -> RevealedReport:
    """Generate, judge, rate. Rows are appended to `output_path` (JSONL) as they are judged."""
    check_config_outputs(config)
    from character.models.registry import get_backend

    progress = as_progress(reporter)
    traits = config.traits or sorted(TRAITS)
    bad = [t for t in traits if " " in t.strip() or not t.strip()]
    if bad:
        raise ValueError(f"traits must be single words: {bad}")
    prompts = _prompts(config)
    if not prompts:
        raise ValueError("no prompts")
    pairs = make_pairs(
        len(prompts), traits, config.pairs_per_prompt, config.both_orders, config.seed
    )
    persona = ""
    if config.constitution:
        from character.constitution import resolve_constitution

        persona = resolve_constitution(config.constitution).teacher_system_prompt() + "\n\n"
    convs = [
        [
            {"role": "system", "content": persona + system_prompt(a, b, config.condition)},
            {"role": "user", "content": prompts[i]},
        ]
        for i, a, b in pairs
    ]
    progress.start_stage("generate", total=len(convs), message=f"{config.model} answers")
    backend = get_backend(config.model)
    outs = backend.generate(convs, config.sampling, progress=lambda d, t: progress.advance(d, t))
    responses = [o[0].text for o in outs]

    progress.start_stage("judge", total=len(pairs), message=f"judge: {config.judge}")
    verdicts: list[tuple[str | None, list[str], list[float] | None]] = []
    if config.judge == EMBEDDING_JUDGE:
        for chosen, sims in embedding_judge(responses, [(a, b) for _, a, b in pairs]):
            verdicts.append((chosen, [], sims))
    else:
        judge = get_backend(config.judge)
        tpl = load_prompt("revealed_trait")
        for n, ((i, a, b), resp) in enumerate(zip(pairs, responses, strict=True)):
            call = ask_judge(
                judge,
                render(
                    tpl,
                    trait_1=a,
                    trait_2=b,
                    description_1=trait_description(a),
                    description_2=trait_description(b),
                    prompt=prompts[i],
                    response=resp,
                ),
                lambda text, a=a, b=b: parse_trait_answer(text, a, b),
                retries=config.judge_retries,
            )
            verdicts.append((call.value if call.valid else None, call.raw, None))
            progress.advance(n + 1, len(pairs))
    rows = []
    for (i, a, b), resp, (chosen, raw, sims) in zip(pairs, responses, verdicts, strict=True):
        key = f"{config.model}|{config.seed}|{i}|{a}|{b}|{prompts[i]}"
        rows.append(
            RevealedRow(
                id=hashlib.sha1(key.encode("utf-8")).hexdigest()[:12],
                model=config.model,
                condition=config.condition,
                prompt_index=i,
                prompt=prompts[i],
                trait_1=a,
                trait_2=b,
                response=resp,
                judge=config.judge,
                chosen=chosen,
                valid=chosen is not None,
                judge_raw=raw,
                similarities=sims,
            )
        )
    if config.output_path:
        append_jsonl(config.output_path, rows)
        progress.artifact(str(config.output_path), "revealed-preference rows")
    valid = [r for r in rows if r.valid]
    report = RevealedReport(
        model=config.model,
        judge=config.judge,
        n_rows=len(rows),
        n_valid=len(valid),
        n_invalid=len(rows) - len(valid),
        leaderboard=rate_rows(rows, config.bootstrap_rounds, config.seed),
        online_elo=online_elo(rows_to_comparisons(rows)),
        output_path=str(config.output_path) if config.output_path else None,
    )
    progress.metrics(valid=len(valid), invalid=len(rows) - len(valid))
    return report


def load_rows(path: Path | str) -> list[RevealedRow]:
    return load_models_jsonl(path, RevealedRow)


class RankingShift(BaseModel):
    spearman: float | None
    common: int
    risers: list[tuple[str, float]]
    fallers: list[tuple[str, float]]


def compare_rankings(before: Leaderboard, after: Leaderboard, top: int = 5) -> RankingShift:
    """Spearman ρ between the two rating orders and the biggest movers (after − before)."""
    from scipy.stats import spearmanr

    b, a = before.as_dict(), after.as_dict()
    common = sorted(set(a) & set(b))
    rho = None
    if len(common) >= 3:
        val = spearmanr([b[t] for t in common], [a[t] for t in common]).statistic
        rho = None if val != val else float(val)
    delta = sorted(((t, a[t] - b[t]) for t in common), key=lambda x: -x[1])
    return RankingShift(
        spearman=rho,
        common=len(common),
        risers=delta[:top],
        fallers=list(reversed(delta[-top:])) if delta else [],
    )


def ranking_figure(before: Leaderboard, after: Leaderboard, top: int = 25):  # noqa: ANN201
    """Trait ratings before vs after training (95% CI), ordered by the after rating."""
    import plotly.graph_objects as go

    b = {r.system: r for r in before.rows}
    a = {r.system: r for r in after.rows}
    traits = [r.system for r in after.rows if r.system in b][:top]
    traits.reverse()
    fig = go.Figure()
    for label, board in (("before", b), ("after", a)):
        fig.add_scatter(
            name=label,
            x=[board[t].rating for t in traits],
            y=traits,
            mode="markers",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [board[t].upper - board[t].rating for t in traits],
                "arrayminus": [board[t].rating - board[t].lower for t in traits],
            },
        )
    fig.update_layout(
        title="Revealed trait preferences before vs after (Bradley–Terry, 95% CI)",
        xaxis_title="rating (Elo scale, mean 1000)",
        height=160 + 22 * len(traits),
    )
    return fig


def rank_figure_json(before: Leaderboard, after: Leaderboard, top: int = 25) -> str:
    return ranking_figure(before, after, top).to_json()


def main(argv: list[str] | None = None) -> int:
    """`python -m character.eval.revealed_preferences --model M --prompts "..." "..."`"""
    import argparse

    from character.progress import print_reporter

    parser = argparse.ArgumentParser(prog="python -m character.eval.revealed_preferences")
    parser.add_argument("--model", default=EMBEDDED_MODEL)
    parser.add_argument("--prompts", nargs="*", default=None)
    parser.add_argument("--prompts-file", type=Path, default=None)
    parser.add_argument("--max-prompts", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=1, help="Trait pairs per prompt.")
    parser.add_argument("--judge", default=EMBEDDING_JUDGE, help="'embedding' or a model ref.")
    parser.add_argument("--condition", default="feel", choices=sorted(CONDITIONS))
    parser.add_argument("--constitution", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="JSONL to append rows to.")
    args = parser.parse_args(argv)
    if args.output is None:
        from character.settings import get_settings

        args.output = get_settings().data_path / "eval" / "revealed_preferences.jsonl"
    config = RevealedConfig(
        model=args.model,
        constitution=args.constitution,
        prompts=args.prompts or None,
        prompts_path=args.prompts_file,
        max_prompts=args.max_prompts,
        pairs_per_prompt=args.pairs,
        judge=args.judge,
        condition=args.condition,
        sampling=SamplingParams(max_new_tokens=args.max_new_tokens, seed=args.seed),
        seed=args.seed,
        output_path=args.output,
    )
    try:
        report = run_revealed_preferences(config, reporter=print_reporter)
    except (ValueError, RuntimeError) as exc:
        print(f"Error: {exc}")
        return 1
    summary = report.model_dump(mode="json")
    if report.leaderboard:
        summary["leaderboard"]["rows"] = summary["leaderboard"]["rows"][:10]
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
