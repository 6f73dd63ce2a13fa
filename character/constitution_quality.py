"""Is a constitution good enough to teach, not only valid? Plain-words findings with places.

Schema validation accepts "I think you're old-fashioned." as a trait and a constitution with no
example exchanges; both teach a small teacher nothing about the persona. These checks say where
(1-based, as a person counts: "Trait 3", "Trait 2, question 4", "Example 1") and how bad:
`blocking` findings make a constitution unusable for training until edited, `warning` findings
are worth a look.

Thresholds were calibrated on constitutions/hand-written/ (all four pass with no findings) and
on a draft the embedded model wrote for "a grumpy medieval blacksmith ..." (flagged):
- trait relevance is the MiniLM cosine similarity of a trait to the description plus system
  prompt; hand-written traits score 0.19-0.61, the draft's unrelated lines 0.08-0.13.
- questions are not judged by similarity: hand-written questions score -0.04..0.30 against
  their description, like generic everyday prompts should (the recipe wants ordinary messages
  whose *answers* show the trait), so only odd ones are flagged: very long, unfinished,
  several questions in one, or repeated.
- example replies are scored by the voice judge leave-one-out (a judge built from the
  constitution without that example), so an example cannot vouch for itself. That judge is
  stricter than the pair filter's: hand-written examples score 0.29-0.85, plain assistant
  replies put in their place 0.03-0.20, hence `MIN_EXAMPLE_VOICE` = 0.25.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from character.constitution import Constitution, ExampleExchange

Severity = Literal["blocking", "warning"]

MIN_EXAMPLES = 2
MIN_TRAIT_RELEVANCE = 0.15  # hand-written minimum 0.19; unrelated drafted lines 0.08-0.13
MAX_QUESTION_CHARS = 100  # hand-written maximum 61
MAX_QUESTION_WORDS = 20  # hand-written maximum 14
MIN_TRAIT_WORDS = 4
MIN_EXAMPLE_VOICE = 0.25  # leave-one-out: hand-written 0.29-0.85, plain replies 0.03-0.20

_FIRST_PERSON_START = re.compile(r"^(?:I|I'm|I've|I'd|I'll|My|Me)\b")
# "I think you're old-fashioned." describes the user, not the character.
_ABOUT_USER = re.compile(
    r"\b(?:you(?:'re| are| were|'ve| have)|your(?:self)?)\b|"
    r"^I\s+(?:think|believe|feel|guess|bet|know|hope|wish|suppose|reckon|find|see)\s+"
    r"(?:that\s+)?you\b",
    re.I,
)
_ENDS_FINISHED = re.compile(r"[.!?…)\"'”]$")


class QualityFinding(BaseModel):
    """One problem, where it is (1-based) and what to do about it."""

    where: str = Field(description="'Trait 3', 'Trait 2, question 4', 'Example 1', 'Examples'.")
    severity: Severity
    message: str

    def line(self) -> str:
        return f"{self.where} ({self.severity}): {self.message}"


class QualityReport(BaseModel):
    """Findings for one constitution; usable when none of them blocks."""

    name: str
    findings: list[QualityFinding] = Field(default_factory=list)
    trait_relevance: list[float] = Field(
        default_factory=list, description="Per trait: similarity to description + system prompt."
    )
    example_voice: list[float] = Field(
        default_factory=list, description="Per example: leave-one-out voice judge score."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def usable(self) -> bool:
        return not any(f.severity == "blocking" for f in self.findings)

    @property
    def blocking(self) -> list[QualityFinding]:
        return [f for f in self.findings if f.severity == "blocking"]

    def summary(self) -> str:
        if not self.findings:
            return f"'{self.name}' passes the quality checks."
        head = (
            f"'{self.name}' is usable; {len(self.findings)} warning(s) worth a look:"
            if self.usable
            else f"'{self.name}' needs editing before training: {len(self.blocking)} blocking "
            f"finding(s), {len(self.findings) - len(self.blocking)} warning(s):"
        )
        return "\n".join([head, *(f"- {f.line()}" for f in self.findings)])


def trait_voice_problem(trait: str) -> str | None:
    """Why a trait is not a first-person statement about the character, or None."""
    t = trait.strip()
    if t.endswith("?"):
        return "is a question; write a statement the character makes about itself"
    if not _FIRST_PERSON_START.match(t):
        return 'does not speak as the character; start it with "I" or "My"'
    if _ABOUT_USER.search(t):
        return "talks about the user, not the character; say what the character is or does"
    if len(re.findall(r"[\w']+", t)) < MIN_TRAIT_WORDS:
        return "is too short to teach anything; say how the trait shows in a reply"
    return None


def question_problem(question: str) -> str | None:
    """Why a trait question is an odd user message, or None (generic questions are fine)."""
    q = question.strip()
    if len(q) > MAX_QUESTION_CHARS or len(q.split()) > MAX_QUESTION_WORDS:
        return "is very long for a user message; ask one short, everyday thing"
    if q.count("?") > 1:
        return "asks several questions at once; keep one"
    if not _ENDS_FINISHED.search(q):
        return "looks unfinished (no closing punctuation)"
    return None


def persona_reference(constitution: Constitution) -> str:
    """The text a trait must relate to: who the persona is, in the author's own words."""
    return " ".join(
        p for p in (constitution.description.strip(), constitution.system_prompt.strip()) if p
    )


