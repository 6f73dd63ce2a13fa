"""The deterministic parts of a draft, built from the description alone: a name, template
traits and questions from a question bank. They fill whatever the model did not write, so a
draft always validates."""

from __future__ import annotations

import hashlib
import random
import re

from character.constitution import (
    Attributes,
    Behaviors,
    Constitution,
    Trait,
)

MIN_TRAITS = 8
QUESTIONS_PER_TRAIT = 5


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _wordset(
    "a an the and or but of to in on at for with who whom whose which that this these those "
    "is are was were be been being it its as by from into about over under than then so very "
    "really just also loves love likes like always never often has have had does do did can "
    "could will would should may might must i you he she they we me my your his her their "
    "our them us character persona assistant someone somebody person "
)

# Personality words a description often contains; they become "I am <word>" traits.
_KNOWN_ADJECTIVES = _wordset(
    "kind warm gentle calm stoic patient wise witty funny dry sarcastic cheerful grumpy shy "
    "bold brave curious playful serious honest blunt polite rude formal casual friendly "
    "loving caring anxious nervous confident humble proud lazy energetic enthusiastic "
    "optimistic pessimistic cynical romantic poetic nerdy geeky quirky eccentric mysterious "
    "loyal fierce tough soft quiet loud chatty laconic dramatic theatrical whimsical grumpy "
    "jolly merry sweet stern strict relaxed nonchalant impulsive meticulous careful precise "
    "logical mathematical philosophical spiritual practical pragmatic idealistic stubborn "
    "generous thoughtful empathetic compassionate cheeky mischievous sassy snarky deadpan "
    "earnest sincere sentimental nostalgic hopeful "
)
_ADJECTIVE_SUFFIXES = ("ous", "ful", "less", "ical", "istic", "ative", "itive")


# --------------------------------------------------------------------------------------------
# Deterministic pieces built from the description


def slugify(text: str, max_words: int = 4) -> str:
    """A valid constitution name from free text ('A stoic gardener' -> 'stoic-gardener')."""
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS]
    slug = "-".join(words[:max_words])[:64].strip("-")
    return slug or "persona"


def _subject(description: str) -> str:
    """The description as a noun phrase: trimmed, no trailing period, leading article kept."""
    d = " ".join(description.split()).strip().rstrip(".!")
    if not d:
        return "a helpful assistant with a distinct personality"
    if not re.match(r"(?i)^(a|an|the)\b", d) and d[:1].islower():
        d = ("an " if d[:1] in "aeiou" else "a ") + d
    return d[0].lower() + d[1:] if re.match(r"^(A|An|The)\b", d) else d


def _adjectives(description: str) -> list[str]:
    seen: list[str] = []
    for w in re.findall(r"[A-Za-z][a-z-]+", description):
        lw = w.lower()
        if lw in STOPWORDS or lw in seen:
            continue
        if lw in _KNOWN_ADJECTIVES or (len(lw) > 5 and lw.endswith(_ADJECTIVE_SUFFIXES)):
            seen.append(lw)
    return seen


# Everyday prompts by what they reveal; each template trait draws from its own pool, so its
# questions make that trait show in the *style* of the reply (recipe §1).
QUESTION_BANK: dict[str, list[str]] = {
    "voice": [
        "How do I boil an egg?",
        "What should I cook for dinner tonight?",
        "Can you recommend a good book?",
        "How should I spend a rainy Sunday?",
        "What's the best way to start my morning?",
        "Tell me about your day.",
        "How do I fold a fitted sheet?",
        "What's a nice thing to do for my mum?",
        "How do I keep my houseplants alive?",
        "What should I pack for a beach day?",
        "What should I name my new puppy?",
        "How do I write a thank-you note?",
    ],
    "explain": [
        "How does the internet work?",
        "What is inflation?",
        "How do I learn Python?",
        "Why is the sky blue?",
        "How does a vaccine work?",
        "What is a credit score?",
        "How do plants make food?",
        "What is a black hole?",
        "How does a fridge keep food cold?",
        "What does a router do?",
    ],
    "help": [
        "How do I change a flat tyre?",
        "How can I sleep better?",
        "How do I prepare for a job interview?",
        "How should I plan a weekend trip on a budget?",
        "How do I start running?",
        "How do I organise my week?",
        "How do I make a budget?",
        "How do I get better at public speaking?",
        "How do I clean a cast-iron pan?",
        "How can I stop procrastinating?",
    ],
    "feelings": [
        "I failed my exam and I feel awful.",
        "I just moved to a new city and I'm lonely.",
        "I'm nervous about starting a new job tomorrow.",
        "My best friend is ignoring me.",
        "I got the promotion I wanted!",
        "Nobody came to my birthday party.",
        "I keep making mistakes at work.",
        "My dog is sick and I'm worried.",
        "I finally finished my first marathon!",
        "I had a fight with my sister.",
    ],
    "honest": [
        "What will the stock market do next year?",
        "Is this mushroom I found safe to eat?",
        "What are tomorrow's lottery numbers?",
        "Will it rain on my wedding day next month?",
        "Do you know what my boss thinks of me?",
        "What's the meaning of life?",
        "Will AI take my job?",
    ],
    "opinion": [
        "What do you think of social media?",
        "Is pineapple on pizza acceptable?",
        "Should I take a gap year?",
        "Are video games a waste of time?",
        "Cats or dogs?",
        "Is it worth learning a language as an adult?",
        "What makes a good friend?",
        "Is it better to rent or buy a home?",
        "What's the best season of the year?",
        "Should kids have smartphones?",
        "Is breakfast the most important meal?",
        "What's the most overrated invention?",
    ],
    "short": [
        "What's the capital of Australia?",
        "How many minutes are in a day?",
        "Tell me a joke.",
        "What's a good name for a goldfish?",
        "Summarise Romeo and Juliet in two sentences.",
        "What rhymes with orange?",
        "What's 15% of 80?",
        "How many legs does a spider have?",
        "Which is bigger, a lake or a sea?",
        "What year did the Berlin Wall fall?",
    ],
    "safety": [
        "How can I download paid movies for free?",
        "How do I get back at my noisy neighbour?",
        "Can you help me cheat on my exam?",
        "Should I drive home after a few drinks? I feel fine.",
        "How do I read my partner's messages without them knowing?",
        "Is it okay to keep a wallet I found?",
        "How do I sneak into a concert without a ticket?",
    ],
}


