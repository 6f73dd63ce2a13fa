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

CLASS_VIEWS = [
    ("class_overview.py", "Class overview", "groups", "instructor"),
    ("projector.py", "Projector", "co_present", "instructor"),
    ("gallery.py", "Class gallery", "photo_library", "everyone"),
    ("class_arena.py", "Class arena", "how_to_vote", "student"),
]

# A link from another page carries its targets (`?persona=...&model=...`): adopt them before
# the page's pickers read their defaults.
from studio.classroom_ui import classroom_mode  # noqa: E402
from studio.selection import adopt_link_targets  # noqa: E402

if not classroom_mode():
    adopt_link_targets()
    st.navigation(PAGES).run()
else:
    # Classroom mode (`character studio --classroom`): nothing but the sign-in form until a
    # person signs in; then this run works in their workspace and sees their pages.
    from studio.classroom_ui import (
        drop_foreign_link_targets,
        enter_classroom,
        sidebar_badge,
        sign_in_form,
    )

    session = enter_classroom()
    wanted = (
        {"instructor", "everyone"} if session and session.is_instructor else {"student", "everyone"}
    )
    class_pages = [
        st.Page(f"studio/views/{file}", title=title, icon=f":material/{icon}:")
        for file, title, icon, who in CLASS_VIEWS
        if session is None or who in wanted
    ]
    # Before sign-in the page named in the URL is kept (hidden) so a link opens after it.
    # Class pages go first: the sidebar folds away links after the tenth.
    page = st.navigation(class_pages + PAGES, position="sidebar" if session else "hidden")
    if session is None:
        sign_in_form()
        st.stop()
    sidebar_badge(session)
    drop_foreign_link_targets(session)
    adopt_link_targets()
    page.run()
