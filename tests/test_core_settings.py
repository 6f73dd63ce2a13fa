"""Settings come from the environment and `.env` under the seed README's names; keys stay secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from character.settings import EMBEDDED_MODEL, Settings, get_settings

ALL_VARS = {
    "CHARACTER_DATA_PATH": "/tmp/oc-data",
    "CHARACTER_CONSTITUTION_PATH": "/tmp/oc-constitutions",
    "CHARACTER_CHECKPOINT_DIR": "/tmp/oc-ckpt",
    "CHARACTER_TEACHER_MODEL": "openai:gpt-4o-mini",
    "CHARACTER_STUDENT_MODEL": "tinker:Qwen/Qwen3-8B",
    "CHARACTER_REFERENCE_MODEL": "embedded",
    "LLM_MODEL": "my-llm",
    "LLM_TEMPERATURE": "0.25",
    "LLM_MAX_TOKENS": "77",
    "TINKER_API_KEY": "tml-secret-tinker-key",
    "OPENAI_API_KEY": "sk-secret-openai-key",
    "OPENAI_BASE_URL": "http://127.0.0.1:1234/v1",
}


def _check_all(s: Settings) -> None:
    assert s.data_path == Path("/tmp/oc-data")
    assert s.constitution_path == Path("/tmp/oc-constitutions")
    assert s.checkpoint_dir == Path("/tmp/oc-ckpt")
    assert s.checkpoints == Path("/tmp/oc-ckpt")
    assert s.hand_written == Path("/tmp/oc-constitutions/hand-written")
    assert s.teacher_model == "openai:gpt-4o-mini"
    assert s.student_model == "tinker:Qwen/Qwen3-8B"
    assert s.reference_model == "embedded"
    assert s.llm_model == "my-llm"
    assert s.llm_temperature == 0.25
    assert s.llm_max_tokens == 77
    assert s.tinker_key() == "tml-secret-tinker-key"
    assert s.openai_key() == "sk-secret-openai-key"
    assert s.openai_url() == "http://127.0.0.1:1234/v1"


@pytest.mark.unit
def test_defaults_point_at_the_embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARACTER_DATA_PATH")
    s = Settings()
    assert s.data_path == Path("data")
    assert s.checkpoints == Path("data/checkpoints")
    for model in (s.teacher_model, s.student_model, s.reference_model, s.llm_model):
        assert model == EMBEDDED_MODEL
    assert s.openai_key() is None and s.tinker_key() is None and s.openai_url() is None


@pytest.mark.unit
def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ALL_VARS.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    _check_all(get_settings())


@pytest.mark.unit
def test_settings_from_dotenv_and_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARACTER_DATA_PATH")
    monkeypatch.delenv("CHARACTER_CONSTITUTION_PATH")
    lines = [f"{k}={v}" for k, v in ALL_VARS.items()]
    Path(".env").write_text("# local settings\n" + "\n".join(lines) + "\n", encoding="utf-8")
    _check_all(Settings())
    monkeypatch.setenv("LLM_MODEL", "from-env")
    assert Settings().llm_model == "from-env"


@pytest.mark.unit
def test_llm_names_win_over_openai_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("LLM_API_KEY", "sk-llm")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://a/v1")
    monkeypatch.setenv("LLM_BASE_URL", "http://b/v1")
    s = Settings()
    assert s.openai_key() == "sk-llm"
    assert s.openai_url() == "http://b/v1"


@pytest.mark.unit
def test_public_view_never_contains_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ALL_VARS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LLM_API_KEY", "sk-secret-llm-key")
    s = Settings()
    view = s.public_view()
    dumped = json.dumps(view)
    for secret in ("tml-secret-tinker-key", "sk-secret-openai-key", "sk-secret-llm-key"):
        assert secret not in dumped
        assert secret not in repr(s)
        assert secret not in str(s.model_dump())
    assert view["openai_key_set"] is True and view["tinker_key_set"] is True
    assert view["llm_model"] == "my-llm"


@pytest.mark.unit
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_TEMPERATURE", "hot")
    with pytest.raises(ValidationError, match="LLM_TEMPERATURE"):
        Settings()


@pytest.mark.unit
def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("LLM_MODEL", "changed")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().llm_model == "changed"
