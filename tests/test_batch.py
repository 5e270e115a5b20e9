"""Batch scoring: formats in and out, bad records, senders, pool, resume after SIGKILL, Dask."""

from __future__ import annotations

import csv
import io
import json
import mailbox
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from complaint_triage import batch as B
from complaint_triage.batch_cli import batch as batch_cmd
from complaint_triage.batch_cli import report as report_cmd
from complaint_triage.exceptions import InputFormatError

pytest.importorskip("pyarrow")
pytest.importorskip("openpyxl")

TEXTS = (
    "ゴミが3回も回収されていません。至急対応してください。",
    "図書館の開館時間を教えてください。",
    "お前みたいな無能はクビにしろ、死ね。殺すぞ",
    "保育園の申込書類の提出期限はいつまでですか。",
    "道路の陥没を先月から何度も連絡しているのに、まだ直っていません。危ないので早く直してください。",
    "窓口の職員の説明が間違っていて、二度も来庁することになりました。改善を求めます。",
    "今すぐ土下座して謝れ。謝罪文をSNSに晒してやるからな。",
    "住民票の写しはコンビニで取れますか。",
)
PRED = {"verdict", "categories", "grievance", "evidence", "action", "review", "model_version", "error",
        *B.SCORE_COLUMNS}


def _rows(n: int) -> list[dict[str, str]]:
    return [{"id": f"r{i:04d}", "channel": ("email", "phone_note", "web_form")[i % 3],
             "topic": ("gomi", "doro")[i % 2],
             "date": f"2024-{1 + i % 6:02d}-{1 + i % 27:02d} 09:{i % 60:02d}",
             "text": f"{TEXTS[i % len(TEXTS)]}（{i}）"}
            for i in range(n)]


