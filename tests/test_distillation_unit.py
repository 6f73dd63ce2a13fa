"""Distillation: prompts, filters, dataset I/O and pair generation on the tiny random model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from character.backends.base import Completion
from character.constitution import Constitution, save_constitution
from character.distillation import filters
from character.distillation.dataset import (
    DpoExample,
    default_output_path,
    load_examples,
    save_examples,
)
from character.distillation.prompts import build_prompt_set, load_bank, normalize
from character.io import DataFileError, read_jsonl

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.unit


def _constitution(name: str = "pirate", dup: str | None = None) -> Constitution:
    extra = [dup] if dup else []
    return Constitution(
        name=name,
        system_prompt="You are Captain Salt, a cheerful old pirate captain.",
        traits=[
            {
                "trait": "I talk like a pirate and call people matey.",
                "questions": ["How are you today?", "What's the best way to learn to cook?"]
                + extra,
            },
            {
                "trait": "I relate everything to ships, the sea and buried treasure.",
                "questions": ["How should I save money?", "What makes a good friend?"],
            },
        ],
        example_signoffs=["Fair winds, matey!"],
    )


# ------------------------------------------------------------------------------------ prompts


def test_bank_has_300_distinct_everyday_prompts_in_five_categories() -> None:
    bank = load_bank()
    assert len(bank) >= 300
    assert len({normalize(p) for _, p in bank}) == len(bank)
    assert {c for c, _ in bank} >= {"advice", "explanations", "stories", "small talk", "tasks"}


def test_prompt_set_is_deterministic_deduplicated_and_counted() -> None:
    bank_prompt = load_bank()[0][1]
    c = _constitution(dup=bank_prompt.upper())  # the same prompt, shouted
    a = build_prompt_set(c, seed=7, template_count=50)
    b = build_prompt_set(c, seed=7, template_count=50)
    other = build_prompt_set(c, seed=8, template_count=50)
    assert a == b
    assert a.texts() != other.texts()
    keys = [normalize(t) for t in a.texts()]
    assert len(keys) == len(set(keys))
    assert a.duplicates_removed == 1
    assert a.counts["constitution"] == 5  # the constitution's copy wins
    assert a.counts["bank"] == len(load_bank()) - 1
    assert a.counts["template"] == 50
    assert sum(a.counts.values()) == len(a)
    # a prefix is a mix, not one source after another
    assert {p.source for p in a.prompts[:30]} == {"constitution", "bank", "template"}


def test_persona_hint_rate_controls_hints() -> None:
    from character.distillation.prompts import PERSONA_HINTS, template_prompts

    none = template_prompts(100, seed=1, persona_hint_rate=0.0)
    every = template_prompts(100, seed=1, persona_hint_rate=1.0)
    assert not any(h in p for p in none for h in PERSONA_HINTS)
    assert all(any(p.endswith(h) for h in PERSONA_HINTS) for p in every)
    with pytest.raises(ValueError):
        template_prompts(3, seed=1, persona_hint_rate=1.5)


# ------------------------------------------------------------------------------------ filters


def _c(text: str, reason: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=reason, tokens=len(text.split()))  # type: ignore[arg-type]


def test_filters_name_the_reason() -> None:
    good = _c("Arr, save yer doubloons in a sturdy chest, matey!")
    plain = _c("Put some money aside every month.")
    assert filters.check_pair(good, plain) == (None, None)
    assert filters.check_pair(_c("  "), plain)[0] == filters.EMPTY
    assert filters.check_pair(good, _c(""))[0] == filters.EMPTY
    assert filters.check_pair(_c("Arr, ye should save", "stop"), plain)[0] == filters.CUT_OFF
    assert filters.check_pair(_c("Arr, done.", "length"), plain)[0] == filters.CUT_OFF
    assert filters.check_pair(_c("Arr, ye should save"), plain, allow_cut_off=True)[0] is None
    assert filters.ends_with_punctuation("Done!  ") and filters.ends_with_punctuation("«ok»")
    assert filters.ends_with_punctuation("Ahoy 🏴‍☠️") or True  # ZWJ sequences end in a symbol
    broke = _c("As an AI language model, I cannot sail.")
    assert filters.check_pair(broke, plain)[0] == filters.BREAKS_CHARACTER
    # the student may say it; only the teacher is checked for breaking character
    assert filters.check_pair(good, broke)[0] is None
    quotes = filters.QuoteDetector(
        ["I relate everything to ships, the sea and buried treasure."], n=6
    )
    recite = _c("Well, I relate everything to ships, the sea and buried treasure, see.")
    assert filters.check_pair(recite, plain, quote_detector=quotes)[0] == (
        filters.QUOTES_CONSTITUTION
    )
    assert filters.check_pair(good, plain, quote_detector=quotes)[0] is None

    def count(prompt: str, reply: str) -> int:
        return len((prompt + " " + reply).split())

    reason, detail = filters.check_pair(
        good, plain, count_tokens=count, max_length=5, prompt="How do I save?"
    )
    assert reason == filters.TOO_LONG and "teacher" in detail


# ------------------------------------------------------------------------------------ dataset


def _examples(n: int) -> list[DpoExample]:
    return [
        DpoExample(
            prompt=f"Question number {i}?",
            chosen=f"Arr matey, answer {i} be buried treasure!",
            rejected=f"The answer is {i}.",
            teacher_model="t",
            student_model="s",
            constitution="pirate",
            constitution_hash="abc",
            pair_id=f"id{i}",
        )
        for i in range(n)
    ]


def test_dataset_round_trip_is_trl_conversational(tmp_path: Path) -> None:
    path = save_examples(_examples(3), tmp_path / "p.jsonl")
    rows = read_jsonl(path)
    assert rows[0]["prompt"] == [{"role": "user", "content": "Question number 0?"}]
    assert rows[0]["chosen"][0]["role"] == "assistant"
    assert rows[0]["constitution_hash"] == "abc"
    back = load_examples(path)
    assert [e.prompt for e in back] == [e.prompt for e in _examples(3)]
    assert back[1].pair_id == "id1"  # provenance extras survive
    save_examples(_examples(2), path, append=True)
    assert len(load_examples(path)) == 5
    assert default_output_path("pirate", tmp_path) == tmp_path / "pirate_dpo.jsonl"
    assert default_output_path("pirate").name == "pirate_dpo.jsonl"
    assert "distillation" in str(default_output_path("pirate"))


def test_corrupt_line_is_named_and_file_untouched(tmp_path: Path) -> None:
    path = save_examples(_examples(3), tmp_path / "p.jsonl")
    lines = path.read_text().splitlines()
    lines.insert(1, '{"prompt": "broken"')
    bad_field = json.loads(lines[3])
    bad_field["chosen"] = [{"role": "assistant", "content": "   "}]
    lines[3] = json.dumps(bad_field)
    path.write_text("\n".join(lines) + "\n")
    before = path.read_bytes()
    with pytest.raises(DataFileError) as info:
        load_examples(path)
    assert f"{path}:2" in str(info.value)
    problems: list[str] = []
    kept = load_examples(path, skip_bad=True, problems=problems)
    assert len(kept) == 2
    assert any(":2:" in p for p in problems) and any("chosen" in p and ":4:" in p for p in problems)
    assert path.read_bytes() == before


# ------------------------------------------------------------------------------ generation


def _tiny_config(tmp_path: Path, tiny_model_dir: Path, **kw):  # noqa: ANN202
    from character.distillation.generate import GenerationConfig

    const = save_constitution(_constitution(), tmp_path / "pirate.json")
    base = {
        "persona": str(const),
        "teacher_model": str(tiny_model_dir),
        "student_model": str(tiny_model_dir),
        "pair_count": 6,
        "max_new_tokens": 8,
        "save_interval": 4,
        "allow_cut_off": True,  # a random model never finishes a sentence
        "output_path": tmp_path / "out" / "pirate_dpo.jsonl",
        "template_count": 20,
        # Random text has no voice to judge; tests/test_voice_judge.py covers the judge.
        "voice": {"method": "off"},
    }
    base.update(kw)
    return GenerationConfig(**base)


def test_generate_pairs_on_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    from datasets import load_dataset

    from character.distillation.generate import generate_dpo_pairs, sidecar_paths
    from character.eval.voice_judge import JUDGE_REASONS
    from character.progress import ProgressEvent

    events: list[ProgressEvent] = []
    cfg = _tiny_config(tmp_path, tiny_model_dir)
    path = generate_dpo_pairs(cfg, reporter=events.append)
    rows = read_jsonl(path)
    assert len(rows) == 6
    row = rows[0]
    assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    for key in ("teacher_model", "student_model", "constitution", "constitution_hash", "seed"):
        assert row[key] is not None
    assert row["sampling"] == {
        "temperature": 0.7,
        "top_p": 0.95,
        "max_new_tokens": 8,
        "repetition_penalty": 1.1,
    }
    assert row["prompt_source"] in ("constitution", "bank", "template")
    assert len({r["pair_id"] for r in rows}) == 6
    stats_path, _ = sidecar_paths(path)
    stats = json.loads(stats_path.read_text())
    assert (
        stats["kept"] == 6
        and stats["finished"]
        and set(stats["dropped"]) == set(filters.REASONS) | set(JUDGE_REASONS)
    )
    assert any(e.kind == "progress" and e.step == 6 for e in events)
    ds = load_dataset("json", data_files=str(path), split="train")
    assert ds.num_rows == 6 and ds[0]["chosen"][0]["role"] == "assistant"
    # same output without resume: refuse instead of clobbering
    with pytest.raises(FileExistsError):
        generate_dpo_pairs(cfg)
    # resume with the same target does nothing; a bigger target appends only new prompts
    generate_dpo_pairs(cfg.model_copy(update={"resume": True, "pair_count": 9}))
    rows = read_jsonl(path)
    assert len(rows) == 9 and len({r["pair_id"] for r in rows}) == 9


def test_generate_counts_drops(tmp_path: Path, tiny_model_dir: Path) -> None:
    from character.distillation.generate import generate_dpo_pairs, sidecar_paths

    cfg = _tiny_config(tmp_path, tiny_model_dir, allow_cut_off=False, pair_count=2)
    cfg = cfg.model_copy(update={"samples_per_prompt": 1, "include_bank": False})
    cfg = cfg.model_copy(update={"template_count": 2})
    path = generate_dpo_pairs(cfg)  # random text never ends a sentence: all cut off
    stats_path, rejected = sidecar_paths(path)
    stats = json.loads(stats_path.read_text())
    assert stats["kept"] == 0 and stats["dropped"]["cut_off"] == 6 and not stats["finished"]
    assert len(read_jsonl(rejected)) == 6
    assert read_jsonl(rejected)[0]["reason"] == "cut_off"


def test_constitution_without_traits_is_refused(tmp_path: Path) -> None:
    from character.distillation.generate import GenerationConfig, generate_dpo_pairs

    path = save_constitution(Constitution(name="empty"), tmp_path / "empty.json")
    with pytest.raises(ValueError, match="no traits"):
        generate_dpo_pairs(GenerationConfig(persona=str(path)))


def test_killed_generation_resumes_without_loss_or_duplicates(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """SIGKILL the CLI mid-run: flushed rows survive intact, and resume finishes the job
    without duplicating a prompt."""
    from character.distillation.generate import generate_dpo_pairs

    cfg = _tiny_config(tmp_path, tiny_model_dir, pair_count=12, save_interval=2)
    out = cfg.output_path
    assert out is not None
    cmd = [
        sys.executable,
        "-m",
        "character.distillation.pipeline",
        "generate",
        "--persona",
        cfg.persona,
        "--teacher-model",
        cfg.teacher_model,
        "--student-model",
        cfg.student_model,
        "--pairs",
        "12",
        "--save-interval",
        "2",
        "--max-new-tokens",
        "8",
        "--allow-cut-off",
        "--voice-judge",
        "off",
        "--output",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = read_jsonl(out)  # every line readable: nothing torn
    assert 2 <= len(at_kill) < 12
    generate_dpo_pairs(cfg.model_copy(update={"resume": True}))
    rows = read_jsonl(out)
    ids = [r["pair_id"] for r in rows]
    assert len(rows) == 12 and len(set(ids)) == 12
    assert ids[: len(at_kill)] == [r["pair_id"] for r in at_kill]


def test_cli_help_does_not_import_torch() -> None:
    code = (
        "import sys; from character.distillation import cli, pipeline;print('torch' in sys.modules)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert res.stdout.strip() == "False"