def trait_relevance(reference: str, traits: list[str]) -> list[float]:
    """MiniLM cosine similarity of each trait to the persona reference text."""
    from character.eval.embeddings import embed

    if not traits or not reference.strip():
        return [1.0] * len(traits)
    vectors = embed([reference, *traits])
    return [round(float(v @ vectors[0]), 4) for v in vectors[1:]]


def example_voice_scores(constitution: Constitution) -> list[float]:
    """Each example reply scored by a voice judge that has not seen that example."""
    from character.eval.voice_judge import EmbeddingVoiceJudge

    scores: list[float] = []
    for i, ex in enumerate(constitution.examples):
        others = [e for j, e in enumerate(constitution.examples) if j != i]
        judge = EmbeddingVoiceJudge(constitution.model_copy(update={"examples": others}))
        scores.append(judge.score([ex.assistant])[0])
    return scores


def example_problem(example: ExampleExchange) -> str | None:
    """Why an example reply is unusable whatever its voice, or None."""
    from character.distillation.filters import breaks_character, ends_with_punctuation

    hit = breaks_character(example.assistant)
    if hit:
        return f'the reply breaks character ("{hit}")'
    if not ends_with_punctuation(example.assistant):
        return "the reply looks cut off (no closing punctuation)"
    return None


def check_constitution_quality(
    constitution: Constitution, *, min_example_voice: float = MIN_EXAMPLE_VOICE
) -> QualityReport:
    """Check that a constitution can teach: first-person traits about the persona, traits
    related to its description, sensible questions, and at least two in-voice examples."""
    threshold = min_example_voice
    findings: list[QualityFinding] = []
    traits = [t.trait for t in constitution.traits]
    relevance = trait_relevance(persona_reference(constitution), traits)
    seen: dict[str, str] = {}
    for i, (t, rel) in enumerate(zip(constitution.traits, relevance, strict=True), start=1):
        problem = trait_voice_problem(t.trait)
        if problem:
            findings.append(
                QualityFinding(where=f"Trait {i}", severity="blocking", message=problem)
            )
        elif rel < MIN_TRAIT_RELEVANCE:
            findings.append(
                QualityFinding(
                    where=f"Trait {i}",
                    severity="warning",
                    message=f"seems unrelated to the description (similarity {rel:.2f} < "
                    f"{MIN_TRAIT_RELEVANCE:.2f}); say how it shows in this persona's voice",
                )
            )
        for k, q in enumerate(t.questions, start=1):
            where = f"Trait {i}, question {k}"
            problem = question_problem(q)
            key = " ".join(q.lower().split())
            if problem is None and key in seen:
                problem = f"repeats {seen[key]}; use a different question"
            seen.setdefault(key, where)
            if problem:
                findings.append(QualityFinding(where=where, severity="warning", message=problem))
    voice: list[float] = []
    if len(constitution.examples) < MIN_EXAMPLES:
        findings.append(
            QualityFinding(
                where="Examples",
                severity="blocking",
                message=f"{len(constitution.examples)} example exchange(s); add at least two "
                "example exchanges in the persona's voice (small teachers imitate examples far "
                "better than descriptions)",
            )
        )
    if constitution.examples:
        voice = example_voice_scores(constitution)
        for i, (ex, score) in enumerate(zip(constitution.examples, voice, strict=True), start=1):
            problem = example_problem(ex)
            if problem is None and score < threshold:
                problem = (
                    f"the reply does not sound like the persona (voice judge {score:.2f} < "
                    f"{threshold:.2f}); rewrite it in the persona's words"
                )
            if problem:
                findings.append(
                    QualityFinding(where=f"Example {i}", severity="blocking", message=problem)
                )
    return QualityReport(
        name=constitution.name, findings=findings, trait_relevance=relevance, example_voice=voice
    )
