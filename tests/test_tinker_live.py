"""Optional live smoke test against the real Tinker service (costs a few cents).

Runs only when TINKER_API_KEY is set AND TINKER_LIVE=1, and only samples/trains when a local
tokenizer for the chosen model is available (we never download one at run time).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

# Captured at import: the autouse fixture removes keys from the environment of every test.
_LIVE_KEY = os.environ.get("TINKER_API_KEY")
_LIVE = os.environ.get("TINKER_LIVE") == "1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (_LIVE_KEY and _LIVE), reason="live Tinker test: set TINKER_API_KEY and TINKER_LIVE=1"
    ),
]


def _size(name: str) -> float:
    m = re.search(r"(\d+(?:\.\d+)?)B", name)
    return float(m.group(1)) if m else 1e9


def test_live_tinker_preflight_sample_and_two_train_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from character.settings import get_settings
    from character.tinker.preflight import PreflightConfig, run_preflight
    from character.tinker.tokenizer import try_load_tokenizer

    assert _LIVE_KEY
    monkeypatch.setenv("TINKER_API_KEY", _LIVE_KEY)
    get_settings.cache_clear()
    report = run_preflight(PreflightConfig(timeout_s=10))
    assert report.ok and report.models
    candidates = sorted(
        (m for m in report.models if m.trainable and m.sampleable),
        key=lambda m: _size(m.model_name),
    )
    model = next((m.model_name for m in candidates if try_load_tokenizer(m.model_name)), None)
    if model is None:
        pytest.skip("no local tokenizer for any trainable Tinker model")

    from character.backends.base import SamplingParams
    from character.backends.tinker_backend import TinkerBackend

    backend = TinkerBackend(model, timeout_s=120)
    try:
        reply = backend.chat(
            [{"role": "user", "content": "Say hi."}], SamplingParams(max_new_tokens=8)
        )
        assert reply
    finally:
        backend.close()

    from character.tinker.train import TinkerTrainingConfig, run_tinker_training

    data = tmp_path / "sft.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Q{i}"},
                {"role": "assistant", "content": "Arr!"},
            ]
        }
        for i in range(2)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    cfg = TinkerTrainingConfig(
        dataset_path=data,
        base_model=model,
        lora_rank=8,
        batch_size=2,
        epochs=2,
        max_steps=2,
        output_dir=tmp_path / "run",
        checkpoint_ttl_s=3600,
        export_weights=False,
    )
    try:
        result = run_tinker_training(cfg)
        assert result.status == "completed" and result.sampler_path
    finally:
        _delete_checkpoints(cfg.output_dir, _LIVE_KEY)


def _delete_checkpoints(out: Path, key: str) -> None:
    import tinker

    from character.tinker.train import read_checkpoints

    rest = tinker.RestClient(api_key=key)
    for rec in read_checkpoints(out):
        for path in (rec.state_path, rec.sampler_path):
            if path:
                try:
                    rest.delete_checkpoint_from_tinker_path(path).result(timeout=30)
                except Exception:  # noqa: BLE001 - cleanup is best effort
                    pass
