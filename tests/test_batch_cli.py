"""The ``report`` command's edges, and the ``batch`` command's: exit codes and messages for what
they refuse, option help (the ``batch`` command runs end to end in test_batch.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from complaint_triage.cli import app

runner = CliRunner()

ROWS = [
    {"id": "R6-00001", "text": "ゴミが3回も回収されていません。至急対応してください。", "verdict": "complaint",
     "review": False, "model_version": "m-test"},
    {"id": "R6-00002", "text": "図書館の開館時間を教えてください。", "verdict": "inquiry", "review": False,
     "model_version": "m-test"},
]


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _scored(path: Path) -> Path:
    return _jsonl(path, [json.dumps(r, ensure_ascii=False) for r in ROWS])


def _stderr(r) -> str:
    return " ".join(r.stderr.split())  # (rich wraps long messages)


def _invoke(*args: str | Path):
    return runner.invoke(app, ["report", *map(str, args)])


def test_report_writes_html(tmp_path):
    out = tmp_path / "report.html"
    r = _invoke(_scored(tmp_path / "arch.out.jsonl"), "-o", out)
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") and "2 records" in _stderr(r)


@pytest.mark.parametrize("ext", [".jsonl", ".csv", ".parquet"])
def test_report_onto_its_own_input_exits_2_and_keeps_it(tmp_path, ext):
    scored = tmp_path / f"arch.out{ext}"
    content = {".jsonl": _scored(tmp_path / "x.jsonl").read_bytes(),
               ".csv": "id,text,verdict\r\nR6-00001,ゴミが回収されていません。,complaint\r\n".encode("utf-8-sig"),
               ".parquet": b"PAR1"}  # (refused before anything is read)
    scored.write_bytes(content[ext])
    before = scored.read_bytes()
    r = _invoke(scored, "-o", scored)
    assert r.exit_code == 2, r.output
    assert "is the scored file" in _stderr(r) and "Traceback" not in r.output
    assert scored.read_bytes() == before
    assert not list(tmp_path.glob("*.partial"))


def test_report_into_a_folder_exits_2_and_leaves_no_partial(tmp_path):
    (tmp_path / "adir").mkdir()
    r = _invoke(_scored(tmp_path / "scored.jsonl"), "-o", tmp_path / "adir")
    assert r.exit_code == 2, r.output
    assert "is a folder" in _stderr(r) and "Errno" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "scored.jsonl"]


@pytest.mark.parametrize(("name", "lines", "says"), [
    ("notobj.jsonl", [json.dumps(ROWS[0], ensure_ascii=False), '["ゴミが回収されていません", "complaint"]'],
     "line 2 is valid JSON but a list, not an object"),
    ("str.jsonl", ['"粗大ごみの出し方を教えてください"'], "line 1 is valid JSON but a str, not an object"),
    ("empty.csv", [], "holds no records"),
    ("header.csv", ["id,text,verdict,review"], "holds no records"),
    ("raw.csv", ["受付番号,内容", "1,ゴミが回収されていません。"], "has no verdict column"),
    ("pic.png", ["\x89PNG"], "cannot tell the format of the scored file"),
])
def test_report_refuses_bad_input_with_exit_2(tmp_path, name, lines, says):
    src = _jsonl(tmp_path / name, lines) if lines else tmp_path / name
    src.touch()
    out = tmp_path / "report.html"
    r = _invoke(src, "-o", out)
    assert r.exit_code == 2, r.output
    assert says in _stderr(r) and "output format" not in _stderr(r) and "Traceback" not in r.output
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(("name", "content", "what"), [
    ("archive.xlsx", b"PK\x03\x04 not really a workbook", ".xlsx workbook"),
    ("archive.xlsx", "受付日,本文\n".encode(), ".xlsx workbook"),  # a CSV given an .xlsx name
    ("archive.parquet", b"PAR1 truncated", "Parquet"),
])
def test_batch_refuses_a_damaged_workbook_or_parquet_input(tmp_path, name, content, what):
    """A damaged or misnamed .xlsx or Parquet input stopped `batch` with a zipfile/pyarrow traceback."""
    src = tmp_path / name
    src.write_bytes(content)
    r = runner.invoke(app, ["batch", str(src), "-o", str(tmp_path / "out.jsonl"), "--quiet"])
    assert r.exit_code == 2, r.output
    assert f"cannot be read as {'an ' if what.startswith('.') else ''}{what}" in _stderr(r)
    assert r.exception is None or isinstance(r.exception, SystemExit)


def _batch(*args: str | Path):
    return runner.invoke(app, ["batch", *map(str, args)])


def _csv(path: Path) -> Path:
    path.write_text("id,sender,text\n" + "".join(f"{r['id']},u{i}@example.jp,{r['text']}\n"
                                                   for i, r in enumerate(ROWS)), encoding="utf-8")
    return path


def test_batch_onto_an_output_another_run_is_writing_exits_1_naming_it(tmp_path, small_model_dir):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "scored.csv"
    with open(tmp_path / "scored.csv.lock", "w", encoding="ascii") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = _batch(_csv(tmp_path / "in.csv"), "-o", out, "--model", small_model_dir, "--jobs", "1", "--quiet")
    assert r.exit_code == 1, r.output
    assert "another batch run is writing" in _stderr(r) and "Traceback" not in r.output
    assert str(out) in "".join(r.stderr.split())  # (rich may fold a long path)
    assert not out.exists()


@pytest.mark.parametrize(("args", "says"), [
    (["--sender-summary", "{out}"], "is the output of this run"),
    (["--sender-summary", "{dir}/summary.txt"], "cannot tell the output format"),
])
def test_batch_refuses_a_sender_summary_that_would_replace_the_output_with_exit_2(tmp_path, small_model_dir, args,
                                                                                   says):
    out = tmp_path / "scored.csv"
    extra = [a.format(out=out, dir=tmp_path) for a in args]
    r = _batch(_csv(tmp_path / "in.csv"), "-o", out, "--sender-column", "sender", *extra, "--model",
               small_model_dir, "--jobs", "1", "--quiet")
    assert r.exit_code == 2, r.output
    assert says in _stderr(r) and not out.exists() and not (tmp_path / "scored.csv.parts").exists()


def test_batch_refuses_a_scheduler_that_is_not_an_address_with_exit_2(tmp_path, small_model_dir):
    pytest.importorskip("distributed")
    r = _batch(_csv(tmp_path / "in.csv"), "-o", tmp_path / "o.csv", "--engine", "dask", "--scheduler", "notanaddress",
               "--model", small_model_dir, "--quiet")
    assert r.exit_code == 2, r.output
    assert "is not a Dask scheduler address" in _stderr(r) and "tcp://HOST:8786" in _stderr(r)
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_batch_refuses_a_scheduler_without_the_dask_engine_with_exit_2(tmp_path, small_model_dir):
    r = _batch(_csv(tmp_path / "in.csv"), "-o", tmp_path / "o.csv", "--scheduler", "tcp://127.0.0.1:8786",
               "--model", small_model_dir, "--quiet")
    assert r.exit_code == 2, r.output
    assert "add --engine dask" in _stderr(r) and not (tmp_path / "o.csv").exists()


def test_batch_help_says_the_raw_sender_column_is_kept_unless_masked():
    """--keep-sender-ids' help ("instead of keyed-hash pseudonyms") implied raw senders were not kept."""
    import typer

    params = {p.name: p for p in typer.main.get_command(app).commands["batch"].params}
    assert "keeps every input column, this raw column included" in params["sender_column"].help
    assert "mask_sender_column" in params and "sender_id" in params["mask_sender_column"].help
    assert "canonical sender ids" in params["keep_sender_ids"].help
    assert "scheduler_timeout" in params


