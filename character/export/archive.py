"""Folders as one downloadable zip: adapters, merged models, GGUF + Modelfile, report folders.

The zip is written file by file to a temporary file next to its destination (a merged model
is hundreds of MB: it never has to fit in memory), then renamed into place, so a reader never
sees half a zip. Zips are kept under `<data>/downloads/` named by the folder's fingerprint
(paths, sizes, modification times): a second download of an unchanged folder reuses it, a
changed folder gets a fresh one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

from pydantic import BaseModel

STORED_SUFFIXES = {".safetensors", ".gguf", ".bin", ".pt", ".zip", ".gz", ".npz"}
"""Already dense: compressing them costs minutes and saves almost nothing."""


class FolderArchive(BaseModel):
    path: Path
    files: int
    bytes: int
    """Size of the zip on disk."""


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def folder_size(folder: Path | str) -> int:
    """Bytes of the files in `folder` (what a download would hold, before compression)."""
    return sum(p.stat().st_size for p in _files(Path(folder)))


def human_size(n: int) -> str:
    """'812 B', '4.2 MB', '1.3 GB' (powers of 1000, as download dialogs show)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _fingerprint(folder: Path, files: list[Path]) -> str:
    h = hashlib.sha1(str(folder.resolve()).encode("utf-8"))
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


def downloads_dir() -> Path:
    from character.settings import get_settings

    return get_settings().data_path / "downloads"


def zip_folder(folder: Path | str, dest_dir: Path | None = None) -> FolderArchive:
    """A zip of `folder` (its files under the folder's own name), reused while unchanged."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    files = _files(folder)
    if not files:
        raise ValueError(f"{folder} holds no files to download")
    dest_dir = Path(dest_dir or downloads_dir())
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{folder.name}-{_fingerprint(folder, files)}.zip"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=dest_dir)
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
                for p in files:
                    method = (
                        zipfile.ZIP_STORED
                        if p.suffix.lower() in STORED_SUFFIXES
                        else zipfile.ZIP_DEFLATED
                    )
                    arcname = str(Path(folder.name) / p.relative_to(folder))
                    zf.write(p, arcname, compress_type=method)  # streamed in chunks
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return FolderArchive(path=target, files=len(files), bytes=target.stat().st_size)
