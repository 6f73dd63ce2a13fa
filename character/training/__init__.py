"""Shared training plumbing for every trainer in the studio (DPO distillation, introspection SFT).

Why this exists: the library defaults are wrong for our hardware (TRL turns bf16 on, which made
a CPU step 14x slower; gradient checkpointing slows tiny models) and every stage needs the same
run-folder contract. Reuse it like this (see `character.distillation.train` for a full example):

```python
from character.training import (
    MetricsCallback, build_lora_config, finalize_adapter, last_checkpoint,
    load_model_for_training, precision_kwargs, write_run_files,
)

model, tok, base, _ = load_model_for_training("smollm2-135m")   # any local ref or adapter
lora = build_lora_config(model, rank=32, alpha=64, dropout=0.0)  # targets resolved + asserted
args = SFTConfig(output_dir=str(out), **precision_kwargs(),
                 gradient_checkpointing=use_gradient_checkpointing(model), logging_steps=1, ...)
trainer = SFTTrainer(..., peft_config=lora, callbacks=[MetricsCallback(out, reporter, stop_fn)])
trainer.train(resume_from_checkpoint=last_checkpoint(out) if resume else None)
finalize_adapter(trainer, tok, out, base)                       # PEFT folder + our metadata
```

Run-folder contract (`out`): the final PEFT adapter at the root (`adapter_config.json`,
`adapter_model.safetensors`, `character_adapter.json`), `checkpoint-N/` folders (resumable),
`metrics.jsonl` (one row per logged step, `tokens_per_s` added), `training_config.json` and
`provenance.json`.
"""

from character.training.callbacks import MetricsCallback
from character.training.lora import build_lora_config, linear_module_names, resolve_target_modules
from character.training.setup import (
    finalize_adapter,
    last_checkpoint,
    load_model_for_training,
    precision_kwargs,
    use_gradient_checkpointing,
    write_run_files,
)

__all__ = [
    "MetricsCallback",
    "build_lora_config",
    "finalize_adapter",
    "last_checkpoint",
    "linear_module_names",
    "load_model_for_training",
    "precision_kwargs",
    "resolve_target_modules",
    "use_gradient_checkpointing",
    "write_run_files",
]
