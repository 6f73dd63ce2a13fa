"""Transcript import: formats, speakers, scene-level splits, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.sources.transcripts import (
    TranscriptDatasetConfig,
    TranscriptError,
    TranscriptImportConfig,
    build_transcript_dataset,
    load_transcripts,
)

pytestmark = pytest.mark.unit
LIGHTHOUSE = Path(__file__).resolve().parent.parent / "examples" / "transcripts" / "lighthouse"


def test_raw_screenplay_imports_with_speakers_and_scenes() -> None:
    corpus = load_transcripts(TranscriptImportConfig(data_folder=LIGHTHOUSE, format="raw"))
    table = {row["speaker"]: row["lines"] for row in corpus.speakers()}
    assert set(table) == {"MARGARET", "TOMMY", "ELLIS"}
    assert table["MARGARET"] == 30
    assert len(corpus.scenes()) == 6
    assert corpus.encodings["act1.txt"] == "utf-8"


def test_dataset_splits_by_scene_never_by_line(tmp_path: Path) -> None:
    corpus = load_transcripts(TranscriptImportConfig(data_folder=LIGHTHOUSE, format="raw"))
    summary = build_transcript_dataset(
        corpus, TranscriptDatasetConfig(target="margaret", output_dir=tmp_path, holdout_share=0.34)
    )
    train = [json.loads(x) for x in (tmp_path / "train.jsonl").read_text().splitlines()]
    hold = [json.loads(x) for x in (tmp_path / "holdout.jsonl").read_text().splitlines()]
    assert summary["holdout_examples"] == len(hold) > 0 and len(train) > 0
    assert {r["scene"] for r in train}.isdisjoint({r["scene"] for r in hold})
    for row in train + hold:
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:], strict=False))  # alternating
    replies = [
        m["content"] for r in train + hold for m in r["messages"] if m["role"] == "assistant"
    ]
    assert sum(len(r) for r in replies) >= sum(
        len(line.text) for line in corpus.lines if line.speaker == "MARGARET"
    )


def test_jsonl_format_reports_lines_without_speaker(tmp_path: Path) -> None:
    rows = [
        {"speaker": "Ann", "text": "Hello."},
        {"text": "who said this?"},
        {"speaker": "Bob", "text": "Hi, Ann."},
    ]
    (tmp_path / "s.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    corpus = load_transcripts(TranscriptImportConfig(data_folder=tmp_path, format="jsonl"))
    assert [line.speaker for line in corpus.lines] == ["ANN", "BOB"]
    assert any("s.jsonl:2: line without a speaker" in p for p in corpus.problems)
    assert any("s.jsonl:4: invalid JSON" in p for p in corpus.problems)


def test_too_few_lines_says_how_many_are_needed(tmp_path: Path) -> None:
    corpus = load_transcripts(TranscriptImportConfig(data_folder=LIGHTHOUSE, format="raw"))
    with pytest.raises(TranscriptError, match="ELLIS has 17 lines; at least 20 are needed"):
        build_transcript_dataset(
            corpus, TranscriptDatasetConfig(target="Ellis", output_dir=tmp_path)
        )
    with pytest.raises(TranscriptError, match="no speaker 'Nemo'"):
        build_transcript_dataset(
            corpus, TranscriptDatasetConfig(target="Nemo", output_dir=tmp_path)
        )


def test_prose_is_refused_with_the_first_failing_lines(tmp_path: Path) -> None:
    (tmp_path / "novel.txt").write_text(
        "It was a dark and stormy night.\nThe rain fell in torrents.\nANN: Hello.\n"
    )
    with pytest.raises(
        TranscriptError, match=r"(?s)does not look like a screenplay.*novel.txt:1: It was"
    ):
        load_transcripts(TranscriptImportConfig(data_folder=tmp_path, format="raw"))


def test_encodings_and_duplicate_scenes(tmp_path: Path) -> None:
    text = "# SCENE ONE\nANN: Caf\u00e9 au lait?\nBOB: Oui.\n"
    (tmp_path / "a.txt").write_bytes(text.encode("cp1252"))
    (tmp_path / "b.txt").write_bytes(text.encode("utf-16"))
    (tmp_path / "c.txt").write_bytes(b"\x81\x8d\x8f\x90\x9d")  # undefined in cp1252
    with pytest.raises(TranscriptError, match="unknown text encoding"):
        load_transcripts(TranscriptImportConfig(data_folder=tmp_path, format="raw"))
    (tmp_path / "c.txt").unlink()
    corpus = load_transcripts(TranscriptImportConfig(data_folder=tmp_path, format="raw"))
    assert corpus.encodings == {"a.txt": "cp1252", "b.txt": "utf-16"}
    assert corpus.lines[0].text == "Caf\u00e9 au lait?"
    assert len(corpus.duplicate_scenes) == 1 and len(corpus.lines) == 2


# A scene in the layout of most printed plays (Hamlet V.i-ii, abridged).
PLAY = """THE TRAGEDY OF HAMLET, PRINCE OF DENMARK

ACT V.

SCENE I. A churchyard.

[Enter two Clowns, with spades,
and a lantern.]

1 Clown.
Is she to be buried in Christian burial when she wilfully seeks her
own salvation?

2 Clown.
I tell thee she is; therefore make her grave straight.

[Exit Second Clown.]

Enter Hamlet and Horatio afar off.

Ham.
Whose grave's this, sirrah?

1 Clown.
Mine, sir.
[Sings.]
O, a pit of clay for to be made
For such a guest is meet.

Ham.
I think it be thine indeed, for thou liest in't.

SCENE II. A hall in the castle.

Ham. So much for this, sir; now shall you see the other.
You do remember all the circumstance?

