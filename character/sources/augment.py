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

from pydantic import BaseModel, Field

from character.backends.base import SamplingParams
from character.constitution import Constitution, render_system_prompt, resolve_constitution
from character.io import atomic_write_json
from character.output_paths import allow_outside_field, check_config_outputs
from character.persona_cards import (
    STYLES,
    CardVariant,
    NoCardVariantsError,
    Style,
    augmented_cards_path,
    card_choices,
    load_card_variants,
    pick_card,
)
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings

__all__ = [
    "STYLES",
    "AugmentConfig",
    "CardVariant",
    "NoCardVariantsError",
    "Style",
    "augment_card",
    "augmented_cards_path",
    "card_choices",
    "load_card_variants",
    "pick_card",
    "rule_rewrite",
    "update_card",
]

INSTRUCTIONS: dict[str, str] = {
    "summarize": "Summarize this character description in three or four sentences. Keep the "
    "name and every personality trait.",
    "paraphrase": "Rewrite this character description in completely different words, keeping "
    "every fact and trait. Address the character as 'you'.",
    "stylize": "Rewrite this character description as the character introducing themself, in "
    "their own voice and manner of speaking, in the first person.",
}


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
    if path.suffix.lower() in (".txt", ".jsonl"):
        raise ConstitutionError(
            str(path),
            [
                f"a {path.suffix} constitution holds only traits, not a card; save it as JSON or YAML"
            ],
        )
    updates: dict[str, object] = {}
    if attributes is not None:
        updates["attributes"] = Attributes.model_validate(attributes)
    if behaviors is not None:
        updates["behaviors"] = Behaviors.model_validate(behaviors)
    return save_constitution(c.model_copy(update=updates), path)
