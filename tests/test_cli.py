import json
import os
import re
import socket
import threading

import pytest
from typer.testing import CliRunner

from complaint_triage.cli import app
from complaint_triage.labels import VERDICTS

runner = CliRunner()
CONTRACT = {"verdict", "categories", "grievance", "scores", "evidence", "action", "review", "model_version"}


def _lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("complaint-triage ")


def test_score_jsonl_contract(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in [
            {"id": "a", "text": "ゴミが3回も回収されていません。至急対応してください。", "channel": "email"},
            {"id": "b", "text": "お前みたいな無能はクビにしろ、死ね。殺すぞ"},
            {"id": "c", "text": "図書館の開館時間を教えてください。"},
        ]) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = _lines(out.read_text(encoding="utf-8"))
    assert [x["id"] for x in rows] == ["a", "b", "c"]
    assert rows[0]["channel"] == "email"  # other fields kept
    for row in rows:
        assert CONTRACT <= row.keys()
        assert row["verdict"] in ("harassment", "complaint", "inquiry")
        assert bool(row["categories"]) == (row["verdict"] == "harassment")
        assert set(row["scores"]) >= {"harassment", "complaint", "inquiry", "threat", "grievance"}
        for v in row["scores"].values():  # probabilities, given to 4 decimal places
            assert isinstance(v, float) and 0.0 <= v <= 1.0 and v == round(v, 4)
        for ev in row["evidence"]:
            assert row["text"][ev["start"] : ev["end"]] == ev["text"]
    from complaint_triage.labels import action_for

    assert rows[1]["verdict"] == "harassment" and rows[1]["action"] != "normal_reply"
    for row in rows:
        assert row["action"] == action_for(row["verdict"], row["categories"])
    assert rows[0]["grievance"] is True


def test_score_stdin_to_stdout(small_model_dir):
    r = runner.invoke(app, ["score", "-", "--model", str(small_model_dir)],
                      input='{"text": "住民票の写しはどこで取れますか"}\n')
    assert r.exit_code == 0
    assert _lines(r.stdout)[0]["verdict"] in ("inquiry", "complaint")


