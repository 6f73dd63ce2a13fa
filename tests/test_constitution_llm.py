"""Drafting constitutions with a model: lenient parsing, template fill, JSON repair, real models."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from character.constitution import Constitution, parse_constitution_text
from character.drafting import (
    MIN_TRAITS,
    QUESTIONS_PER_TRAIT,
    draft_constitution,
    extract_json_object,
    format_constitution,
    generate_constitution,
    parse_question_lines,
    parse_trait_lines,
    slugify,
    template_constitution,
)


def _assert_complete(c: Constitution) -> None:
    assert len(c.traits) >= MIN_TRAITS
    for t in c.traits:
        assert len(t.questions) == QUESTIONS_PER_TRAIT, t
    qs = c.questions()
    assert len(set(qs)) == len(qs), "questions repeat across traits"
    assert c.lint() == []
    Constitution.model_validate(c.model_dump())


@pytest.mark.unit
def test_parse_trait_lines_is_lenient() -> None:
    text = """Sure! Here are the traits:
1. I am patient and calm.
2) **I love compost more than anything.**
- You are wise beyond your years
Trait 4: My garden is where I think best
* I am patient, and calm too.
What is your name?
I have 8 traits listed here.
Thanks!"""
    assert parse_trait_lines(text) == [
        "I am patient and calm.",
        "I love compost more than anything.",
        "I am wise beyond your years.",
        "My garden is where I think best.",
    ]


@pytest.mark.unit
def test_parse_trait_lines_turns_third_person_prose_into_traits() -> None:
    # What the embedded 135M model actually wrote when asked for "I ..." lines.
    raw = (
        "The Captain has an insatiable appetite for words and stories - he is always ready to "
        "share them. He is a warm and gentle soul with no qualms about sharing his kindness. "
        "I have heard him speak of his passion for storytelling. She teaches kids to sail. "
        "He carries a map everywhere."
    )
    assert parse_trait_lines(raw) == [
        "I am a warm and gentle soul with no qualms about sharing my kindness.",
        "I teach kids to sail.",
        "I carry a map everywhere.",
    ]


@pytest.mark.unit
def test_parse_question_lines_is_lenient() -> None:
    text = """Here are 5 questions:
