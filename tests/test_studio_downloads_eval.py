"""Download buttons serve the real files (adapters and exports as zips, datasets, reports,
logs), and every evaluation starts from the Evaluation page as a background job."""

from __future__ import annotations

import json
import mimetypes
import time
import zipfile
from pathlib import Path

import pytest
from studio_pages import open_page, use_constitutions

pytestmark = pytest.mark.unit


@pytest.fixture
def constitutions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_constitutions(tmp_path / "constitutions", monkeypatch)


def _served(at, key: str) -> str:  # noqa: ANN001
    """The media id a download button serves (a hash of exactly the bytes it hands out)."""
    [button] = [b for b in at.get("download_button") if b.proto.id.endswith(key)]
    assert button.proto.url, f"{key} has no data"
    return Path(button.proto.url).stem


def _id_of(data: bytes, mime: str, name: str) -> str:
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    return _calculate_file_id(data, mime, name)


def _adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": "smollm2-135m"})
    )
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 4096)
    return folder


def _stop_all_runs() -> None:
    from character.jobs import cancel, get_run, list_runs
    from character.jobs.models import FINAL_STATES

    for r in list_runs():
        if get_run(r.run_id).state not in FINAL_STATES:
            cancel(r.run_id)
    deadline = time.time() + 60
    while any(get_run(r.run_id).state not in FINAL_STATES for r in list_runs()):
        assert time.time() < deadline
        time.sleep(0.2)


def test_zip_folder_streams_to_disk_and_is_reused_while_unchanged(tmp_path: Path) -> None:
    from character.export.archive import human_size, zip_folder

    folder = _adapter(tmp_path / "gguf")
    (folder / "Modelfile").write_text("FROM ./model.gguf\n")
    first = zip_folder(folder, tmp_path / "zips")
    with zipfile.ZipFile(first.path) as zf:
        assert sorted(zf.namelist()) == [
            "gguf/Modelfile",
            "gguf/adapter_config.json",
            "gguf/adapter_model.safetensors",
        ]
        assert zf.read("gguf/Modelfile") == b"FROM ./model.gguf\n"
        # dense weights are stored, text is compressed
        assert zf.getinfo("gguf/adapter_model.safetensors").compress_type == zipfile.ZIP_STORED
    assert first.files == 3 and first.bytes > 4096
    assert zip_folder(folder, tmp_path / "zips").path == first.path  # reused
    (folder / "Modelfile").write_text("FROM ./model.gguf\nPARAMETER temperature 0.7\n")
    assert zip_folder(folder, tmp_path / "zips").path != first.path  # changed: a new zip
    assert not list((tmp_path / "zips").glob(".*"))  # no temporary files left behind
    assert human_size(812) == "812 B" and human_size(4_200_000) == "4.2 MB"
    with pytest.raises(FileNotFoundError):
        zip_folder(tmp_path / "missing")


