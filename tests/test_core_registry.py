"""Model references resolve to backends; unknown ones list what is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from character.models.registry import (
    UnknownModelError,
    build_backend,
    known_adapters,
    list_models,
    local_paths,
    resolve,
)
from character.settings import get_settings


def make_adapter(base_dir: Path, out: Path) -> Path:
    """A real (untrained) LoRA adapter on the tiny model, saved as PEFT does."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    peft_model = get_peft_model(
        model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])
    )
    peft_model.save_pretrained(str(out))
    return out


@pytest.mark.unit
@pytest.mark.parametrize(
    "ref",
    ["smollm2-135m", "embedded", "default", "", "HuggingFaceTB/SmolLM2-135M-Instruct", "EMBEDDED"],
)
def test_embedded_aliases(ref: str) -> None:
    spec = resolve(ref)
    assert (spec.kind, spec.name, spec.path, spec.adapter) == ("local", "smollm2-135m", None, None)


@pytest.mark.unit
def test_remote_references() -> None:
    assert (resolve("openai:gpt-4o-mini").kind, resolve("openai:gpt-4o-mini").name) == (
        "openai",
        "gpt-4o-mini",
    )
    spec = resolve("tinker:Qwen/Qwen3-8B")
    assert (spec.kind, spec.name) == ("tinker", "Qwen/Qwen3-8B")
    path = "tinker://0a1b-run/sampler_weights/final"
    spec = resolve(path)
    assert (spec.kind, spec.name) == ("tinker", path)


@pytest.mark.unit
def test_local_folder_and_local_prefix(tiny_model_dir: Path) -> None:
    for ref in (str(tiny_model_dir), f"local:{tiny_model_dir}"):
        spec = resolve(ref)
        assert spec.kind == "local" and spec.path == tiny_model_dir and spec.adapter is None
        assert local_paths(spec) == (tiny_model_dir, None)


@pytest.mark.unit
def test_unknown_reference_lists_known_models(tiny_model_dir: Path) -> None:
    ckpt = get_settings().checkpoints / "pirate-dpo"
    make_adapter(tiny_model_dir, ckpt)
    with pytest.raises(UnknownModelError) as info:
        resolve("no-such-model")
    msg = str(info.value)
    assert "'no-such-model'" in msg and "smollm2-135m" in msg and "pirate-dpo" in msg
    assert "openai:<model>" in msg


@pytest.mark.unit
def test_folder_that_is_no_model(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(UnknownModelError, match="neither a model folder"):
        resolve(str(folder))


@pytest.mark.unit
def test_adapter_folder_by_path_by_run_and_by_name(tiny_model_dir: Path) -> None:
    settings = get_settings()
    adapter = make_adapter(tiny_model_dir, settings.checkpoints / "pirate-dpo")
    run_adapter = make_adapter(tiny_model_dir, settings.data_path / "runs" / "r1" / "adapter")

    spec = resolve(str(adapter))
    assert spec.kind == "local" and spec.adapter == adapter and spec.label.endswith("(adapter)")
    assert local_paths(spec) == (tiny_model_dir, adapter)

    run_spec = resolve(str(run_adapter.parent))  # a run folder with adapter/ inside
    assert run_spec.adapter == run_adapter

    assert known_adapters() == {"pirate-dpo": adapter, "r1": run_adapter}
    assert resolve("pirate-dpo").adapter == adapter
    refs = [row["ref"] for row in list_models()]
    assert refs[0] == "smollm2-135m" and str(adapter) in refs and str(run_adapter) in refs


@pytest.mark.unit
def test_adapter_with_missing_base_says_so(tmp_path: Path, tiny_model_dir: Path) -> None:
    import json

    adapter = make_adapter(tiny_model_dir, tmp_path / "orphan")
    cfg = adapter / "adapter_config.json"
    data = json.loads(cfg.read_text())
    data["base_model_name_or_path"] = "some-org/unavailable-model"
    cfg.write_text(json.dumps(data))
    with pytest.raises(UnknownModelError, match="not available locally"):
        local_paths(resolve(str(adapter)))


@pytest.mark.unit
def test_build_backend_with_adapter_generates(tiny_model_dir: Path) -> None:
    from character.backends.base import SamplingParams
    from character.backends.local import LocalBackend

    adapter = make_adapter(tiny_model_dir, get_settings().checkpoints / "a1")
    backend = build_backend("a1")
    assert isinstance(backend, LocalBackend)
    assert backend.describe()["adapter"] == str(adapter)
    out = backend.generate(
        [[{"role": "user", "content": "hi"}]], SamplingParams(max_new_tokens=3, seed=1)
    )
    assert len(out) == 1 and out[0][0].tokens <= 3


@pytest.mark.unit
def test_list_models_shows_configured_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [r["kind"] for r in list_models()] == ["local"]
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("LLM_MODEL", "served-model")
    monkeypatch.setenv("TINKER_API_KEY", "tml-xyz")
    get_settings.cache_clear()
    rows = list_models()
    assert {"ref": "openai:served-model", "kind": "openai"}.items() <= rows[1].items()
    assert "127.0.0.1:8000" in rows[1]["description"]
    assert rows[2]["kind"] == "tinker"
    assert "tml-xyz" not in str(rows)
