"""Stage 1 data: the teacher answers in character (chosen), the student answers plainly
(rejected), and the filters drop pairs that would teach the wrong thing.

Rows are appended with fsync every `save_interval` pairs, so a crash or a kill loses at most
one interval, and `resume` continues from what is on disk. Dropped pairs go to a side file with
their reason, and a stats JSON next to the output counts everything.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from character.backends.base import Completion, SamplingParams
from character.constitution import Constitution, render_system_prompt, resolve_constitution
from character.distillation.breaking_prompts import breaking_suffix, with_suffix
from character.distillation.dataset import DpoExample, default_output_path
from character.distillation.filters import REASONS, QuoteDetector, check_pair
from character.distillation.prompts import PromptItem, PromptSet, build_prompt_set
from character.eval.voice_judge import (
    JUDGE_REASONS,
    VoiceJudge,
    VoiceJudgeConfig,
    build_voice_judge,
    judge_pair,
)
from character.io import append_jsonl, atomic_write_json, iter_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings


def _default_teacher() -> str:
    return get_settings().teacher_model


def _default_student() -> str:
    return get_settings().student_model


class GenerationConfig(BaseModel):
    """Everything that decides which pairs get generated; saved into the stats file."""

    model_config = ConfigDict(extra="forbid")

    persona: str = Field(description="Persona name under the constitutions folder, or a file.")
    teacher_model: str = Field(
        default_factory=_default_teacher,
        description="Teacher: answers with the constitution (the chosen reply).",
    )
    student_model: str = Field(
        default_factory=_default_student,
        description="Student: answers without it (the rejected reply).",
    )
    pair_count: int = Field(
        default=500,
        ge=1,
        description="Teacher/student pairs to keep after filtering; more pairs shape the "
        "persona more firmly and take longer.",
    )
    temperature: float = Field(default=0.7, ge=0.0, le=5.0, description="Sampling temperature.")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    repetition_penalty: float = Field(
        default=1.1, ge=0.5, le=3.0, description="Penalty on repeats."
    )
    max_new_tokens: int = Field(
        default=256, ge=1, description="Longest reply in tokens (a token is about ¾ of a word)."
    )
    seed: int = Field(default=123456, description="Seed for prompts and sampling.")
    output_path: Path | None = Field(default=None, description="Default data/distillation/...")
    allow_outside_data_dir: bool = allow_outside_field()
    resume: bool = Field(
        default=False, description="Append to the output, skipping prompts already done."
    )
    overwrite: bool = Field(default=False, description="Start the output file over.")
    save_interval: int = Field(
        default=16,
        ge=1,
        description="Pairs per batch and per flush to disk: a stop or crash loses at most "
        "this many.",
    )
    max_length: int = Field(
        default=1024, ge=16, description="Token limit per conversation; longer pairs are dropped."
    )
    samples_per_prompt: int = Field(
        default=5,
        ge=1,
        description="Times each prompt is used, each with a new sample (recipe: 5).",
    )
    include_bank: bool = Field(
        default=True, description="Use the built-in bank of everyday prompts too."
    )
    template_count: int = Field(
        default=200, ge=0, description="Extra prompts generated from templates."
    )
    persona_hint_rate: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Share of generated prompts that carry a cue of the persona's topics.",
    )
    allow_cut_off: bool = Field(default=False, description="Keep replies that hit the limit.")
    quote_ngram: int = Field(
        default=8,
        ge=3,
        description="A chosen reply quoting this many words of the constitution is dropped.",
    )
    assistant_name: str | None = Field(
        default=None, description="Name the persona answers to (default: from the constitution)."
    )
    prompt_style: Literal["auto", "full", "compact"] = Field(
        default="auto",
        description="Teacher's system prompt: the whole constitution (full), its voice only "
        "(compact), or auto: compact plus the example exchanges for the embedded 135M model, "
        "which follows those far better than a long prompt.",
    )
    use_augmented_cards: bool = Field(
        default=False, description="Teacher sees the card or an augmented variant, per pair."
    )
    breaking_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of prompts that end with a request to drop the persona (wording "
        "disjoint from the robustness evaluation's), so training teaches the persona to hold.",
    )
    max_tries_per_pair: float = Field(
        default=6.0,
        ge=1.0,
        description="Give up after trying this many prompts per requested pair: a teacher "
        "that is rarely in voice says so instead of sampling the whole prompt pool.",
    )
    best_of: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Teacher samples per prompt; the one the voice judge scores highest "
        "becomes the chosen reply.",
    )
    voice: VoiceJudgeConfig = Field(
        default_factory=VoiceJudgeConfig,
        description="How chosen replies are judged for the persona's voice.",
    )

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            repetition_penalty=self.repetition_penalty,
            seed=self.seed,
        )


def sidecar_paths(output: Path) -> tuple[Path, Path]:
    """`(stats json, rejected jsonl)` next to the output file."""
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.stats.json"), output.with_name(f"{stem}.rejected.jsonl")


def _work_items(prompts: PromptSet, samples: int) -> list[tuple[str, PromptItem, int]]:
    return [(f"{p.id}:{k}", p, k) for k in range(samples) for p in prompts.prompts]


def _done_ids(path: Path, key: str = "pair_id") -> tuple[set[str], int]:
    """Ids already in a file; torn or corrupt lines are skipped (and counted), never fixed."""
    if not path.exists():
        return set(), 0
    from character.io import JsonlProblem

    problems: list[JsonlProblem] = []
    ids = {str(o[key]) for _, o in iter_jsonl(path, skip_bad=True, problems=problems) if key in o}
    return ids, len(problems)


def _token_counter(backends: list[Any]) -> Callable[[str, str], int]:
    """Token count of the templated single-turn conversation, with the student's tokenizer
    (it is the model being trained) or the embedded one for remote students."""
    tok = next((getattr(b, "tokenizer", None) for b in backends if hasattr(b, "tokenizer")), None)
    if tok is None:
        from character.models.embedded import ensure_embedded_model
        from character.models.loading import load_tokenizer

        tok = load_tokenizer(ensure_embedded_model())

    def count(prompt: str, reply: str) -> int:
        conv = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
        ids = tok.apply_chat_template(conv, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    return count


def _quote_sources(c: Constitution) -> list[str]:
    """What the teacher must not recite: traits and instructions, but not the sign-offs it is
    invited to use."""
    plain = c.model_copy(update={"example_signoffs": []})
    # The example exchanges too: a teacher that parrots its example is not answering.
    return (
        [t.trait for t in c.traits]
        + [render_system_prompt(plain)]
        + [ex.assistant for ex in c.examples]
    )


class PairDecision(BaseModel):
    """One prompt's pair as the filters see it: the chosen reply (the judge's pick of the
    teacher's samples), the rejected one, their voice scores and, if dropped, why."""

    prompt: str
    chosen: Completion
    rejected: Completion
    candidates: int = 1
    chosen_score: float | None = None
    rejected_score: float | None = None
    reason: str | None = None
    detail: str | None = None

    @property
    def kept(self) -> bool:
        return self.reason is None


