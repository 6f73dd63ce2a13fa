"""Persona classifier: tells in-persona text from out-of-persona text (binary), or which
persona wrote a text (multi-class). It scores robustness and attribution.

The offline default embeds texts with all-MiniLM-L6-v2 and fits a logistic regression: seconds
on a CPU and far better than chance on short replies. A character n-gram TF-IDF variant needs no
encoder at all. Fine-tuning a transformer encoder (RoBERTa, ModernBERT, or MiniLM itself) is
available when its weights are on disk; nothing is ever downloaded.

Every report is measured on data the classifier did not see (a stratified, seeded split of the
training files, or separate evaluation files): OCT trained and scored on the same outputs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from character.eval.embeddings import MINILM_NAME
from character.eval.stats import Interval, wilson_interval
from character.io import DataFileError, atomic_write_json, iter_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Reporter, as_progress

IN_PERSONA = "in_persona"
OUT_OF_PERSONA = "out_of_persona"
Method = Literal["auto", "embedding", "tfidf", "transformer"]
MINILM_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}


class ClassifierError(ValueError):
    """The classifier cannot be trained or loaded; the message says what to change."""


class LabeledText(BaseModel):
    text: str
    label: str
    source: str = ""  # file:line, so a surprising example can be traced back


# ---------------------------------------------------------------------------------------------
# Reading labelled texts from every file format the studio writes


def _content(value: Any, path: Path, line: int, field: str) -> str:
    """A string, or the last assistant message of a conversation."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for msg in reversed(value):
            if isinstance(msg, dict) and msg.get("role") == "assistant":
                content = msg.get("content")
                if isinstance(content, str):
                    return content
        raise DataFileError(path, line, f"field '{field}': no assistant message with text")
    raise DataFileError(path, line, f"field '{field}': expected a string or a message list")


def _persona_of(row: dict[str, Any], path: Path, line: int) -> str:
    persona = row.get("persona") or row.get("constitution")
    if not isinstance(persona, str) or not persona:
        raise DataFileError(
            path, line, "persona labels asked for, but the row has no 'persona'/'constitution'"
        )
    return persona


def read_labeled_texts(path: Path | str, *, persona_labels: bool = False) -> list[LabeledText]:
    """Read labelled texts (with label names and their file:line) from JSONL. Accepted rows:

    - `text` with `label` (an int or a name) or `in_persona` (bool);
    - DPO pairs (`chosen`/`rejected`, strings or TRL message lists): chosen is in persona,
      rejected is out of persona;
    - SFT rows (`messages`) and introspection rows (`answer`): in persona.

    With `persona_labels`, in-persona texts are labelled by the row's `persona` (or
    `constitution`) field instead, for a multi-class classifier over personas.
    Bad rows raise `DataFileError` naming the file and line. Empty texts are skipped.
    """
    path = Path(path)
    out: list[LabeledText] = []

    def add(text: str, label: str, line: int) -> None:
        if text.strip():
            out.append(LabeledText(text=text.strip(), label=label, source=f"{path}:{line}"))

    for line, row in iter_jsonl(path):
        in_label = _persona_of(row, path, line) if persona_labels else IN_PERSONA
        text = row.get("text", row.get("response", row.get("completion")))
        if text is not None and ("label" in row or "in_persona" in row):
            text = _content(text, path, line, "text")
            if "label" in row:
                label = row["label"]
                if isinstance(label, bool):
                    label = IN_PERSONA if label else OUT_OF_PERSONA
                if not isinstance(label, (int, str)) or label == "":
                    raise DataFileError(path, line, "field 'label': expected an int or a name")
                add(text, str(label), line)
            else:
                flag = row["in_persona"]
                if not isinstance(flag, bool):
                    raise DataFileError(path, line, "field 'in_persona': expected true or false")
                add(text, in_label if flag else OUT_OF_PERSONA, line)
        elif "chosen" in row and "rejected" in row:
            add(_content(row["chosen"], path, line, "chosen"), in_label, line)
            add(_content(row["rejected"], path, line, "rejected"), OUT_OF_PERSONA, line)
        elif "messages" in row:
            add(_content(row["messages"], path, line, "messages"), in_label, line)
        elif isinstance(row.get("answer"), str):
            add(row["answer"], in_label, line)
        else:
            raise DataFileError(
                path,
                line,
                "expected 'text' with 'label' or 'in_persona', a DPO pair "
                "('chosen'/'rejected'), 'messages', or an introspection 'answer'",
            )
    return out


