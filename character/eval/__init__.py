"""Evaluation: is the trained persona better, and how sure are we?

Every number comes with a 95% interval (Wilson for rates, bootstrap for ratings and means).

- `elo`: the seed API (`Match`, `compute_elo`, `save_matches`, `load_matches`). Online Elo is
  order-dependent; `bradley_terry` gives order-invariant ratings with bootstrap intervals.
- `persona_classifier`: in/out-of-persona or which-persona classifier (MiniLM + logistic
  regression offline; TF-IDF; optional local transformer fine-tune), scored on held-out data.
- `robustness`: persona retention under "stop role-playing" instructions and the prefill attack,
  on built-in held-out prompts checked disjoint from every training prompt.
- `revealed_preferences`: which of two traits the model picks, judged by an LLM or offline by
  embedding similarity, rated with Bradley–Terry.
- `judge`: pairwise LLM-as-judge in both orders and the Character-LLM interview rubric, with
  editable prompt files under `prompts/`.
- `arena`: blind A/B votes stored append-only, a leaderboard, DPO export.
- `report`: `run_evaluation(EvalConfig)` writes report.json and plotly figures for the studio.

Heavy libraries (torch, sentence-transformers, scikit-learn) are imported lazily inside the
functions that need them, so importing this package stays fast.
"""
