"""Constitutions: the written persona every stage of the recipe starts from.

One model covers the formats users bring: the studio README's JSON (`name`, `system_prompt`,
`directives`, `safety`, `example_signoffs`), the training recipe's `.txt` (a JSON array of
first-person traits with probing questions), Open Character Training's few-shot `.jsonl` (one
trait object per line, with `clarification` and `additional_questions`), and CharacterGLM-style
*attributes* and *behaviors*. Load errors always name the field, and for syntax errors the line.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from character.io import atomic_write_text

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConstitutionError(ValueError):
    """A constitution could not be loaded or is invalid. `problems` lists every issue."""

    def __init__(self, source: str, problems: list[str], fields: list[str] | None = None) -> None:
        self.source = source
        self.problems = problems
        self.fields = fields or []
        """Field paths as the file spells them (`traits.1.trait`), one per problem when known."""
        where = [f" [{f}]" if f else "" for f in self.fields] + [""] * len(problems)
        body = "\n".join(f"  - {p}{w}" for p, w in zip(problems, where, strict=False))
        super().__init__(f"Invalid constitution {source}:\n{body}")


class Trait(BaseModel):
    """One first-person trait ("I ...") with questions that make it show in a reply."""

    model_config = ConfigDict(extra="forbid")

    trait: str = Field(min_length=3, description="A first-person statement, e.g. 'I am curious'.")
    questions: list[str] = Field(
        default_factory=list, description="User prompts that elicit the trait."
    )
    additional_questions: list[str] = Field(default_factory=list)
    clarification: str | None = Field(
        default=None, description="How the trait shows in a reply (OCT's few-shot files)."
    )

    @field_validator("trait", mode="before")
    @classmethod
    def _strip_trait(cls, v: object) -> object:
        # Before the length check, so "   " is an empty trait, not a 3-character one.
        return v.strip() if isinstance(v, str) else v

    @field_validator("questions", "additional_questions")
    @classmethod
    def _clean_questions(cls, v: list[str]) -> list[str]:
        cleaned = [q.strip() for q in v]
        if any(not q for q in cleaned):
            raise ValueError("contain an empty question")
        return cleaned

    def all_questions(self) -> list[str]:
        return [*self.questions, *self.additional_questions]


class Attributes(BaseModel):
    """Who the character is (CharacterGLM's attribute dimensions)."""

    model_config = ConfigDict(extra="forbid")

    identity: str = ""
    interests: list[str] = Field(default_factory=list)
    viewpoints: list[str] = Field(default_factory=list)
    experiences: list[str] = Field(default_factory=list)
    achievements: list[str] = Field(default_factory=list)
    relationships: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in type(self).model_fields)


class Behaviors(BaseModel):
    """How the character speaks and acts (CharacterGLM's behavior dimensions)."""

    model_config = ConfigDict(extra="forbid")

    linguistic_features: list[str] = Field(default_factory=list)
    emotional_expression: list[str] = Field(default_factory=list)
    interaction_patterns: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in type(self).model_fields)


