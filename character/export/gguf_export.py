"""Write a merged llama-family model as GGUF with the `gguf` library, then check it.

llama.cpp stores the Q and K projections with the rotary halves interleaved differently from HF,
so those two matrices are permuted on the way out (transformers undoes this when it reads a GGUF,
which is how the check round-trips). The tokenizer goes in as a GPT-2 style BPE vocabulary with
merges, read from the model's `tokenizer.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from character.export.manifest import ExportManifest, versioned_dir, write_manifest
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress

SUPPORTED_ARCHITECTURES = ("llama",)


class UnsupportedArchitectureError(ValueError):
    pass


class GgufConfig(BaseModel):
    model_dir: Path = Field(description="A full (merged) transformers model folder.")
    output_dir: Path
    allow_outside_data_dir: bool = allow_outside_field()
    dtype: Literal["f32", "f16"] = "f16"
    overwrite: bool = False
    tolerance: float | None = Field(
        default=None, description="Largest allowed logit difference (default by dtype)."
    )
    modelfile: bool = Field(default=True, description="Also write an Ollama Modelfile.")
    system_prompt: str | None = None


def _permute_for_gguf(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF stores each head's rotary dims as [first half | second half]; GGUF interleaves them."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensor_name(hf_name: str) -> str | None:
    simple = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    if hf_name in simple:
        return simple[hf_name]
    parts = hf_name.split(".")
    if len(parts) < 5 or parts[0] != "model" or parts[1] != "layers":
        return None
    layer = parts[2]
    rest = ".".join(parts[3:])
    table = {
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
        "input_layernorm.weight": "attn_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
    }
    if rest not in table:
        return None
    return f"blk.{layer}.{table[rest]}"


def _tokenizer_fields(model_dir: Path) -> dict[str, Any]:
    tok_json = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = tok_json.get("model", {})
    if model.get("type") != "BPE":
        raise UnsupportedArchitectureError(
            f"GGUF export supports byte-level BPE tokenizers; this one is {model.get('type')!r}"
        )
    vocab: dict[str, int] = model["vocab"]
    added = {t["content"]: t["id"] for t in tok_json.get("added_tokens", [])}
    size = max([*vocab.values(), *added.values()]) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [1] * size  # 1 = normal
    for text, idx in vocab.items():
        tokens[idx] = text
    for text, idx in added.items():
        tokens[idx] = text
        types[idx] = 3  # 3 = control
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return {"tokens": tokens, "types": types, "merges": merges}


def write_gguf(config: GgufConfig, reporter: Reporter | Progress | None = None) -> Path:
    """Write `<output_dir>/model.gguf` (+ Modelfile, manifest) and verify logits round-trip."""
    check_config_outputs(config, claim=False)
    import gguf
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from character.models.loading import load_tokenizer

    progress = as_progress(reporter)
    model_dir = Path(config.model_dir)
    cfg = AutoConfig.from_pretrained(str(model_dir))
    if cfg.model_type not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedArchitectureError(
            f"GGUF export supports {', '.join(SUPPORTED_ARCHITECTURES)} models; "
            f"{model_dir} is {cfg.model_type!r}. Export the merged safetensors instead."
        )
    out = versioned_dir(Path(config.output_dir), overwrite=config.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.gguf"
    tokenizer = load_tokenizer(model_dir)
    tok = _tokenizer_fields(model_dir)
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(str(shard)))
    progress.start_stage("gguf", total=len(tensors) + 1, message=f"writing {target}")

    n_head = cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_head
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    writer = gguf.GGUFWriter(str(target), "llama")
    writer.add_name(model_dir.name)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rope = getattr(cfg, "rope_parameters", None) or {}
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_file_type(1 if config.dtype == "f16" else 0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm" if "smollm" in str(model_dir).lower() else "default")
    writer.add_token_list(tok["tokens"])
    writer.add_token_types(tok["types"])
    writer.add_token_merges(tok["merges"])
    for setter, value in (
        (writer.add_bos_token_id, tokenizer.bos_token_id),
        (writer.add_eos_token_id, tokenizer.eos_token_id),
        (writer.add_pad_token_id, tokenizer.pad_token_id),
        (writer.add_unk_token_id, tokenizer.unk_token_id),
    ):
        if value is not None:
            setter(int(value))
    writer.add_add_bos_token(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)

    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    for i, (name, tensor) in enumerate(sorted(tensors.items())):
        gname = _tensor_name(name)
        if gname is None or (tied and gname == "output.weight"):
            continue
        arr = tensor.float().numpy()
        if name.endswith("q_proj.weight"):
            arr = _permute_for_gguf(arr, n_head)
        elif name.endswith("k_proj.weight"):
            arr = _permute_for_gguf(arr, n_kv)
        if config.dtype == "f16" and arr.ndim == 2:
            arr = arr.astype(np.float16)
        writer.add_tensor(gname, arr)
        progress.advance(i + 1, len(tensors) + 1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    diff = check_gguf(model_dir, target)
    tolerance = config.tolerance or (1e-3 if config.dtype == "f32" else 0.5)
    if diff > tolerance:
        raise RuntimeError(
            f"GGUF round-trip check failed: logits differ by {diff:.3g} (tolerance {tolerance})"
        )
    if config.modelfile:
        write_modelfile(out, "model.gguf", tokenizer.chat_template, config.system_prompt)
    write_manifest(
        out,
        ExportManifest(
            kind="gguf",
            source_model=str(model_dir),
            check={"max_logit_diff": diff, "tolerance": tolerance, "dtype": config.dtype},
        ),
    )
    progress.advance(len(tensors) + 1, len(tensors) + 1, max_logit_diff=diff)
    progress.artifact(str(target), "GGUF model")
    return target


def check_gguf(model_dir: Path, gguf_path: Path) -> float:
    """Load the GGUF back with transformers and compare logits with the source folder."""
    import torch
    from transformers import AutoModelForCausalLM

    from character.models.loading import load_tokenizer
    from character.models.merge import probe_logits

    tokenizer = load_tokenizer(model_dir)
    src = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    back = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    return float((probe_logits(src, tokenizer) - probe_logits(back, tokenizer)).abs().max())


CHATML_TEMPLATE = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)


def write_modelfile(
    folder: Path, gguf_name: str, chat_template: str | None, system_prompt: str | None = None
) -> Path:
    """An Ollama Modelfile next to the GGUF: `ollama create <name> -f Modelfile`."""
    lines = [f"FROM ./{gguf_name}"]
    if chat_template and "<|im_start|>" in chat_template:
        lines.append(f'TEMPLATE """{CHATML_TEMPLATE}"""')
        lines.append('PARAMETER stop "<|im_end|>"')
    if system_prompt:
        lines.append(f'SYSTEM """{system_prompt}"""')
    lines += ["PARAMETER temperature 0.7", "PARAMETER top_p 0.95", "PARAMETER repeat_penalty 1.1"]
    path = folder / "Modelfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