def test_score_csv(small_model_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "no,body\n1,道路に穴が空いています。直してください。\n2,\"改行を\n含む本文です\"\n", encoding="utf-8"
    )
    r = runner.invoke(app, ["score", str(src), "--text-column", "body", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = _lines(r.stdout)
    assert [x["no"] for x in rows] == ["1", "2"]
    assert all("verdict" in x for x in rows)


def test_csv_missing_column_fails_whole_run(small_model_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("no,body\n1,テスト\n", encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 2
    assert "no column 'text'" in r.stderr


def test_bad_records_yield_error_records(small_model_dir, tmp_path):
    src = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"id": 1, "text": ""}).encode(),
        json.dumps({"id": 2, "text": "   \n "}).encode(),
        json.dumps({"id": 3, "text": 42}).encode(),
        json.dumps({"id": 4, "text": None}).encode(),
        json.dumps({"id": 5, "text": "あ" * 1_000_000}, ensure_ascii=False).encode(),
        b'{"id": 6, "text": "\xff\xfe broken"}',
        b"{not json",
        b"[1, 2]",
        json.dumps({"id": 9}).encode(),
        json.dumps({"id": 10, "text": "公園の遊具が壊れています"}, ensure_ascii=False).encode(),
        b'{"id": 11, "text": "\\u8077\\u54e1\\ud800 broken escape"}',
    ]
    src.write_bytes(b"\n".join(lines) + b"\n")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0
    rows = _lines(r.stdout)
    assert len(rows) == len(lines)  # nothing silently dropped
    errors = [x.get("error", "") for x in rows]
    assert "empty" in errors[0] and "empty" in errors[1]
    assert "int" in errors[2] and "null" in errors[3]
    assert "over the limit" in errors[4]
    assert "UTF-8" in errors[5] and rows[5]["line"] == 6
    assert "not valid JSON" in errors[6]
    assert "JSON list" in errors[7]
    assert "no 'text' field" in errors[8]
    assert rows[9]["verdict"] in ("complaint", "inquiry")
    assert "surrogate" in errors[10]
    assert "error 10" in r.stderr


def _strict_json(line: str) -> dict:
    """One line as a strict reader (jq, serde_json) takes it: no lone surrogate, escaped or not."""
    assert not re.search(r"\\u[dD][89a-fA-F]", line)
    line.encode("utf-8")  # (raises on a raw lone surrogate)
    return json.loads(line)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # the text: an error record, its text written back with U+FFFD
        (rb'{"id": "s1", "text": "\ud83d \u6bba\u3059\u305e"}',
         {"text": "\ufffd 殺すぞ", "error": "text contains an unpaired surrogate (U+D83D) at character 0"}),
        (rb'{"id": "s2", "text": "\u6bba\u3059\u305e\ud83d\ude00\udc00"}', {"text": "殺すぞ😀\ufffd"}),
        # outside the text: the record is scored
        (rb'{"id": "s3", "text": "ok", "note": "\ud800"}', {"note": "\ufffd", "verdict": "inquiry"}),
        (rb'{"id": "s4", "text": "ok", "meta": {"tags": ["a\udc00", 1], "\udfff": true}}',
         {"meta": {"tags": ["a\ufffd", 1], "\ufffd": True}}),
        (rb'{"id": "s5", "text": "ok", "\ud800x": 1}', {"\ufffdx": 1}),
        # an error record for another reason keeps its fields, repaired too
        (rb'{"id": "s6", "text": "", "note": "\ud800"}', {"note": "\ufffd", "error": "text is empty"}),
        (rb'{"id": "s7", "body": "ok", "note": "\ud800"}', {"note": "\ufffd", "error": "has no 'text' field"}),
    ],
    ids=["text", "text-after-a-pair", "field", "nested-and-name", "field-name", "empty-text", "no-text"],
)
def test_score_writes_lone_surrogates_as_replacement_characters(small_model_dir, tmp_path, line, expected):
    # acceptance 2b, finding 1: "\ud800" escapes were written back as they came, and jq refused the file
    src = tmp_path / "in.jsonl"
    src.write_bytes(line + b"\n" + '{"id": "plain", "text": "公園の遊具が壊れています"}\n'.encode())
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = [_strict_json(x) for x in out.read_bytes().decode("utf-8").splitlines()]
    assert len(rows) == 2 and rows[1]["id"] == "plain" and "error" not in rows[1]
    for k, v in expected.items():
        assert rows[0][k] == v if k != "error" else v in rows[0][k]
    warnings = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and "1 record held unpaired UTF-16 surrogates" in warnings[0]
    assert "U+FFFD" in warnings[0] and "殺" not in warnings[0] and "\ufffd" not in r.stderr.replace("'\ufffdx'", "")


def test_score_warns_once_per_run_about_lone_surrogates(small_model_dir, tmp_path):
    lines = [rb'{"id": %d, "text": "ok", "note": "\ud800"}' % i for i in range(600)]  # (several batches)
    lines += [rb'{"id": "t", "text": "\udc00", "other": "\ud800"}', b'{"id": "u", "text": "ok"}']
    r = runner.invoke(app, ["score", "-", "--model", str(small_model_dir)], input=b"\n".join(lines) + b"\n")
    assert r.exit_code == 0, r.output
    rows = [_strict_json(x) for x in r.stdout_bytes.decode("utf-8").splitlines()]
    assert len(rows) == 602 and rows[600]["text"] == "\ufffd" and "surrogate" in rows[600]["error"]
    warnings = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1
    assert "601 records held unpaired UTF-16 surrogates" in warnings[0]
    assert "fields 'note', 'text', 'other'" in warnings[0]


