"""The ``report`` command's edges: exit codes and messages for what it refuses (the ``batch``
command runs end to end in test_batch.py)."""

from __future__ import annotations

import json
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
