"""Transcripts as a character source: import, list speakers, build multi-turn SFT examples.

The target speaker's lines become assistant turns and everyone else's lines the user context,
so the same SFT trainer (loss on every assistant turn) learns the character's voice. Splits are
by scene (or file), never by line, so held-out perplexity measures lines from unseen scenes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from character.io import atomic_write_json, atomic_write_text

# INT./EXT. sluglines, "SCENE II. A hall.", "ACT I", "Scene 2", "Scene: ...", "[Scene ...",
# markdown headings.
# "Act" or "Scene" in mixed case needs a numeral, so a speech line "Act well your part" is speech.
SCENE_HEADING = re.compile(
    r"^\s*(?:(?i:INT\.|EXT\.|INT/EXT|\[SCENE)|(?:ACT|SCENE)\b"
    r"|(?:Act|Scene)\s+(?:[IVXLC]+\b|\d+)|(?i:act|scene)\s*:|#+\s)"
)
SPEAKER_LINE = re.compile(r"^\s*([A-Z][A-Za-z0-9 .'\-]{0,40}?)\s*(\([^)]*\))?\s*:\s*(.+)$")
STAGE_DIRECTION = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# The play layout: "Ham." or "1 Clown." or "KING CLAUDIUS." alone on a line heads a speech.
_PLAY_NAME = r"((?:\d\s+)?[A-Z][A-Za-z'\-]*(?:\s+[A-Z][A-Za-z'\-]*){0,2})"
PLAY_SPEAKER_ALONE = re.compile(rf"^\s*{_PLAY_NAME}\.\s*$")
PLAY_SPEAKER_INLINE = re.compile(rf"^\s*{_PLAY_NAME}\.\s+(\S.*)$")
DIRECTION_VERB = re.compile(r"^(Enter|Exit|Exeunt|Re-enter|Manet|Flourish)\b")


class TranscriptError(ValueError):
    pass


class TranscriptLine(BaseModel):
    speaker: str
    text: str
    scene: str
    file: str
    line: int


class TranscriptImportConfig(BaseModel):
    """Where the transcripts are and how to read them (the seed CLI's options)."""

    data_folder: Path = Field(default=Path("./data"), description="Folder of transcript files.")
    format: Literal["jsonl", "raw"] = "jsonl"
    extensions: list[str] = Field(default_factory=lambda: [".jsonl", ".txt"])
    min_parsed_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A raw file parsing below this share is refused as no screenplay.",
    )


class Corpus(BaseModel):
    lines: list[TranscriptLine]
    problems: list[str] = Field(default_factory=list)
    encodings: dict[str, str] = Field(default_factory=dict)
    duplicate_scenes: list[str] = Field(default_factory=list)

    def speakers(self) -> list[dict[str, object]]:
        """Speakers with line and word counts and a few sample lines, most lines first."""
        counts = Counter(line.speaker for line in self.lines)
        table = []
        for speaker, n in counts.most_common():
            own = [line.text for line in self.lines if line.speaker == speaker]
            table.append(
                {
                    "speaker": speaker,
                    "lines": n,
                    "words": sum(len(t.split()) for t in own),
                    "samples": own[:3],
                }
            )
        return table

    def scenes(self) -> dict[str, list[TranscriptLine]]:
        out: dict[str, list[TranscriptLine]] = {}
        for line in self.lines:
            out.setdefault(line.scene, []).append(line)
        return out


def read_text_any_encoding(path: Path) -> tuple[str, str]:
    """Decode a text file whatever editor saved it (see `decode_text`); else refuse."""
    return decode_text(path.read_bytes(), str(path))


# Legacy encodings tried when a file is not UTF-8. Japanese text always has kana, which tells
# it apart; Chinese and Korean byte ranges overlap, so only an unambiguous one is accepted.
JAPANESE_ENCODINGS = ("cp932", "euc_jp")
OTHER_CJK_ENCODINGS = ("gb18030", "big5", "euc_kr")
_CJK_RANGES = (
    (0x3000, 0x30FF),  # CJK punctuation, hiragana, katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # hangul syllables
    (0xFF01, 0xFF60),  # full-width forms (not the half-width katakana after them)
)
# What Western text in Windows-1252 holds beyond ASCII; anything else (e.g. the "‚" and "ƒ"
# that Shift-JIS bytes turn into) means the bytes are not Windows-1252.
_WESTERN = set(
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿŒœŠšŽžŸ"
    "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u20ac\u00a0«»°¿¡ªº§©®£"
)


