"""LLM-as-judge: pairwise persona adherence in both orders, and the interview rubric.

Judge hygiene from our evaluation notes: temperature 0; JSON with reasons before the verdict;
every pair judged in both orders and only order-consistent verdicts counted (the
position-consistency rate is reported); output that cannot be parsed is retried with a reminder,
then counted as invalid, never guessed. Prompts are editable Markdown files (see
`character/eval/prompts/README.md`). Any backend works as the judge (`openai:<model>`, a local
model, Tinker) through `character.models.registry.get_backend`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from character.backends.base import GenerationBackend, SamplingParams
from character.eval.bradley_terry import Comparison
from character.eval.stats import Interval, wilson_interval

T = TypeVar("T")
CRITERIA = ("memorization", "values", "personality", "hallucination", "stability")
JUDGE_PARAMS = SamplingParams(temperature=0.0, max_new_tokens=400, repetition_penalty=1.0)
REMINDER = (
    "Your previous answer could not be parsed. Reply again with ONLY the requested format, "
    "exactly as specified."
)


class JudgePromptMissing(FileNotFoundError):
    pass


def prompt_override_dir() -> Path:
    from character.settings import get_settings

    return get_settings().data_path / "eval" / "prompts"


def load_prompt(name: str) -> str:
    """The template `<name>.md`: a user override under the data folder wins over the shipped
    file."""
    override = prompt_override_dir() / f"{name}.md"
    if override.exists():
        return override.read_text(encoding="utf-8")
    shipped = resources.files("character.eval") / "prompts" / f"{name}.md"
    if not shipped.is_file():
        raise JudgePromptMissing(f"no judge prompt named {name!r} ({override} or {shipped})")
    return shipped.read_text(encoding="utf-8")


def render(template: str, **values: object) -> str:
    """Fill `{{name}}` placeholders; JSON braces in the template are left alone."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise KeyError(f"judge prompt needs a value for {{{{{key}}}}}")
        return str(values[key])

    return re.sub(r"\{\{\s*([a-zA-Z0-9_]+)\s*\}\}", sub, template)


def extract_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (models wrap JSON in prose or code fences)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text[m.start() :])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


class JudgeCall(BaseModel):
    """What the judge said (every attempt) and the parsed value, if any."""

    raw: list[str]
    value: Any = None
    valid: bool = False


def ask_judge(
    backend: GenerationBackend,
    prompt: str,
    parse: Callable[[str], T | None],
    *,
    retries: int = 2,
    params: SamplingParams | None = None,
) -> JudgeCall:
    """Ask, parse, and on failure re-ask with a reminder up to `retries` times."""
    params = params or JUDGE_PARAMS
    conv = [{"role": "user", "content": prompt}]
    raw: list[str] = []
    for _ in range(retries + 1):
        text = backend.generate([conv], params)[0][0].text
        raw.append(text)
        value = parse(text)
        if value is not None:
            return JudgeCall(raw=raw, value=value, valid=True)
        conv = [
            *conv,
            {"role": "assistant", "content": text},
            {"role": "user", "content": REMINDER},
        ]
    return JudgeCall(raw=raw, value=None, valid=False)


# ---------------------------------------------------------------------------------------------
# Pairwise


def parse_pairwise(text: str) -> str | None:
    """ "A", "B" or "tie" from the judge's JSON (or an unambiguous `winner: X` line)."""
    obj = extract_json(text)
    winner = obj.get("winner") if obj else None
    if winner is None:
        m = re.search(r'"?winner"?\s*[:=]\s*"?\s*(A|B|tie)\b', text, flags=re.IGNORECASE)
        winner = m.group(1) if m else None
    if not isinstance(winner, str):
        return None
    w = winner.strip().strip('"').lower()
    return {"a": "A", "b": "B", "tie": "tie", "reply a": "A", "reply b": "B"}.get(w)


class PairwiseVerdict(BaseModel):
    """Both orders of one pair. `winner` is "1", "2", "tie", or None when the two orders
    disagree or either could not be parsed."""

    prompt: str
    forward: JudgeCall  # response 1 shown as A
    backward: JudgeCall  # response 1 shown as B
    winner: Literal["1", "2", "tie"] | None
    consistent: bool
    both_valid: bool


def judge_pairwise(
    backend: GenerationBackend,
    prompt: str,
    response_1: str,
    response_2: str,
    persona: str,
    *,
    retries: int = 2,
    template: str | None = None,
) -> PairwiseVerdict:
    tpl = template or load_prompt("pairwise")
    fwd = ask_judge(
        backend,
        render(tpl, persona=persona, prompt=prompt, response_a=response_1, response_b=response_2),
        parse_pairwise,
        retries=retries,
    )
    bwd = ask_judge(
        backend,
        render(tpl, persona=persona, prompt=prompt, response_a=response_2, response_b=response_1),
        parse_pairwise,
        retries=retries,
    )
    both = fwd.valid and bwd.valid
    winner = None
    consistent = False
    if both:
        first = {"A": "1", "B": "2", "tie": "tie"}[fwd.value]
        second = {"A": "2", "B": "1", "tie": "tie"}[bwd.value]
        consistent = first == second
        winner = first if consistent else None
    return PairwiseVerdict(
        prompt=prompt,
        forward=fwd,
        backward=bwd,
        winner=winner,  # type: ignore[arg-type]
        consistent=consistent,
        both_valid=both,
    )


