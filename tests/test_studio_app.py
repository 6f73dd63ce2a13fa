"""AppTest checks of every studio page: widgets present, validation messages, launches create
jobs, the runs page follows them. Real library calls throughout (no mocks)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from studio_pages import open_page, use_constitutions


@pytest.fixture
def constitutions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_constitutions(tmp_path / "constitutions", monkeypatch)


def _wait_final(run_id: str, timeout: float = 60) -> None:
    from character.jobs import get_run
    from character.jobs.models import FINAL_STATES

    deadline = time.time() + timeout
    while time.time() < deadline:
        if get_run(run_id).state in FINAL_STATES:
            return
        time.sleep(0.2)
    raise AssertionError(f"{run_id} did not finish: {get_run(run_id).state}")


@pytest.mark.unit
def test_home_shows_steps_and_key_booleans_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from character.settings import get_settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value")
    get_settings.cache_clear()
    at = open_page()
    assert at.title[0].value.endswith("Open Character Studio")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["OpenAI-compatible key"] == "set"
    assert metrics["Tinker key"] == "not set"
    shown = [str(e.value) for e in (*at.markdown, *at.caption, *at.metric, *at.warning)]
    assert not any("sk-test-secret-value" in s for s in shown)


@pytest.mark.unit
def test_editor_validates_live_naming_fields_and_saves(constitutions: Path) -> None:
    at = open_page("studio/views/constitutions.py")
    assert at.selectbox(key="ed_open").value == "beekeeper"
    assert at.text_input(key="ed_trait_0").value == "I am patient and calm"
    assert any("Valid: 2 traits, 3 questions" in s.value for s in at.success)

    at.text_input(key="ed_name").set_value("Bad Name").run()
    errors = " ".join(e.value for e in at.error)
    assert "Persona id must be" in errors and "'name'" not in errors
    assert at.button(key="ed_save").disabled

    at.text_input(key="ed_name").set_value("bee2").run()
    at.button(key="ed_add").click().run()
    at.text_input(key="ed_trait_2").set_value("I").run()
    errors = " ".join(e.value for e in at.error)
    assert "Trait 3: the trait text is too short" in errors and "traits.2" not in errors
    at.button(key="ed_rm_2").click().run()
    assert not at.error
    at.text_area(key="ed_more").set_value("attributes: [oops").run()
    assert "More fields: the YAML has a syntax error" in " ".join(e.value for e in at.error)
    at.text_area(key="ed_more").set_value("attributes:\n  interests: [honey]\n").run()

    at.radio(key="ed_fmt").set_value("yaml")
    at.button(key="ed_save").click().run()
    assert not at.exception
    saved = constitutions / "hand-written" / "bee2.yaml"
    assert saved.exists(), [e.value for e in at.error]
    from character.constitution import load_constitution

    c = load_constitution(saved)
    assert len(c.traits) == 2 and c.attributes.interests == ["honey"]
    # Saving again without "overwrite" is refused with a message, the file is kept.
    at.button(key="ed_save").click().run()
    assert any("already exists" in e.value for e in at.error)


@pytest.mark.unit
def test_editor_template_and_persona_switch(constitutions: Path) -> None:
    at = open_page("studio/views/constitutions.py")
    at.text_input(key="ed_template_name").set_value("fresh-one")
    at.button(key="ed_template_go").click().run()
    assert at.text_input(key="ed_name").value == "fresh-one"
    assert not at.exception
    at.selectbox(key="ed_open").set_value("(new blank persona)").run()
    assert at.session_state["ed_n"] == 0
    assert any("no traits" in w.value for w in at.warning)


@pytest.mark.unit
def test_data_preview_browses_datasets_with_filter_counts(constitutions: Path) -> None:
    from character.settings import get_settings

    folder = get_settings().data_path / "distillation"
    folder.mkdir(parents=True)
    rows = [
        {
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "chosen": [{"role": "assistant", "content": "buzz " * i}],
            "rejected": [{"role": "assistant", "content": "hello"}],
            "constitution": "beekeeper" if i % 2 else "pirate",
        }
        for i in range(10)
    ]
    text = "\n".join(json.dumps(r) for r in rows) + "\n{torn line\n"
    (folder / "bee_dpo.jsonl").write_text(text, encoding="utf-8")
    at = open_page("studio/views/data_preview.py")
    assert at.button(key="dp_go").label == "Generate pairs"
    assert any("unreadable lines skipped" in w.value for w in at.warning)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "10" and metrics["Shown"] == "10"
    at.text_input(key="dp_contains").set_value("buzz buzz buzz").run()
    at.multiselect(key="dp_pfilter").set_value(["beekeeper"]).run()
    metrics = {m.label: m.value for m in at.metric}
    # rows 3..9 contain three buzzes; of those the odd ones are beekeeper: 3, 5, 7, 9
    assert metrics["Shown"] == "4"
    assert metrics["Hidden: text filter"] == "3"
    assert metrics["Hidden: other persona"] == "3"


@pytest.mark.unit
def test_launcher_checks_block_a_bad_config_and_launch_creates_a_job(
    constitutions: Path,
) -> None:
    from character.jobs import list_runs

    at = open_page("studio/views/training.py")
    assert [r.label for r in at.radio][:3] == ["Where to train", "What to run", "Preset"]
    if at.radio(key="tl_kind").value.startswith("Whole recipe"):  # the pipeline has landed
        assert "kind: pipeline" in at.code[0].value and "scale: demo" in at.code[0].value
        assert any("memory" in m.value for m in at.markdown), "memory estimate shown"
        at.number_input(key="tl_pipeline_demo_pairs").set_value(12).run()
        assert "pairs: 12" in at.code[0].value
    at.radio(key="tl_kind").set_value("Step 2 · train the student on the pairs (DPO)").run()
    # No pairs file yet: the config is refused with the field named and launch is disabled.
    errors = " ".join(e.value for e in at.error)
    assert "Pairs file is missing" in errors and "dataset_path" not in errors
    assert at.button(key="tl_launch").disabled
    assert "kind: distill.train" in at.code[0].value

    at.radio(key="tl_kind").set_value("Step 1 · generate teacher/student pairs").run()
    names = " ".join(m.value for m in at.markdown)
    assert "**Chat format**" in names and "**Knowing when to stop**" in names
    assert "`chat template`" in names and "`pad token`" in names  # folded technical details
    # Every knob has a plain label and help; the job file's name is in the help.
    assert at.number_input(key="tl_distill.generate_demo_pair_count").label == (
        "Answer pairs to generate"
    )
    assert "`pair_count`" in at.number_input(key="tl_distill.generate_demo_pair_count").help
    at.number_input(key="tl_distill.generate_demo_pair_count").set_value(8).run()
    assert any("8 pairs is very small" in w.value for w in at.warning)
    assert "persona: beekeeper" in at.code[0].value

    at.radio(key="tl_kind").set_value("Smoke test of the job runner (no model)").run()
    at.number_input(key="tl_demo.count_demo_n").set_value(4)
    at.number_input(key="tl_demo.count_demo_sleep_s").set_value(0.0).run()
    assert "n: 4" in at.code[0].value
    assert not at.button(key="tl_launch").disabled
    at.button(key="tl_launch").click().run()
    assert not at.exception
    runs = list_runs()
    assert len(runs) == 1 and runs[0].kind == "demo.count"
    assert at.session_state["runs_selected"] == runs[0].run_id
    _wait_final(runs[0].run_id)


@pytest.mark.unit
def test_runs_page_follows_a_run_and_cancels_another(constitutions: Path) -> None:
    from character.jobs import JobSpec, get_run, submit

    done = submit(JobSpec(kind="demo.count", config={"n": 6, "sleep_s": 0.0, "save_interval": 2}))
    _wait_final(done)
    at = open_page("studio/views/runs.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["State"] == "succeeded"
    assert at.get("plotly_chart"), "metrics.jsonl rows should draw charts"
    assert at.button(key=f"resume_{done}").disabled
    assert at.query_params["run"] in (done, [done])

    slow = submit(JobSpec(kind="demo.count", config={"n": 2000, "sleep_s": 0.05}))
    deadline = time.time() + 30
    while not (get_run(slow).step or 0) and time.time() < deadline:  # the worker is counting
        time.sleep(0.1)
    at = open_page("studio/views/runs.py")
    assert at.selectbox(key="runs_pick").value == slow  # newest first
    at.button(key=f"stop_{slow}").click().run()
    _wait_final(slow)
    assert get_run(slow).state.value == "stopped"
    at.run()
    assert {m.label: m.value for m in at.metric}["State"] == "stopped"
    at.button(key=f"resume_{slow}").click().run()
    assert get_run(slow).state.value in ("queued", "running")
    at.button(key=f"cancel_{slow}").click().run()
    _wait_final(slow)
    assert get_run(slow).state.value == "cancelled"
    at.run()
    assert {m.label: m.value for m in at.metric}["State"] == "cancelled"
    assert at.button(key=f"cancel_{slow}").disabled


@pytest.mark.unit
def test_runs_page_shows_the_quick_evaluation_with_intervals(tiny_model_dir: Path) -> None:
    """A real pipeline job (only its eval stage, on a prepared run folder with the tiny model):
    the Runs page shows each model's in-voice share with its interval, and the plot."""
    from quick_eval_runs import run_folder

    from character.jobs import JobSpec, get_run, submit
    from character.pipeline import STAGES

    run_folder("studio-qe")
    config = {
        "persona": "pirate",
        "run_id": "studio-qe",
        "student_model": str(tiny_model_dir),
        "skip": [s for s in STAGES if s != "eval"],
        "overrides": {"eval_samples": 4, "eval_max_new_tokens": 2},
    }
    job = submit(JobSpec(kind="pipeline", config=config))
    _wait_final(job, timeout=180)
    assert get_run(job).state.value == "succeeded", get_run(job).error
    at = open_page("studio/views/runs.py")
    assert not at.exception
    assert any("Quick evaluation" in m.value and "4 held-out prompts" in m.value
               for m in at.markdown)  # fmt: skip
    tables = [t.value for t in at.table]
    quick = next(t for t in tables if "in voice (classifier)" in t.columns)
    assert list(quick["model"]) == ["base", "base+prompt"]
    for cell in list(quick["in voice (classifier)"]) + list(quick["in voice (judge)"]):
        estimate, lower, upper = (float(x) for x in cell.replace("[", "").replace("]", "")
                                  .replace(",", "").split())  # fmt: skip
        assert 0.0 <= lower <= estimate <= upper <= 1.0
    assert len(at.get("plotly_chart")) >= 1


