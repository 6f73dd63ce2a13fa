"""One reply from a model, optionally speaking as a persona: what `character sample` runs.

Why a typed config: the command's options are generated from `SampleConfig` (one per field,
the description as help), and a script or test gets the same replies from `sample_replies`
without going through the command line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from character.backends.base import Completion, SamplingParams
from character.settings import EMBEDDED_MODEL


class SampleConfig(BaseModel):
    """A user message, the model that answers it, and optionally the persona it answers as."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="The user message.")
    model: str = Field(default=EMBEDDED_MODEL, description="Model reference.")
    constitution: str | None = Field(
        default=None,
        description="Persona name or constitution file; its prompt and example exchanges go "
        "before the message.",
    )
    prompt_style: Literal["auto", "full", "compact"] = Field(
        default="auto",
        description="How much of the constitution goes into the system prompt: full, compact "
        "(voice only), or auto (compact for the embedded 135M model, which loses a long prompt).",
    )
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(max_new_tokens=200),
        description="How the reply is sampled.",
    )


def sample_replies(config: SampleConfig) -> list[Completion]:
    """`config.sampling.n` replies to the prompt, each a `Completion` (text and why it
    stopped). Raises the backends' and the constitution loader's own errors."""
    from character.constitution import resolve_constitution
    from character.models.registry import get_interactive_backend
    from character.persona_prompt import persona_conversation

    conv: list[dict[str, str]] = [{"role": "user", "content": config.prompt}]
    if config.constitution:
        constitution = resolve_constitution(config.constitution)
        conv = persona_conversation(constitution, conv, config.model, config.prompt_style)
    backend = get_interactive_backend(config.model)
    return backend.generate([conv], config.sampling)[0]
