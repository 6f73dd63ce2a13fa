"""Character-card augmentation (CharacterGLM): the same character in varied phrasings.

A teacher that always sees one wording of the card learns that wording; rewriting the card by
summarising, paraphrasing and stylising it lets pair generation show the teacher varied
descriptions of the same character. A rewrite that loses the character (no name, too few of
its key words) is replaced by a deterministic rewrite, and every variant records its origin.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from character.backends.base import SamplingParams
from character.constitution import Constitution, render_system_prompt, resolve_constitution
from character.io import atomic_write_json
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings

Style = Literal["summarize", "paraphrase", "stylize"]
STYLES: tuple[Style, ...] = ("summarize", "paraphrase", "stylize")

INSTRUCTIONS: dict[str, str] = {
    "summarize": "Summarize this character description in three or four sentences. Keep the "
    "name and every personality trait.",
    "paraphrase": "Rewrite this character description in completely different words, keeping "
    "every fact and trait. Address the character as 'you'.",
    "stylize": "Rewrite this character description as the character introducing themself, in "
    "their own voice and manner of speaking, in the first person.",
}


class CardVariant(BaseModel):
    style: Style
    system_prompt: str
    origin: Literal["model", "rule"]


class AugmentConfig(BaseModel):
    persona: str = Field(description="Persona name or constitution file.")
    model: str = Field(default_factory=lambda: get_settings().llm_model)
    variants_per_style: int = Field(default=1, ge=1, le=20)
    temperature: float = 0.9
    max_new_tokens: int = 220
    seed: int = 0
    min_keyword_share: float = Field(
        default=0.2, description="A model rewrite must keep this share of the card's key words."
    )
    output_path: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()


def _keywords(c: Constitution) -> set[str]:
    text = " ".join([c.system_prompt, c.description, *(t.trait for t in c.traits)]).lower()
    words = set(re.findall(r"[a-z]{5,}", text))
    return words - {"about", "their", "there", "which", "would", "always", "never", "things"}


def rule_rewrite(c: Constitution, style: Style, rng: random.Random) -> str:
    """Deterministic rewrites that keep every trait, used when the model's rewrite is unusable."""
    traits = [t.trait for t in c.traits]
    if style == "summarize":
        first = re.split(r"(?<=[.!?])\s", c.system_prompt.strip() or f"You are {c.title}.")[0]
        return f"{first} In short: " + " ".join(traits[:4])
    if style == "paraphrase":
        order = traits[:]
        rng.shuffle(order)
        you = [re.sub(r"^I am\b", "You are", re.sub(r"^I\b", "You", t)) for t in order]
        you = [re.sub(r"\bmy\b", "your", t) for t in you]
        return f"You are {c.title}. " + " ".join(you)
    return f"I'm {c.title}. " + " ".join(traits)


def augment_card(
    config: AugmentConfig, reporter: Reporter | Progress | None = None
) -> list[CardVariant]:
    """Rewrite the card in each style; save the variants next to the data (JSON)."""
    check_config_outputs(config)
    from character.models.registry import get_backend

    progress = as_progress(reporter)
    c = resolve_constitution(config.persona)
    card = render_system_prompt(c, disclose=True)
    keys = _keywords(c)
    backend = get_backend(config.model)
    rng = random.Random(config.seed)
    jobs = [(s, k) for s in STYLES for k in range(config.variants_per_style)]
    progress.start_stage("augment", total=len(jobs))
    convs = [
        [{"role": "user", "content": f"{INSTRUCTIONS[s]}\n\nDescription:\n{card}"}] for s, _ in jobs
    ]
    params = SamplingParams(
        temperature=config.temperature, max_new_tokens=config.max_new_tokens, seed=config.seed
    )
    outs = backend.generate(convs, params)
    variants: list[CardVariant] = []
    for (style, _), comp in zip(jobs, outs, strict=True):
        text = comp[0].text.strip()
        words = set(re.findall(r"[a-z]{5,}", text.lower()))
        share = len(words & keys) / max(1, len(keys))
        usable = bool(text) and c.title.split()[0].lower() in text.lower()
        if usable and share >= config.min_keyword_share:
            variants.append(CardVariant(style=style, system_prompt=text, origin="model"))
        else:
            variants.append(
                CardVariant(style=style, system_prompt=rule_rewrite(c, style, rng), origin="rule")
            )
    out = config.output_path or augmented_cards_path(c.name)
    atomic_write_json(
        out,
        {
            "persona": c.name,
            "constitution_hash": c.content_hash(),
            "model": config.model,
            "variants": [v.model_dump() for v in variants],
        },
    )
    progress.advance(len(jobs), len(jobs), from_model=sum(v.origin == "model" for v in variants))
    progress.artifact(str(out), "augmented cards")
    return variants


def augmented_cards_path(persona: str) -> Path:
    return get_settings().data_path / "augmented" / f"{persona}_cards.json"


def load_card_variants(persona: str, path: Path | None = None) -> list[CardVariant]:
    """Variants saved by `augment_card`; an empty list when none were made."""
    import json

    path = path or augmented_cards_path(persona)
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [CardVariant.model_validate(v) for v in data.get("variants", [])]


class NoCardVariantsError(ValueError):
    """Pair generation asked for augmented cards, but none were made for this persona."""


def card_choices(persona: str, original: str, path: Path | None = None) -> list[tuple[str, str]]:
    """`(label, system prompt)` for the original rendered card and every saved variant; the
    label (`original`, `paraphrase-1/rule`, ...) is what a pair's provenance records."""
    variants = load_card_variants(persona, path)
    if not variants:
        where = path or augmented_cards_path(persona)
        raise NoCardVariantsError(
            f"no augmented cards for {persona!r} ({where} is missing or empty): run "
            f"`character sources augment {persona}` first, or turn use_augmented_cards off"
        )
    out = [("original", original)]
    seen: dict[str, int] = {}
    for v in variants:
        seen[v.style] = seen.get(v.style, 0) + 1
        out.append((f"{v.style}-{seen[v.style]}/{v.origin}", v.system_prompt))
    return out


def pick_card(choices: list[tuple[str, str]], pair_id: str) -> tuple[str, str]:
    """The same pair always gets the same card (a stable hash, not Python's salted `hash`),
    so resumed runs and reruns use the card the first run used."""
    import hashlib

    digest = hashlib.sha256(pair_id.encode("utf-8")).digest()
    return choices[int.from_bytes(digest[:8], "big") % len(choices)]


def update_card(
    persona: str, attributes: dict | None = None, behaviors: dict | None = None
) -> Path:
    """Save a persona's attributes and behaviors (CharacterGLM card fields) into its own
    constitution file; every other field is kept. Validation errors name the field."""
    from character.constitution import (
        Attributes,
        Behaviors,
        ConstitutionError,
        list_constitutions,
        save_constitution,
    )

    c = resolve_constitution(persona)
    path = list_constitutions().get(c.name)
    if path is None:
        raise ConstitutionError(persona, ["not in the constitutions folder, so it cannot be saved"])
    if path.suffix.lower() == ".txt":
        raise ConstitutionError(
            str(path), ["a .txt constitution cannot hold a card; save it as JSON or YAML first"]
        )
    updates: dict[str, object] = {}
    if attributes is not None:
        updates["attributes"] = Attributes.model_validate(attributes)
    if behaviors is not None:
        updates["behaviors"] = Behaviors.model_validate(behaviors)
    return save_constitution(c.model_copy(update=updates), path)