def test_csv_invalid_utf8_row(small_model_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("text\n正常な行です\n".encode() + b"\x82\xa0\x82\xa2 sjis\n" + "最後の行\n".encode())
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    rows = _lines(r.stdout)
    assert len(rows) == 3
    assert "not valid utf-8" in rows[1]["error"]
    assert "verdict" in rows[2]


def test_missing_input_file(small_model_dir, tmp_path):
    r = runner.invoke(app, ["score", str(tmp_path / "nope.jsonl"), "--model", str(small_model_dir)])
    # the console wraps long paths, so compare with whitespace collapsed
    assert r.exit_code == 2 and "does not exist" in " ".join(r.stderr.split())


def test_missing_model(tmp_path):
    r = runner.invoke(app, ["score", "-", "--model", str(tmp_path)], input="{}\n")
    assert r.exit_code == 1 and "no model" in r.stderr


def test_evaluate(small_model_dir, small_data_dir):
    data = small_data_dir / "corpus" / "handwritten.jsonl"
    r = runner.invoke(app, ["evaluate", str(data), "--split", "test", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    for needle in ("verdict accuracy", "macro-F1", "harassment recall", "complaint false-flag rate",
                   "abusive_language", "confusion matrix"):
        assert needle in r.stdout
    rj = runner.invoke(app, ["evaluate", str(data), "--split", "test", "--json", "--model", str(small_model_dir)])
    m = json.loads(rj.stdout)
    assert m["n"] == 80 and 0 <= m["complaint_false_flag_rate"] <= 1


def test_evaluate_rejects_bad_labels(small_model_dir, tmp_path):
    f = tmp_path / "g.jsonl"
    f.write_text(json.dumps({"text": "x", "verdict": "complaint", "categories": ["threat"], "grievance": True}) + "\n")
    r = runner.invoke(app, ["evaluate", str(f), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "line 1" in r.stderr


def test_explain(small_model_dir):
    r = runner.invoke(app, ["explain", "お前みたいな無能はクビにしろ、死ね。殺すぞ", "--model", str(small_model_dir)])
    assert r.exit_code == 0
    assert "verdict" in r.stdout and "harassment" in r.stdout


def test_explain_empty(small_model_dir):
    r = runner.invoke(app, ["explain", "  ", "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "empty" in r.stderr


def test_summary(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "x", "text": "保育園の申込みについて教えてください"}\n{"text": ""}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)])
    r = runner.invoke(app, ["summary", str(out)])
    assert r.exit_code == 0
    assert "2 messages" in r.stdout and "error" in r.stdout


def test_option_validation(small_model_dir):
    r = runner.invoke(app, ["score", "-", "--max-chars", "0", "--model", str(small_model_dir)], input="")
    assert r.exit_code == 2


def test_explain_shows_categories_and_brackets_as_text(small_model_dir):
    """Evidence lines were rich markup: the [category] label vanished, [bold] in a message was
    eaten and [/x] raised MarkupError."""
    for text in ("お前ら税金泥棒[/x]ぶっ殺すぞ", "[bold]お前ら[/bold]税金泥棒、ぶっ殺すぞ"):
        r = runner.invoke(app, ["explain", text, "--model", str(small_model_dir)])
        assert r.exit_code == 0, r.output
        lines = [x for x in r.stdout.splitlines() if ": 「" in x]
        assert lines and all(x.strip().startswith("[") for x in lines)
    assert "[bold]" in r.stdout  # the message's own brackets are shown as written


def test_summary_shows_brackets_as_text(small_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "[/x]", "text": "[/red]テスト", "error": "bad [/b]"}) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["summary", str(out)])
    assert r.exit_code == 0, r.output
    assert "[/x]" in r.stdout


def test_score_to_a_missing_folder_is_a_clear_error(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "図書館の開館時間を教えてください"}\n', encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "no" / "such" / "out.jsonl"),
                            "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "cannot write the output file" in r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        ({"verdict": "complaint", "categories": [], "grievance": True}, "'text' must be a non-empty string"),
        ({"text": "", "verdict": "inquiry", "categories": [], "grievance": False}, "an empty string"),
        ({"text": "窓口が遅い", "verdict": "complaint", "categories": 3, "grievance": True}, "'categories' must be"),
    ],
)
def test_evaluate_refuses_records_it_cannot_score(small_model_dir, tmp_path, record, needle):
    f = tmp_path / "g.jsonl"
    f.write_text(json.dumps({"text": "図書館はどこですか", "verdict": "inquiry", "categories": [], "grievance": False})
                 + "\n" + json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["evaluate", str(f), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "line 2" in r.stderr and needle in r.stderr, r.output


def test_evaluate_takes_null_categories_as_none(small_model_dir, tmp_path):
    f = tmp_path / "g.jsonl"
    f.write_text(json.dumps({"text": "図書館の開館時間を教えてください", "verdict": "inquiry", "categories": None,
                             "grievance": False}, ensure_ascii=False) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["evaluate", str(f), "--json", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == 1


def test_score_refuses_to_overwrite_its_input(small_model_dir, tmp_path):
    src = tmp_path / "inout.jsonl"
    content = '{"text": "図書館の開館時間を教えてください"}\n'
    src.write_text(content, encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "-o", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "is the input file" in " ".join(r.stderr.split())
    assert src.read_text(encoding="utf-8") == content


@pytest.mark.parametrize(("name", "batch_writes_it"), [("結果.csv", True), ("out.xlsx", True), ("out.parquet", True),
                                                      ("out.PQ", True), ("out.TSV", False), ("out.tab", False)])
def test_score_refuses_a_table_output_name(small_model_dir, tmp_path, name, batch_writes_it):
    """A table name gets JSONL nobody expects; batch is suggested only for what batch writes."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "図書館の開館時間を教えてください"}\n', encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / name), "--model", str(small_model_dir)])
    said = " ".join(r.stderr.split())
    assert r.exit_code == 2 and "writes JSONL" in said, r.output
    assert ("complaint-triage batch" in said) == batch_writes_it
    assert not (tmp_path / name).exists()


def test_score_writes_jsonl_to_any_other_name(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "図書館の開館時間を教えてください"}\n', encoding="utf-8")
    for name in ("out.jsonl", "out.ndjson", "out.txt", "results"):
        r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / name), "--model", str(small_model_dir)])
        assert r.exit_code == 0, r.output
        assert json.loads((tmp_path / name).read_text(encoding="utf-8"))["verdict"] in VERDICTS


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_score_reads_a_named_pipe(small_model_dir, tmp_path):
    """`score <(zcat log.jsonl.gz)` and named pipes: an existing non-file that can be read."""
    fifo = tmp_path / "in"  # (like /dev/fd/63 from <(zcat …): no extension, read as JSONL as stdin is)
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=('{"text": "図書館の開館時間を教えてください"}\n',),
                              kwargs={"encoding": "utf-8"})
    writer.start()
    try:
        r = runner.invoke(app, ["score", str(fifo), "--model", str(small_model_dir)])
    finally:
        writer.join(timeout=30)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["verdict"] in VERDICTS
    # a pipe cannot be handed to batch (read more than once; gone with this process): FILE instead
    os.mkfifo(tmp_path / "p2")
    r = runner.invoke(app, ["score", str(tmp_path / "p2"), "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 2 and "complaint-triage batch FILE -o" in " ".join(r.stderr.split()), r.output


def test_score_refuses_a_device_that_never_ends():
    r = runner.invoke(app, ["score", "/dev/zero", "--format", "jsonl"])
    assert r.exit_code == 2 and "not a file or a pipe" in r.stderr, r.output


def test_score_from_stdin_to_a_table_name_points_to_batch_with_a_file(small_model_dir, tmp_path):
    """batch reads files, not stdin: the hint must not be `batch - -o out.csv`."""
    r = runner.invoke(app, ["score", "-", "-o", str(tmp_path / "out.csv"), "--model", str(small_model_dir)],
                      input='{"text": "図書館の開館時間"}\n')
    said = " ".join(r.stderr.split())
    assert r.exit_code == 2 and "complaint-triage batch FILE -o" in said, r.output


def test_score_refuses_an_input_that_is_neither_file_nor_pipe(tmp_path):
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.jsonl"))
        r = runner.invoke(app, ["score", str(tmp_path / "s.jsonl")])
    finally:
        sock.close()
    assert r.exit_code == 2 and "not a file or a pipe" in r.stderr, r.output


def test_score_leaves_an_existing_output_alone_when_the_input_is_unusable(small_model_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,body\n1,図書館の開館時間を教えてください\n", encoding="utf-8")
    out = tmp_path / "keep.jsonl"
    out.write_text('{"earlier": "results"}\n', encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "text" in r.stderr
    assert out.read_text(encoding="utf-8") == '{"earlier": "results"}\n'


def _harassment_rows(grievance: str) -> str:
    rows = ["text,verdict,categories,grievance"]
    for i in range(6):
        rows.append(f"お前みたいな無能はクビにしろ、死ね{i},Harassment,abusive_language|threat,{grievance}")
    rows.append("ゴミが3回も回収されていません。対応してください。,complaint,,")
    rows.append("図書館の開館時間を教えてください。,inquiry,,")
    return "\n".join(rows) + "\n"


def test_evaluate_reads_labels_as_spreadsheets_write_them(small_model_dir, tmp_path):
    """grievance 'y' was read as False (only true/1/yes counted); 'Complaint', '|' between
    categories, a blank grievance on a complaint and CP932 files were refused."""
    results = {}
    for word in ("TRUE", "y", "はい", "1"):
        f = tmp_path / f"g_{word}.csv"
        f.write_bytes(_harassment_rows(word).encode("cp932"))
        r = runner.invoke(app, ["evaluate", str(f), "--json", "--encoding", "cp932", "--model", str(small_model_dir)])
        assert r.exit_code == 0, r.output
        results[word] = json.loads(r.stdout)["harassment_grievance_accuracy"]
    assert len(set(results.values())) == 1, results


def test_evaluate_refuses_a_grievance_it_cannot_read_without_echoing_it(small_model_dir, tmp_path):
    f = tmp_path / "g.csv"
    f.write_text(_harassment_rows("090-1234-5678"), encoding="utf-8")
    r = runner.invoke(app, ["evaluate", str(f), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "yes/no" in " ".join(r.stderr.split()) and "090-1234" not in r.stderr


# -- acceptance findings (session 23) ----------------------------------------------------------------


def _jsonl_file(path, *records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_input_fields_named_like_output_fields_are_renamed_once(small_model_dir, tmp_path):
    """An input 'error' survived on scored records, and an input 'line' hid where an error was."""
    src = _jsonl_file(tmp_path / "in.jsonl",
                      {"text": "粗大ごみの出し方を教えて", "error": "previous failure", "line": 7,
                       "verdict": "complaint"},
                      {"text": "", "error": "old", "line": "受付簿12行目", "input_line": "x"})
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    ok, bad = _lines(r.stdout)
    assert "error" not in ok and "line" not in ok and ok["verdict"] in VERDICTS
    assert (ok["input_error"], ok["input_line"], ok["input_verdict"]) == ("previous failure", 7, "complaint")
    assert bad["line"] == 2 and "empty" in bad["error"]
    assert (bad["input_error"], bad["input_input_line"], bad["input_line"]) == ("old", "受付簿12行目", "x")
    assert r.stderr.count("renamed 'input_error'") == 1 and r.stderr.count("warning: input field 'line'") == 1


def test_a_text_column_no_record_has_is_refused(small_model_dir, tmp_path):
    """Wrong --text-column on JSONL: all error records, exit 0 (CSV and batch exit 2)."""
    src = _jsonl_file(tmp_path / "in.jsonl", {"id": 1, "本文": "図書館はどこですか"}, {"id": 2, "本文": "殺すぞ"})
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["score", str(src), "--text-column", "body", "-o", str(out),
                            "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "no record of" in r.stderr and "(fields: id, 本文)" in r.stderr
    assert not out.exists()  # a file: refused before any output
    r = runner.invoke(app, ["score", "-", "--text-column", "body", "--model", str(small_model_dir)],
                      input=src.read_text(encoding="utf-8"))
    assert r.exit_code == 2 and "(fields: id, 本文)" in r.stderr
    assert [x["error"] for x in _lines(r.stdout)] == [f"record on line {n} has no 'body' field" for n in (1, 2)]


def test_a_json_array_file_is_refused_with_a_hint(small_model_dir, tmp_path):
    src = tmp_path / "arr.json"
    src.write_text(json.dumps([{"id": 1, "text": "教えて"}, {"id": 2, "text": "殺すぞ"}], indent=2), encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "JSON array" in r.stderr and "jq -c" in r.stderr and not r.stdout


def test_a_jsonl_bad_byte_outside_the_text_keeps_the_record(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": 1, "name": "\xff\xfe", "text": "' + "粗大ごみの出し方を教えて".encode() + b'"}\n'
                    + b'{"id": 2, "text": "' + "粗大ごみ".encode() + b'\xff"}\n')
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    ok, bad = _lines(r.stdout)
    assert ok["id"] == 1 and ok["name"] == "\ufffd\ufffd" and ok["verdict"] in VERDICTS
    assert bad["id"] == 2 and bad["text"] == "粗大ごみ\ufffd" and "not valid UTF-8" in bad["error"]
    assert "warning: line 1: bytes not valid UTF-8 replaced with U+FFFD in field 'name'" in r.stderr


def test_an_encoding_for_jsonl_is_refused_not_ignored(small_model_dir, tmp_path):
    src = _jsonl_file(tmp_path / "in.jsonl", {"text": "図書館はどこですか"})
    r = runner.invoke(app, ["score", str(src), "--encoding", "cp932", "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "JSON Lines are read as UTF-8" in r.stderr
    r = runner.invoke(app, ["score", str(src), "--encoding", "utf-8", "--model", str(small_model_dir)])
    assert r.exit_code == 0


@pytest.mark.parametrize(("data", "says"), [(b"", "empty"), (b"\n\n", "first line is blank")])
def test_a_csv_without_a_header_exits_2(small_model_dir, tmp_path, data, says):
    """A 0-byte CSV exited 0 ("scored 0 records: ") while one of blank lines exited 2."""
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and says in r.stderr and not r.stdout


def test_an_empty_jsonl_says_it_scored_nothing(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0 and r.stderr.strip() == "scored 0 records"


def test_a_non_string_text_is_named_with_its_article(small_model_dir, tmp_path):
    src = _jsonl_file(tmp_path / "in.jsonl", {"text": 3}, {"text": ["a"]})
    rows = _lines(runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)]).stdout)
    assert [x["error"].split(";")[0] for x in rows] == ["text is an int, not a string",
                                                        "text is a list, not a string"]


def test_evaluate_says_a_missing_verdict_is_missing(small_model_dir, tmp_path):
    f = _jsonl_file(tmp_path / "g.jsonl", {"text": "図書館はどこですか", "categories": [], "grievance": False})
    r = runner.invoke(app, ["evaluate", str(f), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "the verdict is missing" in r.stderr and "None" not in r.stderr


@pytest.mark.parametrize("command", ["explain", "summary"])
def test_explain_and_summary_write_utf8_whatever_the_locale(small_model_dir, tmp_path, monkeypatch, command):
    """They crashed with UnicodeEncodeError when stdout was cp932 (PYTHONIOENCODING=cp932 … > f)."""
    import io as _io

    from complaint_triage import cli

    text = "殺すぞ😡"
    buf = _io.BytesIO()
    monkeypatch.setattr("sys.stdout", _io.TextIOWrapper(buf, encoding="cp932"))
    if command == "explain":
        cli.explain(text=text, model=small_model_dir)
    else:
        scored = _jsonl_file(tmp_path / "s.jsonl", {"id": 1, "text": text, **cli._load(small_model_dir).score(text)
                                                    .to_dict()})
        cli.summary(scored=scored, width=38)
    import sys

    sys.stdout.flush()
    assert text in buf.getvalue().decode("utf-8")


@pytest.mark.parametrize("folder", ["[old]", "[/tmp]", "鍵[bold]"])
def test_an_error_names_a_path_with_brackets_as_it_is(tmp_path, folder):
    """Re-read finding: the error line was read as Rich markup ([old] vanished, [/tmp] crashed)."""
    missing = tmp_path / folder / "in.jsonl"
    r = runner.invoke(app, ["score", str(missing), "-o", str(tmp_path / "out.jsonl")])
    assert r.exit_code != 0 and (r.exception is None or isinstance(r.exception, SystemExit)), r.output
    assert str(missing) in r.output


# -- acceptance 2 (session 24): CSV records, a full disk, explain's limit, summary's ids ----------------


#: (CSV, ids of the scored records, ids of the error records, what the error says)
SCORE_CSV_RECORDS = [
    pytest.param("id,text\n1,住民票の取り方\n2,\"窓口の職員の対応が悪い\n3,死ね\n", ["1", "3"], ["2"], "never closed",
                 id="quote-left-open-before-the-last-record"),
    pytest.param("id,text,channel\r\n1,住民票の取り方,web\r\n2,\"窓口の職員の対応が悪い,web\r\n3,死ね,tel",
                 ["1", "3"], ["2"], "never closed", id="quote-left-open-in-a-middle-column"),
    pytest.param("id,text\n1,\"隣の工事の騒音がひどい。\n2,3日前から朝7時に始まる。\"\n2,ゴミの日を教えてください\n",
                 ["1", "2"], [], "", id="multiline-text-that-closes"),
    pytest.param('text\n"   "\n"\u3000"\n\nこんにちは\n', [None], [None, None], "empty or whitespace only",
                 id="text-only-spaces"),
]


@pytest.mark.parametrize(("data", "scored", "errors", "says"), SCORE_CSV_RECORDS)
def test_every_csv_record_yields_its_own_output_record(small_model_dir, tmp_path, data, scored, errors, says):
    """Findings 8 and 10: a quote left open merged the last record into its row (scored under the wrong
    id); a text of only spaces in a text-only CSV was skipped without a word."""
    src = tmp_path / "in.csv"
    src.write_text(data, encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = _lines(r.stdout)
    assert [x.get("id") for x in rows if "error" not in x] == scored
    assert [x.get("id") for x in rows if "error" in x] == errors
    assert all(says in x["error"] and "line" in x for x in rows if "error" in x)
    assert all(x.get("text") != "死ね" or x.get("id") == "3" for x in rows)


def test_rows_that_do_not_decode_point_to_the_encoding_option_once(small_model_dir, tmp_path):
    """Finding 11: a CP932 file with an ASCII header failed every row with 're-save as UTF-8' only."""
    src = tmp_path / "sjis.csv"
    src.write_bytes("id,text\r\n1,窓口の職員はバカだ、死ね\r\n2,住民票はどこで取れますか\r\n3,ゴミの日はいつ\r\n"
                    .encode("cp932"))
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0 and len(_lines(r.stdout)) == 3
    hints = [x for x in r.stderr.splitlines() if "--encoding cp932" in x]
    assert len(hints) == 1 and hints[0].startswith("warning: line 2 ")
    r = runner.invoke(app, ["score", str(src), "--encoding", "cp932", "--model", str(small_model_dir)])
    assert "warning" not in r.stderr and all("verdict" in x for x in _lines(r.stdout))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("records", [2, 400])  # (the error comes at the last flush, or while writing)
def test_score_to_a_full_disk_is_one_error_line(small_model_dir, tmp_path, records):
    """Finding 9: a traceback ending in 'OSError: [Errno 28] No space left on device'."""
    src = _jsonl_file(tmp_path / "in.jsonl", *({"id": i, "text": "道路の穴を直してください"} for i in range(records)))
    r = runner.invoke(app, ["score", str(src), "-o", "/dev/full", "--model", str(small_model_dir)])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert r.stderr.splitlines() == [
        "error: cannot write the output to /dev/full (No space left on device); the output is incomplete: free disk "
        "space (or write elsewhere) and run the command again"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_score_to_stdout_on_a_full_disk_is_one_error_line(small_model_dir, tmp_path):
    import subprocess
    import sys

    src = _jsonl_file(tmp_path / "in.jsonl", {"id": 1, "text": "道路の穴を直してください"})
    with open("/dev/full", "wb") as full:
        p = subprocess.run([sys.executable, "-m", "complaint_triage.cli", "score", str(src), "--model",
                            str(small_model_dir)], stdout=full, stderr=subprocess.PIPE, timeout=300)
    err = p.stderr.decode()
    assert p.returncode == 1 and "Traceback" not in err
    assert err.splitlines() == ["error: cannot write the output to stdout (No space left on device); the output is "
                                "incomplete: free disk space (or write elsewhere) and run the command again"]


@pytest.mark.parametrize(("text", "options", "exit_code"), [
    pytest.param("窓口の対応が悪い" * 3, ["--max-chars", "10"], 2, id="24-chars-over-10"),
    pytest.param("窓口の対応が悪い" * 3, ["--max-chars", "24"], 0, id="24-chars-at-24"),
    pytest.param("あ" * 20_001, [], 2, id="20001-chars-over-the-default"),
    pytest.param("あ" * 20_001, ["--max-chars", "30000"], 0, id="20001-chars-limit-raised"),
])
def test_explain_takes_the_length_limit_its_error_says_to_raise(small_model_dir, text, options, exit_code):
    """Finding 13: 'raise the limit', but explain had no option to raise it; reread #8: the error
    did not name the option."""
    r = runner.invoke(app, ["explain", text, "--model", str(small_model_dir), *options])
    assert r.exit_code == exit_code, r.output
    if exit_code:
        assert "over the limit" in r.stderr and "split the message or raise the limit with --max-chars" in r.stderr
    else:
        assert r.stdout.startswith("verdict ")


@pytest.mark.parametrize("options", [["--max-chars", "10"], []], ids=["over-10", "over-the-default"])
def test_score_names_the_option_that_raises_the_length_limit(small_model_dir, tmp_path, options):
    """Reread #8: score's error record said "raise the limit" without naming --max-chars."""
    src = tmp_path / "in.jsonl"
    text = "窓口の対応が悪い" * 3 if options else "あ" * 20_001
    src.write_text(json.dumps({"id": 1, "text": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir), *options])
    assert r.exit_code == 0, r.output
    [row] = _lines(r.stdout)
    limit = int(options[1]) if options else 20_000
    assert row["error"] == (f"text has {len(text):,} characters, over the limit of {limit:,}; "
                            "split the message or raise the limit with --max-chars")


def test_summary_marks_a_missing_id_so_that_it_never_reads_as_another_records_id(small_model_dir, tmp_path):
    """Finding 17: the row position stood in for a missing id (1, 2, 3, 4, 4 for ids 1, 2, -, 4 and an error)."""
    src = tmp_path / "ids.jsonl"
    src.write_text('{"id":1,"text":"住民票"}\n{"id":2,"text":"死ね"}\n{"text":"ゴミが来ない、早く回収して"}\n'
                   '{"id":3 "text":"bad"}\n{"id":4,"text":"ありがとう"}\n{"id":null,"text":"道路の穴"}\n',
                   encoding="utf-8")
    out = tmp_path / "scored.jsonl"
    assert runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)]).exit_code == 0
    r = runner.invoke(app, ["summary", str(out)])
    assert r.exit_code == 0, r.output
    ids = [line.split("│")[1].strip() for line in r.stdout.splitlines() if line.startswith("│")]
    assert ids == ["1", "2", "(record 3)", "(line 4)", "4", "(record 6)"]


def test_summary_takes_line_for_a_place_only_on_an_error_record(small_model_dir, tmp_path):
    """Reread #9: a scored record's own field named line (an input column) was shown as (line N)."""
    src = tmp_path / "ids.jsonl"
    src.write_text('{"text":"住民票の写しがほしい"}\n{"id":2 "text":"bad"}\n', encoding="utf-8")
    out = tmp_path / "scored.jsonl"
    assert runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)]).exit_code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rows[0]["line"] = 7  # (as an input column named line, written back by another tool)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    r = runner.invoke(app, ["summary", str(out)])
    assert r.exit_code == 0, r.output
    ids = [line.split("│")[1].strip() for line in r.stdout.splitlines() if line.startswith("│")]
    assert ids == ["(record 1)", "(line 2)"]


