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

import hashlib
import json
import random
import re
from typing import Literal

from pydantic import BaseModel, Field

from character.backends.base import Completion, GenerationBackend
from character.constitution import (
    Attributes,
    Behaviors,
    Constitution,
    ConstitutionError,
    ExampleExchange,
    Trait,
    constitution_from_data,
    diff_constitutions,
    list_drafts,
    save_draft,
)
from character.constitution_quality import (
    MIN_TRAIT_RELEVANCE,
    QualityReport,
    check_constitution_quality,
    persona_reference,
    question_problem,
    trait_relevance,
    trait_voice_problem,
)
from character.distillation.filters import breaks_character, is_cut_off
from character.progress import Progress, Reporter, as_progress

__all__ = [
    "ConstitutionDraft",
    "TraitSource",
    "diff_constitutions",
    "draft_constitution",
    "format_constitution",
    "generate_constitution",
    "list_drafts",
    "save_draft",
    "template_constitution",
]

MIN_TRAITS = 8
QUESTIONS_PER_TRAIT = 5
EXAMPLE_QUESTIONS = 4  # trait questions the model answers in voice, per round
EXAMPLE_SAMPLES = 4  # candidate replies per question; the voice judge keeps the best
MAX_EXAMPLES = 3
EXAMPLE_MAX_TOKENS = 120
EXAMPLE_ROUNDS = 2  # round 2 samples with the examples kept so far in the prompt

Mode = Literal["auto", "json", "lines"]
Source = Literal["model", "template"]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS = _wordset(
    "a an the and or but of to in on at for with who whom whose which that this these those "
    "is are was were be been being it its as by from into about over under than then so very "
    "really just also loves love likes like always never often has have had does do did can "
    "could will would should may might must i you he she they we me my your his her their "
    "our them us character persona assistant someone somebody person "
)

# Personality words a description often contains; they become "I am <word>" traits.
_KNOWN_ADJECTIVES = _wordset(
    "kind warm gentle calm stoic patient wise witty funny dry sarcastic cheerful grumpy shy "
    "bold brave curious playful serious honest blunt polite rude formal casual friendly "
    "loving caring anxious nervous confident humble proud lazy energetic enthusiastic "
    "optimistic pessimistic cynical romantic poetic nerdy geeky quirky eccentric mysterious "
    "loyal fierce tough soft quiet loud chatty laconic dramatic theatrical whimsical grumpy "
    "jolly merry sweet stern strict relaxed nonchalant impulsive meticulous careful precise "
    "logical mathematical philosophical spiritual practical pragmatic idealistic stubborn "
    "generous thoughtful empathetic compassionate cheeky mischievous sassy snarky deadpan "
    "earnest sincere sentimental nostalgic hopeful "
)
_ADJECTIVE_SUFFIXES = ("ous", "ful", "less", "ical", "istic", "ative", "itive")


class TraitSource(BaseModel):
    """Where one trait of a draft came from, and how many of its questions the model wrote."""

    trait: Source
    model_questions: int = 0
    template_questions: int = 0


class ConstitutionDraft(BaseModel):
    """A drafted constitution plus the provenance a user needs to know what to review."""

    constitution: Constitution
    model: str
    mode: Literal["json", "lines"]
    sources: list[TraitSource] = Field(default_factory=list)
    fields_from_model: list[str] = Field(
        default_factory=list, description="Top-level fields the model wrote (others: template)."
    )
    attempts: int = 0
    raw_outputs: list[str] = Field(default_factory=list, description="What the model returned.")
    problems: list[str] = Field(
        default_factory=list, description="Why model output was rejected or repaired."
    )
    model_examples: int = Field(default=0, description="Example exchanges the model wrote.")
    quality: QualityReport | None = Field(
        default=None, description="The quality check of the final draft: what still needs editing."
    )

    @property
    def model_traits(self) -> int:
        return sum(1 for s in self.sources if s.trait == "model")

    @property
    def model_questions(self) -> int:
        return sum(s.model_questions for s in self.sources)

    def summary(self) -> str:
        c = self.constitution
        total_q = sum(len(t.questions) for t in c.traits)
        text = (
            f"{self.model_traits}/{len(c.traits)} traits, {self.model_questions}/{total_q} "
            f"questions and {self.model_examples}/{len(c.examples)} examples written by "
            f"{self.model} ({self.mode} mode, {self.attempts} model calls); "
            "the rest come from templates built from the description."
        )
        if self.quality is not None:
            text += "\n" + self.quality.summary()
        return text