# -- acceptance findings (session 23): messages ------------------------------------------------------


def test_batch_names_a_workbook_read_as_csv_and_a_damaged_parquet_aright(tmp_path):
    """--format csv on an .xlsx said it "does not read as CP932"; a damaged Parquet file got the
    hint to save a workbook again from Excel."""
    pytest.importorskip("openpyxl")
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["id", "text"])
    wb.active.append([1, "図書館の開館時間を教えてください。"])
    book = tmp_path / "受付簿.xlsx"
    wb.save(book)
    r = _batch(book, "--format", "csv", "-o", tmp_path / "out.jsonl")
    assert r.exit_code == 2 and "looks like an Excel workbook" in _stderr(r) and "--format xlsx" in _stderr(r)
    assert "CP932" not in r.stderr
    r = runner.invoke(app, ["score", str(book), "--format", "csv"])
    assert r.exit_code == 2 and "looks like an Excel workbook" in _stderr(r) and "batch" in _stderr(r)
    bad = tmp_path / "cut.parquet"
    bad.write_bytes(b"PAR1" + b"\0" * 100)
    r = _batch(bad, "-o", tmp_path / "out.jsonl")
    assert r.exit_code == 2 and "whole Parquet file" in _stderr(r) and "Excel" not in r.stderr


def test_batch_quiet_hides_the_progress_not_the_data_warnings(tmp_path, small_model_dir):
    src = tmp_path / "in.csv"
    src.write_text("id,備考,備考,text\n1,a,b,図書館の開館時間を教えてください。\n", encoding="utf-8")
    r = _batch(src, "-o", tmp_path / "out.jsonl", "--model", small_model_dir, "--jobs", "1", "--quiet")
    assert r.exit_code == 0, r.output
    assert "in.csv: columns renamed to keep them apart: '備考' → '備考.1'" in _stderr(r) and "warning:" in r.stderr