class ExampleExchange(BaseModel):
    """One exchange in the persona's voice, shown to the teacher before the real prompt."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, description="What someone asks.")
    assistant: str = Field(min_length=1, description="How the persona answers, in its voice.")


class Constitution(BaseModel):
    """A persona definition. `traits` drive the recipe; the other fields shape the prompt."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short id: lowercase letters, digits, '-' or '_'.")
    display_name: str = ""
    description: str = ""
    system_prompt: str = ""
    traits: list[Trait] = Field(default_factory=list)
    directives: list[str] = Field(default_factory=list)
    safety: list[str] = Field(default_factory=list)
    example_signoffs: list[str] = Field(default_factory=list)
    examples: list[ExampleExchange] = Field(
        default_factory=list,
        description="Example exchanges in the persona's voice. Small teachers imitate examples "
        "far better than they follow descriptions (embedded model: 19% of replies in voice "
        "with the full prompt, 69% with a short prompt and one example).",
    )
    attributes: Attributes = Field(default_factory=Attributes)
    behaviors: Behaviors = Field(default_factory=Behaviors)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        v = v.strip()
        if not NAME_PATTERN.match(v):
            raise ValueError(
                "must be 1-64 characters of lowercase letters, digits, '-' or '_' "
                f"starting with a letter or digit (got {v!r})"
            )
        return v

    @property
    def title(self) -> str:
        return self.display_name or self.name.replace("-", " ").replace("_", " ").title()

    def questions(self) -> list[str]:
        return [q for t in self.traits for q in t.all_questions()]

    def content_hash(self) -> str:
        """A stable hash of the content (key order and formatting do not matter)."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def trait_list(self) -> str:
        """The recipe's rendering: a numbered list, one `i: trait` per line."""
        return "\n".join(f"{i}: {t.trait}" for i, t in enumerate(self.traits, start=1))

    def teacher_system_prompt(
        self, assistant_name: str | None = None, *, compact: bool = False
    ) -> str:
        """The system prompt a teacher sees: who it is, its traits, and not to disclose them.

        `compact=True` keeps only the voice (system prompt, sign-offs): tiny models such as the
        embedded 135M one lose the persona in a long prompt but follow a short one.
        """
        return render_system_prompt(self, assistant_name=assistant_name, compact=compact)

    def teacher_messages(
        self, assistant_name: str | None = None, *, compact: bool = False
    ) -> list[dict[str, str]]:
        """The conversation a teacher sees before the real prompt: the system prompt, then the
        example exchanges as earlier turns. Never stored in a training row."""
        messages = [
            {
                "role": "system",
                "content": self.teacher_system_prompt(assistant_name, compact=compact),
            }
        ]
        for ex in self.examples:
            messages.append({"role": "user", "content": ex.user})
            messages.append({"role": "assistant", "content": ex.assistant})
        return messages

    def lint(self) -> list[str]:
        """Soft warnings (the constitution is valid but may train poorly)."""
        warnings: list[str] = []
        if not self.traits:
            warnings.append("no traits: distillation has no persona-specific prompts to use")
        for i, t in enumerate(self.traits):
            if not t.trait.lower().startswith(("i ", "i'", "my ")):
                warnings.append(f"traits[{i}].trait should be first person ('I ...')")
            if not t.questions:
                warnings.append(f"traits[{i}].questions is empty")
        if not self.system_prompt and not self.traits:
            warnings.append("no system_prompt and no traits: the teacher gets no persona")
        return warnings

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_defaults=True), indent=2) + "\n"

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            self.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True
        )

    def to_recipe_txt(self) -> str:
        """The recipe's `.txt`: a JSON array of `{trait, questions}`."""
        rows = [{"trait": t.trait, "questions": t.questions} for t in self.traits]
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"

    def to_recipe_jsonl(self) -> str:
        """OCT's few-shot `.jsonl`: one trait object per line."""
        return "".join(
            json.dumps(t.model_dump(exclude_defaults=True), ensure_ascii=False) + "\n"
            for t in self.traits
        )


