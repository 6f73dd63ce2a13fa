"""Classroom mode in the studio: the sign-in form, the signed-in user's workspace for every
script run, and the class pages. It only builds configs and calls `character.classroom`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from pydantic import SecretStr, ValidationError

from character.classroom import (
    ClassroomError,
    ClassSession,
    SignIn,
    class_dir_for,
    load_classroom,
    session_settings,
    sign_in,
)
from character.classroom.access import path_allowed
from character.classroom.runtime import activate_shared_queue, classroom_enabled
from character.settings import (
    Settings,
    process_settings,
    set_settings_override,
    set_settings_provider,
)

SESSION = "class_session"
WORKSPACE = "class_workspace_settings"
TOKEN = "class_token"
TOKEN_PARAM = "s"
"""A student's signed sign-in token rides in the address (`?s=...`) so a reload keeps them
signed in. Not the instructor's: the projector shows the address bar to the whole room."""


def classroom_mode() -> bool:
    return classroom_enabled()


def class_dir() -> Path:
    return class_dir_for(process_settings().data_path)


def current_session() -> ClassSession | None:
    return st.session_state.get(SESSION)


def _session_workspace() -> Settings | None:
    """The workspace of the browser session this thread serves. Streamlit reruns a fragment
    (e.g. the Runs page's live list) in a fresh thread without the script's context, so the
    settings are looked up from the session itself wherever no override is set."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return None
    return st.session_state.get(WORKSPACE)


def enter_classroom() -> ClassSession | None:
    """At the top of every script run: the signed-in session (None: show the sign-in form)
    with its workspace's folders in force for this run only."""
    cfg = load_classroom(class_dir())
    activate_shared_queue(class_dir(), cfg)
    set_settings_provider(_session_workspace)
    session = current_session() or _resume_from_token()
    set_settings_override(st.session_state.get(WORKSPACE) if session else None)
    if session is not None and st.session_state.get(TOKEN):
        # a page switch drops the address's parameters: put the token back for a reload
        st.query_params[TOKEN_PARAM] = st.session_state[TOKEN]
    return session


def _resume_from_token() -> ClassSession | None:
    """After a reload: sign the student back in from the token in the address, if valid."""
    from character.classroom.tokens import session_from_token

    token = st.query_params.get(TOKEN_PARAM)
    if not token:
        return None
    try:
        session = session_from_token(class_dir(), token)
        workspace = session_settings(class_dir(), session)
    except ClassroomError as exc:
        del st.query_params[TOKEN_PARAM]
        st.session_state["class_token_problem"] = str(exc)
        return None
    _remember(session, workspace, token)
    return session


def _remember(session: ClassSession, workspace: Settings | None, token: str | None = None) -> None:
    """Keep the signed-in session for this browser tab; a student also gets a token (a new
    one at sign-in, the address's own one after a reload) so the next reload signs them in."""
    from character.classroom.tokens import issue_token

    st.session_state[SESSION] = session
    st.session_state[WORKSPACE] = workspace
    if not session.is_instructor:
        st.session_state[TOKEN] = token or issue_token(class_dir(), session)


def sign_in_form() -> None:
    cfg = load_classroom(class_dir())
    st.title(f"Sign in to {cfg.class_name}")
    st.write(
        "Type the class code from the board, your name and a PIN. The first time, the PIN "
        "you choose keeps your workspace yours; type the same one each time after."
    )
    problem = st.session_state.pop("class_token_problem", None)
    if problem:
        st.info(problem)
    with st.form("class_sign_in"):
        code = st.text_input("Class code", type="password", help="On the board.")
        name = st.text_input("Your name", max_chars=40, help="How the class sees you.")
        pin = st.text_input("Your PIN", type="password", help="At least 4 characters.")
        go = st.form_submit_button("Sign in", type="primary")
    if not go:
        return
    try:
        request = SignIn(code=SecretStr(code), name=name, pin=SecretStr(pin) if pin else None)
        session = sign_in(class_dir(), request)
        workspace = session_settings(class_dir(), session)
    except (ClassroomError, ValidationError) as exc:
        st.error(str(exc))
        return
    _remember(session, workspace)
    st.rerun()


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if TOKEN_PARAM in st.query_params:
        del st.query_params[TOKEN_PARAM]
    set_settings_override(None)


def sidebar_badge(session: ClassSession) -> None:
    with st.sidebar:
        role = "instructor" if session.is_instructor else "student"
        st.caption(f"Signed in as **{session.display_name}** ({role})")
        st.button("Sign out", key="class_sign_out", on_click=sign_out)


def drop_foreign_link_targets(session: ClassSession) -> None:
    """A link's `?model=` that points into another student's workspace is not adopted."""
    ref = st.query_params.get("model")
    if ref and not path_allowed(class_dir(), session, ref):
        del st.query_params["model"]
        st.session_state.pop("sel_model", None)
        st.error("That link points at another student's model; you can open only your own.")


def require_instructor() -> ClassSession:
    session = current_session()
    if session is None or not session.is_instructor:
        st.error("This page is for the instructor. Sign in with the instructor code.")
        st.stop()
    return session


def run_request(ids: list[str], wanted: str | None) -> str | None:
    """The run a link (`?run=`) or the id box asks for, if this person may open it; a
    classmate's (or unknown) run is refused with a plain message instead."""
    from character.classroom import RunAccessError, check_run_access

    typed = st.text_input(
        "Open a run by its id", key="runs_by_id", placeholder="paste a run id"
    ).strip()
    asked = typed or wanted
    if typed and typed in ids:
        st.session_state["runs_pick"] = typed  # the picker below opens on it
    if not asked or asked in ids:
        return asked
    session = current_session()
    if session is not None and session.is_instructor:
        st.info(
            f"Run {asked!r} is not in your own folder: students' runs are on the Class "
            "overview and Projector pages."
        )
    else:
        try:
            check_run_access(class_dir(), session, asked)  # type: ignore[arg-type]
            return asked
        except RunAccessError as exc:
            st.error(str(exc))
    if st.query_params.get("run") == asked:
        del st.query_params["run"]
    st.session_state.pop("runs_selected", None)
    return None
