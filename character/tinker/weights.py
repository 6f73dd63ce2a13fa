"""Getting trained weights home: a Tinker external checkpoint → a standard local PEFT folder.

Why: a downloaded adapter must behave like one trained locally (merge, export, serve, arena),
so it lands as `adapter_config.json` + `adapter_model.safetensors` in a folder the registry
resolves. File names come from the service, so they are validated before anything is written,
and the folder appears atomically (temp folder, then rename).
"""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from character.io import atomic_write_json
from character.tinker.errors import TinkerCheckpointError, TinkerError, map_error, wait_result

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
REQUIRED = ("adapter_config.json", "adapter_model.safetensors")


class UnsafeFileNameError(TinkerError):
    kind = "unsafe_file"
    hint = "The download was refused; nothing was written."


def safe_relative_name(name: str) -> PurePosixPath:
    """Accept `a/b.json`-style relative names only: no absolute paths, `..`, or odd chars."""
    if not name or "\\" in name or "\x00" in name:
        raise UnsafeFileNameError(f"Refusing file name {name!r} from the service.")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeFileNameError(f"Refusing file name {name!r} from the service.")
    p = PurePosixPath(name)
    if not all(_SAFE_NAME.match(part) for part in parts):
        raise UnsafeFileNameError(f"Refusing file name {name!r} from the service.")
    return p


def _extract(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            safe_relative_name(member.name)
        tf.extractall(dest, filter="data")
    archive.unlink()


def _flatten_single_dir(folder: Path) -> None:
    """Archives often wrap files in one top folder; lift them to the adapter root."""
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not (folder / REQUIRED[0]).exists():
        inner = entries[0]
        for child in inner.iterdir():
            shutil.move(str(child), folder / child.name)
        inner.rmdir()


def download_adapter(
    tinker_path: str,
    out_dir: Path | str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
    overwrite: bool = False,
    allow_outside_data_dir: bool = False,
) -> Path:
    """Download an `external_weights` checkpoint into `out_dir` as a PEFT LoRA folder.

    `out_dir` must be inside the data folder unless `allow_outside_data_dir`; `overwrite`
    replaces only a folder one of our runs or downloads made."""
    import httpx

    from character.output_paths import check_location, check_output_dir
    from character.tinker.preflight import probe_reachable, resolve_api_key, resolve_base_url

    out = Path(out_dir)
    check_location(out, "out_dir", allow_outside=allow_outside_data_dir)
    if overwrite:
        check_output_dir(out, "out_dir", allow_outside=allow_outside_data_dir)
    if "/sampler_weights/" in tinker_path:
        raise TinkerCheckpointError(
            f"{tinker_path} is a sampler checkpoint, which Tinker cannot export.",
            hint="Download the run's external_weights path (saved as 'final' at the end of a run).",
        )
    if not tinker_path.startswith("tinker://") or "/external_weights/" not in tinker_path:
        raise TinkerCheckpointError(
            f"{tinker_path!r} is not an external weights path (tinker://<run>/external_weights/<name>).",
            hint="Use the external path recorded in tinker_run.json or checkpoints.jsonl.",
        )
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; pass overwrite=True.")
    url = resolve_base_url(base_url)
    key = resolve_api_key(api_key)
    probe_reachable(url, min(5.0, timeout_s))
    import tinker

    try:
        rest = tinker.RestClient(base_url=url, api_key=key)
        resp = wait_result(
            rest.get_external_weights_urls(tinker_path),
            timeout_s=timeout_s,
            what=f"Asking Tinker for the files of {tinker_path}",
        )
    except Exception as exc:  # noqa: BLE001
        raise map_error(exc, f"Downloading {tinker_path}") from exc
    files = {str(safe_relative_name(name)): link for name, link in resp.urls.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=True) as client:
            for name, link in files.items():
                if not link.startswith(("http://", "https://")):
                    raise UnsafeFileNameError(f"Refusing download URL scheme for {name}.")
                target = tmp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with client.stream("GET", link) as r:
                    if r.status_code != 200:
                        raise TinkerCheckpointError(
                            f"Downloading {name} failed with HTTP {r.status_code} (URL expired?)."
                        )
                    with open(target, "wb") as fh:
                        for chunk in r.iter_bytes(1 << 20):
                            fh.write(chunk)
                if name.endswith((".tar", ".tar.gz", ".tgz")):
                    _extract(target, tmp)
        _flatten_single_dir(tmp)
        missing = [f for f in REQUIRED if not (tmp / f).exists()]
        if missing:
            raise TinkerCheckpointError(
                f"{tinker_path} has no {', '.join(missing)}; it is not a PEFT LoRA adapter."
            )
        atomic_write_json(tmp / "tinker_source.json", {"tinker_path": tinker_path, "base_url": url})
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except httpx.HTTPError as exc:
        raise map_error(exc, f"Downloading {tinker_path}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
