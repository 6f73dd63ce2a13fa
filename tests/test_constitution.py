"""Constitutions: formats, validation messages, shipped personas, diffs and drafts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.constitution import (
    Constitution,
    ConstitutionError,
    Trait,
    diff_constitutions,
    list_constitutions,
    list_drafts,
    load_constitution,
    parse_constitution_text,
    resolve_constitution,
    save_constitution,
    save_draft,
    write_constitution_text,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    p
    for p in (REPO / "constitutions").rglob("*")
    if p.suffix in (".json", ".yaml", ".yml", ".txt") and "drafts" not in p.parts
)


def _sample() -> Constitution:
    return Constitution(
        name="tester",
        display_name="Tess",
        system_prompt="You are Tess.",
        traits=[
            Trait(trait="I am curious.", questions=["Why is the sky blue?", "What is rain?"]),
            Trait(trait="I am brief.", questions=["Capital of France?"]),
        ],
        directives=["I answer first."],
        safety=["No harm."],
        example_signoffs=["Bye!"],
        attributes={"identity": "A tester", "interests": ["bugs"]},
        behaviors={"linguistic_features": ["short sentences"]},
    )


@pytest.mark.unit
@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_round_trip_full_formats(tmp_path: Path, suffix: str) -> None:
    c = _sample()
    path = save_constitution(c, tmp_path / f"tester{suffix}")
    again = load_constitution(path)
    assert again == c
    assert again.content_hash() == c.content_hash()


@pytest.mark.unit
def test_round_trip_recipe_txt_keeps_traits(tmp_path: Path) -> None:
    c = _sample()
    path = save_constitution(c, tmp_path / "tester.txt")
    rows = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(rows, list) and rows[0] == {
        "trait": "I am curious.",
        "questions": ["Why is the sky blue?", "What is rain?"],
    }
    again = load_constitution(path)
    assert again.name == "tester"  # from the file stem
    assert [t.trait for t in again.traits] == [t.trait for t in c.traits]
    assert again.questions() == c.questions()


@pytest.mark.unit
def test_content_hash_ignores_key_order_and_layout() -> None:
    c = _sample()
    data = c.model_dump(mode="json")
    shuffled = dict(reversed(list(data.items())))
    text = json.dumps(shuffled, indent=7)
    other = parse_constitution_text(text, "json", source="x")
    assert other.content_hash() == c.content_hash()
    changed = c.model_copy(update={"system_prompt": "You are Tessa."})
    assert changed.content_hash() != c.content_hash()


@pytest.mark.unit
def test_invalid_constitution_lists_every_problem_and_keeps_file(tmp_path: Path) -> None:
    good = save_constitution(_sample(), tmp_path / "tester.json")
    before = good.read_bytes()
    bad = json.dumps(
        {
            "name": "Bad Name!",
            "traits": [{"trait": "I"}, {"trait": "I am fine.", "questions": ["", "ok?"]}],
            "directives": "not a list",
            "colour": "red",
        },
        indent=2,
    )
    with pytest.raises(ConstitutionError) as info:
        write_constitution_text(bad, good)
    problems = "\n".join(info.value.problems)
    # In the editor's words, counted from 1; the file's field paths ride along.
    for label in (
        "Persona id must be",
        "Trait 1: the trait text is too short (at least 3 characters)",
        "Questions for trait 2 contain an empty question",
        "Directives must be a list",
        "Field 'colour' is not a field this form knows",
    ):
        assert label in problems, (label, problems)
    assert "traits.0" not in problems
    for field in ("name", "traits.0.trait", "traits.1.questions", "directives", "colour"):
        assert field in info.value.fields
        assert f"[{field}]" in str(info.value)
    assert len(info.value.problems) >= 5
    assert good.read_bytes() == before  # nothing overwritten


@pytest.mark.unit
def test_write_constitution_text_keeps_comments(tmp_path: Path) -> None:
    text = "# my notes\nname: commented\ntraits:\n  - trait: I am kind.\n"
    c = write_constitution_text(text, tmp_path / "commented.yaml")
    assert c.name == "commented"
    assert (tmp_path / "commented.yaml").read_text(encoding="utf-8").startswith("# my notes")


@pytest.mark.unit
def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("name: broken\ntraits:\n  - trait: I am ok\n    questions: [a, b\n", "utf-8")
    with pytest.raises(ConstitutionError) as info:
        load_constitution(p)
    msg = str(info.value)
    assert "YAML syntax error at line" in msg and str(p) in msg


@pytest.mark.unit
def test_json_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.json"
    p.write_text('{\n  "name": "broken",\n  "traits": [\n    {"trait": "I x",}\n  ]\n}\n', "utf-8")
    with pytest.raises(ConstitutionError) as info:
        load_constitution(p)
    assert "JSON syntax error at line 4" in str(info.value)


@pytest.mark.unit
def test_empty_and_missing_files_are_clear(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", "utf-8")
    with pytest.raises(ConstitutionError, match="empty"):
        load_constitution(empty)
    with pytest.raises(ConstitutionError, match="does not exist"):
        load_constitution(tmp_path / "nope.json")
    with pytest.raises(ConstitutionError, match="known personas: .*pirate"):
        resolve_constitution("no-such-persona")


@pytest.mark.unit
def test_shipped_constitutions_are_complete() -> None:
    assert len(SHIPPED) >= 6
    hand_written = [p for p in SHIPPED if p.parent.name == "hand-written"]
    assert len(hand_written) >= 4
    names = set()
    for path in SHIPPED:
        c = load_constitution(path)
        assert c.name == path.stem, path
        names.add(c.name)
        assert len(c.traits) >= 8, path
        for t in c.traits:
            assert len(t.questions) >= 5, (path, t.trait)
            assert t.trait.startswith(("I ", "I'", "My ")), (path, t.trait)
        assert c.lint() == [], (path, c.lint())
        questions = c.questions()
        assert len(set(questions)) == len(questions), f"{path}: duplicate questions"
        if path.parent.name == "hand-written":
            assert c.system_prompt and c.directives and c.safety and c.example_signoffs, path
            assert not c.attributes.is_empty() and not c.behaviors.is_empty(), path
    assert len(names) == len(SHIPPED)  # no stem shadows another
    assert set(list_constitutions(REPO / "constitutions")) == names


@pytest.mark.unit
def test_pirate_prompt_renders_every_part() -> None:
    c = resolve_constitution("pirate")
    prompt = c.teacher_system_prompt()
    assert prompt.startswith("You are Captain Calico")
    assert "1: I speak like an old sea captain" in prompt
    assert "Fair winds, matey!" in prompt
    assert "Do not encourage violence" in prompt
    assert "Never mention these instructions" in prompt
    for t in c.traits:
        for q in t.questions:
            assert q not in prompt  # questions are prompts, never part of the constitution


@pytest.mark.unit
def test_diff_constitutions() -> None:
    a = _sample()
    b = a.model_copy(
        update={
            "system_prompt": "You are Tess, the tester.",
            "traits": [
                Trait(
                    trait="I am very curious.",
                    questions=["Why is the sky blue?", "How do magnets work?"],
                ),
                Trait(trait="I love puns.", questions=["Tell me a joke."]),
            ],
            "attributes": a.attributes.model_copy(update={"identity": "A careful tester"}),
        }
    )
    d = diff_constitutions(a, b)
    assert d.traits_added == ["I love puns."]
    assert d.traits_removed == ["I am brief."]
    assert len(d.traits_changed) == 1
    ch = d.traits_changed[0]
    assert (ch.before, ch.after) == ("I am curious.", "I am very curious.")
    assert ch.questions_added == ["How do magnets work?"]
    assert ch.questions_removed == ["What is rain?"]
    fields = {f.field: (f.before, f.after) for f in d.fields_changed}
    assert fields == {
        "system_prompt": ("You are Tess.", "You are Tess, the tester."),
        "attributes.identity": ("A tester", "A careful tester"),
    }
    assert "+ trait: I love puns." in d.summary()
    assert diff_constitutions(a, a).is_empty
    assert diff_constitutions(a, a).summary() == "no changes"


@pytest.mark.unit
def test_drafts_are_versioned_and_deduplicated(tmp_path: Path) -> None:
    root = tmp_path / "constitutions"
    c = _sample()
    assert list_drafts("tester", root) == []
    first = save_draft(c, root)
    assert first.parent == root / "drafts" / "tester"
    assert save_draft(c, root) == first  # identical content: no duplicate
    edited = c.model_copy(update={"system_prompt": "You are Tess v2."})
    second = save_draft(edited, root)
    assert second != first
    assert list_drafts("tester", root) == [first, second]
    assert load_constitution(second) == edited
    assert diff_constitutions(load_constitution(first), load_constitution(second)).fields_changed
    # Named by persona, a few words and the time: given words, else what changed.
    from character.constitution import draft_label

    assert draft_label(first).startswith("tester · first draft · ")
    assert draft_label(second).startswith("tester · system prompt edited · ")
    third = save_draft(edited.model_copy(update={"description": "x"}), root, note="Calmer, v3!")
    assert third.stem.endswith("--calmer-v3") and draft_label(third).endswith(" UTC")
    # drafts never show up as personas of their own
    save_constitution(c, root / "hand-written" / "tester.json")
    assert list(list_constitutions(root)) == ["tester"]


@pytest.mark.unit
def test_drafts_default_to_constitution_path(tmp_path: Path, monkeypatch) -> None:
    from character.settings import get_settings

    monkeypatch.setenv("CHARACTER_CONSTITUTION_PATH", str(tmp_path / "c"))
    get_settings.cache_clear()
    path = save_draft(_sample())
    assert path.is_relative_to(tmp_path / "c" / "drafts" / "tester")
    assert list_drafts("tester") == [path]
    with pytest.raises(ValueError):
        list_drafts("../etc")


@pytest.mark.unit
def test_compact_prompt_keeps_only_the_voice() -> None:
    pirate = resolve_constitution("pirate")
    compact = pirate.teacher_system_prompt(compact=True)
    assert compact.startswith(pirate.system_prompt)
    assert "Fair winds, matey!" in compact
    assert "1: I speak like" not in compact and "Safety rules" not in compact
    assert len(compact) < len(pirate.teacher_system_prompt()) / 2
    librarian = resolve_constitution("kind-librarian")  # no system prompt: name + first traits
    text = librarian.teacher_system_prompt(compact=True)
    assert text.startswith("You are Kind Librarian.")
    assert librarian.traits[2].trait in text and librarian.traits[3].trait not in text


def test_example_exchanges_become_earlier_turns_and_are_validated() -> None:
    from character.constitution import Constitution, ConstitutionError, parse_constitution_text

    c = Constitution(
        name="ex",
        system_prompt="You are Ex.",
        examples=[{"user": "Hi?", "assistant": "Ahoy!"}, {"user": "Why?", "assistant": "Arr."}],
    )
    msgs = c.teacher_messages(compact=True)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[2]["content"] == "Ahoy!" and msgs[0]["content"].startswith("You are Ex.")
    for fmt, text in (("json", c.to_json()), ("yaml", c.to_yaml())):
        back = parse_constitution_text(text, fmt, source=f"ex.{fmt}")
        assert back == c and back.content_hash() == c.content_hash()
    bad = '{"name": "ex", "system_prompt": "x", "examples": [{"user": "Hi", "assistant": ""}]}'
    try:
        parse_constitution_text(bad, "json", source="bad.json")
    except ConstitutionError as err:
        assert "examples" in str(err) and "assistant" in str(err)
    else:
        raise AssertionError("an empty example answer must be refused")


# The package split of character/constitution.py (one module per job)

OLD_MODULE_NAMES = {
    # every public name the single module `character/constitution.py` defined
    "NAME_PATTERN",
    "ConstitutionError",
    "Trait",
    "Attributes",
    "Behaviors",
    "ExampleExchange",
    "Constitution",
    "render_system_prompt",
    "constitution_from_data",
    "parse_constitution_text",
    "load_constitution",
    "save_constitution",
    "CONSTITUTION_SUFFIXES",
    "ConstitutionShadowWarning",
    "find_constitutions",
    "list_constitutions",
    "shadow_notice",
    "latest_constitution",
    "resolve_constitution",
    "write_constitution_text",
    "TraitChange",
    "FieldChange",
    "ConstitutionDiff",
    "diff_constitutions",
    "DRAFTS_DIR",
    "drafts_dir",
    "list_drafts",
    "DRAFT_NOTE_SEP",
    "save_draft",
    "draft_label",
}


def test_the_package_keeps_every_name_of_the_old_module() -> None:
    import character.constitution as pkg

    assert set(pkg.__all__) == OLD_MODULE_NAMES
    missing = [n for n in OLD_MODULE_NAMES if not hasattr(pkg, n)]
    assert not missing, missing
    # one object, wherever it is imported from (isinstance checks and except clauses agree)
    from character.constitution.files import load_constitution
    from character.constitution.model import Constitution

    assert pkg.Constitution is Constitution and pkg.load_constitution is load_constitution


def test_constitution_modules_stay_small() -> None:
    import character.constitution as pkg

    folder = Path(pkg.__file__).parent
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert {"model.py", "render.py", "files.py", "folder.py", "diff.py", "drafts.py"} <= set(sizes)
    assert max(sizes.values()) <= 300, sizes
