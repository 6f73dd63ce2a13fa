"""The class arena: blind battles between what students published to the class gallery.

A contestant is a gallery entry: a published run's copied adapter answering with no system
prompt ("trained"), or the base model prompted with a published persona ("prompted"; a run
entry that carries its persona offers both, so a class can ask whether training beat
prompting). Nothing is read from a student's workspace: only the gallery's copies.

Layout under `<class>/arena/`: `battles/<id>.json` (what was generated, with which contestant
was on which side) and `votes/<pseudonym>.jsonl`, one file per voter, so votes cast at the same
moment never write the same file; each vote is appended and fsync'd. A voter's pseudonym is a
keyed hash of their name (the key is the class folder's secret), so the vote files say who
voted twice but not who anyone is. Each person votes once per battle. Standings are the
single-user arena's Bradley–Terry fit (`leaderboard_from_votes`) over every voter's file.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from character.backends.base import SamplingParams
from character.classroom.errors import ClassroomError
from character.classroom.gallery import gallery_adapter, gallery_file, list_gallery
from character.classroom.models import ClassSession, GalleryEntry
from character.classroom.store import class_secret
from character.eval.arena import (
    ArenaVote,
    Choice,
    contestant_id,
    generate_replies,
    leaderboard_from_votes,
)
from character.eval.bradley_terry import MIN_GAMES_FOR_INTERVAL, Rating
from character.io import append_jsonl, atomic_write_text, iter_jsonl
from character.jobs.store import file_lock

ARENA = "arena"
PROMPTED = "+prompt"
CHOICES: tuple[Choice, ...] = ("A", "B", "tie", "both_bad")


class ClassContestant(BaseModel):
    """One system the class can vote on, named by its gallery entry (never by a path)."""

    key: str = Field(description="The entry id, with '+prompt' for the prompted base model.")
    entry_id: str
    owner: str
    mode: Literal["trained", "prompted"]
    label: str = Field(description="What voters see once they have voted.")
    model: str = Field(description="Model reference the replies come from.")
    system_file: Path | None = Field(default=None, description="Persona used as system prompt.")


class ClassBattle(BaseModel):
    """`arena/battles/<battle_id>.json`: both replies and which contestant gave which."""

    battle_id: str = Field(pattern=r"^[0-9a-f]{12}$")
    created_at: str
    prompt: str
    key_a: str
    key_b: str
    label_a: str
    label_b: str
    response_a: str
    response_b: str
    sampling: dict[str, object] = Field(default_factory=dict)


class BattleView(BaseModel):
    """What a voter sees before voting: the prompt and two anonymous replies."""

    battle_id: str
    prompt: str
    response_a: str
    response_b: str


class BattleResult(BaseModel):
    """What a voter sees after voting: their choice and who was A and B."""

    battle_id: str
    choice: Choice
    label_a: str
    label_b: str


class Standing(Rating):
    """One contestant's class rating (Elo scale) with its 95% bootstrap interval; `system` is
    the gallery entry's key, `label` what the class sees."""

    label: str

    @property
    def key(self) -> str:
        return self.system

    @property
    def interval_ready(self) -> bool:
        """Enough games that the interval says something (one vote resamples to itself)."""
        return self.games >= MIN_GAMES_FOR_INTERVAL and self.upper - self.lower > 1e-6


class ClassStandings(BaseModel):
    rows: list[Standing] = Field(default_factory=list)
    n_votes: int = 0
    n_voters: int = 0
    notes: list[str] = Field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def arena_dir(class_dir: Path) -> Path:
    return class_dir / ARENA


def _base_model(base_model: str | None) -> str:
    if base_model:
        return base_model
    from character.settings import get_settings

    return get_settings().student_model


def _entry_contestants(
    class_dir: Path, entry: GalleryEntry, base_model: str
) -> list[ClassContestant]:
    from character.models.loading import adapter_base

    who = f"{entry.owner_display}'s {entry.title}"
    persona = gallery_file(class_dir, entry, entry.persona_file) if entry.persona_file else None
    adapter = gallery_adapter(class_dir, entry)
    out = []
    if adapter is not None and adapter.is_dir():
        out.append(
            ClassContestant(
                key=entry.entry_id,
                entry_id=entry.entry_id,
                owner=entry.owner,
                mode="trained",
                label=f"{who} (trained)",
                model=str(adapter),
            )
        )
    if persona is not None and persona.is_file():
        base = (adapter_base(adapter) if adapter is not None else None) or base_model
        out.append(
            ClassContestant(
                key=entry.entry_id + PROMPTED,
                entry_id=entry.entry_id,
                owner=entry.owner,
                mode="prompted",
                label=f"{who} (prompted)",
                model=base,
                system_file=persona,
            )
        )
    return out