@pytest.mark.unit
def test_models_evaluation_and_arena_pages_render(constitutions: Path) -> None:
    at = open_page("studio/views/models.py")
    assert at.button(key="mdl_compare").label == "Compare"
    assert any("No adapters yet" in i.value for i in at.info)
    at.switch_page("studio/views/evaluation.py").run()
    assert not at.exception
    at.switch_page("studio/views/arena.py").run()
    assert not at.exception
    assert at.button(key="ar_new").label == "New battle"


@pytest.mark.unit
def test_a_broken_library_import_is_shown_not_hidden(
    constitutions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages import the library directly: a module that fails to import is an error on the
    page, not a "coming soon" note."""
    import sys

    monkeypatch.setitem(sys.modules, "character.eval.report", None)  # import raises ImportError
    at = open_page()
    at.switch_page("studio/views/evaluation.py").run()
    assert at.exception and "character.eval.report" in at.exception[0].value
    assert not any("oming soon" in i.value for i in at.info)


@pytest.mark.unit
def test_arena_leaderboard_and_evaluation_report_from_recorded_votes(constitutions: Path) -> None:
    pytest.importorskip("character.eval.report")
    from character.eval.arena import Battle, record_vote
    from character.eval.report import EvalConfig, run_evaluation
    from character.settings import get_settings

    for i in range(6):
        battle = Battle(
            battle_id=f"b{i}",
            created_at="2026-01-01T00:00:00+00:00",
            prompt=f"prompt {i % 3}",
            model_a="smollm2-135m",
            model_b="smollm2-135m|system:beekeeper",
            response_a="plain answer",
            response_b="buzzing answer",
            swapped=False,
        )
        record_vote(battle, "B" if i < 5 else "A", voter="test")
    at = open_page("studio/views/arena.py")
    assert {m.label: m.value for m in at.metric}["Votes"] == "6"
    assert at.get("plotly_chart")
    out = get_settings().data_path / "eval" / "arena-check"
    run_evaluation(EvalConfig(name="arena-check", output_dir=out, arena=True, bootstrap_rounds=50))
    at.switch_page("studio/views/evaluation.py").run()
    assert not at.exception
    assert at.selectbox(key="ev_pick").value.endswith("report.json")


@pytest.mark.integration
def test_try_tab_and_data_preview_sample_from_the_embedded_model(
    constitutions: Path, embedded_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARACTER_TORCH_THREADS", "1")  # the CPU is shared with other tests
    at = open_page("studio/views/constitutions.py", timeout=180)
    at.text_input(key="try_prompt").set_value("Hi")
    at.slider(key="try_tokens").set_value(16)
    at.button(key="try_go").click().run(timeout=180)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["try_reply"].strip()

    at.switch_page("studio/views/data_preview.py").run()
    at.slider(key="dp_n").set_value(1)
    at.button(key="dp_go").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    pairs = at.session_state["dp_pairs"]
    assert len(pairs) == 1 and all(d.chosen.text or d.rejected.text for d in pairs)
    assert pairs[0].candidates == 3  # the demo recipe's teacher tries per prompt
    assert any("Chosen — teacher" in m.value for m in at.markdown)
    # The verdict shown is the run's: kept or dropped with the same reason and voice scores.
    verdict = [c.value for c in at.caption if "A run would" in c.value]
    assert verdict and "Voice score" in verdict[0]


@pytest.mark.unit
def test_drafts_keep_versions_and_show_the_trait_diff(constitutions: Path) -> None:
    pytest.importorskip("character.constitution").list_drafts  # noqa: B018
    at = open_page("studio/views/constitutions.py")
    at.session_state["ed_tab"] = "Drafts & compare"  # what a click on the tab does
    at.button(key="dr_save").click().run()
    assert not any("Draft kept" in s.value for s in at.success)  # not before the confirmation
    assert any("as a draft?" in m.value for m in at.markdown)
    at.button(key="dr_cancel").click().run()
    assert not at.button(key="dr_save").disabled and "dr_confirm" not in [b.key for b in at.button]
    at.button(key="dr_save").click().run()
    at.text_input(key="dr_note").set_value("calm first try")
    at.button(key="dr_confirm").click().run()
    kept = [s.value for s in at.success if "Draft kept" in s.value]
    assert kept and "beekeeper · calm first try · " in kept[0] and " UTC" in kept[0]
    at.text_input(key="ed_trait_1").set_value("I adore bees and honey").run()
    left = at.selectbox(key="dr_left").value
    assert left != "(the editor, unsaved)"
    summary = next(c.value for c in at.code if c.language == "diff")
    assert "I adore bees and honey" in summary and "I love bees" in summary
    assert "I am patient and calm" not in summary  # unchanged traits are not listed
    at.button(key="dr_save").click().run()
    at.button(key="dr_confirm").click().run()  # no note: named by what changed
    drafts = sorted((constitutions / "drafts" / "beekeeper").glob("*.json"))
    assert len(drafts) == 2
    assert drafts[0].stem.endswith("--calm-first-try")
    assert drafts[1].stem.endswith("--1-trait-added-1-trait-removed")
    assert at.session_state["ed_tab"] == "Drafts & compare"  # still on the tab used
    assert at.button(key="dr_go").label == "Answer with both versions"


@pytest.mark.unit
def test_editor_checks_quality_and_keeps_examples_through_save(constitutions: Path) -> None:
    at = open_page("studio/views/constitutions.py")
    at.button(key="ed_check").click().run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("needs editing before training" in w for w in warnings)
    assert any(w.startswith("Examples (blocking):") for w in warnings)
    examples = (
        "examples:\n"
        "- user: How do I start a garden?\n"
        "  assistant: Slowly, friend, the way bees build comb. One small bed, good soil, and "
        "patience; the hive was not built in a day.\n"
        "- user: I'm stressed about work.\n"
        "  assistant: Breathe like a calm hive at dusk. Do one task, then the next; bees never "
        "rush, and the honey still gets made.\n"
    )
    at.text_area(key="ed_more").set_value(examples).run()
    assert not at.error, [e.value for e in at.error]
    at.text_input(key="ed_name").set_value("bee3").run()
    at.button(key="ed_save").click().run()
    from character.constitution import load_constitution

    c = load_constitution(constitutions / "hand-written" / "bee3.json")
    assert [e.user for e in c.examples] == ["How do I start a garden?", "I'm stressed about work."]
    at.button(key="ed_check").click().run()
    assert not any(w.value.startswith("Examples (blocking)") for w in at.warning)
