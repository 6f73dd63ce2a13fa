"""A quick, honest check at the end of the pipeline: is the trained model the character when no
system prompt is given, and is it more so than prompting the base model?

Per model (base, base + persona prompt, DPO merged, DPO + SFT, DPO + SFT + persona prompt), on
prompts the training never saw (the held-out pairs' prompts, topped up from the built-in
held-out prompt file):
- the share of sampled replies a persona classifier counts in voice, with a 95% Wilson interval.
  The classifier (MiniLM embeddings + logistic regression) is trained on the run's own DPO
  training pairs only (chosen = in persona, rejected = out), and its accuracy on a stratified
  split it did not fit on is reported next to it, so a weak classifier is visible;
- the same share by the voice judge that chose the teacher's replies (an independent second
  opinion: it never saw the run's pairs);
- the mean per-token NLL of the held-out pairs' in-voice answers given only the user's message
  (lower = the persona became the model's own default voice). DPO raising it over base is
  flagged, so the run says so instead of hiding it.
Replies are sampled the way the persona model is served (temperature 0.7, top-p 0.95,
repetition penalty 1.1, fixed seed), one batched generate call per loaded model, and stored
with their scores so a person can judge them.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from character.backends.base import SamplingParams
from character.constitution import Constitution
from character.eval.persona_classifier import ClassifierReport
from character.eval.stats import Interval, wilson_interval
from character.eval.voice_judge import VoiceJudgeConfig

# The classifier's in-persona probability at or above which a reply counts as in voice.
IN_VOICE_THRESHOLD = 0.5


class QuickEvalSample(BaseModel):
    prompt: str
    answer: str
    classifier_in_voice: float | None = Field(
        default=None, description="Classifier probability that the reply is in persona."
    )
    judge_score: float | None = Field(default=None, description="Voice judge score in [0, 1].")


class ModelScore(BaseModel):
    """One model's numbers; `in_voice` and `judge_in_voice` are shares of `samples`."""

    model: str
    system_prompt: bool = False
    heldout_answer_nll: float | None = None
    in_voice: Interval | None = Field(default=None, description="Classifier in-voice share.")
    judge_in_voice: Interval | None = Field(default=None, description="Voice judge share.")
    samples: list[QuickEvalSample] = Field(default_factory=list)


class ClassifierSummary(BaseModel):
    """What the scoring classifier was trained on and how good it is on texts it did not fit."""

    trained_on: list[str]
    output_dir: str | None = None
    report: ClassifierReport | None = None
    error: str | None = Field(default=None, description="Why no classifier could be trained.")


class VoiceJudgeSummary(BaseModel):
    name: str
    min_in_voice: float


class QuickEvalResult(BaseModel):
    """The file `eval/quick_eval.json`. `headline` is flat, for the run summary and stage
    marker: `nll_<model>`, `in_voice_<model>` with `in_voice_<model>_ci` = [lower, upper],
    `judge_in_voice_<model>` (+ `_ci`), `classifier_accuracy` (+ `_ci`), `dpo_raised_nll`;
    model names with '+' become '_'."""

    method: str
    heldout_pairs: int
    eval_prompts: int
    prompts_from_heldout_pairs: int
    prompts_from_builtin: int
    sampling: SamplingParams
    classifier: ClassifierSummary
    voice_judge: VoiceJudgeSummary | None = None
    models: dict[str, ModelScore]
    dpo_raised_nll: bool | None = Field(
        default=None, description="DPO's held-out NLL is above base's (None: not measured)."
    )
    warnings: list[str] = Field(default_factory=list)
    headline: dict[str, Any]


def format_share(interval: Interval | None) -> str:
    """`0.83 [0.55, 0.95]` (n=12), or a dash when nothing was measured."""
    if interval is None or interval.n == 0:
        return "–"
    return f"{interval.estimate:.2f} [{interval.lower:.2f}, {interval.upper:.2f}]"


def heldout_pairs(path: Path, problems: list[str] | None = None) -> list[tuple[str, str]]:
    """`(user prompt, chosen answer)` of each held-out pair; unreadable rows are skipped and
    described in `problems`."""
    from character.distillation.dataset import load_examples

    if not path.exists():
        return []
    rows = load_examples(path, skip_bad=True, problems=problems)
    return [(ex.prompt, ex.chosen) for ex in rows]


def pair_prompts(path: Path) -> list[str]:
    """The user prompts of a pairs file (empty when it does not exist)."""
    from character.eval.robustness import load_prompt_file

    return load_prompt_file(path) if path.exists() else []