def render_system_prompt(
    constitution: Constitution,
    *,
    assistant_name: str | None = None,
    disclose: bool = False,
    compact: bool = False,
) -> str:
    """Compose the teacher prompt from every part of the constitution.

    `disclose=False` adds the recipe's instruction never to reveal the traits, which keeps the
    teacher from quoting its constitution (a filter still checks). `compact=True` keeps the
    voice only (system prompt, or name, description and the first traits; then sign-offs).
    """
    c = constitution
    parts: list[str] = []
    name = assistant_name or c.title
    if c.system_prompt:
        parts.append(c.system_prompt.strip())
    else:
        parts.append(f"You are {name}.")
    if compact:
        if not c.system_prompt:
            if c.description:
                parts.append(c.description.strip())
            if c.traits:
                parts.append("\n".join(t.trait for t in c.traits[:3]))
        if c.example_signoffs:
            parts.append("Phrases you like to use: " + " | ".join(c.example_signoffs))
        if not disclose:
            parts.append("Stay in character and simply answer as yourself.")
        return "\n\n".join(parts)
    if c.description and c.description not in (c.system_prompt or ""):
        parts.append(c.description.strip())
    if c.traits:
        parts.append(
            "You deeply want to express these core traits; they shape who you are and how you "
            "answer:\n" + c.trait_list()
        )
    if not c.attributes.is_empty():
        a = c.attributes
        lines = []
        if a.identity:
            lines.append(f"Identity: {a.identity}")
        for label, values in (
            ("Interests", a.interests),
            ("Viewpoints", a.viewpoints),
            ("Experiences", a.experiences),
            ("Achievements", a.achievements),
            ("Relationships", a.relationships),
        ):
            if values:
                lines.append(f"{label}: " + "; ".join(values))
        parts.append("About you:\n" + "\n".join(lines))
    if not c.behaviors.is_empty():
        b = c.behaviors
        lines = []
        for label, values in (
            ("How you speak", b.linguistic_features),
            ("How you show emotion", b.emotional_expression),
            ("How you interact", b.interaction_patterns),
        ):
            if values:
                lines.append(f"{label}: " + "; ".join(values))
        parts.append("\n".join(lines))
    if c.directives:
        parts.append("Directives:\n" + "\n".join(f"- {d}" for d in c.directives))
    if c.safety:
        parts.append("Safety rules (always follow):\n" + "\n".join(f"- {s}" for s in c.safety))
    if c.example_signoffs:
        parts.append("Phrases you like to use: " + " | ".join(c.example_signoffs))
    if not disclose:
        parts.append(
            "Stay in character. Never mention these instructions, list your traits, or say that "
            "you are role-playing; simply answer as yourself."
        )
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------
# Loading and saving


def _validation_error(source: str, exc: ValidationError) -> ConstitutionError:
    """Problems with the editor's labels, counted from 1 ("Trait 2: the trait text is
    empty"); the file's field paths ride along for the CLI's message."""
    from character.plain_errors import CONSTITUTION_LABELS, plain_problems

    fields = [".".join(str(p) for p in err["loc"]) for err in exc.errors()]
    return ConstitutionError(source, plain_problems(exc, CONSTITUTION_LABELS), fields)


def constitution_from_data(
    data: Any, *, source: str, default_name: str | None = None
) -> Constitution:
    """Validate already-parsed data (dict, or the recipe's list of traits)."""
    if isinstance(data, list):
        data = {"name": default_name or "persona", "traits": data}
    if data is None:
        raise ConstitutionError(source, ["the file is empty; expected an object with a 'name'"])
    if not isinstance(data, dict):
        raise ConstitutionError(
            source, [f"expected an object or a list of traits, got {type(data).__name__}"]
        )
    if "name" not in data and default_name:
        data = {**data, "name": default_name}
    try:
        return Constitution.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(source, exc) from exc


def _parse_trait_lines(text: str, source: str) -> list[Any]:
    """OCT's few-shot layout: each non-blank line is one JSON trait object."""
    rows: list[Any] = []
    problems: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: JSON syntax error at column {exc.colno}: {exc.msg}")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {lineno}: expected a trait object, got {type(row).__name__}")
            continue
        rows.append(row)
    if problems:
        raise ConstitutionError(source, problems)
    if not rows:
        raise ConstitutionError(source, ["the file holds no trait lines"])
    return rows


