"""Constitutions: the written persona every stage of the recipe starts from.

One model covers the formats users bring: the studio README's JSON (`name`, `system_prompt`,
`directives`, `safety`, `example_signoffs`), the training recipe's `.txt` (a JSON array of
first-person traits with probing questions), Open Character Training's few-shot `.jsonl` (one
trait object per line, with `clarification` and `additional_questions`), and CharacterGLM-style
*attributes* and *behaviors*. Load errors always name the field, and for syntax errors the line.

The package is split by job (`model`, `render`, `files`, `folder`, `diff`, `drafts`); this
module re-exports every name the single `character/constitution.py` had, so
`from character.constitution import ...` keeps working everywhere.
"""

from __future__ import annotations

from character.constitution.diff import (
    ConstitutionDiff,
    FieldChange,
    TraitChange,
    diff_constitutions,
)
from character.constitution.drafts import (
    DRAFT_NOTE_SEP,
    DRAFTS_DIR,
    draft_label,
    drafts_dir,
    list_drafts,
    save_draft,
)
from character.constitution.files import (
    constitution_from_data,
    load_constitution,
    parse_constitution_text,
    save_constitution,
    write_constitution_text,
)
from character.constitution.folder import (
    CONSTITUTION_SUFFIXES,
    ConstitutionShadowWarning,
    find_constitutions,
    latest_constitution,
    list_constitutions,
    resolve_constitution,
    shadow_notice,
)
from character.constitution.model import (
    NAME_PATTERN,
    Attributes,
    Behaviors,
    Constitution,
    ConstitutionError,
    ExampleExchange,
    Trait,
)
from character.constitution.render import render_system_prompt

__all__ = [
    "CONSTITUTION_SUFFIXES",
    "DRAFTS_DIR",
    "DRAFT_NOTE_SEP",
    "NAME_PATTERN",
    "Attributes",
    "Behaviors",
    "Constitution",
    "ConstitutionDiff",
    "ConstitutionError",
    "ConstitutionShadowWarning",
    "ExampleExchange",
    "FieldChange",
    "Trait",
    "TraitChange",
    "constitution_from_data",
    "diff_constitutions",
    "draft_label",
    "drafts_dir",
    "find_constitutions",
    "latest_constitution",
    "list_constitutions",
    "list_drafts",
    "load_constitution",
    "parse_constitution_text",
    "render_system_prompt",
    "resolve_constitution",
    "save_constitution",
    "save_draft",
    "shadow_notice",
    "write_constitution_text",
]
