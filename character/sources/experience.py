"""Experience upload (Character-LLM): from a profile, scenes of the character's life become
training conversations, plus protective scenes in which the character deflects what it could
not know.

Three teacher passes: (1) scene ideas from the profile, (2) each scene completed as a script
from the character's perspective (thoughts and speech), (3) deflections of out-of-world
questions. The teacher is any backend the registry resolves: the embedded model offline, or
`openai:<model>` for any OpenAI-compatible endpoint (base URL and key from the settings).

A small local teacher often ignores formats and a chat model may answer as an assistant, so every
parse is lenient, every reply that cannot become training data is dropped with its reason in the
`.stats.json` next to the output, and scenes fall back to the profile's own sentences; each row
records where it came from. The scene plan is saved first, so a resumed run completes the same
scenes even with a teacher that never answers the same way twice.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from character.backends.base import SamplingParams
from character.io import append_jsonl, atomic_write_json, load_models_jsonl, read_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
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
IDEAS_PER_ROUND = 10
"""Scene ideas asked for in one teacher reply."""
MAX_PROBLEMS = 50
"""How many dropped replies the stats file quotes (the counts cover all of them)."""

_HONORIFICS = {"mr", "mrs", "ms", "miss", "dr", "sir", "lady", "lord", "young", "old", "the"}
_STAGE_SPEAKERS = {"scene", "setting", "narrator", "location", "time", "stage", "note"}
# An assistant's voice, not the character's: training on it would teach the persona to break.
_OUT_OF_CHARACTER = re.compile(
    r"\bas an ai\b|\blanguage model\b|\bi(?:'m| am) (?:just )?an? (?:ai|assistant)\b"
    r"|\bi(?:'m| am) sorry,? but i (?:can(?:not|'t)|am unable|won't)\b"
    r"|\bi (?:can(?:not|'t)|am unable to) (?:help|assist|write|create|provide|fulfil)",
    re.IGNORECASE,
)
# How a character says "that is outside my world".
_DEFLECTION = re.compile(
    r"\b(?:do not|don't|dont|never|cannot|can't|not) (?:\w+ )?(?:know|heard|understand|familiar"
    r"|say|seen|follow)\b|\bunfamiliar\b|\bno idea\b|\bnever heard\b|\bstrange (?:word|thing)"
    r"|\bwhat (?:is|are) (?:this|that|these|those|an?|your)\b|\bno notion\b|\bnot sure what\b",
    re.IGNORECASE,
)
_ENUMERATED = re.compile(r"^\s*(?:\d+\s*[.):-]|[-*•]\s|scene\s*\d+\s*[:.)-])", re.IGNORECASE)


class ExperienceConfig(BaseModel):
    """Build experience and protective scenes for one character from a profile."""

    character: str = Field(description="The character's name, e.g. 'Ada Lovelace'.")
    profile: str = Field(default="", description="A biography or description of the character.")
    profile_path: Path | None = Field(default=None, description="Read the profile from a file.")
    teacher_model: str = Field(
        default_factory=lambda: get_settings().teacher_model,
        description="Registry name, local folder, or openai:<model> (base URL and key from the "
        "settings: LLM_BASE_URL / OPENAI_BASE_URL, LLM_API_KEY / OPENAI_API_KEY).",
    )
    scenes: int = Field(default=8, ge=1, le=5000)
    protective_scenes: int = Field(default=4, ge=0, le=5000)
    era_hint: str = Field(
        default="", description="What the character cannot know about, e.g. 'after 1850'."
    )
    require_deflection: bool = Field(
        default=False,
        description="Drop protective replies that do not say the character does not know the "
        "topic (worth it with a strong teacher; a small one rarely phrases it that way).",
    )
    temperature: float = 0.7
    max_new_tokens: int = 200
    seed: int = 0
    output_path: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()
    resume: bool = False

    @model_validator(mode="after")
    def _need_profile(self) -> ExperienceConfig:
        if not self.character.strip():
            raise ValueError("give the character's name")
        if not self.profile.strip() and self.profile_path is None:
            raise ValueError("give a profile text or a profile_path")
        return self

    def profile_text(self) -> str:
        if self.profile_path is not None:
            text = Path(self.profile_path).read_text(encoding="utf-8")
            if not text.strip():
                raise ValueError(f"{self.profile_path}: the profile file is empty")
            return text
        return self.profile


Kind = Literal["experience", "experience_monologue", "protective"]


class ExperienceRow(BaseModel):
    """One SFT conversation (TRL `messages` format) with its provenance."""

    key: str
    kind: Kind
    messages: list[dict[str, str]]
    teacher_model: str
    character: str
    seed: int
    sampling: dict[str, Any]
    scene: str | None = None
    scene_origin: Literal["model", "profile"] | None = None
    topic: str | None = None
    deflects: bool | None = None


class DroppedReply(BaseModel):
    key: str
    reason: str
    reply: str = Field(description="The start of the teacher's reply.")


class ExperienceStats(BaseModel):
    """What the run kept and dropped, and why (`<output>.stats.json`)."""

    experience: int = 0
    experience_monologue: int = 0
    protective: int = 0
    protective_not_deflecting: int = 0
    dropped_empty: int = 0
    dropped_out_of_character: int = 0
    dropped_no_character_lines: int = 0
    dropped_not_deflecting: int = 0
    duplicate_scene_ideas: int = 0
    scenes_from_model: int = 0
    scenes_from_profile: int = 0
    problems: list[DroppedReply] = Field(default_factory=list)
    dropped_keys: list[str] = Field(
        default_factory=list, description="Every dropped item, so a resumed run skips it too."
    )

    def drop(self, key: str, reason: str, reply: str) -> None:
        setattr(self, f"dropped_{reason}", getattr(self, f"dropped_{reason}") + 1)
        self.dropped_keys.append(key)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(DroppedReply(key=key, reason=reason, reply=reply[:200]))

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump(exclude={"problems", "dropped_keys"}).items() if v}


class ScenePlan(BaseModel):
    """The scenes chosen on the first run (`<output>.scenes.json`), reused on resume."""

    scenes: list[tuple[str, Literal["model", "profile"]]]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [p.strip() for p in parts if len(p.split()) >= 4]


def _clean_markup(line: str) -> str:
    return line.replace("**", "").replace("__", "").lstrip("#> ").strip()


def parse_scene_ideas(text: str) -> list[str]:
    """Scene ideas of at least five words. When the reply numbers or bullets its lines, only
    those count, so a chat model's "Sure! Here are five scenes:" preamble is not a scene."""
    lines = [_clean_markup(x) for x in text.splitlines()]
    if any(_ENUMERATED.match(x) for x in lines):
        lines = [x for x in lines if _ENUMERATED.match(x)]
    ideas = []
    for line in lines:
        line = _ENUMERATED.sub("", line, count=1).strip()
        line = re.sub(r"^scene\s*\d*\s*[:.)-]\s*", "", line, flags=re.IGNORECASE)
        line = line.strip().strip('"').strip()
        if len(line.split()) >= 5 and not line.endswith(":"):
            ideas.append(line)
    return ideas


