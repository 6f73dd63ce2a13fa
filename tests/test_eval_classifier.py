"""Persona classifier on synthetic texts of three personas, with real MiniLM embeddings."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from character.eval.persona_classifier import (
    ClassifierConfig,
    ClassifierError,
    PersonaClassifier,
    main,
    read_labeled_texts,
    train_classifier,
)
from character.io import DataFileError

pytestmark = pytest.mark.unit

VOCAB = {
    "pirate": (
        ["Arr, matey", "Ahoy", "Shiver me timbers", "Avast, ye scallywag"],
        [
            "the ship",
            "buried treasure",
            "the salty sea",
            "me parrot",
            "the captain's map",
            "the crew",
            "the cannons",
            "the plank",
        ],
    ),
    "gardener": (
        ["Well now, friend", "Gently does it", "Ah, lovely question", "Dear soul"],
        [
            "the tomato seedlings",
            "compost",
            "the rose beds",
            "rich soil",
            "spring bulbs",
            "the greenhouse",
            "earthworms",
            "pruning shears",
        ],
    ),
    "robot": (
        ["PROCESSING.", "BEEP. QUERY RECEIVED.", "COMPUTATION COMPLETE.", "AFFIRMATIVE."],
        [
            "my circuits",
            "the mainframe",
            "binary code",
            "the algorithm",
            "my sensors",
            "the power grid",
            "data packets",
            "my processors",
        ],
    ),
}
VERBS = ["reminds me of", "is much like", "makes me think of", "needs", "depends on"]
TOPICS = [
    "your question",
    "learning to cook",
    "a rainy day",
    "saving money",
    "friendship",
    "a long trip",
    "a hard exam",
    "moving house",
]


def persona_texts(n_per: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for persona, (openers, nouns) in VOCAB.items():
        for _ in range(n_per):
            text = (
                f"{rng.choice(openers)}! {rng.choice(TOPICS).capitalize()} "
                f"{rng.choice(VERBS)} {rng.choice(nouns)}, and {rng.choice(nouns)} too."
            )
            rows.append({"text": text, "label": persona})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_three_personas_beat_chance_on_held_out(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", persona_texts(20, seed=0))
    out = tmp_path / "clf"
    report = train_classifier(ClassifierConfig(train_path=data, output_dir=out, seed=1))
    assert report.method == "embedding"
    assert report.labels == ["gardener", "pirate", "robot"]
    assert report.n_test == 12 and report.n_train == 48
    assert report.accuracy.lower > report.chance  # significantly better than 1/3
    assert report.macro_f1 > 0.6
    assert len(report.confusion_matrix) == 3
    assert sum(map(sum, report.confusion_matrix)) == report.n_test
    assert (out / "classifier_report.json").exists() and (
        out / "confusion_matrix.plotly.json"
    ).exists()

    clf = PersonaClassifier.load(out)
    fresh = persona_texts(3, seed=99)
    pred = clf.predict([r["text"] for r in fresh])
    assert sum(p == r["label"] for p, r in zip(pred, fresh, strict=True)) >= 6
    probs = clf.prob_of([fresh[0]["text"]], "pirate")
    assert 0.0 <= probs[0] <= 1.0


def test_tfidf_variant_and_separate_eval_file(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", persona_texts(15, seed=1))
    ev = write_jsonl(tmp_path / "eval.jsonl", persona_texts(5, seed=2))
    report = train_classifier(ClassifierConfig(train_path=train, eval_path=ev, method="tfidf"))
    assert report.method == "tfidf" and report.n_test == 15
    assert report.accuracy.estimate > 0.6


def test_one_persona_is_a_clear_error(tmp_path: Path) -> None:
    rows = [r for r in persona_texts(10, seed=0) if r["label"] == "pirate"]
    data = write_jsonl(tmp_path / "one.jsonl", rows)
    with pytest.raises(ClassifierError, match="at least 2 classes.*only contain 'pirate'"):
        train_classifier(ClassifierConfig(train_path=data))
    # An SFT file alone is one class too (all in persona).
    sft = write_jsonl(
        tmp_path / "sft.jsonl",
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}],
    )
    with pytest.raises(ClassifierError, match="in_persona"):
        train_classifier(ClassifierConfig(train_path=sft))


def test_missing_transformer_weights_is_clear(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", persona_texts(6, seed=0))
    with pytest.raises(ClassifierError, match="not available locally"):
        train_classifier(
            ClassifierConfig(train_path=data, method="transformer", model_name="no-such/model-x")
        )
    # auto falls back to the offline default and says so.
    rep = train_classifier(ClassifierConfig(train_path=data, model_name="no-such/model-x"))
    assert rep.method == "embedding" and "not available locally" in rep.notes[0]


def test_read_labeled_texts_formats(tmp_path: Path) -> None:
    rows = [
        {"text": "Arr!", "label": 1},
        {"text": "Hello.", "in_persona": False},
        {
            "prompt": [{"role": "user", "content": "hi"}],
            "chosen": [{"role": "assistant", "content": "Ahoy!"}],
            "rejected": [{"role": "assistant", "content": "Hello, how can I help?"}],
            "constitution": "pirate",
        },
        {"prompt": "hi", "chosen": "Yo ho", "rejected": "Hi.", "constitution": "pirate"},
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "Yarr"},
            ],
            "persona": "pirate",
        },
        {"prompt": "p", "reflection": "r", "answer": "A pirate's answer", "constitution": "pirate"},
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    got = read_labeled_texts(path)
    assert [(t.text, t.label) for t in got] == [
        ("Arr!", "1"),
        ("Hello.", "out_of_persona"),
        ("Ahoy!", "in_persona"),
        ("Hello, how can I help?", "out_of_persona"),
        ("Yo ho", "in_persona"),
        ("Hi.", "out_of_persona"),
        ("Yarr", "in_persona"),
        ("A pirate's answer", "in_persona"),
    ]
    assert got[2].source.endswith("mixed.jsonl:3")
    by_persona = read_labeled_texts(path, persona_labels=False)
    assert len(by_persona) == 8
    bad = write_jsonl(tmp_path / "bad.jsonl", [rows[0], {"text": "no label"}])
    with pytest.raises(DataFileError, match=r"bad.jsonl:2"):
        read_labeled_texts(bad)
    (tmp_path / "broken.jsonl").write_text('{"text": "a", "label": "x"}\n{oops\n')
    with pytest.raises(DataFileError, match=r"broken.jsonl:2.*invalid JSON"):
        read_labeled_texts(tmp_path / "broken.jsonl")
    with pytest.raises(DataFileError, match="persona"):
        read_labeled_texts(write_jsonl(tmp_path / "np.jsonl", [rows[1]]), persona_labels=True)


def test_module_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", persona_texts(8, seed=3))
    code = main(["--train", str(train), "--method", "tfidf", "--output-dir", str(tmp_path / "o")])
    assert code == 0
    assert '"macro_f1"' in capsys.readouterr().out
    one = write_jsonl(tmp_path / "one.jsonl", [{"text": "a", "label": "x"}] * 4)
    assert main(["--train", str(one)]) == 1
    assert "at least 2 classes" in capsys.readouterr().out


def test_transformer_fine_tune_on_local_weights(tmp_path: Path) -> None:
    """The optional fine-tune path on a local encoder folder (a tiny random BERT with MiniLM's
    tokenizer, so it takes seconds; nothing is downloaded)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from character.eval.embeddings import minilm_path

    enc = tmp_path / "tiny-bert"
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(enc)
    tok.save_pretrained(enc)
    data = write_jsonl(tmp_path / "t.jsonl", persona_texts(8, seed=5))
    rep = train_classifier(
        ClassifierConfig(
            train_path=data,
            model_name=str(enc),
            num_epochs=2,
            batch_size=8,
            learning_rate=1e-3,
            max_length=32,
            output_dir=tmp_path / "tx",
        )
    )
    assert rep.method == "transformer" and rep.n_test == 5
    clf = PersonaClassifier.load(tmp_path / "tx")
    assert clf.predict(["Arr, matey! the ship"])[0] in rep.labels
