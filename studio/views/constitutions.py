"""Constitution editor: list personas and try one with a sampled reply."""

from __future__ import annotations

import streamlit as st

from character.constitution import ConstitutionError, list_constitutions, load_constitution
from studio.common import cached_backend, model_picker, run_safely, sampling_controls

st.title("📜 Constitutions")
known = list_constitutions()
if not known:
    st.info("No constitutions yet. Create one below, or add a JSON/YAML file to the folder.")
else:
    rows = []
    for name, path in known.items():
        try:
            c = load_constitution(path)
            rows.append({"persona": name, "traits": len(c.traits), "file": path.name, "ok": "✓"})
        except ConstitutionError as exc:
            rows.append({"persona": name, "traits": 0, "file": path.name, "ok": str(exc)})
    st.dataframe(rows, hide_index=True, width="stretch")

st.subheader("Try a persona")
persona = st.selectbox("Persona", ["(none)", *known], key="try_persona")
prompt = st.text_input("Your message", "Tell me about yourself.", key="try_prompt")
model = model_picker("Model", key="try_model")
params = sampling_controls("try")
if st.button("Sample a reply", key="try_go", type="primary"):
    conv = []
    if persona != "(none)":
        c = run_safely(lambda: load_constitution(known[persona]), "load the constitution")
        if c is not None:
            conv.append({"role": "system", "content": c.teacher_system_prompt()})
    conv.append({"role": "user", "content": prompt})
    backend = run_safely(lambda: cached_backend(model), f"load model {model}")
    if backend is not None:
        with st.spinner("Sampling…"):
            reply = run_safely(lambda: backend.chat(conv, params), "sample a reply")
        if reply is not None:
            st.session_state["try_reply"] = reply
if "try_reply" in st.session_state:
    with st.chat_message("assistant"):
        st.write(st.session_state["try_reply"])