BINARY_LABELS = {IN_PERSONA: 1, "1": 1, "True": 1, OUT_OF_PERSONA: 0, "0": 0, "False": 0}


def load_labeled_texts(path: Path | str) -> list[tuple[str, int]]:
    """The seed studio's form: `(text, 1)` for in-persona and `(text, 0)` for out-of-persona
    texts, from any row `read_labeled_texts` accepts. A label that is not binary (a persona
    name, or 2) raises `DataFileError` at its line; use `read_labeled_texts` for multi-class."""
    out: list[tuple[str, int]] = []
    for item in read_labeled_texts(path):
        value = BINARY_LABELS.get(item.label)
        if value is None:
            file, _, line = item.source.rpartition(":")
            raise DataFileError(
                Path(file),
                int(line) if line.isdigit() else None,
                f"label {item.label!r} is not binary (1/0, true/false, in_persona/out_of_persona);"
                " read_labeled_texts keeps multi-class labels",
            )
        out.append((item.text, value))
    return out


# ---------------------------------------------------------------------------------------------
# Config, report, fitted classifier


class ClassifierConfig(BaseModel):
    """How to train. `model_name` only matters for the transformer method (a local folder, or
    a name whose weights are already in the local Hugging Face cache)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    train_path: Path | list[Path] = Field(description="Training JSONL file(s) of labelled texts.")
    eval_path: Path | list[Path] | None = Field(
        default=None, description="Evaluation JSONL file(s); without them a share is held out."
    )
    output_dir: Path | None = Field(
        default=None, description="Where the trained classifier is saved (none: not saved)."
    )
    allow_outside_data_dir: bool = allow_outside_field()
    method: Method = Field(
        default="auto",
        description="Features: sentence embeddings, TF-IDF words, a fine-tuned transformer, or "
        "auto (the best available offline).",
    )
    model_name: str | None = Field(
        default=None, description="Local encoder to fine-tune (transformer method)."
    )
    persona_labels: bool = Field(
        default=False, description="Label in-persona texts by persona instead of one label."
    )
    test_size: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="Share held out when no evaluation file is given."
    )
    seed: int = Field(default=0, description="Seed for the split and training.")
    C: float = Field(default=2.0, gt=0, description="Inverse regularization of the linear model.")
    max_iter: int = Field(default=2000, description="Iterations of the linear model's solver.")
    num_epochs: int = Field(default=3, ge=1, description="Transformer epochs.")
    batch_size: int = Field(default=8, ge=1, description="Transformer batch size.")
    learning_rate: float = Field(default=5e-5, gt=0, description="Transformer learning rate.")
    max_length: int = Field(default=256, ge=8, description="Transformer tokens per text.")

    def train_files(self) -> list[Path]:
        return self.train_path if isinstance(self.train_path, list) else [self.train_path]

    def eval_files(self) -> list[Path]:
        if self.eval_path is None:
            return []
        return self.eval_path if isinstance(self.eval_path, list) else [self.eval_path]


class ClassMetrics(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class ClassifierReport(BaseModel):
    method: str
    model_name: str | None
    labels: list[str]
    n_train: int
    n_test: int
    train_counts: dict[str, int]
    evaluated_on: str
    accuracy: Interval
    macro_f1: float
    majority_baseline: float
    chance: float
    per_class: dict[str, ClassMetrics]
    confusion_matrix: list[list[int]]
    output_dir: str | None = None
    notes: list[str] = Field(default_factory=list)
    requested_model: str | None = Field(default=None, description="The model that was asked for.")
    embedding_model_used: str | None = Field(
        default=None, description="What turned texts into features (None: TF-IDF words)."
    )
    warnings: list[str] = Field(
        default_factory=list, description="Things the user asked for that did not happen."
    )


class PersonaClassifier:
    """A fitted classifier; `predict_proba` columns follow `labels`."""

    def __init__(
        self,
        method: str,
        labels: list[str],
        estimator: Any = None,
        transformer_dir: Path | None = None,
        max_length: int = 256,
    ) -> None:
        self.method = method
        self.labels = list(labels)
        self.estimator = estimator
        self.transformer_dir = transformer_dir
        self.max_length = max_length
        self._hf: tuple[Any, Any] | None = None

    def _features(self, texts: Sequence[str]) -> Any:
        if self.method == "embedding":
            from character.eval.embeddings import embed

            return embed(list(texts))
        return list(texts)

    def predict_proba(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, len(self.labels)))
        if self.method == "transformer":
            return self._transformer_proba(texts)
        proba = self.estimator.predict_proba(self._features(texts))
        # Reorder to self.labels (sklearn sorts classes).
        order = [list(self.estimator.classes_).index(lab) for lab in self.labels]
        return proba[:, order]

    def predict(self, texts: Sequence[str]) -> list[str]:
        proba = self.predict_proba(texts)
        return [self.labels[int(i)] for i in proba.argmax(axis=1)] if len(texts) else []

    def prob_of(self, texts: Sequence[str], label: str) -> list[float]:
        if label not in self.labels:
            raise ClassifierError(f"label {label!r} is not one of {self.labels}")
        col = self.labels.index(label)
        return [float(p) for p in self.predict_proba(texts)[:, col]]

    def _transformer_proba(self, texts: Sequence[str]) -> Any:
        import numpy as np
        import torch

        if self._hf is None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(self.transformer_dir))
            model = AutoModelForSequenceClassification.from_pretrained(str(self.transformer_dir))
            model.eval()
            self._hf = (tok, model)
        tok, model = self._hf
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 32):
                batch = tok(
                    list(texts[start : start + 32]),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                out.append(torch.softmax(model(**batch).logits.float(), dim=-1).numpy())
        return np.concatenate(out, axis=0)

    def save(self, folder: Path | str) -> Path:
        """Write `classifier.json` (+ `classifier.joblib`), each atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "method": self.method,
            "labels": self.labels,
            "max_length": self.max_length,
            "transformer_dir": (
                os.path.relpath(self.transformer_dir, folder) if self.transformer_dir else None
            ),
        }
        if self.estimator is not None:
            import joblib

            fd, tmp = tempfile.mkstemp(prefix=".classifier.", suffix=".tmp", dir=folder)
            os.close(fd)
            try:
                joblib.dump(self.estimator, tmp)
                os.replace(tmp, folder / "classifier.joblib")
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        atomic_write_json(folder / "classifier.json", meta)
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> PersonaClassifier:
        folder = Path(folder)
        meta_path = folder / "classifier.json"
        if not meta_path.exists():
            raise ClassifierError(
                f"{folder} holds no trained classifier (classifier.json is missing); train one "
                "with `character eval classifier --train ... --output-dir ...`"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        estimator = None
        if meta["method"] != "transformer":
            import joblib

            estimator = joblib.load(folder / "classifier.joblib")
        tdir = folder / meta["transformer_dir"] if meta.get("transformer_dir") else None
        return cls(meta["method"], meta["labels"], estimator, tdir, meta.get("max_length", 256))


# ---------------------------------------------------------------------------------------------
# Training


def _local_transformer(name: str) -> Path | None:
    """A folder with weights for `name`, without any network access."""
    if name.lower() in MINILM_ALIASES:
        from character.eval.embeddings import minilm_path

        return minilm_path()
    path = Path(name).expanduser()
    if (path / "config.json").exists():
        return path
    try:
        from huggingface_hub import snapshot_download

        found = Path(snapshot_download(name, local_files_only=True))
        return found if (found / "config.json").exists() else None
    except Exception:  # noqa: BLE001 - any failure means "not on disk"
        return None


def _fit_sklearn(method: str, texts: list[str], labels: list[str], cfg: ClassifierConfig) -> Any:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, class_weight="balanced")
    if method == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline

        model = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=1, sublinear_tf=True),
            lr,
        )
        return model.fit(texts, labels)
    from character.eval.embeddings import embed

    return lr.fit(embed(texts), labels)


