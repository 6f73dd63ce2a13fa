"""The ready-trained demo persona: a recipe run's final adapter (stacked on the run's merged
DPO model, as the recipe makes it) installed into the model cache, found, resolved as
`demo:<name>` and loaded after the run folder is gone; nothing else on disk is touched.
Real tiny model and LoRA folders, real studio pages (AppTest)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every file under `root` (except under `skip`) with a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and skip not in p.parents
    }


def _fake_run(runs: Path, tiny_model_dir: Path, tiny_lora_dir: Path, *, sft_done: bool = True):
    """A recipe run folder as `run_pipeline` leaves it: the SFT adapter on `merged-dpo/`."""
    run = runs / "pirate-demo"
    shutil.copytree(tiny_model_dir, run / "merged-dpo")
    shutil.copytree(tiny_lora_dir, run / "sft")
    cfg_path = run / "sft" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = str(run / "merged-dpo")
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    (run / "sft" / "checkpoint-2").mkdir()
    (run / "sft" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (run / "sft" / "training_args.bin").write_bytes(b"\0")
    (run / "sft" / ".open-character.json").write_text("{}")
    sft = {"status": "done", "seconds": 3.5, "adapter": str(run / "sft")}
    summary = {
        "run_id": "pirate-demo",
        "persona": "pirate",
        "constitution_hash": "abc123",
        "scale": "demo",
        "student_model": "smollm2-135m",
        "stages": {
            "dpo": {"status": "done", "seconds": 12.0, "adapter": str(run / "dpo")},
            "sft": sft if sft_done else {"status": "failed", "error": "boom"},
            "eval": {
                "status": "done",
                "seconds": 2.0,
                "path": str(run / "eval" / "quick_eval.json"),
                "in_voice_dpo_sft": 0.5,
                "in_voice_dpo_sft_ci": [0.2, 0.8],
            },
        },
    }
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The model cache in tmp_path, with the demo folder at its default place inside it."""
    from character.settings import get_settings

    monkeypatch.delenv("CHARACTER_DEMO_PERSONAS_DIR", raising=False)
    monkeypatch.setenv("CHARACTER_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    return tmp_path / "cache"


def _logits(model_dir: Path, adapter: Path):  # noqa: ANN202
    import torch

    from character.models.loading import load_causal_lm

    model, tok = load_causal_lm(model_dir, adapter=adapter, dtype="float32", device="cpu")
    ids = tok("Ahoy, who are you?", return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits


def test_install_find_resolve_and_load_without_the_run(
    tmp_path: Path, cache: Path, tiny_model_dir: Path, tiny_lora_dir: Path
) -> None:
    import torch

    from character.demo_persona import (
        demo_persona_path,
        find_demo_persona,
        install_demo_persona,
        list_demo_personas,
    )
    from character.models.registry import UnknownModelError, list_models, local_paths, resolve

    run = _fake_run(tmp_path / "data" / "runs", tiny_model_dir, tiny_lora_dir)
    assert find_demo_persona("pirate") is None and list_demo_personas() == []
    with pytest.raises(UnknownModelError, match="make demo-persona"):
        resolve("demo:pirate")
    expected = _logits(run / "merged-dpo", run / "sft")
    before = _snapshot(tmp_path, skip=cache / "demo-personas")

    demo = install_demo_persona(run, made_by="test")

    # Nothing but the demo folder was written; the run folder is byte for byte as it was.
    assert _snapshot(tmp_path, skip=cache / "demo-personas") == before
    root = cache / "demo-personas"
    assert demo.folder == demo_persona_path("pirate") == root / "pirate"
    assert [p.name for p in root.iterdir()] == ["pirate"]  # no staging folder left behind
    assert demo.ref == "demo:pirate" and demo.label == "ready-trained demo: Pirate"
    m = demo.manifest
    assert (m.persona, m.base_model, m.run_id, m.made_by) == (
        "pirate",
        "smollm2-135m",
        "pirate-demo",
        "test",
    )
    assert m.recipe == "character pipeline --scale demo" and m.stacked_on_merged_dpo
    assert m.quick_eval == {"in_voice_dpo_sft": 0.5, "in_voice_dpo_sft_ci": [0.2, 0.8]}
    assert m.stage_seconds == {"dpo": 12.0, "sft": 3.5, "eval": 2.0}
    installed = sorted(p.name for p in demo.adapter_dir.iterdir())
    assert "adapter_config.json" in installed and "adapter_model.safetensors" in installed
    assert not {"checkpoint-2", "training_args.bin", ".open-character.json"} & set(installed)
    assert json.loads((demo.adapter_dir / "adapter_config.json").read_text())[
        "base_model_name_or_path"
    ] == str(demo.folder / "base")

    found = find_demo_persona("pirate")
    assert found is not None and found.manifest == m
    assert [d.ref for d in list_demo_personas()] == ["demo:pirate"]
    spec = resolve("demo:pirate")
    assert spec.kind == "local" and spec.adapter == demo.adapter_dir
    assert local_paths(spec) == (demo.folder / "base", demo.adapter_dir)
    row = next(r for r in list_models() if r["ref"] == "demo:pirate")
    assert row["description"].startswith("ready-trained demo: Pirate")

    # The demo no longer needs the run: same logits from the cache copy after it is deleted.
    shutil.rmtree(run)
    base, adapter = local_paths(resolve("demo:pirate"))
    assert torch.allclose(_logits(base, adapter), expected)

    # Installing again replaces the demo in place, still with no leftovers.
    again = install_demo_persona(
        _fake_run(tmp_path / "data" / "runs", tiny_model_dir, tiny_lora_dir), made_by="again"
    )
    assert again.manifest.made_by == "again"
    assert [p.name for p in root.iterdir()] == ["pirate"]


def test_an_unfinished_run_is_refused_and_writes_nothing(
    tmp_path: Path, cache: Path, tiny_model_dir: Path, tiny_lora_dir: Path
) -> None:
    from character.demo_persona import DemoPersonaError, install_demo_persona

    run = _fake_run(tmp_path / "data" / "runs", tiny_model_dir, tiny_lora_dir, sft_done=False)
    before = _snapshot(tmp_path, skip=tmp_path / "nothing")
    with pytest.raises(DemoPersonaError, match="SFT stage has not finished"):
        install_demo_persona(run)
    with pytest.raises(DemoPersonaError, match="no summary.json"):
        install_demo_persona(tmp_path / "data")
    assert _snapshot(tmp_path, skip=tmp_path / "nothing") == before
    assert not (cache / "demo-personas" / "pirate").exists()


def test_a_moved_demo_folder_is_not_offered(
    tmp_path: Path, cache: Path, tiny_model_dir: Path, tiny_lora_dir: Path
) -> None:
    """The adapter records its base by absolute path: after the cache moves it would not load,
    so it is not listed (the Home page then says how to make it again)."""
    from character.demo_persona import find_demo_persona, install_demo_persona

    install_demo_persona(_fake_run(tmp_path / "data" / "runs", tiny_model_dir, tiny_lora_dir))
    shutil.move(cache, tmp_path / "moved-cache")
    assert find_demo_persona("pirate") is None


def test_studio_pickers_list_the_demo_and_home_says_how_to_make_it(
    tmp_path: Path, cache: Path, tiny_model_dir: Path, tiny_lora_dir: Path
) -> None:
    from studio_pages import open_page

    from character.demo_persona import install_demo_persona

    home = open_page()
    assert any("make demo-persona" in i.value for i in home.info)

    install_demo_persona(_fake_run(tmp_path / "data" / "runs", tiny_model_dir, tiny_lora_dir))
    home = open_page()
    assert not any("make demo-persona" in i.value for i in home.info)
    assert any("ready-trained demo: Pirate" in m.value for m in home.markdown)

    links = [e.proto for e in home.get("page_link")]
    chat = next(x for x in links if "Chat with the ready-trained demo: Pirate" in x.label)
    assert "model=demo%3Apirate" in chat.query_string or "model=demo:pirate" in chat.query_string

    # What that link does: Models opens with the demo in the chat picker.
    from streamlit.testing.v1 import AppTest
    from studio_pages import APP

    linked = AppTest.from_file(APP, default_timeout=60)
    linked.query_params["model"] = "demo:pirate"
    linked.run()
    linked.switch_page("studio/views/models.py").run()
    assert not linked.exception, linked.exception
    assert linked.selectbox(key="mdl_chat_model").value == "demo:pirate"

    label = "ready-trained demo: Pirate"
    at = open_page("studio/views/models.py")
    picker = at.selectbox(key="mdl_chat_model")
    assert any(o.startswith(label) for o in picker.options), picker.options
    assert picker.value == "smollm2-135m"  # listed, never forced on a student
    picker.set_value("demo:pirate").run()
    assert not at.exception, at.exception

    at.switch_page("studio/views/arena.py").run()  # the chat pick follows to the arena
    assert at.selectbox(key="ar_m1").value == "demo:pirate"
    assert any(o.startswith(label) for o in at.selectbox(key="ar_m2").options)

    at.switch_page("studio/views/export.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ex_adapter").value == "demo:pirate"
    assert label in at.selectbox(key="ex_adapter").options
    names = [b.label for b in at.get("download_button")]
    assert any(n.startswith("Download this adapter (.zip, ") for n in names), names
