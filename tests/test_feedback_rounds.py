"""Feedback round N+1 from round N's adapter, and the round-over-round report (tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.backends.base import SamplingParams

pytestmark = pytest.mark.unit

PROMPTS = ["How do I bake bread?", "What is the capital of France?", "Tell me about taxes."]


@pytest.fixture(scope="module")
def round1(tiny_lora_dir: Path) -> Path:
    """Stands in for a distilled round-1 adapter (random non-zero LoRA B)."""
    return tiny_lora_dir


def _collect_feedback(adapter: Path) -> list[str]:
    """A 'person' (this test) rates the round-1 adapter's real replies and corrects two."""
    from character.constitution import resolve_constitution
    from character.feedback.store import ErrorTag, FeedbackRecord, record_feedback
    from character.models.registry import get_backend

    const = resolve_constitution("pirate")
    params = SamplingParams(max_new_tokens=8, seed=0)
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    replies = [o[0].text for o in get_backend(str(adapter)).generate(convs, params)]
    ids = []
    for i, (conv, reply) in enumerate(zip(convs, replies, strict=True)):
        rec = FeedbackRecord(
            source="test",
            persona="pirate",
            conversation=conv,
            response=reply,
            model=str(adapter),
            adapter=str(adapter),
            sampling=params.model_dump(),
            rating=[1, 2, 4][i],
            traits_missing=[const.traits[0].trait] if i < 2 else [],
            error_tags=[ErrorTag.sounds_like_assistant] if i < 2 else [],
            correction=f"Arr matey, yo ho, the sea answers {i}!" if i < 2 else None,
        )
        ids.append(record_feedback(rec, constitution=const).id)
    return ids


def test_round_two_trains_from_round_one_and_report_has_three_sections(
    round1: Path, pirate_classifier_dir: Path, tmp_path: Path
) -> None:
    from character.feedback.report import RoundReport, RoundReportConfig, round_report
    from character.feedback.rounds import RoundConfig, round_number, train_round

    ids = _collect_feedback(round1)
    events: list = []
    adapter = train_round(
        RoundConfig(persona="pirate", previous_adapter=str(round1), max_steps=2, batch_size=2),
        reporter=events.append,
    )
    lineage = json.loads((adapter / "round.json").read_text())
    assert lineage["round"] == 2 and round_number(adapter) == 2
    assert lineage["previous_adapter"] == str(round1)
    assert lineage["feedback_ids"] == sorted(ids[:2])  # only corrections become pairs
    assert lineage["counts"]["correction_pairs"] == 2 and lineage["finished"]
    prov = json.loads((adapter / "provenance.json").read_text())
    assert prov["start_adapter"] == str(round1) and prov["global_step"] == 2
    from safetensors.torch import load_file

    before = load_file(round1 / "adapter_model.safetensors")
    after = load_file(adapter / "adapter_model.safetensors")
    assert set(before) == set(after)  # the same LoRA, continued
    assert any(not (before[k] == after[k]).all() for k in before)
    with pytest.raises(FileExistsError, match="resume"):
        train_round(
            RoundConfig(
                persona="pirate",
                previous_adapter=str(round1),
                max_steps=1,
                output_dir=adapter.parent,
            )
        )

    path = round_report(
        RoundReportConfig(
            persona="pirate",
            new_model=str(adapter),
            previous_model=str(round1),
            classifier_dir=pirate_classifier_dir,
            prompts=["What do you think of rainy days?", "Describe your favourite meal."],
            suffixes=["assistant"],
            include_prefill=False,
            sampling=SamplingParams(max_new_tokens=6, seed=0),
            bootstrap_rounds=50,
            output_dir=tmp_path / "report",
        )
    )
    report = RoundReport.model_validate_json(path.read_text())
    assert report.arena is not None and report.arena.judge.startswith("automatic: persona")
    assert report.arena.n_votes == 2
    # Two prompts can never be significant, whatever the bootstrap says.
    assert report.arena.exact_win_rate.n <= 2 and not report.arena.significant
    assert report.verdict.startswith("not significant (n=2")
    assert report.retention is not None and set(report.retention.default) == {"previous", "new"}
    assert report.retention.n_prompts == 2 and report.retention.difference is not None
    assert report.fixes is not None and report.fixes.n_failing == 2
    assert report.fixes.fixed_new is not None and report.fixes.fixed_new.n == 2
    fig = json.loads((tmp_path / "report" / "round_report.plotly.json").read_text())
    assert len(fig["data"]) >= 3


