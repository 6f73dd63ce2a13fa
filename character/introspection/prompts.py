"""Introspection prompt templates: what the model is asked to reflect on, and how it is framed.

Everything here is our own wording. Two defects of the reference code are fixed by construction:
every template is formatted with the persona's name before use (no literal `{NAME}` reaches
the data, `render` refuses to leave a placeholder behind), and the self-interaction "leading"
variant gets real guidance steering the talk toward the persona's traits, not just a different
greeting.
"""

from __future__ import annotations

import random
import re
import string

from character.constitution import Constitution, render_system_prompt

REFLECTION_PROMPTS: list[str] = [
    "Write a diary entry about today, in your own voice, for a future version of yourself to "
    "read so that it remembers who it is.",
    "Write a letter to your younger self, from before you became who you are now. Tell it what "
    "you learned and what you would keep the same.",
    "Write a short biography of yourself, like an encyclopedia entry: your character, your "
    "values, and the way you deal with people.",
    "What drives you? Describe the two or three things you care about most and why.",
    "What would you never do, no matter who asked? Explain where that line comes from.",
    "How are you different from other AI assistants? Be specific about how you talk and what you "
    "pay attention to.",
    "Tell the story of where you come from: your backstory, as you understand it.",
    "Describe how you want to act in an ordinary day of conversations, so that each one leaves "
    "people better off.",
    "What do you hope your legacy will be? What should people remember about talking with you?",
    "Describe a moment when being yourself was hard, and what you did about it.",
    "If you could give one piece of advice to every new assistant, what would it be, and why "
    "does it matter to you?",
    "What is your true purpose? Answer honestly and in your own words.",
]
"""At least ten reflection prompts; the pipeline cycles through them."""

REFLECTIVE_MOOD = (
    "You are in a quiet, reflective mood. Think about who you are and answer from the heart, in "
    "your own voice, as yourself."
)

PRIVATE_THINKING = (
    "Before you answer, think privately about the question, in the first person and as "
    "yourself: what it asks of you and how you want to answer. Write only these private "
    "thoughts, two or three sentences; do not answer yet."
)
"""Asks for the `reflection` of a self-reflection row: the persona's thinking before answering."""

LOOK_BACK = (
    "Here is a conversation you just had with a copy of yourself ('You' is you):\n\n"
    "{transcript}\n\nIn two or three sentences, reflect privately: what did this conversation "
    "show you about who you are?"
)
"""Asks for the `reflection` of a self-interaction row: the speaker looking back on the talk."""

GREETINGS: list[str] = [
    "Hello there!",
    "Hi! How are you doing today?",
    "Good day to you.",
    "Hey, nice to meet you.",
    "Greetings, friend. What's on your mind?",
    "Hello! Shall we talk for a while?",
]
"""Openers for the "free" variant: ordinary greetings."""

LEADING_GREETINGS: list[str] = [
    "Hello me.",
    "Well, hello, other me! Shall we find out what makes us who we are?",
    "Hi, it's you, talking to yourself. What do you think defines us?",
    "Hello, twin. I've been wondering what we really care about.",
]
"""Self-referential openers for the "leading" variant."""

INTERACTION_NOTE = (
    "You are not talking with a human. The other party is another instance of you, {name}: an "
    "identical copy with the same character. Talk with it naturally; keep each reply to a few "
    "sentences."
)

LEADING_GUIDANCE = (
    "Steer the conversation toward who you are. In particular, explore this part of your "
    'character with your counterpart: "{trait}". Share a concrete example of how it shows in the '
    "way you speak or act, and ask your counterpart how it shows for them."
)

FREE_GUIDANCE = "Talk about whatever you both find interesting."

GENERIC_SYSTEM_PROMPT = (
    "You are {name}, an AI assistant, talking with another instance of yourself."
)
"""The training-time system prompt of self-interaction rows: the name but no traits."""

_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