def _share(text: str, wanted: tuple[tuple[int, int], ...]) -> float:
    wide = [ord(c) for c in text if ord(c) > 0x7F]
    if not wide:
        return 0.0
    return sum(any(lo <= c <= hi for lo, hi in wanted) for c in wide) / len(wide)


def _strict(raw: bytes, enc: str) -> str | None:
    try:
        return raw.decode(enc)
    except UnicodeDecodeError:
        return None


def _legacy_decode(raw: bytes, name: str) -> tuple[str, str] | None:
    western = _strict(raw, "cp1252")
    if western is not None:
        wide = [c for c in western if ord(c) > 0x7F]
        if sum(c in _WESTERN for c in wide) >= 0.95 * len(wide):
            return western, "cp1252"
    for enc in JAPANESE_ENCODINGS:
        text = _strict(raw, enc)
        kana = ((0x3040, 0x30FF),)
        if text is not None and _share(text, _CJK_RANGES) >= 0.8 and _share(text, kana) >= 0.05:
            return text, enc
    found = [
        (enc, text)
        for enc in OTHER_CJK_ENCODINGS
        if (text := _strict(raw, enc)) is not None and _share(text, _CJK_RANGES) >= 0.8
    ]
    if len(found) == 1:
        return found[0][1], found[0][0]
    if found:
        raise TranscriptError(
            f"{name}: this is Chinese or Korean text in a legacy encoding, and it could be any "
            f"of {', '.join(enc for enc, _ in found)}; open it in an editor and save it as UTF-8"
        )
    return None