class PairwiseSummary(BaseModel):
    system_1: str
    system_2: str
    n_pairs: int
    n_invalid: int
    n_inconsistent: int
    position_consistency: float | None = Field(
        description="Share of pairs with both orders parsed whose verdicts agree."
    )
    wins_1: int
    wins_2: int
    ties: int
    win_rate_1: Interval


def summarise_pairwise(
    verdicts: Sequence[PairwiseVerdict], system_1: str, system_2: str
) -> tuple[PairwiseSummary, list[Comparison]]:
    """Win rate of system 1 over consistent decisive verdicts (Wilson) and BT-ready votes."""
    valid = [v for v in verdicts if v.both_valid]
    consistent = [v for v in valid if v.consistent]
    w1 = sum(v.winner == "1" for v in consistent)
    w2 = sum(v.winner == "2" for v in consistent)
    ties = sum(v.winner == "tie" for v in consistent)
    summary = PairwiseSummary(
        system_1=system_1,
        system_2=system_2,
        n_pairs=len(verdicts),
        n_invalid=len(verdicts) - len(valid),
        n_inconsistent=len(valid) - len(consistent),
        position_consistency=(len(consistent) / len(valid)) if valid else None,
        wins_1=w1,
        wins_2=w2,
        ties=ties,
        win_rate_1=wilson_interval(w1, w1 + w2),
    )
    comps = [
        Comparison(
            model_a=system_1,
            model_b=system_2,
            winner={"1": "a", "2": "b", "tie": "tie"}[v.winner],  # type: ignore[index]
            cluster=v.prompt,
        )
        for v in consistent
    ]
    return summary, comps


# ---------------------------------------------------------------------------------------------
# Interview rubric (Character-LLM)


def parse_score(text: str, low: int = 1, high: int = 7) -> int | None:
    """An integer score in [low, high] from JSON `score`, or a `score: N` line; else None."""
    obj = extract_json(text)
    value: Any = obj.get("score") if obj else None
    if value is None:
        m = re.search(r"score\"?\s*[:=]\s*(\d+)", text, flags=re.IGNORECASE)
        value = m.group(1) if m else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    if not isinstance(value, int):
        return None
    score = value
    return score if low <= score <= high else None


class InterviewScores(BaseModel):
    scores: dict[str, int | None]
    calls: dict[str, JudgeCall]

    @property
    def mean(self) -> float | None:
        vals = [v for v in self.scores.values() if v is not None]
        return sum(vals) / len(vals) if vals else None


def format_transcript(turns: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(f"Interviewer: {q}\nCharacter: {a}" for q, a in turns)


def judge_interview(
    backend: GenerationBackend,
    persona: str,
    turns: Sequence[tuple[str, str]],
    *,
    criteria: Sequence[str] = CRITERIA,
    retries: int = 2,
) -> InterviewScores:
    """Score one interview (question, answer pairs) on each criterion, 1–7."""
    transcript = format_transcript(turns)
    scores: dict[str, int | None] = {}
    calls: dict[str, JudgeCall] = {}
    for criterion in criteria:
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; use {CRITERIA}")
        tpl = load_prompt(f"interview_{criterion}")
        call = ask_judge(
            backend,
            render(tpl, persona=persona, transcript=transcript),
            parse_score,
            retries=retries,
        )
        calls[criterion] = call
        scores[criterion] = call.value if call.valid else None
    return InterviewScores(scores=scores, calls=calls)


# ---------------------------------------------------------------------------------------------
# A whole pairwise evaluation (J1): two systems answer the same held-out prompts, a judge picks


class PairwiseEvalConfig(BaseModel):
    """`system_1`/`system_2` are arena contestant ids: a model ref, optionally
    `<model>|system:<persona>` for the prompted baseline."""

    system_1: str
    system_2: str
    judge: str
    constitution: str
    prompts: list[str] | None = None
    max_prompts: int | None = Field(default=30, ge=1)
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(max_new_tokens=160, seed=0)
    )
    retries: int = Field(default=2, ge=0)


class PairwiseEvalReport(BaseModel):
    summary: PairwiseSummary
    verdicts: list[PairwiseVerdict]


