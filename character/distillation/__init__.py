"""Stage 1 of the recipe: prompts, teacher/student DPO pairs, and LoRA DPO training.

Import from `character.distillation.pipeline`; this package import stays light (no torch).
"""