def _name_tokens(name: str) -> set[str]:
    words = re.findall(r"[a-z]+", name.lower())
    return {w for w in words if w not in _HONORIFICS and len(w) > 1}


# A speaker is one to four capitalised words ('TOMMY', 'Mrs. Pell', 'Captain of the Guard'), so
# prose with a colon ("The storm raged: waves...") is not taken for a line of dialogue.
_NAME = r"[A-Z][\w.'-]*(?:\s+(?:of|the|de|van|von|la|le|[A-Z][\w.'-]*)){0,3}"
_SCRIPT_LINE = re.compile(rf"^\s*({_NAME})\s*(?:[(\[]([^)\]]{{1,40}})[)\]])?\s*:\s*(.+)$")


def parse_script(text: str, character: str) -> list[dict[str, str]]:
    """Turn 'NAME (thinking): ...' / 'NAME: ...' / 'OTHER: ...' lines into chat turns where the
    character's thoughts and speech are assistant turns and everyone else is the user.

    The character is recognised by any part of the name ('MARGARET', 'Mrs. Pell'); markdown
    bold around names is ignored; consecutive lines of one side are merged into one turn."""
    mine = _name_tokens(character)
    turns: list[dict[str, str]] = []
    for raw in text.splitlines():
        m = _SCRIPT_LINE.match(_clean_markup(raw))
        if not m:
            continue
        speaker, mode, speech = m.group(1).strip(), (m.group(2) or "").lower(), m.group(3).strip()
        speech = speech.strip("*_ ").strip()
        if not speech:
            continue
        is_char = bool(mine & _name_tokens(speaker))
        if is_char:
            thinking = any(w in mode for w in ("think", "thought", "inner", "mind"))
            role, content = "assistant", f"(thinking) {speech}" if thinking else speech
        else:
            role, content = "user", f"{speaker}: {speech}"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + content
        else:
            turns.append({"role": role, "content": content})
    return turns