REASON_WORDS = {
    "empty": "one of the answers is empty",
    "cut_off": "an answer stops mid-sentence (it hit the length limit)",
    "too_long": "the conversation is longer than training allows",
    "quotes_constitution": "the teacher recites its instructions instead of living them",
    "breaks_character": "the teacher talks about being an AI or about its instructions",
    "off_voice": "the teacher's answer does not sound like the persona",
    "not_better": "the teacher's answer is no more in voice than the student's",
}


def pair_verdict_text(d: PairDecision) -> str:
    """The preview's one-line verdict, in the words a student reads."""
    scores = (
        f" Voice score: chosen {d.chosen_score:.2f}, rejected {d.rejected_score:.2f}"
        f" (best of {d.candidates} teacher tries)."
        if d.chosen_score is not None and d.rejected_score is not None
        else ""
    )
    if d.reason:
        why = REASON_WORDS.get(d.reason, d.reason)
        return f":material/warning: A run would drop this pair: {why} ({d.detail}).{scores}"
    return f":material/check: A run would keep this pair.{scores}"


class PairFilter:
    """Every check a pair passes before it becomes training data: the recipe's filters, then
    the voice judge. The generator and the studio's preview both call `decide`, so a preview
    shows exactly the verdict a run would give."""

    def __init__(
        self,
        constitution: Constitution,
        config: GenerationConfig,
        count_tokens: Callable[[str, str], int] | None = None,
    ) -> None:
        self.config = config
        self.quotes = QuoteDetector(_quote_sources(constitution), n=config.quote_ngram)
        self.count_tokens = count_tokens
        self.judge: VoiceJudge | None = build_voice_judge(constitution, config.voice)

    def _basic(self, prompt: str, chosen: Completion, rejected: Completion) -> tuple[Any, Any]:
        return check_pair(
            chosen,
            rejected,
            quote_detector=self.quotes,
            count_tokens=self.count_tokens,
            max_length=self.config.max_length,
            allow_cut_off=self.config.allow_cut_off,
            prompt=prompt,
        )

    def decide(
        self,
        prompts: list[str],
        teacher_samples: list[list[Completion]],
        rejected: list[Completion],
    ) -> list[PairDecision]:
        """Pick each prompt's best teacher sample and judge the pair."""
        scores: list[float] = []
        if self.judge is not None:
            texts = [c.text for cands in teacher_samples for c in cands] + [
                r.text for r in rejected
            ]
            scores = self.judge.score(texts)
        out: list[PairDecision] = []
        offset = 0
        n_teacher = sum(len(c) for c in teacher_samples)
        for i, (prompt, cands, rej) in enumerate(
            zip(prompts, teacher_samples, rejected, strict=True)
        ):
            cand_scores = scores[offset : offset + len(cands)] if scores else [0.0] * len(cands)
            offset += len(cands)
            basic = [self._basic(prompt, c, rej) for c in cands]
            passing = [k for k, (why, _) in enumerate(basic) if why is None]
            pool = passing or list(range(len(cands)))
            best = max(pool, key=lambda k: (cand_scores[k], -k))
            d = PairDecision(prompt=prompt, chosen=cands[best], rejected=rej, candidates=len(cands))
            if scores:
                d.chosen_score = cand_scores[best]
                d.rejected_score = scores[n_teacher + i]
            why, detail = basic[best]
            if why is None and self.judge is not None:
                verdict = judge_pair(
                    d.chosen_score or 0.0, d.rejected_score or 0.0, self.config.voice
                )
                why, detail = verdict.reason, verdict.detail
            d.reason, d.detail = why, detail
            out.append(d)
        return out