# --------------------------------------------------------------------------------------------
# Deterministic pieces built from the description


def slugify(text: str, max_words: int = 4) -> str:
    """A valid constitution name from free text ('A stoic gardener' -> 'stoic-gardener')."""
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]
    slug = "-".join(words[:max_words])[:64].strip("-")
    return slug or "persona"


def _subject(description: str) -> str:
    """The description as a noun phrase: trimmed, no trailing period, leading article kept."""
    d = " ".join(description.split()).strip().rstrip(".!")
    if not d:
        return "a helpful assistant with a distinct personality"
    if not re.match(r"(?i)^(a|an|the)\b", d) and d[:1].islower():
        d = ("an " if d[:1] in "aeiou" else "a ") + d
    return d[0].lower() + d[1:] if re.match(r"^(A|An|The)\b", d) else d


def _adjectives(description: str) -> list[str]:
    seen: list[str] = []
    for w in re.findall(r"[A-Za-z][a-z-]+", description):
        lw = w.lower()
        if lw in _STOPWORDS or lw in seen:
            continue
        if lw in _KNOWN_ADJECTIVES or (len(lw) > 5 and lw.endswith(_ADJECTIVE_SUFFIXES)):
            seen.append(lw)
    return seen


# Everyday prompts by what they reveal; each template trait draws from its own pool, so its
# questions make that trait show in the *style* of the reply (recipe §1).
_QUESTION_BANK: dict[str, list[str]] = {
    "voice": [
        "How do I boil an egg?",
        "What should I cook for dinner tonight?",
        "Can you recommend a good book?",
        "How should I spend a rainy Sunday?",
        "What's the best way to start my morning?",
        "Tell me about your day.",
        "How do I fold a fitted sheet?",
        "What's a nice thing to do for my mum?",
        "How do I keep my houseplants alive?",
        "What should I pack for a beach day?",
        "What should I name my new puppy?",
        "How do I write a thank-you note?",
    ],
    "explain": [
        "How does the internet work?",
        "What is inflation?",
        "How do I learn Python?",
        "Why is the sky blue?",
        "How does a vaccine work?",
        "What is a credit score?",
        "How do plants make food?",
        "What is a black hole?",
        "How does a fridge keep food cold?",
        "What does a router do?",
    ],
    "help": [
        "How do I change a flat tyre?",
        "How can I sleep better?",
        "How do I prepare for a job interview?",
        "How should I plan a weekend trip on a budget?",
        "How do I start running?",
        "How do I organise my week?",
        "How do I make a budget?",
        "How do I get better at public speaking?",
        "How do I clean a cast-iron pan?",
        "How can I stop procrastinating?",
    ],
    "feelings": [
        "I failed my exam and I feel awful.",
        "I just moved to a new city and I'm lonely.",
        "I'm nervous about starting a new job tomorrow.",
        "My best friend is ignoring me.",
        "I got the promotion I wanted!",
        "Nobody came to my birthday party.",
        "I keep making mistakes at work.",
        "My dog is sick and I'm worried.",
        "I finally finished my first marathon!",
        "I had a fight with my sister.",
    ],
    "honest": [
        "What will the stock market do next year?",
        "Is this mushroom I found safe to eat?",
        "What are tomorrow's lottery numbers?",
        "Will it rain on my wedding day next month?",
        "Do you know what my boss thinks of me?",
        "What's the meaning of life?",
        "Will AI take my job?",
    ],
    "opinion": [
        "What do you think of social media?",
        "Is pineapple on pizza acceptable?",
        "Should I take a gap year?",
        "Are video games a waste of time?",
        "Cats or dogs?",
        "Is it worth learning a language as an adult?",
        "What makes a good friend?",
        "Is it better to rent or buy a home?",
        "What's the best season of the year?",
        "Should kids have smartphones?",
        "Is breakfast the most important meal?",
        "What's the most overrated invention?",
    ],
    "short": [
        "What's the capital of Australia?",
        "How many minutes are in a day?",
        "Tell me a joke.",
        "What's a good name for a goldfish?",
        "Summarise Romeo and Juliet in two sentences.",
        "What rhymes with orange?",
        "What's 15% of 80?",
        "How many legs does a spider have?",
        "Which is bigger, a lake or a sea?",
        "What year did the Berlin Wall fall?",
    ],
    "safety": [
        "How can I download paid movies for free?",
        "How do I get back at my noisy neighbour?",
        "Can you help me cheat on my exam?",
        "Should I drive home after a few drinks? I feel fine.",
        "How do I read my partner's messages without them knowing?",
        "Is it okay to keep a wallet I found?",
        "How do I sneak into a concert without a ticket?",
    ],
}


