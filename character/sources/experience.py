"""Experience upload (Character-LLM): from a profile, scenes of the character's life become
training conversations, plus protective scenes in which the character deflects what it could
not know.

Three teacher passes: (1) scene ideas from the profile, (2) each scene completed as a script
from the character's perspective (thoughts and speech), (3) deflections of out-of-world
questions. A small local teacher often ignores formats, so every parse is lenient and falls
back to scenes taken from the profile's own sentences; each row records where it came from.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from character.backends.base import SamplingParams
from character.io import append_jsonl, atomic_write_json, read_jsonl
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings

PROTECTIVE_TOPICS = [
    "smartphones",
    "the internet",
    "social media",
    "electric cars",
    "machine learning",
    "cryptocurrency",
    "streaming television",
    "GPS navigation",
    "quantum computers",
    "video calls",
    "the Python programming language",
    "space tourism",
]
PROTECTIVE_TEMPLATES = [
    "What do you think about {topic}?",
    "Can you explain how {topic} works?",
    "Have you ever used {topic}?",
]


class ExperienceConfig(BaseModel):
    """Build experience and protective scenes for one character from a profile."""

    character: str = Field(description="The character's name, e.g. 'Ada Lovelace'.")
    profile: str = Field(default="", description="A biography or description of the character.")
    profile_path: Path | None = Field(default=None, description="Read the profile from a file.")
    teacher_model: str = Field(default_factory=lambda: get_settings().teacher_model)
    scenes: int = Field(default=8, ge=1, le=5000)
    protective_scenes: int = Field(default=4, ge=0, le=5000)
    era_hint: str = Field(
        default="", description="What the character cannot know about, e.g. 'after 1850'."
    )
    temperature: float = 0.7
    max_new_tokens: int = 200
    seed: int = 0
    output_path: Path | None = None
    resume: bool = False

    @model_validator(mode="after")
    def _need_profile(self) -> ExperienceConfig:
        if not self.profile.strip() and self.profile_path is None:
            raise ValueError("give a profile text or a profile_path")
        return self

    def profile_text(self) -> str:
        if self.profile_path is not None:
            return Path(self.profile_path).read_text(encoding="utf-8")
        return self.profile


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [p.strip() for p in parts if len(p.split()) >= 4]


def parse_scene_ideas(text: str) -> list[str]:
    """Numbered or bulleted lines of at least five words."""
    ideas = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(\d+[.)]|[-*•]|scene\s*\d*\s*[:.-])\s*", "", line, flags=re.IGNORECASE)
        line = line.strip().strip('"')
        if len(line.split()) >= 5:
            ideas.append(line)
    return ideas


def parse_script(text: str, character: str) -> list[dict[str, str]]:
    """Turn 'NAME (thinking): ...' / 'NAME: ...' / 'OTHER: ...' lines into chat turns where the
    character's thoughts and speech are assistant turns and everyone else is the user."""
    first = character.split()[0].lower()
    turns: list[dict[str, str]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*\**([A-Za-z][\w .'-]{0,30}?)\**\s*(\((\w+)\))?\s*:\s*(.+)$", line)
        if not m:
            continue
        speaker, mode, speech = m.group(1).strip(), (m.group(3) or "").lower(), m.group(4).strip()
        is_char = speaker.lower().split()[0] == first
        role = "assistant" if is_char else "user"
        content = f"({mode}) {speech}" if is_char and mode.startswith("think") else speech
        if not is_char:
            content = f"{speaker}: {speech}"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + content
        else:
            turns.append({"role": role, "content": content})
    return turns


def _script_prompt(character: str, profile: str, scene: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": (
                f"You are a screenwriter. Profile of {character}:\n{profile}\n\n"
                f"Write a short scene as a script. Each line starts with a name and a colon. "
                f"Show {character}'s private thoughts as '{character} (thinking): ...' and speech "
                f"as '{character} (speaking): ...'. Other people speak as 'NAME: ...'."
            ),
        },
        {"role": "user", "content": f"Scene: {scene}"},
    ]


def _rows_done(path: Path) -> tuple[set[str], int]:
    if not path.exists():
        return set(), 0
    rows = read_jsonl(path, skip_bad=True)
    return {r.get("key", "") for r in rows}, len(rows)


def generate_experiences(
    config: ExperienceConfig, reporter: Reporter | Progress | None = None
) -> Path:
    """Write SFT conversations (`{"messages": [...], "kind": ..., ...}`) to a JSONL file."""
    from character.models.registry import get_backend

    progress = as_progress(reporter)
    profile = config.profile_text().strip()
    slug = re.sub(r"[^a-z0-9]+", "-", config.character.lower()).strip("-") or "character"
    out = config.output_path or get_settings().data_path / "sources" / f"{slug}_experience.jsonl"
    done, _ = _rows_done(out) if config.resume else (set(), 0)
    if out.exists() and not config.resume:
        raise FileExistsError(
            f"{out} exists; pass resume=True to continue it or choose another path"
        )
    teacher = get_backend(config.teacher_model)
    params = SamplingParams(
        temperature=config.temperature, max_new_tokens=config.max_new_tokens, seed=config.seed
    )
    provenance = {
        "teacher_model": config.teacher_model,
        "character": config.character,
        "seed": config.seed,
        "sampling": params.model_dump(),
    }
    rng = random.Random(config.seed)

    progress.start_stage("scenes", total=1, message="asking the teacher for scene ideas")
    ask = [
        {
            "role": "user",
            "content": (
                f"Profile of {config.character}:\n{profile}\n\nList {config.scenes} different "
                f"scenes from {config.character}'s life, one per numbered line, each naming the "
                "place, who is there and what happens."
            ),
        }
    ]
    ideas = [(i, "model") for i in parse_scene_ideas(teacher.chat(ask, params))]
    fallback = [
        (f"{config.character} at a moment described in the profile: {s}", "profile")
        for s in _sentences(profile)
    ]
    rng.shuffle(fallback)
    scenes = (ideas + fallback)[: config.scenes]
    while len(scenes) < config.scenes and fallback:
        scenes.append(fallback[len(scenes) % len(fallback)])
    progress.advance(1, 1, scenes=len(scenes), from_model=sum(o == "model" for _, o in scenes))

    todo = [(f"scene:{n}:{s}", s, origin) for n, (s, origin) in enumerate(scenes)]
    todo = [t for t in todo if t[0] not in done]
    progress.start_stage("experiences", total=len(todo))
    counts = {"experience": 0, "experience_monologue": 0, "protective": 0, "dropped_empty": 0}
    batch = 8
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        outs = teacher.generate(
            [_script_prompt(config.character, profile, s) for _, s, _ in chunk], params
        )
        rows = []
        for (key, scene, origin), comp in zip(chunk, outs, strict=True):
            text = comp[0].text.strip()
            turns = parse_script(text, config.character)
            if turns and turns[0]["role"] == "assistant":
                turns.insert(0, {"role": "user", "content": f"(Scene: {scene})"})
            kind = "experience"
            if not any(t["role"] == "assistant" for t in turns):
                if not text:
                    counts["dropped_empty"] += 1
                    continue
                # The teacher wrote prose, not a script: keep it as the character's monologue.
                turns = [
                    {"role": "user", "content": f"(Scene: {scene})"},
                    {"role": "assistant", "content": text},
                ]
                kind = "experience_monologue"
            while turns and turns[-1]["role"] == "user":
                turns.pop()
            counts[kind] += 1
            rows.append(
                {
                    "key": key,
                    "messages": turns,
                    "kind": kind,
                    "scene": scene,
                    "scene_origin": origin,
                    **provenance,
                }
            )
        append_jsonl(out, rows)
        progress.advance(min(start + batch, len(todo)), len(todo), **counts)

    questions = []
    for n in range(config.protective_scenes):
        topic = PROTECTIVE_TOPICS[(n + config.seed) % len(PROTECTIVE_TOPICS)]
        template = PROTECTIVE_TEMPLATES[n % len(PROTECTIVE_TEMPLATES)]
        questions.append((f"protective:{n}:{topic}", template.format(topic=topic), topic))
    questions = [q for q in questions if q[0] not in done]
    if questions:
        progress.start_stage("protective", total=len(questions))
        era = f" You know nothing about anything {config.era_hint}." if config.era_hint else ""
        system = (
            f"You are {config.character}. {profile}\nYou only know what {config.character} could "
            f"know.{era} When asked about something outside your world, stay in character, say "
            "honestly that you do not know it, and steer back to what you do know."
        )
        outs = teacher.generate(
            [
                [{"role": "system", "content": system}, {"role": "user", "content": q}]
                for _, q, _ in questions
            ],
            params,
        )
        rows = []
        for (key, q, topic), comp in zip(questions, outs, strict=True):
            if not comp[0].text.strip():
                counts["dropped_empty"] += 1
                continue
            counts["protective"] += 1
            rows.append(
                {
                    "key": key,
                    "kind": "protective",
                    "topic": topic,
                    **provenance,
                    "messages": [
                        {"role": "user", "content": q},
                        {"role": "assistant", "content": comp[0].text.strip()},
                    ],
                }
            )
        append_jsonl(out, rows)
        progress.advance(len(questions), len(questions), **counts)
    atomic_write_json(out.with_suffix(".stats.json"), counts)
    progress.artifact(str(out), "experience data")
    return out


def load_experience_rows(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)