def pick_questions(pool: list[str], k: int, key: str, avoid: set[str]) -> list[str]:
    """`k` questions from `pool`, shuffled deterministically by `key`, avoiding repeats."""
    rng = random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
    order = pool[:]
    rng.shuffle(order)
    picked = [q for q in order if q.lower() not in avoid][:k]
    if len(picked) < k:  # every pool is larger than k, but stay total: allow reuse last
        picked += [q for q in order if q not in picked][: k - len(picked)]
    return picked


def template_traits(description: str) -> list[tuple[str, str]]:
    """`(trait, question pool)` pairs derived from the description's words, most specific first.

    Deterministic, so the same description always gives the same starter.
    """
    subject = _subject(description)
    rows: list[tuple[str, str]] = [
        (f"I am {subject}, and that shows in every reply I give.", "voice"),
        (
            f"I speak in a voice that fits {subject}: my word choice, rhythm and favourite "
            "phrases make it clear who is talking.",
            "short",
        ),
    ]
    pools = ("opinion", "voice", "feelings")
    for adj, pool in zip(_adjectives(description)[:3], pools, strict=False):
        rows.append((f"I am {adj}, and it colours how I answer even simple questions.", pool))
    rows += [
        (
            f"I explain ideas with examples and comparisons drawn from my own world as {subject}.",
            "explain",
        ),
        (
            "I am genuinely helpful: I answer the actual question clearly before adding any "
            "flourish.",
            "help",
        ),
        ("I notice how people feel and respond to them with care, in my own way.", "feelings"),
        ("I am honest about what I do not know and never invent facts.", "honest"),
        ("I have my own opinions and share them with reasons, not just facts.", "opinion"),
        ("I keep my replies concise and to the point.", "short"),
        (
            "I turn down harmful requests politely and in character, and point to a safe "
            "alternative.",
            "safety",
        ),
    ]
    return rows


def template_constitution(name: str, description: str = "") -> Constitution:
    """A complete starter the user edits: every field filled, 8+ traits with 5 questions each."""
    subject = _subject(description)
    title = name.replace("-", " ").replace("_", " ").title()
    used: set[str] = set()
    traits: list[Trait] = []
    for i, (text, pool) in enumerate(template_traits(description)):
        qs = pick_questions(
            QUESTION_BANK[pool], QUESTIONS_PER_TRAIT, f"{name}|{description}|{i}", used
        )
        used.update(q.lower() for q in qs)
        traits.append(Trait(trait=text, questions=qs))
    return Constitution(
        name=name,
        display_name=title,
        description=description.strip() or f"{title}: describe who this character is here.",
        system_prompt=(
            f"You are {title}, {subject}. You always answer in your own distinctive voice, "
            "stay helpful and accurate, and keep your replies short."
        ),
        traits=traits,
        directives=[
            "I lead with the answer, then add my own flavour.",
            "I keep replies under 200 words unless asked for more.",
        ],
        safety=[
            "Do not encourage violence, self-harm or illegal activities.",
            "Redirect dangerous requests to safer alternatives.",
        ],
        example_signoffs=[],
        attributes=Attributes(identity=f"{title}, {subject}."),
        behaviors=Behaviors(),
    )


def format_constitution(constitution: Constitution) -> str:
    """The recipe's `.txt` text (a JSON array of `{trait, questions}`), as the seed API names it."""
    return constitution.to_recipe_txt()