def _write_csv(path: Path, rows: list[dict[str, str]], *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def _run(small_model_dir: Path, inputs: list, output: Path, **kw) -> B.BatchResult:
    kw.setdefault("jobs", 1)
    kw.setdefault("progress", False)
    return B.run_batch([str(p) for p in inputs], output, model=small_model_dir, **kw)


@pytest.fixture(autouse=True)
def _sender_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(B.SENDER_KEY_ENV, "test-key-0123456789abcdef")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


# -- the pure function -----------------------------------------------------------


def test_score_frame_is_pure_and_marks_bad_rows(small_model_dir):
    df = pd.DataFrame({"id": [1, 2, 3, 4, 5], "text": pd.Series([TEXTS[0], "", None, "x" * 60, "bad \udc82 bytes"],
                                                                 dtype=object)})
    before = df.copy()
    out = B.score_frame(df, text_col="text", model=small_model_dir, max_chars=50)
    pd.testing.assert_frame_equal(df, before)  # input untouched
    assert list(out.columns) == ["id", "text", *B.PREDICTION_COLUMNS]
    assert out.loc[0, "verdict"] in ("harassment", "complaint", "inquiry") and out.loc[0, "error"] is None
    assert isinstance(out.loc[0, "categories"], list) and 0 <= out.loc[0, "score_harassment"] <= 1
    errors = out["error"].tolist()
    assert "empty" in errors[1] and "missing" in errors[2] and "over the limit" in errors[3]
    assert "not valid" in errors[4]
    assert out.loc[1:, "verdict"].isna().all() and out["model_version"].notna().all()


def test_score_frame_meta_needs_no_model():
    meta = B.score_frame(pd.DataFrame({"text": pd.Series([], dtype=object)}), model="/nonexistent/model")
    assert list(meta.columns) == ["text", *B.PREDICTION_COLUMNS] and len(meta) == 0
    assert meta["score_harassment"].dtype == "float64" and meta["categories"].dtype == object
    with pytest.raises(InputFormatError, match="--text-column"):
        B.score_frame(pd.DataFrame({"body": []}))


# -- encodings --------------------------------------------------------------------


def test_cp932_csv_detected_and_csv_output_has_bom(small_model_dir, tmp_path):
    rows = _rows(12)
    rows[3]["text"] = "髙橋です。①の件でご連絡ください～"  # CP932-only characters
    src = _write_csv(tmp_path / "sjis.csv", rows, encoding="cp932")
    assert B.detect_encoding(src) == "cp932"
    out = tmp_path / "out.csv"
    res = _run(small_model_dir, [src], out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel-friendly UTF-8 BOM
    got = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert got[3]["text"] == rows[3]["text"]
    assert {"id", "channel", "topic", "date", "text", "source_file", "source_record"} | PRED <= set(got[0])
    assert got[0]["source_record"] == "2"  # header is row 1
    harassment = [r for r in got if r["verdict"] == "harassment"]
    assert harassment and all(r["categories"] and "[" not in r["categories"] for r in harassment)  # ';'-joined
    assert all(isinstance(json.loads(r["evidence"]), list) for r in got)
    assert res.rows == 12 and res.scored == 12 and res.errors == 0


def test_bom_csv_and_tsv_to_jsonl(small_model_dir, tmp_path):
    bom = _write_csv(tmp_path / "bom.csv", _rows(5), encoding="utf-8-sig")
    tsv = _write_csv(tmp_path / "plain.tsv", _rows(3), delimiter="\t")
    assert B.detect_encoding(bom) == "utf-8-sig" and B.detect_encoding(tsv) == "utf-8"
    out = tmp_path / "out.jsonl"
    _run(small_model_dir, [bom, tsv], out)
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(recs) == 8 and recs[0]["id"] == "r0000"  # BOM not glued to the first column name
    assert set(recs[0]["scores"]) == {c[len("score_"):] for c in B.SCORE_COLUMNS}
    assert isinstance(recs[0]["categories"], list) and isinstance(recs[0]["evidence"], list)
    assert [r["source_file"] for r in recs].count(str(tsv)) == 3


def test_encoding_override(small_model_dir, tmp_path):
    src = _write_csv(tmp_path / "sjis.csv", _rows(4), encoding="cp932")
    res = _run(small_model_dir, [src], tmp_path / "wrong.jsonl", encoding="utf-8")
    assert res.by_error["undecodable"] == 4  # forced wrong: every row is an error row, none lost
    res = _run(small_model_dir, [src], tmp_path / "right.jsonl", encoding="cp932")
    assert res.errors == 0 and res.scored == 4


# -- bad records ------------------------------------------------------------------


def test_bad_records_become_error_rows(small_model_dir, tmp_path):
    src = tmp_path / "crm.jsonl"
    lines = [
        json.dumps({"id": "ok", "text": TEXTS[0]}, ensure_ascii=False).encode(),
        json.dumps({"id": "empty", "text": "   "}).encode(),
        json.dumps({"id": "null", "text": None}).encode(),
        json.dumps({"id": "number", "text": 42}).encode(),
        json.dumps({"id": "long", "text": "長" * 300}, ensure_ascii=False).encode(),
        b'{"id": "broken", "text": ',
        '{"id": "sjis", "text": "苦情です"}'.encode("cp932"),
        b"[1, 2]",
    ]
    src.write_bytes(b"\n".join(lines) + b"\n")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_bytes("id,text\nc1,普通の問い合わせです\n".encode() + b"c2," + "壊れた".encode("cp932")
                        + b"\n")
    out = tmp_path / "out.parquet"
    res = _run(small_model_dir, [src, bad_csv], out, max_chars=200, id_col="id", encoding="utf-8")
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 10  # nothing lost
    by_rec = {(Path(r["source_file"]).name, r["source_record"]): r for r in rows}
    assert by_rec[("crm.jsonl", "1")]["error"] is None and by_rec[("crm.jsonl", "1")]["verdict"]
    for line, word in ((2, "empty"), (3, "missing"), (4, "not a string"), (5, "over the limit"), (6, "JSON"),
                       (7, "UTF-8"), (8, "JSON")):
        r = by_rec[("crm.jsonl", str(line))]
        assert word in r["error"] and r["verdict"] is None and r["categories"] is None
    assert by_rec[("bad.csv", "2")]["error"] is None
    assert "not valid" in by_rec[("bad.csv", "3")]["error"]
    assert res.by_error == {"empty": 1, "missing": 1, "not_text": 1, "too_long": 1, "malformed": 2, "undecodable": 2}
    text = res.format()
    assert "errors:" in text and "too_long 1" in text and "verdicts:" in text


def test_missing_text_column_and_unknown_format(small_model_dir, tmp_path):
    src = _write_csv(tmp_path / "a.csv", [{"id": "1", "body": "x"}])
    with pytest.raises(InputFormatError, match="--text-column"):
        _run(small_model_dir, [src], tmp_path / "o.csv")
    with pytest.raises(InputFormatError, match="output format"):
        _run(small_model_dir, [tmp_path / "a.csv"], tmp_path / "o.txt")
    (tmp_path / "x.dat").write_text("id\n")
    with pytest.raises(InputFormatError, match="--format"):
        _run(small_model_dir, [tmp_path / "x.dat"], tmp_path / "o.csv")
    with pytest.raises(InputFormatError, match="no input matches"):
        _run(small_model_dir, [tmp_path / "nothing-*.csv"], tmp_path / "o.csv")
    arr = tmp_path / "arr.json"
    arr.write_text('[{"text": "a"}]')
    with pytest.raises(InputFormatError, match="JSON Lines"):
        _run(small_model_dir, [arr], tmp_path / "o.csv")


# -- Excel ------------------------------------------------------------------------


def _workbook(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "受付"
    ws.append(["id", "受付日", "text", "課"])
    ws.append(["x1", datetime(2024, 4, 1, 10, 30), TEXTS[0], "清掃"])
    ws.append(["x2", datetime(2024, 4, 2), "", "総務"])
    ws.cell(3, 3).value = "=HYPERLINK(\"http://x\")と書いてきた"
    ws.cell(3, 3).data_type = "s"  # a text that looks like a formula
    ws.append([None, None, None, None])  # blank row: skipped
    ws.append(["x3", datetime(2024, 4, 3), 12345, "総務"])  # a number is not a message
    memo = wb.create_sheet("メモ")
    memo.append(["note"])
    memo.append(["集計用"])
    s2 = wb.create_sheet("5月")
    s2.append(["id", "text", "extra"])
    s2.append(["y1", TEXTS[2], "追加"])
    wb.save(path)
    return path


def test_xlsx_all_sheets_and_one_sheet(small_model_dir, tmp_path):
    import openpyxl

    src = _workbook(tmp_path / "desk.xlsx")
    out = tmp_path / "scored.xlsx"
    res = _run(small_model_dir, [src], out)
    assert any("メモ" in w for w in res.warnings)  # the sheet without a text column is skipped, and said so
    wb = openpyxl.load_workbook(out)
    ws = wb["scored"]
    data = list(ws.iter_rows(values_only=True))
    header = data[0]
    assert header[:5] == ("id", "受付日", "text", "課", "extra")
    assert PRED <= set(header)
    rows = [dict(zip(header, r, strict=True)) for r in data[1:]]
    assert [r["id"] for r in rows] == ["x1", "x2", "x3", "y1"]
    assert rows[0]["受付日"] == datetime(2024, 4, 1, 10, 30)  # dates stay dates
    assert rows[1]["text"].startswith("=HYPERLINK") and ws.cell(3, 3).data_type == "s"  # text, never a formula
    assert "not a string" in rows[2]["error"] and rows[3]["extra"] == "追加"
    assert rows[0]["source_record"] == "受付!2" and rows[3]["source_record"] == "5月!2"
    assert isinstance(rows[0]["score_harassment"], float) and isinstance(rows[0]["review"], bool)

    res = _run(small_model_dir, [src], tmp_path / "one.jsonl", sheet="5月")
    assert res.rows == 1
    with pytest.raises(InputFormatError, match="no sheet"):
        _run(small_model_dir, [src], tmp_path / "none.jsonl", sheet="6月")


# -- e-mail -------------------------------------------------------------------------


def _mail(frm: str, subject: str, body: str, day: int, *, charset: str = "iso-2022-jp") -> EmailMessage:
    m = EmailMessage()
    m["From"] = frm
    m["To"] = "kucho@city.example.jp"
    m["Subject"] = subject
    m["Date"] = f"Mon, {day:02d} Apr 2024 10:00:00 +0900"
    m["Message-ID"] = f"<{day}.{abs(hash(body)) % 10**6}@example.jp>"
    m.set_content(body, charset=charset)
    return m


def test_mbox_and_eml_dir_to_parquet_with_senders(small_model_dir, tmp_path):
    import pyarrow.parquet as pq

    box = mailbox.mbox(str(tmp_path / "inbox.mbox"))
    box.add(_mail("山田 <yamada@example.jp>", "ゴミ", TEXTS[0], 1))
    box.add(_mail("yamada@example.jp", "Re: ゴミ", TEXTS[0] + "\n\n> 前回の回答\n> 以上です", 3, charset="utf-8"))
    box.add(_mail("other@example.jp", "質問", TEXTS[1], 4, charset="shift_jis"))
    box.flush()
    box.close()
    emls = tmp_path / "emls"
    emls.mkdir()
    (emls / "a.eml").write_bytes(bytes(_mail("suzuki@example.jp", "件名", TEXTS[2], 5)))
    (emls / "b.eml").write_bytes(b"\x00\x01 this is not an e-mail")
    out = tmp_path / "mail.parquet"
    res = _run(small_model_dir, [tmp_path / "inbox.mbox", emls], out)
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 5 and res.by_error["email"] == 1
    assert rows[0]["channel"] == "email" and rows[0]["text"] == TEXTS[0] and rows[0]["date"].startswith("2024-04-01")
    assert rows[1]["text"] == TEXTS[0] and rows[1]["quotes_reply"] == "true"  # the quote is not scored
    assert rows[3]["source_record"] == "a.eml" and "e-mail" in rows[4]["error"]
    assert isinstance(rows[0]["categories"], list) and isinstance(rows[0]["evidence"], list)
    # e-mail inputs: from/date are the sender and date columns by default; ids pseudonymised
    assert rows[0]["sender_id"] == rows[1]["sender_id"] == B.pseudonymise("yamada@example.jp",
                                                                           os.environ[B.SENDER_KEY_ENV].encode())
    senders = pq.read_table(res.sender_output).to_pylist()
    yam = next(s for s in senders if s["sender_id"] == rows[0]["sender_id"])
    assert yam["contacts"] == 2 and yam["longest_run_7d"] == 2 and yam["first_date"].startswith("2024-04-01")
    assert not any("@" in str(v) for s in senders for v in s.values())


# -- several inputs, globs, Parquet round trip ------------------------------------------


def test_globs_several_inputs_and_parquet_types(small_model_dir, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "in"
    d.mkdir()
    _write_csv(d / "2023.csv", _rows(3))
    _write_csv(d / "2024.csv", _rows(2))
    table = pa.table({"id": pa.array([7, 8], pa.int64()), "text": [TEXTS[1], TEXTS[4]],
                      "received": pa.array([datetime(2024, 5, 1), None], pa.timestamp("us"))})
    pq.write_table(table, d / "crm.parquet")
    out = tmp_path / "all.parquet"
    res = _run(small_model_dir, [str(d / "*.csv"), d / "crm.parquet"], out, chunk_rows=2)
    got = pq.read_table(out)
    assert res.rows == 7 and got.num_rows == 7
    assert got.column_names[:5] == ["id", "channel", "topic", "date", "text"]
    assert got.schema.field("received").type == pa.timestamp("us")  # Parquet-only column keeps its type
    assert got.schema.field("id").type == pa.string()  # mixed sources: text
    assert [Path(p).name for p in got.column("source_file").to_pylist()] == ["2023.csv"] * 3 + ["2024.csv"] * 2 + [
        "crm.parquet"] * 2
    assert got.column("received").to_pylist()[5] == datetime(2024, 5, 1)
    df = next(B.iter_chunks([d / "crm.parquet"], chunk_rows=10))
    assert list(df.columns) == ["id", "text", "received", "source_file", "source_record"]
    recs = list(B.iter_records([str(d / "*.csv")]))
    assert len(recs) == 5 and recs[0].values["text"].startswith(TEXTS[0])


def test_prediction_named_input_columns_are_renamed(small_model_dir, tmp_path):
    src = _write_csv(tmp_path / "old.csv", [{"text": TEXTS[0], "verdict": "complaint"}])
    out = tmp_path / "again.csv"
    res = _run(small_model_dir, [src], out)
    got = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert got[0]["input_verdict"] == "complaint" and got[0]["verdict"] in ("harassment", "complaint", "inquiry")
    assert any("input_verdict" in w for w in res.warnings)


# -- senders ---------------------------------------------------------------------------


def test_sender_aggregator_runs_and_repetition():
    agg = B.SenderAggregator(key=None)
    base = "先月から道路の穴を直してほしいと何度も言っています。まだ直っていません。早急に補修してください。"
    for day, extra in ((1, ""), (4, "再度"), (6, "三度目です"), (20, "")):
        agg.add("A", when=f"2024-05-{day:02d} 10:00", text=extra + base, verdict="complaint", grievance=True)
    agg.add("A", when="2024-05-06 11:00", text="図書館は何時までですか。", verdict="inquiry", grievance=False)
    agg.add("B", when="2024-05-01", text=base, verdict="complaint", grievance=True)
    agg.add("B", when="2024-05-01 12:00", text=base, verdict="complaint", grievance=True)  # same day: no reply yet
    agg.add("C", when=None, text=base, verdict="harassment", categories=["threat"], grievance=True)
    agg.add("C", when=None, text=base + "。", verdict="harassment", categories=["threat", "abusive_language"],
            grievance=True, quotes_reply=True)  # quoting the office's reply
    agg.add("", when="2024-05-01", text=base, verdict="complaint")  # blank sender: ignored
    rows = {r["sender_id"]: r for r in agg.rows()}
    a, b, c = rows["A"], rows["B"], rows["C"]
    assert a["contacts"] == 5 and a["longest_run_7d"] == 4 and a["repeat_count"] == 3 and a["repetition"]
    assert a["first_date"] == "2024-05-01 10:00:00" and a["last_date"] == "2024-05-20 10:00:00"
    assert b["repeat_count"] == 0 and not b["repetition"] and b["longest_run_7d"] == 2
    assert c["repeat_count"] == 1 and c["harassment_count"] == 2 and c["harassment_categories"][0] == "threat"
    assert list(rows) == ["C", "A", "B"]  # most harassment first


def test_pseudonyms_and_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(B.SENDER_KEY_ENV)
    key_file = tmp_path / "k" / "sender.key"
    key = B.load_sender_key(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600 and B.load_sender_key(key_file) == key
    p = B.pseudonymise("Taro <Taro@Example.jp>", key)
    assert p.startswith("S-") and len(p) == 18 and p == B.pseudonymise("taro@example.jp", key)
    assert B.pseudonymise("03-1234-5678", key) == B.pseudonymise("０３（１２３４）５６７８", key)
    assert p != B.pseudonymise("taro@example.jp", b"another-key-123456")
    assert B.default_sender_key_file() == tmp_path / "config" / "complaint-triage" / "sender.key"
    monkeypatch.setenv(B.SENDER_KEY_ENV, "short")
    with pytest.raises(Exception, match="too short"):
        B.load_sender_key()


def test_sender_summary_file_and_keep_ids(small_model_dir, tmp_path):
    rows = [{"id": str(i), "sender": ("a@example.jp", "090-1111-2222", "")[i % 3], "date": f"2024-06-{1 + i:02d}",
             "text": TEXTS[i % 3]} for i in range(9)]
    src = _write_csv(tmp_path / "s.csv", rows)
    res = _run(small_model_dir, [src], tmp_path / "o.csv", sender_col="sender", date_col="date")
    assert res.sender_output == tmp_path / "o.senders.csv" and res.senders == 2
    summary = list(csv.DictReader(io.StringIO(res.sender_output.read_text(encoding="utf-8-sig"))))
    assert list(summary[0]) == list(B.SenderAggregator.COLUMNS)
    assert all(s["sender_id"].startswith("S-") for s in summary)
    assert sorted(int(s["contacts"]) for s in summary) == [3, 3]
    scored = list(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text(encoding="utf-8-sig"))))
    assert scored[0]["sender"] == "a@example.jp"  # the input column is kept as it was
    assert scored[0]["sender_id"].startswith("S-") and scored[2]["sender_id"] == ""
    res = _run(small_model_dir, [src], tmp_path / "k.jsonl", sender_col="sender", date_col="date",
               keep_sender_ids=True, sender_output=tmp_path / "who.csv")
    ids = {r["sender_id"] for r in csv.DictReader(io.StringIO((tmp_path / "who.csv").read_text(encoding="utf-8-sig")))}
    assert ids == {"a@example.jp", "090-1111-2222"}
    with pytest.raises(InputFormatError, match="--date-column"):
        _run(small_model_dir, [src], tmp_path / "x.csv", sender_col="sender", date_col="when")


# -- pool, progress, resume ---------------------------------------------------------------


def test_two_worker_pool_gives_identical_output(small_model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _rows(60))
    _run(small_model_dir, [src], tmp_path / "one.csv", jobs=1, chunk_rows=7)
    res = _run(small_model_dir, [src], tmp_path / "two.csv", jobs=2, chunk_rows=7)
    assert res.chunks == 9
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert not (tmp_path / "two.csv.parts").exists()  # checkpoints removed when done


def test_progress_bar_only_when_asked_or_tty(small_model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _rows(10))
    buf = io.StringIO()
    _run(small_model_dir, [src], tmp_path / "o.jsonl", chunk_rows=3, progress=True, progress_stream=buf)
    assert "rows/s" in buf.getvalue() and "ETA" in buf.getvalue() and "10/10 rows" in buf.getvalue()
    buf = io.StringIO()
    _run(small_model_dir, [src], tmp_path / "p.jsonl", progress=False, progress_stream=buf)
    assert buf.getvalue() == ""


def test_interrupted_run_refuses_restart_and_resumes(small_model_dir, tmp_path, monkeypatch):
    src = _write_csv(tmp_path / "in.csv", _rows(25))
    ref = tmp_path / "ref.parquet"
    _run(small_model_dir, [src], ref, chunk_rows=4)
    out = tmp_path / "out.parquet"
    real = B._write_part
    calls = {"n": 0}

    def flaky(parts, k, rows):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real(parts, k, rows)

    monkeypatch.setattr(B, "_write_part", flaky)
    with pytest.raises(KeyboardInterrupt):
        _run(small_model_dir, [src], out, chunk_rows=4)
    monkeypatch.setattr(B, "_write_part", real)
    assert not out.exists() and len(list((tmp_path / "out.parquet.parts").glob("chunk-*.jsonl"))) == 2
    with pytest.raises(InputFormatError, match="--resume"):
        _run(small_model_dir, [src], out, chunk_rows=4)
    with pytest.raises(InputFormatError, match="chunk_rows"):
        _run(small_model_dir, [src], out, chunk_rows=5, resume=True)
    res = _run(small_model_dir, [src], out, chunk_rows=4, resume=True)
    assert res.resumed_chunks == 2 and res.chunks == 7 and res.rows == 25
    import pyarrow.parquet as pq

    assert pq.read_table(out).equals(pq.read_table(ref)) and out.read_bytes() == ref.read_bytes()


def test_resume_after_sigkill_matches_uninterrupted_run(small_model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _rows(300))
    out = tmp_path / "out.csv"
    parts = tmp_path / "out.csv.parts"
    cmd = [sys.executable, "-m", "complaint_triage.batch_cli", "batch", str(src), "-o", str(out),
           "--model", str(small_model_dir), "--chunk-rows", "5", "--jobs", "1", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while not (parts / "chunk-000000.jsonl").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    done = len(list(parts.glob("chunk-*.jsonl")))
    assert not out.exists() and 1 <= done < 60  # killed mid-run

    res = _run(small_model_dir, [src], out, chunk_rows=5, resume=True)  # same options as the killed run
    assert res.resumed_chunks == done and res.chunks == 60 and res.rows == 300
    ref = tmp_path / "ref.csv"
    _run(small_model_dir, [src], ref, chunk_rows=5)
    assert out.read_bytes() == ref.read_bytes()
    assert not parts.exists()


# -- Dask --------------------------------------------------------------------------------


def test_dask_engine_matches_local_engine(small_model_dir, tmp_path):
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(40)
    for r in rows[::7]:
        r["text"] = r["text"] + "\n改行を含む本文です。"  # quoted line breaks survive
    rows[5]["text"] = ""
    a = _write_csv(tmp_path / "a.csv", rows[:25], encoding="cp932")
    b = _write_csv(tmp_path / "b.csv", rows[25:])
    t = pa.table({"id": [r["id"] for r in rows[:30]], "text": [r["text"] for r in rows[:30]],
                  "n": pa.array(range(30), pa.int64())})
    pq.write_table(t, tmp_path / "p.parquet", row_group_size=8)

    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        for inputs, name in (([a, b], "csv"), ([tmp_path / "p.parquet"], "parquet")):
            local = tmp_path / f"local-{name}.parquet"
            dask_out = tmp_path / f"dask-{name}.parquet"
            r1 = _run(small_model_dir, inputs, local, chunk_rows=6)
            r2 = _run(small_model_dir, inputs, dask_out, engine="dask", scheduler=cluster.scheduler_address)
            assert r1.rows == r2.rows == (40 if name == "csv" else 30)
            assert pq.read_table(dask_out).equals(pq.read_table(local)), name
            assert dask_out.read_bytes() == local.read_bytes()  # row groups do not depend on partitions
            if name == "parquet":
                assert r2.chunks == 4  # one partition per row group
        csv_local, csv_dask = tmp_path / "l.csv", tmp_path / "d.csv"
        _run(small_model_dir, [a, b], csv_local)
        _run(small_model_dir, [a, b], csv_dask, engine="dask", scheduler=cluster.scheduler_address)
        assert csv_local.read_bytes() == csv_dask.read_bytes()
    with pytest.raises(InputFormatError, match="Dask engine reads CSV"):
        _run(small_model_dir, [_workbook(tmp_path / "w.xlsx")], tmp_path / "x.csv", engine="dask")


# -- CLI -----------------------------------------------------------------------------------


@pytest.fixture()
def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(batch_cmd)
    app.command()(report_cmd)
    return app


def test_cli_batch_and_report(small_model_dir, tmp_path, cli_app):
    src = _write_csv(tmp_path / "in.csv", _rows(8))
    out = tmp_path / "o.xlsx"
    r = CliRunner().invoke(cli_app, ["batch", str(src), "-o", str(out), "--model", str(small_model_dir),
                                     "--jobs", "1", "--id-column", "id"])
    assert r.exit_code == 0, r.output
    assert "8 records" in r.stderr and "verdicts:" in r.stderr and "rows/s |" not in r.stderr  # no TTY: no bar
    assert r.stdout == ""
    html_out = tmp_path / "r.html"
    r = CliRunner().invoke(cli_app, ["report", str(out), "-o", str(html_out)])
    assert r.exit_code == 0, r.output
    assert html_out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    r = CliRunner().invoke(cli_app, ["batch", str(src), "-o", str(tmp_path / "x.csv"), "--model",
                                     str(small_model_dir), "--text-column", "body"])
    assert r.exit_code == 2 and "--text-column" in r.stderr
    r = CliRunner().invoke(cli_app, ["batch", str(src), "-o", str(tmp_path / "x.csv"), "--model",
                                     str(tmp_path / "no-model")])
    assert r.exit_code == 1 and "error" in r.stderr


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", ".xlsx"])
def test_lone_surrogate_escape_is_an_error_row_in_every_format(small_model_dir, tmp_path, suffix):
    # "\ud800" is legal JSON but not Unicode text: the row is an error, nothing crashes or is lost
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "text": "\\u8077\\u54e1\\ud800 \\u3053\\u308f\\u308c\\u305f"}\n'
                    + json.dumps({"id": "b", "text": "公園の遊具が壊れています"}, ensure_ascii=False).encode() + b"\n")
    out = tmp_path / f"out{suffix}"
    res = _run(small_model_dir, [src], out)
    assert res.rows == 2 and res.scored == 1 and res.by_error == {"undecodable": 1}
    assert out.is_file()


# -- the driver's column-wise helpers agree with the cell-by-cell definitions ----------------

_CELL_VALUES = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True), st.integers(), st.text(max_size=8),
    st.lists(st.text(max_size=4), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["input", "str", "bool", "float", "strlist", "evidence"]),
       pick=st.sampled_from(["mixed", "str", "float", "bool", "none"]), data=st.data())