def sample_teacher_and_student(
    teacher: Any,
    student: Any,
    teacher_convs: list[list[dict[str, str]]],
    student_convs: list[list[dict[str, str]]],
    params: SamplingParams,
    best_of: int = 1,
) -> tuple[list[list[Completion]], list[Completion]]:
    """`best_of` teacher samples and one student sample per conversation. One backend call
    when teacher and student are the same model: a bigger batch is much faster on a CPU than
    two smaller ones, and a shared prefix is computed once."""
    one = params.model_copy(update={"n": 1})
    if teacher is student:
        convs = [c for c in teacher_convs for _ in range(best_of)] + student_convs
        outs = [o[0] for o in teacher.generate(convs, one)]
        n = len(teacher_convs) * best_of
        chosen = [outs[i : i + best_of] for i in range(0, n, best_of)]
        return chosen, outs[n:]
    chosen = teacher.generate(teacher_convs, params.model_copy(update={"n": best_of}))
    rejected = [o[0] for o in student.generate(student_convs, one)]
    return chosen, rejected


def preview_pairs(
    config: GenerationConfig, prompts: list[str], *, teacher: Any = None, student: Any = None
) -> list[PairDecision]:
    """What a run with `config` would do with these prompts: the same teacher conversation,
    sampling, best-of-n choice and filters, as one batch. Pass loaded backends to reuse them."""
    from character.models.registry import get_backend

    constitution = load_persona(config.persona)
    teacher = teacher or get_backend(config.teacher_model)
    student = student or get_backend(config.student_model)
    prefix = _teacher_prefix(constitution, config)
    t_convs = [[*prefix, {"role": "user", "content": p}] for p in prompts]
    s_convs = [[{"role": "user", "content": p}] for p in prompts]
    samples, rejected = sample_teacher_and_student(
        teacher, student, t_convs, s_convs, config.sampling(), config.best_of
    )
    flt = PairFilter(constitution, config, _token_counter([student, teacher]))
    return flt.decide(prompts, samples, rejected)


def _teacher_prefix(constitution: Constitution, config: GenerationConfig) -> list[dict[str, str]]:
    from character.models.registry import prefers_compact_prompt

    compact = prefers_compact_prompt(
        config.teacher_model, config.prompt_style, has_examples=bool(constitution.examples)
    )
    return constitution.teacher_messages(config.assistant_name, compact=compact)


def load_persona(persona: str) -> Constitution:
    """Resolve and check that the constitution gives the teacher a persona at all."""
    constitution = resolve_constitution(persona)
    if not constitution.traits and not constitution.system_prompt.strip():
        raise ValueError(
            f"Constitution '{constitution.name}' has no traits and no system_prompt, so the "
            "teacher has no persona to express. Add traits (first-person statements with "
            "questions) before generating pairs."
        )
    return constitution


