"""`character tinker ...`: preflight, train, sample, download, plus the offline stand-in.

Only builds configs and calls the library; heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from character.cli_support import AllowOutsideData, fail

app = typer.Typer(
    help="Train and sample on Tinker (remote LoRA), with a preflight before any spending.",
    no_args_is_help=True,
)
console = Console()

BaseUrl = Annotated[
    str | None, typer.Option("--base-url", help="Tinker URL (default TINKER_BASE_URL or prod).")
]


@app.command()
def preflight(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Base model to check.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="JSONL to estimate cost.")] = None,
    kind: Annotated[str | None, typer.Option(help="sft or dpo (default: detect).")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs for the estimate.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Batch size for the estimate.")] = 8,
    need: Annotated[str, typer.Option(help="train or sample.")] = "train",
    base_url: BaseUrl = None,
    timeout: Annotated[float, typer.Option(help="Seconds per check.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check key, reachability, model support and estimate the cost; fails in seconds."""
    from character.tinker.errors import TinkerError
    from character.tinker.preflight import PreflightConfig, run_preflight
    from character.tinker.train import normalize_base_model

    try:
        cfg = PreflightConfig(
            base_model=normalize_base_model(model) if model else None,
            need=need,  # type: ignore[arg-type]
            base_url=base_url,
            timeout_s=timeout,
            dataset_path=data,
            kind=kind,  # type: ignore[arg-type]
            epochs=epochs,
            batch_size=batch_size,
        )
        report = run_preflight(cfg, raise_errors=False)
    except (TinkerError, ValueError) as exc:
        fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(report.model_dump(mode="json") | {"ok": report.ok}))
    else:
        console.print(f"Service: {report.base_url}", highlight=False)
        console.print(f"Key: {'ok' if report.key_ok else '-'}   Reachable: {report.reachable}")
        if report.latency_ms is not None:
            console.print(f"Latency: {report.latency_ms:.0f} ms")
        if report.models:
            table = Table("model", "trainable", "sampleable", "context")
            for m in report.models:
                table.add_row(
                    m.model_name, str(m.trainable), str(m.sampleable), str(m.max_context_length)
                )
            console.print(table)
        if report.estimate:
            e = report.estimate
            console.print(
                f"Estimate: {e['tokens']['examples']} examples, {e['tokens']['total_tokens']:,} "
                f"tokens, {e['steps']} steps, about ${e['usd']:.2f} "
                f"(price table {e['price_table']})",
                highlight=False,
            )
            for note in e.get("notes", []):
                console.print(f"  note: {note}", highlight=False)
    if not report.ok:
        fail(report.problem or "preflight failed")


