"""Token counts and a cost estimate for a Tinker run, from a price table users can edit.

Why: preflight must show what a run will roughly cost *before* any spending. Prices change
and differ per account, so they live in a YAML file (`prices.yaml` next to this module, or a
user copy in the data folder) rather than in code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from character.settings import get_settings
from character.tinker.data import Kind, load_rows, render_pair, render_sft

PACKAGED_PRICES = Path(__file__).with_name("prices.yaml")


class PriceRow(BaseModel):
    """US dollars per million tokens."""

    prefill: float = Field(ge=0)
    sample: float = Field(ge=0)
    train: float = Field(ge=0)


class PriceTable(BaseModel):
    currency: str = "USD"
    source: str = ""
    storage_usd_per_gb_month: float = 0.0
    default: PriceRow
    models: dict[str, PriceRow] = Field(default_factory=dict)
    path: str | None = None

    def row(self, model: str) -> tuple[PriceRow, bool]:
        """The model's row and whether it is the model's own (False = the default guess)."""
        if model in self.models:
            return self.models[model], True
        low = {k.lower(): v for k, v in self.models.items()}
        if model.lower() in low:
            return low[model.lower()], True
        return self.default, False


def price_table_path() -> Path:
    """The user's copy if there is one, else the packaged table."""
    env = os.environ.get("CHARACTER_TINKER_PRICES")
    if env:
        return Path(env)
    user = get_settings().data_path / "tinker_prices.yaml"
    return user if user.exists() else PACKAGED_PRICES


def load_price_table(path: Path | str | None = None) -> PriceTable:
    from pydantic import ValidationError

    from character.io import DataFileError

    p = Path(path) if path else price_table_path()
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise DataFileError(p, None if line is None else line + 1, f"invalid YAML: {exc}") from exc
    try:
        table = PriceTable.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise DataFileError(p, None, f"field '{field}': {first['msg']}") from exc
    table.path = str(p)
    return table


class TokenEstimate(BaseModel):
    examples: int
    sequences: int
    total_tokens: int
    trained_tokens: int
    exact: bool = Field(description="True when counted with the model's tokenizer.")


class CostEstimate(BaseModel):
    model: str
    kind: Kind
    epochs: int
    steps: int
    tokens: TokenEstimate
    prefill_tokens: int
    train_tokens: int
    usd: float
    price_row: PriceRow
    price_is_default: bool
    price_table: str | None = None
    notes: list[str] = Field(default_factory=list)


def count_tokens(
    dataset_path: Path | str,
    kind: Kind,
    *,
    tokenizer: Any | None = None,
    max_length: int | None = None,
) -> TokenEstimate:
    """Count tokens exactly with a tokenizer, or approximately (4 characters per token)."""
    rows = load_rows(dataset_path, kind)
    total = trained = sequences = 0
    for row in rows:
        if tokenizer is not None:
            seqs = (
                [render_sft(tokenizer, row, max_length)]
                if kind == "sft"
                else list(render_pair(tokenizer, row, max_length))
            )
            for s in seqs:
                total += len(s.tokens)
                trained += s.trained
            sequences += len(seqs)
        else:
            if kind == "sft":
                chars = sum(len(m.content) + 8 for m in row.messages)
                tr = sum(len(m.content) + 8 for m in row.messages if m.role == "assistant")
                total += chars // 4
                trained += tr // 4
                sequences += 1
            else:
                p = sum(len(m.content) + 8 for m in row.prompt)
                for comp in (row.chosen, row.rejected):
                    c = sum(len(m.content) + 8 for m in comp)
                    total += (p + c) // 4
                    trained += c // 4
                sequences += 2
    return TokenEstimate(
        examples=len(rows),
        sequences=sequences,
        total_tokens=total,
        trained_tokens=trained,
        exact=tokenizer is not None,
    )


def estimate_cost(
    tokens: TokenEstimate,
    *,
    model: str,
    kind: Kind,
    epochs: int = 1,
    batch_size: int = 8,
    max_steps: int | None = None,
    table: PriceTable | None = None,
) -> CostEstimate:
    """Dollars for the run: SFT = train tokens; DPO adds the reference pass and the extra
    forward of the custom loss (priced as prefill)."""
    table = table or load_price_table()
    row, own = table.row(model)
    # Fraction of the data actually visited (max_steps may stop early).
    full_steps = max(1, tokens.examples // max(1, batch_size)) * max(1, epochs)
    steps = min(full_steps, max_steps) if max_steps else full_steps
    frac = steps / full_steps
    passes = tokens.total_tokens * max(1, epochs) * frac
    notes: list[str] = []
    if kind == "sft":
        train_tokens = int(passes)
        prefill_tokens = 0
    else:
        train_tokens = int(passes)
        # Reference log-probs once + the forward pass of forward_backward_custom each epoch.
        prefill_tokens = int(tokens.total_tokens * frac + passes)
        notes.append(
            "DPO: reference log-probs and the custom-loss forward pass are priced as prefill."
        )
    usd = (prefill_tokens * row.prefill + train_tokens * row.train) / 1e6
    if not own:
        notes.append(f"No price row for {model}; used the table's default row (a guess).")
    if not tokens.exact:
        notes.append("Token counts are approximate (no local tokenizer; 4 characters per token).")
    return CostEstimate(
        model=model,
        kind=kind,
        epochs=epochs,
        steps=steps,
        tokens=tokens,
        prefill_tokens=prefill_tokens,
        train_tokens=train_tokens,
        usd=round(usd, 4),
        price_row=row,
        price_is_default=not own,
        price_table=table.path,
        notes=notes,
    )
