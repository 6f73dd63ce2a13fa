"""`character export ...` and `character serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from character.cli_support import AllowOutsideData, fail

export_app = typer.Typer(
    help="Export a persona: merged weights, GGUF + Modelfile.", no_args_is_help=True
)


@export_app.command("merge")
def merge(
    model: Annotated[str, typer.Argument(help="Adapter folder or reference.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (versioned if it exists).")
    ],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    allow_outside_data: AllowOutsideData = False,
) -> None:
    """Fold an adapter into its base (exact, checked by comparing logits)."""
    from character.export.merge import MergeConfig, merge_adapter

    try:
        path = merge_adapter(
            MergeConfig(
                model=model,
                output_dir=out,
                overwrite=overwrite,
                allow_outside_data_dir=allow_outside_data,
            )
        )
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
        return
    typer.echo(f"Merged model written to {path}")


@export_app.command("gguf")
def gguf(
    model: Annotated[str, typer.Argument(help="Adapter or model reference.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    dtype: Annotated[str, typer.Option(help="f16 or f32.")] = "f16",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    allow_outside_data: AllowOutsideData = False,
) -> None:
    """Write GGUF (+ Ollama Modelfile) for a llama-family model, checked by reloading it."""
    from character.export.gguf_export import GgufConfig, write_gguf
    from character.export.serve import servable_folder

    try:
        folder = servable_folder(model)
        path = write_gguf(
            GgufConfig(
                model_dir=folder,
                output_dir=out,
                dtype=dtype,  # type: ignore[arg-type]
                overwrite=overwrite,
                allow_outside_data_dir=allow_outside_data,
            )
        )
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
        return
    typer.echo(f"GGUF written to {path}; run `ollama create <name> -f {path.parent}/Modelfile`")


def serve(
    model: Annotated[str, typer.Argument(help="Model or adapter reference.")] = "smollm2-135m",
    host: Annotated[str, typer.Option(help="Loopback address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port 1-65535; 0 picks a free one.")] = 8000,
) -> None:
    """Serve a persona behind an OpenAI-compatible API on localhost (Ctrl-C stops it)."""
    from pydantic import ValidationError

    from character.export.serve import ServeConfig, ServeError
    from character.export.serve import serve as run_server
    from character.settings import get_settings

    try:
        config = ServeConfig(model=model, host=host, port=port)
    except ValidationError as exc:
        fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
        return
    log_path = get_settings().data_path / "serve" / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def ready(url: str, folder: Path) -> None:
        typer.echo(
            f"Serving {model} at {url} (OpenAI-compatible; any api key works).\n"
            f"Use the model name: {folder}\nServer log: {log_path}",
        )

    try:
        code = run_server(config, on_ready=ready, log_path=log_path)
    except (ValueError, RuntimeError, TimeoutError, ServeError) as exc:
        fail(str(exc))
        return
    if code:
        fail(f"the server exited with code {code}; see {log_path}")
    typer.echo("Server stopped.")
