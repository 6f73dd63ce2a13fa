"""Export: merge an adapter, write GGUF + Ollama Modelfile or an adapter package (each a job with
a manifest), and serve a persona behind an OpenAI-compatible API."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from studio.common import data_files, rel, run_safely, settings
from studio.selection import adapter_name_for, current_model, default_option

FORMAT_HELP = {
    "merged": "Merged safetensors: the adapter folded into its base (checked by comparing logits).",
    "gguf": "GGUF + Ollama Modelfile for llama.cpp / Ollama (llama-family models).",
    "adapter": "Adapter only: the small PEFT folder, for people who already have the base.",
}


def _page() -> None:
    from character.models.registry import known_adapters

    st.title("Export & serve")
    st.caption(
        "Take a finished persona out of the studio. Every export is a job and writes a "
        "manifest with its lineage and file hashes; an existing folder is never overwritten."
    )
    from character.demo_persona import list_demo_personas

    adapters = run_safely(known_adapters, "list the adapters") or {}
    made = adapter_name_for(current_model(), adapters)  # the adapter the user just trained
    # The ready-trained demo persona (make demo-persona), listed after the user's own adapters.
    demos = run_safely(list_demo_personas, "list the demo personas") or []
    shown = {d.ref: d.label for d in demos}
    adapters.update({d.ref: d.adapter_dir for d in demos})
    if made is None and current_model() in shown:
        made = current_model()
    export_tab, serve_tab = st.tabs(["Export", "Serve"])
    with export_tab:
        if not adapters:
            st.info("No adapters in the data folder yet: train one on the Training launcher page.")
        else:
            default_option("ex_adapter", list(adapters), made)
            name = st.selectbox(
                "Adapter",
                list(adapters),
                key="ex_adapter",
                format_func=lambda n: shown.get(n, n),
                help="The adapter you trained last is picked for you.",
            )
            from studio.downloads import folder_download

            folder_download(
                adapters[name],
                "Download this adapter",
                key="ex_dl_adapter",
                file_name=f"{name.replace('/', '-').replace(':', '-')}-adapter.zip",
            )
            formats = st.multiselect(
                "Formats",
                list(FORMAT_HELP),
                default=["merged", "gguf"],
                key="ex_formats",
                format_func=lambda f: FORMAT_HELP[f],
                help="Merged: one model folder for any transformers tool. GGUF: one file for "
                "llama.cpp and Ollama (with a Modelfile). Adapter only: the small add-on.",
            )
            dtype = st.selectbox(
                "GGUF precision",
                ["f16", "f32"],
                key="ex_dtype",
                help="f16 halves the file; f32 matches the adapter model most closely.",
            )
            if st.button("Export", key="ex_launch", type="primary", disabled=not formats):
                from character.jobs import submit

                spec = {
                    "kind": "export",
                    "config": {
                        "model": str(adapters[name]),
                        "formats": formats,
                        "gguf_dtype": dtype,
                    },
                    "display_name": f"export {name}",
                }
                run_id = run_safely(lambda: submit(spec), "start the export")
                if run_id:
                    st.success(f"Started export run `{run_id}`: follow it on the Runs page.")
        manifests = [p for p in data_files((".json",)) if p.name == "manifest.json"]
        st.subheader("Exports")
        if not manifests:
            st.info("No exports yet.")
        for i, m in enumerate(manifests[:20]):
            data = run_safely(lambda m=m: json.loads(m.read_text(encoding="utf-8")), "read")
            if not data:
                continue
            with st.expander(f"{data.get('kind', '?')}: {rel(m.parent)}"):
                from studio.downloads import folder_download

                what = {"gguf": "GGUF + Modelfile", "merged": "merged model"}.get(
                    str(data.get("kind")), str(data.get("kind", "export"))
                )
                folder_download(
                    m.parent,
                    f"Download the {what}",
                    key=f"ex_dl_{i}",
                    file_name=f"{m.parent.parent.name}-{m.parent.name}.zip",
                )
                check = data.get("check") or {}
                if check:
                    st.markdown("Check: " + ", ".join(f"{k} = {v}" for k, v in check.items()))
                st.json(data, expanded=False)

    with serve_tab:
        choices = ["smollm2-135m", *adapters]
        default_option("ex_serve_ref", choices, made)
        ref = st.selectbox(
            "Model or adapter to serve",
            choices,
            key="ex_serve_ref",
            format_func=lambda n: shown.get(n, n),
        )
        port = st.number_input(
            "Port",
            1024,
            65535,
            8000,
            key="ex_port",
            help="The number in the server's address (http://127.0.0.1:PORT); pick another if "
            "something else already uses it.",
        )
        target = str(adapters[ref]) if ref in adapters else ref
        st.markdown("Run this in a terminal (it stays on localhost only):")
        st.code(f"character serve {target} --port {int(port)}", language="bash")
        st.markdown(
            "It merges the adapter once (cached), then answers on "
            f"`http://127.0.0.1:{int(port)}/v1` with an OpenAI-compatible API; any API key "
            "works. The command prints the model name to use. The persona is trained in, so "
            "no system prompt is needed."
        )
        st.markdown("**Python (`openai` client):**")
        st.code(
            "from openai import OpenAI\n"
            f'client = OpenAI(base_url="http://127.0.0.1:{int(port)}/v1", api_key="none")\n'
            'model = "<the model name `character serve` printed>"  # the merged folder path\n'
            "reply = client.chat.completions.create(\n"
            '    model=model, messages=[{"role": "user", "content": "Who are you?"}]\n'
            ")\n"
            "print(reply.choices[0].message.content)",
            language="python",
        )
        st.markdown(
            "**Open WebUI:** Settings → Connections → OpenAI API → add "
            f"`http://127.0.0.1:{int(port)}/v1` (from a Docker container use "
            f"`http://host.docker.internal:{int(port)}/v1`) with any key, then pick the model "
            "in a new chat."
        )
        st.caption(
            "Merged folders for serving are cached under "
            f"`{Path(settings().model_cache) / 'merged'}` and reused while the adapter is unchanged."
        )


if __name__ == "__main__":
    _page()
