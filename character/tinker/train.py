"""LoRA training on Tinker (DPO and SFT) from the same JSONL and config names as local training.

Why a local driver loop: Tinker runs forward/backward and optimiser steps remotely, while our
process owns the loop. That makes a run a long-lived local worker, so it records every step
(`metrics.jsonl`) and every checkpoint (`checkpoints.jsonl`: `state_path` to resume,
`sampler_path` to sample) as it goes, and a crashed, killed or cancelled run resumes from its
last saved state with the optimiser. Losses match local training: sigmoid DPO with the recipe's
NLL and KL terms against the frozen base (reference log-probs from `compute_logprobs`), and SFT
cross-entropy on every assistant turn.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from character.io import append_jsonl, atomic_write_json, iter_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.redaction import redact_secrets
from character.settings import get_settings
from character.tinker.data import (
    Sequence,
    detect_kind,
    load_rows,
    render_pair,
    render_sft,
    to_datum,
)
from character.tinker.errors import (
    BillingWatch,
    TinkerError,
    TinkerInterruptedError,
    TinkerTimeoutError,
    TinkerUnreachableError,
    map_error,
    wait_result,
)

EMBEDDED_TINKER_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"


class TinkerTrainingConfig(BaseModel):
    """A Tinker run. Field names mirror the local TrainingConfig so launchers can switch
    `backend: local | tinker` and keep the rest."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    backend: Literal["tinker"] = "tinker"
    kind: Literal["auto", "dpo", "sft"] = Field(
        default="auto", description="auto: 'messages' rows → SFT, 'chosen/rejected' rows → DPO."
    )
    dataset_path: Path
    base_model: str = Field(
        default="Qwen/Qwen3-8B",
        description="A Tinker model name.",
        validation_alias=AliasChoices("base_model", "model"),
    )
    lora_rank: int = Field(
        default=32,
        ge=1,
        le=512,
        description="Size of the trainable add-on (LoRA). 8-64 is plenty for a persona.",
    )
    learning_rate: float = Field(
        default=5e-5,
        gt=0,
        le=1.0,
        description="How big each update is. Too high and the model forgets what it knew.",
    )
    warmup_ratio: float = Field(default=0.1, ge=0, le=0.5)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1.0)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, ge=0)
    epochs: int = Field(
        default=1, ge=1, le=100, description="Passes over the data file. One is usually enough."
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Examples per training step. Tinker runs big batches cheaply.",
    )
    beta: float = Field(default=0.1, gt=0, description="DPO temperature.")
    nll_alpha: float = Field(
        default=0.1,
        ge=0,
        description="DPO: weight of chosen NLL.",
        validation_alias=AliasChoices("nll_alpha", "nll_weight"),
    )
    kl_alpha: float = Field(default=0.001, ge=0, description="DPO: weight of the KL term.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many training steps (overrides epochs)."
    )
    max_length: int = Field(
        default=2048, ge=16, description="Longest conversation in tokens; longer ones are cut."
    )
    output_dir: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()
    save_every: int = Field(
        default=20,
        ge=1,
        validation_alias=AliasChoices("save_every", "save_steps"),
        description="Save a resumable state and a sampler checkpoint every this many steps.",
    )
    seed: int = 0
    resume: bool = Field(default=False, description="Continue from the last saved state.")
    export_weights: bool = Field(default=True, description="Save external weights at the end.")
    download_adapter: bool = Field(default=True, description="Download them as a PEFT folder.")
    checkpoint_ttl_s: int | None = Field(default=7 * 24 * 3600, ge=3600)
    base_url: str | None = None
    tokenizer_dir: Path | None = None
    request_timeout_s: float = Field(default=300.0, gt=0)
    network_grace_s: float = Field(
        default=30.0, gt=0, description="How long to keep retrying while Tinker is unreachable."
    )


LOCAL_ONLY_FIELDS = {
    "persona", "save_name", "lora_alpha", "lora_dropout", "target_modules",
    "gradient_accumulation_steps", "long_pairs", "save_total_limit", "gradient_checkpointing",
    "skip_bad_lines", "dtype", "device", "load_in_4bit",
}  # fmt: skip