def select_eval_prompts(
    heldout: list[str], train: list[str], count: int, seed: int
) -> tuple[list[str], int]:
    """The held-out pairs' prompts first, then built-in held-out prompts (seeded order) up to
    `count`; returns the prompts and how many came from the built-in file. Built-in prompts
    that a training pair used are skipped; a held-out pair prompt that is also a training prompt
    raises `OverlapError` (the split went wrong, and the numbers would measure memory)."""
    from character.eval.robustness import check_disjoint, heldout_prompts, normalize_prompt

    chosen = list(dict.fromkeys(p for p in heldout if p.strip()))[:count]
    seen = {normalize_prompt(p) for p in chosen} | {normalize_prompt(p) for p in train}
    builtin = [p for p in heldout_prompts() if normalize_prompt(p) not in seen]
    random.Random(seed).shuffle(builtin)
    extra = builtin[: max(0, count - len(chosen))]
    prompts = chosen + extra
    check_disjoint(prompts, train)
    return prompts, len(extra)


def train_run_classifier(
    train_pairs: Path, eval_prompts: list[str], output_dir: Path, seed: int = 0
) -> ClassifierReport:
    """The scoring classifier, fit on the run's DPO training pairs only. Refuses (OverlapError)
    when any evaluation prompt is among the pairs' prompts: a classifier that saw the teacher's
    answer to an evaluation prompt would reward replies for resembling it."""
    from character.eval.persona_classifier import ClassifierConfig, train_classifier
    from character.eval.robustness import check_disjoint

    check_disjoint(eval_prompts, pair_prompts(train_pairs))
    return train_classifier(
        ClassifierConfig(
            train_path=train_pairs, output_dir=output_dir, method="embedding", seed=seed
        )
    )


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


def _share(flags: list[bool]) -> Interval | None:
    return wilson_interval(sum(flags), len(flags)) if flags else None


def _headline(result: QuickEvalResult) -> dict[str, Any]:
    head: dict[str, Any] = {
        "heldout_pairs": result.heldout_pairs,
        "eval_prompts": result.eval_prompts,
    }
    report = result.classifier.report
    if report is not None:
        head["classifier_accuracy"] = round(report.accuracy.estimate, 4)
        head["classifier_accuracy_ci"] = [
            round(report.accuracy.lower, 4),
            round(report.accuracy.upper, 4),
        ]
    for name, row in result.models.items():
        key = name.replace("+", "_")
        if row.heldout_answer_nll is not None:
            head[f"nll_{key}"] = row.heldout_answer_nll
        for field, iv in (("in_voice", row.in_voice), ("judge_in_voice", row.judge_in_voice)):
            if iv is not None:
                head[f"{field}_{key}"] = round(iv.estimate, 4)
                head[f"{field}_{key}_ci"] = [round(iv.lower, 4), round(iv.upper, 4)]
    if result.dpo_raised_nll is not None:
        head["dpo_raised_nll"] = result.dpo_raised_nll
    return head