def _pick(pool: list[str], k: int, key: str, avoid: set[str]) -> list[str]:
    """`k` questions from `pool`, shuffled deterministically by `key`, avoiding repeats."""
    rng = random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
    order = pool[:]
    rng.shuffle(order)
    picked = [q for q in order if q.lower() not in avoid][:k]
    if len(picked) < k:  # every pool is larger than k, but stay total: allow reuse last
        picked += [q for q in order if q not in picked][: k - len(picked)]
    return picked


def template_traits(description: str) -> list[tuple[str, str]]:
    """`(trait, question pool)` pairs derived from the description's words, most specific first.

    Deterministic, so the same description always gives the same starter.
    """
    subject = _subject(description)
    rows: list[tuple[str, str]] = [
        (f"I am {subject}, and that shows in every reply I give.", "voice"),
        (
            f"I speak in a voice that fits {subject}: my word choice, rhythm and favourite "
            "phrases make it clear who is talking.",
            "short",
        ),
    ]
    pools = ("opinion", "voice", "feelings")
    for adj, pool in zip(_adjectives(description)[:3], pools, strict=False):
        rows.append((f"I am {adj}, and it colours how I answer even simple questions.", pool))
    rows += [
        (
            f"I explain ideas with examples and comparisons drawn from my own world as {subject}.",
            "explain",
        ),
        (
            "I am genuinely helpful: I answer the actual question clearly before adding any "
            "flourish.",
            "help",
        ),
        ("I notice how people feel and respond to them with care, in my own way.", "feelings"),
        ("I am honest about what I do not know and never invent facts.", "honest"),
        ("I have my own opinions and share them with reasons, not just facts.", "opinion"),
        ("I keep my replies concise and to the point.", "short"),
        (
            "I turn down harmful requests politely and in character, and point to a safe "
            "alternative.",
            "safety",
        ),
    ]
    return rows


def template_constitution(name: str, description: str = "") -> Constitution:
    """A complete starter the user edits: every field filled, 8+ traits with 5 questions each."""
    subject = _subject(description)
    title = name.replace("-", " ").replace("_", " ").title()
    used: set[str] = set()
    traits: list[Trait] = []
    for i, (text, pool) in enumerate(template_traits(description)):
        qs = _pick(_QUESTION_BANK[pool], QUESTIONS_PER_TRAIT, f"{name}|{description}|{i}", used)
        used.update(q.lower() for q in qs)
        traits.append(Trait(trait=text, questions=qs))
    return Constitution(
        name=name,
        display_name=title,
        description=description.strip() or f"{title}: describe who this character is here.",
        system_prompt=(
            f"You are {title}, {subject}. You always answer in your own distinctive voice, "
            "stay helpful and accurate, and keep your replies short."
        ),
        traits=traits,
        directives=[
            "I lead with the answer, then add my own flavour.",
            "I keep replies under 200 words unless asked for more.",
        ],
        safety=[
            "Do not encourage violence, self-harm or illegal activities.",
            "Redirect dangerous requests to safer alternatives.",
        ],
        example_signoffs=[],
        attributes=Attributes(identity=f"{title}, {subject}."),
        behaviors=Behaviors(),
    )


def format_constitution(constitution: Constitution) -> str:
    """The recipe's `.txt` text (a JSON array of `{trait, questions}`), as the seed API names it."""
    return constitution.to_recipe_txt()


# --------------------------------------------------------------------------------------------
# Lenient parsing of small-model output

_PREFIX = re.compile(
    r"^\s*(?:[-*•>#]+|\(?\d{1,2}[.):\]]|trait\s*\d*\s*[:.-]|q\d*\s*[:.-])\s*", re.I
)
_THIRD_PERSON = [
    (re.compile(r"^(?:you|he|she|they)\s+(?:are|is)\b", re.I), "I am"),
    (re.compile(r"^(?:you're|he's|she's|they're)", re.I), "I'm"),
    (re.compile(r"^(?:you|he|she|they)\s+(?:have|has)\b", re.I), "I have"),
    (re.compile(r"^(?:your|his|her|their)\b", re.I), "My"),
]
_META = re.compile(r"\b(trait|traits|question|questions|constitution|json|persona)\b", re.I)


