"""What changed between two versions of a constitution, for the CLI and the studio.

Why: drafts are compared side by side; a reworded trait should read as changed, not as one
removed and one added, and a draft's name should say what changed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from character.constitution.model import Constitution, Trait


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
