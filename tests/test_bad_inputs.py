"""A corpus of bad inputs through the library and CLI entry points: every one must end in a
clear error (a project error type, a config validation error that names the field, or a CLI
exit with one `Error:` line, never a raw traceback), and no file that existed before may be
changed or lost. No model is loaded. The last test prints how many cases were tried.

Run alone for the count: `pytest tests/test_bad_inputs.py -q -s`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

pytestmark = pytest.mark.unit

Act = Callable[[], Any]


@dataclass
class Outcome:
    clear: bool
    kept: bool
    detail: str


RESULTS: dict[str, Outcome] = {}


def _clear_types() -> tuple[type[BaseException], ...]:
    from character.constitution import ConstitutionError
    from character.eval.persona_classifier import ClassifierError
    from character.export.serve import ServeError
    from character.io import DataFileError, DiskFullError
    from character.jobs.errors import JobConfigError, JobError
    from character.jobs.store import RunNotFoundError
    from character.sources.transcripts import TranscriptError

    return (
        ConstitutionError,
        ClassifierError,
        ServeError,
        DataFileError,
        DiskFullError,
        JobConfigError,
        JobError,
        RunNotFoundError,
        TranscriptError,
        ValidationError,  # a typed config: names the field and the rule
    )


def _cli(*args: str) -> Act:
    def run() -> Any:
        from typer.testing import CliRunner

        from character.cli import _register_subcommands, app

        _register_subcommands()
        return CliRunner().invoke(app, list(args))

    return run


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix not in (".lock", ".db")
    }


def _judge(act: Act, expect: str) -> tuple[bool, str]:
    """Clear: a project error (or a config validation error) whose message holds `expect`, or
    a CLI run that exited non-zero with a message holding it and no traceback."""

    try:
        out = act()
    except _clear_types() as exc:
        text = str(exc)
        return expect.lower() in text.lower(), f"{type(exc).__name__}: {text[:300]}"
    except Exception as exc:  # noqa: BLE001 - the point: anything else is not clear
        return False, f"raw {type(exc).__name__}: {str(exc)[:300]}"
    if hasattr(out, "exit_code") and hasattr(out, "output"):
        text = out.output
        ok = (
            out.exit_code not in (0, None)
            and (out.exception is None or isinstance(out.exception, SystemExit))
            and "Traceback" not in text
            and expect.lower() in text.lower()
        )
        return ok, f"exit {out.exit_code}: {text.strip()[-300:]}"
    return False, f"no error at all, returned {out!r}"[:300]


# ---------------------------------------------------------------------------------------------
# The cases: each sets up its files under `tmp` and returns (act, text the error must contain).


def _jsonl(tmp: Path, name: str, raw: bytes) -> Path:
    path = tmp / name
    path.write_bytes(raw)
    return path


def jsonl_bad_json(tmp: Path) -> tuple[Act, str]:
    from character.io import read_jsonl

    p = _jsonl(tmp, "a.jsonl", b'{"a": 1}\n{"b": \n{"c": 3}\n')
    return lambda: read_jsonl(p), "a.jsonl:2"


def jsonl_not_object(tmp: Path) -> tuple[Act, str]:
    from character.io import read_jsonl

    p = _jsonl(tmp, "a.jsonl", b'{"a": 1}\n[1, 2]\n')
    return lambda: read_jsonl(p), "expected a JSON object"


def jsonl_bad_utf8(tmp: Path) -> tuple[Act, str]:
    from character.io import read_jsonl

    p = _jsonl(tmp, "a.jsonl", b'{"a": "\xff\xfe"}\n')
    return lambda: read_jsonl(p), "not valid UTF-8"


def jsonl_missing(tmp: Path) -> tuple[Act, str]:
    from character.io import read_jsonl

    return lambda: read_jsonl(tmp / "nope.jsonl"), "does not exist"


def jsonl_torn_middle(tmp: Path) -> tuple[Act, str]:
    from character.io import read_jsonl

    p = _jsonl(tmp, "a.jsonl", b'{"a": 1}\n{"b": 2, "tr\n{"c": 3}\n')
    return lambda: read_jsonl(p), ":2"


def jsonl_scalar_row(tmp: Path) -> tuple[Act, str]:
    from character.io import read_jsonl

    p = _jsonl(tmp, "a.jsonl", b'"just a string"\n')
    return lambda: read_jsonl(p), "got str"


def pairs_missing_field(tmp: Path) -> tuple[Act, str]:
    from character.distillation.dataset import load_examples

    p = _jsonl(tmp, "p.jsonl", json.dumps({"prompt": "q", "chosen": "a"}).encode() + b"\n")
    return lambda: load_examples(p), "rejected"


def pairs_empty_chosen(tmp: Path) -> tuple[Act, str]:
    from character.distillation.dataset import load_examples

    row = {"prompt": "q", "chosen": "  ", "rejected": "b"}
    p = _jsonl(tmp, "p.jsonl", json.dumps(row).encode() + b"\n")
    return lambda: load_examples(p), "chosen"


def pairs_wrong_type(tmp: Path) -> tuple[Act, str]:
    from character.distillation.dataset import load_examples

    row = {"prompt": "q", "chosen": "a", "rejected": "b", "teacher_model": 5}
    row |= {"student_model": "s", "constitution": "pirate"}
    p = _jsonl(tmp, "p.jsonl", json.dumps(row).encode() + b"\n")
    return lambda: load_examples(p), "teacher_model"


def labeled_texts_bad_line(tmp: Path) -> tuple[Act, str]:
    from character.eval.persona_classifier import load_labeled_texts

    p = _jsonl(tmp, "t.jsonl", b'{"text": "a", "label": "x"}\n{oops}\n')
    return lambda: load_labeled_texts(p), "t.jsonl:2"


# --- constitutions


def _const(text: str, fmt: str) -> Act:
    from character.constitution import parse_constitution_text

    return lambda: parse_constitution_text(text, fmt, source=f"c.{fmt}")


def const_bad_json(tmp: Path) -> tuple[Act, str]:
    return _const('{"name": "x", "traits": [', "json"), "JSON syntax error at line 1"


def const_bad_yaml(tmp: Path) -> tuple[Act, str]:
    return _const("name: x\ntraits: [a\n  b: c", "yaml"), "YAML syntax error"


def const_empty(tmp: Path) -> tuple[Act, str]:
    return _const("", "yaml"), "empty"


def const_scalar(tmp: Path) -> tuple[Act, str]:
    return _const("42", "json"), "expected an object"


def const_unknown_format(tmp: Path) -> tuple[Act, str]:
    return _const("{}", "toml"), "unknown format"


def const_trait_not_text(tmp: Path) -> tuple[Act, str]:
    return _const('{"name": "x", "traits": [{"trait": 5}]}', "json"), "traits.0"


def const_bad_name(tmp: Path) -> tuple[Act, str]:
    return _const('{"name": "../../etc/passwd", "traits": []}', "json"), "name"


def const_missing_file(tmp: Path) -> tuple[Act, str]:
    from character.constitution import load_constitution

    return lambda: load_constitution(tmp / "nope.json"), "does not exist"


def const_not_utf8(tmp: Path) -> tuple[Act, str]:
    from character.constitution import load_constitution

    p = _jsonl(tmp, "c.json", '{"name": "caf\u00e9"}'.encode("utf-16"))
    return lambda: load_constitution(p), "not valid UTF-8"


def const_unknown_persona(tmp: Path) -> tuple[Act, str]:
    from character.constitution import resolve_constitution

    return lambda: resolve_constitution("no-such-persona-anywhere"), "no-such-persona-anywhere"


def const_cli_validate(tmp: Path) -> tuple[Act, str]:
    p = _jsonl(tmp, "bad.yaml", b"name: [unclosed\n")
    return _cli("constitution", "validate", str(p)), "bad.yaml"


# --- job configs and runs


def _job(tmp: Path, text: str) -> Path:
    p = tmp / "job.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _submit(path: Path) -> Act:
    from character.jobs import submit

    return lambda: submit(path, start=False)


def job_bad_yaml(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: demo.count\nconfig: {n: [\n")), "line"


def job_unknown_kind(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: no.such.kind\nconfig: {}\n")), "no.such.kind"


def job_not_mapping(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "- kind\n- config\n")), "expected a mapping"


def job_missing_file(tmp: Path) -> tuple[Act, str]:
    return _submit(tmp / "nope.yaml"), "does not exist"


def job_wrong_type(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: demo.count\nconfig: {n: lots}\n")), "config.n"


def job_negative(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: demo.count\nconfig: {n: -1}\n")), "config.n"


def job_extra_field(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: demo.count\nconfig: {n: 2, typo_field: 1}\n")), "typo_field"


def job_inf_sleep(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: demo.count\nconfig: {sleep_s: .inf}\n")), "sleep_s"


def job_nan_sleep(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: demo.count\nconfig: {sleep_s: .nan}\n")), "sleep_s"


def job_output_traversal(tmp: Path) -> tuple[Act, str]:
    return _submit(_job(tmp, "kind: demo.count\nconfig: {output: ../../x.jsonl}\n")), "output"


def job_cli_submit_bad(tmp: Path) -> tuple[Act, str]:
    return _cli("jobs", "submit", str(_job(tmp, "kind: demo.count\nconfig: {n: x}\n"))), "n"


def run_unknown(tmp: Path) -> tuple[Act, str]:
    from character.jobs import get_run

    return lambda: get_run("no-such-run"), "no-such-run"


def run_traversal(tmp: Path) -> tuple[Act, str]:
    from character.jobs import get_run

    return lambda: get_run("../../etc"), "../../etc"


def run_cli_show_unknown(tmp: Path) -> tuple[Act, str]:
    return _cli("jobs", "show", "no-such-run"), "no-such-run"


def run_cli_resume_unknown(tmp: Path) -> tuple[Act, str]:
    return _cli("jobs", "resume", "no-such-run"), "no-such-run"


def run_resume_succeeded(tmp: Path) -> tuple[Act, str]:
    from character.jobs import resume, run_foreground

    st = run_foreground({"kind": "demo.count", "config": {"n": 2, "sleep_s": 0}})
    return lambda: resume(st.run_id, start=False), "succeeded"


# --- generation config (validated before any model is loaded)


def _gen(**kw: Any) -> Act:
    from character.distillation.generate import GenerationConfig

    return lambda: GenerationConfig(persona="pirate", **kw)


def gen_nan_temperature(tmp: Path) -> tuple[Act, str]:
    return _gen(temperature=float("nan")), "temperature"


def gen_inf_temperature(tmp: Path) -> tuple[Act, str]:
    return _gen(temperature=float("inf")), "temperature"


def gen_zero_pairs(tmp: Path) -> tuple[Act, str]:
    return _gen(pair_count=0), "pair_count"


def gen_top_p(tmp: Path) -> tuple[Act, str]:
    return _gen(top_p=1.5), "top_p"


def gen_unknown_field(tmp: Path) -> tuple[Act, str]:
    return _gen(temprature=0.5), "temprature"


def gen_existing_output(tmp: Path) -> tuple[Act, str]:
    out = _jsonl(tmp, "pairs.jsonl", b'{"keep": "me"}\n')
    return _cli("distill", "generate", "--persona", "pirate", "--output", str(out)), "--resume"


def gen_unknown_persona(tmp: Path) -> tuple[Act, str]:
    return _cli("distill", "generate", "--persona", "nobody-at-all"), "nobody-at-all"


# --- serve


def serve_negative_port(tmp: Path) -> tuple[Act, str]:
    from character.export.serve import ServeConfig

    return lambda: ServeConfig(port=-1), "out of range"


def serve_huge_port(tmp: Path) -> tuple[Act, str]:
    from character.export.serve import ServeConfig

    return lambda: ServeConfig(port=70000), "out of range"


def serve_taken_port(tmp: Path) -> tuple[Act, str]:
    from character.export.serve import check_port_free

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]

    def act() -> Any:
        try:
            return check_port_free("127.0.0.1", port)
        finally:
            sock.close()

    return act, f"port {port}"


def serve_cli_negative_port(tmp: Path) -> tuple[Act, str]:
    return _cli("serve", "--port", "-1"), "out of range"


def serve_cli_taken_port(tmp: Path) -> tuple[Act, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    run = _cli("serve", "some-model", "--port", str(port))

    def act() -> Any:
        try:
            return run()
        finally:
            sock.close()

    return act, "already in use"


def serve_cli_public_host(tmp: Path) -> tuple[Act, str]:
    return _cli("serve", "--host", "0.0.0.0", "--port", "0"), "loopback only"


# --- transcripts and uploads


def _upload(name: str, data: bytes, folder: str = "play") -> Act:
    from character.sources.transcripts import save_uploaded_transcripts

    return lambda: save_uploaded_transcripts(folder, [(name, data)])


def upload_nul_name(tmp: Path) -> tuple[Act, str]:
    return _upload("evil\x00.txt", b"A: hi\n"), "control characters"


def upload_newline_name(tmp: Path) -> tuple[Act, str]:
    return _upload("two\nlines.txt", b"A: hi\n"), "control characters"


def upload_folder_traversal(tmp: Path) -> tuple[Act, str]:
    return _upload("a.txt", b"A: hi\n", folder="../escape"), "folder name"


def upload_wrong_extension(tmp: Path) -> tuple[Act, str]:
    return _upload("run.py", b"print(1)\n"), "only .txt"


def upload_hidden_name(tmp: Path) -> tuple[Act, str]:
    return _upload(".bashrc.txt", b"A: hi\n"), "only .txt"


def upload_binary(tmp: Path) -> tuple[Act, str]:
    return _upload("noise.txt", bytes(range(256)) * 8), "save it as UTF-8"


def upload_korean_legacy(tmp: Path) -> tuple[Act, str]:
    return _upload("ko.txt", "햄릿: 사느냐 죽느냐\n".encode("euc_kr")), "save it as UTF-8"


def upload_bad_bom(tmp: Path) -> tuple[Act, str]:
    return _upload("bom.txt", b"\xef\xbb\xbfA: \xff\xfe\n"), "byte-order mark"


def upload_existing_folder(tmp: Path) -> tuple[Act, str]:
    from character.sources.transcripts import save_uploaded_transcripts

    save_uploaded_transcripts("kept", [("a.txt", b"A: first\n")])
    return _upload("a.txt", b"A: second\n", folder="kept"), "already exists"


def transcripts_missing_folder(tmp: Path) -> tuple[Act, str]:
    from character.sources.transcripts import TranscriptImportConfig, load_transcripts

    cfg = TranscriptImportConfig(data_folder=tmp / "nope")
    return lambda: load_transcripts(cfg), "is not a folder"


def transcripts_no_files(tmp: Path) -> tuple[Act, str]:
    from character.sources.transcripts import TranscriptImportConfig, load_transcripts

    (tmp / "empty").mkdir()
    cfg = TranscriptImportConfig(data_folder=tmp / "empty")
    return lambda: load_transcripts(cfg), "no files"


def transcripts_not_screenplay(tmp: Path) -> tuple[Act, str]:
    from character.sources.transcripts import TranscriptImportConfig, load_transcripts

    (tmp / "t").mkdir()
    (tmp / "t" / "essay.txt").write_text("just prose.\nmore prose.\nand more.\n")
    cfg = TranscriptImportConfig(data_folder=tmp / "t", format="raw")
    return lambda: load_transcripts(cfg), "does not look like a screenplay"


def transcripts_binary_file(tmp: Path) -> tuple[Act, str]:
    from character.sources.transcripts import TranscriptImportConfig, load_transcripts

    (tmp / "t").mkdir()
    (tmp / "t" / "x.txt").write_bytes(bytes(range(256)))
    cfg = TranscriptImportConfig(data_folder=tmp / "t", format="raw")
    return lambda: load_transcripts(cfg), "x.txt"


def transcripts_nan_share(tmp: Path) -> tuple[Act, str]:
    from character.sources.transcripts import TranscriptImportConfig

    return lambda: TranscriptImportConfig(min_parsed_share=float("nan")), "min_parsed_share"


# --- classifier


def _classifier(**kw: Any) -> Act:
    from character.eval.persona_classifier import ClassifierConfig, train_classifier

    return lambda: train_classifier(ClassifierConfig(**kw))


def clf_one_class(tmp: Path) -> tuple[Act, str]:
    rows = b"".join(json.dumps({"text": f"t{i}", "label": "x"}).encode() + b"\n" for i in range(4))
    return _classifier(train_path=_jsonl(tmp, "one.jsonl", rows), method="tfidf"), "2 classes"


def clf_missing_file(tmp: Path) -> tuple[Act, str]:
    return _classifier(train_path=tmp / "nope.jsonl", method="tfidf"), "does not exist"


def clf_transformer_unknown(tmp: Path) -> tuple[Act, str]:
    rows = b"".join(
        json.dumps({"text": f"t{i}", "label": "xy"[i % 2]}).encode() + b"\n" for i in range(8)
    )
    p = _jsonl(tmp, "two.jsonl", rows)
    return _classifier(train_path=p, method="transformer", model_name="no/such"), "not available"


def clf_inf_c(tmp: Path) -> tuple[Act, str]:
    from character.eval.persona_classifier import ClassifierConfig

    return lambda: ClassifierConfig(train_path=tmp / "x.jsonl", C=float("inf")), "C"


def clf_test_size(tmp: Path) -> tuple[Act, str]:
    from character.eval.persona_classifier import ClassifierConfig

    return lambda: ClassifierConfig(train_path=tmp / "x.jsonl", test_size=1.5), "test_size"


def clf_cli_missing(tmp: Path) -> tuple[Act, str]:
    return _cli("eval", "classifier", "--train", str(tmp / "nope.jsonl")), "does not exist"


CASES: dict[str, Callable[[Path], tuple[Act, str]]] = {
    f.__name__: f
    for f in [
        jsonl_bad_json,
        jsonl_not_object,
        jsonl_bad_utf8,
        jsonl_missing,
        jsonl_torn_middle,
        jsonl_scalar_row,
        pairs_missing_field,
        pairs_empty_chosen,
        pairs_wrong_type,
        labeled_texts_bad_line,
        const_bad_json,
        const_bad_yaml,
        const_empty,
        const_scalar,
        const_unknown_format,
        const_trait_not_text,
        const_bad_name,
        const_missing_file,
        const_not_utf8,
        const_unknown_persona,
        const_cli_validate,
        job_bad_yaml,
        job_unknown_kind,
        job_not_mapping,
        job_missing_file,
        job_wrong_type,
        job_negative,
        job_extra_field,
        job_inf_sleep,
        job_nan_sleep,
        job_output_traversal,
        job_cli_submit_bad,
        run_unknown,
        run_traversal,
        run_cli_show_unknown,
        run_cli_resume_unknown,
        run_resume_succeeded,
        gen_nan_temperature,
        gen_inf_temperature,
        gen_zero_pairs,
        gen_top_p,
        gen_unknown_field,
        gen_existing_output,
        gen_unknown_persona,
        serve_negative_port,
        serve_huge_port,
        serve_taken_port,
        serve_cli_negative_port,
        serve_cli_taken_port,
        serve_cli_public_host,
        upload_nul_name,
        upload_newline_name,
        upload_folder_traversal,
        upload_wrong_extension,
        upload_hidden_name,
        upload_binary,
        upload_korean_legacy,
        upload_bad_bom,
        upload_existing_folder,
        transcripts_missing_folder,
        transcripts_no_files,
        transcripts_not_screenplay,
        transcripts_binary_file,
        transcripts_nan_share,
        clf_one_class,
        clf_missing_file,
        clf_transformer_unknown,
        clf_inf_c,
        clf_test_size,
        clf_cli_missing,
    ]
}


def run_case(name: str, tmp: Path) -> Outcome:
    act, expect = CASES[name](tmp)
    before = _snapshot(tmp)
    clear, detail = _judge(act, expect)
    after = _snapshot(tmp)
    lost = [p for p, data in before.items() if after.get(p) != data]
    return Outcome(
        clear=clear, kept=not lost, detail=detail + (f"; changed: {lost}" if lost else "")
    )


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_a_clear_error_and_loses_nothing(name: str, tmp_path: Path) -> None:
    outcome = run_case(name, tmp_path)
    RESULTS[name] = outcome
    assert outcome.clear, outcome.detail
    assert outcome.kept, outcome.detail


def test_bad_input_count(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this file: the count of cases tried above (all of them when selected)."""
    tried = len(RESULTS)
    clear = sum(o.clear and o.kept for o in RESULTS.values())
    with capsys.disabled():
        print(
            f"\nbad-input cases tried: {tried}; clear error and no data lost: {clear}; "
            f"kinds: {len({n.split('_')[0] for n in RESULTS})} entry-point groups"
        )
    assert clear == tried
