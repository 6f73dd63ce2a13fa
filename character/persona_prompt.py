"""What a model sees when it should speak as a persona: one place for the studio, the CLI and
the evaluations, so a preview shows exactly what training data generation will do."""

from __future__ import annotations

from character.constitution import Constitution
from character.models.registry import prefers_compact_prompt


def persona_conversation(
    constitution: Constitution,
    messages: list[dict[str, str]] | str,
    model_ref: str | None,
    style: str = "auto",
) -> list[dict[str, str]]:
    """The teacher's system prompt and example exchanges, then `messages` (a user prompt or a
    chat history). `style` is auto/full/compact as in `prefers_compact_prompt`."""
    compact = prefers_compact_prompt(model_ref, style, has_examples=bool(constitution.examples))
    history = [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
    return constitution.teacher_messages(compact=compact) + [dict(m) for m in history]
