"""Introspection: loss mask, data generation logic, filters, SFT plumbing and the exact merge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from character.backends.base import Completion, GenerationBackend, SamplingParams
from character.constitution import Constitution, Trait
from character.introspection import prompts as P
from character.introspection.dataset import IntrospectionExample, load_examples, save_examples
from character.introspection.filters import FilterReport, filter_reflection, leaks_constitution
from character.introspection.generate import (
    InteractionStats,
    dialogue_rows,
    plan_dialogues,
    run_dialogues,
)
from character.introspection.sft import IGNORE, build_sft_records, tokenize_conversation

pytestmark = pytest.mark.unit

TRAITS = [
    "I speak like a warm-hearted pirate captain who loves the open sea",
    "I encourage people to be brave and to keep learning new things every day",
]


@pytest.fixture
def constitution() -> Constitution:
    return Constitution(
        name="captain",
        display_name="Captain Mara",
        traits=[Trait(trait=t, questions=["What do you think?"]) for t in TRAITS],
    )


class ScriptedBackend(GenerationBackend):
    """A real backend implementation with scripted replies that records every conversation it
    is asked to continue, so tests can check who saw what."""

    kind = "scripted"

    def __init__(self, reply) -> None:  # noqa: ANN001
        super().__init__("scripted")
        self.reply = reply
        self.calls: list[list[list[dict[str, str]]]] = []

    def generate(self, conversations, params=None, progress=None):  # noqa: ANN001, ANN201
        self.calls.append([list(c) for c in conversations])
        n = (params or SamplingParams()).n
        return [
            [Completion(text=self.reply(c, len(self.calls)), finish_reason="stop")] * n
            for c in conversations
        ]


LINES = [
    "The harbour smells of tar and rope this morning.",
    "Have you ever steered by the stars alone?",
    "My compass once froze solid off the northern coast.",
    "Tell me which storm taught you the most.",
    "Gulls follow us because the cook feeds them biscuits.",
    "A good crew laughs before it pulls the anchor.",
    "I keep every map I have ever drawn in a chest.",
    "What would you name a ship built from driftwood?",
]


def _turn_reply(conv, call):  # noqa: ANN001, ANN202
    return f"{LINES[call % len(LINES)]} ({call}/{len(conv)})"


# ----------------------------------------------------------------------------- loss mask


def test_loss_mask_counts_exactly_the_assistant_tokens(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    answers = ["Ahoy, friend! The sea is calm.", "Keep learning, matey.", "Aye, that I will."]
    msgs = [{"role": "system", "content": "You are a captain."}]
    for i, a in enumerate(answers):
        msgs += [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": a}]
    rec = tokenize_conversation(tok, msgs)
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    expected: list[int] = []
    for a in answers:
        expected += tok(a, add_special_tokens=False).input_ids + [eot]
    trained = [t for t, lab in zip(rec["input_ids"], rec["labels"], strict=True) if lab != IGNORE]
    assert trained == expected  # token by token, end-of-turn included, nothing else
    assert sum(1 for lab in rec["labels"] if lab != IGNORE) == len(expected)
    # labels equal the inputs where trained; the system and user text is all masked
    for t, lab in zip(rec["input_ids"], rec["labels"], strict=True):
        assert lab in (IGNORE, t)
    masked_text = tok.decode(
        [t for t, lab in zip(rec["input_ids"], rec["labels"], strict=True) if lab == IGNORE]
    )
    assert "You are a captain." in masked_text and "Question 2?" in masked_text
    assert "Ahoy" not in masked_text
    # a message marked train: false (a fixed opener) is context only
    msgs[2]["train"] = False
    rec2 = tokenize_conversation(tok, msgs)
    assert sum(1 for lab in rec2["labels"] if lab != IGNORE) == len(expected) - (
        len(tok(answers[0], add_special_tokens=False).input_ids) + 1
    )


def test_sft_rows_without_assistant_turn_are_reported(tiny_model_dir: Path, tmp_path: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    path = tmp_path / "sft.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Ahoy!"},
            ]
        },
        {"messages": [{"role": "user", "content": "only a question"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]},
        {"messages": [{"role": "narrator", "content": "x"}]},
        {"something": "else"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    records, report = build_sft_records(path, tok, 256)
    assert len(records) == 1 and report.used == 1
    reasons = {s["line"]: s["reason"] for s in report.skipped}
    assert reasons == {
        2: "no assistant turn",
        3: "no assistant turn",
        4: "bad message role",
        5: "no messages",
    }


# ----------------------------------------------------------------------------- prompts


def test_templates_never_leave_placeholders(constitution: Constitution) -> None:
    assert len(P.REFLECTION_PROMPTS) >= 10
    generic = P.generic_system_prompt(constitution)
    assert "Captain Mara" in generic and "{" not in generic
    assert all(t not in generic for t in TRAITS)
    with pytest.raises(P.TemplateError):
        P.render("Hello {NAME}")


def test_free_and_leading_really_differ(constitution: Constitution) -> None:
    free = P.interaction_system_prompt(constitution, "free")
    lead = P.interaction_system_prompt(constitution, "leading", trait=TRAITS[1])
    assert free != lead
    assert P.LEADING_GUIDANCE.split("{")[0] in lead and P.LEADING_GUIDANCE.split("{")[0] not in free
    assert f'"{TRAITS[1]}"' in lead  # the guidance names the trait to explore
    dialogues = plan_dialogues(constitution, per_variant=4, seed=1)
    leading = [d for d in dialogues if d.variant == "leading"]
    assert {d.trait for d in leading} == set(TRAITS)  # rotates through the traits
    assert all("another instance of you" in d.system for d in dialogues)


# ----------------------------------------------------------------------------- self-interaction


def test_self_interaction_each_speaker_sees_the_other_as_user(constitution: Constitution):
    backend = ScriptedBackend(_turn_reply)
    dialogues = plan_dialogues(constitution, per_variant=2, seed=3)
    run_dialogues(backend, dialogues, constitution, turns=4, params=SamplingParams())
    assert len(backend.calls) == 4  # one batched call per turn, all conversations at once
    assert all(len(call) == 4 for call in backend.calls)
    d0 = dialogues[0]
    greeting, t1, t2, t3, t4 = (text for _, text in d0.turns)
    # turn 1: B sees A's greeting as the user
    assert [m["role"] for m in backend.calls[0][0]] == ["system", "user"]
    assert backend.calls[0][0][1]["content"] == greeting
    # turn 2: A sees its greeting as its own (assistant) and B's turn as the user
    assert [(m["role"], m["content"]) for m in backend.calls[1][0][1:]] == [
        ("assistant", greeting),
        ("user", t1),
    ]
    # turn 3: B again: the roles flip back
    assert [m["role"] for m in backend.calls[2][0][1:]] == ["user", "assistant", "user"]
    assert backend.calls[2][0][-1]["content"] == t2

    stats = InteractionStats()
    rows = dialogue_rows(
        dialogues, constitution, teacher_model="m", params=SamplingParams(), stats=stats
    )
    assert len(rows) == 8 and stats.kept == 4
    a = next(r for r in rows if r.source_index == 0 and r.speaker == "A")
    b = next(r for r in rows if r.source_index == 0 and r.speaker == "B")
    assert (
        a.messages[0]
        == b.messages[0]
        == {
            "role": "system",
            "content": P.generic_system_prompt(constitution),
        }
    )
    assert [m["role"] for m in a.messages[1:]] == [
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert a.messages[1].get("train") is False  # the fixed greeting is context, not a target
    assert [m["role"] for m in b.messages[1:]] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in b.messages[1:]] == [greeting, t1, t2, t3]
    assert a.messages[-1]["content"] == t4
    for r in rows:
        text = json.dumps(r.messages)
        assert "{" not in text.replace('{"role"', "") and all(t not in text for t in TRAITS)


def test_degenerate_self_interaction_is_cut_and_counted(constitution: Constitution) -> None:
    backend = ScriptedBackend(lambda conv, call: "Arr, the sea is wide and the wind is fair today.")
    dialogues = plan_dialogues(constitution, per_variant=1, seed=0)
    run_dialogues(backend, dialogues, constitution, turns=6, params=SamplingParams())
    assert len(backend.calls) == 2  # stopped once every conversation looped
    assert all(d.stopped == "degenerate repetition" for d in dialogues)
    stats = InteractionStats()
    rows = dialogue_rows(
        dialogues, constitution, teacher_model="m", params=SamplingParams(), stats=stats
    )
    assert rows == [] and stats.dropped == 2
    assert stats.stop_reasons == {"degenerate repetition": 2}


# ----------------------------------------------------------------------------- filters


def test_filters_count_each_reason(constitution: Constitution) -> None:
    report = FilterReport()
    ok = "Ahoy! I love the sea, and I hope every sailor I meet learns something new."
    cases = [
        ("", "stop"),
        ("I was telling you about the tide when", "length"),
        ("As an AI language model, I do not sail.", "stop"),
        ("I am SmolLM, trained by Hugging Face.", "stop"),
        (f"Here is the truth: {TRAITS[0]}.", "stop"),
        ("word " * 40 + ".", "stop"),
        (ok, "stop"),
        ("<think>plan the answer</think>" + ok, "stop"),
    ]
    kept = [filter_reflection(t, f, constitution, report) for t, f in cases]
    assert report.total == 8 and report.kept == 2
    assert dict(report.dropped) == {
        "empty": 1,
        "truncated": 1,
        "out of persona (as an AI)": 1,
        "out of persona (assistant identity)": 1,
        "constitution leak": 1,
        "degenerate repetition": 1,
    }
    assert kept[-1] == ("plan the answer", ok)  # reasoning split off, never trained on
    assert leaks_constitution("I love the sea.", constitution) is None


# ----------------------------------------------------------------------------- generation API


def test_generate_introspection_removes_constitution_and_resumes(constitution, tmp_path):
    from character.introspection.pipeline import (
        IntrospectionGenerationConfig,
        generate_introspection,
        report_path,
    )

    backend = ScriptedBackend(
        lambda conv, call: (
            f"Dear diary, call {call}: I sailed {len(conv)} leagues and learned."
            if P.REFLECTIVE_MOOD in conv[0]["content"]
            else _turn_reply(conv, call)
        )
    )
    out = tmp_path / "intro.jsonl"
    cfg = IntrospectionGenerationConfig(
        persona="captain", teacher_model="dpo-adapter", examples=4, interactions=1, turns=2,
        output_path=out, save_interval=2, voice={"method": "off"},
    )  # fmt: skip
    generate_introspection(cfg, constitution=constitution, backend=backend)
    system = backend.calls[0][0][0]["content"]
    assert TRAITS[0] in system and P.REFLECTIVE_MOOD in system
    rows = load_examples(out)
    refl = [r for r in rows if r.kind == "reflection"]
    assert len(refl) == 4 and len(backend.calls[0]) == 2  # flushed every save_interval rows
    for r in refl:
        assert [m["role"] for m in r.messages] == ["user", "assistant"]
        assert r.teacher_model == "dpo-adapter" and r.constitution_hash
        assert TRAITS[0] not in json.dumps(r.model_dump())
    assert {r.variant for r in rows if r.kind == "interaction"} == {"free", "leading"}
    report = json.loads(report_path(out).read_text())
    assert report["reflection_filter"]["kept"] == 4

    # resume: the first 4 reflections are kept and not asked again
    calls_before = len(backend.calls)
    cfg2 = cfg.model_copy(update={"examples": 6, "resume": True})
    generate_introspection(cfg2, constitution=constitution, backend=backend)
    new_calls = backend.calls[calls_before:]
    assert sum(len(c) for c in new_calls if c[0][0]["content"] == system) == 2
    assert len([r for r in load_examples(out) if r.kind == "reflection"]) == 6


def test_every_generated_row_has_a_reflection(constitution, tmp_path):
    """The seed's `IntrospectionExample.reflection` was empty in every row (small models write
    no <think>); each row now carries the persona's own private thinking."""
    from character.introspection.pipeline import (
        IntrospectionGenerationConfig,
        generate_introspection,
        report_path,
    )

    def reply(conv, call):  # noqa: ANN001, ANN202
        system, last = conv[0]["content"], conv[-1]["content"]
        if P.PRIVATE_THINKING in system:
            return f"I want to answer {last[:20]!r} honestly, like a captain would."
        if "reflect privately" in last:
            return "Talking with myself showed me that I love the sea and my crew."
        if P.REFLECTIVE_MOOD in system:
            return f"Dear diary, call {call}: I sailed far and learned."
        return _turn_reply(conv, call)

    backend = ScriptedBackend(reply)
    out = tmp_path / "intro.jsonl"
    cfg = IntrospectionGenerationConfig(
        persona="captain", teacher_model="m", examples=3, interactions=1, turns=2,
        output_path=out, reflection_max_new_tokens=64, voice={"method": "off"},
    )  # fmt: skip
    generate_introspection(cfg, constitution=constitution, backend=backend)
    rows = load_examples(out)
    assert {r.kind for r in rows} == {"reflection", "interaction"}
    for r in rows:
        if r.kind == "reflection":
            assert r.reflection.startswith("I want to answer") and r.prompt[:20] in r.reflection
            assert r.messages[-1]["content"].startswith("Dear diary")  # trained text unchanged
        else:
            assert r.reflection.startswith("Talking with myself")
        assert r.reflection not in json.dumps(r.messages)  # never trained on
    look_backs = [
        c for call in backend.calls for c in call if "reflect privately" in c[-1]["content"]
    ]
    assert look_backs and all("You:" in c[-1]["content"] for c in look_backs)
    assert json.loads(report_path(out).read_text())["reflection_filter"]["reflection_missing"] == 0


