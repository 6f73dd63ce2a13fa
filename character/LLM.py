"""The original studio's import path for constitution drafting (`from character.LLM import
generate_constitution, format_constitution`). Drafting lives in `character.drafting`; this
module only re-exports its public API (one name list, kept there), so old code and the seed
README keep working."""

from character import drafting as _drafting
from character.drafting import *  # noqa: F403

__all__ = list(_drafting.__all__)