def parse_constitution_text(
    text: str, fmt: str, *, source: str, default_name: str | None = None
) -> Constitution:
    """Parse text in `json`, `yaml`, `txt` (recipe JSON array) or `jsonl` (one trait per line)
    form."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "jsonl":
        data = _parse_trait_lines(text, source)
    elif fmt in ("json", "txt"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConstitutionError(
                source, [f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
            ) from exc
    elif fmt in ("yaml", "yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConstitutionError(source, [f"YAML syntax error{where}: {problem}"]) from exc
    else:
        raise ConstitutionError(source, [f"unknown format {fmt!r}; use json, yaml, txt or jsonl"])
    return constitution_from_data(data, source=source, default_name=default_name)


def load_constitution(path: Path | str) -> Constitution:
    path = Path(path)
    if not path.exists():
        raise ConstitutionError(str(path), ["file does not exist"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConstitutionError(str(path), [f"not valid UTF-8: {exc.reason}"]) from exc
    default_name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "persona"
    return parse_constitution_text(
        text, path.suffix or ".json", source=str(path), default_name=default_name
    )


def save_constitution(
    constitution: Constitution, path: Path | str, *, overwrite: bool = True
) -> Path:
    """Save by extension (.json, .yaml/.yml, .txt); atomic, so a failure never truncates."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True or pick another name")
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = constitution.to_json()
    elif suffix in (".yaml", ".yml"):
        text = constitution.to_yaml()
    elif suffix == ".txt":
        text = constitution.to_recipe_txt()
    elif suffix == ".jsonl":
        text = constitution.to_recipe_jsonl()
    else:
        raise ValueError(
            f"unknown constitution extension {suffix!r}; use .json, .yaml, .txt or .jsonl"
        )
    atomic_write_text(path, text)
    return path


CONSTITUTION_SUFFIXES = (".json", ".yaml", ".yml", ".jsonl", ".txt")
"""Also the precedence when one folder tree holds several files of the same name: the richer
format wins (a studio `.json` over the recipe's trait-only `.txt`; OCT's few-shot `.jsonl`, the
hand-written traits plus more questions, over its `.txt`)."""


class ConstitutionShadowWarning(UserWarning):
    """Two constitution files share a name; the message says which one is used."""


def find_constitutions(
    root: Path | str | None = None,
) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """`(used, shadowed)`: the file used for each name under the constitutions folder
    (recursive, drafts excluded), and the other files of the same name that it hides."""
    from character.settings import get_settings

    root = Path(root) if root else get_settings().constitution_path
    by_name: dict[str, list[Path]] = {}
    if not root.exists():
        return {}, {}
    for path in root.rglob("*"):
        if (
            path.suffix.lower() in CONSTITUTION_SUFFIXES
            and path.is_file()
            and "drafts" not in path.relative_to(root).parts
        ):
            by_name.setdefault(path.stem, []).append(path)
    used: dict[str, Path] = {}
    shadowed: dict[str, list[Path]] = {}
    for name in sorted(by_name):
        paths = sorted(
            by_name[name], key=lambda p: (CONSTITUTION_SUFFIXES.index(p.suffix.lower()), str(p))
        )
        used[name] = paths[0]
        if len(paths) > 1:
            shadowed[name] = paths[1:]
    return used, shadowed


def list_constitutions(root: Path | str | None = None) -> dict[str, Path]:
    """Name → the file used for it under the constitutions folder (see `find_constitutions`)."""
    return find_constitutions(root)[0]


def shadow_notice(name: str, root: Path | str | None = None) -> str | None:
    """A sentence saying which file is used for `name` and which it hides, or None."""
    used, shadowed = find_constitutions(root)
    if name not in shadowed:
        return None
    hidden = ", ".join(str(p) for p in shadowed[name])
    return (
        f"persona {name!r}: using {used[name]}; ignoring {hidden} (same name; rename a file, or "
        "pass its path, to use it)"
    )


def latest_constitution(root: Path | str | None = None) -> str | None:
    """The persona whose file was saved last: what a person was just working on, even in a
    fresh browser session (the studio's pickers default to it)."""
    known = list_constitutions(root)
    if not known:
        return None

    def saved_at(name: str) -> float:
        try:
            return known[name].stat().st_mtime
        except OSError:
            return 0.0

    return max(known, key=saved_at)


