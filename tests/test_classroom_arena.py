"""The class arena on real files and the tiny model: published runs and personas battle, each
person votes once per battle into their own pseudonymous file, standings come from the
Bradley–Terry fit of the single-user arena."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from character.backends.base import SamplingParams
from character.classroom import (
    ClassroomError,
    ClassroomStartConfig,
    SignIn,
    publish_persona,
    publish_run,
    session_settings,
    sign_in,
    start_classroom,
)
from character.classroom.arena import (
    BattleView,
    all_class_votes,
    class_contestants,
    class_standings,
    create_class_battle,
    my_result,
    open_battle,
    standings_figure,
    vote_class_battle,
    voter_pseudonym,
)
from character.settings import use_settings

pytestmark = pytest.mark.unit
PARAMS = SamplingParams(max_new_tokens=4, seed=0)


@pytest.fixture
def classroom(tmp_path: Path) -> Path:
    return start_classroom(
        ClassroomStartConfig(
            data_path=tmp_path / "data",
            class_code="ARENA7",
            instructor_code=SecretStr("TEACH-THE-ARENA-1"),
        )
    ).class_dir


def student(class_dir: Path, name: str):  # noqa: ANN201
    return sign_in(class_dir, SignIn(code=SecretStr("ARENA7"), name=name, pin=SecretStr("1234")))


class TrainCfg(BaseModel):
    persona: str
    adapter: str


def _trained_run(class_dir: Path, session, adapter: Path) -> str:  # noqa: ANN001
    """A finished training run in the student's workspace whose final adapter is a real LoRA
    on the tiny model (the job copies it in, as a training job would write it)."""
    from character.jobs import register_job_kind, run_foreground

    def train(config: TrainCfg, ctx) -> dict:  # noqa: ANN001
        out = ctx.run_dir / "sft"
        shutil.copytree(config.adapter, out)
        (out / "checkpoint-1").mkdir()  # trainer state: not copied to the gallery
        return {"artifacts": [{"path": str(out), "type": "adapter", "name": "SFT adapter"}]}

    register_job_kind("classtest.train", TrainCfg, train, resource="train")
    with use_settings(session_settings(class_dir, session)):
        spec = {
            "kind": "classtest.train",
            "display_name": "Pirate, trained",
            "config": {"persona": "pirate", "adapter": str(adapter)},
        }
        st = run_foreground(spec)
    assert st.state.value == "succeeded"
    return st.run_id


def test_battles_votes_once_each_and_standings(
    classroom: Path, tiny_model_dir: Path, tiny_lora_dir: Path
) -> None:
    base = str(tiny_model_dir)
    ada, bob, cy = student(classroom, "Ada"), student(classroom, "Bob"), student(classroom, "Cy")
    run_entry = publish_run(classroom, ada, _trained_run(classroom, ada, tiny_lora_dir))
    copy = classroom / "gallery" / run_entry.entry_id
    assert (copy / "adapter" / "adapter_config.json").exists()
    assert not (copy / "adapter" / "checkpoint-1").exists()
    assert run_entry.persona_file == "pirate.json" and (copy / "pirate.json").exists()
    persona_entry = publish_persona(classroom, bob, "pirate")

    found = {c.key: c for c in class_contestants(classroom, base_model=base)}
    trained, ada_prompted = run_entry.entry_id, run_entry.entry_id + "+prompt"
    bob_prompted = persona_entry.entry_id + "+prompt"
    assert set(found) == {trained, ada_prompted, bob_prompted}
    assert found[trained].mode == "trained" and found[trained].system_file is None
    assert Path(found[trained].model).is_relative_to(classroom / "gallery")  # the copy
    assert found[ada_prompted].model == base  # the adapter's own base, prompted
    assert found[trained].label == "Ada's Pirate, trained (trained)"

    # A battle shows two anonymous replies; nothing in it names a contestant.
    view = create_class_battle(classroom, cy, "Where is the treasure?", sampling=PARAMS, seed=1)
    assert set(BattleView.model_fields) == {"battle_id", "prompt", "response_a", "response_b"}
    assert open_battle(classroom, view.battle_id) == view
    assert my_result(classroom, cy, view.battle_id) is None  # not revealed before voting
    result = vote_class_battle(classroom, cy, view.battle_id, "A")
    assert {result.label_a, result.label_b} <= {c.label for c in found.values()}
    assert my_result(classroom, cy, view.battle_id) == result
    with pytest.raises(ClassroomError, match="already voted"):
        vote_class_battle(classroom, cy, view.battle_id, "B")
    vote_class_battle(classroom, bob, view.battle_id, "tie")  # another person, same battle
    with pytest.raises(ClassroomError, match="No battle"):
        vote_class_battle(classroom, cy, "../../roster", "A")

    # The trained model beats the prompted base in 5 more battles voted by three people.
    battles = [
        create_class_battle(
            classroom, ada, f"prompt {i}", keys=(trained, ada_prompted), sampling=PARAMS, seed=i
        )
        for i in range(5)
    ]
    for i, b in enumerate(battles):
        voter = (ada, bob, cy)[i % 3]
        stored = json.loads((classroom / "arena" / "battles" / f"{b.battle_id}.json").read_text())
        vote_class_battle(classroom, voter, b.battle_id, "A" if stored["key_a"] == trained else "B")

    votes, voters = all_class_votes(classroom)
    assert (len(votes), voters) == (7, 3)
    files = sorted((classroom / "arena" / "votes").glob("*.jsonl"))
    assert len(files) == 3  # one file per voter, named by a pseudonym
    pseudonyms = {voter_pseudonym(classroom, s) for s in (ada, bob, cy)}
    assert {f.stem for f in files} == pseudonyms and len(pseudonyms) == 3
    assert {v.voter for v in votes} == pseudonyms  # no vote names its voter

    board = class_standings(classroom, rounds=200, base_model=base)
    rows = {r.key: r for r in board.rows}
    assert board.n_votes == 7 and board.n_voters == 3
    assert rows[trained].rating > rows[ada_prompted].rating
    assert rows[trained].games >= 5 and rows[trained].interval_ready
    assert rows[trained].lower <= rows[trained].rating <= rows[trained].upper
    assert board.rows[0].label.startswith("Ada's")
    fig = standings_figure(board)
    bar = fig.data[0]
    assert bar.type == "bar" and fig.layout.font.size >= 20
    assert list(bar.y)[-1] == board.rows[0].label  # best on top
    assert max(bar.error_x.array) > 0  # a real 95% interval is drawn


def test_concurrent_votes_never_clash_or_double_count(
    classroom: Path, tiny_model_dir: Path
) -> None:
    ada, bob = student(classroom, "Ada"), student(classroom, "Bob")
    names = ["Cy", "Di", "Ed", "Flo"]
    voters = [student(classroom, n) for n in names]
    publish_persona(classroom, ada, "pirate")
    publish_persona(classroom, bob, "pirate")
    view = create_class_battle(
        classroom, voters[0], "Hi", sampling=PARAMS, seed=0, base_model=str(tiny_model_dir)
    )
    barrier = threading.Barrier(len(voters) * 2)
    outcomes: list[str] = []

    def cast(session) -> None:  # noqa: ANN001
        barrier.wait(10)
        try:
            vote_class_battle(classroom, session, view.battle_id, "A")
            outcomes.append("ok")
        except ClassroomError:
            outcomes.append("refused")

    threads = [threading.Thread(target=cast, args=(s,)) for s in voters * 2]  # each twice
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outcomes) == ["ok"] * 4 + ["refused"] * 4
    votes, n = all_class_votes(classroom)
    assert n == 4 and len(votes) == 4 and len({v.voter for v in votes}) == 4


def test_arena_needs_two_published_systems(classroom: Path) -> None:
    ada = student(classroom, "Ada")
    with pytest.raises(ClassroomError, match="at least two systems"):
        create_class_battle(classroom, ada, "Hi")
    with pytest.raises(ClassroomError, match="Type a prompt"):
        create_class_battle(classroom, ada, "  ")
    assert class_standings(classroom).rows == []