def tinker_config_from_local(values: dict[str, Any]) -> tuple[TinkerTrainingConfig, list[str]]:
    """Switch a local training config (dict) to Tinker: the same names map over, and knobs
    Tinker has no equivalent for are dropped and named, so the launcher can say so."""
    data = {k: v for k, v in values.items() if k not in LOCAL_ONLY_FIELDS and k != "backend"}
    dropped = sorted(k for k in values if k in LOCAL_ONLY_FIELDS)
    if isinstance(data.get("epochs"), float):
        data["epochs"] = max(1, math.ceil(data["epochs"]))
    data["backend"] = "tinker"
    return TinkerTrainingConfig.model_validate(data), dropped


class CheckpointRecord(BaseModel):
    """One row of checkpoints.jsonl (the cookbook's fields plus `step`)."""

    name: str
    step: int
    epoch: int
    batch: int
    state_path: str | None = None
    sampler_path: str | None = None
    time: float = Field(default_factory=time.time)


class TinkerRunResult(BaseModel):
    status: Literal["completed", "stopped"]
    output_dir: str
    kind: Literal["dpo", "sft"]
    steps: int
    final_loss: float | None = None
    state_path: str | None = None
    sampler_path: str | None = None
    external_path: str | None = None
    adapter_dir: str | None = None
    artifacts: list[str] = Field(default_factory=list)


def normalize_base_model(name: str) -> str:
    """Our registry's names for the embedded model map to its Hugging Face name."""
    from character.models.embedded import EMBEDDED_ALIASES

    return EMBEDDED_TINKER_NAME if name in EMBEDDED_ALIASES else name


def read_checkpoints(out: Path) -> list[CheckpointRecord]:
    path = out / "checkpoints.jsonl"
    if not path.exists():
        return []
    return [CheckpointRecord.model_validate(o) for _, o in iter_jsonl(path, skip_bad=True)]


def last_state(out: Path) -> CheckpointRecord | None:
    rows = [r for r in read_checkpoints(out) if r.state_path]
    return max(rows, key=lambda r: r.step) if rows else None


def lr_at(step: int, total: int, base: float, warmup_ratio: float, min_ratio: float = 0.1) -> float:
    """Linear warmup, then cosine decay to min_ratio·lr (the recipe's schedule)."""
    warm = int(total * warmup_ratio)
    if warm and step < warm:
        return base * (step + 1) / warm
    span = max(1, total - warm)
    progress = min(1.0, (step - warm) / span)
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _dataset_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _dpo_loss_fn(
    weights: list[list[float]],
    refs: list[list[float]],
    beta: float,
    nll_alpha: float,
    kl_alpha: float,
) -> Callable[[Any, Any], tuple[Any, dict[str, float]]]:
    """The recipe's DPO loss for one batch of interleaved chosen/rejected datums."""

    def loss_fn(data: Any, logprobs: list[Any]) -> tuple[Any, dict[str, float]]:
        import torch
        import torch.nn.functional as F  # noqa: N812

        dpo_terms, nll_terms, kl_terms, margins, accs = [], [], [], [], []
        for k in range(0, len(logprobs), 2):
            lc, lr = logprobs[k].float(), logprobs[k + 1].float()
            wc = torch.tensor(weights[k], dtype=lc.dtype)
            wr = torch.tensor(weights[k + 1], dtype=lr.dtype)
            rc = torch.tensor(refs[k], dtype=lc.dtype)
            rr = torch.tensor(refs[k + 1], dtype=lr.dtype)
            chosen_reward = ((lc - rc) * wc).sum()
            rejected_reward = ((lr - rr) * wr).sum()
            margin = beta * (chosen_reward - rejected_reward)
            dpo_terms.append(-F.logsigmoid(margin))
            nll_terms.append(-(lc * wc).sum() / wc.sum().clamp(min=1))
            kl = (((lc - rc) ** 2) * wc).sum() + (((lr - rr) ** 2) * wr).sum()
            kl_terms.append(kl / (wc.sum() + wr.sum()).clamp(min=1))
            margins.append(float(margin.detach()))
            accs.append(1.0 if float(margin.detach()) > 0 else 0.0)
        dpo = torch.stack(dpo_terms).mean()
        nll = torch.stack(nll_terms).mean()
        kl = torch.stack(kl_terms).mean()
        loss = dpo + nll_alpha * nll + kl_alpha * kl
        metrics = {
            "loss": float(loss.detach()),
            "dpo_loss": float(dpo.detach()),
            "nll": float(nll.detach()),
            "kl": float(kl.detach()),
            "margin": sum(margins) / len(margins),
            "accuracy": sum(accs) / len(accs),
        }
        return loss, metrics

    return loss_fn


