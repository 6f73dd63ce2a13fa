"""Class jobs go to Tinker only when a well-formed key is set, and only DPO training on a
pairs file; decided without any network call or real key."""

from __future__ import annotations

import pytest

from character.classroom.routing import route_class_job
from character.jobs import validate
from character.settings import get_settings

pytestmark = pytest.mark.unit
TRAIN = {
    "kind": "distill.train",
    "display_name": "pirate DPO",
    "config": {
        "dataset_path": "data/pairs.jsonl",
        "persona": "pirate",
        "epochs": 1.5,
        "lora_rank": 8,
        "max_steps": 12,
        "beta": 0.2,
    },
}


def test_without_a_key_everything_runs_here() -> None:
    route = route_class_job(TRAIN)
    assert route.where == "local" and route.spec.kind == "distill.train"
    assert "no Tinker key" in route.reason


def test_a_malformed_key_keeps_jobs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKER_API_KEY", "not a key")
    get_settings.cache_clear()
    route = route_class_job(TRAIN)
    assert route.where == "local" and "TINKER_API_KEY" in route.reason


def test_with_a_key_training_goes_to_tinker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKER_API_KEY", "tml-" + "x" * 8)  # well-formed, never sent anywhere
    get_settings.cache_clear()
    route = route_class_job(TRAIN, tinker_base_model="Qwen/Qwen3-8B")
    assert route.where == "tinker" and route.spec.kind == "tinker.train"
    cfg = route.spec.config
    assert cfg["dataset_path"] == "data/pairs.jsonl" and cfg["base_model"] == "Qwen/Qwen3-8B"
    assert (cfg["epochs"], cfg["lora_rank"], cfg["max_steps"], cfg["beta"]) == (2, 8, 12, 0.2)
    assert route.spec.display_name == "pirate DPO (Tinker)"
    assert validate(route.spec)  # a valid tinker.train job
    for kind in ("distill.generate", "pipeline", "demo.count"):
        other = route_class_job({"kind": kind, "config": {"n": 1}})
        assert other.where == "local" and other.spec.kind == kind
