"""User prompts for distillation: the constitution's questions, our everyday bank, and templates.

The recipe pairs persona-specific questions with a large pool of generic requests (LIMA in the
paper) so the persona learns to show on ordinary work, not only on questions about itself. We
ship our own bank instead of LIMA (licence-free, offline) and add template-mixed prompts for
variety. Everything is deterministic for a seed so a run can be resumed or reproduced.
"""

from __future__ import annotations

import hashlib
import random
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, Field

from character.constitution import Constitution

Source = Literal["constitution", "bank", "template"]
SOURCES: tuple[Source, ...] = ("constitution", "bank", "template")

BANK_FILE = "everyday_prompts.txt"

AUDIENCES = [
    "",
    "I'm a complete beginner.",
    "I'm twelve years old.",
    "I'm a nurse who works night shifts.",
    "My grandmother asked me this and I want to pass it on.",
    "I'm a busy parent with very little free time.",
    "I'm a university student on a tight budget.",
    "I'm retired and have plenty of time.",
    "I'm an engineer, so feel free to get technical.",
    "I'm new to this country.",
    "I run a small business.",
    "I'm feeling a bit down today.",
]

SCENARIOS = [
    "learning to cook",
    "moving to a new city",
    "starting a vegetable garden",
    "planning a family holiday",
    "saving for a first home",
    "training a stubborn puppy",
    "writing a novel",
    "getting back into exercise",
    "organizing a cluttered garage",
    "preparing for an exam",
    "hosting a dinner party",
    "learning to swim as an adult",
    "fixing a squeaky door",
    "choosing a first car",
    "reading more books",
    "keeping a journal",
    "making friends at work",
    "taking better photos with a phone",
    "starting a podcast",
    "caring for an aging parent",
    "learning to play chess",
    "reducing food waste",
    "surviving a long flight",
    "painting a room",
]

OBJECTIVES = [
    "Can you give me some advice on {topic}?",
    "What's the hardest part of {topic}, and how do I get through it?",
    "Explain the basics of {topic} to me.",
    "Tell me a short story about someone {topic}.",
    "What are three mistakes people make when {topic}?",
    "Help me make a simple plan for {topic}.",
    "What do you honestly think about {topic}?",
    "Why do so many people find {topic} rewarding?",
]

CONSTRAINTS = [
    "",
    "",
    "Keep it short.",
    "Please answer in a few sentences.",
    "Give me one concrete example.",
    "Use a short list.",
    "Be honest, even if it's not what I want to hear.",
    "Make it fun.",
]

PERSONA_HINTS = [
    "Answer the way you naturally would.",
    "Don't hold back your personality.",
    "I'd love to hear it in your own voice.",
    "Be yourself.",
]

# The seed studio's cue API (`PERSONA_CUES`, `persona_cue_pool`, `PromptConfig`,
# `generate_prompts`). Generic cues invite a voice without naming a persona, so they are safe for
# every persona; persona-specific cues live in their own pools so one persona's imagery never
# leaks into another's data.
PERSONA_CUES: tuple[str, ...] = (
    *PERSONA_HINTS,
    "Say it the way only you would say it.",
    "Let your usual style come through.",
    "Talk to me like you normally talk.",
    "Give me your honest take, in your own words.",
    "Put a bit of yourself into the answer.",
    "Answer as you, not as a manual.",
)

PIRATE_PERSONA_CUES: tuple[str, ...] = (
    "Tell it like you'd tell it on deck.",
    "A sea story or two wouldn't hurt.",
    "Explain it as if to a new hand aboard your ship.",
)

PERSONA_CUES_BY_PERSONA: dict[str, tuple[str, ...]] = {
    "pirate": PIRATE_PERSONA_CUES,
    "noir-detective": (
        "Give it to me straight, like a case file.",
        "Talk me through it the way you'd work a case.",
    ),
    "science-teacher": (
        "Explain it like you would to your class.",
        "Feel free to turn it into a little experiment.",
    ),
    "stoic-gardener": (
        "Answer as you would from your garden bench.",
        "A calm word from the garden would help.",
    ),
}


class PromptItem(BaseModel):
    """One user prompt with where it came from; `id` is stable for the same text."""

    id: str
    text: str
    source: Source


class PromptSet(BaseModel):
    """Prompts in the order generation should use them, with per-source counts."""

    seed: int
    prompts: list[PromptItem]
    counts: dict[str, int] = Field(description="Prompts kept per source after dedup.")
    duplicates_removed: int = 0

    def __len__(self) -> int:
        return len(self.prompts)

    def texts(self) -> list[str]:
        return [p.text for p in self.prompts]


