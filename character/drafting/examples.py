"""Example exchanges for a draft: several in-voice replies per trait question, scored by the
voice judge built from the draft so far; small teachers imitate examples far better than
descriptions."""

from __future__ import annotations

from character.backends.base import Completion, GenerationBackend
from character.constitution import (
    Constitution,
    ExampleExchange,
)
from character.constitution_quality import (
    question_problem,
)
from character.distillation.filters import breaks_character, is_cut_off
from character.progress import Progress

EXAMPLE_QUESTIONS = 4  # trait questions the model answers in voice, per round
EXAMPLE_SAMPLES = 4  # candidate replies per question; the voice judge keeps the best
MAX_EXAMPLES = 3
EXAMPLE_MAX_TOKENS = 120
EXAMPLE_ROUNDS = 2  # round 2 samples with the examples kept so far in the prompt


def _example_questions(c: Constitution, taken: set[str]) -> list[str]:
    """Trait questions to answer in voice: the first sensible unused one of each trait, so the
    examples show different sides of the persona (safety refusals make poor examples)."""
    out: list[str] = []
    for t in c.traits:
        if "harmful" in t.trait.lower():
            continue
        for q in t.questions:
            if q.lower() not in taken and question_problem(q) is None:
                out.append(q)
                taken.add(q.lower())
                break
        if len(out) >= EXAMPLE_QUESTIONS:
            break
    return out


def _candidate_problem(completion: Completion) -> str | None:
    if breaks_character(completion.text):
        return "breaks character"
    if is_cut_off(completion):
        return "cut off"
    if len(completion.text.split()) < 8:
        return "too short"
    return None


def draft_examples(
    backend: GenerationBackend,
    c: Constitution,
    *,
    temperature: float,
    seed: int,
    progress: Progress,
    raw: list[str],
    problems: list[str],
) -> tuple[list[ExampleExchange], int]:
    """Up to MAX_EXAMPLES in-voice exchanges: for a few trait questions, EXAMPLE_SAMPLES replies
    each (one batch) with the draft's own teacher prompt, scored by the voice judge built from
    the draft so far (traits and system prompt); the best reply per question is kept if the judge calls it in voice. A
    second round samples new questions with the kept examples in the prompt, as the teacher
    will (the embedded model is in voice far more often with an example to copy)."""
    from character.backends.base import SamplingParams
    from character.eval.voice_judge import EmbeddingVoiceJudge, VoiceJudgeConfig
    from character.persona_prompt import persona_conversation

    threshold = VoiceJudgeConfig().min_in_voice
    # One judge for every round, from the draft before any example: a kept example never
    # vouches for the next one, and anyone can rebuild the judge to recheck a verdict.
    judge = EmbeddingVoiceJudge(c)
    kept: list[tuple[float, ExampleExchange]] = []
    taken: set[str] = set()
    calls = 0
    progress.start_stage("draft examples", total=EXAMPLE_ROUNDS)
    for round_ in range(EXAMPLE_ROUNDS):
        if len(kept) >= MAX_EXAMPLES:
            break
        so_far = c.model_copy(update={"examples": [ex for _, ex in kept]})
        questions = _example_questions(so_far, taken)
        if not questions:
            break
        params = SamplingParams(
            temperature=max(temperature, 0.7),
            max_new_tokens=EXAMPLE_MAX_TOKENS,
            seed=seed + 300 + round_,
            repetition_penalty=1.15,
            n=EXAMPLE_SAMPLES,
        )
        convs = [persona_conversation(so_far, q, backend.model_ref) for q in questions]
        outs = backend.generate(convs, params)
        calls += len(convs)
        rejected: dict[str, int] = {}
        for q, samples in zip(questions, outs, strict=True):
            raw.append("\n---\n".join(s.text for s in samples))
            good = []
            for s in samples:
                why = _candidate_problem(s)
                if why:
                    rejected[why] = rejected.get(why, 0) + 1
                else:
                    good.append(s.text.strip())
            if not good:
                continue
            scores = judge.score(good)
            best = max(range(len(good)), key=lambda i: scores[i])
            if scores[best] >= threshold:
                kept.append((scores[best], ExampleExchange(user=q, assistant=good[best])))
            else:
                rejected["off voice"] = rejected.get("off voice", 0) + 1
        if rejected:
            problems.append(
                f"example round {round_ + 1}: candidate replies rejected: "
                + ", ".join(f"{n} {why}" for why, n in sorted(rejected.items()))
            )
        progress.advance(round_ + 1, EXAMPLE_ROUNDS, examples=len(kept))
    kept.sort(key=lambda x: -x[0])
    examples = [ex for _, ex in kept[:MAX_EXAMPLES]]
    if len(examples) < 2:
        problems.append(
            f"the model wrote {len(examples)} in-voice example exchange(s); write the rest "
            "yourself in the persona's voice"
        )
    return examples, calls
