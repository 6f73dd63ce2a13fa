"""What a draft is: the constitution plus where each part came from, for review."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from character.constitution import (
    Constitution,
)
from character.constitution_quality import (
    QualityReport,
)

Mode = Literal["auto", "json", "lines"]
Source = Literal["model", "template"]


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