def decode_text(raw: bytes, name: str) -> tuple[str, str]:
    """Text and the encoding it was read with: UTF-8 (with or without BOM), UTF-16/32 with a
    BOM, Japanese, Chinese or Korean legacy encodings when they decode to such text, or
    Windows-1252 when that reads as Western text. Anything else is refused, never turned into
    mojibake that would then be trained on."""
    boms = {
        "utf-32": (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"),
        "utf-16": (b"\xff\xfe", b"\xfe\xff"),
        "utf-8-sig": (b"\xef\xbb\xbf",),
    }
    bom = next((enc for enc, marks in boms.items() if raw.startswith(marks)), None)
    try:
        text = raw.decode(bom or "utf-8")
    except UnicodeDecodeError:
        if bom:
            label = bom.removesuffix("-sig").upper()
            raise TranscriptError(
                f"{name}: starts with a {label} byte-order mark but is not valid {label}; "
                "open it in an editor and save it as UTF-8"
            ) from None
        text = None
    if text is not None and "\x00" not in text:
        return text, "utf-8" if bom in (None, "utf-8-sig") else bom
    if b"\x00" not in raw:  # NUL bytes: UTF-16 without a byte-order mark, or not text at all
        legacy = _legacy_decode(raw, name)
        if legacy is not None:
            return legacy
    raise TranscriptError(
        f"{name}: unknown text encoding (not UTF-8, UTF-16, Shift-JIS, EUC-JP, "
        "GB18030, Big5, EUC-KR or Windows-1252 text); open it in an editor and save it as UTF-8"
    )


def _normalise_speaker(name: str) -> str:
    return " ".join(name.strip().split()).upper()


normalise_speaker = _normalise_speaker


def parse_raw(
    text: str, file: str, min_parsed_share: float = 0.5
) -> tuple[list[TranscriptLine], list[str]]:
    """Parse raw screenplay text in either common layout:

    - `NAME: line` (film and TV scripts); indented lines continue a speech;
    - the play layout of most printed plays: a speaker line on its own (`Ham.`, `1 Clown.`,
      `KING CLAUDIUS.`), then the speech on the following lines; `Ham. Speech...` on one line
      when `Ham` also heads a speech of its own somewhere in the file.

    Scene headings (INT./EXT., `SCENE II. A hall.`, `ACT I`, markdown #) split scenes; stage
    directions in brackets or parentheses (also over several lines) and lines starting with
    Enter/Exit/Exeunt are dropped. A file where under `min_parsed_share` of the content lines
    parse is refused as no screenplay, with the first lines that failed."""
    lines: list[TranscriptLine] = []
    failures: list[str] = []
    scene_no = 1
    content_lines = 0
    parsed = 0
    speaker: str | None = None  # speaker of an open play-layout speech
    speech_open = False  # whether lines[-1] is that speech
    in_direction = False  # inside a bracketed direction spanning lines
    after_break = True  # the previous line was blank (speech headings follow a blank line)
    raw_lines = text.splitlines()
    # "Farewell." inside a speech stays speech: a name alone on a line heads a speech when it
    # follows a blank line, when no speech is open, or when it heads two or more speeches.
    heads = Counter(m.group(1).strip() for raw in raw_lines if (m := PLAY_SPEAKER_ALONE.match(raw)))
    play_speakers = {name for name, n in heads.items() if n >= 2}

    def add(name: str, speech: str, lineno: int) -> None:
        lines.append(
            TranscriptLine(
                speaker=_normalise_speaker(name),
                text=speech,
                scene=f"{file}#{scene_no}",
                file=file,
                line=lineno,
            )
        )

    for lineno, raw in enumerate(raw_lines, start=1):
        stripped = raw.strip()
        if not stripped:
            after_break = True
            continue
        content_lines += 1
        at_break, after_break = after_break, False
        if in_direction:
            parsed += 1
            in_direction = "]" not in stripped and ")" not in stripped
            continue
        if SCENE_HEADING.match(raw):
            parsed += 1
            if lines and lines[-1].scene == f"{file}#{scene_no}":
                scene_no += 1
            speaker, speech_open = None, False
            continue
        if STAGE_DIRECTION.fullmatch(stripped) or DIRECTION_VERB.match(stripped):
            parsed += 1
            continue
        if stripped[0] in "[(" and not STAGE_DIRECTION.search(stripped):
            parsed += 1  # a direction that closes on a later line
            in_direction = True
            continue
        alone = PLAY_SPEAKER_ALONE.match(raw)
        if alone and (at_break or speaker is None or alone.group(1).strip() in play_speakers):
            parsed += 1
            speaker, speech_open = alone.group(1).strip(), False
            continue
        inline = PLAY_SPEAKER_INLINE.match(raw)
        if inline and inline.group(1).strip() in play_speakers:
            parsed += 1
            speaker = inline.group(1).strip()
            speech = STAGE_DIRECTION.sub("", inline.group(2)).strip()
            speech_open = bool(speech)
            if speech:
                add(speaker, speech, lineno)
            continue
        # Inside a play-layout speech, "Alas, poor Yorick: I knew him" is speech, not a speaker.
        m = SPEAKER_LINE.match(raw) if speaker is None or not play_speakers else None
        if m:
            parsed += 1
            speaker, speech_open = None, False
            speech = STAGE_DIRECTION.sub("", m.group(3)).strip()
            if speech:
                add(m.group(1), speech, lineno)
            continue
        if speaker is not None:
            parsed += 1
            speech = STAGE_DIRECTION.sub("", stripped).strip()
            if not speech:
                continue
            if speech_open:
                lines[-1].text = f"{lines[-1].text} {speech}"
            else:
                add(speaker, speech, lineno)
                speech_open = True
            continue
        if raw[:1].isspace() and lines:
            parsed += 1
            lines[-1].text = f"{lines[-1].text} {STAGE_DIRECTION.sub('', raw).strip()}".strip()
            continue
        failures.append(f"{file}:{lineno}: {stripped[:80]}")
    if content_lines and parsed / content_lines < min_parsed_share:
        shown = "\n  ".join(failures[:5])
        raise TranscriptError(
            f"{file} does not look like a screenplay in the 'NAME: line' form or the play layout "
            f"('Ham.' on its own line, then the speech): {parsed} of {content_lines} lines "
            f"parsed, under the {min_parsed_share:.0%} threshold (min_parsed_share, "
            f"--min-parsed-share). First lines that failed:\n  {shown}"
        )
    return lines, failures


def parse_jsonl(text: str, file: str) -> tuple[list[TranscriptLine], list[str]]:
    """JSON lines `{"speaker": ..., "text": ...}` with an optional `scene`."""
    lines: list[TranscriptLine] = []
    problems: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"{file}:{lineno}: invalid JSON ({exc.msg})")
            continue
        speaker = str(obj.get("speaker") or "").strip() if isinstance(obj, dict) else ""
        text_ = str(obj.get("text") or "").strip() if isinstance(obj, dict) else ""
        if not speaker:
            problems.append(f"{file}:{lineno}: line without a speaker")
            continue
        if not text_:
            problems.append(f"{file}:{lineno}: empty text")
            continue
        scene = str(obj.get("scene", "1"))
        lines.append(
            TranscriptLine(
                speaker=_normalise_speaker(speaker),
                text=text_,
                scene=f"{file}#{scene}",
                file=file,
                line=lineno,
            )
        )
    return lines, problems


def _scene_hash(lines: list[TranscriptLine]) -> str:
    body = "\n".join(f"{line.speaker}:{line.text}" for line in lines)
    return hashlib.sha256(body.encode()).hexdigest()


