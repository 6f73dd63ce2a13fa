"""Export: exact merge, GGUF round trip, Modelfile, versioned folders, unsupported archs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def test_merge_is_exact_and_versioned(tiny_lora_dir: Path, tmp_path: Path) -> None:
    from character.export.manifest import ExportManifest
    from character.export.merge import MergeConfig, merge_adapter

    out = merge_adapter(MergeConfig(model=str(tiny_lora_dir), output_dir=tmp_path / "merged"))
    manifest = ExportManifest.model_validate_json((out / "manifest.json").read_text())
    assert manifest.check["max_logit_diff"] < 1e-4
    assert "model.safetensors" in manifest.files
    # Served as is, the persona samples like the studio (a 135M persona loops without this).
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["repetition_penalty"] == 1.1 and gen["do_sample"] and gen["top_p"] == 0.95
    # The one verified merge (character.models.merge), the recipe's too: same lineage record.
    lineage = json.loads((out / "character_lineage.json").read_text())
    assert lineage["method"] == "peft merge_and_unload, fp32"
    assert lineage["max_abs_logit_diff"] == manifest.check["max_logit_diff"]
    again = merge_adapter(MergeConfig(model=str(tiny_lora_dir), output_dir=tmp_path / "merged"))
    assert again.name == "merged-v2" and out.exists()


def test_merge_refuses_a_plain_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    from character.export.merge import MergeConfig, merge_adapter

    with pytest.raises(ValueError, match="not a local adapter"):
        merge_adapter(MergeConfig(model=str(tiny_model_dir), output_dir=tmp_path / "m"))


def test_gguf_round_trip_matches_logits(tiny_lora_dir: Path, tmp_path: Path) -> None:
    from character.export.gguf_export import GgufConfig, write_gguf
    from character.export.merge import MergeConfig, merge_adapter

    merged = merge_adapter(MergeConfig(model=str(tiny_lora_dir), output_dir=tmp_path / "merged"))
    path = write_gguf(GgufConfig(model_dir=merged, output_dir=tmp_path / "gguf", dtype="f32"))
    assert path.exists() and path.stat().st_size > 0
    modelfile = (path.parent / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./model.gguf") and "<|im_end|>" in modelfile


def test_gguf_refuses_unsupported_architecture(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from character.export.gguf_export import (
        GgufConfig,
        UnsupportedArchitectureError,
        write_gguf,
    )

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64))
    model.save_pretrained(tmp_path / "gpt2")
    with pytest.raises(UnsupportedArchitectureError, match="supports llama"):
        write_gguf(GgufConfig(model_dir=tmp_path / "gpt2", output_dir=tmp_path / "out"))


def test_serve_answers_the_openai_client(
    tiny_lora_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `transformers serve` on loopback, the real `openai` client, no system prompt."""
    import os
    import signal
    import socket

    from openai import OpenAI

    from character.export.serve import (
        ServeConfig,
        servable_folder,
        start_server,
        wait_until_listening,
    )
    from character.settings import get_settings

    monkeypatch.setenv("CHARACTER_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = ServeConfig(model=str(tiny_lora_dir), port=port)
    proc = start_server(config, log_path=tmp_path / "serve.log")
    try:
        wait_until_listening("127.0.0.1", port, 240, proc)
        folder = servable_folder(str(tiny_lora_dir))  # cached: the same merge, no rework
        assert (folder / "manifest.json").exists()
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=120)
        reply = client.chat.completions.create(
            model=str(folder),
            messages=[{"role": "user", "content": "Ahoy, who are you?"}],
            max_tokens=8,
        )
        assert reply.choices[0].message.content is not None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_serve_refuses_non_loopback_hosts() -> None:
    from character.export.serve import ServeConfig, start_server

    with pytest.raises(ValueError, match="loopback only"):
        start_server(ServeConfig(host="0.0.0.0"))


def test_export_job_config_runs_every_format(tiny_lora_dir: Path, tmp_path: Path) -> None:
    from character.export.pipeline import ExportConfig, run_export
    from character.jobs.registry import get_job_kind

    assert get_job_kind("export").config_model is ExportConfig
    out = run_export(
        ExportConfig(
            model=str(tiny_lora_dir),
            formats=["adapter", "merged", "gguf"],
            gguf_dtype="f32",
            output_dir=tmp_path / "exp",
        )
    )
    kinds = sorted(Path(a["path"]).name for a in out["artifacts"])
    assert kinds == ["adapter", "gguf", "merged"]
    assert (tmp_path / "exp" / "adapter" / "adapter_model.safetensors").exists()
