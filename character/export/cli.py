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
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve a persona behind an OpenAI-compatible API on localhost (Ctrl-C stops it)."""
    from character.export.serve import (
        ServeConfig,
        servable_folder,
        start_server,
        wait_until_listening,
    )

    try:
        folder = servable_folder(model)
        proc = start_server(ServeConfig(model=model, host=host, port=port))
        wait_until_listening(host, port, 300, proc)
    except (ValueError, RuntimeError, TimeoutError) as exc:
        fail(str(exc))
        return
    typer.echo(
        f"Serving {model} at http://{host}:{port}/v1 (OpenAI-compatible; any api key works).\n"
        f"Use the model name: {folder}"
    )
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