def load_transcripts(config: TranscriptImportConfig) -> Corpus:
    """Read every matching file; duplicate scenes (same content) are kept once and reported."""
    folder = Path(config.data_folder)
    if not folder.is_dir():
        raise TranscriptError(f"{folder} is not a folder")
    exts = {e if e.startswith(".") else f".{e}" for e in config.extensions}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts)
    if not files:
        raise TranscriptError(f"no files with extensions {sorted(exts)} in {folder}")
    all_lines: list[TranscriptLine] = []
    problems: list[str] = []
    encodings: dict[str, str] = {}
    for path in files:
        rel = str(path.relative_to(folder))
        text, enc = read_text_any_encoding(path)
        encodings[rel] = enc
        if config.format == "jsonl":
            got, probs = parse_jsonl(text, rel)
        else:
            got, probs = parse_raw(text, rel, config.min_parsed_share)
        all_lines.extend(got)
        problems.extend(probs)
    corpus = Corpus(lines=all_lines, problems=problems, encodings=encodings)
    seen: dict[str, str] = {}
    keep: list[TranscriptLine] = []
    for scene, lines in corpus.scenes().items():
        digest = _scene_hash(lines)
        if digest in seen:
            corpus.duplicate_scenes.append(f"{scene} duplicates {seen[digest]}")
            continue
        seen[digest] = scene
        keep.extend(lines)
    corpus.lines = keep
    if not keep:
        raise TranscriptError(f"no usable lines in {folder}: " + "; ".join(problems[:5]))
    return corpus


class TranscriptDatasetConfig(BaseModel):
    """Build SFT data for one speaker from an imported corpus."""

    target: str
    context_window: int = Field(
        default=4, ge=1, description="Other speakers' lines kept before a reply."
    )
    max_assistant_turns: int = Field(
        default=6, ge=1, description="Replies per example (long scenes are cut)."
    )
    holdout_share: float = Field(default=0.2, ge=0, lt=1)
    split_by: Literal["scene", "file"] = "scene"
    min_target_lines: int = Field(default=20, ge=1)
    seed: int = 0
    output_dir: Path


def _examples_for_scene(
    lines: list[TranscriptLine], target: str, window: int, max_turns: int
) -> list[list[dict[str, str]]]:
    examples: list[list[dict[str, str]]] = []
    messages: list[dict[str, str]] = []
    context: list[str] = []
    turns = 0
    for line in lines:
        if line.speaker != target:
            context.append(f"{line.speaker.title()}: {line.text}")
            context = context[-window:]
            continue
        user = "\n".join(context) if context else "(The scene begins.)"
        if messages and messages[-1]["role"] == "assistant" and not context:
            messages[-1]["content"] += " " + line.text
            continue
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": line.text}]
        context = []
        turns += 1
        if turns >= max_turns:
            examples.append(messages)
            messages, turns = [], 0
    if messages:
        examples.append(messages)
    return examples