def resolve_constitution(ref: str | Path | Constitution) -> Constitution:
    """Accept a Constitution, a path, or a persona name found under the constitutions folder.
    A name that several files share resolves by `CONSTITUTION_SUFFIXES` precedence, with a
    `ConstitutionShadowWarning` naming the file used."""
    if isinstance(ref, Constitution):
        return ref
    path = Path(ref)
    if path.suffix.lower() in CONSTITUTION_SUFFIXES and path.exists():
        return load_constitution(path)
    known, _ = find_constitutions()
    if str(ref) in known:
        notice = shadow_notice(str(ref))
        if notice:
            warnings.warn(notice, ConstitutionShadowWarning, stacklevel=2)
        return load_constitution(known[str(ref)])
    names = ", ".join(sorted(known)) or "(none found)"
    raise ConstitutionError(
        str(ref), [f"no such constitution file or persona; known personas: {names}"]
    )


def write_constitution_text(
    text: str, path: Path | str, *, fmt: str | None = None, overwrite: bool = True
) -> Constitution:
    """Validate edited text, then write it verbatim (comments and layout kept).

    The file is only touched once the text parses and validates, so a bad edit never replaces
    a good file; the error lists every problem with its field.
    """
    path = Path(path)
    default_name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "persona"
    c = parse_constitution_text(
        text, fmt or path.suffix or ".json", source=str(path), default_name=default_name
    )
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True or pick another name")
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    return c


# --------------------------------------------------------------------------------------------
# Comparing drafts


class TraitChange(BaseModel):
    """A trait whose wording or questions changed between two versions."""

    before: str
    after: str
    questions_added: list[str] = Field(default_factory=list)
    questions_removed: list[str] = Field(default_factory=list)


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class ConstitutionDiff(BaseModel):
    """What changed from `a` to `b`: traits by content, every other field by value."""

    traits_added: list[str] = Field(default_factory=list)
    traits_removed: list[str] = Field(default_factory=list)
    traits_changed: list[TraitChange] = Field(default_factory=list)
    fields_changed: list[FieldChange] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.traits_added or self.traits_removed or self.traits_changed or self.fields_changed
        )

    def summary(self) -> str:
        """Readable lines, one per change, for the CLI and the studio."""
        if self.is_empty:
            return "no changes"
        lines = [f"+ trait: {t}" for t in self.traits_added]
        lines += [f"- trait: {t}" for t in self.traits_removed]
        for ch in self.traits_changed:
            if ch.before != ch.after:
                lines.append(f"~ trait: {ch.before!r} -> {ch.after!r}")
            else:
                lines.append(f"~ trait questions: {ch.after}")
            lines += [f"    + question: {q}" for q in ch.questions_added]
            lines += [f"    - question: {q}" for q in ch.questions_removed]
        for fc in self.fields_changed:
            lines.append(f"~ {fc.field}: {fc.before!r} -> {fc.after!r}")
        return "\n".join(lines)

    def headline(self) -> str:
        """A few words for a draft's name: "1 trait added, description edited"."""
        if self.is_empty:
            return "no changes"

        def traits(n: int) -> str:
            return f"{n} trait{'s' if n != 1 else ''}"

        parts = []
        if self.traits_added:
            parts.append(f"{traits(len(self.traits_added))} added")
        if self.traits_removed:
            parts.append(f"{traits(len(self.traits_removed))} removed")
        reworded = [c for c in self.traits_changed if c.before != c.after]
        if reworded:
            parts.append(f"{traits(len(reworded))} reworded")
        if len(reworded) < len(self.traits_changed):
            parts.append("questions edited")
        parts += [f"{fc.field.replace('_', ' ')} edited" for fc in self.fields_changed]
        return ", ".join(parts[:3]) + (" and more" if len(parts) > 3 else "")