def class_contestants(class_dir: Path, *, base_model: str | None = None) -> list[ClassContestant]:
    """Every system the class can battle, from the gallery's copies (newest entries first)."""
    base = _base_model(base_model)
    return [c for e in list_gallery(class_dir) for c in _entry_contestants(class_dir, e, base)]


def voter_pseudonym(class_dir: Path, session: ClassSession) -> str:
    """A stable name for this person's vote file that does not reveal who they are."""
    who = "instructor" if session.is_instructor else f"student:{session.user}"
    digest = hmac.new(class_secret(class_dir), who.encode("utf-8"), hashlib.sha256)
    return "v-" + digest.hexdigest()[:20]


def _battle_path(class_dir: Path, battle_id: str) -> Path:
    if not _is_battle_id(battle_id):
        raise ClassroomError(f"No battle {battle_id[:40]!r} in this class.")
    return arena_dir(class_dir) / "battles" / f"{battle_id}.json"


def _is_battle_id(battle_id: str) -> bool:
    return len(battle_id) == 12 and all(c in "0123456789abcdef" for c in battle_id)


def _pick_pair(
    contestants: list[ClassContestant], session: ClassSession, rng: random.Random
) -> tuple[ClassContestant, ClassContestant]:
    """Two contestants, preferring other people's (a student knows their own persona's
    voice); a pair from one entry (trained vs prompted) is as good as any."""
    if len(contestants) < 2:
        raise ClassroomError(
            "The class arena needs at least two systems: publish a persona or a trained run "
            "to the class gallery first."
        )
    others = [c for c in contestants if c.owner != session.user]
    pool = others if len(others) >= 2 else contestants
    first, second = rng.sample(pool, 2)
    return first, second


def create_class_battle(
    class_dir: Path,
    session: ClassSession,
    prompt: str,
    *,
    keys: tuple[str, str] | None = None,
    sampling: SamplingParams | None = None,
    seed: int | None = None,
    base_model: str | None = None,
) -> BattleView:
    """Generate two class contestants' replies to `prompt` (two picked at random unless
    `keys` names them) on random sides, store the battle, and return it without names."""
    if not prompt.strip():
        raise ClassroomError("Type a prompt for both systems to answer.")
    contestants = {c.key: c for c in class_contestants(class_dir, base_model=base_model)}
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    if keys is None:
        one, two = _pick_pair(list(contestants.values()), session, rng)
    else:
        missing = [k for k in keys if k not in contestants]
        if missing:
            raise ClassroomError(f"Not in the class gallery (any more): {', '.join(missing)}.")
        if keys[0] == keys[1]:
            raise ClassroomError("Pick two different systems.")
        one, two = contestants[keys[0]], contestants[keys[1]]
    a, b = (two, one) if rng.random() < 0.5 else (one, two)
    params = sampling or SamplingParams(max_new_tokens=120)
    replies = [
        generate_replies(
            contestant_id(c.model, str(c.system_file) if c.system_file else None), [prompt], params
        )[0]
        for c in (a, b)
    ]
    battle = ClassBattle(
        battle_id=secrets.token_hex(6),
        created_at=_now(),
        prompt=prompt.strip(),
        key_a=a.key,
        key_b=b.key,
        label_a=a.label,
        label_b=b.label,
        response_a=replies[0],
        response_b=replies[1],
        sampling=params.model_dump(),
    )
    path = _battle_path(class_dir, battle.battle_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, battle.model_dump_json(indent=2) + "\n")
    return _view(battle)


def _view(battle: ClassBattle) -> BattleView:
    return BattleView(
        battle_id=battle.battle_id,
        prompt=battle.prompt,
        response_a=battle.response_a,
        response_b=battle.response_b,
    )


def _load_battle(class_dir: Path, battle_id: str) -> ClassBattle:
    path = _battle_path(class_dir, battle_id)
    if not path.exists():
        raise ClassroomError(f"No battle {battle_id!r} in this class.")
    try:
        return ClassBattle.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ClassroomError(f"Battle {battle_id!r} cannot be read: {exc}") from exc


def open_battle(class_dir: Path, battle_id: str) -> BattleView:
    """A stored battle as a voter sees it (a classmate's battle can be shared by its id)."""
    return _view(_load_battle(class_dir, battle_id))


def _voter_file(class_dir: Path, session: ClassSession) -> Path:
    return arena_dir(class_dir) / "votes" / f"{voter_pseudonym(class_dir, session)}.jsonl"


def _my_votes(path: Path) -> list[ArenaVote]:
    if not path.exists():
        return []
    out = []
    for _, row in iter_jsonl(path, skip_bad=True):
        try:
            out.append(ArenaVote.model_validate(row))
        except ValidationError:
            continue
    return out


def _result(battle: ClassBattle, choice: Choice) -> BattleResult:
    return BattleResult(
        battle_id=battle.battle_id, choice=choice, label_a=battle.label_a, label_b=battle.label_b
    )


