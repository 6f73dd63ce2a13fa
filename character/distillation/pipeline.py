"""The public face of stage 1, as the seed README promises:

```python
from character.distillation.pipeline import (
    generate_dpo_pairs, run_dpo_training, GenerationConfig, TrainingConfig,
)
```

and `python -m character.distillation.pipeline generate|train ...` (same as
`character distill generate|train`).
"""

from __future__ import annotations

from character.distillation.dataset import (
    DpoExample,
    default_output_path,
    load_examples,
    save_examples,
)
from character.distillation.generate import GenerationConfig, generate_dpo_pairs
from character.distillation.prompts import PromptSet, build_prompt_set
from character.distillation.train import TrainingConfig, run_dpo_training

__all__ = [
    "DpoExample",
    "GenerationConfig",
    "PromptSet",
    "TrainingConfig",
    "build_prompt_set",
    "default_output_path",
    "generate_dpo_pairs",
    "load_examples",
    "run_dpo_training",
    "save_examples",
]

if __name__ == "__main__":  # pragma: no cover - exercised through the CLI tests
    from character.distillation.cli import main

    main()
