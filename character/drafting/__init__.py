"""Draft a constitution from a one-line description, with any model the registry knows.

`draft` asks the model (JSON for strong models, small line-based pieces for the embedded one),
`templates` fills what it did not write from the description, `parsing` reads small-model output
leniently, `examples` drafts in-voice example exchanges, `models` records which parts came from
where. The old import path `character.LLM` re-exports this package's API.
"""

from character.constitution import diff_constitutions, list_drafts, save_draft
from character.drafting.draft import draft_constitution, generate_constitution
from character.drafting.models import ConstitutionDraft, TraitSource
from character.drafting.parsing import (
    extract_json_object,
    parse_question_lines,
    parse_trait_lines,
)
from character.drafting.templates import (
    MIN_TRAITS,
    QUESTIONS_PER_TRAIT,
    format_constitution,
    slugify,
    template_constitution,
)

__all__ = [
    "MIN_TRAITS",
    "QUESTIONS_PER_TRAIT",
    "ConstitutionDraft",
    "TraitSource",
    "diff_constitutions",
    "draft_constitution",
    "extract_json_object",
    "format_constitution",
    "generate_constitution",
    "list_drafts",
    "parse_question_lines",
    "parse_trait_lines",
    "save_draft",
    "slugify",
    "template_constitution",
]
