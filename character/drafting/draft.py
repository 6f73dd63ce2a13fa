"""Draft a constitution from a one-line description, with any model the registry knows.

Strong models (`openai:...`, `tinker:...`) are asked for the whole constitution as JSON, which
is validated and, on errors, sent back once with the problems listed. The embedded 135M model
cannot write reliable JSON, so it is asked for small line-based pieces instead (trait lines,
then questions per trait, in one batch), parsed leniently and retried with other seeds. Whatever
is still missing is filled deterministically from the description, so the result always
validates; `ConstitutionDraft.sources` records which parts came from the model.

Drafted trait lines that are not first-person statements about the character, or unrelated
to the description, are dropped (templates fill the gap). Example exchanges, which small
teachers imitate far better than descriptions, are drafted last: several replies per question
with the drafted persona's own prompt, scored by the voice judge built from the draft so far,
keeping the best in-voice ones. Every draft ends with the quality check
(`character.constitution_quality`), so a draft that still needs editing says so and where.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from character.backends.base import GenerationBackend
from character.constitution import (
    Attributes,
    Behaviors,
    Constitution,
    ConstitutionError,
    ExampleExchange,
    Trait,
    constitution_from_data,
)
from character.constitution_quality import (
    MIN_TRAIT_RELEVANCE,
    check_constitution_quality,
    persona_reference,
    question_problem,
    trait_relevance,
    trait_voice_problem,
)
from character.drafting.examples import draft_examples
from character.drafting.models import ConstitutionDraft, Mode, TraitSource
from character.drafting.parsing import (
    extract_json_object,
    parse_question_lines,
    parse_trait_lines,
    too_similar,
)
from character.drafting.templates import (
    MIN_TRAITS,
    QUESTION_BANK,
    QUESTIONS_PER_TRAIT,
    pick_questions,
    slugify,
    template_constitution,
    template_traits,
)
from character.progress import Progress, Reporter, as_progress

# --------------------------------------------------------------------------------------------
# Model calls


def _trait_request(description: str, k: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You write short character descriptions."},
        {
            "role": "user",
            "content": (
                f"Character: {description.strip()}\n\n"
                f"Write {k} short sentences about this character's personality and way of "
                "speaking, as the character talking about itself. Put each sentence on its own "
                'line and start every line with "I". Example:\nI am patient and kind.\n'
                "I love telling stories."
            ),
        },
    ]


def _question_request(description: str, trait: str, k: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You write realistic questions that people ask a chatbot."},
        {
            "role": "user",
            "content": (
                f'A chatbot is {description.strip()}. It says: "{trait}"\n\n'
                f"Write {k} different everyday questions a user might ask it, where the answer "
                "would show this side of it. One short question per line, each ending with '?'."
            ),
        },
    ]


_JSON_SCHEMA_HINT = """{
  "name": "lowercase-id",
  "display_name": "Name",
  "description": "one sentence",
  "system_prompt": "You are ... (how the character talks and behaves)",
  "traits": [{"trait": "I ... (first person)", "questions": ["5 everyday user messages"]}],
  "directives": ["I ..."],
  "safety": ["..."],
  "example_signoffs": ["..."],
  "examples": [{"user": "an everyday question", "assistant": "the reply, in the voice"}],
  "attributes": {"identity": "", "interests": [], "viewpoints": [], "experiences": [],
                 "achievements": [], "relationships": []},
  "behaviors": {"linguistic_features": [], "emotional_expression": [],
                "interaction_patterns": []}
}"""


def _json_request(description: str, name: str, problems: list[str]) -> list[dict[str, str]]:
    user = (
        f"Write a character constitution for: {description.strip()}\n\n"
        f'Return only a JSON object (no prose) with name "{name}" and this shape:\n'
        f"{_JSON_SCHEMA_HINT}\n\n"
        f"Give {MIN_TRAITS} to 10 traits. Each trait is a first-person sentence starting with "
        f'"I" and has exactly {QUESTIONS_PER_TRAIT} questions: ordinary user messages (not about '
        "the character itself) whose answers would reveal the trait through the *style* of the "
        "reply. Give 2 or 3 example exchanges whose replies are unmistakably in the character's "
        "voice. Include safety rules that keep the character from encouraging harm."
    )
    if problems:
        user += "\n\nYour previous answer had these problems; fix them:\n" + "\n".join(
            f"- {p}" for p in problems[:20]
        )
    return [
        {"role": "system", "content": "You design personas for character training."},
        {"role": "user", "content": user},
    ]


def _resolve_model(model: str | None) -> str:
    """The registry reference to use; a bare API model name goes to the configured endpoint."""
    from character.models.registry import UnknownModelError, resolve
    from character.settings import get_settings

    s = get_settings()
    ref = model or s.llm_model
    try:
        resolve(ref)
    except UnknownModelError:
        if s.openai_key() or s.openai_url():
            return f"openai:{ref}"
        raise
    return ref


def _fill(
    description: str,
    name: str,
    model_traits: list[str],
    model_questions: list[list[str]],
) -> tuple[list[Trait], list[TraitSource]]:
    """Model traits first, then template traits until MIN_TRAITS; questions topped up to 5."""
    chosen: list[tuple[str, str | None, list[str]]] = []  # (trait, pool, model questions)
    for t, qs in zip(model_traits, model_questions, strict=False):
        chosen.append((t, None, qs))
    for text, pool in template_traits(description):
        if len(chosen) >= MIN_TRAITS:
            break
        if not too_similar(text, [c[0] for c in chosen], limit=0.7):
            chosen.append((text, pool, []))
    used: set[str] = {q.lower() for _, _, qs in chosen for q in qs}
    traits: list[Trait] = []
    sources: list[TraitSource] = []
    for i, (text, pool, qs) in enumerate(chosen):
        qs = qs[:QUESTIONS_PER_TRAIT]
        missing = QUESTIONS_PER_TRAIT - len(qs)
        extra: list[str] = []
        if missing > 0:
            bank = QUESTION_BANK[pool] if pool else [q for p in QUESTION_BANK.values() for q in p]
            extra = pick_questions(
                bank, missing, f"{name}|{description}|{i}|{text}", used | {q.lower() for q in qs}
            )
            used.update(q.lower() for q in extra)
        traits.append(Trait(trait=text, questions=[*qs, *extra]))
        sources.append(
            TraitSource(
                trait="template" if pool else "model",
                model_questions=len(qs),
                template_questions=len(extra),
            )
        )
    return traits, sources


def _draft_lines(
    backend: GenerationBackend,
    description: str,
    name: str,
    *,
    temperature: float,
    max_new_tokens: int,
    attempts: int,
    seed: int,
    progress: Progress,
) -> ConstitutionDraft:
    from character.backends.base import SamplingParams

    raw: list[str] = []
    problems: list[str] = []
    calls = 0
    traits: list[str] = []
    reference = persona_reference(template_constitution(name, description))
    progress.start_stage("draft traits", total=attempts)
    for attempt in range(attempts):
        params = SamplingParams(
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            seed=seed + attempt,
            repetition_penalty=1.15,
        )
        text = backend.generate([_trait_request(description, MIN_TRAITS)], params)[0][0].text
        calls += 1
        raw.append(text)
        for t in _usable_trait_lines(parse_trait_lines(text), reference, problems):
            if len(traits) < MIN_TRAITS + 2 and not too_similar(t, traits, limit=0.7):
                traits.append(t)
        progress.advance(attempt + 1, attempts, traits=len(traits))
        if len(traits) >= MIN_TRAITS:
            break
    questions: list[list[str]] = [[] for _ in traits]
    if traits:
        progress.start_stage("draft questions", total=attempts)
        for attempt in range(attempts):
            todo = [i for i, qs in enumerate(questions) if len(qs) < QUESTIONS_PER_TRAIT]
            if not todo:
                break
            params = SamplingParams(
                temperature=temperature,
                max_new_tokens=max_new_tokens,
                seed=seed + 100 + attempt,
                repetition_penalty=1.15,
            )
            convs = [_question_request(description, traits[i], QUESTIONS_PER_TRAIT) for i in todo]
            outs = backend.generate(convs, params)
            calls += len(convs)
            taken = {q.lower() for qs in questions for q in qs}
            for i, out in zip(todo, outs, strict=True):
                raw.append(out[0].text)
                for q in parse_question_lines(out[0].text):
                    if question_problem(q):  # odd prompts teach nothing; templates fill in
                        continue
                    if q.lower() not in taken and len(questions[i]) < QUESTIONS_PER_TRAIT:
                        questions[i].append(q)
                        taken.add(q.lower())
            progress.advance(attempt + 1, attempts)
    full, sources = _fill(description, name, traits, questions)
    c = template_constitution(name, description).model_copy(update={"traits": full})
    c = Constitution.model_validate(c.model_dump())
    examples, example_calls = draft_examples(
        backend,
        c,
        temperature=temperature,
        seed=seed,
        progress=progress,
        raw=raw,
        problems=problems,
    )
    calls += example_calls
    c = c.model_copy(update={"examples": examples})
    fields = ["traits"] if any(s.trait == "model" for s in sources) else []
    return ConstitutionDraft(
        constitution=c,
        model="",
        mode="lines",
        sources=sources,
        fields_from_model=fields + (["examples"] if examples else []),
        attempts=calls,
        raw_outputs=raw,
        problems=problems,
        model_examples=len(examples),
    )


def _usable_trait_lines(lines: list[str], reference: str, problems: list[str]) -> list[str]:
    """Drafted trait lines that speak as the character about itself and relate to the
    description; the reason for each line dropped goes to `problems`."""
    voiced: list[str] = []
    for line in lines:
        why = trait_voice_problem(line)
        if why:
            problems.append(f"dropped drafted trait '{line}': it {why}")
        else:
            voiced.append(line)
    kept: list[str] = []
    for line, rel in zip(voiced, trait_relevance(reference, voiced), strict=True):
        if rel < MIN_TRAIT_RELEVANCE:
            problems.append(
                f"dropped drafted trait '{line}': unrelated to the description "
                f"(similarity {rel:.2f} < {MIN_TRAIT_RELEVANCE:.2f})"
            )
        else:
            kept.append(line)
    return kept


def _draft_json(
    backend: GenerationBackend,
    description: str,
    name: str,
    *,
    temperature: float,
    max_new_tokens: int,
    attempts: int,
    seed: int,
    progress: Progress,
) -> ConstitutionDraft:
    from character.backends.base import SamplingParams

    raw: list[str] = []
    problems: list[str] = []
    progress.start_stage("draft constitution", total=attempts)
    data: dict | None = None
    for attempt in range(attempts):
        params = SamplingParams(
            temperature=temperature, max_new_tokens=max_new_tokens, seed=seed + attempt
        )
        text = backend.generate([_json_request(description, name, problems)], params)[0][0].text
        raw.append(text)
        progress.advance(attempt + 1, attempts)
        try:
            obj = extract_json_object(text)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            problems = [f"not valid JSON: {exc}"]
            continue
        if not isinstance(obj, dict):
            problems = ["the reply must be a JSON object"]
            continue
        obj["name"] = name
        try:
            c = constitution_from_data(obj, source=f"reply of {backend.model_ref}")
        except ConstitutionError as exc:
            problems = exc.problems
            data = obj
            continue
        weak = [
            f"traits[{i}] has {len(t.questions)} questions; give {QUESTIONS_PER_TRAIT}"
            for i, t in enumerate(c.traits)
            if len(t.questions) < QUESTIONS_PER_TRAIT
        ]
        if len(c.traits) < MIN_TRAITS:
            weak.insert(0, f"only {len(c.traits)} traits; give at least {MIN_TRAITS}")
        data = obj
        if not weak or attempt == attempts - 1:
            problems = weak
            break
        problems = weak
    return _repair_json_draft(data, description, name, raw, problems, attempts=len(raw))


def _repair_json_draft(
    data: dict | None,
    description: str,
    name: str,
    raw: list[str],
    problems: list[str],
    *,
    attempts: int,
) -> ConstitutionDraft:
    """Keep every valid piece of the model's JSON; fill the rest from the template."""
    base = template_constitution(name, description)
    data = data or {}
    fields: list[str] = []
    update: dict[str, object] = {}
    for field in ("display_name", "description", "system_prompt"):
        v = data.get(field)
        if isinstance(v, str) and v.strip():
            update[field] = v.strip()
            fields.append(field)
    for field in ("directives", "safety", "example_signoffs"):
        v = data.get(field)
        if isinstance(v, list) and v and all(isinstance(x, str) and x.strip() for x in v):
            update[field] = [x.strip() for x in v]
            fields.append(field)
    for field, model in (("attributes", Attributes), ("behaviors", Behaviors)):
        try:
            update[field] = model.model_validate(data.get(field) or {})
            if data.get(field):
                fields.append(field)
        except ValueError:
            problems.append(f"field '{field}' was invalid and was replaced by the template")
    model_traits: list[str] = []
    model_qs: list[list[str]] = []
    for item in data.get("traits") or []:
        if not isinstance(item, dict) or not isinstance(item.get("trait"), str):
            continue
        t = item["trait"].strip()
        qs = [q.strip() for q in item.get("questions") or [] if isinstance(q, str) and q.strip()]
        if len(t) >= 3 and not too_similar(t, model_traits, limit=0.9):
            model_traits.append(t)
            model_qs.append(qs)
    traits, sources = _fill(description, name, model_traits, model_qs)
    if model_traits:
        fields.append("traits")
    update["traits"] = traits
    examples: list[ExampleExchange] = []
    for i, item in enumerate(data.get("examples") or [], start=1):
        try:
            examples.append(ExampleExchange.model_validate(item))
        except ValueError:
            problems.append(f"example {i} was not a {{user, assistant}} pair and was dropped")
    if examples:
        update["examples"] = examples
        fields.append("examples")
    c = Constitution.model_validate({**base.model_dump(), **_dump(update)})
    return ConstitutionDraft(
        constitution=c,
        model="",
        mode="json",
        sources=sources,
        fields_from_model=fields,
        attempts=attempts,
        raw_outputs=raw,
        problems=problems,
        model_examples=len(examples),
    )