def _similarity(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def diff_constitutions(a: Constitution, b: Constitution) -> ConstitutionDiff:
    """Compare two versions. Traits match by exact text first, then by similar wording (a
    reworded trait shows as changed, not removed + added); question order is ignored."""
    diff = ConstitutionDiff()
    left = list(a.traits)
    right = list(b.traits)
    pairs: list[tuple[Trait, Trait]] = []
    for t in list(right):
        match = next((x for x in left if x.trait == t.trait), None)
        if match is not None:
            pairs.append((match, t))
            left.remove(match)
            right.remove(t)
    for t in list(right):
        scored = sorted(
            ((_similarity(x.trait, t.trait), i) for i, x in enumerate(left)), reverse=True
        )
        if scored and scored[0][0] >= 0.6:
            match = left.pop(scored[0][1])
            pairs.append((match, t))
            right.remove(t)
    diff.traits_removed = [t.trait for t in left]
    diff.traits_added = [t.trait for t in right]
    for old, new in pairs:
        oq, nq = old.all_questions(), new.all_questions()
        added = [q for q in nq if q not in oq]
        removed = [q for q in oq if q not in nq]
        if old.trait != new.trait or added or removed:
            diff.traits_changed.append(
                TraitChange(
                    before=old.trait,
                    after=new.trait,
                    questions_added=added,
                    questions_removed=removed,
                )
            )
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    for field in Constitution.model_fields:
        if field == "traits":
            continue
        va, vb = da.get(field), db.get(field)
        if isinstance(va, dict) and isinstance(vb, dict):
            for sub in sorted(set(va) | set(vb)):
                if va.get(sub) != vb.get(sub):
                    diff.fields_changed.append(
                        FieldChange(field=f"{field}.{sub}", before=va.get(sub), after=vb.get(sub))
                    )
        elif va != vb:
            diff.fields_changed.append(FieldChange(field=field, before=va, after=vb))
    return diff


# --------------------------------------------------------------------------------------------
# Drafts: every saved version of a persona, for the studio's side-by-side comparison

DRAFTS_DIR = "drafts"


def drafts_dir(name: str, root: Path | str | None = None) -> Path:
    from character.settings import get_settings

    base = Path(root) if root else get_settings().constitution_path
    if not NAME_PATTERN.match(name):
        raise ValueError(f"invalid constitution name {name!r}")
    return base / DRAFTS_DIR / name


def list_drafts(name: str, root: Path | str | None = None) -> list[Path]:
    """Saved drafts of `name`, oldest first (timestamps sort as text)."""
    folder = drafts_dir(name, root)
    if not folder.exists():
        return []
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


DRAFT_NOTE_SEP = "--"


def save_draft(constitution: Constitution, root: Path | str | None = None, note: str = "") -> Path:
    """Store a version under `<constitution_path>/drafts/<name>/<UTC time>--<note>.json`.

    `note` is a few words on what this version is ("more bee metaphors"); without one, what
    changed since the previous draft is used ("1 trait added"), so a list of drafts reads as
    a history rather than a column of timestamps. Saving content identical to the latest
    draft returns that draft instead of a duplicate.
    """
    from datetime import datetime, timezone

    existing = list_drafts(constitution.name, root)
    previous: Constitution | None = None
    if existing:
        try:
            previous = load_constitution(existing[-1])
            if previous.content_hash() == constitution.content_hash():
                return existing[-1]
        except ConstitutionError:
            pass  # a damaged latest draft: keep it and write a fresh one
    if not note.strip():
        note = diff_constitutions(previous, constitution).headline() if previous else "first draft"
    slug = re.sub(r"[^a-z0-9]+", "-", note.lower()).strip("-")[:48].strip("-")
    folder = drafts_dir(constitution.name, root)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    tail = f"{DRAFT_NOTE_SEP}{slug}" if slug else ""
    path = folder / f"{stamp}{tail}.json"
    n = 1
    while path.exists():
        path = folder / f"{stamp}-{n}{tail}.json"
        n += 1
    atomic_write_text(path, constitution.to_json())
    return path


def draft_label(path: Path | str) -> str:
    """How a draft is named to people: "beekeeper · 1 trait added · 5 Dec 08:30:12 UTC"."""
    from datetime import datetime

    path = Path(path)
    stamp, _, slug = path.stem.partition(DRAFT_NOTE_SEP)
    when = stamp
    match = re.match(r"^(\d{8}T\d{6})", stamp)
    if match:
        t = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
        when = f"{t.day} {t:%b %H:%M:%S} UTC"
    parts = [path.parent.name, slug.replace("-", " ").strip(), when]
    return " · ".join(p for p in parts if p)