def test_batch_says_when_it_replaced_an_existing_output(tmp_path, small_model_dir):
    out, senders = tmp_path / "out.csv", tmp_path / "out.senders.csv"
    args = (_csv(tmp_path / "in.csv"), "-o", out, "--sender-column", "sender", "--model", small_model_dir,
            "--jobs", "1", "--quiet")
    r = _batch(*args)
    assert r.exit_code == 0 and "replaced" not in r.stderr, r.output
    r = _batch(*args)
    assert r.exit_code == 0, r.output
    assert f"warning: {out} existed and was replaced" in _stderr(r)
    assert f"warning: {senders} existed and was replaced" in _stderr(r)


@pytest.mark.parametrize("folder", ["[old]", "[/tmp]", "鍵[bold]"])
def test_report_prints_a_key_path_with_brackets_as_it_is(tmp_path, monkeypatch, folder):
    monkeypatch.delenv("COMPLAINT_TRIAGE_SENDER_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / folder))
    rows = [dict(r, sender="a@example.jp") for r in ROWS]
    scored = _jsonl(tmp_path / "scored.jsonl", [json.dumps(r, ensure_ascii=False) for r in rows])
    r = _invoke(scored, "-o", tmp_path / "r.html")
    assert r.exit_code == 0, r.output
    key = tmp_path / folder / "complaint-triage" / "sender.key"
    assert key.is_file()
    assert f"warning: generated a new sender key in {key}" in _stderr(r)


@pytest.mark.parametrize("folder", ["[old]", "[/tmp]"])
def test_report_error_names_a_key_path_with_brackets_as_it_is(tmp_path, folder):
    key = tmp_path / folder / "sender.key"
    rows = [dict(r, sender="a@example.jp") for r in ROWS]
    scored = _jsonl(tmp_path / "scored.jsonl", [json.dumps(r, ensure_ascii=False) for r in rows])
    r = _invoke(scored, "-o", tmp_path / "r.html", "--sender-key-file", key)
    assert r.exit_code == 2, r.output
    assert f"error: no sender key file {key}" in _stderr(r)


# -- acceptance 5b: refusals with exit 2 --------------------------------------------------------------


def _batch_process(args: list[str], **kw) -> subprocess.CompletedProcess[str]:
    """``python -m complaint_triage.batch_cli batch ARGS`` in a process of its own (a pipe that blocked
    the run would block the test process too), stopped after 60 s."""
    return subprocess.run([sys.executable, "-m", "complaint_triage.batch_cli", "batch", *args, "--quiet"],
                          capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_batch_refuses_a_named_pipe_at_once_with_exit_2(tmp_path, small_model_dir):
    """Finding 4: a named pipe hung for ever (the run opens each input more than once)."""
    fifo = tmp_path / "受付.csv"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat > '{fifo}'"], stdin=subprocess.PIPE)  # (a writer, as a shell has)
    try:
        writer.stdin.write("id,text\n1,図書館の開館時間を教えてください。\n".encode())
        writer.stdin.close()
        r = _batch_process([str(fifo), "-o", str(tmp_path / "out.csv"), "--model", str(small_model_dir)])
    finally:
        writer.kill()
        writer.wait()
    assert r.returncode == 2, r.stderr
    assert f"the input {fifo} is a pipe" in " ".join(r.stderr.split()) and "save the data to a file" in r.stderr
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="process substitution reads /dev/fd/N")
def test_batch_refuses_a_process_substitution_with_exit_2(tmp_path, small_model_dir):
    """Finding 4: batch <(cat small.csv) failed with exit 1 and "File or stream is not seekable", naming
    neither the input nor the fix."""
    read, write = os.pipe()
    os.write(write, "id,text\n1,図書館の開館時間を教えてください。\n".encode())
    os.close(write)
    try:
        r = _batch_process([f"/dev/fd/{read}", "-o", str(tmp_path / "out.csv"), "--format", "csv", "--model",
                            str(small_model_dir)], pass_fds=(read,))
    finally:
        os.close(read)
    assert r.returncode == 2, r.stderr
    assert f"/dev/fd/{read} is a pipe" in r.stderr and "Traceback" not in r.stderr


def test_batch_refuses_a_sender_summary_without_a_sender_column_with_exit_2(tmp_path, small_model_dir):
    """Finding 5: the summary asked for was silently not written (exit 0)."""
    out = tmp_path / "scored.csv"
    r = _batch(_csv(tmp_path / "in.csv"), "-o", out, "--sender-summary", tmp_path / "senders.csv", "--model",
               small_model_dir, "--jobs", "1", "--quiet")
    assert r.exit_code == 2, r.output
    assert "--sender-summary needs --sender-column" in _stderr(r) and "mail inputs: their From" in _stderr(r)
    assert not out.exists() and not (tmp_path / "senders.csv").exists()
    import typer

    params = {p.name: p for p in typer.main.get_command(app).commands["batch"].params}
    assert "needs --sender-column (mail inputs: their From)" in params["sender_summary"].help


@pytest.mark.parametrize(("name", "content", "says"), [
    ("受付.csv", "id,text\n1,ゴミが回収されていません。\n".encode(),
     "is not JSONL: none of its 2 lines is a JSON object"),
    ("scored.parquet", b"PAR1" + b"\0" * 32, "is not JSONL text: it looks like a Parquet file"),
])
def test_batch_refuses_format_jsonl_for_another_format_with_exit_2(tmp_path, small_model_dir, name, content, says):
    """Finding 9: --format jsonl on a CSV or a Parquet file wrote only error rows and exited 0."""
    src = tmp_path / name
    src.write_bytes(content)
    r = _batch(src, "-o", tmp_path / "out.jsonl", "--format", "jsonl", "--model", small_model_dir, "--quiet")
    assert r.exit_code == 2, r.output
    assert says in _stderr(r) and not (tmp_path / "out.jsonl").exists()


def test_batch_refuses_blocksize_for_a_quoted_line_break_with_exit_2(tmp_path, small_model_dir):
    """Finding 3: exit 1 as a cluster failure, with advice to --resume that could only fail again."""
    pytest.importorskip("distributed")
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"隣の工事の騒音がひどい。\n朝7時からです。"\n', encoding="utf-8")
    r = _batch(src, "-o", tmp_path / "out.jsonl", "--engine", "dask", "--blocksize", "64MB", "--model",
               small_model_dir, "--quiet")
    assert r.exit_code == 2, r.output
    assert "holds a line break inside a quoted field" in _stderr(r) and "drop --blocksize" in _stderr(r)
    assert "--resume" not in r.stderr