class _Run:
    """State of one driver process; split out so each phase stays readable."""

    def __init__(self, config: TinkerTrainingConfig, progress: Progress) -> None:
        from character.tinker.preflight import resolve_api_key, resolve_base_url

        self.cfg = config
        self.p = progress
        self.base_model = normalize_base_model(config.base_model)
        self.out = Path(config.output_dir or _default_output_dir())
        self.url = resolve_base_url(config.base_url)
        self.key = resolve_api_key()
        self.watch = BillingWatch()
        self.last_state_path: str | None = None

    def probe(self) -> bool:
        from character.tinker.preflight import is_reachable

        return is_reachable(self.url, 2.0)

    def wait(self, future: Any, what: str) -> Any:
        """Our deadline, billing watch and bounded network grace around every SDK wait."""
        try:
            return wait_result(
                future,
                timeout_s=self.cfg.request_timeout_s,
                what=what,
                watch=self.watch,
                probe=self.probe,
                network_grace_s=self.cfg.network_grace_s,
            )
        except (TinkerUnreachableError, TinkerTimeoutError) as exc:
            raise TinkerInterruptedError(
                f"{exc} The run was interrupted.", resume_from=self.last_state_path
            ) from exc


def _default_output_dir() -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return get_settings().data_path / "runs" / f"tinker-{stamp}"


