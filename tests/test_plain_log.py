"""The page's log leaves library warnings and raw trainer output in the file."""

from __future__ import annotations

import pytest

from character.jobs.log_view import plain_log

pytestmark = pytest.mark.unit

LOG = """[2026-01-01 10:00:00] created distill.train run abc
/venv/lib/python3.12/site-packages/transformers/training_args.py:1604: FutureWarning: `evaluation_strategy` is deprecated
  warnings.warn(
[2026-01-01 10:00:01] dpo: train 1/4
{'loss': 0.6931, 'grad_norm': 1.5, 'learning_rate': 0.0001, 'rewards/accuracies': 0.5, 'epoch': 0.25}
 50%|█████     | 2/4 [00:01<00:01,  1.50it/s]
{'loss': 0.61, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'rewards/accuracies': 0.75, 'epoch': 0.5}
UserWarning: padding side
[2026-01-01 10:00:03] dpo: train 4/4
"""


def test_warnings_and_trainer_dicts_are_folded_and_said_in_words() -> None:
    view = plain_log(LOG)
    assert view.lines == [
        "[2026-01-01 10:00:00] created distill.train run abc",
        "[2026-01-01 10:00:01] dpo: train 1/4",
        "[2026-01-01 10:00:03] dpo: train 4/4",
    ]
    assert view.hidden_warnings == 3 and view.hidden_trainer_lines == 3
    assert view.trainer_numbers["loss"] == 0.61
    words = view.numbers_in_words()
    assert "loss 0.61 (lower is better)" in words and "pair accuracy 75%" in words
    assert "grad_norm" not in words
    assert "kept in the log file" in view.hidden_note()
    assert plain_log("").lines == [] and plain_log("").hidden_note() == ""
