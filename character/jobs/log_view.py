"""A run's log as a newcomer should see it: our own progress lines, not library noise.

The worker's stdout/stderr land in `log.txt` unchanged (FutureWarnings, tqdm bars, the
trainer's raw `{'loss': ...}` dicts): that file stays complete for debugging and for download.
The page shows `plain_log(...)`: those lines folded away, counted, and the trainer's newest
numbers said in words.
"""

from __future__ import annotations

import ast
import re

from pydantic import BaseModel, Field

WARNING_LINE = re.compile(
    r"(\b\w*Warning:|^\s*warnings\.warn\(|^WARNING[: ]|\bUserWarning\b|\bFutureWarning\b)"
)
PROGRESS_BAR = re.compile(r"(\d+%\|)|(\d+(\.\d+)?(it/s|s/it)\])")
STAMPED = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ")

METRIC_WORDS = {
    "loss": ("loss", "lower is better"),
    "train_loss": ("average loss", "lower is better"),
    "rewards/accuracies": ("pair accuracy", "share of pairs where the persona's answer wins"),
    "rewards/margins": ("reward margin", "higher is better"),
    "epoch": ("pass over the data", ""),
}


class PlainLog(BaseModel):
    lines: list[str] = Field(description="Lines to show, oldest first.")
    hidden_warnings: int = 0
    hidden_trainer_lines: int = 0
    trainer_numbers: dict[str, float] = Field(
        default_factory=dict, description="The newest raw trainer dict's numbers."
    )

    def hidden_note(self) -> str:
        """ "3 warnings and 12 lines of raw trainer output are only in the log file", or ''."""
        parts = []
        if self.hidden_warnings:
            parts.append(f"{self.hidden_warnings} warning line(s)")
        if self.hidden_trainer_lines:
            parts.append(f"{self.hidden_trainer_lines} line(s) of raw trainer output")
        if not parts:
            return ""
        return " and ".join(parts) + " are kept in the log file, not shown here."

    def numbers_in_words(self) -> str:
        """The trainer's newest numbers in words ("loss 0.62 (lower is better), ...")."""
        said = []
        for key, (words, hint) in METRIC_WORDS.items():
            if key in self.trainer_numbers:
                value = self.trainer_numbers[key]
                shown = f"{value:.0%}" if key == "rewards/accuracies" else f"{value:.3g}"
                said.append(f"{words} {shown}" + (f" ({hint})" if hint else ""))
        return ", ".join(said)


def _trainer_dict(text: str) -> dict[str, float] | None:
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return None
    try:
        value = ast.literal_eval(body)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float))}


def plain_log(text: str, max_lines: int = 40) -> PlainLog:
    """Split a log into what the page shows and what only the file keeps."""
    shown: list[str] = []
    warnings = trainer = 0
    numbers: dict[str, float] = {}
    in_warning = False
    for raw in text.splitlines():
        line = STAMPED.sub("", raw, count=1)
        if in_warning and raw[:1] in (" ", "\t") and not STAMPED.match(raw):
            warnings += 1  # the source line Python prints under a warning
            continue
        in_warning = False
        if WARNING_LINE.search(line):
            warnings += 1
            in_warning = True
            continue
        found = _trainer_dict(line)
        if found is not None:
            trainer += 1
            numbers = found or numbers
            continue
        if PROGRESS_BAR.search(line) or "\r" in raw:
            trainer += 1
            continue
        if raw.strip():
            shown.append(raw)
    return PlainLog(
        lines=shown[-max_lines:],
        hidden_warnings=warnings,
        hidden_trainer_lines=trainer,
        trainer_numbers=numbers,
    )
