"""Constitution editor: pick, create, generate, edit with live validation, save, compare drafts."""

from __future__ import annotations

from typing import Any

import streamlit as st
import yaml

from character.constitution import (
    Constitution,
    ConstitutionError,
    constitution_from_data,
    list_constitutions,
    load_constitution,
    parse_constitution_text,
    save_constitution,
    save_draft,
    shadow_notice,
)
from character.constitution_quality import QualityReport, check_constitution_quality
from character.drafting import ConstitutionDraft, draft_constitution, template_constitution
from character.persona_prompt import persona_conversation
from studio.common import (
    MAX_UPLOAD_BYTES,
    cached_backend,
    model_picker,
    run_safely,
    sampling_controls,
    settings,
)
from studio.selection import current_persona, page_link, set_persona

NEW = "(new blank persona)"
LIST_FIELDS = ("directives", "safety", "example_signoffs")
# Edited as YAML in "More fields"; examples live there so loading and saving keeps them.
MORE_FIELDS = ("examples", "attributes", "behaviors")


# ---------------------------------------------------------------- editor state <-> constitution


def _load_into_state(c: Constitution | None) -> None:
    """Put a constitution into the editor's widget keys (called from callbacks only)."""
    ss = st.session_state
    c = c or Constitution(name="new-persona")
    ss["ed_loaded"] = c.name
    ss["ed_name"] = c.name
    ss["ed_display"] = c.display_name
    ss["ed_desc"] = c.description
    ss["ed_sys"] = c.system_prompt
    for i in range(ss.get("ed_n", 0)):
        ss.pop(f"ed_trait_{i}", None)
        ss.pop(f"ed_q_{i}", None)
    ss["ed_n"] = len(c.traits)
    for i, t in enumerate(c.traits):
        ss[f"ed_trait_{i}"] = t.trait
        ss[f"ed_q_{i}"] = "\n".join(t.all_questions())
    for f in LIST_FIELDS:
        ss[f"ed_{f}"] = "\n".join(getattr(c, f))
    more = c.model_dump(mode="json", include=set(MORE_FIELDS), exclude_defaults=True)
    ss["ed_more"] = yaml.safe_dump(more, sort_keys=False, allow_unicode=True) if more else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _collect() -> tuple[dict[str, Any], list[str]]:
    """The editor's content as constitution data, plus problems parsing the YAML box."""
    ss = st.session_state
    data: dict[str, Any] = {
        "name": ss.get("ed_name", ""),
        "display_name": ss.get("ed_display", ""),
        "description": ss.get("ed_desc", ""),
        "system_prompt": ss.get("ed_sys", ""),
        "traits": [
            {"trait": ss.get(f"ed_trait_{i}", ""), "questions": _lines(ss.get(f"ed_q_{i}", ""))}
            for i in range(ss.get("ed_n", 0))
        ],
    }
    for f in LIST_FIELDS:
        data[f] = _lines(ss.get(f"ed_{f}", ""))
    problems: list[str] = []
    more_text = ss.get("ed_more", "")
    if more_text.strip():
        try:
            more = yaml.safe_load(more_text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            problems.append(f"More fields: the YAML has a syntax error{where}")
            more = None
        if isinstance(more, dict):
            data.update({k: v for k, v in more.items() if k in MORE_FIELDS})
            for k in more:
                if k not in MORE_FIELDS:
                    problems.append(
                        f"More fields: '{k}' is not allowed (only examples, attributes and "
                        "behaviors)"
                    )
        elif more is not None:
            problems.append(
                "More fields: write 'examples:', 'attributes:' and/or 'behaviors:' with lines below"
            )
    return data, problems


def _open_selected() -> None:
    choice = st.session_state.get("ed_open")
    known = list_constitutions()
    if choice in known:
        set_persona(choice)
        st.session_state.pop("ed_quality", None)  # findings belonged to the previous draft
        st.session_state.pop("ed_draft_note", None)
        try:
            _load_into_state(load_constitution(known[choice]))
            st.session_state.pop("ed_load_error", None)
        except ConstitutionError as exc:
            st.session_state["ed_load_error"] = str(exc)
            _load_into_state(None)
    else:
        _load_into_state(None)


def _add_trait() -> None:
    n = st.session_state.get("ed_n", 0)
    st.session_state[f"ed_trait_{n}"] = "I "
    st.session_state[f"ed_q_{n}"] = ""
    st.session_state["ed_n"] = n + 1


def _remove_trait(index: int) -> None:
    ss = st.session_state
    n = ss.get("ed_n", 0)
    for i in range(index, n - 1):
        ss[f"ed_trait_{i}"] = ss.get(f"ed_trait_{i + 1}", "")
        ss[f"ed_q_{i}"] = ss.get(f"ed_q_{i + 1}", "")
    ss.pop(f"ed_trait_{n - 1}", None)
    ss.pop(f"ed_q_{n - 1}", None)
    ss["ed_n"] = max(0, n - 1)


def _template_into_editor() -> None:
    name = st.session_state.get("ed_template_name") or "new-persona"
    try:
        c = template_constitution(name)
    except Exception as exc:  # noqa: BLE001
        st.session_state["ed_load_error"] = f"Template failed: {exc}"
        return
    _load_into_state(c)


# ---------------------------------------------------------------- page

st.title("Constitution editor")
st.caption(
    "A constitution describes the character in the first person. Its traits drive every "
    "later step; the questions under each trait are prompts that make it show."
)


def _editor_keys() -> list[str]:
    n = st.session_state.get("ed_n", 0)
    fields = ["ed_name", "ed_display", "ed_desc", "ed_sys", "ed_more"]
    fields += [f"ed_{f}" for f in LIST_FIELDS]
    return fields + [f"ed_{k}_{i}" for i in range(n) for k in ("trait", "q")]


def _snapshot() -> None:
    """Keep the editor's text outside its widgets: Streamlit drops a widget's value when
    another page is shown, and the editor must come back as the user left it."""
    ss = st.session_state
    ss["ed_snapshot"] = {k: ss[k] for k in _editor_keys() if k in ss}


def _restore() -> None:
    for k, v in st.session_state.get("ed_snapshot", {}).items():
        st.session_state[k] = v


def _editor_is_clean() -> bool:
    """True when the editor holds exactly the saved file of the persona it opened."""
    loaded = st.session_state.get("ed_loaded")
    if loaded not in known:
        return not st.session_state.get("ed_n")
    try:
        saved = load_constitution(known[loaded])
        return constitution_from_data(_collect()[0], source="the editor") == saved
    except ConstitutionError:
        return False


def _follow_selection() -> None:
    """Back on the page: follow the persona picked elsewhere, unless that would throw away
    unsaved edits (then keep them and say so)."""
    ss = st.session_state
    wanted, loaded = current_persona(), ss.get("ed_loaded")
    if wanted in known and wanted != loaded and _editor_is_clean():
        ss["ed_open"] = wanted
        _open_selected()
    else:
        ss["ed_open"] = loaded if loaded in known else NEW
        if wanted in known and wanted != loaded:
            st.info(
                f"The editor still holds unsaved changes to **{loaded}**; save them, or open "
                f"**{wanted}** below to leave them."
            )


known = list_constitutions()
ss = st.session_state
wanted = current_persona()
if "ed_n" not in ss:
    # First visit: open the persona the user works on (a link's target), else the first one.
    ss["ed_open"] = wanted if wanted in known else next(iter(known), NEW)
    _open_selected()
else:
    if "ed_name" not in ss:
        _restore()  # back from another page
    if "ed_open_next" in ss:
        ss["ed_open"] = ss.pop("ed_open_next")  # just saved under this id
    elif "ed_open" not in ss:
        _follow_selection()


top = st.columns([2, 1])
top[0].selectbox(
    "Open a persona",
    [NEW, *known],
    key="ed_open",
    on_change=_open_selected,
    help="Personas found in the constitutions folder. Picking one loads it into the editor.",
)
if (notice := shadow_notice(st.session_state.get("ed_open", ""))) is not None:
    top[0].caption(notice)
with top[1].popover("New from template"):
    st.text_input("Id for the new persona", "new-persona", key="ed_template_name")
    st.button("Start from the template", key="ed_template_go", on_click=_template_into_editor)


@st.cache_data(max_entries=256, show_spinner=False)
def _summary(path: str, mtime: float) -> dict[str, Any]:
    try:
        c = load_constitution(path)
        return {"traits": len(c.traits), "questions": len(c.questions()), "status": "valid"}
    except ConstitutionError as exc:
        return {"traits": 0, "questions": 0, "status": "; ".join(exc.problems)[:200]}


with st.expander(f"All personas ({len(known)})"):
    st.dataframe(
        [
            {"persona": n, "file": p.name, **_summary(str(p), p.stat().st_mtime)}
            for n, p in known.items()
        ],
        hide_index=True,
        width="stretch",
    )
if st.session_state.get("ed_load_error"):
    st.error(st.session_state["ed_load_error"])

with st.expander("Generate with AI from a one-line description", icon=":material/auto_awesome:"):
    desc = st.text_input(
        "Describe the character in one line",
        key="gen_desc",
        placeholder="a patient beekeeper who explains science with bee metaphors",
    )
    gen_name = st.text_input("Id for the drafted persona", "my-persona", key="gen_name")
    gen_model = model_picker(
        "Model that drafts it",
        key="gen_model",
        help="Any backend works; the embedded model drafts offline (simpler results).",
    )
    if st.button("Generate draft", key="gen_go", type="primary"):
        if not desc.strip():
            st.error("Write a one-line description first.")
        else:
            with st.spinner("Drafting the constitution…"):
                draft: ConstitutionDraft | None = run_safely(
                    lambda: draft_constitution(desc, model=gen_model, name=gen_name),
                    "draft the constitution",
                    "Try another model, or start from the template.",
                )
            if draft is not None:
                st.session_state["ed_generated"] = draft.constitution
                st.session_state["ed_draft_note"] = draft.summary().split("\n")[0]
                st.session_state["ed_quality"] = draft.quality
                st.rerun()
if "ed_generated" in st.session_state:
    _load_into_state(st.session_state.pop("ed_generated"))
    st.success("Draft loaded into the editor below; review it, then save.")


def _show_quality(report: QualityReport | None, note: str | None = None) -> None:
    """The quality findings, one warning each, labelled as a person counts (Trait 1, ...)."""
    if note:
        st.caption(note)
    if report is None:
        return
    if report.usable and not report.findings:
        st.success("Quality check: ready to teach (first-person traits, in-voice examples).")
        return
    head = (
        "Quality check: usable, but worth a look."
        if report.usable
        else "Quality check: this draft needs editing before training."
    )
    st.warning(head)
    for f in report.findings:
        st.warning(f"{f.where} ({f.severity}): {f.message}")


_show_quality(st.session_state.get("ed_quality"), st.session_state.get("ed_draft_note"))

upload = st.file_uploader(
    "…or upload a constitution file (JSON, YAML, the recipe's .txt or OCT's few-shot .jsonl; "
    "up to 256 KB)",
    type=["json", "yaml", "yml", "txt", "jsonl"],
    key="ed_upload",
)
if upload is not None and st.session_state.get("ed_upload_done") != upload.file_id:
    st.session_state["ed_upload_done"] = upload.file_id
    raw = upload.getvalue()
    if len(raw) > MAX_UPLOAD_BYTES:
        st.error(f"{upload.name} is larger than {MAX_UPLOAD_BYTES // 1024} KB; trim it first.")
    else:
        try:
            stem = upload.name.rsplit(".", 1)[0].lower().replace(" ", "-")
            c = parse_constitution_text(
                raw.decode("utf-8"),
                upload.name.rsplit(".", 1)[-1],
                source=upload.name,
                default_name=stem,
            )
            _load_into_state(c)
            st.rerun()
        except UnicodeDecodeError:
            st.error(f"{upload.name} is not UTF-8 text.")
        except ConstitutionError as exc:
            st.error(str(exc))

# A key keeps the open tab across reruns (a button in the Drafts tab no longer jumps back).
edit_tab, try_tab, drafts_tab = st.tabs(
    ["Edit", "Try it", "Drafts & compare"], key="ed_tab", on_change="rerun"
)

with edit_tab:
    c1, c2 = st.columns(2)
    c1.text_input(
        "Persona id", key="ed_name", help="Lowercase letters, digits, '-' or '_'. The file name."
    )
    c2.text_input("Display name", key="ed_display", help="How the character is called.")
    st.text_area(
        "Description",
        key="ed_desc",
        height=68,
        help="One or two sentences about the character, for people and the teacher model.",
    )
    st.text_area(
        "System prompt (optional)",
        key="ed_sys",
        height=90,
        help="Opening instruction for the teacher model; left empty, it is built from traits.",
    )
    st.markdown("**Traits** — first person, each with questions (one per line).")
    for i in range(st.session_state.get("ed_n", 0)):
        cols = st.columns([3, 4, 1])
        cols[0].text_input(f"Trait {i + 1}", key=f"ed_trait_{i}", help="e.g. 'I am curious'.")
        cols[1].text_area(
            f"Questions for trait {i + 1}",
            key=f"ed_q_{i}",
            height=90,
            help="User messages that would make this trait show, one per line.",
        )
        cols[2].button("Remove", key=f"ed_rm_{i}", on_click=_remove_trait, args=(i,))
    st.button("Add trait", key="ed_add", on_click=_add_trait, icon=":material/add:")
    d1, d2, d3 = st.columns(3)
    d1.text_area("Directives", key="ed_directives", help="Rules of style, one per line.")
    d2.text_area("Safety rules", key="ed_safety", help="Lines the character never crosses.")
    d3.text_area("Sign-offs", key="ed_example_signoffs", help="Phrases it likes, one per line.")
    with st.expander("More fields (examples, attributes, behaviors) as YAML"):
        st.text_area(
            "examples / attributes / behaviors",
            key="ed_more",
            height=160,
            help="Optional: example exchanges (user, assistant) in the persona's voice, identity, "
            "interests, viewpoints… and how it speaks and interacts.",
        )

data, extra_problems = _collect()
current: Constitution | None = None
try:
    current = constitution_from_data(data, source="the editor")
except ConstitutionError as exc:
    extra_problems = [*exc.problems, *extra_problems]
with edit_tab:
    if extra_problems:
        st.error("Fix before saving:\n" + "\n".join(f"- {p}" for p in extra_problems))
    elif current is not None:
        for w in current.lint():
            st.warning(w)
        st.success(
            f"Valid: {len(current.traits)} traits, {len(current.questions())} questions "
            f"(hash {current.content_hash()})."
        )
    if current is not None and st.button("Check quality", key="ed_check"):
        st.session_state["ed_draft_note"] = None
        st.session_state["ed_quality"] = run_safely(
            lambda: check_constitution_quality(current), "check the constitution's quality"
        )
        st.rerun()
    fmt = st.radio("Save as", ["json", "yaml"], horizontal=True, key="ed_fmt")
    overwrite = st.checkbox("Overwrite if the file exists", key="ed_overwrite")
    if st.button(
        "Save", key="ed_save", type="primary", disabled=current is None, icon=":material/save:"
    ):
        assert current is not None
        target = settings().hand_written / f"{current.name}.{fmt}"
        if target.exists() and not overwrite:
            st.error(f"{target.name} already exists: tick 'Overwrite' or change the persona id.")
        else:
            saved = run_safely(lambda: save_constitution(current, target), "save")
            if saved is not None:
                run_safely(lambda: save_draft(current), "keep a draft version")
            if saved is not None:
                st.success(f"Saved {saved.name}.")
                set_persona(current.name)
                ss["ed_loaded"] = current.name
                ss["ed_open_next"] = current.name
    if current is not None and current.name in list_constitutions():
        n1, n2 = st.columns(2)
        with n1:
            page_link(
                "studio/views/data_preview.py",
                f"Preview the data of {current.name}",
                ":material/compare:",
                persona=current.name,
            )
        with n2:
            page_link(
                "studio/views/training.py",
                f"Train {current.name}",
                ":material/rocket_launch:",
                persona=current.name,
            )
    if current is not None:
        with st.expander("Preview: the teacher's system prompt"):
            st.code(current.teacher_system_prompt(), language=None, wrap_lines=True)

with try_tab:
    st.caption("Talk to the persona as it is in the editor (unsaved changes included).")
    prompt = st.text_input("Your message", "Tell me about yourself.", key="try_prompt")
    model = model_picker("Model", key="try_model")
    params = sampling_controls("try")
    if st.button("Sample a reply", key="try_go", type="primary"):
        conv = [{"role": "user", "content": prompt}]
        if current is not None:
            conv = persona_conversation(current, prompt, model)
        backend = run_safely(lambda: cached_backend(model), f"load model {model}")
        if backend is not None:
            with st.spinner("Sampling…"):
                reply = run_safely(lambda: backend.reply(conv, params), "sample a reply")
            if reply is not None:
                st.session_state["try_reply"] = reply.display_text()
    if "try_reply" in st.session_state:
        with st.chat_message("assistant"):
            st.write(st.session_state["try_reply"])

with drafts_tab:
    from studio.drafts import render_drafts

    render_drafts(current)

_snapshot()
