"""The recipe's old import path for the verified merge; it lives in `character.models.merge`
(export uses the same one)."""

from character.models.merge import (
    LINEAGE_FILE,
    MergeError,
    MergeResult,
    adapter_fingerprint,
    check_adapter_fits,
    merge_adapter_exact,
)

__all__ = [
    "LINEAGE_FILE",
    "MergeError",
    "MergeResult",
    "adapter_fingerprint",
    "check_adapter_fits",
    "merge_adapter_exact",
]