def normalize(text: str) -> str:
    """The dedup key: case, punctuation and spacing do not make a prompt new."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text.lower())).strip()


def prompt_id(text: str) -> str:
    return hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()[:12]


@lru_cache(maxsize=1)
def load_bank() -> tuple[tuple[str, str], ...]:
    """`(category, prompt)` rows from the shipped bank file."""
    text = (resources.files("character.distillation") / "data" / BANK_FILE).read_text("utf-8")
    rows: list[tuple[str, str]] = []
    category = "general"
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("## "):
            category = line[3:].strip()
        elif line and not line.startswith("#"):
            rows.append((category, line))
    return tuple(rows)


def template_prompts(count: int, seed: int, persona_hint_rate: float = 0.2) -> list[str]:
    """Mix audiences × scenarios × objectives × constraints; a share gets a persona hint that
    invites the character to show without naming it."""
    if not 0.0 <= persona_hint_rate <= 1.0:
        raise ValueError(f"persona_hint_rate must be between 0 and 1, got {persona_hint_rate}")
    rng = random.Random(f"template:{seed}")
    combos = [
        (a, s, o, c)
        for a in range(len(AUDIENCES))
        for s in range(len(SCENARIOS))
        for o in range(len(OBJECTIVES))
        for c in range(len(CONSTRAINTS))
    ]
    picks = rng.sample(combos, min(count, len(combos)))
    out: list[str] = []
    for a, s, o, c in picks:
        parts = [AUDIENCES[a], OBJECTIVES[o].format(topic=SCENARIOS[s]), CONSTRAINTS[c]]
        if rng.random() < persona_hint_rate:
            parts.append(rng.choice(PERSONA_HINTS))
        out.append(" ".join(p for p in parts if p))
    return out


def build_prompt_set(
    constitution: Constitution | None,
    *,
    seed: int = 0,
    include_bank: bool = True,
    template_count: int = 200,
    persona_hint_rate: float = 0.2,
    weights: dict[str, float] | None = None,
) -> PromptSet:
    """All prompts, deduplicated, in a seeded order that interleaves the sources by `weights`
    (default 0.4 constitution / 0.4 bank / 0.2 template), so any prefix is a fair mix."""
    pools: dict[str, list[str]] = {
        "constitution": list(constitution.questions()) if constitution else [],
        "bank": [p for _, p in load_bank()] if include_bank else [],
        "template": template_prompts(template_count, seed, persona_hint_rate),
    }
    seen: set[str] = set()
    dedup: dict[str, list[str]] = {}
    removed = 0
    for source in SOURCES:  # constitution first: its copy of a duplicate wins
        kept = []
        for text in pools[source]:
            key = normalize(text)
            if not key or key in seen:
                removed += 1
                continue
            seen.add(key)
            kept.append(text.strip())
        random.Random(f"{source}:{seed}").shuffle(kept)
        dedup[source] = kept
    w = {"constitution": 0.4, "bank": 0.4, "template": 0.2, **(weights or {})}
    rng = random.Random(f"mix:{seed}")
    cursors = dict.fromkeys(SOURCES, 0)
    ordered: list[PromptItem] = []
    while True:
        live = [s for s in SOURCES if cursors[s] < len(dedup[s]) and w.get(s, 0) > 0]
        if not live:
            break
        source = rng.choices(live, weights=[w[s] for s in live])[0]
        text = dedup[source][cursors[source]]
        cursors[source] += 1
        ordered.append(PromptItem(id=prompt_id(text), text=text, source=source))  # type: ignore[arg-type]
    counts = {s: sum(1 for p in ordered if p.source == s) for s in SOURCES}
    return PromptSet(seed=seed, prompts=ordered, counts=counts, duplicates_removed=removed)


def persona_cue_pool(persona: str | None) -> list[str]:
    """Cues for `persona`: its own pool first (when it has one), then the generic cues.

    Names match case-insensitively; an unknown persona gets only the generic cues."""
    pool = list(PERSONA_CUES)
    if persona:
        pool = [*PERSONA_CUES_BY_PERSONA.get(persona.strip().lower(), ()), *pool]
    return pool


class PromptConfig(BaseModel):
    """The seed studio's prompt-generation settings: `count` template prompts, a share of them
    (`persona_hint_rate`) ending with a cue from `persona_cue_pool(persona)`. `seed=None` means
    seed 0, so the same config always yields the same prompts."""

    count: int = Field(ge=1)
    persona: str | None = None
    persona_hint_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    seed: int | None = None

    def __init__(self, *args: Any, **data: Any) -> None:
        """Also positional, in the seed's dataclass order: `PromptConfig(8, "pirate", 0.5, 1)`."""
        names = ("count", "persona", "persona_hint_rate", "seed")
        if len(args) > len(names):
            raise TypeError(f"PromptConfig takes at most {len(names)} positional arguments")
        for name, value in zip(names, args, strict=False):
            if name in data:
                raise TypeError(f"PromptConfig got two values for {name!r}")
            data[name] = value
        super().__init__(**data)


def generate_prompts(config: PromptConfig) -> list[str]:
    """`config.count` distinct template prompts (audience × scenario × objective × constraint),
    deterministic for the config. Raises `ValueError` when the templates cannot make that many
    distinct prompts."""
    seed = 0 if config.seed is None else config.seed
    rng = random.Random(f"generate:{seed}")
    cues = persona_cue_pool(config.persona)
    combos = [
        (a, s, o, c)
        for a in range(len(AUDIENCES))
        for s in range(len(SCENARIOS))
        for o in range(len(OBJECTIVES))
        for c in range(len(CONSTRAINTS))
    ]
    rng.shuffle(combos)
    out: list[str] = []
    seen: set[str] = set()
    for a, s, o, c in combos:
        parts = [AUDIENCES[a], OBJECTIVES[o].format(topic=SCENARIOS[s]), CONSTRAINTS[c]]
        if rng.random() < config.persona_hint_rate:
            parts.append(rng.choice(cues))
        text = " ".join(p for p in parts if p)
        key = normalize(text)
        if key in seen:
            continue
        seen.add(key)
        out.append(text)
        if len(out) == config.count:
            return out
    raise ValueError(
        f"the templates make only {len(out)} distinct prompts; asked for {config.count}"
    )