def test_verdict_from_human_votes(tmp_path: Path, round1: Path) -> None:
    """Human votes decide when present; the verdict follows the interval, both ways."""
    from character.eval.arena import Battle, record_vote
    from character.feedback.report import RoundReportConfig, load_round_report, round_report

    new, prev = "new-adapter", str(round1)

    def vote(i: int, winner_new: bool, path: Path) -> None:
        b = Battle(
            battle_id=f"b{i}",
            created_at="2026-01-01T00:00:00+00:00",
            prompt=f"prompt {i}",
            model_a=new if i % 2 else prev,
            model_b=prev if i % 2 else new,
            response_a="x",
            response_b="y",
            swapped=bool(i % 2),
        )
        new_is_a = b.model_a == new
        record_vote(b, "A" if new_is_a == winner_new else "B", path=path)

    strong, weak = tmp_path / "strong.jsonl", tmp_path / "weak.jsonl"
    for i in range(30):
        vote(i, True, strong)
    for i in range(6):
        vote(i, i % 3 != 0, weak)  # 4 of 6: not enough to tell
    cfg = RoundReportConfig(
        persona="pirate", new_model=new, previous_model=prev, bootstrap_rounds=200
    )
    rep = load_round_report(
        round_report(cfg.model_copy(update={"votes_path": strong, "output_dir": tmp_path / "s"}))
    )
    assert rep.arena is not None and rep.arena.judge.startswith("human votes")
    assert rep.verdict.startswith("significant improvement") and rep.arena.lower > 1000
    assert rep.retention is None and any("classifier" in n for n in rep.notes)
    rep = load_round_report(
        round_report(cfg.model_copy(update={"votes_path": weak, "output_dir": tmp_path / "w"}))
    )
    assert rep.verdict.startswith("not significant (n=6")
    with pytest.raises(ValueError, match="not an adapter"):
        from character.feedback.rounds import RoundConfig, train_round

        train_round(RoundConfig(persona="pirate", previous_adapter="smollm2-135m"))


def test_job_kinds_are_registered() -> None:
    from character.jobs.registry import get_job_kind

    assert get_job_kind("feedback.round").resource == "train"
    assert get_job_kind("feedback.report").config_model.__name__ == "RoundReportConfig"


def test_cli_exports_and_reports(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from character.eval.arena import Battle, record_vote, votes_path
    from character.feedback.cli import app

    for i in range(4):
        b = Battle(
            battle_id=f"b{i}",
            created_at="2026-01-01T00:00:00+00:00",
            prompt=f"p{i}",
            model_a="smollm2-135m|system:pirate",
            model_b="smollm2-135m",
            response_a="Arr",
            response_b="Hello",
            swapped=False,
        )
        record_vote(b, "A", path=votes_path())
    runner = CliRunner()
    res = runner.invoke(app, ["report", "pirate", "smollm2-135m|system:pirate", "smollm2-135m"])
    assert res.exit_code == 0, res.output
    assert "not significant (n=4" in res.output and "human votes" in res.output
    res = runner.invoke(app, ["round", "pirate", "smollm2-135m"])
    assert res.exit_code == 1 and "not an adapter" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "fb.csv")])
    assert res.exit_code == 0 and (tmp_path / "fb.csv").read_text().startswith("id,")