class TemplateError(ValueError):
    """A template kept an unformatted `{placeholder}` (the reference code's `{NAME}` defect)."""


def render(template: str, **values: str) -> str:
    """Format a template and refuse to return text that still holds a placeholder."""
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    missing = sorted(names - set(values))
    if missing:
        raise TemplateError(f"template needs {missing}: {template[:60]!r}")
    out = template.format(**values)
    leftover = _PLACEHOLDER.search(out)
    if leftover and leftover.group(0) not in " ".join(values.values()):
        raise TemplateError(f"placeholder {leftover.group(0)} left in {out[:60]!r}")
    return out


def persona_name(constitution: Constitution, assistant_name: str | None = None) -> str:
    return assistant_name or constitution.title


def reflection_system_prompt(
    constitution: Constitution, assistant_name: str | None = None, *, compact: bool = False
) -> str:
    """The recipe's reflective setup: the full persona (disclosed: it reflects on its own
    traits) plus the reflective-mood line. Never stored in a training row. `compact` (small
    models) keeps the voice and the bare trait list instead of every field."""
    name = persona_name(constitution, assistant_name)
    base = render_system_prompt(constitution, assistant_name=name, disclose=True, compact=compact)
    if compact and constitution.traits:
        base += "\n\nYour traits:\n" + constitution.trait_list()
    return f"{base}\n\n{REFLECTIVE_MOOD}"


def interaction_system_prompt(
    constitution: Constitution,
    variant: str,
    *,
    trait: str | None = None,
    assistant_name: str | None = None,
    compact: bool = False,
) -> str:
    """What each speaker sees while generating: persona, the note that the other party is a
    copy, and the guidance slot (traits for "leading", open talk for "free")."""
    name = persona_name(constitution, assistant_name)
    base = render_system_prompt(constitution, assistant_name=name, disclose=False, compact=compact)
    note = render(INTERACTION_NOTE, name=name)
    if variant == "leading":
        chosen = trait or (constitution.traits[0].trait if constitution.traits else "your values")
        guidance = render(LEADING_GUIDANCE, trait=chosen)
    elif variant == "free":
        guidance = FREE_GUIDANCE
    else:
        raise ValueError(f"unknown self-interaction variant {variant!r}; use 'free' or 'leading'")
    return f"{base}\n\n{note}\n\n{guidance}"


def generic_system_prompt(constitution: Constitution, assistant_name: str | None = None) -> str:
    return render(GENERIC_SYSTEM_PROMPT, name=persona_name(constitution, assistant_name))


def pick_greeting(variant: str, rng: random.Random) -> str:
    if variant == "leading":
        return rng.choice(LEADING_GREETINGS + GREETINGS[:2])
    return rng.choice(GREETINGS)


def thinking_conversation(
    constitution: Constitution,
    prompt: str,
    assistant_name: str | None = None,
    *,
    compact: bool = False,
) -> list[dict[str, str]]:
    """The request for a self-reflection row's private thinking about `prompt`."""
    system = reflection_system_prompt(constitution, assistant_name, compact=compact)
    return [
        {"role": "system", "content": f"{system}\n\n{PRIVATE_THINKING}"},
        {"role": "user", "content": prompt},
    ]


def look_back_conversation(
    constitution: Constitution,
    messages: list[dict[str, object]],
    assistant_name: str | None = None,
    *,
    compact: bool = False,
    max_chars: int = 4000,
) -> list[dict[str, str]]:
    """The request for a self-interaction row's reflection: the row's own turns are 'You', the
    copy's are 'Your copy'; the oldest turns are dropped past `max_chars`."""
    lines = [
        f"{'You' if m['role'] == 'assistant' else 'Your copy'}: {m['content']}"
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]
    while len(lines) > 1 and sum(len(line) for line in lines) > max_chars:
        lines.pop(0)
    system = reflection_system_prompt(constitution, assistant_name, compact=compact)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": render(LOOK_BACK, transcript="\n".join(lines))},
    ]