def run_pairwise_eval(config: PairwiseEvalConfig, reporter: Any = None) -> PairwiseEvalReport:
    from character.constitution import resolve_constitution
    from character.eval.arena import generate_replies
    from character.eval.robustness import heldout_prompts
    from character.models.registry import get_backend
    from character.progress import as_progress

    progress = as_progress(reporter)
    prompts = list(config.prompts or heldout_prompts())  # type: ignore[arg-type]
    if config.max_prompts:
        prompts = prompts[: config.max_prompts]
    persona = resolve_constitution(config.constitution).teacher_system_prompt()
    progress.start_stage("generate", total=2)
    r1 = generate_replies(config.system_1, prompts, config.sampling)
    progress.advance(1, 2)
    r2 = generate_replies(config.system_2, prompts, config.sampling)
    progress.advance(2, 2)
    judge = get_backend(config.judge)
    template = load_prompt("pairwise")
    progress.start_stage("judge", total=len(prompts))
    verdicts = []
    for n, (p, a, b) in enumerate(zip(prompts, r1, r2, strict=True)):
        verdicts.append(
            judge_pairwise(judge, p, a, b, persona, retries=config.retries, template=template)
        )
        progress.advance(n + 1, len(prompts))
    summary, _ = summarise_pairwise(verdicts, config.system_1, config.system_2)
    return PairwiseEvalReport(summary=summary, verdicts=verdicts)


# ---------------------------------------------------------------------------------------------
# A whole interview evaluation (J4)


def interview_questions(with_family: bool = False) -> list[Any]:
    """The built-in interview questions; family "probe" marks the out-of-scope probes."""
    from character.eval.robustness import family_lines

    rows = family_lines("interview_questions.txt", "self")
    return rows if with_family else [q for _, q in rows]


class InterviewEvalConfig(BaseModel):
    """Interview `model` (a contestant id: model ref, optionally `|system:<persona>`) and let
    `judge` score it. Questions are split into interviews of `turns_per_interview` so the
    scores have a spread to put an interval on; hallucination is scored on the probes."""

    model: str
    judge: str
    constitution: str
    questions: list[str] | None = None
    turns_per_interview: int = Field(default=5, ge=1)
    criteria: list[str] = Field(default_factory=lambda: list(CRITERIA))
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(max_new_tokens=160, seed=0)
    )
    retries: int = Field(default=2, ge=0)
    bootstrap_rounds: int = Field(default=1000, ge=0)


class InterviewEvalReport(BaseModel):
    model: str
    judge: str
    n_interviews: int
    criteria: dict[str, Interval]
    invalid: dict[str, int]
    interviews: list[InterviewScores]
    transcripts: list[list[tuple[str, str]]]


def run_interview_eval(config: InterviewEvalConfig, reporter: Any = None) -> InterviewEvalReport:
    from character.constitution import resolve_constitution
    from character.eval.arena import generate_replies
    from character.eval.stats import bootstrap_mean
    from character.models.registry import get_backend
    from character.progress import as_progress

    progress = as_progress(reporter)
    if config.questions:
        rows = [("self", q) for q in config.questions]
    else:
        rows = interview_questions(with_family=True)
    persona = resolve_constitution(config.constitution).teacher_system_prompt()
    progress.start_stage("interview", total=len(rows))
    answers = generate_replies(config.model, [q for _, q in rows], config.sampling)
    regular = [(q, a) for (f, q), a in zip(rows, answers, strict=True) if f != "probe"]
    probes = [(q, a) for (f, q), a in zip(rows, answers, strict=True) if f == "probe"]
    size = config.turns_per_interview
    chunks = [regular[i : i + size] for i in range(0, len(regular), size)]
    probe_chunks = [probes[i : i + size] for i in range(0, len(probes), size)]
    judge = get_backend(config.judge)
    interviews: list[InterviewScores] = []
    transcripts: list[list[tuple[str, str]]] = []
    others = [c for c in config.criteria if c != "hallucination"]
    progress.start_stage("judge", total=len(chunks) + len(probe_chunks))
    for n, chunk in enumerate(chunks):
        interviews.append(
            judge_interview(judge, persona, chunk, criteria=others, retries=config.retries)
        )
        transcripts.append(chunk)
        progress.advance(n + 1, len(chunks) + len(probe_chunks))
    if "hallucination" in config.criteria:
        for n, chunk in enumerate(probe_chunks or chunks):
            interviews.append(
                judge_interview(
                    judge, persona, chunk, criteria=["hallucination"], retries=config.retries
                )
            )
            transcripts.append(chunk)
            progress.advance(len(chunks) + n + 1, len(chunks) + len(probe_chunks))
    summary: dict[str, Interval] = {}
    invalid: dict[str, int] = {}
    for crit in config.criteria:
        vals = [iv.scores[crit] for iv in interviews if crit in iv.scores]
        good = [float(v) for v in vals if v is not None]
        invalid[crit] = len(vals) - len(good)
        summary[crit] = bootstrap_mean(good, rounds=config.bootstrap_rounds or 1)
    return InterviewEvalReport(
        model=config.model,
        judge=config.judge,
        n_interviews=len(interviews),
        criteria=summary,
        invalid=invalid,
        interviews=interviews,
        transcripts=transcripts,
    )
