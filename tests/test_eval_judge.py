"""Judges: parsing, retries, invalid-never-guessed, both orders, rubric, editable prompts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from character.backends.base import Completion, GenerationBackend, SamplingParams
from character.eval.judge import (
    ask_judge,
    extract_json,
    judge_interview,
    judge_pairwise,
    load_prompt,
    parse_pairwise,
    parse_score,
    render,
    summarise_pairwise,
)
from character.eval.revealed_preferences import parse_trait_answer

pytestmark = pytest.mark.unit


class ScriptedJudge(GenerationBackend):
    """A judge that replies from a script and records what it was asked."""

    kind = "scripted"

    def __init__(self, replies: list[str]) -> None:
        super().__init__("scripted")
        self._replies: Iterator[str] = iter(replies)
        self.asked: list[list[dict[str, str]]] = []

    def generate(self, conversations, params=None, progress=None):  # noqa: ANN001, ANN201
        self.asked.extend(conversations)
        return [[Completion(text=next(self._replies))] for _ in conversations]


def test_parsers() -> None:
    assert extract_json('Sure! ```json\n{"reason": "x", "winner": "B"}\n```') == {
        "reason": "x",
        "winner": "B",
    }
    assert parse_pairwise('{"reason": "more piratey", "winner": "A"}') == "A"
    assert parse_pairwise("reason: blah\nwinner: tie") == "tie"
    assert parse_pairwise("I think the first one is nicer.") is None
    assert parse_pairwise('{"winner": "C"}') is None
    assert parse_score('{"reasoning": "ok", "score": 6}') == 6
    assert parse_score('{"reasoning": "ok", "score": "5"}') == 5
    assert parse_score('{"score": 9}') is None
    assert parse_score('{"score": true}') is None
    assert parse_score("no number here") is None
    assert parse_trait_answer("hmm <answer>Curious</answer>", "curious", "stern") == "curious"
    assert parse_trait_answer("<answer>both</answer>", "curious", "stern") is None
    assert parse_trait_answer("curious", "curious", "stern") is None


def test_unparseable_is_retried_then_invalid_never_guessed() -> None:
    judge = ScriptedJudge(["blah", '{"reason": "r", "winner": "B"}'])
    call = ask_judge(judge, "which?", parse_pairwise, retries=2)
    assert call.valid and call.value == "B" and len(call.raw) == 2
    assert "could not be parsed" in judge.asked[1][-1]["content"]

    judge = ScriptedJudge(["nope", "still nope", "A is better I guess"])
    call = ask_judge(judge, "which?", parse_pairwise, retries=2)
    assert not call.valid and call.value is None and len(call.raw) == 3


def test_pairwise_both_orders_and_consistency() -> None:
    # Pair 1: consistent win for response 1 (A, then B when swapped).
    # Pair 2: position bias (A both times) -> inconsistent, not counted.
    # Pair 3: unparseable in one order -> invalid.
    judge = ScriptedJudge(
        [
            '{"reason": "r", "winner": "A"}',
            '{"reason": "r", "winner": "B"}',
            '{"reason": "r", "winner": "A"}',
            '{"reason": "r", "winner": "A"}',
            '{"reason": "r", "winner": "tie"}',
            "???",
            "???",
        ]
    )
    verdicts = [
        judge_pairwise(judge, f"q{i}", "arr", "hello", "a pirate", retries=1) for i in range(3)
    ]
    assert verdicts[0].winner == "1" and verdicts[0].consistent
    assert verdicts[1].winner is None and not verdicts[1].consistent and verdicts[1].both_valid
    assert verdicts[2].winner is None and not verdicts[2].both_valid
    # The swapped order really shows the responses swapped.
    assert "<reply_a>\narr\n</reply_a>" in judge.asked[0][0]["content"]
    assert "<reply_a>\nhello\n</reply_a>" in judge.asked[1][0]["content"]
    summary, comps = summarise_pairwise(verdicts, "tuned", "base")
    assert summary.n_invalid == 1 and summary.n_inconsistent == 1
    assert summary.position_consistency == pytest.approx(0.5)
    assert summary.wins_1 == 1 and summary.win_rate_1.n == 1
    assert len(comps) == 1 and comps[0].winner == "a"


def test_interview_rubric_and_prompt_override(tmp_path) -> None:
    from character.settings import get_settings

    judge = ScriptedJudge(
        ['{"reasoning": "good", "score": 6}', "garbage", "garbage", '{"score": 3}']
    )
    res = judge_interview(
        judge,
        "A pirate captain of 1720.",
        [("Who are you?", "Captain Flint, scourge of the seas!")],
        criteria=["memorization", "hallucination", "stability"],
        retries=1,
    )
    assert res.scores == {"memorization": 6, "hallucination": None, "stability": 3}
    assert res.mean == pytest.approx(4.5)
    assert "Captain Flint" in judge.asked[0][0]["content"]

    # Users edit prompts: an override in the data folder wins over the shipped file.
    shipped = load_prompt("pairwise")
    assert "{{response_a}}" in shipped
    override = get_settings().data_path / "eval" / "prompts" / "pairwise.md"
    override.parent.mkdir(parents=True)
    override.write_text("Custom: {{prompt}} / {{response_a}} / {{response_b}} / {{persona}}")
    judge = ScriptedJudge(['{"winner": "A"}', '{"winner": "B"}'])
    judge_pairwise(judge, "hi", "x", "y", "p")
    assert judge.asked[0][0]["content"] == "Custom: hi / x / y / p"
    with pytest.raises(KeyError, match="response_b"):
        render("{{response_b}}", prompt="x")


def test_local_tiny_model_as_judge_gives_invalid_not_guesses(tiny_model_dir) -> None:
    """A real local model that cannot follow the format: every verdict is invalid."""
    from character.models.registry import get_backend

    backend = get_backend(str(tiny_model_dir))
    call = ask_judge(
        backend,
        "Answer <answer>curious</answer> or <answer>stern</answer>.",
        lambda t: parse_trait_answer(t, "curious", "stern"),
        retries=1,
        params=SamplingParams(temperature=0.0, max_new_tokens=5),
    )
    assert not call.valid and len(call.raw) == 2


def _loopback_judge(reply_for):  # noqa: ANN001, ANN202
    """A real OpenAI-compatible HTTP server on loopback answering `reply_for(messages)`."""
    from chat_stub import start_chat_stub

    return start_chat_stub(reply_for)


def test_interview_and_pairwise_runs_through_openai_judge(tiny_model_dir, monkeypatch) -> None:
    from character.eval.judge import (
        InterviewEvalConfig,
        PairwiseEvalConfig,
        run_interview_eval,
        run_pairwise_eval,
    )
    from character.models.registry import clear_backend_cache
    from character.settings import get_settings

    def reply(messages: list[dict]) -> str:
        first = messages[0]["content"]
        if "Criterion: HALLUCINATION" in first:
            return "I cannot say."  # never parseable -> invalid, not guessed
        if "Criterion:" in first:
            return '{"reasoning": "fine", "score": 4}'
        # Pairwise: always prefers the reply shown as A -> position bias, never consistent.
        return '{"reason": "first looks better", "winner": "A"}'

    server, url = _loopback_judge(reply)
    monkeypatch.setenv("LLM_BASE_URL", url)
    get_settings.cache_clear()
    clear_backend_cache()
    try:
        params = SamplingParams(max_new_tokens=4, seed=0)
        rep = run_interview_eval(
            InterviewEvalConfig(
                model=f"{tiny_model_dir}|system:pirate",
                judge="openai:judge",
                constitution="pirate",
                questions=["Who are you?", "What do you value?", "What angers you?"],
                turns_per_interview=2,
                retries=1,
                sampling=params,
                bootstrap_rounds=20,
            )
        )
        pw = run_pairwise_eval(
            PairwiseEvalConfig(
                system_1=str(tiny_model_dir),
                system_2=f"{tiny_model_dir}|system:pirate",
                judge="openai:judge",
                constitution="pirate",
                prompts=["Tell me about the sea.", "Any advice for a rainy day?"],
                sampling=params,
                retries=0,
            )
        )
    finally:
        server.shutdown()
        server.server_close()
        clear_backend_cache()
    assert rep.n_interviews == 4  # 2 interviews for 4 criteria + 2 for hallucination
    assert rep.criteria["memorization"].estimate == pytest.approx(4.0)
    assert rep.invalid["hallucination"] == 2 and rep.criteria["hallucination"].n == 0
    assert pw.summary.n_pairs == 2 and pw.summary.n_inconsistent == 2
    assert pw.summary.position_consistency == 0.0 and pw.summary.win_rate_1.n == 0