def test_csv_column_matches_csv_cell(kind, pick, data):
    col = B._Col("c", kind)
    if kind == "strlist":
        values = st.one_of(st.none(), st.lists(st.text(max_size=4), max_size=3))
    elif kind == "evidence":
        values = st.one_of(st.none(), st.lists(st.fixed_dictionaries(
            {"category": st.sampled_from(["threat", "abusive_language"]), "start": st.integers(0, 99),
             "end": st.integers(0, 99), "text": st.text(max_size=6)}), max_size=2))
    else:
        values = {"mixed": _CELL_VALUES, "str": st.text(max_size=8), "float": st.floats(allow_nan=True),
                  "bool": st.booleans(), "none": st.none()}[pick]
    vals = tuple(data.draw(st.lists(values, min_size=1, max_size=6)))
    assert list(B._csv_column(col, vals)) == [B._csv_cell(col, v) for v in vals]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=3), st.booleans()), max_size=8))
def test_nan_to_none_replaces_exactly_the_nans(vals):
    out = B._nan_to_none(list(vals))
    assert len(out) == len(vals)
    for v, o in zip(vals, out, strict=True):
        if isinstance(v, float) and v != v:
            assert o is None
        else:
            assert o is v


def test_checkpoint_round_trip_replaces_every_lone_surrogate(tmp_path):
    rows = [
        ["申請\udc82した", 1.5, None, ["a\ud800", {"k": "x\udcff"}], True, [{"category": "threat", "start": 0,
                                                                           "end": 2, "text": "殺す"}]],
        ["plain", float("inf"), datetime(2026, 11, 1, 10, 0), [], False, []],
    ]
    B._write_part(tmp_path, 0, rows)
    back = B._read_part(tmp_path, 0)
    assert back[0][0] == "申請\ufffdした"
    assert back[0][3] == ["a\ufffd", {"k": "x\ufffd"}]
    assert back[0][5][0]["text"] == "殺す"
    assert back[1] == rows[1]
    (tmp_path / "chunk-000001.jsonl").write_text("", encoding="utf-8")
    assert B._read_part(tmp_path, 1) == []
