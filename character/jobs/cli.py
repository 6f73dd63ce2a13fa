"""`character jobs ...`: list, inspect, control and start runs. Builds specs, calls the API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from character.cli_support import fail

app = typer.Typer(help="Background jobs: list, show, logs, cancel, stop, resume, submit, run.")
console = Console()


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _load_spec(path: Path):  # noqa: ANN202 - returns JobSpec, imported lazily
    from character.jobs import JobConfigError, validate
    from character.jobs.store import read_spec_file

    try:
        spec = read_spec_file(path)
        validate(spec)
    except JobConfigError as exc:
        fail(
            f"{path} was refused, nothing started:\n" + "\n".join(f"  - {p}" for p in exc.problems)
        )
    except Exception as exc:  # e.g. a kind whose module is not available
        fail(f"{path}: {exc}")
    return spec


@app.command("list")
def list_cmd(
    state: Annotated[str | None, typer.Option(help="Only runs in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (or prefix, e.g. eval).")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Runs, newest first, with state, progress and ETA."""
    from character.jobs import list_runs, schedule
    from character.jobs.models import progress_from_status

    try:
        schedule()
    except OSError as exc:  # e.g. a full disk: still list what is there, from memory
        typer.secho(f"Warning: could not update the queue: {exc}", fg="yellow", err=True)
    try:
        runs = list_runs(state=state, kind=kind, limit=limit)
    except OSError as exc:
        fail(f"could not read the runs folder: {exc}")
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in runs]))
        return
    table = Table()
    table.add_column("run id", overflow="fold")
    for col in ("kind", "state", "progress", "eta"):
        table.add_column(col, no_wrap=True)
    table.add_column("name")
    for st in runs:
        p = progress_from_status(st)
        prog = f"{st.step}/{st.total}" if st.total else "-"
        if p.fraction is not None:
            prog += f" {p.fraction:.0%}"
        state_txt = st.state.value
        if p.queue_position:
            state_txt += f" #{p.queue_position}"
        name = st.display_name if st.display_name != st.run_id else ""
        table.add_row(st.run_id, st.kind, state_txt, prog, _fmt_eta(p.eta_s), name)
    console.print(table)


