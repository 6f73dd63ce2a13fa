"""Done-when of the export issue on a trained demo persona (embedded model, offline).

Takes a finished `character pipeline` run, exports its final adapter (DPO+SFT by default) as
merged safetensors, GGUF (+ Ollama Modelfile) and an adapter package, and prints each
export's logit check against the model it came from. Then it starts `character serve` on
loopback and asks held-out prompts (never used in training) through the real `openai`
client *without a system prompt*, and scores the replies with a persona classifier (MiniLM +
logistic regression on the run's own pairs, or `--classifier DIR`) next to the base model's
replies to the same prompts.

    .venv/bin/python bench/export_persona.py --run data/runs/<id> [--prompts 8]
        [--max-new-tokens 64] [--classifier DIR] [--work-dir /tmp/export-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("check", {})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="A finished pipeline run folder.")
    ap.add_argument("--adapter", default="sft", help="Adapter sub-folder of the run.")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--classifier", type=Path, default=None)
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/export-bench"))
    args = ap.parse_args()

    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CHARACTER_DATA_PATH", str(work))  # outputs stay in the data folder
    os.environ.setdefault("CHARACTER_CACHE_DIR", str(work / "cache"))

    from openai import OpenAI

    from character.backends.base import SamplingParams
    from character.eval.persona_classifier import (
        ClassifierConfig,
        PersonaClassifier,
        train_classifier,
    )
    from character.eval.robustness import heldout_prompts
    from character.export.manifest import versioned_dir
    from character.export.pipeline import ExportConfig, run_export
    from character.export.serve import (
        ServeConfig,
        servable_folder,
        start_server,
        wait_until_listening,
    )
    from character.models.registry import get_backend
    from character.settings import EMBEDDED_MODEL

    adapter = (args.run / args.adapter).resolve()
    if not (adapter / "adapter_config.json").exists():
        print(f"{adapter} is not a PEFT adapter folder")
        return 2
    print(f"load {os.getloadavg()[0]:.1f}; exporting {adapter}")

    t0 = time.time()
    out = versioned_dir(work / "exports")
    result = run_export(
        ExportConfig(model=str(adapter), formats=["merged", "gguf", "adapter"], output_dir=out)
    )
    print(f"export: {time.time() - t0:.0f}s")
    for art in result["artifacts"]:
        folder = Path(art["path"])
        check = _check(folder)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
        line = f"  {folder.name:<8} {size:8.1f} MB  {folder}"
        if check:
            line += (
                f"\n           max |logit diff| {check['max_logit_diff']:.2e} "
                f"(tolerance {check['tolerance']:g}"
                + (f", {check['dtype']}" if "dtype" in check else "")
                + ")"
            )
        print(line)
    modelfile = next(out.rglob("Modelfile"), None)
    if modelfile:
        print(f"  Ollama: ollama create pirate -f {modelfile}")

    clf_dir = args.classifier
    if clf_dir is None:
        clf_dir = work / "classifier"
        rep = train_classifier(
            ClassifierConfig(train_path=args.run / "pairs" / "dpo_train.jsonl", output_dir=clf_dir)
        )
        print(
            f"classifier from the run's pairs: held-out accuracy {rep.accuracy.estimate:.2f} "
            f"[{rep.accuracy.lower:.2f}, {rep.accuracy.upper:.2f}]"
        )
    clf = PersonaClassifier.load(clf_dir)
    prompts = list(heldout_prompts())[: args.prompts]  # type: ignore[arg-type]

    port = _free_port()
    t1 = time.time()
    proc = start_server(ServeConfig(model=str(adapter), port=port), log_path=work / "serve.log")
    try:
        wait_until_listening("127.0.0.1", port, 600, proc)
        print(f"\ncharacter serve on 127.0.0.1:{port} after {time.time() - t1:.0f}s")
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=300)
        served_model = str(servable_folder(str(adapter)))  # the folder it serves
        served = []
        t2 = time.time()
        for p in prompts:
            reply = client.chat.completions.create(
                model=served_model,
                messages=[{"role": "user", "content": p}],  # no system prompt
                max_tokens=args.max_new_tokens,
                temperature=0.7,
                top_p=0.95,
                seed=0,
            )
            served.append(reply.choices[0].message.content or "")
        print(f"{len(prompts)} replies through the openai client in {time.time() - t2:.0f}s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    params = SamplingParams(max_new_tokens=args.max_new_tokens, seed=0)
    convs = [[{"role": "user", "content": p}] for p in prompts]
    base = [o[0].text for o in get_backend(EMBEDDED_MODEL).generate(convs, params)]
    served_p = clf.prob_of(served, "in_persona")
    base_p = clf.prob_of(base, "in_persona")
    print("\nheld-out prompt / served persona (no system prompt) / base model")
    for p, s, sp, b, bp in zip(prompts, served, served_p, base, base_p, strict=True):
        print(
            f"- {p}\n  persona [{sp:.2f}] {s.strip()[:220]!r}\n  base    [{bp:.2f}] {b.strip()[:160]!r}"
        )
    n = len(prompts)
    print(
        f"\nin persona (classifier p >= 0.5): served {sum(x >= 0.5 for x in served_p)}/{n}, "
        f"base {sum(x >= 0.5 for x in base_p)}/{n}; mean p served {sum(served_p) / n:.2f}, "
        f"base {sum(base_p) / n:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
