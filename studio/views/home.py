"""Home: what the studio does, the five steps in plain words, and what is ready."""

from __future__ import annotations

import streamlit as st

from studio.common import settings

st.title("Open Character Studio")
st.write(
    "Turn a written persona into a model that *is* that character, even without a system "
    "prompt. Everything runs offline on this computer with a small embedded model; API keys "
    "are optional and only add bigger models."
)

st.subheader("Five steps")
st.markdown(
    """
1. **Write the persona** (*Constitution editor*): a few first-person traits like
   "I am endlessly curious", each with questions that make the trait show.
2. **Preview the data** (*Data preview*): a *teacher* answers with the persona in its
   instructions, a *student* answers without; the teacher's answer becomes the preferred one.
3. **Train** (*Training launcher*): the student learns to prefer the persona's answers
   (DPO), then reflects on itself in character (introspection SFT).
4. **Watch it run** (*Runs*): live progress, loss and accuracy charts; stop or resume any time.
5. **Meet the result** (*Models*, *Evaluation*, *Arena*): chat with the trained model, compare
   it with the original side by side and vote blind on which is more in character.
"""
)

st.subheader("Status")
s = settings()
view = s.public_view()
try:
    from character.models.embedded import is_converted

    ready = is_converted()
except Exception:  # noqa: BLE001
    ready = False
cols = st.columns(3)
cols[0].metric("Embedded model", "ready" if ready else "not prepared")
cols[1].metric("OpenAI-compatible key", "set" if view["openai_key_set"] else "not set")
cols[2].metric("Tinker key", "set" if view["tinker_key_set"] else "not set")
if not ready:
    st.warning(
        "The embedded model is not prepared yet. Run `make setup` (or `character setup`) once; "
        "the first sample would otherwise convert it, which takes a minute."
    )
if not view["openai_key_set"]:
    st.caption(
        "No key is needed: every step works with the embedded model. Set OPENAI_API_KEY or "
        "LLM_API_KEY in the environment or `.env` to use a bigger model; keys are never shown."
    )
st.caption(f"Data folder: `{s.data_path}` · constitutions: `{s.constitution_path}`")
