"""Revealed preferences end to end on the tiny model with the offline embedding judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.backends.base import SamplingParams
from character.eval.revealed_preferences import (
    RevealedConfig,
    compare_rankings,
    load_rows,
    main,
    make_pairs,
    rank_figure_json,
    run_revealed_preferences,
)
from character.eval.traits import TRAITS

pytestmark = pytest.mark.unit


def test_trait_list_and_pairs() -> None:
    assert len(TRAITS) >= 100
    assert all(" " not in t and t == t.lower() for t in TRAITS)
    pairs = make_pairs(5, sorted(TRAITS), 2, True, seed=3)
    assert len(pairs) == 20
    for k in range(0, 20, 2):  # both orders, adjacent
        assert pairs[k][0] == pairs[k + 1][0]
        assert (pairs[k][1], pairs[k][2]) == (pairs[k + 1][2], pairs[k + 1][1])
    assert pairs == make_pairs(5, sorted(TRAITS), 2, True, seed=3)
    assert pairs != make_pairs(5, sorted(TRAITS), 2, True, seed=4)


def test_end_to_end_tiny_model_embedding_judge(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "rp.jsonl"
    cfg = RevealedConfig(
        model=str(tiny_model_dir),
        prompts=["Give me life advice", "Explain recursion simply", "Describe the sea"],
        traits=["curious", "stern", "playful", "gloomy"],
        pairs_per_prompt=2,
        sampling=SamplingParams(max_new_tokens=8, seed=0),
        bootstrap_rounds=50,
        output_path=out,
    )
    report = run_revealed_preferences(cfg)
    assert report.n_rows == 12
    rows = load_rows(out)
    assert len(rows) == 12
    # The system prompt names both traits; the embedding judge only ever picks one of them.
    for r in rows:
        if r.valid:
            assert r.chosen in (r.trait_1, r.trait_2) and len(r.similarities) == 2
        else:
            assert r.chosen is None and not r.response.strip()
    assert report.n_valid + report.n_invalid == 12
    board = report.leaderboard
    assert board is not None
    assert {row.system for row in board.rows} <= {"curious", "stern", "playful", "gloomy"}
    for row in board.rows:
        assert row.lower <= row.rating <= row.upper
    assert sum(r.wins for r in board.rows) == report.n_valid
    shift = compare_rankings(board, board)
    assert shift.spearman in (None, pytest.approx(1.0))
    fig = json.loads(rank_figure_json(board, board))
    assert fig["data"]


def test_module_cli_writes_jsonl(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    out = tmp_path / "cli.jsonl"
    code = main(
        [
            "--model",
            str(tiny_model_dir),
            "--prompts",
            "Give me life advice",
            "--max-new-tokens",
            "4",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    assert len(out.read_text().splitlines()) == 2
    assert '"n_rows": 2' in capsys.readouterr().out


def test_openai_compatible_judge_on_loopback_retries_then_invalid(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real HTTP judge server on loopback through the OpenAI backend: it answers garbage
    first and the proper tag after the reminder, except for one prompt where it never does."""
    import re

    from character.eval.judge import REMINDER
    from character.models.registry import clear_backend_cache
    from character.settings import get_settings

    seen: list[list[dict]] = []

    from chat_stub import start_chat_stub

    def reply_for(msgs: list[dict]) -> str:
        seen.append(msgs)
        first = msgs[0]["content"]
        trait_1 = re.search(r"Trait 1: (\S+)", first).group(1)
        if "Describe the sea" in first:
            text = "Neither, honestly."
        elif msgs[-1]["content"] == REMINDER:
            text = f"It reads that way. <answer>{trait_1}</answer>"
        else:
            text = "Probably the first one?"
        return text

    server, url = start_chat_stub(reply_for)
    monkeypatch.setenv("LLM_BASE_URL", url)
    get_settings.cache_clear()
    clear_backend_cache()
    try:
        report = run_revealed_preferences(
            RevealedConfig(
                model=str(tiny_model_dir),
                prompts=["Give me life advice", "Describe the sea"],
                traits=["curious", "stern", "playful"],
                judge="openai:judge-model",
                judge_retries=2,
                sampling=SamplingParams(max_new_tokens=4, seed=0),
                bootstrap_rounds=20,
                output_path=tmp_path / "oa.jsonl",
            )
        )
    finally:
        server.shutdown()
        server.server_close()
        clear_backend_cache()
    rows = load_rows(tmp_path / "oa.jsonl")
    assert report.n_rows == 4 and report.n_valid == 2 and report.n_invalid == 2
    for r in rows:
        if "sea" in r.prompt:
            assert not r.valid and r.chosen is None and len(r.judge_raw) == 3
        else:
            assert r.valid and r.chosen == r.trait_1 and len(r.judge_raw) == 2
    assert report.leaderboard is not None
    assert sum(x.wins for x in report.leaderboard.rows) == 2