Hor.
Remember it, my lord!

Ham.
Sir, in my heart there was a kind of fighting
Farewell.
Alas poor Yorick: I knew him.
[Aside to Horatio.] Let it work.
"""


def test_play_layout_imports_with_speakers_and_scenes(tmp_path: Path) -> None:
    (tmp_path / "hamlet.txt").write_text(PLAY, encoding="utf-8")
    corpus = load_transcripts(TranscriptImportConfig(data_folder=tmp_path, format="raw"))
    got = [(line.speaker, line.text) for line in corpus.lines]
    assert got == [
        (
            "1 CLOWN",
            "Is she to be buried in Christian burial when she wilfully seeks her own salvation?",
        ),
        ("2 CLOWN", "I tell thee she is; therefore make her grave straight."),
        ("HAM", "Whose grave's this, sirrah?"),
        ("1 CLOWN", "Mine, sir. O, a pit of clay for to be made For such a guest is meet."),
        ("HAM", "I think it be thine indeed, for thou liest in't."),
        ("HAM", "So much for this, sir; now shall you see the other. You do remember all the "
         "circumstance?"),
        ("HOR", "Remember it, my lord!"),
        ("HAM", "Sir, in my heart there was a kind of fighting Farewell. Alas poor Yorick: I "
         "knew him. Let it work."),
    ]  # fmt: skip
    assert [line.scene for line in corpus.lines].count("hamlet.txt#1") == 5
    assert len(corpus.scenes()) == 2
    assert corpus.problems == ["hamlet.txt:1: THE TRAGEDY OF HAMLET, PRINCE OF DENMARK"]


def test_raw_threshold_is_an_option(tmp_path: Path) -> None:
    front = "".join(f"Front matter line {i}, with commas, not a speech\n" for i in range(8))
    (tmp_path / "play.txt").write_text(front + "\nHam.\nTo be.\n\nHor.\nOr not.\n")
    with pytest.raises(TranscriptError, match=r"4 of 12 lines.*50% threshold.*min-parsed-share"):
        load_transcripts(TranscriptImportConfig(data_folder=tmp_path, format="raw"))
    corpus = load_transcripts(
        TranscriptImportConfig(data_folder=tmp_path, format="raw", min_parsed_share=0.3)
    )
    assert [line.speaker for line in corpus.lines] == ["HAM", "HOR"]
    with pytest.raises(ValueError):
        TranscriptImportConfig(data_folder=tmp_path, min_parsed_share=1.5)


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("SCENE II. A hall in the castle.", True),
        ("ACT V.", True),
        ("Scene 2", True),
        ("Scene: the kitchen", True),
        ("INT. LIGHTHOUSE - NIGHT", True),
        ("# ACT ONE", True),
        ("Act well your part; there all the honour lies.", False),
        ("Scenery changes with the tide.", False),
        ("ACTOR: My line.", False),
    ],
)
def test_scene_headings_are_not_speech(line: str, heading: bool) -> None:
    from character.sources.transcripts import SCENE_HEADING

    assert bool(SCENE_HEADING.match(line)) is heading


JAPANESE = (
    "# 第一場\nHAMLET: 生きるべきか死ぬべきか、それが問題だ。\n"
    "OPHELIA: 殿下、お元気ですか。\nHAMLET: ありがとう、元気だ。\n"
)


@pytest.mark.parametrize("encoding", ["shift_jis", "cp932", "euc_jp", "utf-16", "utf-8-sig"])
def test_japanese_transcripts_are_read_not_turned_into_mojibake(
    tmp_path: Path, encoding: str
) -> None:
    (tmp_path / "hamlet.txt").write_bytes(JAPANESE.encode(encoding))
    corpus = load_transcripts(TranscriptImportConfig(data_folder=tmp_path, format="raw"))
    assert corpus.encodings["hamlet.txt"] != "cp1252"
    assert {row["speaker"] for row in corpus.speakers()} == {"HAMLET", "OPHELIA"}
    assert corpus.lines[0].text == "生きるべきか死ぬべきか、それが問題だ。"


def test_legacy_encodings_detected_or_refused_by_name(tmp_path: Path) -> None:
    from character.sources.transcripts import decode_text

    western = "ANNA: Größe, Ärger und Café — déjà vu… ¿Qué?\n"
    assert decode_text(western.encode("cp1252"), "w.txt") == (western, "cp1252")
    # Chinese and Korean legacy bytes overlap: refused with the file named, never guessed
    korean = "햄릿: 사느냐 죽느냐 그것이 문제로다.\n"
    with pytest.raises(TranscriptError, match=r"k\.txt: .*save it as UTF-8"):
        decode_text(korean.encode("euc_kr"), "k.txt")
    with pytest.raises(TranscriptError, match=r"bin\.txt: unknown text encoding"):
        decode_text(bytes(range(256)) * 4, "bin.txt")
    with pytest.raises(TranscriptError, match="byte-order mark but is not valid UTF-8"):
        decode_text(b"\xef\xbb\xbfA: \xff\xfe", "bom.txt")


def test_upload_of_shift_jis_is_saved_as_utf8_and_nul_names_are_refused() -> None:
    from character.sources.transcripts import save_uploaded_transcripts, transcripts_root

    folder = save_uploaded_transcripts("hamlet-ja", [("hamlet.txt", JAPANESE.encode("shift_jis"))])
    assert (folder / "hamlet.txt").read_text(encoding="utf-8") == JAPANESE
    for name in ("evil\x00.txt", "a\nb.txt", "tab\t.txt"):
        with pytest.raises(TranscriptError, match="control characters"):
            save_uploaded_transcripts("nul-name", [(name, b"A: hi\n")])
    assert not (transcripts_root() / "nul-name").exists()
