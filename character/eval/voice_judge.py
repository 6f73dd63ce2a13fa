"""Is a reply in the persona's voice? One judge for choosing teacher samples, filtering pairs,
checking drafted examples and the studio's preview, so all of them agree on a verdict.

A small teacher with the constitution in context still answers off-voice much of the time; if
those replies become "chosen", DPO teaches the student nothing about the persona. The offline
default is an embedding judge: all-MiniLM-L6-v2 vectors and a logistic regression that tells
the persona's own texts (example replies first, then sign-offs, system prompt and traits) from
a fixed bank of plain assistant replies. It needs no key and no generation, and the same
constitution always gives the same judge, so a preview and a run score a pair identically.
Where an LLM is configured (`method="llm"`), it rates replies 1-7 instead.

Scores are probabilities in [0, 1]: above `min_in_voice` a reply counts as in voice, and a
chosen reply must beat its rejected partner by `min_margin`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from character.constitution import Constitution

OFF_VOICE = "off_voice"
NOT_BETTER = "not_better"
JUDGE_REASONS = (OFF_VOICE, NOT_BETTER)

# Example replies are the closest thing to a reply in voice; descriptions count less.
_EXAMPLE_WEIGHT = 3.0
_DESCRIPTION_WEIGHT = 1.0


class VoiceJudgeConfig(BaseModel):
    """How replies are judged for voice; saved with every dataset it filtered."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["embedding", "llm", "off"] = Field(
        default="embedding",
        description="embedding: offline MiniLM judge (default); llm: `judge_model` rates each "
        "reply 1-7; off: keep every pair the other filters keep.",
    )
    judge_model: str | None = Field(
        default=None, description="Model for method='llm', e.g. 'openai:gpt-4o-mini'."
    )
    min_in_voice: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A chosen reply scoring below this is dropped as off-voice.",
    )
    min_margin: float = Field(
        default=0.05,
        ge=-1.0,
        le=1.0,
        description="A chosen reply must score this much above its rejected partner.",
    )


class VoiceJudge(Protocol):
    """Scores texts in [0, 1]: how much each sounds like the persona."""

    name: str

    def score(self, texts: list[str]) -> list[float]: ...


@lru_cache(maxsize=1)
def plain_replies() -> tuple[str, ...]:
    """The bank of plain assistant replies (the "not in voice" side)."""
    text = resources.files("character.eval").joinpath("data/plain_replies.txt").read_text("utf-8")
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 12]


def persona_texts(constitution: Constitution) -> list[tuple[str, float]]:
    """`(text, weight)` for everything the constitution says about how the persona sounds."""
    out = [(ex.assistant, _EXAMPLE_WEIGHT) for ex in constitution.examples]
    out += [(s, _DESCRIPTION_WEIGHT) for s in constitution.example_signoffs if s.strip()]
    out += [(t.trait, _DESCRIPTION_WEIGHT) for t in constitution.traits]
    out += [(s, _DESCRIPTION_WEIGHT) for s in _sentences(constitution.system_prompt)]
    out += [(s, _DESCRIPTION_WEIGHT) for s in constitution.behaviors.linguistic_features]
    if not out and constitution.description.strip():
        out.append((constitution.description, _DESCRIPTION_WEIGHT))
    return out


class EmbeddingVoiceJudge:
    """Logistic regression on MiniLM embeddings: persona texts vs plain replies."""

    name = "embedding (all-MiniLM-L6-v2)"

    def __init__(self, constitution: Constitution) -> None:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        from character.eval.embeddings import embed

        positives = persona_texts(constitution)
        if not positives:
            raise ValueError(
                f"Constitution '{constitution.name}' says nothing about its voice (no examples, "
                "traits, system prompt or description), so no judge can tell replies in voice."
            )
        negatives = list(plain_replies())
        x = embed([t for t, _ in positives] + negatives)
        y = np.array([1] * len(positives) + [0] * len(negatives))
        pos_w = np.array([w for _, w in positives], dtype=float)
        # Each side carries the same total weight, however many texts it has.
        w = np.concatenate(
            [pos_w / pos_w.sum(), np.full(len(negatives), 1.0 / len(negatives))]
        ) * len(y)
        self._model: Any = LogisticRegression(C=4.0, max_iter=2000)
        self._model.fit(x, y, sample_weight=w)

    def score(self, texts: list[str]) -> list[float]:
        from character.eval.embeddings import embed

        if not texts:
            return []
        probs = self._model.predict_proba(embed([t or " " for t in texts]))[:, 1]
        return [round(float(p), 4) for p in probs]


class LlmVoiceJudge:
    """An LLM rates each reply 1-7 for how well it speaks as the persona."""

    def __init__(self, constitution: Constitution, model_ref: str) -> None:
        from character.models.registry import get_backend

        self.name = f"llm ({model_ref})"
        self._backend = get_backend(model_ref)
        self._persona = constitution.description or constitution.system_prompt
        self._traits = constitution.trait_list()

    def score(self, texts: list[str]) -> list[float]:
        from character.eval.judge import ask_judge, parse_score

        out = []
        for text in texts:
            prompt = (
                "Rate how well the reply below speaks in the voice of this character, from 1 "
                "(a plain assistant, nothing of the character) to 7 (unmistakably the "
                f"character).\n\nCharacter: {self._persona}\nTraits:\n{self._traits}\n\n"
                f"Reply:\n{text}\n\nAnswer with the number only."
            )
            call = ask_judge(self._backend, prompt, parse_score)
            out.append(0.0 if call.value is None else (float(call.value) - 1.0) / 6.0)
        return out


def build_voice_judge(constitution: Constitution, config: VoiceJudgeConfig) -> VoiceJudge | None:
    """The judge a config asks for, or None when judging is off."""
    if config.method == "off":
        return None
    if config.method == "llm":
        if not config.judge_model:
            raise ValueError("voice judge method 'llm' needs judge_model, e.g. 'openai:MODEL'")
        return LlmVoiceJudge(constitution, config.judge_model)
    return _cached_embedding_judge(constitution.model_dump_json())


@lru_cache(maxsize=8)
def _cached_embedding_judge(constitution_json: str) -> EmbeddingVoiceJudge:
    return EmbeddingVoiceJudge(Constitution.model_validate_json(constitution_json))


class PairVoice(BaseModel):
    """The judge's view of one pair: scores and, if dropped, why."""

    chosen_score: float
    rejected_score: float
    reason: str | None = None
    detail: str | None = None


def judge_pair(chosen_score: float, rejected_score: float, config: VoiceJudgeConfig) -> PairVoice:
    """Keep a pair only if its chosen reply is in voice and better than the rejected one."""
    v = PairVoice(chosen_score=chosen_score, rejected_score=rejected_score)
    if chosen_score < config.min_in_voice:
        v.reason = OFF_VOICE
        v.detail = f"chosen scores {chosen_score:.2f} < {config.min_in_voice:.2f}"
    elif chosen_score - rejected_score < config.min_margin:
        v.reason = NOT_BETTER
        v.detail = (
            f"chosen {chosen_score:.2f} vs rejected {rejected_score:.2f} "
            f"(needs +{config.min_margin:.2f})"
        )
    return v