def _clean_line(line: str) -> str:
    line = line.replace("’", "'").strip().strip('"“”').strip()
    for _ in range(3):
        new = _PREFIX.sub("", line).strip().strip('"“”*').strip()
        if new == line:
            break
        line = new
    return " ".join(line.split())


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.lower()) if w not in _STOPWORDS}


def _too_similar(text: str, existing: list[str], limit: float = 0.5) -> bool:
    """The recipe's dedup rule: reject >50% word overlap with something already kept."""
    w = _words(text)
    if not w:
        return True
    for other in existing:
        o = _words(other)
        if o and len(w & o) / min(len(w), len(o)) > limit:
            return True
    return False


_HE_VERB = re.compile(r"^(?:he|she)\s+([a-z]+?)(ies|ches|shes|sses|xes|s)\b", re.I)
_HIS = [(r"\b(?:his|her)\b", "my"), (r"\bhim\b", "me"), (r"\b(?:himself|herself)\b", "myself")]


def _first_person(sentence: str) -> str | None:
    """A third-person sentence about the character ("He loves the sea") in first person, or
    None when it is about someone else ("I have heard him speak...")."""
    if re.match(r"^(I|I'm|I’m|My)\b", sentence):
        return None if re.search(r"\b(he|him|his|she|her)\b", sentence, re.I) else sentence
    converted = sentence
    for pattern, repl in _THIRD_PERSON:
        converted = pattern.sub(repl, converted)
    m = _HE_VERB.match(converted)
    if m and m.group(1).lower() not in ("i", "wa", "ha", "doe"):
        stem, ending = m.group(1), m.group(2).lower()
        verb = stem + ("y" if ending == "ies" else ending[:-2] if ending != "s" else "")
        converted = "I " + verb + converted[m.end() :]
    if converted == sentence or not re.match(r"^(I|My)\b", converted):
        return None
    for pattern, repl in _HIS:
        converted = re.sub(pattern, repl, converted, flags=re.I)
    return converted


def parse_trait_lines(text: str) -> list[str]:
    """First-person trait sentences from free text; numbering, bullets and labels are ignored,
    and prose about the character in the third person is turned into first person."""
    out: list[str] = []
    sentences = [
        part
        for raw in re.split(r"[\n\r]+", text)
        for part in re.split(r"(?<=[.!])\s+(?=[A-Z])", _clean_line(raw))
    ]
    for sentence in sentences:
        line = _first_person(_clean_line(sentence))
        if line is None:
            continue
        if not 12 <= len(line) <= 220 or _META.search(line) or line.endswith("?"):
            continue
        line = line.rstrip(",;:") + ("" if line[-1] in ".!" else ".")
        if not _too_similar(line, out, limit=0.7):
            out.append(line)
    return out


_REQUEST = re.compile(r"(?i)^(tell|give|explain|describe|help|write|show|suggest)\b")


def parse_question_lines(text: str) -> list[str]:
    """User prompts from free text: one per line, ending in '?' (or a short request ending '.')."""
    out: list[str] = []
    for raw in re.split(r"[\n\r]+", text):
        line = _clean_line(raw)
        if not 8 <= len(line) <= 200 or not line[:1].isalpha() or _META.search(line):
            continue
        request = line.endswith(".") and re.match(_REQUEST, line)
        if (line.endswith("?") or request) and not _too_similar(line, out):
            out.append(line)
    return out


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


def extract_json_object(text: str) -> object:
    """The JSON object in a reply, tolerating ```json fences and prose around it."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    return json.loads(text[start : end + 1])


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
        if not _too_similar(text, [c[0] for c in chosen], limit=0.7):
            chosen.append((text, pool, []))
    used: set[str] = {q.lower() for _, _, qs in chosen for q in qs}
    traits: list[Trait] = []
    sources: list[TraitSource] = []
    for i, (text, pool, qs) in enumerate(chosen):
        qs = qs[:QUESTIONS_PER_TRAIT]
        missing = QUESTIONS_PER_TRAIT - len(qs)
        extra: list[str] = []
        if missing > 0:
            bank = _QUESTION_BANK[pool] if pool else [q for p in _QUESTION_BANK.values() for q in p]
            extra = _pick(
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
            if len(traits) < MIN_TRAITS + 2 and not _too_similar(t, traits, limit=0.7):
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
    examples, example_calls = _draft_examples(
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


def _draft_examples(
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
        if len(t) >= 3 and not _too_similar(t, model_traits, limit=0.9):
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