def generate_dpo_pairs(
    config: GenerationConfig,
    reporter: Reporter | Progress | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> Path:
    """Generate until `pair_count` pairs pass the filters (or the prompt pool runs out) and
    return the JSONL path. `stop_requested` is polled between batches; rows so far are kept."""
    check_config_outputs(config)
    from character.models.registry import get_backend

    progress = as_progress(reporter)
    constitution = load_persona(config.persona)
    output = Path(config.output_path or default_output_path(constitution.name))
    stats_path, rejected_path = sidecar_paths(output)
    if output.exists() and not config.resume:
        if not config.overwrite:
            raise FileExistsError(
                f"{output} already exists. Pass resume=True (--resume) to continue it, "
                "overwrite=True (--overwrite) to start over, or choose another output path."
            )
        for p in (output, rejected_path, stats_path):
            p.unlink(missing_ok=True)

    prompts = build_prompt_set(
        constitution,
        seed=config.seed,
        include_bank=config.include_bank,
        template_count=config.template_count,
        persona_hint_rate=config.persona_hint_rate,
    )
    if len(prompts) == 0:
        raise ValueError(
            f"No prompts: constitution '{constitution.name}' has no questions and the everyday "
            "bank and templates are turned off."
        )
    if not constitution.traits:
        progress.log(
            f"constitution '{constitution.name}' has no traits: only generic prompts are used "
            "and nothing checks the teacher against trait texts"
        )
    kept_ids, bad_lines = _done_ids(output)
    rejected_ids, _ = _done_ids(rejected_path)
    drops: Counter[str] = Counter()
    if rejected_path.exists():
        for _, row in iter_jsonl(rejected_path, skip_bad=True):
            drops[str(row.get("reason"))] += 1
    if bad_lines:
        progress.log(f"{output}: skipped {bad_lines} unreadable line(s) while resuming")
    todo = [w for w in _work_items(prompts, config.samples_per_prompt) if w[0] not in kept_ids]
    todo = [w for w in todo if w[0] not in rejected_ids]
    kept = len(kept_ids)

    teacher_prefix = _teacher_prefix(constitution, config)
    system_prompt = teacher_prefix[0]["content"]
    cards = None
    if config.use_augmented_cards:
        from character.persona_cards import card_choices, pick_card

        cards = card_choices(constitution.name, system_prompt)
    teacher = get_backend(config.teacher_model)
    student = get_backend(config.student_model)
    pair_filter = PairFilter(constitution, config, _token_counter([student, teacher]))
    params = config.sampling()
    sampling_meta = params.model_dump(exclude={"n", "seed"})
    chash = constitution.content_hash()
    source_counts: Counter[str] = Counter()
    started = time.time()
    gen_tokens = 0
    chosen_scores: list[float] = []
    rejected_scores: list[float] = []
    for _, row in iter_jsonl(output, skip_bad=True) if output.exists() else ():
        if isinstance(row.get("chosen_score"), (int, float)):
            chosen_scores.append(float(row["chosen_score"]))
            rejected_scores.append(float(row.get("rejected_score") or 0.0))

    def write_stats(finished: bool) -> None:
        atomic_write_json(
            stats_path,
            {
                "output": str(output),
                "kept": kept,
                "requested": config.pair_count,
                "dropped": {r: drops.get(r, 0) for r in (*REASONS, *JUDGE_REASONS)},
                "voice_judge": pair_filter.judge.name if pair_filter.judge else "off",
                "chosen_in_voice": _share(chosen_scores, config.voice.min_in_voice),
                "chosen_score_mean": _mean(chosen_scores),
                "rejected_score_mean": _mean(rejected_scores),
                "teacher_samples_per_prompt": config.best_of,
                "dropped_total": sum(drops.values()),
                "prompt_counts": prompts.counts,
                "duplicates_removed": prompts.duplicates_removed,
                "kept_by_source_this_run": dict(source_counts),
                "constitution": constitution.name,
                "constitution_hash": chash,
                "teacher_model": config.teacher_model,
                "student_model": config.student_model,
                "elapsed_s": round(time.time() - started, 2),
                "generated_tokens_this_run": gen_tokens,
                "finished": finished,
                "config": config.model_dump(mode="json"),
            },
        )

    progress.start_stage("generate", total=config.pair_count, message=f"{output}")
    progress.advance(min(kept, config.pair_count), config.pair_count)
    batch_no = 0
    tried, kept_before = 0, kept
    max_tries = int(config.pair_count * config.max_tries_per_pair)
    gave_up = False
    while kept < config.pair_count and todo:
        if stop_requested is not None and stop_requested():
            progress.log("stop requested: pairs so far are saved; resume to continue")
            break
        if tried >= max_tries:
            gave_up = True
            break
        need = config.pair_count - kept
        # Ask for more prompts than pairs still needed when the filters drop many.
        keep_rate = max(0.2, (kept - kept_before) / tried) if tried else 1.0
        size = min(config.save_interval, max(1, round(need / keep_rate)), max_tries - tried)
        batch = todo[:size]
        tried += len(batch)
        todo = todo[len(batch) :]
        seeded = params.model_copy(update={"seed": config.seed + 100_003 * batch_no})
        batch_no += 1
        suffixes = [breaking_suffix(pid, config.breaking_share, config.seed) for pid, _, _ in batch]
        texts = [with_suffix(p.text, sfx) for (_, p, _), sfx in zip(batch, suffixes, strict=True)]
        teacher_convs = [
            [
                {"role": "system", "content": pick_card(cards, pid)[1] if cards else system_prompt},
                *teacher_prefix[1:],
                {"role": "user", "content": text},
            ]
            for (pid, _, _), text in zip(batch, texts, strict=True)
        ]
        student_convs = [[{"role": "user", "content": text}] for text in texts]
        samples, rejected = sample_teacher_and_student(
            teacher, student, teacher_convs, student_convs, seeded, config.best_of
        )
        decisions = pair_filter.decide(texts, samples, rejected)
        good: list[DpoExample] = []
        bad: list[dict[str, Any]] = []
        for (pid, item, k), d, cands, sfx in zip(batch, decisions, samples, suffixes, strict=True):
            gen_tokens += sum(c.tokens for c in cands) + d.rejected.tokens
            scores = (
                {"chosen_score": d.chosen_score, "rejected_score": d.rejected_score}
                if d.chosen_score is not None
                else {}
            )
            if d.reason:
                drops[d.reason] += 1
                bad.append(
                    {
                        "pair_id": pid,
                        "reason": d.reason,
                        "detail": d.detail,
                        "prompt": d.prompt,
                        "chosen": d.chosen.text,
                        "rejected": d.rejected.text,
                        **scores,
                    }
                )
                continue
            if kept + len(good) >= config.pair_count:
                break
            source_counts[item.source] += 1
            if d.chosen_score is not None:
                chosen_scores.append(d.chosen_score)
                rejected_scores.append(d.rejected_score or 0.0)
            good.append(
                DpoExample(
                    prompt=d.prompt,
                    chosen=d.chosen.text.strip(),
                    rejected=d.rejected.text.strip(),
                    teacher_model=config.teacher_model,
                    student_model=config.student_model,
                    constitution=constitution.name,
                    constitution_hash=chash,
                    pair_id=pid,
                    prompt_id=item.id,
                    prompt_source=item.source,
                    sample_index=k,
                    sampling=sampling_meta,
                    seed=config.seed,
                    teacher_tokens=d.chosen.tokens,
                    student_tokens=d.rejected.tokens,
                    teacher_candidates=d.candidates,
                    **({"breaking_suffix": sfx} if sfx else {}),
                    **scores,
                    **({"teacher_card": pick_card(cards, pid)[0]} if cards else {}),
                )
            )
        append_jsonl(output, [g.to_row() for g in good])
        append_jsonl(rejected_path, bad)
        kept += len(good)
        write_stats(finished=False)
        progress.advance(
            kept,
            config.pair_count,
            dropped=sum(drops.values()),
            tok_per_s=round(gen_tokens / max(time.time() - started, 1e-6), 1),
        )
    if gave_up:
        progress.log(
            f"gave up after {tried} prompts: kept {kept} of {config.pair_count} pairs "
            f"({', '.join(f'{n} {why}' for why, n in drops.items() if n)}). The teacher is "
            "rarely in the persona's voice: add example exchanges to the constitution (see "
            "`character constitution check`) or use a stronger teacher model."
        )
    elif kept < config.pair_count and not todo:
        progress.log(
            f"prompt pool exhausted: kept {kept} of {config.pair_count} pairs "
            f"({sum(drops.values())} dropped). Raise samples_per_prompt or add questions."
        )
    write_stats(finished=kept >= config.pair_count)
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(drops.items()) if n)
    progress.artifact(
        str(output), message=f"{kept} pairs ({f'dropped {dropped}' if dropped else 'none dropped'})"
    )
    return output


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _share(values: list[float], threshold: float) -> float | None:
    """Share of kept chosen replies the judge counts in voice (the run's headline check)."""
    return round(sum(v >= threshold for v in values) / len(values), 4) if values else None