def test_export_data_and_runs_pages_offer_downloads_of_the_real_files(
    constitutions: Path,
) -> None:
    from character.export.archive import zip_folder
    from character.export.pipeline import export_adapter_package
    from character.jobs import JobSpec, submit, wait
    from character.settings import get_settings

    data = get_settings().data_path
    adapter = _adapter(get_settings().checkpoints / "beekeeper-dpo")
    package = data / "exports" / "beekeeper" / "adapter"
    export_adapter_package(adapter, package)

    at = open_page("studio/views/export.py")
    zipped = zip_folder(adapter).path.read_bytes()
    name = "beekeeper-dpo-adapter.zip"
    assert _served(at, "ex_dl_adapter") == _id_of(zipped, "application/zip", name)
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Download this adapter (.zip, ") for label in labels)
    assert any(label.startswith("Download the adapter (.zip") for label in labels), labels
    exported = zip_folder(package).path.read_bytes()
    with zipfile.ZipFile(zip_folder(package).path) as zf:
        assert "adapter/manifest.json" in zf.namelist()
    assert _served(at, "ex_dl_0") == _id_of(exported, "application/zip", "beekeeper-adapter.zip")

    pairs = data / "distillation" / "beekeeper_dpo.jsonl"
    pairs.parent.mkdir(parents=True)
    pairs.write_text(json.dumps({"prompt": "hi", "chosen": "buzz", "rejected": "hello"}) + "\n")
    at.switch_page("studio/views/data_preview.py").run()
    assert not at.exception, at.exception
    mime = mimetypes.guess_type(pairs.name)[0] or "application/octet-stream"
    assert _served(at, "dp_dl") == _id_of(pairs.read_bytes(), mime, pairs.name)

    run_id = submit(JobSpec(kind="demo.count", config={"n": 3, "sleep_s": 0.0}))
    wait(run_id, timeout_s=60)
    at.switch_page("studio/views/runs.py").run()
    assert not at.exception, at.exception
    log = (data / "runs" / run_id / "log.txt").read_bytes()
    assert log.strip()
    assert _served(at, f"log_dl_{run_id}") == _id_of(log, "text/plain", f"{run_id}-log.txt")


def test_every_evaluation_starts_from_the_page_as_a_job(constitutions: Path) -> None:
    from character.jobs import get_spec, list_runs
    from character.settings import get_settings

    pairs = get_settings().data_path / "distillation" / "beekeeper_dpo.jsonl"
    pairs.parent.mkdir(parents=True)
    rows = [
        {"prompt": f"q{i}", "chosen": f"Buzz, my bees {i}!", "rejected": f"I am an AI {i}."}
        for i in range(12)
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))

    at = open_page("studio/views/evaluation.py")
    assert not any("terminal" in i.value for i in at.info)
    assert any("No evaluation reports yet" in i.value for i in at.info)
    assert at.selectbox(key="ev_persona").value == "beekeeper"
    assert at.number_input(key="ev_prompts").help  # every knob has help

    # Robustness trains a classifier first from the pairs file when none exists yet.
    at.radio(key="ev_what").set_value("robustness").run()
    assert at.selectbox(key="ev_classifier").value == "(train one first from the pairs file)"
    assert at.selectbox(key="ev_dataset").value.endswith("beekeeper_dpo.jsonl")
    at.number_input(key="ev_prompts").set_value(2)
    at.button(key="ev_start").click().run()
    assert not at.exception, at.exception
    started = {get_spec(r.run_id).config.get("name"): r for r in list_runs()}
    assert "robustness-beekeeper" in started
    robust = get_spec(started["robustness-beekeeper"].run_id).config
    assert robust["classifier"]["train_path"] == str(pairs)
    assert robust["robustness"]["max_prompts"] == 2 and robust["robustness"]["adapters"]
    assert at.session_state["runs_selected"] == started["robustness-beekeeper"].run_id

    for what in ("classifier", "revealed", "judge"):
        at.radio(key="ev_what").set_value(what).run()
        at.button(key="ev_start").click().run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
    specs = {get_spec(r.run_id).config["name"]: get_spec(r.run_id) for r in list_runs()}
    assert all(s.kind == "eval.report" for s in specs.values())
    assert set(specs) == {
        "robustness-beekeeper",
        "classifier-beekeeper",
        "revealed-beekeeper",
        "judge-beekeeper",
    }
    judge = specs["judge-beekeeper"].config["pairwise"]
    assert judge["system_2"] == "smollm2-135m|system:beekeeper"
    assert [r["model"] for r in specs["revealed-beekeeper"].config["revealed"]] == [
        "smollm2-135m",
        "smollm2-135m",
    ]
    assert any("Started evaluation run" in s.value for s in at.success)
    _stop_all_runs()


def test_a_launch_missing_its_data_is_refused_in_plain_words(constitutions: Path) -> None:
    from character.jobs import list_runs

    at = open_page("studio/views/evaluation.py")
    at.radio(key="ev_what").set_value("classifier").run()
    assert any("No pairs file yet" in i.value for i in at.info)
    at.button(key="ev_start").click().run()
    assert [e.value for e in at.error] == ["The classifier needs a pairs file to learn from"]
    assert list_runs() == []