def vote_class_battle(
    class_dir: Path, session: ClassSession, battle_id: str, choice: Choice
) -> BattleResult:
    """Record this person's vote on a battle (once: a second vote is refused) and reveal who
    was A and who was B."""
    if choice not in CHOICES:
        raise ClassroomError("Vote A, B, tie or both bad.")
    battle = _load_battle(class_dir, battle_id)
    path = _voter_file(class_dir, session)
    with file_lock(path.with_suffix(".lock")):  # a double click cannot vote twice
        if any(v.battle_id == battle_id for v in _my_votes(path)):
            raise ClassroomError("You already voted on this battle: start a new one.")
        vote = ArenaVote(
            vote_id=secrets.token_hex(6),
            battle_id=battle_id,
            created_at=_now(),
            voter=path.stem,
            prompt=battle.prompt,
            model_a=battle.key_a,
            model_b=battle.key_b,
            response_a=battle.response_a,
            response_b=battle.response_b,
            choice=choice,
        )
        append_jsonl(path, [vote])
    return _result(battle, choice)


def my_result(class_dir: Path, session: ClassSession, battle_id: str) -> BattleResult | None:
    """Who was A and B, only for someone who has voted on the battle (else None)."""
    mine = [v for v in _my_votes(_voter_file(class_dir, session)) if v.battle_id == battle_id]
    if not mine:
        return None
    return _result(_load_battle(class_dir, battle_id), mine[0].choice)


def all_class_votes(class_dir: Path) -> tuple[list[ArenaVote], int]:
    """Every vote in the class (each voter's file) and how many people voted."""
    folder = arena_dir(class_dir) / "votes"
    votes: list[ArenaVote] = []
    voters = 0
    for path in sorted(folder.glob("v-*.jsonl")) if folder.is_dir() else []:
        mine = _my_votes(path)
        voters += bool(mine)
        votes.extend(mine)
    return votes, voters


def class_standings(
    class_dir: Path, *, rounds: int = 500, seed: int = 0, base_model: str | None = None
) -> ClassStandings:
    """Bradley–Terry ratings of every class contestant that has votes, best first, with 95%
    intervals; labels come from the gallery (a removed entry keeps its votes, named by id)."""
    votes, voters = all_class_votes(class_dir)
    labels = {c.key: c.label for c in class_contestants(class_dir, base_model=base_model)}
    result = leaderboard_from_votes(votes, rounds=rounds, seed=seed)
    notes = list(result.problems)
    rows = []
    if result.leaderboard is not None:
        notes.extend(result.leaderboard.warnings)
        for r in result.leaderboard.rows:
            rows.append(
                Standing(
                    **r.model_dump(),
                    label=labels.get(r.system, f"{r.system} (removed from the gallery)"),
                )
            )
    return ClassStandings(rows=rows, n_votes=len(votes), n_voters=voters, notes=notes)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def standings_figure(standings: ClassStandings, *, font_size: int = 22):  # noqa: ANN201
    """A horizontal Plotly bar chart of the class standings with 95% intervals, in type
    large enough for a projector. Bars start at 1000 (the class average); a contestant
    with too few games for its interval to mean anything gets no error bar."""
    import plotly.graph_objects as go

    rows = list(reversed(standings.rows))  # best on top
    base = 1000.0
    lo = min([base, *(min(r.lower, r.rating) for r in rows)])
    hi = max([base, *(max(r.upper, r.rating) for r in rows)])
    pad = max(40.0, 0.08 * (hi - lo))
    fig = go.Figure(
        go.Bar(
            x=[r.rating - base for r in rows],
            base=base,
            y=[r.label for r in rows],
            orientation="h",
            text=[f"{r.rating:.0f}" for r in rows],
            textposition="inside",
            insidetextanchor="middle",
            cliponaxis=False,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [r.upper - r.rating if r.interval_ready else 0 for r in rows],
                "arrayminus": [r.rating - r.lower if r.interval_ready else 0 for r in rows],
                "thickness": 3,
                "width": 12,
            },
            hovertext=[
                f"{r.games} games: {r.wins:g} won, {r.losses:g} lost, {r.ties} ties" for r in rows
            ],
        )
    )
    votes = _count(standings.n_votes, "vote", "votes")
    people = _count(standings.n_voters, "person", "people")
    fig.update_layout(
        title={"text": f"Class arena: {votes} from {people}", "font": {"size": font_size + 6}},
        font={"size": font_size},
        height=200 + 80 * max(1, len(rows)),
        margin={"l": 20, "r": 40, "t": 80},
    )
    fig.update_xaxes(
        title={"text": "rating (1000 = class average)"},
        title_font={"size": font_size},
        tickfont={"size": font_size},
        range=[lo - pad, hi + pad],
    )
    fig.update_yaxes(tickfont={"size": font_size}, automargin=True)
    return fig
