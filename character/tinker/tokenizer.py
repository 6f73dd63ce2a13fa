"""A local tokenizer for a Tinker model, never fetched from the hub at run time.

Why: Tinker takes token ids, so prompts are rendered through the model's chat template here.
We look in this order: an explicit folder, the embedded model (the stand-in serves it), a
local model folder, `~/.cache/open-character/tokenizers/<org>/<name>/`, the local Hugging Face
cache (offline only).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from character.tinker.errors import TinkerError


class TokenizerUnavailableError(TinkerError):
    kind = "tokenizer"
    hint = (
        "Pass --tokenizer-dir (a local folder with the model's tokenizer files), or copy them to "
        "~/.cache/open-character/tokenizers/<org>/<model>/."
    )


def _embedded_names() -> set[str]:
    from character.models.embedded import EMBEDDED_ALIASES

    return {a.lower() for a in EMBEDDED_ALIASES}


def tokenizer_dir_for(model: str, tokenizer_dir: Path | str | None = None) -> Path | None:
    if tokenizer_dir:
        return Path(tokenizer_dir)
    if model.lower() in _embedded_names():
        from character.models.embedded import ensure_embedded_model

        return ensure_embedded_model()
    p = Path(model).expanduser()
    if p.is_dir():
        return p
    cached = tokenizers_home() / model
    if (cached / "tokenizer_config.json").exists():
        return cached
    return None


def tokenizers_home() -> Path:
    """Where users put tokenizers of Tinker models: `<model cache>/tokenizers/<org>/<name>/`."""
    from character.settings import get_settings

    return get_settings().model_cache / "tokenizers"


def load_tokenizer(model: str, tokenizer_dir: Path | str | None = None) -> Any:
    """Load offline (cached per process); raise TokenizerUnavailableError when impossible."""
    return _load(model, str(tokenizer_dir) if tokenizer_dir else None)


@lru_cache(maxsize=8)
def _load(model: str, tokenizer_dir: str | None) -> Any:
    from transformers import AutoTokenizer

    folder = tokenizer_dir_for(model, tokenizer_dir)
    try:
        if folder is not None:
            return AutoTokenizer.from_pretrained(str(folder))
        return AutoTokenizer.from_pretrained(model, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - many loader errors, one message
        raise TokenizerUnavailableError(f"No local tokenizer for {model!r} ({exc}).") from exc


def try_load_tokenizer(model: str, tokenizer_dir: Path | str | None = None) -> Any | None:
    try:
        return load_tokenizer(model, tokenizer_dir)
    except TokenizerUnavailableError:
        return None
