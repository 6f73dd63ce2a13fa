"""The constitution's data model: a persona definition and its parts, as Pydantic models.

Why one model for every format: the studio README's JSON, the recipe's trait `.txt`, OCT's
few-shot `.jsonl` and CharacterGLM-style attributes/behaviors all load into `Constitution`, so
every stage reads one shape and load errors name the field.
"""

from __future__ import annotations

import hashlib
import json
import re

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from character.constitution.render import render_system_prompt

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConstitutionError(ValueError):
    """A constitution could not be loaded or is invalid. `problems` lists every issue."""

    def __init__(self, source: str, problems: list[str], fields: list[str] | None = None) -> None:
        self.source = source
        self.problems = problems
        self.fields = fields or []
        """Field paths as the file spells them (`traits.1.trait`), one per problem when known."""
        where = [f" [{f}]" if f else "" for f in self.fields] + [""] * len(problems)
        body = "\n".join(f"  - {p}{w}" for p, w in zip(problems, where, strict=False))
        super().__init__(f"Invalid constitution {source}:\n{body}")


class Trait(BaseModel):
    """One first-person trait ("I ...") with questions that make it show in a reply."""

    model_config = ConfigDict(extra="forbid")

    trait: str = Field(min_length=3, description="A first-person statement, e.g. 'I am curious'.")
    questions: list[str] = Field(
        default_factory=list, description="User prompts that elicit the trait."
    )
    additional_questions: list[str] = Field(default_factory=list)
    clarification: str | None = Field(
        default=None, description="How the trait shows in a reply (OCT's few-shot files)."
    )

    @field_validator("trait", mode="before")
    @classmethod
    def _strip_trait(cls, v: object) -> object:
        # Before the length check, so "   " is an empty trait, not a 3-character one.
        return v.strip() if isinstance(v, str) else v

    @field_validator("questions", "additional_questions")
    @classmethod
    def _clean_questions(cls, v: list[str]) -> list[str]:
        cleaned = [q.strip() for q in v]
        if any(not q for q in cleaned):
            raise ValueError("contain an empty question")
        return cleaned

    def all_questions(self) -> list[str]:
        return [*self.questions, *self.additional_questions]


class Attributes(BaseModel):
    """Who the character is (CharacterGLM's attribute dimensions)."""

    model_config = ConfigDict(extra="forbid")

    identity: str = ""
    interests: list[str] = Field(default_factory=list)
    viewpoints: list[str] = Field(default_factory=list)
    experiences: list[str] = Field(default_factory=list)
    achievements: list[str] = Field(default_factory=list)
    relationships: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in type(self).model_fields)


class Behaviors(BaseModel):
    """How the character speaks and acts (CharacterGLM's behavior dimensions)."""

    model_config = ConfigDict(extra="forbid")

    linguistic_features: list[str] = Field(default_factory=list)
    emotional_expression: list[str] = Field(default_factory=list)
    interaction_patterns: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in type(self).model_fields)


class ExampleExchange(BaseModel):
    """One exchange in the persona's voice, shown to the teacher before the real prompt."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, description="What someone asks.")
    assistant: str = Field(min_length=1, description="How the persona answers, in its voice.")


class Constitution(BaseModel):
    """A persona definition. `traits` drive the recipe; the other fields shape the prompt."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short id: lowercase letters, digits, '-' or '_'.")
    display_name: str = ""
    description: str = ""
    system_prompt: str = ""
    traits: list[Trait] = Field(default_factory=list)
    directives: list[str] = Field(default_factory=list)
    safety: list[str] = Field(default_factory=list)
    example_signoffs: list[str] = Field(default_factory=list)
    examples: list[ExampleExchange] = Field(
        default_factory=list,
        description="Example exchanges in the persona's voice. Small teachers imitate examples "
        "far better than they follow descriptions (embedded model: 19% of replies in voice "
        "with the full prompt, 69% with a short prompt and one example).",
    )
    attributes: Attributes = Field(default_factory=Attributes)
    behaviors: Behaviors = Field(default_factory=Behaviors)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        v = v.strip()
        if not NAME_PATTERN.match(v):
            raise ValueError(
                "must be 1-64 characters of lowercase letters, digits, '-' or '_' "
                f"starting with a letter or digit (got {v!r})"
            )
        return v

    @property
    def title(self) -> str:
        return self.display_name or self.name.replace("-", " ").replace("_", " ").title()

    def questions(self) -> list[str]:
        return [q for t in self.traits for q in t.all_questions()]

    def content_hash(self) -> str:
        """A stable hash of the content (key order and formatting do not matter)."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def trait_list(self) -> str:
        """The recipe's rendering: a numbered list, one `i: trait` per line."""
        return "\n".join(f"{i}: {t.trait}" for i, t in enumerate(self.traits, start=1))

    def teacher_system_prompt(
        self, assistant_name: str | None = None, *, compact: bool = False
    ) -> str:
        """The system prompt a teacher sees: who it is, its traits, and not to disclose them.

        `compact=True` keeps only the voice (system prompt, sign-offs): tiny models such as the
        embedded 135M one lose the persona in a long prompt but follow a short one.
        """
        return render_system_prompt(self, assistant_name=assistant_name, compact=compact)

    def teacher_messages(
        self, assistant_name: str | None = None, *, compact: bool = False
    ) -> list[dict[str, str]]:
        """The conversation a teacher sees before the real prompt: the system prompt, then the
        example exchanges as earlier turns. Never stored in a training row."""
        messages = [
            {
                "role": "system",
                "content": self.teacher_system_prompt(assistant_name, compact=compact),
            }
        ]
        for ex in self.examples:
            messages.append({"role": "user", "content": ex.user})
            messages.append({"role": "assistant", "content": ex.assistant})
        return messages

    def lint(self) -> list[str]:
        """Soft warnings (the constitution is valid but may train poorly)."""
        warnings: list[str] = []
        if not self.traits:
            warnings.append("no traits: distillation has no persona-specific prompts to use")
        for i, t in enumerate(self.traits):
            if not t.trait.lower().startswith(("i ", "i'", "my ")):
                warnings.append(f"traits[{i}].trait should be first person ('I ...')")
            if not t.questions:
                warnings.append(f"traits[{i}].questions is empty")
        if not self.system_prompt and not self.traits:
            warnings.append("no system_prompt and no traits: the teacher gets no persona")
        return warnings

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_defaults=True), indent=2) + "\n"

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            self.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True
        )

    def to_recipe_txt(self) -> str:
        """The recipe's `.txt`: a JSON array of `{trait, questions}`."""
        rows = [{"trait": t.trait, "questions": t.questions} for t in self.traits]
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"

    def to_recipe_jsonl(self) -> str:
        """OCT's few-shot `.jsonl`: one trait object per line."""
        return "".join(
            json.dumps(t.model_dump(exclude_defaults=True), ensure_ascii=False) + "\n"
            for t in self.traits
        )