def script_has_no_character(text: str, character: str) -> bool:
    """A script whose lines all belong to other people (so not the character's experience)."""
    turns = parse_script(text, character)
    return bool(turns) and not any(t["role"] == "assistant" for t in turns)


def is_out_of_character(text: str) -> bool:
    return bool(_OUT_OF_CHARACTER.search(text))


def deflects(text: str) -> bool:
    return bool(_DEFLECTION.search(text))


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


def script_to_row_messages(text: str, character: str, scene: str) -> tuple[list[dict], str]:
    """The conversation and kind for one completed scene; kind names a drop reason when the
    reply cannot be used ('empty', 'out_of_character', 'no_character_lines')."""
    text = text.strip()
    if not text:
        return [], "empty"
    if is_out_of_character(text):
        return [], "out_of_character"
    turns = parse_script(text, character)
    setting = f"(Scene: {scene})"
    if turns and not any(t["role"] == "assistant" for t in turns):
        return [], "no_character_lines"
    if not turns:
        # Prose, not a script: the character's monologue about the scene.
        return [
            {"role": "user", "content": setting},
            {"role": "assistant", "content": text},
        ], "experience_monologue"
    if turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": setting})
    else:
        turns[0]["content"] = f"{setting}\n{turns[0]['content']}"
    while turns and turns[-1]["role"] == "user":
        turns.pop()
    return turns, "experience"


def _stats_path(out: Path) -> Path:
    return out.with_suffix(".stats.json")


def _plan_path(out: Path) -> Path:
    return out.with_suffix(".scenes.json")