@app.command("show")
def show_cmd(run_id: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Status, progress, latest metrics, artifacts and the folder of a run."""
    from character.jobs import RunNotFoundError, get_run, read_progress
    from character.jobs.store import read_artifacts, run_path

    try:
        st = get_run(run_id)
        p = read_progress(run_id)
    except RunNotFoundError as exc:
        fail(str(exc))
        return
    console.print(f"[bold]{st.display_name}[/] ({st.run_id})", highlight=False)
    rows = {
        "kind": st.kind,
        "state": st.state.value + (f" (queue #{p.queue_position})" if p.queue_position else ""),
        "stage": st.stage or "-",
        "progress": f"{st.step}/{st.total}" if st.total else "-",
        "eta": _fmt_eta(p.eta_s),
        "attempt": str(st.attempt),
        "pid / host": f"{st.pid} / {st.host}",
        "created": _fmt_time(st.created_at),
        "started": _fmt_time(st.started_at),
        "finished": _fmt_time(st.finished_at),
        "folder": str(run_path(run_id)),
    }
    for k, v in rows.items():
        console.print(f"  {k:>10}: {v}", highlight=False, markup=False)
    if st.metrics:
        console.print("  metrics: " + json.dumps(st.metrics, default=str), markup=False)
    if st.error:
        console.print(f"  [red]error:[/] {st.error}", highlight=False)
    for art in read_artifacts(run_path(run_id)).artifacts:
        console.print(f"  artifact ({art.type}): {art.path}", highlight=False, markup=False)
    if p.resumable:
        console.print(f"  resume with: character jobs resume {st.run_id}", markup=False)


@app.command("logs")
def logs_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    lines: Annotated[int, typer.Option("-n", help="Lines from the end.")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow until it ends.")] = False,
) -> None:
    """The end of a run's log (or follow it)."""
    from character.jobs import RunNotFoundError, follow_log, tail_log

    try:
        if follow:
            for chunk in follow_log(run_id):
                console.out(chunk, end="", highlight=False)
        else:
            console.out(tail_log(run_id, lines), highlight=False)
    except RunNotFoundError as exc:
        fail(str(exc))


@app.command("cancel")
def cancel_cmd(run_id: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Kill a queued or running job and its whole process group (nothing is saved)."""
    from character.jobs import JobError, RunNotFoundError, cancel

    try:
        st = cancel(run_id)
    except (RunNotFoundError, JobError, OSError) as exc:
        fail(str(exc))
        return
    console.print(f"{run_id}: {st.state.value}")


@app.command("stop")
def stop_cmd(run_id: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Stop and save: finish the current step, save, end as 'stopped' (resumable)."""
    from character.jobs import RunNotFoundError, request_stop

    try:
        st = request_stop(run_id)
    except (RunNotFoundError, OSError) as exc:
        fail(str(exc))
        return
    console.print(f"{run_id}: {st.state.value}")


@app.command("resume")
def resume_cmd(run_id: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Queue a stopped, interrupted or failed run again; it continues from its last save."""
    from character.jobs import JobError, RunNotFoundError, resume

    try:
        st = resume(run_id)
    except (RunNotFoundError, JobError, OSError) as exc:
        fail(str(exc))
        return
    console.print(f"{run_id}: {st.state.value}")


@app.command("rename")
def rename_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    name: Annotated[str, typer.Argument(help="New display name.")],
) -> None:
    """Change a run's display name."""
    from character.jobs import JobError, RunNotFoundError, rename

    try:
        rename(run_id, name)
    except (RunNotFoundError, JobError, OSError) as exc:
        fail(str(exc))


@app.command("submit")
def submit_cmd(
    config: Annotated[Path, typer.Argument(help="Job YAML: kind, config, display_name.")],
) -> None:
    """Queue a job; it runs detached (closing this terminal does not stop it)."""
    from character.jobs import get_run, submit

    spec = _load_spec(config)
    try:
        run_id = submit(spec)
    except OSError as exc:  # a full disk names the file; nothing half-made is left
        fail(f"{config} was not submitted: {exc}")
    st = get_run(run_id)
    where = f" (queue #{st.queue_position})" if st.queue_position else ""
    console.print(f"{run_id}: {st.state.value}{where}", highlight=False)
    console.print(f"follow it with: character jobs logs -f {run_id}", highlight=False)


@app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="Job YAML: kind, config, display_name.")],
) -> None:
    """Run a job here in the foreground with progress bars (still recorded as a run)."""
    from character.jobs import RunState, run_foreground
    from character.progress import RichBarReporter

    spec = _load_spec(config)
    bars = RichBarReporter()
    try:
        st = run_foreground(spec, reporter=bars)
    except OSError as exc:  # a full disk before the run folder could be made
        fail(f"{config} did not run: {exc}")
    finally:
        bars.close()
    console.print(f"{st.run_id}: {st.state.value}", highlight=False)
    if st.error:
        fail(st.error)
    if st.state not in (RunState.SUCCEEDED, RunState.STOPPED):
        raise typer.Exit(1)


@app.command("kinds")
def kinds_cmd() -> None:
    """Job kinds you can submit."""
    from character.jobs import list_job_kinds

    table = Table("kind", "description")
    for kind, desc in list_job_kinds(include_plugins=True).items():
        table.add_row(kind, desc)
    console.print(table)


@app.command("reconcile")
def reconcile_cmd() -> None:
    """Mark runs whose worker is gone as interrupted and start queued runs."""
    from character.jobs import reconcile, schedule

    for run_id in reconcile():
        console.print(f"{run_id}: interrupted (resume with `character jobs resume {run_id}`)")
    for run_id in schedule():
        console.print(f"{run_id}: started")