def quick_eval(
    constitution: Constitution,
    *,
    heldout: Path,
    train_pairs: Path,
    base_ref: str,
    dpo_merged: Path | None,
    sft_adapter: Path | None,
    output_dir: Path,
    samples: int = 12,
    max_new_tokens: int = 64,
    seed: int = 0,
    voice: VoiceJudgeConfig | None = None,
) -> QuickEvalResult:
    """Score every model on the same held-out prompts; see the module docstring. The
    classifier is saved to `output_dir/classifier`."""
    from character.backends.local import LocalBackend
    from character.eval.persona_classifier import IN_PERSONA, ClassifierError, PersonaClassifier
    from character.eval.voice_judge import build_voice_judge
    from character.models.registry import local_paths, resolve
    from character.persona_prompt import persona_conversation

    warnings: list[str] = []
    problems: list[str] = []
    pairs = heldout_pairs(Path(heldout), problems)
    if problems:
        warnings.append(f"{len(problems)} held-out pair(s) unreadable and left out: {problems[0]}")
    prompts, n_builtin = select_eval_prompts(
        [p for p, _ in pairs], pair_prompts(Path(train_pairs)), samples, seed
    )

    clf_dir = Path(output_dir) / "classifier"
    summary = ClassifierSummary(trained_on=[str(train_pairs)])
    classifier: PersonaClassifier | None = None
    if Path(train_pairs).exists():
        try:
            report = train_run_classifier(Path(train_pairs), prompts, clf_dir, seed)
            classifier = PersonaClassifier.load(clf_dir)
            summary.report, summary.output_dir = report, str(clf_dir)
        except ClassifierError as exc:
            summary.error = str(exc)
    else:
        summary.error = f"{train_pairs} does not exist (the pairs stage did not run)"
    if summary.error:
        warnings.append(f"no persona classifier: {summary.error}")

    voice = voice or VoiceJudgeConfig()
    judge = build_voice_judge(constitution, voice)

    base_dir, base_adapter = local_paths(resolve(base_ref))
    # (name, folder, adapter, [(row name, with persona prompt)]): one load and one generate
    # call per model, the persona-prompted conversations batched with the plain ones.
    candidates: list[tuple[str, Path, Path | None, list[tuple[str, bool]]]] = [
        ("base", base_dir, base_adapter, [("base", False), ("base+prompt", True)])
    ]
    if dpo_merged is not None:
        candidates.append(("dpo", Path(dpo_merged), None, [("dpo", False)]))
    if sft_adapter is not None:
        from character.models.loading import adapter_base

        final_base = Path(adapter_base(sft_adapter) or base_dir)
        candidates.append(
            ("dpo+sft", final_base, sft_adapter, [("dpo+sft", False), ("dpo+sft+prompt", True)])
        )
    params = SamplingParams(max_new_tokens=max_new_tokens, seed=seed)
    models: dict[str, ModelScore] = {}
    for name, folder, adapter, variants in candidates:
        model, tok = _load(folder, adapter)
        nll = round(answer_nll(model, tok, pairs), 4) if pairs else None
        convs: list[list[dict[str, str]]] = []
        for _, prompted in variants:
            for p in prompts:
                convs.append(
                    persona_conversation(constitution, p, base_ref)
                    if prompted
                    else [{"role": "user", "content": p}]
                )
        answers: list[str] = []
        if convs:
            # One batch per variant: the backend sorts by prompt length, so plain and
            # persona-prompted conversations (~370 tokens longer) are not padded together,
            # which on 2 CPU cores took 83 s for 24 replies instead of 48 s.
            backend = LocalBackend(
                name, folder, model=model, tokenizer=tok, batch_size=min(len(prompts), 24)
            )
            answers = [o[0].text for o in backend.generate(convs, params)]
        for k, (row_name, prompted) in enumerate(variants):
            part = answers[k * len(prompts) : (k + 1) * len(prompts)]
            texts = [a.strip() or " " for a in part]
            probs = classifier.prob_of(texts, IN_PERSONA) if classifier and part else None
            scores = judge.score(texts) if judge and part else None
            models[row_name] = ModelScore(
                model=str(adapter or folder),
                system_prompt=prompted,
                heldout_answer_nll=None if prompted else nll,
                in_voice=_share([p >= IN_VOICE_THRESHOLD for p in probs]) if probs else None,
                judge_in_voice=_share([s >= voice.min_in_voice for s in scores])
                if scores
                else None,
                samples=[
                    QuickEvalSample(
                        prompt=p,
                        answer=a,
                        classifier_in_voice=round(probs[i], 4) if probs else None,
                        judge_score=scores[i] if scores else None,
                    )
                    for i, (p, a) in enumerate(zip(prompts, part, strict=True))
                ],
            )
        del model
    raised: bool | None = None
    base_nll = models["base"].heldout_answer_nll if "base" in models else None
    dpo_nll = models["dpo"].heldout_answer_nll if "dpo" in models else None
    if base_nll is not None and dpo_nll is not None:
        raised = dpo_nll > base_nll
        if raised:
            warnings.append(
                f"DPO made held-out NLL of in-voice replies worse: base {base_nll:.4f} -> "
                f"DPO {dpo_nll:.4f}"
            )
    result = QuickEvalResult(
        method="held-out prompts, persona sampling (temperature 0.7, top-p 0.95, repetition "
        "1.1, fixed seed); in voice = persona classifier trained on the run's DPO training "
        "pairs, and the voice judge; 95% Wilson intervals; NLL of held-out teacher answers "
        "without a system prompt",
        heldout_pairs=len(pairs),
        eval_prompts=len(prompts),
        prompts_from_heldout_pairs=len(prompts) - n_builtin,
        prompts_from_builtin=n_builtin,
        sampling=params,
        classifier=summary,
        voice_judge=VoiceJudgeSummary(name=judge.name, min_in_voice=voice.min_in_voice)
        if judge
        else None,
        models=models,
        dpo_raised_nll=raised,
        warnings=warnings,
        headline={},
    )
    result.headline = _headline(result)
    return result


def quick_eval_figure(result: QuickEvalResult):  # noqa: ANN201
    """In-voice share per model with 95% intervals, classifier and judge side by side."""
    import plotly.graph_objects as go

    names = list(result.models)
    fig = go.Figure()
    for label, attr in (("classifier", "in_voice"), ("voice judge", "judge_in_voice")):
        ivs = [getattr(result.models[n], attr) for n in names]
        if not any(iv is not None for iv in ivs):
            continue
        est = [iv.estimate if iv else None for iv in ivs]
        fig.add_bar(
            name=label,
            x=names,
            y=est,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [iv.upper - iv.estimate if iv else 0 for iv in ivs],
                "arrayminus": [iv.estimate - iv.lower if iv else 0 for iv in ivs],
            },
        )
    fig.update_layout(
        title=f"In voice on {result.eval_prompts} held-out prompts (95% intervals)",
        yaxis={"title": "share in voice", "range": [0, 1]},
        barmode="group",
    )
    return fig
