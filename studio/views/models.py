"""Models: trained adapters with their lineage, chat with any model, base vs tuned side by side."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from character.constitution import list_constitutions, load_constitution
from character.jobs.index import lineage
from character.persona_prompt import persona_conversation
from character.settings import EMBEDDED_MODEL
from studio.common import cached_interactive_backend, model_picker, run_safely, sampling_controls
from studio.selection import adapter_name_for, current_model, default_option, page_link

st.title("Models")
st.caption(
    "Every model you can use: the embedded base model and each adapter a training run "
    "produced. An adapter is a small add-on that turns the base model into the character."
)

from character.models.registry import known_adapters  # noqa: E402

adapters = known_adapters()
rows = [{"model": EMBEDDED_MODEL, "kind": "base", "base": "", "folder": "(embedded)"}]
for name, path in adapters.items():
    meta_path = path / "character_adapter.json"
    meta = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
    rows.append(
        {
            "model": name,
            "kind": "adapter",
            "base": str(meta.get("base_model", "?")),
            "folder": str(path),
        }
    )
from character.demo_persona import list_demo_personas  # noqa: E402

for demo in run_safely(list_demo_personas, "list the demo personas") or []:
    rows.append(
        {
            "model": demo.label,
            "kind": "adapter (ready-trained demo)",
            "base": demo.manifest.base_model,
            "folder": str(demo.folder),
        }
    )
st.dataframe(rows, hide_index=True, width="stretch")

made = current_model()  # the adapter the user just trained (or picked last)
if adapters:
    default_option("mdl_lineage", list(adapters), adapter_name_for(made, adapters))
    pick = st.selectbox("Lineage of adapter", list(adapters), key="mdl_lineage")
    chain = run_safely(lambda: lineage(adapters[pick]), "read the lineage") or []
    if chain:
        st.markdown(
            "  \n".join(
                f"{'└─ ' * min(i, 1)}`{r.get('run_id')}` · {r.get('kind')} · {r.get('state')}"
                for i, r in enumerate(chain)
            )
        )
    else:
        st.caption("No recorded run made this adapter (it was copied in by hand).")
else:
    st.info(
        "No adapters yet: train one from the Training launcher (the demo preset takes minutes)."
    )

personas = ["(no system prompt)", *list_constitutions()]


def _conversation(
    persona: str, history: list[dict[str, str]], model: str | None = None
) -> list[dict[str, str]]:
    if persona == "(no system prompt)":
        return list(history)
    c = load_constitution(list_constitutions()[persona])
    return persona_conversation(c, history, model)


chat_tab, side_tab = st.tabs(["Chat", "Base vs tuned"])
with chat_tab:
    c1, c2 = st.columns(2)
    with c1:
        chat_model = model_picker("Model", key="mdl_chat_model", default=made, remember=True)
    persona = c2.selectbox(
        "System prompt",
        personas,
        key="mdl_chat_persona",
        help="A trained adapter should stay in character without one; try both.",
    )
    params = sampling_controls("mdl_chat")
    history: list[dict[str, str]] = st.session_state.setdefault("mdl_history", [])
    if st.button("Clear chat", key="mdl_clear"):
        history.clear()
    for m in history:
        with st.chat_message(m["role"]):
            st.write(m["content"])
    text = st.chat_input("Say something to the model", key="mdl_chat_input")
    if text:
        history.append({"role": "user", "content": text})
        with st.chat_message("user"):
            st.write(text)
        backend = run_safely(lambda: cached_interactive_backend(chat_model), f"load {chat_model}")
        if backend is not None:
            with st.spinner("Thinking…"):
                reply = run_safely(
                    lambda: backend.reply(
                        _conversation(persona, history, chat_model), params
                    ).display_text(),
                    "reply",
                )
            if reply is not None:
                history.append({"role": "assistant", "content": reply})
                with st.chat_message("assistant"):
                    st.write(reply)

with side_tab:
    st.caption("The same prompt and seed to two models, to see what training changed.")
    c1, c2 = st.columns(2)
    with c1:
        left = model_picker("Left (e.g. the base model)", key="mdl_left")
    with c2:
        right = model_picker(
            "Right (e.g. the trained adapter)", key="mdl_right", default=made, remember=True
        )
    side_persona = st.selectbox("System prompt for both", personas, key="mdl_side_persona")
    prompt = st.text_area("Prompt", "What do you do on a rainy day?", key="mdl_side_prompt")
    side_params = sampling_controls("mdl_side")
    if st.button("Compare", key="mdl_compare", type="primary"):
        out = {}
        for side, ref in (("left", left), ("right", right)):
            conv = _conversation(side_persona, [{"role": "user", "content": prompt}], ref)
            backend = run_safely(lambda ref=ref: cached_interactive_backend(ref), f"load {ref}")
            if backend is not None:
                with st.spinner(f"Sampling {ref}…"):
                    out[side] = run_safely(
                        lambda b=backend, c=conv: b.reply(c, side_params).display_text(),
                        "sample",
                    )
        st.session_state["mdl_side_out"] = (left, right, out)
    if "mdl_side_out" in st.session_state:
        lref, rref, out = st.session_state["mdl_side_out"]
        a, b = st.columns(2)
        a.markdown(f"**{Path(lref).name}**")
        a.write(out.get("left") or "–")
        b.markdown(f"**{Path(rref).name}**")
        b.write(out.get("right") or "–")

st.divider()
st.subheader("Export")
st.caption(
    "Merge an adapter into its base, write GGUF for llama.cpp/Ollama, or package the "
    "adapter alone; each export runs as a job with a manifest."
)
if (Path(__file__).parent / "export.py").exists():
    page_link("studio/views/export.py", "Open Export & serve", ":material/package_2:")