def _done_keys(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {r.get("key", "") for r in read_jsonl(path, skip_bad=True)}


def _plan_scenes(
    config: ExperienceConfig,
    teacher: Any,
    profile: str,
    params: SamplingParams,
    stats: ExperienceStats,
) -> list[tuple[str, Literal["model", "profile"]]]:
    """Teacher ideas first (duplicates dropped), topped up with the profile's own sentences.

    Ideas are asked for in rounds of at most `IDEAS_PER_ROUND` (one reply cannot list hundreds),
    each round shown the ideas so far; a round that adds nothing ends the asking."""
    seen: set[str] = set()
    scenes: list[tuple[str, Literal["model", "profile"]]] = []
    rounds = math.ceil(config.scenes / IDEAS_PER_ROUND) + 1
    for round_no in range(rounds):
        want = min(IDEAS_PER_ROUND, config.scenes - len(scenes))
        if want <= 0:
            break
        avoid = ""
        if scenes:
            listed = "\n".join(f"- {s}" for s, _ in scenes[-20:])
            avoid = f"\n\nScenes already listed (write different ones):\n{listed}"
        ask = [
            {
                "role": "user",
                "content": (
                    f"Profile of {config.character}:\n{profile}\n\nList {want} different "
                    f"scenes from {config.character}'s life, one per numbered line, each naming "
                    f"the place, who is there and what happens.{avoid}"
                ),
            }
        ]
        round_params = params.model_copy(
            update={
                "max_new_tokens": min(1024, max(params.max_new_tokens, 40 * want)),
                "seed": None if params.seed is None else params.seed + round_no,
            }
        )
        new = 0
        for idea in parse_scene_ideas(teacher.chat(ask, round_params)):
            norm = " ".join(re.findall(r"\w+", idea.lower()))
            if norm in seen:
                stats.duplicate_scene_ideas += 1
                continue
            seen.add(norm)
            scenes.append((idea, "model"))
            new += 1
        if not new:
            break
    fallback = [
        f"{config.character} at a moment described in the profile: {s}" for s in _sentences(profile)
    ]
    random.Random(config.seed).shuffle(fallback)
    scenes = scenes[: config.scenes]
    # Too few ideas: profile moments, cycled (each is completed with its own sample).
    for n in range(config.scenes - len(scenes)):
        if not fallback:
            break
        scenes.append((fallback[n % len(fallback)], "profile"))
    if not scenes:
        raise ValueError(
            "the teacher listed no scenes and the profile has no sentence of four or more words "
            "to start from; write a longer profile"
        )
    return scenes


def generate_experiences(
    config: ExperienceConfig, reporter: Reporter | Progress | None = None
) -> Path:
    """Write SFT conversations (`ExperienceRow` JSON lines) and `<output>.stats.json`."""
    check_config_outputs(config)
    from character.models.registry import get_backend

    progress = as_progress(reporter)
    profile = config.profile_text().strip()
    slug = re.sub(r"[^a-z0-9]+", "-", config.character.lower()).strip("-") or "character"
    out = Path(
        config.output_path or get_settings().data_path / "sources" / f"{slug}_experience.jsonl"
    )
    if out.exists() and not config.resume:
        raise FileExistsError(
            f"{out} exists; pass resume=True to continue it or choose another path"
        )
    done = _done_keys(out) if config.resume else set()
    stats = ExperienceStats()
    if config.resume and _stats_path(out).exists():
        stats = ExperienceStats.model_validate_json(_stats_path(out).read_text(encoding="utf-8"))
        done |= set(stats.dropped_keys)
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

    def save_stats() -> None:
        atomic_write_json(_stats_path(out), stats.model_dump(mode="json"))

    progress.start_stage("scenes", total=1, message="asking the teacher for scene ideas")
    if config.resume and _plan_path(out).exists():
        plan = ScenePlan.model_validate_json(_plan_path(out).read_text(encoding="utf-8"))
        scenes = plan.scenes
    else:
        scenes = _plan_scenes(config, teacher, profile, params, stats)
        stats.scenes_from_model = sum(o == "model" for _, o in scenes)
        stats.scenes_from_profile = len(scenes) - stats.scenes_from_model
        atomic_write_json(_plan_path(out), ScenePlan(scenes=scenes).model_dump(mode="json"))
        save_stats()
    progress.advance(1, 1, scenes=len(scenes), from_model=stats.scenes_from_model)

    todo = [(f"scene:{n}:{s}", s, origin) for n, (s, origin) in enumerate(scenes)]
    todo = [t for t in todo if t[0] not in done]
    progress.start_stage("experiences", total=len(todo))
    batch = 8
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        outs = teacher.generate(
            [_script_prompt(config.character, profile, s) for _, s, _ in chunk], params
        )
        rows = []
        for (key, scene, origin), comp in zip(chunk, outs, strict=True):
            text = comp[0].text if comp else ""
            messages, kind = script_to_row_messages(text, config.character, scene)
            if kind not in ("experience", "experience_monologue"):
                stats.drop(key, kind, text)
                progress.log(f"dropped {key[:60]}: {kind.replace('_', ' ')}")
                continue
            setattr(stats, kind, getattr(stats, kind) + 1)
            rows.append(
                ExperienceRow(
                    key=key,
                    kind=kind,  # type: ignore[arg-type]
                    messages=messages,
                    scene=scene,
                    scene_origin=origin,  # type: ignore[arg-type]
                    **provenance,
                )
            )
        append_jsonl(out, rows)
        save_stats()
        progress.advance(min(start + batch, len(todo)), len(todo), **stats.counts())

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
            text = (comp[0].text if comp else "").strip()
            reason = None
            if not text:
                reason = "empty"
            elif is_out_of_character(text):
                reason = "out_of_character"
            elif config.require_deflection and not deflects(text):
                reason = "not_deflecting"
            if reason:
                stats.drop(key, reason, text)
                progress.log(f"dropped {key}: {reason.replace('_', ' ')}")
                continue
            stats.protective += 1
            stats.protective_not_deflecting += int(not deflects(text))
            rows.append(
                ExperienceRow(
                    key=key,
                    kind="protective",
                    topic=topic,
                    deflects=deflects(text),
                    messages=[
                        {"role": "user", "content": q},
                        {"role": "assistant", "content": text},
                    ],
                    **provenance,
                )
            )
        append_jsonl(out, rows)
        progress.advance(len(questions), len(questions), **stats.counts())
    save_stats()
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
    kept = stats.experience + stats.experience_monologue + stats.protective
    progress.log(f"experience upload: kept {kept} conversations; {stats.counts()}")
    progress.artifact(str(out), "experience data")
    return out


def load_experience_rows(path: Path) -> list[ExperienceRow]:
    """Read an experience file; a bad line raises an error naming the line and field."""
    return load_models_jsonl(path, ExperienceRow)


def load_experience_stats(path: Path) -> ExperienceStats:
    """The stats written next to an experience file."""
    return ExperienceStats.model_validate_json(_stats_path(Path(path)).read_text("utf-8"))
