"""Download buttons for files and folders the studio made (the zip is the library's).

Small things are handed to the browser at once. A large folder (a merged model) is zipped
only when the button is pressed, and its label says the size first, so nobody waits for a
zip they did not ask for.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import streamlit as st

from character.export.archive import folder_size, human_size, zip_folder

EAGER_BYTES = 8 * 1000 * 1000
"""Up to this size the bytes go with the page; above it they are made on the click."""


def file_download(path: Path | str, label: str, key: str) -> None:
    """A button that downloads one file (a JSONL dataset, a report, a log)."""
    path = Path(path)
    if not path.is_file():
        return
    size = path.stat().st_size
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = path.read_bytes() if size <= EAGER_BYTES else (lambda: path.open("rb"))
    st.download_button(
        f"{label} ({human_size(size)})",
        data,
        file_name=path.name,
        mime=mime,
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def folder_download(folder: Path | str, label: str, key: str, file_name: str | None = None) -> None:
    """A button that downloads a folder as one zip (adapter, merged model, GGUF + Modelfile)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    size = folder_size(folder)
    if not size:
        return
    name = file_name or f"{folder.name}.zip"
    if size <= EAGER_BYTES:
        try:
            data: object = zip_folder(folder).path.read_bytes()
        except (OSError, ValueError) as exc:
            st.caption(f"Cannot offer {folder.name} for download: {exc}")
            return
        shown = f"{label} (.zip, {human_size(size)})"
    else:
        data = lambda: zip_folder(folder).path.open("rb")  # noqa: E731 - zipped on the click
        shown = f"{label} (.zip, {human_size(size)}; zipped when you click)"
    st.download_button(
        shown,
        data,
        file_name=name,
        mime="application/zip",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )
