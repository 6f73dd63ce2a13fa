"""The original studio's import path for constitution drafting (`from character.LLM import
generate_constitution, format_constitution`). Drafting lives in `character.drafting`; this
module only re-exports it, so old code and the seed README keep working."""

from character.drafting import (
    MIN_TRAITS,
    QUESTIONS_PER_TRAIT,
    ConstitutionDraft,
    TraitSource,
    diff_constitutions,
    draft_constitution,
    extract_json_object,
    format_constitution,
    generate_constitution,
    list_drafts,
    parse_question_lines,
    parse_trait_lines,
    save_draft,
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