@pytest.mark.parametrize(("data", "says"), [
    pytest.param("verdict,text,categories,grievance\ncomplaint,\"窓口で待たされた\",,true\n"
                 "世田谷区桜1-2-3 山田花子 090-1234-5678 窓口の対応が遅い,complaint,,true\n",
                 "line 3: verdict (a text of 38 characters) is not one of", id="columns-shifted"),
    pytest.param("text,verdict,categories,grievance\n窓口で待たされた,harassment,\"threat,山田花子\",true\n",
                 "line 2: categories ['threat', (a text of 4 characters)] must be a list of", id="name-as-category"),
])
def test_evaluate_names_the_line_and_column_of_a_bad_label_not_its_value(small_model_dir, tmp_path, data, says):
    """Finding 16: evaluate's errors echoed whole cells (a resident's address, name and phone number)."""
    f = tmp_path / "labels.csv"
    f.write_text(data, encoding="utf-8")
    r = runner.invoke(app, ["evaluate", str(f), "--model", str(small_model_dir)])
    err = " ".join(r.stderr.split())
    assert r.exit_code == 2 and says in err, r.output
    assert not any(piece in err for piece in ("山田", "090", "世田谷", "窓口"))


#: Run the CLI in a fresh interpreter in which the modules of the ``api`` extra cannot be imported,
#: as after a plain ``pip install complaint-triage`` (a meta-path finder refuses them; not pydantic,
#: which Typer itself needs).
_WITHOUT_API_EXTRA = """\
import importlib.abc, sys
BLOCKED = {"fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic_settings", "prometheus_client"}
class NoApiExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoApiExtra())
from complaint_triage.cli import app
sys.argv[0] = "complaint-triage"
app()
"""


def _without_api_extra(tmp_path, *args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", _WITHOUT_API_EXTRA, *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def test_the_core_cli_works_without_the_api_extra(small_model_dir, tmp_path):
    """acc4b finding 6: without the [api] extra every command, --version included, died on a
    ModuleNotFoundError for pydantic_settings (cli.py imports the serve command when it loads)."""
    version = _without_api_extra(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("complaint-triage "), version.stderr
    src = _jsonl_file(tmp_path / "in.jsonl", {"id": 1, "text": "道路に穴があります。直してください。"})
    scored = _without_api_extra(tmp_path, "score", str(src), "--model", str(small_model_dir))
    assert scored.returncode == 0, scored.stderr
    [row] = _lines(scored.stdout)
    assert row["id"] == 1 and row["verdict"] in VERDICTS


def test_serve_without_the_api_extra_names_the_extra_to_install(tmp_path):
    r = _without_api_extra(tmp_path, "serve", "--port", "8799")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    [line] = r.stderr.splitlines()  # one line, naming what is missing and what installs it
    assert line.startswith("error: complaint-triage serve needs the optional packages of the 'api' extra")
    assert "pydantic_settings" in line and line.endswith("install them with: pip install 'complaint-triage[api]'")
