"""The newest finished adapter a training run made, for a persona.

Pickers in the studio default to "what the user just made": after a whole-recipe run that is
its final (SFT) adapter, not the DPO one it was built on; after a DPO-only run, that adapter.
The run folders are the truth, so this reads them (newest first) instead of guessing from
folder names.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from character.jobs.api import get_spec, list_runs
from character.jobs.index import artifact_type_of, default_artifact_type
from character.jobs.models import RunState
from character.jobs.store import read_artifacts, run_path


class TrainedAdapter(BaseModel):
    """One adapter a run produced, with what it is for."""

    path: Path
    run_id: str
    kind: str
    persona: str | None
    name: str | None = None
    """The artifact's own label, e.g. 'SFT adapter' or 'PEFT adapter'."""


def _persona_of(config: dict) -> str | None:
    for key in ("persona", "constitution"):
        value = config.get(key)
        if isinstance(value, str) and value:
            return Path(value).stem  # a path to a constitution file names it by its stem
    return None


def run_adapters(run_id: str) -> list[TrainedAdapter]:
    """The adapters one run produced, in the order it made them (a recipe: DPO, then SFT)."""
    try:
        spec = get_spec(run_id)
    except Exception:  # noqa: BLE001 - a torn run folder has no adapters to offer
        return []
    persona = _persona_of(spec.config)
    default = default_artifact_type(spec.kind)
    out: list[TrainedAdapter] = []
    for art in read_artifacts(run_path(run_id)).artifacts:
        path = Path(art.path)
        if art.type == "adapter" and artifact_type_of(path, default) == "adapter" and path.is_dir():
            out.append(
                TrainedAdapter(
                    path=path, run_id=run_id, kind=spec.kind, persona=persona, name=art.name
                )
            )
    return out


def final_adapter(adapters: list[TrainedAdapter]) -> TrainedAdapter | None:
    """The finished character among one run's adapters: the SFT one when the run made one
    (introspection is trained on top of DPO), else the last one made."""
    sft = [a for a in adapters if "sft" in (a.name or "").lower() or a.path.name == "sft"]
    return (sft or adapters or [None])[-1]


def latest_adapter(persona: str | None = None, *, limit: int = 200) -> TrainedAdapter | None:
    """The final adapter of the newest succeeded run for `persona` (any persona when None);
    None when no such run exists or its adapter folder is gone."""
    for status in list_runs(state=RunState.SUCCEEDED, limit=limit):
        adapters = run_adapters(status.run_id)
        if persona is not None:
            adapters = [a for a in adapters if a.persona == persona]
        found = final_adapter(adapters)
        if found is not None:
            return found
    return None