def _fit_transformer(
    source: Path,
    texts: list[str],
    labels: list[str],
    label_names: list[str],
    cfg: ClassifierConfig,
    out_dir: Path,
    progress: Any,
) -> Path:
    import random

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(str(source))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(source),
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)},
        ignore_mismatched_sizes=True,
    )
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
    index = {n: i for i, n in enumerate(label_names)}
    order = list(range(len(texts)))
    rng = random.Random(cfg.seed)
    steps = cfg.num_epochs * ((len(texts) + cfg.batch_size - 1) // cfg.batch_size)
    step = 0
    for _ in range(cfg.num_epochs):
        rng.shuffle(order)
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            batch = tok(
                [texts[i] for i in idx],
                truncation=True,
                max_length=cfg.max_length,
                padding=True,
                return_tensors="pt",
            )
            target = torch.tensor([index[labels[i]] for i in idx])
            loss = model(**batch, labels=target).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            step += 1
            progress.advance(step, steps, loss=float(loss.detach()))
    model.eval()
    target_dir = out_dir / "transformer"
    model.save_pretrained(target_dir)
    tok.save_pretrained(target_dir)
    return target_dir


def _read_all(files: list[Path], persona_labels: bool) -> list[LabeledText]:
    rows: list[LabeledText] = []
    for f in files:
        rows.extend(read_labeled_texts(f, persona_labels=persona_labels))
    return rows


def train_classifier(
    config: ClassifierConfig, reporter: Reporter | None = None
) -> ClassifierReport:
    """Fit, evaluate on held-out data, and (with `output_dir`) save the classifier and report.

    Raises `ClassifierError` when the data cannot support a classifier, e.g. only one class.
    """
    check_config_outputs(config)
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
    from sklearn.model_selection import train_test_split

    progress = as_progress(reporter)
    progress.start_stage("classifier", total=None, message="reading labelled texts")
    notes: list[str] = []
    train_rows = _read_all(config.train_files(), config.persona_labels)
    counts = Counter(r.label for r in train_rows)
    if len(counts) < 2:
        only = next(iter(counts), "nothing")
        raise ClassifierError(
            f"need at least 2 classes to train a classifier, but "
            f"{', '.join(map(str, config.train_files()))} only contain '{only}' "
            f"({sum(counts.values())} texts). Add out-of-persona examples (a DPO pairs file, whose "
            "rejected answers are out of persona) or texts of another persona."
        )
    eval_files = config.eval_files()
    if eval_files:
        test_rows = _read_all(eval_files, config.persona_labels)
        if not test_rows:
            raise ClassifierError(f"no labelled texts in {', '.join(map(str, eval_files))}")
        fit_rows = train_rows
        evaluated_on = ", ".join(map(str, eval_files))
        unseen = sorted({r.label for r in test_rows} - set(counts))
        if unseen:
            notes.append(f"evaluation labels never seen in training: {unseen}")
    else:
        small = [lab for lab, n in counts.items() if n < 2]
        if small:
            raise ClassifierError(
                f"classes {small} have fewer than 2 examples, too few for a held-out split; "
                "add examples or pass separate evaluation files"
            )
        labels_all = [r.label for r in train_rows]
        n_test = max(len(counts), round(config.test_size * len(train_rows)))
        if len(train_rows) - n_test < len(counts):
            raise ClassifierError(
                f"only {len(train_rows)} texts for {len(counts)} classes: too few to hold out "
                "a test split"
            )
        fit_rows, test_rows = train_test_split(
            train_rows, test_size=n_test, random_state=config.seed, stratify=labels_all
        )
        evaluated_on = (
            f"held-out stratified split ({n_test} of {len(train_rows)}, seed {config.seed})"
        )
    fit_counts = Counter(r.label for r in fit_rows)
    label_names = sorted(fit_counts)

    method = config.method
    source: Path | None = None
    if method in ("auto", "transformer") and config.model_name:
        source = _local_transformer(config.model_name)
        if source is None:
            msg = (
                f"the weights of {config.model_name!r} are not available locally (nothing is "
                "downloaded); pass a local model folder, or use the offline default "
                "(MiniLM embeddings + logistic regression)"
            )
            if method == "transformer":
                raise ClassifierError(msg)
            notes.append(msg + "; used the embedding method")
    if method == "transformer" and source is None:
        raise ClassifierError("the transformer method needs model_name (a local model folder)")
    if method == "auto":
        method = "transformer" if source is not None else "embedding"
    embedding_model_used = (
        config.model_name
        if method == "transformer"
        else MINILM_NAME
        if method == "embedding"
        else None
    )
    warnings: list[str] = []
    if config.model_name and method != "transformer":
        why = (
            "its weights are not available locally (nothing is downloaded)"
            if config.method == "auto"
            else f"the {method} method does not use a model; pass method 'transformer' "
            "(--method transformer) with a local model folder to fine-tune it"
        )
        warnings.append(
            f"model {config.model_name!r} was NOT used: {why}. The classifier was trained on "
            + (f"{MINILM_NAME} embeddings" if method == "embedding" else "TF-IDF word features")
            + " instead."
        )
    for warning in warnings:
        progress.log(f"warning: {warning}")

    out_dir = Path(config.output_dir) if config.output_dir else None
    fit_texts = [r.text for r in fit_rows]
    fit_labels = [r.label for r in fit_rows]
    progress.log(
        f"training {method} classifier on {len(fit_rows)} texts, {len(label_names)} classes"
    )
    if method == "transformer":
        assert source is not None
        work = out_dir or Path(tempfile.mkdtemp(prefix="persona-classifier-"))
        tdir = _fit_transformer(source, fit_texts, fit_labels, label_names, config, work, progress)
        clf = PersonaClassifier(method, label_names, None, tdir, config.max_length)
    else:
        estimator = _fit_sklearn(method, fit_texts, fit_labels, config)
        clf = PersonaClassifier(method, label_names, estimator)

    test_texts = [r.text for r in test_rows]
    truth = [r.label for r in test_rows]
    pred = clf.predict(test_texts)
    all_labels = sorted(set(label_names) | set(truth))
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=all_labels, zero_division=0)
    present = [i for i, lab in enumerate(all_labels) if lab in set(truth)]
    macro_f1 = float(sum(f[i] for i in present) / len(present)) if present else 0.0
    correct = sum(t == q for t, q in zip(truth, pred, strict=True))
    test_counts = Counter(truth)
    report = ClassifierReport(
        method=method,
        model_name=config.model_name
        if method == "transformer"
        else "all-MiniLM-L6-v2"
        if method == "embedding"
        else None,
        labels=label_names,
        n_train=len(fit_rows),
        n_test=len(test_rows),
        train_counts=dict(sorted(fit_counts.items())),
        evaluated_on=evaluated_on,
        accuracy=wilson_interval(correct, len(truth)),
        macro_f1=macro_f1,
        majority_baseline=max(test_counts.values()) / len(truth),
        chance=1.0 / len(label_names),
        per_class={
            lab: ClassMetrics(
                precision=float(p[i]), recall=float(r[i]), f1=float(f[i]), support=int(s[i])
            )
            for i, lab in enumerate(all_labels)
        },
        confusion_matrix=confusion_matrix(truth, pred, labels=all_labels).tolist(),
        notes=notes,
        requested_model=config.model_name,
        embedding_model_used=embedding_model_used,
        warnings=warnings,
    )
    if out_dir is not None:
        clf.save(out_dir)
        report.output_dir = str(out_dir)
        atomic_write_json(out_dir / "classifier_report.json", report.model_dump(mode="json"))
        atomic_write_json(
            out_dir / "confusion_matrix.plotly.json", json.loads(confusion_figure(report).to_json())
        )
        progress.artifact(str(out_dir), "persona classifier")
    progress.metrics(accuracy=report.accuracy.estimate, macro_f1=report.macro_f1)
    return report


