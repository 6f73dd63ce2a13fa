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

st.subheader("Ready-trained demo")
from character.demo_persona import MAKE_COMMAND, list_demo_personas  # noqa: E402
from studio.selection import page_link  # noqa: E402

try:
    demos = list_demo_personas()
except OSError:
    demos = []
if demos:
    for demo in demos:
        st.markdown(
            f"**{demo.label}** is installed (made {demo.manifest.made_at[:10]} with "
            f"`{demo.manifest.recipe}`): it is in every model picker as *{demo.label}*, so you "
            "can show chat and the arena while the class's own training runs."
        )
        c1, c2 = st.columns(2)
        with c1:
            page_link(
                "studio/views/models.py",
                f"Chat with the {demo.label}",
                ":material/smart_toy:",
                model=demo.ref,
                persona=demo.name,
            )
        with c2:
            page_link(
                "studio/views/arena.py",
                "Arena: the demo against the prompted base model",
                ":material/swords:",
                model=demo.ref,
                persona=demo.name,
            )
else:
    st.info(
        "For instructors: no ready-trained demo persona yet. To show chat and the arena before "
        "any training finishes, run this once in a terminal before class (about 10 to 15 "
        f"minutes on a laptop CPU):\n\n`{MAKE_COMMAND}`\n\nIt trains the pirate persona with "
        "the demo recipe and keeps it in the model cache (not in your data folder); it then "
        "shows up in every model picker as *ready-trained demo: Pirate*."
    )
st.caption(f"Data folder: `{s.data_path}` · constitutions: `{s.constitution_path}`")