def run_tinker_training(
    config: TinkerTrainingConfig,
    reporter: Reporter | Progress | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> TinkerRunResult:
    """Train on Tinker; returns paths of the final state, sampler and downloaded adapter.

    Raises our plain-word Tinker errors; on network loss or a failed remote job the error says
    the run is resumable (call again with `resume=True` and the same `output_dir`).
    """
    check_config_outputs(config)
    from character.tinker.preflight import check_model, probe_reachable, server_models
    from character.tinker.tokenizer import load_tokenizer

    p = as_progress(reporter)
    run = _Run(config, p)
    cfg, out = config, run.out
    previous = last_state(out)
    if previous is not None and not cfg.resume:
        raise FileExistsError(
            f"{out} holds a previous Tinker run (last state at step {previous.step}). "
            "Resume it (resume=True / --resume) or choose another output folder."
        )
    out.mkdir(parents=True, exist_ok=True)

    p.start_stage("tinker: preflight")
    kind = detect_kind(cfg.dataset_path) if cfg.kind == "auto" else cfg.kind
    rows = load_rows(cfg.dataset_path, kind)
    probe_reachable(run.url, 5.0)
    check_model(server_models(run.url, run.key, 20.0), run.base_model, "train")
    tokenizer = load_tokenizer(run.base_model, cfg.tokenizer_dir)
    seqs: list[list[Sequence]] = (
        [[render_sft(tokenizer, r, cfg.max_length)] for r in rows]
        if kind == "sft"
        else [list(render_pair(tokenizer, r, cfg.max_length)) for r in rows]
    )
    public = cfg.model_dump(mode="json")
    public.update(kind=kind, base_model=run.base_model, base_url=run.url)
    atomic_write_json(out / "config.json", public)

    steps_per_epoch = max(1, len(rows) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)

    import tinker
    from tinker import types

    service: Any = None
    with run.watch:
        try:
            service = tinker.ServiceClient(base_url=run.url, api_key=run.key)
            start_step = 0
            if previous is not None:
                p.log(f"Resuming from {previous.state_path} (step {previous.step})")
                tc = run.wait(
                    service.create_training_client_from_state_with_optimizer(previous.state_path),
                    "Loading the saved Tinker state",
                )
                start_step = previous.step
                run.last_state_path = previous.state_path
            else:
                tc = run.wait(
                    service.create_lora_training_client(
                        run.base_model, rank=cfg.lora_rank, seed=cfg.seed
                    ),
                    "Creating the Tinker training run",
                )
            refs = _reference_logprobs(run, service, seqs) if kind == "dpo" else None

            p.start_stage(f"tinker: {kind} training", total=total)
            loss = None
            step = start_step
            for step in range(start_step, total):
                if stop_requested is not None and stop_requested():
                    _save(run, tc, step, steps_per_epoch, final=False)
                    return _result(run, "stopped", kind, step, loss)
                epoch, batch = divmod(step, steps_per_epoch)
                order = list(range(len(rows)))
                random.Random(cfg.seed + epoch).shuffle(order)
                idx = order[batch * cfg.batch_size : (batch + 1) * cfg.batch_size] or order
                lr = lr_at(step, total, cfg.learning_rate, cfg.warmup_ratio, cfg.min_lr_ratio)
                t0 = time.time()
                metrics = _train_step(run, tc, types, kind, [seqs[i] for i in idx], idx, refs, lr)
                loss = metrics["loss"]
                row = {"step": step + 1, "epoch": epoch, "lr": lr, "seconds": time.time() - t0}
                row.update(metrics)
                append_jsonl(out / "metrics.jsonl", [row])
                p.advance(step + 1, total, loss=loss, lr=lr)
                p.metrics(step + 1, **{k: v for k, v in row.items() if k != "step"})
                if (step + 1) % cfg.save_every == 0 and step + 1 < total:
                    _save(run, tc, step + 1, steps_per_epoch, final=False)
            step = total
            _save(run, tc, total, steps_per_epoch, final=True)
            result = _result(run, "completed", kind, total, loss)
            if cfg.export_weights:
                p.start_stage("tinker: export weights")
                ext = run.wait(tc.save_weights_external("final"), "Exporting the adapter")
                result.external_path = ext.path
                if cfg.download_adapter:
                    from character.tinker.weights import download_adapter

                    adapter = download_adapter(
                        ext.path,
                        out / "adapter",
                        base_url=run.url,
                        api_key=run.key,
                        timeout_s=cfg.request_timeout_s,
                        overwrite=True,
                    )
                    result.adapter_dir = str(adapter)
                    result.artifacts.append(str(adapter))
                    p.artifact(str(adapter), "PEFT adapter downloaded from Tinker")
            atomic_write_json(out / "tinker_run.json", result.model_dump(mode="json"))
            _close(service, "success")
            return result
        except TinkerError as exc:
            _record_failure(out, exc, run.last_state_path)
            _close_in_background(service, "interrupted")
            raise
        except Exception as exc:
            if not _is_transport_error(exc):
                raise  # our own bugs and control-flow signals (e.g. a job stop) pass through
            mapped = map_error(exc, "Tinker training")
            _record_failure(out, mapped, run.last_state_path)
            _close_in_background(service, "interrupted")
            raise mapped from exc


def _is_transport_error(exc: BaseException) -> bool:
    """SDK, HTTP and socket errors get plain words; anything else is not ours to rename."""
    module = type(exc).__module__ or ""
    return (
        module.startswith(("tinker", "httpx", "httpcore"))
        or isinstance(exc, (OSError, TimeoutError, ValueError))
        and not isinstance(exc, FileExistsError)
    )


def _close(service: Any, status: str) -> None:
    try:
        service.close(status).result(timeout=3)
    except Exception:  # noqa: BLE001 - best effort
        pass


def _close_in_background(service: Any, status: str) -> None:
    """Tell Tinker the session ended without making the caller wait on a dead network."""
    if service is not None:
        import threading

        threading.Thread(target=_close, args=(service, status), daemon=True).start()


def _record_failure(out: Path, exc: TinkerError, state: str | None) -> None:
    atomic_write_json(
        out / "tinker_status.json",
        {
            "status": "interrupted",
            "error_kind": exc.kind,
            "error": redact_secrets(str(exc)),  # a server may echo the key in its reply
            "resumable": state is not None or exc.kind != "unsupported_model",
            "resume_from": state,
            "time": time.time(),
        },
    )


def _result(
    run: _Run, status: Literal["completed", "stopped"], kind: Any, steps: int, loss: float | None
) -> TinkerRunResult:
    last = last_state(run.out)
    samplers = [r for r in read_checkpoints(run.out) if r.sampler_path]
    return TinkerRunResult(
        status=status,
        output_dir=str(run.out),
        kind=kind,
        steps=steps,
        final_loss=loss,
        state_path=last.state_path if last else None,
        sampler_path=max(samplers, key=lambda r: r.step).sampler_path if samplers else None,
        artifacts=[str(run.out / "metrics.jsonl"), str(run.out / "checkpoints.jsonl")],
    )


def _save(run: _Run, tc: Any, step: int, steps_per_epoch: int, *, final: bool) -> None:
    name = "final" if final else f"step-{step:06d}"
    ttl = None if final else run.cfg.checkpoint_ttl_s
    state = run.wait(tc.save_state(name, ttl_seconds=ttl), "Saving Tinker state")
    sampler = run.wait(
        tc.save_weights_for_sampler(name, ttl_seconds=ttl), "Saving Tinker sampler weights"
    )
    epoch, batch = divmod(step, steps_per_epoch)
    rec = CheckpointRecord(
        name=name,
        step=step,
        epoch=epoch,
        batch=batch,
        state_path=state.path,
        sampler_path=sampler.path,
    )
    append_jsonl(run.out / "checkpoints.jsonl", [rec])
    run.last_state_path = state.path
    run.p.log(f"checkpoint {name}: {sampler.path}")


def _reference_logprobs(
    run: _Run, service: Any, seqs: list[list[Sequence]]
) -> list[list[list[float]]]:
    """Per-token log-probs of every chosen/rejected sequence under the frozen base, cached in
    the output folder so a resumed run does not pay for them twice."""
    from tinker import types

    cache = run.out / "reference_logprobs.json"
    digest = _dataset_hash(run.cfg.dataset_path) + f":{run.base_model}:{run.cfg.max_length}"
    if cache.exists():
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("key") == digest:
            return data["refs"]
    run.p.start_stage("tinker: reference log-probs", total=len(seqs))
    sampler = run.wait(
        service.create_sampling_client(base_model=run.base_model), "Opening the reference model"
    )
    futures = [
        [sampler.compute_logprobs(types.ModelInput.from_ints(s.tokens)) for s in pair]
        for pair in seqs
    ]
    refs: list[list[list[float]]] = []
    for i, pair in enumerate(futures):
        row = []
        for fut in pair:
            lps = run.wait(fut, "Scoring with the reference model")
            row.append([float(x) if x is not None else 0.0 for x in lps[1:]])
        refs.append(row)
        run.p.advance(i + 1, len(seqs))
    atomic_write_json(cache, {"key": digest, "refs": refs})
    return refs


def _train_step(
    run: _Run,
    tc: Any,
    types: Any,
    kind: str,
    batch: list[list[Sequence]],
    idx: list[int],
    refs: list[list[list[float]]] | None,
    lr: float,
) -> dict[str, float]:
    datums = [to_datum(s) for pair in batch for s in pair]
    if kind == "sft":
        fb = tc.forward_backward(datums, "cross_entropy")
    else:
        assert refs is not None
        weights = [s.weights[1:] for pair in batch for s in pair]
        ref_rows = [r for i in idx for r in refs[i]]
        fb = tc.forward_backward_custom(
            datums,
            _dpo_loss_fn(weights, ref_rows, run.cfg.beta, run.cfg.nll_alpha, run.cfg.kl_alpha),
        )
    adam = types.AdamParams(
        learning_rate=lr,
        beta1=0.9,
        beta2=0.98,
        eps=1e-8,
        weight_decay=run.cfg.weight_decay,
        grad_clip_norm=run.cfg.max_grad_norm,
    )
    op = tc.optim_step(adam)
    out = run.wait(fb, "Tinker forward/backward")
    run.wait(op, "Tinker optimiser step")
    metrics = {k: float(v) for k, v in (out.metrics or {}).items()}
    trained = sum(s.trained for pair in batch for s in pair)
    if kind == "sft":
        metrics["loss"] = metrics.get("loss:sum", 0.0) / max(1, trained)
    metrics["tokens"] = float(sum(len(s.tokens) for pair in batch for s in pair))
    return {k.replace(":", "_"): v for k, v in metrics.items()}