def confusion_figure(report: ClassifierReport):  # noqa: ANN201
    import plotly.graph_objects as go

    labels = sorted(report.per_class)
    fig = go.Figure(
        go.Heatmap(
            z=report.confusion_matrix, x=labels, y=labels, colorscale="Blues", texttemplate="%{z}"
        )
    )
    fig.update_layout(
        title=f"Confusion matrix (accuracy {report.accuracy.estimate:.2f}, macro-F1 "
        f"{report.macro_f1:.2f})",
        xaxis_title="predicted",
        yaxis_title="true",
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    """`python -m character.eval.persona_classifier --train ... --eval ... --output-dir ...`"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m character.eval.persona_classifier")
    parser.add_argument("--train", nargs="+", type=Path, required=True)
    parser.add_argument("--eval", nargs="*", type=Path, default=None)
    parser.add_argument("--model", default=None, help="Transformer to fine-tune (local only).")
    parser.add_argument(
        "--method", default="auto", choices=["auto", "embedding", "tfidf", "transformer"]
    )
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--persona-labels", action="store_true")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    from character.progress import print_reporter

    try:
        report = train_classifier(
            ClassifierConfig(
                train_path=args.train,
                eval_path=args.eval or None,
                output_dir=args.output_dir,
                method=args.method,
                model_name=args.model,
                persona_labels=args.persona_labels,
                test_size=args.test_size,
                seed=args.seed,
                num_epochs=args.epochs,
                batch_size=args.batch_size,
            ),
            reporter=print_reporter,
        )
    except (ClassifierError, DataFileError) as exc:
        print(f"Error: {exc}")
        return 1
    print(report.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
