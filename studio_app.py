"""Open Character Studio: `streamlit run studio_app.py` (or `make studio`).

The app only wires pages together; every page lives in `studio/views/` and calls the
`character` library and its job runner.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Open Character Studio", page_icon="🎭", layout="wide")

HERE = Path(__file__).resolve().parent
VIEWS = [
    ("home.py", "Home", "home"),
    ("constitutions.py", "Constitution editor", "edit_note"),
    ("data_preview.py", "Data preview", "compare"),
    ("training.py", "Training launcher", "rocket_launch"),
    ("sources.py", "Sources", "theaters"),
    ("runs.py", "Runs", "monitoring"),
    ("models.py", "Models", "smart_toy"),
    ("evaluation.py", "Evaluation", "analytics"),
    ("arena.py", "Arena", "swords"),
    ("feedback.py", "Feedback", "thumbs_up_down"),
    ("export.py", "Export & serve", "package_2"),
]
# Pages other areas add show up once their file exists, so a half-landed area never breaks
# the app.
PAGES = [
    st.Page(f"studio/views/{file}", title=title, icon=f":material/{icon}:", default=i == 0)
    for i, (file, title, icon) in enumerate(VIEWS)
    if (HERE / "studio" / "views" / file).exists()
]

# A link from another page carries its targets (`?persona=...&model=...`): adopt them before
# the page's pickers read their defaults.
from studio.selection import adopt_link_targets  # noqa: E402

adopt_link_targets()
st.navigation(PAGES).run()
