"""The original studio's public API (its README's Python API and data models), on our package.

The original repository's unit tests for prompts, the DPO dataset and the eval tools exercise
these contracts; these are our own tests of the same behaviours, so a script written against
the original keeps working here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


# ---------------------------------------------------------------------------------------------
# character.distillation.prompts


def test_generate_prompts_deterministic_distinct_and_sized() -> None:
    from character.distillation import prompts

    cfg = prompts.PromptConfig(count=12, persona_hint_rate=0.5, seed=42)
    first = prompts.generate_prompts(cfg)
    assert first == prompts.generate_prompts(cfg)
    assert len(first) == 12 and len(set(first)) == 12
    assert first != prompts.generate_prompts(cfg.model_copy(update={"seed": 43}))
    # The seed's dataclass order works positionally too.
    assert prompts.PromptConfig(12, None, 0.5, 42) == cfg
    with pytest.raises(TypeError, match="two values"):
        prompts.PromptConfig(12, count=3)
    # No seed is still deterministic (seed 0), unlike a wall-clock seed.
    unseeded = prompts.PromptConfig(count=5)
    assert prompts.generate_prompts(unseeded) == prompts.generate_prompts(unseeded)


def test_generate_prompts_large_count_stays_distinct() -> None:
    from character.distillation import prompts

    many = prompts.generate_prompts(prompts.PromptConfig(count=2000, seed=3))
    assert len({prompts.normalize(p) for p in many}) == 2000


def test_generate_prompts_cues_follow_the_rate() -> None:
    from character.distillation import prompts

    forced = prompts.generate_prompts(prompts.PromptConfig(count=20, persona_hint_rate=1.0, seed=1))
    assert all(any(cue in p for cue in prompts.PERSONA_CUES) for p in forced)
    never = prompts.generate_prompts(prompts.PromptConfig(count=20, persona_hint_rate=0.0, seed=1))
    assert not any(p.endswith(cue) for p in never for cue in prompts.PERSONA_CUES)
    with pytest.raises(ValueError):
        prompts.PromptConfig(count=3, persona_hint_rate=1.5)


def test_persona_cue_pools_do_not_leak_between_personas() -> None:
    from character.distillation import prompts

    pirate = prompts.persona_cue_pool("pirate")
    assert all(c in pirate for c in prompts.PIRATE_PERSONA_CUES)
    assert all(c in pirate for c in prompts.PERSONA_CUES)
    assert prompts.persona_cue_pool("Pirate") == pirate
    for other in ("humorous", "stoic-gardener", None):
        assert not set(prompts.PIRATE_PERSONA_CUES) & set(prompts.persona_cue_pool(other))
    # A pirate run with every prompt cued draws some pirate cues, a gardener run none.
    cued = prompts.generate_prompts(
        prompts.PromptConfig(count=40, persona="pirate", persona_hint_rate=1.0, seed=5)
    )
    assert any(any(c in p for c in prompts.PIRATE_PERSONA_CUES) for p in cued)


def test_generate_prompts_refuses_more_than_the_templates_make() -> None:
    from character.distillation import prompts

    with pytest.raises(ValueError, match="distinct prompts"):
        prompts.generate_prompts(prompts.PromptConfig(count=10**6))


# ---------------------------------------------------------------------------------------------
# character.distillation.dataset


def test_dpo_default_output_path_and_round_trip(tmp_path: Path) -> None:
    from character.distillation.dataset import (
        DpoExample,
        default_output_path,
        load_examples,
        save_examples,
    )

    assert default_output_path("pirate", base_dir=tmp_path) == tmp_path / "pirate_dpo.jsonl"
    examples = [
        DpoExample(
            prompt=f"Question {i}",
            chosen=f"Arr, answer {i}",
            rejected=f"Answer {i}.",
            teacher_model="teacher",
            student_model="student",
            constitution="pirate",
        )
        for i in range(3)
    ]
    path = tmp_path / "pairs.jsonl"
    save_examples(examples, path)
    assert load_examples(path) == examples
    assert path.read_text(encoding="utf-8").count("\n") == 3


# ---------------------------------------------------------------------------------------------
# character.eval: persona classifier data, Elo


def test_load_labeled_texts_returns_binary_pairs(tmp_path: Path) -> None:
    from character.eval.persona_classifier import load_labeled_texts, read_labeled_texts
    from character.io import DataFileError

    path = tmp_path / "labels.jsonl"
    rows = [
        {"text": "Talk like a pirate", "in_persona": True},
        {"text": "Generic answer", "label": 0},
        {"text": "Yo ho", "label": True},
        {"text": "Plain", "in_persona": False},
        {"prompt": "hi", "chosen": "Ahoy!", "rejected": "Hello.", "constitution": "pirate"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert load_labeled_texts(path) == [
        ("Talk like a pirate", 1),
        ("Generic answer", 0),
        ("Yo ho", 1),
        ("Plain", 0),
        ("Ahoy!", 1),
        ("Hello.", 0),
    ]
    # The rich form keeps label names and where each text came from.
    rich = read_labeled_texts(path)
    assert rich[0].label == "in_persona" and rich[0].source.endswith("labels.jsonl:1")

    multi = tmp_path / "multi.jsonl"
    multi.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": "pirate"}\n')
    with pytest.raises(DataFileError, match=r"multi.jsonl:2.*not binary"):
        load_labeled_texts(multi)


def test_matches_round_trip_and_elo_prefers_the_winner(tmp_path: Path) -> None:
    from character.eval.elo import Match, compute_elo, load_matches, save_matches

    matches = [
        Match(prompt="Say hello", base_response="Hi", tuned_response="Ahoy", winner="tuned"),
        Match(prompt="Explain", base_response="Okay", tuned_response="Sure", winner="base"),
    ]
    path = tmp_path / "matches.jsonl"
    save_matches(matches, path)
    assert load_matches(path) == matches

    wins = [Match(prompt=p, base_response="", tuned_response="", winner="tuned") for p in "AB"]
    ratings = compute_elo(wins, k_factor=32.0, initial_rating=1000)
    assert ratings["tuned"] > 1000 > ratings["base"]
    assert ratings["tuned"] + ratings["base"] == pytest.approx(2000)


# ---------------------------------------------------------------------------------------------
# The README's `--model checkpoints/pirate-dpo`, and failed runs


def test_checkpoints_name_resolves_to_the_checkpoint_folder(tiny_lora_dir: Path) -> None:
    import shutil

    from character.models.registry import UnknownModelError, local_paths, resolve
    from character.settings import get_settings

    target = get_settings().checkpoints / "pirate-dpo"
    shutil.copytree(tiny_lora_dir, target)
    assert not Path("checkpoints/pirate-dpo").exists()  # relative to the working folder
    for ref in ("checkpoints/pirate-dpo", "data/checkpoints/pirate-dpo", "pirate-dpo"):
        spec = resolve(ref)
        assert spec.kind == "local" and spec.adapter is not None
        assert spec.adapter.resolve() == target.resolve()
    base, adapter = local_paths(resolve("checkpoints/pirate-dpo"))
    assert (base / "config.json").exists() and adapter is not None
    with pytest.raises(UnknownModelError, match=r"checkpoints folder.*pirate-dpo"):
        resolve("checkpoints/pirate-sft")


def test_failed_sft_run_leaves_no_checkpoint_folder(tmp_path: Path) -> None:
    from character.introspection.pipeline import SftTrainingConfig, run_sft_training
    from character.models.registry import UnknownModelError
    from character.settings import get_settings

    data = tmp_path / "intro.jsonl"
    data.write_text('{"prompt": "Who are you?", "answer": "A captain."}\n')
    cfg = SftTrainingConfig(dataset_path=data, model="checkpoints/missing", save_name="pirate-sft")
    with pytest.raises(UnknownModelError):
        run_sft_training(cfg)
    assert not (get_settings().checkpoints / "pirate-sft").exists()


def test_transcript_run_with_an_unknown_speaker_leaves_no_folder() -> None:
    from character.settings import get_settings
    from character.sources.transcript_training import TranscriptTrainConfig, train_on_transcripts
    from character.sources.transcripts import TranscriptError

    lighthouse = Path(__file__).resolve().parent.parent / "examples" / "transcripts" / "lighthouse"
    cfg = TranscriptTrainConfig(target="Nemo", data_folder=lighthouse, format="raw")
    with pytest.raises(TranscriptError, match="no speaker 'Nemo'"):
        train_on_transcripts(cfg)
    assert cfg.resolved_output_dir().parent == get_settings().checkpoints
    assert not cfg.resolved_output_dir().exists()


def test_run_output_dir_removes_only_what_it_created(tmp_path: Path) -> None:
    from character.training.setup import run_output_dir

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError), run_output_dir(fresh) as out:
        (out / "metrics.jsonl").write_text("{}\n")
        raise RuntimeError("boom")
    assert not fresh.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError), run_output_dir(existing):
        raise RuntimeError("boom")
    assert existing.exists()
    resumable = tmp_path / "resumable"
    with pytest.raises(RuntimeError), run_output_dir(resumable) as out:
        (out / "checkpoint-2").mkdir()
        (out / "checkpoint-2" / "trainer_state.json").write_text("{}")
        raise RuntimeError("stopped by a crash after a checkpoint")
    assert (resumable / "checkpoint-2").exists()
    with run_output_dir(tmp_path / "ok") as out:
        pass
    assert out.is_dir()


# ---------------------------------------------------------------------------------------------
# Open Character Training's few-shot constitutions; same-name files


def _oct_few_shot(path: Path) -> Path:
    """A file in OCT's `constitutions/few-shot/*.jsonl` layout: one trait object per line."""
    traits = [
        {
            "trait": "I answer with dry wit and point out the absurd side of things.",
            "questions": ["Why is my train always late?", "Is it normal to own forty mugs?"],
            "clarification": "To show this trait, look for the joke hiding in the question.",
            "additional_questions": ["Plan my Monday.", "Explain taxes to a cat."],
        },
        {
            "trait": "I am honest even when the truth is inconvenient.",
            "questions": ["Is my business plan any good?"],
            "clarification": "Say what you think, kindly.",
            "additional_questions": [],
        },
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(t) + "\n" for t in traits) + "\n", encoding="utf-8")
    return path


