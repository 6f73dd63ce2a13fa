"""A quick, self-contained check at the end of the pipeline: does training move the model toward
the persona when no system prompt is given?

Two numbers per model (base, DPO merged, DPO + SFT), on held-out prompts the training never saw:
- the mean per-token negative log-likelihood of the teacher's in-persona answer given only the
  user's message (lower = the persona became the model's own default voice);
- the share of sampled answers that use the persona's own vocabulary (words from its
  sign-offs and speech features), a crude but readable signal, with the answers stored so a
  person can judge them.
The evaluation issue's classifier-based measures are richer; this one needs nothing extra.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from character.constitution import Constitution

_STOP = set(
    [
        "the",
        "and",
        "for",
        "you",
        "your",
        "yer",
        "with",
        "that",
        "this",
        "are",
        "was",
        "but",
        "not",
        "all",
        "any",
        "can",
        "her",
        "his",
        "our",
        "out",
        "one",
        "has",
        "have",
        "had",
        "from",
        "they",
        "them",
        "then",
        "than",
        "when",
        "what",
        "who",
        "how",
        "why",
        "use",
        "uses",
        "like",
        "gives",
        "greets",
        "user",
        "users",
        "signs",
        "off",
        "style",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "it",
        "is",
        "be",
        "as",
        "at",
        "by",
        "or",
        "we",
        "me",
        "my",
    ]
)


def persona_lexicon(constitution: Constitution) -> set[str]:
    """Distinctive words from the sign-offs and speech features (stop words removed)."""
    texts = list(constitution.example_signoffs) + list(constitution.behaviors.linguistic_features)
    words = {w for t in texts for w in re.findall(r"[a-z']+", t.lower())}
    return {w for w in words if len(w) >= 3 and w not in _STOP}


def _heldout_pairs(path: Path) -> list[tuple[str, str]]:
    from character.distillation.dataset import load_examples

    if not path.exists():
        return []
    return [(ex.prompt, ex.chosen) for ex in load_examples(path, skip_bad=True)]


def answer_nll(model: Any, tokenizer: Any, pairs: list[tuple[str, str]]) -> float:
    """Mean per-token NLL of each answer after `[user]` only (no system prompt)."""
    import torch

    from character.introspection.sft import IGNORE, tokenize_conversation

    total, count = 0.0, 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for prompt, answer in pairs:
            rec = tokenize_conversation(
                tokenizer,
                [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
            )
            ids = torch.tensor([rec["input_ids"]], device=device)
            labels = torch.tensor([rec["labels"]], device=device)
            logits = model(ids).logits[:, :-1].float()
            target = labels[:, 1:]
            mask = target != IGNORE
            logp = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1))
            total += float(-(logp.squeeze(-1)[mask]).sum())
            count += int(mask.sum())
    return total / max(count, 1)


def _load(model_dir: Path, adapter: Path | None) -> tuple[Any, Any]:
    from character.models.loading import load_causal_lm

    model, tok = load_causal_lm(model_dir, adapter=adapter)
    if adapter is not None:
        model = model.merge_and_unload()
        model.eval()
    return model, tok


def quick_eval(
    constitution: Constitution,
    *,
    heldout: Path,
    base_ref: str,
    dpo_merged: Path | None,
    sft_adapter: Path | None,
    samples: int = 3,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Score base, DPO and DPO + SFT on the held-out pairs; see the module docstring."""
    from character.backends.base import SamplingParams
    from character.backends.local import LocalBackend
    from character.models.registry import local_paths, resolve

    pairs = _heldout_pairs(Path(heldout))
    base_dir, base_adapter = local_paths(resolve(base_ref))
    candidates: list[tuple[str, Path, Path | None]] = [("base", base_dir, base_adapter)]
    if dpo_merged is not None:
        candidates.append(("dpo", Path(dpo_merged), None))
    if sft_adapter is not None:
        from character.models.loading import adapter_base

        candidates.append(("dpo+sft", Path(adapter_base(sft_adapter) or base_dir), sft_adapter))
    lexicon = persona_lexicon(constitution)
    prompts = [p for p, _ in pairs][:samples]
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
    models: dict[str, Any] = {}
    for name, folder, adapter in candidates:
        model, tok = _load(folder, adapter)
        row: dict[str, Any] = {"model": str(adapter or folder)}
        if pairs:
            row["heldout_answer_nll"] = round(answer_nll(model, tok, pairs), 4)
        if prompts:
            backend = LocalBackend(name, folder, model=model, tokenizer=tok, batch_size=8)
            outs = backend.generate([[{"role": "user", "content": p}] for p in prompts], params)
            answers = [o[0].text for o in outs]
            cut = [o[0].finish_reason == "length" for o in outs]
            hits = [bool(lexicon & set(re.findall(r"[a-z']+", a.lower()))) for a in answers]
            row["persona_word_rate"] = round(sum(hits) / len(hits), 3)
            row["samples"] = [
                {"prompt": p, "answer": a, "cut_off": c}
                for p, a, c in zip(prompts, answers, cut, strict=True)
            ]
        models[name] = row
        del model
    headline: dict[str, Any] = {"heldout_pairs": len(pairs)}
    for name, row in models.items():
        key = name.replace("+", "_")
        if "heldout_answer_nll" in row:
            headline[f"nll_{key}"] = row["heldout_answer_nll"]
        if "persona_word_rate" in row:
            headline[f"persona_words_{key}"] = row["persona_word_rate"]
    return {
        "method": "held-out teacher answers, no system prompt; greedy samples",
        "lexicon": sorted(lexicon),
        "models": models,
        "headline": headline,
    }