def _dump(update: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in update.items():
        if isinstance(v, BaseModel):
            out[k] = v.model_dump()
        elif isinstance(v, list):
            out[k] = [x.model_dump() if isinstance(x, BaseModel) else x for x in v]
        else:
            out[k] = v
    return out


def draft_constitution(
    description: str,
    model: str | None = None,
    temperature: float | None = None,
    name: str | None = None,
    max_new_tokens: int | None = None,
    *,
    mode: Mode = "auto",
    attempts: int = 2,
    seed: int = 0,
    reporter: Reporter | Progress | None = None,
    backend: GenerationBackend | None = None,
) -> ConstitutionDraft:
    """Draft a constitution and report which parts the model wrote.

    `mode="auto"` asks API models (`openai:`, `tinker:`) for JSON and local models for lines.
    Pass `backend` to reuse one already loaded (the studio keeps its models warm).
    """
    from character.models.registry import get_backend, resolve
    from character.settings import get_settings

    if not description or not description.strip():
        raise ValueError("description is empty: say in a sentence who the character is")
    s = get_settings()
    if backend is not None:
        ref, kind = backend.model_ref, backend.kind
    else:
        ref = _resolve_model(model)
        kind = resolve(ref).kind
    name = name or slugify(description)
    Constitution.model_validate({"name": name})  # a bad name fails before any model call
    temperature = s.llm_temperature if temperature is None else temperature
    chosen: Literal["json", "lines"] = (
        ("json" if kind in ("openai", "tinker") else "lines") if mode == "auto" else mode
    )
    progress = as_progress(reporter)
    backend = backend or get_backend(ref)
    # A whole JSON constitution needs room; a batch of trait or question lines does not.
    draft_fn, default_tokens = (
        (_draft_json, max(s.llm_max_tokens, 4096)) if chosen == "json" else (_draft_lines, 160)
    )
    draft = draft_fn(
        backend,
        description,
        name,
        temperature=temperature,
        max_new_tokens=max_new_tokens or default_tokens,
        attempts=max(1, attempts),
        seed=seed,
        progress=progress,
    )
    draft.model = ref
    progress.start_stage("check quality", total=1)
    draft.quality = check_constitution_quality(draft.constitution)
    progress.advance(1, 1, findings=len(draft.quality.findings))
    progress.log(draft.summary())
    return draft


def generate_constitution(
    description: str,
    model: str | None = None,
    temperature: float | None = None,
    name: str | None = None,
    max_new_tokens: int | None = None,
) -> Constitution:
    """The seed API: a valid constitution drafted from a one-line description.

    Always returns something that validates (gaps are filled from templates); use
    `draft_constitution` to see which parts the model wrote.
    """
    return draft_constitution(
        description,
        model=model,
        temperature=temperature,
        name=name,
        max_new_tokens=max_new_tokens,
    ).constitution