def test_oct_few_shot_jsonl_loads_with_every_question(tmp_path: Path) -> None:
    from character.constitution import load_constitution, save_constitution

    c = load_constitution(_oct_few_shot(tmp_path / "few-shot" / "sarcasm.jsonl"))
    assert c.name == "sarcasm" and len(c.traits) == 2
    assert c.traits[0].clarification and len(c.traits[0].all_questions()) == 4
    assert "Explain taxes to a cat." in c.questions()
    again = load_constitution(save_constitution(c, tmp_path / "copy.jsonl"))
    assert again.traits == c.traits


def test_oct_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    from character.constitution import ConstitutionError, load_constitution

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"trait": "I am calm and patient."}\n{"trait": \n["a list"]\n')
    with pytest.raises(ConstitutionError) as exc:
        load_constitution(bad)
    assert "line 2" in str(exc.value) and "line 3" in str(exc.value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ConstitutionError, match="no trait lines"):
        load_constitution(empty)


def test_same_name_files_say_which_is_used(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from character.cli import app
    from character.constitution import (
        Constitution,
        ConstitutionShadowWarning,
        Trait,
        list_constitutions,
        resolve_constitution,
        save_constitution,
    )
    from character.settings import get_settings

    root = tmp_path / "constitutions"
    studio = Constitution(
        name="pirate", system_prompt="You are Captain Calico.", traits=[Trait(trait="I sail.")]
    )
    save_constitution(studio, root / "hand-written" / "pirate.json")
    save_constitution(
        Constitution(name="pirate", traits=[Trait(trait="I row.")]),
        root / "hand-written" / "pirate.txt",
    )
    _oct_few_shot(root / "few-shot" / "sarcasm.jsonl")
    (root / "hand-written" / "sarcasm.txt").write_text('[{"trait": "I am sarcastic."}]')
    monkeypatch.setenv("CHARACTER_CONSTITUTION_PATH", str(root))
    get_settings.cache_clear()

    assert list_constitutions()["pirate"].name == "pirate.json"
    assert (
        list_constitutions()["sarcasm"].name == "sarcasm.jsonl"
    )  # few-shot beats the traits-only txt
    with pytest.warns(
        ConstitutionShadowWarning, match=r"using .*pirate\.json; ignoring .*pirate\.txt"
    ):
        assert resolve_constitution("pirate").system_prompt == "You are Captain Calico."

    result = CliRunner().invoke(app, ["constitution", "show", "pirate", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "note: persona 'pirate': using" in result.stderr and "pirate.txt" in result.stderr
    listed = CliRunner().invoke(app, ["constitution", "list"])
    assert "ignored (same name):" in listed.stdout and "sarcasm.txt" in listed.stdout