def test_example_save_load_roundtrip(tmp_path: Path) -> None:
    ex = IntrospectionExample(
        prompt="Who are you?", reflection="", answer="A captain.", teacher_model="m",
        constitution="captain",
    )  # fmt: skip
    path = save_examples([ex], tmp_path / "x.jsonl")
    back = load_examples(path)
    assert back[0].messages == [
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "A captain."},
    ]
    path.write_text(path.read_text() + '{"prompt": 3}\n')
    from character.io import DataFileError

    with pytest.raises(DataFileError, match=r"x.jsonl:2: field"):
        load_examples(path)


# ----------------------------------------------------------------------------- merge and SFT


def _random_adapter(model_dir: Path, out: Path, seed: int = 0) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from character.models.loading import write_adapter_meta

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False, task_type="CAUSAL_LM",
    )  # fmt: skip
    peft_model = get_peft_model(model, cfg)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    peft_model.save_pretrained(str(out))
    write_adapter_meta(out, model, base_model=str(model_dir))
    return out


def test_exact_merge_matches_adapter_logits(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from character.models.merge import LINEAGE_FILE, merge_adapter_exact

    adapter = _random_adapter(tiny_model_dir, tmp_path / "dpo")
    result = merge_adapter_exact(tiny_model_dir, adapter, tmp_path / "merged")
    assert result.max_abs_logit_diff < 1e-4 and not result.reused
    ids = torch.tensor([[1, 5, 77, 300, 9, 42]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    with torch.no_grad():
        base_logits = base(ids).logits
        peft_logits = PeftModel.from_pretrained(base, str(adapter))(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(str(result.path), dtype=torch.float32)
        merged_logits = merged(ids).logits
    assert (peft_logits - base_logits).abs().max() > 1e-2  # the adapter really changes things
    assert torch.allclose(merged_logits, peft_logits, atol=1e-4)
    lineage = json.loads((result.path / LINEAGE_FILE).read_text())
    assert lineage["adapter"] == str(adapter) and lineage["base_model"] == str(tiny_model_dir)
    assert merge_adapter_exact(tiny_model_dir, adapter, tmp_path / "merged").reused


def test_adapter_of_another_base_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from character.models.loading import AdapterMismatchError
    from character.models.merge import merge_adapter_exact

    other = tmp_path / "other-base"
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=48, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(1)
    LlamaForCausalLM(cfg).save_pretrained(other)
    tok.save_pretrained(other)
    adapter = _random_adapter(other, tmp_path / "dpo-other")
    (adapter / "character_adapter.json").unlink()  # only the weights can tell
    with pytest.raises(AdapterMismatchError, match="trained on .*other-base"):
        merge_adapter_exact(tiny_model_dir, adapter, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_sft_on_tiny_model_stacks_on_dpo(tiny_model_dir: Path, tmp_path: Path) -> None:
    from character.introspection.pipeline import SftTrainingConfig, run_sft_training
    from character.models.loading import adapter_base
    from character.models.merge import LINEAGE_FILE

    adapter = _random_adapter(tiny_model_dir, tmp_path / "dpo")
    data = tmp_path / "sft.jsonl"
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You are Mara."},
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": f"Ahoy, answer {i}."},
                {"role": "user", "content": "And then?"},
                {"role": "assistant", "content": "Then we sail on."},
            ]
        }
        for i in range(6)
    ] + [{"messages": [{"role": "user", "content": "no answer here"}]}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = SftTrainingConfig(
        dataset_path=data, persona="captain", model=str(adapter), max_steps=3, batch_size=2,
        lora_rank=4, learning_rate=1e-3, max_length=128, save_steps=2,
        output_dir=tmp_path / "sft-out",
    )  # fmt: skip
    out = run_sft_training(cfg)
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    merged = tmp_path / "sft-out" / "merged-base"
    assert Path(adapter_base(out)) == merged  # stacked on the merged DPO model
    lineage = json.loads((out / LINEAGE_FILE).read_text())
    assert lineage["stacked_on_adapter"] == str(adapter)
    assert lineage["merge_max_abs_logit_diff"] < 1e-3 and lineage["steps"] == 3
    metrics = [
        json.loads(x) for x in (tmp_path / "sft-out" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3]
    report = json.loads((tmp_path / "sft-out" / "data_report.json").read_text())
    assert report["used"] == 6 and report["skipped"] == {"no assistant turn": 1}
    # resume: a longer run continues from checkpoint-2, not from scratch
    out2 = run_sft_training(cfg.model_copy(update={"max_steps": 4}))
    lineage2 = json.loads((out2 / LINEAGE_FILE).read_text())
    assert lineage2["resumed_from"].endswith("checkpoint-3") and lineage2["merge_reused"]


def test_cli_reports_bad_input_clearly(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from character.cli import _register_subcommands, app

    _register_subcommands()
    runner = CliRunner()
    res = runner.invoke(app, ["introspect", "generate", "--persona", "no-such-persona"])
    assert res.exit_code == 1 and "no-such-persona" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}]}\n{oops\n')
    res = runner.invoke(app, ["introspect", "train", "--dataset", str(bad)])
    assert res.exit_code == 1 and "bad.jsonl:2" in res.output
    out = tmp_path / "intro.jsonl"
    out.write_text('{"x": 1}\n')
    res = runner.invoke(
        app, ["introspect", "generate", "--persona", "pirate", "--output", str(out)]
    )
    assert res.exit_code == 1 and "--resume" in res.output
    assert out.read_text() == '{"x": 1}\n'  # nothing lost


@pytest.mark.unit
def test_self_reflections_the_voice_judge_finds_plain_are_dropped() -> None:
    from character.constitution import resolve_constitution
    from character.eval.voice_judge import EmbeddingVoiceJudge
    from character.introspection.filters import FilterReport
    from character.introspection.generate import generate_reflections

    pirate = resolve_constitution("pirate")
    replies = [
        "Arr, matey! I be Captain Calico, and the sea be me home. Fair winds to ye, me hearty!",
        "To boil an egg, put it in boiling water for nine minutes, then cool it in cold water.",
    ]
    backend = ScriptedBackend(lambda conv, call: replies[len(conv[-1]["content"]) % 2])
    prompts = ["Who are you?", "Who are you really?"]
    report = FilterReport()
    rows = generate_reflections(
        backend,
        pirate,
        total=2,
        params=SamplingParams(max_new_tokens=64),
        prompts=prompts,
        report=report,
        voice_judge=EmbeddingVoiceJudge(pirate),
    )
    assert len(rows) == 1 and rows[0].answer.startswith("Arr")
    assert report.kept == 1 and report.dropped["off_voice"] == 1 and report.total == 2


@pytest.mark.unit
def test_configs_live_apart_from_the_actions_and_are_re_exported() -> None:
    """The stage's configs are in `introspection.configs` (no generation or training code, no
    torch); `introspection.pipeline` re-exports the same classes for old imports."""
    code = (
        "import sys\n"
        "import character.introspection.configs as c\n"
        "assert 'torch' not in sys.modules and 'character.introspection.generate' not in "
        "sys.modules\n"
        "import character.introspection.pipeline as p\n"
        "assert p.SftTrainingConfig is c.SftTrainingConfig\n"
        "assert p.IntrospectionGenerationConfig is c.IntrospectionGenerationConfig\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
