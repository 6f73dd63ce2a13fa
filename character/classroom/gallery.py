"""The class gallery: personas and runs students chose to share, as copies.

Publishing copies the persona file or the run's numbers into `classroom/gallery/<id>/`, so
classmates read the copy and never the author's workspace, and unpublishing removes it.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from character.classroom.access import check_run_access
from character.classroom.errors import ClassroomError
from character.classroom.models import ClassSession, GalleryEntry
from character.classroom.store import GALLERY_DIR, class_lock, load_gallery, save_gallery
from character.classroom.workspace import open_workspace, workspace_settings
from character.io import iter_jsonl
from character.jobs.models import RunStatus
from character.jobs.store import METRICS, STATUS, slugify

MAX_METRICS_BYTES = 5 * 1024 * 1024
MAX_ADAPTER_BYTES = 400 * 1024 * 1024
ADAPTER_DIR = "adapter"
OWNER_INSTRUCTOR = "instructor"


def _owner(session: ClassSession) -> str:
    return OWNER_INSTRUCTOR if session.is_instructor else str(session.user)


def _new_entry_id(kind: str, title: str) -> str:
    return f"{kind}-{slugify(title, 40)}-{secrets.token_hex(3)}"


def _add(
    class_dir: Path, entry: GalleryEntry, files: dict[str, Path], adapter: Path | None = None
) -> GalleryEntry:
    folder = class_dir / GALLERY_DIR / entry.entry_id
    staging = folder.with_name(f".creating-{entry.entry_id}")
    staging.mkdir(parents=True)
    for name, source in files.items():
        shutil.copyfile(source, staging / name)
    if adapter is not None and entry.adapter:
        # the weights only: resumable trainer checkpoints stay in the author's workspace
        shutil.copytree(
            adapter, staging / entry.adapter, ignore=shutil.ignore_patterns("checkpoint-*", ".*")
        )
    staging.rename(folder)
    with class_lock(class_dir):
        gallery = load_gallery(class_dir)
        gallery.entries.append(entry)
        save_gallery(class_dir, gallery)
    return entry


def publish_persona(
    class_dir: Path, session: ClassSession, persona: str, note: str = ""
) -> GalleryEntry:
    """Share a copy of one of the student's personas with the class."""
    from character.constitution import list_constitutions

    if session.is_instructor or session.user is None:
        raise ClassroomError("Only students publish personas from their workspace.")
    ws = open_workspace(class_dir, session.user)
    found = list_constitutions(ws.constitution_path)
    if persona not in found:
        raise ClassroomError(f"There is no persona {persona!r} in your workspace.")
    source = found[persona]
    entry = GalleryEntry(
        entry_id=_new_entry_id("persona", persona),
        kind="persona",
        owner=_owner(session),
        owner_display=session.display_name,
        title=persona,
        note=note.strip()[:500],
        source=persona,
        files=[source.name],
        persona_file=source.name,
    )
    return _add(class_dir, entry, {source.name: source})


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _run_model_files(class_dir: Path, user: str, run_id: str) -> tuple[Path | None, Path | None]:
    """The run's final adapter and its persona's file, read in the author's workspace."""
    from character.constitution import list_constitutions
    from character.jobs.latest import final_adapter, run_adapters
    from character.settings import use_settings

    ws = open_workspace(class_dir, user)
    with use_settings(workspace_settings(ws)):
        found = final_adapter(run_adapters(run_id))
    persona_file = None
    if found is not None and found.persona:
        persona_file = list_constitutions(ws.constitution_path).get(found.persona)
    adapter = found.path if found is not None else None
    if adapter is not None and _dir_bytes(adapter) > MAX_ADAPTER_BYTES:
        adapter = None  # a merged model, not an adapter: too big to copy for the class
    return adapter, persona_file


def publish_run(
    class_dir: Path, session: ClassSession, run_id: str, note: str = ""
) -> GalleryEntry:
    """Share a copy of one of the student's runs with the class: its status and metrics, and
    for a training run its final adapter and persona (so classmates can battle it in the
    class arena without reading the author's workspace)."""
    if session.is_instructor:
        raise ClassroomError("Only students publish runs from their workspace.")
    run_dir = check_run_access(class_dir, session, run_id)
    status = RunStatus.model_validate_json((run_dir / STATUS).read_bytes())
    files = {STATUS: run_dir / STATUS}
    metrics = run_dir / METRICS
    if metrics.exists() and metrics.stat().st_size <= MAX_METRICS_BYTES:
        files[METRICS] = metrics
    adapter, persona_file = _run_model_files(class_dir, str(session.user), run_id)
    persona_name = None
    if persona_file is not None and persona_file.name not in files:
        persona_name = persona_file.name
        files[persona_name] = persona_file
    summary: dict[str, Any] = {
        "kind": status.kind,
        "state": status.state.value,
        "metrics": status.metrics,
        "finished_at": status.finished_at,
    }
    entry = GalleryEntry(
        entry_id=_new_entry_id("run", status.display_name),
        kind="run",
        owner=_owner(session),
        owner_display=session.display_name,
        title=status.display_name,
        note=note.strip()[:500],
        source=run_id,
        files=list(files),
        summary=summary,
        adapter=ADAPTER_DIR if adapter is not None else None,
        persona_file=persona_name,
    )
    return _add(class_dir, entry, files, adapter)


def gallery_adapter(class_dir: Path, entry: GalleryEntry) -> Path | None:
    """The copied adapter folder of a run entry, if it has one."""
    if not entry.adapter:
        return None
    return class_dir / GALLERY_DIR / entry.entry_id / entry.adapter


def list_gallery(class_dir: Path) -> list[GalleryEntry]:
    """Every published entry, newest first (everyone in the class may see these)."""
    return sorted(load_gallery(class_dir).entries, key=lambda e: e.published_at, reverse=True)


def gallery_file(class_dir: Path, entry: GalleryEntry, name: str) -> Path:
    """A copied file of an entry (only names the entry lists)."""
    if name not in entry.files:
        raise ClassroomError(f"{entry.title!r} has no file {name!r}.")
    return class_dir / GALLERY_DIR / entry.entry_id / name


def gallery_metrics(class_dir: Path, entry: GalleryEntry) -> list[dict[str, Any]]:
    if METRICS not in entry.files:
        return []
    return [row for _, row in iter_jsonl(gallery_file(class_dir, entry, METRICS), skip_bad=True)]


def unpublish(class_dir: Path, session: ClassSession, entry_id: str) -> None:
    """Remove an entry: its author may, and the instructor may remove any."""
    with class_lock(class_dir):
        gallery = load_gallery(class_dir)
        entry = next((e for e in gallery.entries if e.entry_id == entry_id), None)
        if entry is None:
            raise ClassroomError(f"No gallery entry {entry_id!r}.")
        if not session.is_instructor and entry.owner != session.user:
            raise ClassroomError("You can remove only what you published.")
        gallery.entries = [e for e in gallery.entries if e.entry_id != entry_id]
        save_gallery(class_dir, gallery)
    folder = class_dir / GALLERY_DIR / entry.entry_id
    trash = folder.with_name(f".deleted-{entry.entry_id}-{int(time.time())}")
    if folder.exists():
        folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
