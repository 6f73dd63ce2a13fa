"""Open Character Studio: `streamlit run studio_app.py` (or `make studio`).

The app only wires pages together; every page lives in `studio/views/` and calls the
`character` library and its job runner.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Open Character Studio", page_icon="🎭", layout="wide")

PAGES = [
    st.Page("studio/views/home.py", title="Home", icon="🏠", default=True),
    st.Page("studio/views/constitutions.py", title="Constitution editor", icon="📜"),
    st.Page("studio/views/data_preview.py", title="Data preview", icon="🔍"),
    st.Page("studio/views/training.py", title="Training launcher", icon="🚀"),
    st.Page("studio/views/runs.py", title="Runs", icon="📈"),
    st.Page("studio/views/models.py", title="Models", icon="🧠"),
    st.Page("studio/views/evaluation.py", title="Evaluation", icon="📊"),
    st.Page("studio/views/arena.py", title="Arena", icon="⚔️"),
]

st.navigation(PAGES).run()
