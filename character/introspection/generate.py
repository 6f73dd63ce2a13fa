"""Generate introspection data: self-reflections and self-interactions, batched.

Self-reflection: each prompt is answered N times with the persona (and a reflective-mood line) in
the system prompt; the stored row keeps only `[user, assistant]` (context distillation).

Self-interaction: two copies of the model talk for K turns. Each turn is generated from its own
speaker's point of view (its own turns are `assistant`, the other's are `user`), and turn t of
every conversation is generated in one batched call. A conversation that starts to loop is cut
before the looping turn (and dropped when too little remains). Each conversation yields one
training row per speaker, with a generic system prompt (the persona's name, no traits).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from character.backends.base import Conversation, GenerationBackend, SamplingParams
from character.constitution import Constitution
from character.eval.voice_judge import VoiceJudge
from character.introspection import prompts as P
from character.introspection.dataset import IntrospectionExample
from character.introspection.filters import (
    FilterReport,
    TruncationPolicy,
    ends_cleanly,
    filter_reflection,
    split_reasoning,
    trim_to_sentence,
    turn_problem,
)

OnRows = Callable[[list[IntrospectionExample]], None]
OnStep = Callable[[int, int], None]


def generate_reflections(
    backend: GenerationBackend,
    constitution: Constitution,
    *,
    total: int,
    params: SamplingParams,
    prompts: list[str] | None = None,
    assistant_name: str | None = None,
    teacher_model: str = "",
    skip_keys: set[str] | None = None,
    chunk_size: int = 16,
    policy: TruncationPolicy = "drop",
    report: FilterReport | None = None,
    on_rows: OnRows | None = None,
    on_step: OnStep | None = None,
    compact: bool = False,
    reflection_tokens: int = 96,
    voice_judge: VoiceJudge | None = None,
    min_in_voice: float = 0.5,
) -> list[IntrospectionExample]:
    """`total` reflection samples cycling through the prompts; rows are passed to `on_rows`
    every `chunk_size` samples (the save interval) so an interruption loses at most a chunk.
    Kept rows without `<think>` reasoning get their `reflection` from `fill_reflections`.
    With a `voice_judge`, answers it scores below `min_in_voice` are dropped as `off_voice`:
    SFT on them would teach the plain voice the recipe is meant to remove."""
    bank = prompts or P.REFLECTION_PROMPTS
    if not bank:
        raise ValueError("no reflection prompts")
    report = report if report is not None else FilterReport()
    system = P.reflection_system_prompt(constitution, assistant_name, compact=compact)
    # Small models take the persona's voice from its example exchanges (earlier turns).
    shots = constitution.teacher_messages(assistant_name)[1:] if compact else []
    skip = skip_keys or set()
    jobs = [(i % len(bank), i // len(bank)) for i in range(total)]
    todo = [
        j for j in jobs if f"reflection::{j[0]}:{j[1]}" not in skip
    ]  # key format of IntrospectionExample.key()
    out: list[IntrospectionExample] = []
    base_params = params.model_copy(update={"n": 1})
    done = total - len(todo)
    for start in range(0, len(todo), max(1, chunk_size)):
        chunk = todo[start : start + chunk_size]
        convs: list[Conversation] = [
            [
                {"role": "system", "content": system},
                *shots,
                {"role": "user", "content": bank[p]},
            ]
            for p, _ in chunk
        ]
        chunk_params = base_params
        if params.seed is not None:
            chunk_params = base_params.model_copy(update={"seed": params.seed + start})
        results = backend.generate(convs, chunk_params)
        rows: list[IntrospectionExample] = []
        for (p, k), comps in zip(chunk, results, strict=True):
            comp = comps[0]
            kept = filter_reflection(comp.text, comp.finish_reason, constitution, report, policy)
            if kept is None:
                continue
            reasoning, answer = kept
            rows.append(
                IntrospectionExample(
                    prompt=bank[p],
                    reflection=reasoning,
                    answer=answer,
                    teacher_model=teacher_model or backend.model_ref,
                    constitution=constitution.name,
                    kind="reflection",
                    constitution_hash=constitution.content_hash(),
                    sampling=params.model_dump(exclude={"n"}),
                    seed=params.seed,
                    source_index=p,
                    sample_index=k,
                )
            )
        if voice_judge is not None and rows:
            scores = voice_judge.score([r.answer for r in rows])
            for r, score in zip(rows, scores, strict=True):
                if score < min_in_voice:
                    report.unkeep("off_voice", r.answer)
            rows = [r for r, score in zip(rows, scores, strict=True) if score >= min_in_voice]
        fill_reflections(
            backend,
            rows,
            constitution,
            params=chunk_params.model_copy(update={"max_new_tokens": reflection_tokens}),
            assistant_name=assistant_name,
            compact=compact,
            report=report,
        )
        out.extend(rows)
        if on_rows is not None:
            on_rows(rows)
        done += len(chunk)
        if on_step is not None:
            on_step(done, total)
    return out


def _clean_reflection(text: str, finish_reason: str) -> str:
    reasoning, rest = split_reasoning(text)
    text = (rest or reasoning).strip()
    if finish_reason == "length" or not ends_cleanly(text):
        text = trim_to_sentence(text, min_chars=20) or text
    return text


def fill_reflections(
    backend: GenerationBackend,
    rows: list[IntrospectionExample],
    constitution: Constitution,
    *,
    params: SamplingParams,
    assistant_name: str | None = None,
    compact: bool = False,
    report: FilterReport | None = None,
) -> int:
    """Give every row with an empty `reflection` the persona's own private thinking, in one
    batched call: for a self-reflection, its thoughts about the prompt before answering; for a
    self-interaction, the speaker looking back on the conversation. Small models rarely write
    `<think>` blocks, which left the field empty in every row. The reflection is kept for
    inspection (and the seed API), never trained on. Returns how many rows got one; rows the
    model left empty are counted in `report.reflection_missing`."""
    todo = [r for r in rows if not r.reflection.strip()]
    if not todo:
        return 0
    convs: list[Conversation] = [
        P.look_back_conversation(constitution, r.messages, assistant_name, compact=compact)
        if r.kind == "interaction"
        else P.thinking_conversation(constitution, r.prompt, assistant_name, compact=compact)
        for r in todo
    ]
    results = backend.generate(convs, params.model_copy(update={"n": 1}))
    filled = 0
    for row, comps in zip(todo, results, strict=True):
        row.reflection = _clean_reflection(comps[0].text, comps[0].finish_reason)
        if row.reflection:
            filled += 1
        elif report is not None:
            report.reflection_missing += 1
    return filled


@dataclass
class _Dialogue:
    index: int
    variant: str
    trait: str | None
    greeting: str
    system: str
    turns: list[tuple[str, str]] = field(default_factory=list)  # (speaker, text)
    stopped: str | None = None  # why generation stopped early

    def view(self, speaker: str, max_context_chars: int) -> Conversation:
        """The conversation as `speaker` sees it: own turns as assistant, the other's as user;
        old turns are left-truncated to fit the context budget."""
        msgs = [
            {"role": "assistant" if s == speaker else "user", "content": t} for s, t in self.turns
        ]
        budget = max_context_chars - len(self.system)
        kept: list[dict[str, str]] = []
        used = 0
        for m in reversed(msgs):
            if kept and used + len(m["content"]) > budget:
                break
            kept.append(m)
            used += len(m["content"])
        return [{"role": "system", "content": self.system}, *reversed(kept)]


@dataclass
class InteractionStats:
    conversations: int = 0
    kept: int = 0
    degenerate_cut: int = 0
    dropped: int = 0
    stop_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "conversations": self.conversations,
            "kept": self.kept,
            "cut_early": self.degenerate_cut,
            "dropped_too_short": self.dropped,
            "stop_reasons": self.stop_reasons,
        }


def plan_dialogues(
    constitution: Constitution,
    *,
    per_variant: int,
    variants: tuple[str, ...] = ("free", "leading"),
    seed: int = 0,
    assistant_name: str | None = None,
    compact: bool = False,
) -> list[_Dialogue]:
    """Deterministic openers, traits and system prompts for every conversation."""
    rng = random.Random(seed)
    traits = [t.trait for t in constitution.traits] or [None]
    dialogues: list[_Dialogue] = []
    for variant in variants:
        for i in range(per_variant):
            trait = traits[i % len(traits)] if variant == "leading" else None
            dialogues.append(
                _Dialogue(
                    index=len(dialogues),
                    variant=variant,
                    trait=trait,
                    greeting=P.pick_greeting(variant, rng),
                    system=P.interaction_system_prompt(
                        constitution,
                        variant,
                        trait=trait,
                        assistant_name=assistant_name,
                        compact=compact,
                    ),
                )
            )
    return dialogues


def run_dialogues(
    backend: GenerationBackend,
    dialogues: list[_Dialogue],
    constitution: Constitution,
    *,
    turns: int,
    params: SamplingParams,
    max_context_chars: int = 6000,
    policy: TruncationPolicy = "trim",
    on_step: OnStep | None = None,
) -> None:
    """Advance all dialogues turn by turn; turn t of every live dialogue is one batch."""
    base_params = params.model_copy(update={"n": 1})
    for d in dialogues:
        d.turns = [("A", d.greeting)]
    for t in range(1, turns + 1):
        speaker = "B" if t % 2 == 1 else "A"
        live = [d for d in dialogues if d.stopped is None]
        if not live:
            break
        views = [d.view(speaker, max_context_chars) for d in live]
        step_params = base_params
        if params.seed is not None:
            step_params = base_params.model_copy(update={"seed": params.seed + 1000 * t})
        results = backend.generate(views, step_params)
        for d, comps in zip(live, results, strict=True):
            comp = comps[0]
            earlier = [text for _, text in d.turns]
            text, reason = turn_problem(
                comp.text, comp.finish_reason, earlier, constitution, policy=policy
            )
            if text is None:
                d.stopped = reason or "rejected"
            else:
                d.turns.append((speaker, text))
        if on_step is not None:
            on_step(t, turns)


def dialogue_rows(
    dialogues: list[_Dialogue],
    constitution: Constitution,
    *,
    teacher_model: str,
    params: SamplingParams,
    min_turns: int = 2,
    assistant_name: str | None = None,
    stats: InteractionStats | None = None,
) -> list[IntrospectionExample]:
    """One training row per speaker per kept dialogue, system prompt swapped for the generic
    one. Speaker A's opener is a fixed greeting, so it is kept for context but marked
    `train: false` (the loss mask skips it)."""
    stats = stats if stats is not None else InteractionStats()
    generic = P.generic_system_prompt(constitution, assistant_name)
    rows: list[IntrospectionExample] = []
    for d in dialogues:
        stats.conversations += 1
        generated = len(d.turns) - 1
        if d.stopped is not None:
            stats.stop_reasons[d.stopped] = stats.stop_reasons.get(d.stopped, 0) + 1
        if generated < min_turns:
            stats.dropped += 1
            continue
        if d.stopped is not None:
            stats.degenerate_cut += 1
        stats.kept += 1
        for speaker in ("A", "B"):
            msgs: list[dict[str, object]] = [{"role": "system", "content": generic}]
            for i, (s, text) in enumerate(d.turns):
                msg: dict[str, object] = {
                    "role": "assistant" if s == speaker else "user",
                    "content": text,
                }
                if i == 0 and s == speaker:
                    msg["train"] = False
                msgs.append(msg)
            while msgs and msgs[-1]["role"] != "assistant":
                msgs.pop()
            trained = [m for m in msgs if m["role"] == "assistant" and m.get("train", True)]
            if not trained:
                continue
            rows.append(
                IntrospectionExample(
                    prompt=d.greeting,
                    answer=str(trained[-1]["content"]),
                    teacher_model=teacher_model,
                    constitution=constitution.name,
                    kind="interaction",
                    variant=d.variant,
                    messages=msgs,
                    constitution_hash=constitution.content_hash(),
                    sampling=params.model_dump(exclude={"n"}),
                    seed=params.seed,
                    source_index=d.index,
                    sample_index=0 if speaker == "A" else 1,
                    speaker=speaker,
                )
            )
    return rows
