"""Blind A/B arena: two systems answer the same prompt, a person picks A, B, tie or both bad.

A contestant is a model reference (the embedded base, an adapter, `openai:...`, a Tinker
checkpoint), optionally with a constitution as system prompt, written `<model>|system:<persona>`.
Sides are randomised and the side each system was shown on is stored with the vote. Votes are
appended (fsync'd) to `<data_path>/eval/arena/votes.jsonl` with who, when and a full copy of
what was shown, so nothing depends on models that may later be deleted. The leaderboard is a
Bradley–Terry fit with bootstrap intervals; decisive votes export as TRL DPO pairs.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from character.backends.base import SamplingParams
from character.eval.bradley_terry import Comparison, Leaderboard, leaderboard
from character.io import JsonlProblem, append_jsonl, atomic_write_text, iter_jsonl

Choice = Literal["A", "B", "tie", "both_bad"]
SYSTEM_MARK = "|system:"


def arena_dir() -> Path:
    from character.settings import get_settings

    return get_settings().data_path / "eval" / "arena"


def votes_path() -> Path:
    return arena_dir() / "votes.jsonl"


def contestant_id(model: str, constitution: str | None = None) -> str:
    return f"{model}{SYSTEM_MARK}{constitution}" if constitution else model


def parse_contestant(cid: str) -> tuple[str, str | None]:
    if SYSTEM_MARK in cid:
        model, persona = cid.split(SYSTEM_MARK, 1)
        return model, persona
    return cid, None


class Battle(BaseModel):
    """What one voter sees: the same prompt, two anonymous replies."""

    battle_id: str
    created_at: str
    prompt: str
    model_a: str  # contestant shown on the left (A)
    model_b: str  # contestant shown on the right (B)
    response_a: str
    response_b: str
    swapped: bool = Field(description="True when the requested first contestant is shown as B.")
    sampling: dict[str, object] = Field(default_factory=dict)


class ArenaVote(BaseModel):
    """One vote with everything needed to audit or reuse it without the models."""

    vote_id: str
    battle_id: str
    created_at: str
    voter: str
    prompt: str
    model_a: str
    model_b: str
    response_a: str
    response_b: str
    swapped: bool = False
    choice: Choice
    reason_tags: list[str] = Field(default_factory=list)
    note: str = ""

    @property
    def winner_model(self) -> str | None:
        return {"A": self.model_a, "B": self.model_b}.get(self.choice)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def generate_replies(contestant: str, prompts: Sequence[str], params: SamplingParams) -> list[str]:
    """Replies of one contestant to many prompts, in one batched call (one prompt, as in a
    battle, goes to the interactive engine: llama.cpp when it can serve the model)."""
    from character.constitution import resolve_constitution
    from character.models.registry import get_backend, get_interactive_backend

    model, persona = parse_contestant(contestant)
    system = resolve_constitution(persona).teacher_system_prompt() if persona else None
    convs = [
        ([{"role": "system", "content": system}] if system else [])
        + [{"role": "user", "content": p}]
        for p in prompts
    ]
    backend = get_interactive_backend(model) if len(convs) == 1 else get_backend(model)
    return [o[0].text for o in backend.generate(convs, params)]


def _reply(contestant: str, prompt: str, params: SamplingParams) -> str:
    return generate_replies(contestant, [prompt], params)[0]


def create_battle(
    prompt: str,
    contestant_1: str,
    contestant_2: str,
    *,
    sampling: SamplingParams | None = None,
    seed: int | None = None,
    record: bool = True,
) -> Battle:
    """Generate both replies and place them on random sides (seeded if `seed` is given). The
    battle is logged to `battles.jsonl` so every vote can be traced to what was generated."""
    if not prompt.strip():
        raise ValueError("the prompt is empty")
    if contestant_1 == contestant_2:
        raise ValueError("pick two different systems")
    params = sampling or SamplingParams(max_new_tokens=200)
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    swapped = rng.random() < 0.5
    a, b = (contestant_2, contestant_1) if swapped else (contestant_1, contestant_2)
    battle = Battle(
        battle_id=secrets.token_hex(6),
        created_at=_now(),
        prompt=prompt,
        model_a=a,
        model_b=b,
        response_a=_reply(a, prompt, params),
        response_b=_reply(b, prompt, params),
        swapped=swapped,
        sampling=params.model_dump(),
    )
    if record:
        append_jsonl(arena_dir() / "battles.jsonl", [battle])
    return battle


def record_vote(
    battle: Battle,
    choice: Choice,
    *,
    voter: str = "anonymous",
    reason_tags: Sequence[str] = (),
    note: str = "",
    path: Path | None = None,
) -> ArenaVote:
    """Append one vote (fsync'd); never rewrites earlier votes."""
    if choice not in ("A", "B", "tie", "both_bad"):
        raise ValueError(f"choice must be A, B, tie or both_bad, got {choice!r}")
    stamp = f"{battle.battle_id}|{voter}|{time.time_ns()}"
    vote = ArenaVote(
        vote_id=hashlib.sha1(stamp.encode("utf-8")).hexdigest()[:12],
        battle_id=battle.battle_id,
        created_at=_now(),
        voter=voter.strip() or "anonymous",
        prompt=battle.prompt,
        model_a=battle.model_a,
        model_b=battle.model_b,
        response_a=battle.response_a,
        response_b=battle.response_b,
        swapped=battle.swapped,
        choice=choice,
        reason_tags=list(reason_tags),
        note=note,
    )
    append_jsonl(path or votes_path(), [vote])
    return vote


class VoteSet(BaseModel):
    votes: list[ArenaVote]
    problems: list[str] = Field(default_factory=list)
    unknown_models: list[str] = Field(default_factory=list)


def _is_known(model_id: str) -> bool:
    from character.models.registry import UnknownModelError, resolve

    model, persona = parse_contestant(model_id)
    try:
        resolve(model)
    except UnknownModelError:
        return False
    if persona:
        from character.constitution import ConstitutionError, resolve_constitution

        try:
            resolve_constitution(persona)
        except ConstitutionError:
            return False
    return True


def load_votes(path: Path | str | None = None, known: set[str] | None = None) -> VoteSet:
    """Read votes, skipping (and reporting) malformed lines; model ids that no longer resolve
    (a deleted adapter, a typo) are reported in `unknown_models`, never a crash."""
    path = Path(path) if path else votes_path()
    if not path.exists():
        return VoteSet(votes=[])
    problems: list[JsonlProblem] = []
    votes: list[ArenaVote] = []
    notes: list[str] = []
    for line, row in iter_jsonl(path, skip_bad=True, problems=problems):
        try:
            votes.append(ArenaVote.model_validate(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(row)"
            notes.append(f"{path}:{line}: field '{field}': {first['msg']}")
    notes = [f"{path}:{p.line}: {p.problem}" for p in problems] + notes
    ids = sorted({v.model_a for v in votes} | {v.model_b for v in votes})
    if known is not None:
        unknown = [m for m in ids if m not in known]
    else:
        unknown = [m for m in ids if not _is_known(m)]
    return VoteSet(votes=votes, problems=notes, unknown_models=unknown)


def votes_to_comparisons(votes: Sequence[ArenaVote]) -> list[Comparison]:
    side = {"A": "a", "B": "b", "tie": "tie", "both_bad": "both_bad"}
    return [
        Comparison(model_a=v.model_a, model_b=v.model_b, winner=side[v.choice], cluster=v.prompt)
        for v in votes
    ]


class ArenaLeaderboard(BaseModel):
    leaderboard: Leaderboard | None
    n_votes: int
    unknown_models: list[str]
    problems: list[str]


def leaderboard_from_votes(
    votes: Sequence[ArenaVote],
    *,
    anchor: str | None = None,
    rounds: int = 1000,
    seed: int = 0,
    problems: Sequence[str] = (),
    unknown_models: Sequence[str] = (),
) -> ArenaLeaderboard:
    """BT ratings with bootstrap intervals (prompt clusters resampled) over `votes`, wherever
    they were stored: one user's `votes.jsonl`, or a class's per-voter files."""
    board = None
    notes = list(problems)
    if votes and all(v.choice == "both_bad" for v in votes):
        # "Both bad" says nothing about which system is better: nothing to rate yet.
        notes.append(
            f"{len(votes)} vote(s) so far, all 'both bad': ratings start with the first vote "
            "for A, for B or a tie."
        )
    elif votes:
        present = {v.model_a for v in votes} | {v.model_b for v in votes}
        board = leaderboard(
            votes_to_comparisons(votes),
            anchor=anchor if anchor in present else None,
            rounds=rounds,
            seed=seed,
        )
    return ArenaLeaderboard(
        leaderboard=board,
        n_votes=len(votes),
        unknown_models=list(unknown_models),
        problems=notes,
    )


def arena_leaderboard(
    path: Path | str | None = None,
    *,
    anchor: str | None = None,
    rounds: int = 1000,
    seed: int = 0,
    drop_unknown: bool = False,
    known: set[str] | None = None,
) -> ArenaLeaderboard:
    """BT ratings with bootstrap intervals over all stored votes (prompt clusters resampled)."""
    vs = load_votes(path, known)
    votes = vs.votes
    if drop_unknown:
        bad = set(vs.unknown_models)
        votes = [v for v in votes if v.model_a not in bad and v.model_b not in bad]
    return leaderboard_from_votes(
        votes,
        anchor=anchor,
        rounds=rounds,
        seed=seed,
        problems=vs.problems,
        unknown_models=vs.unknown_models,
    )


class DpoExport(BaseModel):
    path: str
    n_pairs: int
    skipped_ties: int
    skipped_both_bad: int


def export_dpo_pairs(
    output: Path | str, path: Path | str | None = None, *, include_models: Sequence[str] = ()
) -> DpoExport:
    """Decisive votes as TRL conversational preference rows (`prompt`/`chosen`/`rejected`
    message lists), each keeping its vote id, voter and models. Ties and both-bad are skipped
    (a both-bad vote needs a correction before it can teach anything)."""
    import json

    vs = load_votes(path)
    lines: list[str] = []
    ties = both_bad = 0
    for v in vs.votes:
        if include_models and not ({v.model_a, v.model_b} & set(include_models)):
            continue
        if v.choice == "tie":
            ties += 1
            continue
        if v.choice == "both_bad":
            both_bad += 1
            continue
        win_a = v.choice == "A"
        row = {
            "prompt": [{"role": "user", "content": v.prompt}],
            "chosen": [{"role": "assistant", "content": v.response_a if win_a else v.response_b}],
            "rejected": [{"role": "assistant", "content": v.response_b if win_a else v.response_a}],
            "chosen_model": v.model_a if win_a else v.model_b,
            "rejected_model": v.model_b if win_a else v.model_a,
            "source_vote_id": v.vote_id,
            "voter": v.voter,
            "created_at": v.created_at,
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    out = Path(output)
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    return DpoExport(
        path=str(out), n_pairs=len(lines), skipped_ties=ties, skipped_both_bad=both_bad
    )