@app.command()
def train(
    data: Annotated[Path | None, typer.Argument(help="SFT or DPO JSONL.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML/JSON TinkerTrainingConfig.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Tinker base model.")] = None,
    kind: Annotated[str | None, typer.Option(help="auto, sft or dpo.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="LoRA rank.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per step.")] = None,
    beta: Annotated[float | None, typer.Option(help="DPO beta.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    save_every: Annotated[int | None, typer.Option(help="Checkpoint every N steps.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    resume: Annotated[bool, typer.Option(help="Resume from the last saved state.")] = False,
    download: Annotated[bool, typer.Option(help="Download the adapter at the end.")] = True,
    base_url: BaseUrl = None,
    plain: Annotated[bool, typer.Option(help="Plain log lines instead of bars.")] = False,
) -> None:
    """Run LoRA DPO or SFT on Tinker; resumable after a crash, kill or cancel."""
    import yaml
    from pydantic import ValidationError

    from character.progress import RichBarReporter, print_reporter
    from character.tinker.errors import TinkerError
    from character.tinker.train import TinkerTrainingConfig, run_tinker_training

    values: dict[str, object] = {}
    if config:
        try:
            values = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            fail(f"{config}: {exc}")
    overrides = {
        "dataset_path": data,
        "base_model": model,
        "kind": kind,
        "lora_rank": rank,
        "learning_rate": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "beta": beta,
        "max_steps": max_steps,
        "save_every": save_every,
        "output_dir": out,
        "base_url": base_url,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["resume"] = resume or bool(values.get("resume"))
    values["download_adapter"] = download and bool(values.get("download_adapter", True))
    try:
        cfg = TinkerTrainingConfig.model_validate(values)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        return
    reporter = print_reporter if plain else RichBarReporter()
    try:
        result = run_tinker_training(cfg, reporter=reporter)
    except (TinkerError, ValueError, FileExistsError) as exc:
        fail(str(exc))
        return
    finally:
        if not plain:
            reporter.close()  # type: ignore[union-attr]
    console.print_json(result.model_dump_json())


@app.command()
def sample(
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Base model or tinker:// path.")],
    constitution: Annotated[str | None, typer.Option("--constitution", "-c")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Longest reply in tokens.")] = 200,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    n: Annotated[int, typer.Option("-n", help="Number of samples.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed.")] = None,
    tokenizer_dir: Annotated[Path | None, typer.Option(help="Local tokenizer folder.")] = None,
    base_url: BaseUrl = None,
) -> None:
    """Sample a Tinker base model or a tinker:// sampler checkpoint."""
    from character.backends.base import SamplingParams
    from character.backends.tinker_backend import TinkerBackend
    from character.tinker.errors import TinkerError
    from character.tinker.train import normalize_base_model

    conv: list[dict[str, str]] = []
    try:
        if constitution:
            from character.constitution import resolve_constitution

            conv.append(
                {
                    "role": "system",
                    "content": resolve_constitution(constitution).teacher_system_prompt(),
                }
            )
        conv.append({"role": "user", "content": prompt})
        backend = TinkerBackend(
            normalize_base_model(model), base_url=base_url, tokenizer_dir=tokenizer_dir
        )
        params = SamplingParams(
            max_new_tokens=max_new_tokens, temperature=temperature, n=n, seed=seed
        )
        outs = backend.generate([conv], params)[0]
        backend.close()
    except (TinkerError, ValueError) as exc:
        fail(str(exc))
        return
    for i, o in enumerate(outs):
        if n > 1:
            console.rule(f"sample {i + 1}")
        console.print(o.text, highlight=False, markup=False)


@app.command()
def download(
    path: Annotated[str, typer.Argument(help="tinker://<run>/external_weights/<name>")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PEFT adapter.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    base_url: BaseUrl = None,
    allow_outside_data: AllowOutsideData = False,
) -> None:
    """Download an exported adapter as a standard local PEFT folder."""
    from character.tinker.errors import TinkerError
    from character.tinker.weights import download_adapter

    try:
        folder = download_adapter(
            path,
            out,
            base_url=base_url,
            overwrite=overwrite,
            allow_outside_data_dir=allow_outside_data,
        )
    except (TinkerError, FileExistsError, ValueError) as exc:
        fail(str(exc))
        return
    console.print(f"Adapter saved to {folder}")


@app.command()
def checkpoints(
    run_dir: Annotated[Path, typer.Argument(help="A Tinker run's output folder.")],
) -> None:
    """List a run's checkpoints (state paths resume, sampler paths sample)."""
    from character.tinker.train import read_checkpoints

    rows = read_checkpoints(run_dir)
    if not rows:
        fail(f"{run_dir} has no checkpoints.jsonl rows")
    table = Table("name", "step", "state_path", "sampler_path")
    for r in rows:
        table.add_row(r.name, str(r.step), r.state_path or "", r.sampler_path or "")
    console.print(table)


@app.command()
def runs(
    all_runs: Annotated[
        bool, typer.Option("--all", help="Also runs that have not (yet) succeeded.")
    ] = False,
) -> None:
    """Sampler checkpoints of Tinker job runs: use a path with `-m` anywhere a model is picked."""
    from character.tinker.runs import trained_checkpoints

    rows = trained_checkpoints(finished_only=not all_runs)
    if not rows:
        console.print("No Tinker runs with sampler checkpoints yet.")
        return
    table = Table("run", "checkpoint", "step", "sampler_path")
    for col in table.columns:
        col.overflow = "fold"
    for c in rows:
        table.add_row(c.run_id, c.name, str(c.step), c.sampler_path)
    console.print(table)


@app.command()
def fetch(
    run_id: Annotated[str, typer.Argument(help="A tinker.train job run id (character jobs list).")],
    again: Annotated[bool, typer.Option(help="Download even if the adapter is home.")] = False,
) -> None:
    """Bring a Tinker job run's trained adapter home as a PEFT folder inside the run."""
    from character.jobs import RunNotFoundError
    from character.tinker.errors import TinkerError
    from character.tinker.runs import fetch_run_adapter

    try:
        folder = fetch_run_adapter(run_id, overwrite=again)
    except (TinkerError, RunNotFoundError, ValueError) as exc:
        fail(str(exc))
        return
    console.print(f"Adapter saved to {folder}")


@app.command()
def prices() -> None:
    """Show the price table used for estimates and where to edit it."""
    from character.tinker.pricing import load_price_table

    table = load_price_table()
    console.print(f"Price table: {table.path} ({table.currency} per million tokens)")
    t = Table("model", "prefill", "sample", "train")
    for name, row in {"(default)": table.default, **table.models}.items():
        t.add_row(name, f"{row.prefill:g}", f"{row.sample:g}", f"{row.train:g}")
    console.print(t)


@app.command()
def standin(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
) -> None:
    """Serve the offline stand-in of Tinker on loopback (synthetic losses and samples)."""
    from character.testing.tinker_standin import serve_forever

    serve_forever("127.0.0.1", port)