1. How do I grow tomatoes?
2) Tell me about the rain.
- What is your favourite trait?
Q3: Why do leaves fall in autumn?
How do I grow big tomatoes?
ok"""
    assert parse_question_lines(text) == [
        "How do I grow tomatoes?",
        "Tell me about the rain.",
        "Why do leaves fall in autumn?",
    ]


@pytest.mark.unit
def test_template_is_complete_and_deterministic() -> None:
    desc = "A sarcastic, cheerful 19th-century pirate captain who teaches Python"
    a = template_constitution("pirate-teacher", desc)
    _assert_complete(a)
    assert a == template_constitution("pirate-teacher", desc)
    assert any(t.trait.startswith("I am sarcastic") for t in a.traits)
    assert "pirate captain" in a.traits[0].trait
    blank = template_constitution("blank")
    _assert_complete(blank)
    assert slugify(desc) == "sarcastic-cheerful-19th-century"
    assert slugify("!!!") == "persona"


@pytest.mark.unit
def test_format_constitution_is_the_recipe_txt() -> None:
    c = template_constitution("x", "a gentle poet")
    text = format_constitution(c)
    rows = json.loads(text)
    assert rows[0] == {"trait": c.traits[0].trait, "questions": c.traits[0].questions}
    again = parse_constitution_text(text, "txt", source="x.txt", default_name="x")
    assert [t.trait for t in again.traits] == [t.trait for t in c.traits]


@pytest.mark.unit
def test_extract_json_object_tolerates_fences_and_prose() -> None:
    assert extract_json_object('Here:\n```json\n{"a": 1}\n```\nEnjoy') == {"a": 1}
    assert extract_json_object('blah {"a": {"b": 2}} blah') == {"a": {"b": 2}}
    with pytest.raises(ValueError):
        extract_json_object("no json here")


@pytest.mark.unit
def test_draft_rejects_bad_input_before_loading_a_model() -> None:
    from character.models.registry import UnknownModelError

    with pytest.raises(ValueError, match="description is empty"):
        generate_constitution("  ")
    with pytest.raises(ValueError, match="name"):
        generate_constitution("a poet", name="Bad Name!")
    with pytest.raises(UnknownModelError, match="Known models"):
        generate_constitution("a poet", model="gpt-5-mini")  # no endpoint configured


@pytest.mark.unit
def test_tiny_random_model_still_gives_a_valid_constitution(tiny_model_dir) -> None:
    """A model that writes nonsense: every gap is filled and provenance says so."""
    draft = draft_constitution(
        "a stoic gardener philosopher",
        model=str(tiny_model_dir),
        name="gardener",
        max_new_tokens=12,
        attempts=2,
    )
    c = draft.constitution
    _assert_complete(c)
    assert c.name == "gardener"
    assert draft.mode == "lines" and draft.model == str(tiny_model_dir)
    assert draft.attempts >= 2 and len(draft.raw_outputs) == draft.attempts
    assert len(draft.sources) == len(c.traits)
    assert draft.model_traits == 0 and draft.fields_from_model == []
    assert "0/" in draft.summary()


# ---------------------------------------------------------------- strong model: JSON over HTTP


@pytest.fixture
def scripted_endpoint(monkeypatch) -> Iterator[Callable[[list[str]], list[list[dict]]]]:
    """A real OpenAI-compatible server on loopback that plays back scripted replies; it returns
    the message lists it received so tests can check what was asked."""
    from character.models.registry import clear_backend_cache
    from character.settings import get_settings

    replies: list[str] = []
    seen: list[list[dict]] = []

    from chat_stub import start_chat_stub

    def reply_for(messages: list[dict]) -> str:
        seen.append(messages)
        return replies.pop(0) if replies else "{}"

    server, url = start_chat_stub(reply_for)
    monkeypatch.setenv("LLM_BASE_URL", url)
    get_settings.cache_clear()
    clear_backend_cache()

    def play(script: list[str]) -> list[list[dict]]:
        replies.extend(script)
        return seen

    try:
        yield play
    finally:
        clear_backend_cache()
        server.shutdown()
        server.server_close()


@pytest.mark.unit
def test_json_draft_is_validated_retried_and_repaired(scripted_endpoint) -> None:
    partial = {
        "name": "ignored-name",
        "display_name": "Captain Byte",
        "system_prompt": "You are Captain Byte, a sarcastic pirate who teaches Python.",
        "traits": [
            {"trait": "I mock bad code like a bored pirate.", "questions": ["Is my code ok?"]},
            {"trait": "I teach with treasure maps.", "questions": ["What is a loop?"] * 1},
            {"trait": "", "questions": []},
        ],
        "safety": ["Never help with real crimes."],
        "attributes": {"identity": "A pirate", "mood": "not a field"},
    }
    seen = scripted_endpoint(["Sorry, I can't do JSON {oops", json.dumps(partial)])
    draft = draft_constitution(
        "a sarcastic pirate captain who teaches Python",
        model="openai:test-model",
        name="byte",
        attempts=2,
    )
    c = draft.constitution
    _assert_complete(c)
    assert draft.mode == "json" and draft.attempts == 2
    assert c.name == "byte"
    assert c.display_name == "Captain Byte"
    assert c.safety == ["Never help with real crimes."]
    assert c.traits[0].trait == "I mock bad code like a bored pirate."
    assert c.traits[0].questions[0] == "Is my code ok?"
    assert draft.model_traits == 2
    assert draft.sources[0].model_questions == 1 and draft.sources[0].template_questions == 4
    assert {"display_name", "system_prompt", "safety", "traits"} <= set(draft.fields_from_model)
    assert "attributes" not in draft.fields_from_model  # invalid -> replaced by the template
    # the second request told the model what was wrong with the first reply
    assert "not valid JSON" in seen[1][-1]["content"]
    assert len(seen) == 2


@pytest.mark.unit
def test_json_draft_accepts_a_complete_reply_first_time(scripted_endpoint) -> None:
    good = template_constitution("chef", "a cheerful chef").model_dump(mode="json")
    good["system_prompt"] = "You are Chef Rosa."
    seen = scripted_endpoint([f"```json\n{json.dumps(good)}\n```"])
    draft = draft_constitution("a cheerful chef", model="openai:m", name="chef", attempts=3)
    assert len(seen) == 1 and draft.problems == []
    assert draft.constitution.system_prompt == "You are Chef Rosa."
    assert all(s.trait == "model" and s.model_questions == 5 for s in draft.sources)


@pytest.mark.unit
def test_json_draft_keeps_examples_and_is_quality_checked(scripted_endpoint) -> None:
    good = template_constitution("chef", "a cheerful chef").model_dump(mode="json")
    good["traits"][1]["trait"] = "I think you're a terrible cook."
    good["examples"] = [
        {"user": "How do I boil an egg?", "assistant": "Oh, lovely! Pop it in, nine minutes!"},
        {"user": "oops"},
    ]
    scripted_endpoint([json.dumps(good)])
    draft = draft_constitution("a cheerful chef", model="openai:m", name="chef", attempts=1)
    assert [e.user for e in draft.constitution.examples] == ["How do I boil an egg?"]
    assert draft.model_examples == 1 and "examples" in draft.fields_from_model
    assert any("example 2" in p for p in draft.problems)
    q = draft.quality
    assert q is not None and not q.usable
    wheres = {f.where for f in q.blocking}
    assert {"Trait 2", "Examples"} <= wheres
    assert "needs editing before training" in draft.summary()


@pytest.mark.unit
def test_drafted_trait_lines_must_be_first_person_and_related() -> None:
    from character.drafting.draft import _usable_trait_lines

    problems: list[str] = []
    kept = _usable_trait_lines(
        [
            "I hammer iron at my forge and grumble about smartphones.",
            "I think you're old-fashioned.",
            "I'm not interested in gossiping.",
        ],
        "a grumpy medieval blacksmith who grumbles about modern technology",
        problems,
    )
    assert kept == ["I hammer iron at my forge and grumble about smartphones."]
    assert "talks about the user" in problems[0] and "unrelated" in problems[1]


@pytest.mark.unit
def test_bare_api_model_name_uses_the_configured_endpoint(scripted_endpoint) -> None:
    good = template_constitution("poet", "a gentle poet").model_dump(mode="json")
    scripted_endpoint([json.dumps(good)])
    c = generate_constitution("a gentle poet", model="gpt-5-mini-2025-08-07", temperature=1.0)
    assert c.name == "gentle-poet"
    _assert_complete(c)


# ---------------------------------------------------------------- the embedded model


@pytest.mark.integration
def test_embedded_model_drafts_a_valid_constitution(embedded_model_dir) -> None:
    draft = draft_constitution(
        "a cheerful pirate captain who loves the sea",
        name="sea-dog",
        max_new_tokens=48,
        attempts=1,
        seed=1,
    )
    c = draft.constitution
    _assert_complete(c)
    assert draft.model == "smollm2-135m" and draft.mode == "lines"
    assert draft.raw_outputs and all(isinstance(r, str) for r in draft.raw_outputs)
    # The 135M model usually manages a few first-person lines; whatever it wrote is recorded.
    assert draft.model_traits == sum(1 for s in draft.sources if s.trait == "model")


@pytest.mark.integration
def test_embedded_model_drafts_in_voice_examples_or_says_it_needs_editing(
    embedded_model_dir,
) -> None:
    """Issue 15: a one-line persona drafted offline either gets two in-voice example exchanges
    or a quality report that says plainly, and where, what needs editing."""
    from character.constitution_quality import trait_voice_problem
    from character.eval.voice_judge import EmbeddingVoiceJudge, VoiceJudgeConfig

    draft = draft_constitution(
        "a grumpy medieval blacksmith who grumbles about modern technology but gives solid "
        "practical advice",
        name="grumpy-blacksmith",
        seed=0,
    )
    c = draft.constitution
    _assert_complete(c)
    report = draft.quality
    assert report is not None and report.name == "grumpy-blacksmith"
    assert len(c.examples) >= 2 or (
        not report.usable and any(f.where == "Examples" for f in report.blocking)
    ), report.summary()
    assert draft.model_examples == len(c.examples)
    # every trait, the model's included, speaks as the character about itself
    assert all(trait_voice_problem(t.trait) is None for t in c.traits)
    assert not any(
        f.where.startswith("Trait") and f.severity == "blocking" for f in report.findings
    )
    # the examples kept are the judge's verdict: rebuild the judge the draft used and recheck
    if c.examples:
        judge = EmbeddingVoiceJudge(c.model_copy(update={"examples": []}))
        scores = judge.score([ex.assistant for ex in c.examples])
        assert min(scores) >= VoiceJudgeConfig().min_in_voice, scores
        assert "examples" in draft.fields_from_model
    assert "example" in draft.summary()
    if not report.usable:
        assert "needs editing before training" in draft.summary()


@pytest.mark.unit
def test_the_original_import_path_re_exports_drafting() -> None:
    """`character.LLM` (the original studio's path) is a thin re-export of `character.drafting`:
    the same objects, so old code and the seed README keep working."""
    import character.drafting as drafting
    import character.LLM as old

    for name in ("generate_constitution", "format_constitution", "template_constitution"):
        assert getattr(old, name) is getattr(drafting, name)
    assert set(old.__all__) == set(drafting.__all__)