def build_transcript_dataset(corpus: Corpus, config: TranscriptDatasetConfig) -> dict[str, object]:
    """Write train.jsonl / holdout.jsonl (`{"messages": [...]}`) and a summary; split by scene."""
    target = _normalise_speaker(config.target)
    counts = Counter(line.speaker for line in corpus.lines)
    if target not in counts:
        known = ", ".join(f"{s} ({n})" for s, n in counts.most_common(10))
        raise TranscriptError(f"no speaker {config.target!r}; speakers: {known}")
    if counts[target] < config.min_target_lines:
        raise TranscriptError(
            f"{target} has {counts[target]} lines; at least {config.min_target_lines} are needed "
            "to train (add transcripts or lower min_target_lines)"
        )
    groups: dict[str, list[str]] = {}
    for scene, lines in corpus.scenes().items():
        key = lines[0].file if config.split_by == "file" else scene
        groups.setdefault(key, []).append(scene)
    keys = sorted(groups)
    rng = random.Random(config.seed)
    rng.shuffle(keys)
    scenes_with_target = [
        k
        for k in keys
        if any(line.speaker == target for s in groups[k] for line in corpus.scenes()[s])
    ]
    n_hold = (
        max(1, round(len(scenes_with_target) * config.holdout_share)) if config.holdout_share else 0
    )
    if n_hold >= len(scenes_with_target):
        raise TranscriptError(
            f"{target} speaks in {len(scenes_with_target)} {config.split_by}(s): too few to hold "
            f"some out; add transcripts or set holdout_share=0"
        )
    holdout_keys = set(scenes_with_target[:n_hold])
    scenes = corpus.scenes()
    rows: dict[str, list[dict[str, object]]] = {"train": [], "holdout": []}
    for key in keys:
        split = "holdout" if key in holdout_keys else "train"
        for scene in groups[key]:
            for messages in _examples_for_scene(
                scenes[scene], target, config.context_window, config.max_assistant_turns
            ):
                rows[split].append(
                    {
                        "messages": messages,
                        "source": "transcript",
                        "speaker": target,
                        "scene": scene,
                    }
                )
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        atomic_write_text(
            out / f"{split}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items)
        )
    summary = {
        "target": target,
        "target_lines": counts[target],
        "train_examples": len(rows["train"]),
        "holdout_examples": len(rows["holdout"]),
        "holdout_groups": sorted(holdout_keys),
        "split_by": config.split_by,
        "speakers": corpus.speakers(),
        "problems": corpus.problems[:50],
        "duplicate_scenes": corpus.duplicate_scenes,
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def write_speaker_texts(
    corpus: Corpus, target: str, holdout_groups: set[str], split_by: str, out_dir: Path
) -> dict[str, int]:
    """Every line labelled as the target or `other`, in `speakers_train.jsonl` and
    `speakers_holdout.jsonl` with the same scene/file split as the SFT data, so the persona
    classifier is scored on scenes it never saw."""
    target = _normalise_speaker(target)
    rows: dict[str, list[str]] = {"train": [], "holdout": []}
    for line in corpus.lines:
        key = line.file if split_by == "file" else line.scene
        split = "holdout" if key in holdout_groups else "train"
        label = target if line.speaker == target else "other"
        rows[split].append(
            json.dumps(
                {"text": line.text, "label": label, "speaker": line.speaker, "scene": line.scene},
                ensure_ascii=False,
            )
            + "\n"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        atomic_write_text(out / f"speakers_{split}.jsonl", "".join(items))
    return {split: len(items) for split, items in rows.items()}


# --------------------------------------------------------------------------------------------
# Transcript folders in the data folder (what the studio lists and uploads into)

UPLOAD_SUFFIXES = (".txt", ".jsonl")
MAX_UPLOAD_FILE_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_FILES = 50
FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "transcripts"


def transcripts_root() -> Path:
    from character.settings import get_settings

    return get_settings().data_path / "transcripts"


def transcript_folders(include_examples: bool = True) -> dict[str, Path]:
    """Folders under `<data>/transcripts/` (and the bundled examples, labelled as such)."""
    found: dict[str, Path] = {}
    root = transcripts_root()
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.is_dir():
                found[p.name] = p
    if include_examples and EXAMPLES.is_dir():
        for p in sorted(EXAMPLES.iterdir()):
            if p.is_dir():
                found[f"example: {p.name}"] = p
    return found


def guess_format(folder: Path) -> Literal["jsonl", "raw"]:
    """`jsonl` when the folder holds .jsonl files, else `raw` screenplay text."""
    return "jsonl" if any(Path(folder).rglob("*.jsonl")) else "raw"


def save_uploaded_transcripts(
    folder_name: str, files: list[tuple[str, bytes]], *, overwrite: bool = False
) -> Path:
    """Store uploaded transcript files in `<data>/transcripts/<folder_name>/`. Names are reduced
    to their base name, only .txt/.jsonl are accepted, each file must be small and decodable;
    nothing is written unless every file passes."""
    if not FOLDER_NAME.match(folder_name or ""):
        raise TranscriptError(
            f"folder name {folder_name!r}: use letters, digits, '-' or '_' (at most 64)"
        )
    if not files:
        raise TranscriptError("no files uploaded")
    if len(files) > MAX_UPLOAD_FILES:
        raise TranscriptError(f"{len(files)} files: at most {MAX_UPLOAD_FILES} per upload")
    clean: dict[str, str] = {}
    for name, data in files:
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise TranscriptError(
                f"{name!r}: a file name may not hold control characters (such as NUL); "
                "rename the file and upload it again"
            )
        base = Path(name.replace("\\", "/")).name
        if not base or base.startswith(".") or Path(base).suffix.lower() not in UPLOAD_SUFFIXES:
            raise TranscriptError(f"{name}: only {', '.join(UPLOAD_SUFFIXES)} files are accepted")
        if len(data) > MAX_UPLOAD_FILE_BYTES:
            raise TranscriptError(
                f"{name}: {len(data) // 1024} KiB is over the "
                f"{MAX_UPLOAD_FILE_BYTES // 1024} KiB limit per file; split it"
            )
        if base in clean:
            raise TranscriptError(f"{name}: two files with the same name")
        text, _ = decode_text(data, name)
        clean[base] = text
    folder = transcripts_root() / folder_name
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise TranscriptError(f"{folder} already exists; pick another name or overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    for base, text in clean.items():
        atomic_write_text(folder / base, text)
    return folder
