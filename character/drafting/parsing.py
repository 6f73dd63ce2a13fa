"""Lenient parsing of small-model output: trait and question lines (numbering, bullets and
third person tolerated) and the JSON object inside a reply."""

from __future__ import annotations

import json
import re

from character.drafting.templates import STOPWORDS

_PREFIX = re.compile(
    r"^\s*(?:[-*•>#]+|\(?\d{1,2}[.):\]]|trait\s*\d*\s*[:.-]|q\d*\s*[:.-])\s*", re.I
)
_THIRD_PERSON = [
    (re.compile(r"^(?:you|he|she|they)\s+(?:are|is)\b", re.I), "I am"),
    (re.compile(r"^(?:you're|he's|she's|they're)", re.I), "I'm"),
    (re.compile(r"^(?:you|he|she|they)\s+(?:have|has)\b", re.I), "I have"),
    (re.compile(r"^(?:your|his|her|their)\b", re.I), "My"),
]
_META = re.compile(r"\b(trait|traits|question|questions|constitution|json|persona)\b", re.I)


def _clean_line(line: str) -> str:
    line = line.replace("’", "'").strip().strip('"“”').strip()
    for _ in range(3):
        new = _PREFIX.sub("", line).strip().strip('"“”*').strip()
        if new == line:
            break
        line = new
    return " ".join(line.split())


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOPWORDS}


def too_similar(text: str, existing: list[str], limit: float = 0.5) -> bool:
    """The recipe's dedup rule: reject >50% word overlap with something already kept."""
    w = _words(text)
    if not w:
        return True
    for other in existing:
        o = _words(other)
        if o and len(w & o) / min(len(w), len(o)) > limit:
            return True
    return False


_HE_VERB = re.compile(r"^(?:he|she)\s+([a-z]+?)(ies|ches|shes|sses|xes|s)\b", re.I)
_HIS = [(r"\b(?:his|her)\b", "my"), (r"\bhim\b", "me"), (r"\b(?:himself|herself)\b", "myself")]


def _first_person(sentence: str) -> str | None:
    """A third-person sentence about the character ("He loves the sea") in first person, or
    None when it is about someone else ("I have heard him speak...")."""
    if re.match(r"^(I|I'm|I’m|My)\b", sentence):
        return None if re.search(r"\b(he|him|his|she|her)\b", sentence, re.I) else sentence
    converted = sentence
    for pattern, repl in _THIRD_PERSON:
        converted = pattern.sub(repl, converted)
    m = _HE_VERB.match(converted)
    if m and m.group(1).lower() not in ("i", "wa", "ha", "doe"):
        stem, ending = m.group(1), m.group(2).lower()
        verb = stem + ("y" if ending == "ies" else ending[:-2] if ending != "s" else "")
        converted = "I " + verb + converted[m.end() :]
    if converted == sentence or not re.match(r"^(I|My)\b", converted):
        return None
    for pattern, repl in _HIS:
        converted = re.sub(pattern, repl, converted, flags=re.I)
    return converted


def parse_trait_lines(text: str) -> list[str]:
    """First-person trait sentences from free text; numbering, bullets and labels are ignored,
    and prose about the character in the third person is turned into first person."""
    out: list[str] = []
    sentences = [
        part
        for raw in re.split(r"[\n\r]+", text)
        for part in re.split(r"(?<=[.!])\s+(?=[A-Z])", _clean_line(raw))
    ]
    for sentence in sentences:
        line = _first_person(_clean_line(sentence))
        if line is None:
            continue
        if not 12 <= len(line) <= 220 or _META.search(line) or line.endswith("?"):
            continue
        line = line.rstrip(",;:") + ("" if line[-1] in ".!" else ".")
        if not too_similar(line, out, limit=0.7):
            out.append(line)
    return out


_REQUEST = re.compile(r"(?i)^(tell|give|explain|describe|help|write|show|suggest)\b")


def parse_question_lines(text: str) -> list[str]:
    """User prompts from free text: one per line, ending in '?' (or a short request ending '.')."""
    out: list[str] = []
    for raw in re.split(r"[\n\r]+", text):
        line = _clean_line(raw)
        if not 8 <= len(line) <= 200 or not line[:1].isalpha() or _META.search(line):
            continue
        request = line.endswith(".") and re.match(_REQUEST, line)
        if (line.endswith("?") or request) and not too_similar(line, out):
            out.append(line)
    return out


def extract_json_object(text: str) -> object:
    """The JSON object in a reply, tolerating ```json fences and prose around it."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    return json.loads(text[start : end + 1])
