"""Batch scoring: formats in and out, bad records, senders, pool, resume after SIGKILL, Dask."""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import mailbox
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from complaint_triage import batch as B
from complaint_triage.batch_cli import batch as batch_cmd
from complaint_triage.batch_cli import report as report_cmd
from complaint_triage.exceptions import ComplaintTriageError, InputFormatError

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
    # a sheet that holds rows but no text column would lose its records: an error, not a warning
    with pytest.raises(InputFormatError, match=r"sheet 'メモ' holds 1 row but no column 'text'.*--sheet"):
        _run(small_model_dir, [src], tmp_path / "lost.xlsx")
    out = tmp_path / "scored.xlsx"
    res = _run(small_model_dir, [src], out, sheet=["受付", "5月"])
    assert not res.warnings
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


AWARE_TIMES = (  # (received, with its offset; the same moment in Japan time, as every output shows it)
    (pd.Timestamp("2025-06-30T15:00:00Z"), datetime(2025, 7, 1, 0, 0)),  # UTC: the next day, in July
    (pd.Timestamp("2025-05-31T15:30:00Z"), datetime(2025, 6, 1, 0, 30)),
    (pd.Timestamp("2025-04-01T09:00:00+09:00"), datetime(2025, 4, 1, 9, 0)),
    (pd.Timestamp("2025-12-31T10:00:00-05:00"), datetime(2026, 1, 1, 0, 0)),
)


@pytest.mark.parametrize(("received", "japan_time"), AWARE_TIMES)
def test_xlsx_output_shows_an_aware_time_in_japan_time(small_model_dir, tmp_path, received, japan_time):
    """The offset was dropped without converting: 2025-06-30T15:00Z landed in June, not July."""
    import openpyxl

    src = tmp_path / "in.parquet"
    pd.DataFrame({"受付日時": pd.Series([received]), "送信者": ["a@example.jp"],
                  "text": ["窓口の対応が悪いので改善してください。"]}).to_parquet(src)
    out = tmp_path / "scored.xlsx"
    res = _run(small_model_dir, [src], out, sender_col="送信者", date_col="受付日時", keep_sender_ids=True,
               sender_output=tmp_path / "senders.csv")
    data = list(openpyxl.load_workbook(out)["scored"].iter_rows(values_only=True))
    assert dict(zip(data[0], data[1], strict=True))["受付日時"] == japan_time
    summary = list(csv.DictReader(io.StringIO(res.sender_output.read_text(encoding="utf-8-sig"))))
    assert summary[0]["first_date"] == japan_time.isoformat(sep=" ")  # the summary agrees


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


FORWARD_ONLY = "\n".join([
    "---------- Forwarded message ---------",
    "From: 山田 <yamada@example.jp>",
    "Subject: ゴミ",
    "",
    TEXTS[2],
])
REPLY_WITH_SIGNATURE = "\n".join([
    TEXTS[0], "", "--", "山田 太郎", "TEL 03-1234-5678", "",
    "2024年4月1日(月) 10:00 世田谷区 <koe@example.jp>:", "> 前回の回答です。",
])


@pytest.mark.parametrize(
    ("body", "stripped", "error"),
    [
        (FORWARD_ONLY, "forwarded", "the e-mail has no new text after removing quoted replies, forwarded messages "
                                    "and signatures (stripped: forwarded); nothing to score"),
        (REPLY_WITH_SIGNATURE, "quote, quote_header, signature", None),
        (TEXTS[1], "", None),
    ],
    ids=["forward-only", "reply-with-signature", "plain"],
)
def test_email_rows_say_what_was_stripped(small_model_dir, tmp_path, body, stripped, error):
    emls = tmp_path / "emls"
    emls.mkdir()
    (emls / "a.eml").write_bytes(bytes(_mail("yamada@example.jp", "Fw: ゴミ", body, 2, charset="utf-8")))
    out = tmp_path / "mail.jsonl"
    res = _run(small_model_dir, [emls], out)
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["stripped"] == stripped
    assert row.get("error") == error
    assert row["quotes_reply"] == ("quote" in stripped)  # the existing columns are kept
    assert {"attachments", "charset", "defects", "subject"} <= set(row)
    if error is not None:
        assert row.get("verdict") is None and res.by_error["empty"] == 1
        assert row["subject"] == "Fw: ゴミ"  # what could be read is kept on the error row
    else:
        assert row["verdict"] is not None


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


def test_progress_counts_the_text_before_an_mbox_first_message(small_model_dir, tmp_path):
    """The preamble is a record of its own: the bar's total includes it, so it ends at n/n."""
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(path))
    box.add(_mail("yamada@example.jp", "ゴミ", TEXTS[0], 1))
    box.add(_mail("other@example.jp", "質問", TEXTS[1], 2))
    box.flush()
    box.close()
    path.write_bytes("エクスポート: 2024年4月分\n\n".encode() + path.read_bytes())
    buf = io.StringIO()
    res = _run(small_model_dir, [path], tmp_path / "o.jsonl", progress=True, progress_stream=buf)
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["source_record"] for r in rows] == ["preamble", "0", "1"] and res.by_error["email"] == 1
    assert "3/3 rows" in buf.getvalue() and "/2 rows" not in buf.getvalue()


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
    agg.add("B", when="2024-05-01 09:00", text=base, verdict="complaint", grievance=True)
    agg.add("B", when="2024-05-01 09:04", text=base, verdict="complaint", grievance=True)  # sent twice: not a repeat
    agg.add("B", when="2024-05-01 12:00", text=base, verdict="complaint", grievance=True)  # hours later: a repeat
    agg.add("C", when=None, text=base, verdict="harassment", categories=["threat"], grievance=True)
    agg.add("C", when=None, text=base + "。", verdict="harassment", categories=["threat", "abusive_language"],
            grievance=True, quotes_reply=True)  # quoting the office's reply
    agg.add("", when="2024-05-01", text=base, verdict="complaint")  # blank sender: ignored
    rows = {r["sender_id"]: r for r in agg.rows()}
    a, b, c = rows["A"], rows["B"], rows["C"]
    assert a["contacts"] == 5 and a["longest_run_7d"] == 4 and a["repeat_count"] == 3 and a["repetition"]
    assert a["first_date"] == "2024-05-01 10:00:00" and a["last_date"] == "2024-05-20 10:00:00"
    # (before finding 2 of issue 5 a copy on the same day never counted: "no reply yet"; ten copies an hour
    # apart were no repetition at all)
    assert b["repeat_count"] == 1 and not b["repetition"] and b["longest_run_7d"] == 3
    assert c["repeat_count"] == 1 and c["harassment_count"] == 2 and c["harassment_categories"][0] == "threat"
    assert list(rows) == ["C", "A", "B"]  # most harassment first


BURST = ("前回も言ったが、お前のところの担当者の態度が許せない。今すぐ担当者に謝罪させろ。"
         "対応しないなら何度でも電話するからな。")
DOG = ("隣の家の犬がうるさい。何とかしてほしい。", "隣の家の犬がうるさい。早く何とかしてほしい。",
       "隣の家の犬がまだうるさい。何とかしてほしい。", "隣の家の犬が毎晩うるさい。何とかしてほしい。",
       "隣の家の犬がうるさい！何とかしてほしい！")
OPENING = ("市民として一言申し上げます。市役所の対応はいつも遅く、私たち住民の声をきちんと聞いていないと感じています。"
           "税金で働いているのですから、もっと誠実に仕事をしてください。今回の件は、")
TOPICS = ("集会所の屋根の雨漏りが放置されていることです。", "通学路の信号が短すぎて子どもが危険なことです。",
          "公園の草が伸び放題で迷惑していることです。", "ゴミ置き場がカラスに荒らされていることです。",
          "街灯が切れたままで夜道が暗いことです。")
CHOKAI = ("いつもお世話になっております。私は緑が丘三丁目町内会の会長を務めております者で、町内の皆様から寄せられた"
          "声を取りまとめて、毎月市役所にご報告しております。今月もどうぞよろしくお願い申し上げます。"
          "今月の要望は次のとおりです。")
CHOKAI_TOPICS = ("集会所の雨漏りを修理してほしい。", "通学路の信号が短すぎて危ない。",
                 "公園の草が伸び放題になっている。", "バス停にベンチを置いてほしい。")


@pytest.mark.parametrize(("contacts", "repeats", "flagged"), [
    pytest.param([(f"2024-05-20 {9 + k}:00", BURST) for k in range(10)], 9, True, id="ten-copies-an-hour-apart"),
    pytest.param([(f"2024-04-{1 + 7 * k:02d}", t) for k, t in enumerate(DOG)], 4, True,
                 id="short-complaint-reworded-weekly"),
    pytest.param([(f"2024-{4 + k:02d}-10", OPENING + t + "早急に対応してください。") for k, t in enumerate(TOPICS)], 0,
                 False, id="different-requests-after-one-opening"),
    pytest.param([(f"2024-{4 + k:02d}-10", CHOKAI + t) for k, t in enumerate(CHOKAI_TOPICS)], 0, False,
                 id="neighbourhood-association-monthly-requests"),
    pytest.param([(f"2024-05-20 09:0{k}", BURST) for k in range(3)], 0, False, id="sent-thrice-within-minutes"),
    pytest.param([("2024-05-20", BURST)] * 3, 2, True, id="three-copies-dated-without-a-time"),
    pytest.param([("2024-05-20 09:00:00", DOG[0])] + [(f"2024-05-20 10:00:{20 * k:02d}", DOG[0]) for k in range(3)]
                 + [("2024-05-20 10:01:20", DOG[1]), ("2024-05-20 10:01:40", DOG[0])], 1, False,
                 id="original-and-burst-an-hour-later"),
    pytest.param([(f"2024-05-{20 + d} 09:0{k}", BURST) for d in range(3) for k in range(3)], 2, True,
                 id="a-burst-a-day-for-three-days"),
    pytest.param([(f"2024-05-20 09:{5 * k:02d}", BURST) for k in range(4)], 1, False,
                 id="copies-five-minutes-apart-for-fifteen-minutes"),
    pytest.param([(f"2024-05-20 09:{9 * k:02d}", BURST) for k in range(3)], 1, False,
                 id="copies-at-0-9-and-18-minutes"),  # (the rule the README states)
])
def test_repetition_counts_resent_grievances_not_shared_openings(contacts, repeats, flagged):
    """Finding 2 of issue 5: a burst of copies was 0 repeats (24-hour rule), short reworded complaints 1
    (SimHash bits), five different requests after one long opening were flagged.  Re-read finding 3: each copy
    of a double-click burst an hour after the original counted as a repeat of the original (5 copies: 5)."""
    agg = B.SenderAggregator(key=None)
    for when, text in contacts:
        agg.add("03-9999-0000", when=when, text=text, verdict="complaint", grievance=True)
    (row,) = agg.rows()
    assert (row["repeat_count"], row["repetition"]) == (repeats, flagged)


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(st.sampled_from((BURST, *DOG[:3], TOPICS[0])), min_size=1, max_size=6),
       clicks=st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_double_clicks_do_not_change_the_repeat_count(texts, clicks):
    """Sending each message again a few seconds later (0-3 extra copies) leaves repeat_count as it was."""
    def count(copies: list[int]) -> int:
        agg = B.SenderAggregator(key=None)
        t0 = datetime(2024, 5, 20, 9)
        for i, text in enumerate(texts):
            for k in range(1 + copies[i]):
                agg.add("03-9999-0000", when=t0 + timedelta(hours=i, seconds=15 * k), text=text,
                        verdict="complaint", grievance=True)
        (row,) = agg.rows()
        return row["repeat_count"]

    assert count(clicks) == count([0] * 6)


def test_repetition_holds_only_the_lookback_of_a_sender(monkeypatch):
    """Re-read finding 4: every contact's bigrams were kept (2,000 contacts of 1,500 characters: 504 MB)."""
    import random
    import tracemalloc

    monkeypatch.setattr(B.SenderAggregator, "LOOKBACK", 5)
    rng = random.Random(1)
    kanji = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    agg = B.SenderAggregator(key=None)
    t0 = datetime(2024, 1, 1)
    for i in range(200):
        agg._by.setdefault("web", []).append(B._Contact(t0 + timedelta(hours=i), "complaint", (), True,
                                                        "".join(rng.choices(kanji, k=1500)), False))
    tracemalloc.start()
    try:
        agg.rows()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # (all 200: some 30 MB; the last 5: about 1 MB)


@pytest.mark.parametrize(("a", "b", "same"), [
    ("公園のベンチが壊れています。", "公園のトイレが壊れています。", False),  # another thing broken
    ("公園のベンチが壊れています。", "再度お願いします。公園のベンチが壊れています。", True),
    ("道路の穴を直してください。", "道路の穴を直してください。至急！", True),
    ("対応してください。", "ゴミ置き場がカラスに荒らされています。対応してください。", False),  # a short ending shared
    ("", "", False),
])
def test_near_duplicates(a, b, same):
    assert B.near_duplicates(B._letters(a), B._letters(b)) is same


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=60), st.text(max_size=60))
def test_near_duplicates_is_symmetric_and_a_text_is_its_own_duplicate(a, b):
    assert B.near_duplicates(a, b) is B.near_duplicates(b, a)
    assert B.near_duplicates(a, a)


_KANA_TEXT = st.text(alphabet="あいうかきくさしすたちつ道路穴公園", max_size=40)


@settings(max_examples=400, deadline=None)
@given(_KANA_TEXT, st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), _KANA_TEXT.map(lambda t: t[:3])),
                            max_size=3))
def test_the_bigram_shortcut_never_changes_the_answer(a, edits):
    """_repeats rules pairs out by their bigrams before comparing them: it must agree with the comparison."""
    b = a
    for at, cut, insert in edits:
        b = b[:at] + insert + b[at + cut:]
    for x, y in ((a, b), (b, a)):
        assert B._near_duplicates(x, y, B._bigrams(x), B._bigrams(y)) is B.near_duplicates(x, y)


COMPLAINTS = (
    "公園のベンチが壊れています。修理をお願いします。",
    "ゴミの収集日が変わったことを知りませんでした。周知が足りないと思います。",
    "窓口の待ち時間が長すぎます。改善してください。",
    "道路の白線が消えていて危険です。引き直してください。",
)
RULE = "―" * 15
SIGNATURES = (  # (how a sender signs, as a CSV cell holds it)
    f" {RULE} 東京都世田谷区北沢二丁目8番18号 ハイツ北沢203号室 山田太郎 電話 03-5432-1098 "
    f"メール yamada.taro@example.co.jp {RULE} ",  # one line: a CSV cell written by a spreadsheet
    f"\n{RULE}\n東京都世田谷区北沢二丁目8番18号 ハイツ北沢203号室\n山田太郎\n電話 03-5432-1098\n"
    f"メール yamada.taro@example.co.jp\n{RULE}\n",  # several lines, as in a mail
    "\n-- \n世田谷区民 山田 太郎\n〒155-0031 東京都世田谷区北沢二丁目8番18号\nTEL 03-5432-1098 / 携帯 090-1234-5678\n"
    "Eメール yamada.taro@example.co.jp",
    "　＝＝＝＝＝＝ 山田 花子 携帯 090-8765-4321 hanako.yamada@example.ne.jp ＝＝＝＝＝＝",
)


@pytest.mark.parametrize("signature", SIGNATURES)
def test_different_complaints_sharing_a_signature_are_not_repetition(signature):
    """A long signature made four unrelated weekly complaints near-duplicates (repeat_count 2)."""
    agg = B.SenderAggregator(key=None)
    for k, text in enumerate(COMPLAINTS):
        agg.add("yamada.taro@example.co.jp", when=f"2025-05-{1 + 7 * k:02d}", text=text + signature,
                verdict="complaint", grievance=True)
    agg.add("same", when="2025-05-01", text=COMPLAINTS[0] + signature, verdict="complaint", grievance=True)
    agg.add("same", when="2025-05-09", text="再度お願いします。" + COMPLAINTS[0] + signature, verdict="complaint",
            grievance=True)
    agg.add("same", when="2025-05-16", text=COMPLAINTS[0] + "至急。", verdict="complaint", grievance=True)
    rows = {r["sender_id"]: r for r in agg.rows()}
    assert (rows["yamada.taro@example.co.jp"]["repeat_count"], rows["yamada.taro@example.co.jp"]["repetition"]) == (
        0, False)
    assert (rows["same"]["repeat_count"], rows["same"]["repetition"]) == (2, True)  # the same complaint, resent


@pytest.mark.parametrize(("text", "own"), [
    ("公園のベンチが壊れています。" + SIGNATURES[0], "公園のベンチが壊れています。"),
    ("公園のベンチが壊れています。" + SIGNATURES[2], "公園のベンチが壊れています。"),
    ("折り返しは 090-1234-5678 までお願いします。", "折り返しは 0**-****-**** までお願いします。"),
    (f"道路を直せ。{RULE}ふざけるな 殺すぞ", f"道路を直せ。{RULE}ふざけるな 殺すぞ"),  # not a signature
    (f"{RULE} 山田 太郎 電話 03-5432-1098", f"{RULE} 山田 太郎 電話 0*-****-****"),  # nothing but one
    # offices or titles after a rule are what the complaint is about, not a signature
    (f"以下の課の対応を改善してください {RULE} 公園緑地課 清掃事務所",
     f"以下の課の対応を改善してください {RULE} 公園緑地課 清掃事務所"),
    ("対応が遅い・・・・・ 総務課 部長", "対応が遅い・・・・・ 総務課 部長"),  # an ellipsis is not a rule
    ("ずーーーーっと待ってます 山田 太郎", "ずーーーーっと待ってます 山田 太郎"),  # nor a long vowel
])
def test_own_content_drops_the_signature_and_masks_contacts(text, own):
    assert B._own_content(text) == own


def test_pseudonyms_and_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(B.SENDER_KEY_ENV)
    key_file = tmp_path / "config" / "complaint-triage" / "sender.key"  # the default, made on first use
    key = B.load_sender_key()
    assert key_file.stat().st_mode & 0o777 == 0o600 and B.load_sender_key(key_file) == key == B.load_sender_key()
    p = B.pseudonymise("Taro <Taro@Example.jp>", key)
    assert p.startswith("S-") and len(p) == 18 and p == B.pseudonymise("taro@example.jp", key)
    assert B.pseudonymise("03-1234-5678", key) == B.pseudonymise("０３（１２３４）５６７８", key)
    assert p != B.pseudonymise("taro@example.jp", b"another-key-123456")
    assert B.default_sender_key_file() == tmp_path / "config" / "complaint-triage" / "sender.key"
    monkeypatch.setenv(B.SENDER_KEY_ENV, "short")
    with pytest.raises(Exception, match="too short"):
        B.load_sender_key()


def test_an_explicit_key_file_wins_over_the_environment_and_must_exist(tmp_path, monkeypatch):
    """Finding 4 of issue 5: the variable overrode --sender-key-file, a mistyped key file was created with a
    new random key, and a key generated on first use went unmentioned: pseudonyms silently stopped linking."""
    key_file = tmp_path / "office.key"
    key_file.write_text("office-key-0123456789abcdef\n", encoding="ascii")
    assert B.load_sender_key(key_file) == b"office-key-0123456789abcdef"  # (the variable is set: autouse fixture)
    assert B.load_sender_key() == b"test-key-0123456789abcdef"
    typo = tmp_path / "ofice.key"
    with pytest.raises(InputFormatError, match="no sender key file .*ofice.key.*check the path"):
        B.load_sender_key(typo)
    assert not typo.exists()
    monkeypatch.delenv(B.SENDER_KEY_ENV)
    notes: list[str] = []
    first = B.load_sender_key(notes=notes)
    assert len(notes) == 1 and "generated a new sender key" in notes[0] and str(B.default_sender_key_file()) in notes[0]
    assert B.load_sender_key(notes=notes) == first and len(notes) == 1  # said once, when it is made


def test_batch_says_when_it_generates_a_key_and_refuses_a_missing_key_file(small_model_dir, tmp_path, monkeypatch,
                                                                            cli_app):
    monkeypatch.delenv(B.SENDER_KEY_ENV)
    src = _write_csv(tmp_path / "s.csv", [{"sender": "a@example.jp", "text": TEXTS[0]}])
    res = _run(small_model_dir, [src], tmp_path / "o.jsonl", sender_col="sender")
    assert any("generated a new sender key" in w for w in res.warnings)
    res = _run(small_model_dir, [src], tmp_path / "o2.jsonl", sender_col="sender")
    assert not any("generated" in w for w in res.warnings)
    r = CliRunner().invoke(cli_app, ["batch", str(src), "-o", str(tmp_path / "o3.jsonl"), "--sender-column", "sender",
                                     "--model", str(small_model_dir), "--sender-key-file", str(tmp_path / "typo.key"),
                                     "-j", "1", "-q"])
    assert r.exit_code == 2 and "no sender key file" in r.output and not (tmp_path / "typo.key").exists()
    assert not (tmp_path / "o3.jsonl").exists()


SAME_PHONE = (  # (a way of writing one number, its canonical form)
    ("090-1111-2222", "09011112222"),
    ("+81 90-1111-2222", "09011112222"),
    ("+81-90-1111-2222", "09011112222"),
    ("+819011112222", "09011112222"),
    ("＋８１ ９０－１１１１－２２２２", "09011112222"),
    ("+81 (0)90-1111-2222", "09011112222"),
    ("＋８１（０）９０‐１１１１‐２２２２", "09011112222"),
    ("+81 3-5432-1098", "0354321098"),
    ("03（5432）1098", "0354321098"),
)


@pytest.mark.parametrize(("value", "canonical"), [
    ("+810001234", "810001234"),  # a customer id that starts with +81, not a telephone number
    ("+1 202-555-0143", "12025550143"),
    ("+44 20 7946 0958", "442079460958"),
])
def test_only_japanese_numbers_lose_their_plus_81(value, canonical):
    assert B._canonical_sender(value) == canonical


@pytest.mark.parametrize(("phone", "canonical"), SAME_PHONE)
def test_a_plus_81_number_is_the_same_sender_as_the_domestic_number(phone, canonical):
    """090-1111-2222, +81 90-1111-2222 and +81-90-1111-2222 were 2 senders."""
    key = b"k" * 16
    assert B.SenderAggregator(key=None).sender_id(phone) == canonical
    assert B.pseudonymise(phone, key) == B.pseudonymise(canonical, key)


@pytest.mark.parametrize(("spellings", "canonical"), [
    (["090-1234-5678", "090.1234.5678", "TEL 090-1234-5678", "090-1234-5678（携帯）", "携帯：090 1234 5678",
      "Tel. 090-1234-5678", 9012345678, "9012345678", np.int64(9012345678), 9012345678.0, "TEL090-1234-5678",
      "tel:090-1234-5678", "Mobile090 1234 5678", np.float64(9012345678.0)], "09012345678"),
    (["03-5432-1098", "電話 03-5432-1098", "03.5432.1098", "03(5432)1098（自宅）",
      # re-read of session 25, finding 7: a name in brackets beside the number stayed in the id
      "03-5432-1098 (山田)", "03(5432)1098（山田（太郎））", "(03) 5432-1098 (鈴木)"], "0354321098"),
    (["090-1234-5678 (山田)", "090-1234-5678（山田花子）", "TEL 090-1234-5678 (山田(花子))"], "09012345678"),
    ([123, 123.0, "123", np.float64(123.0)], "123"),  # a customer id read as a float (Parquet, JSONL)
    (["312345678", 312345678], "312345678"),  # 9 digits: a landline without its 0, or an id? left as it is
    (["123.45"], "123.45"),  # not a dotted telephone number
    # acceptance 5b, finding 6: RFC 822's comment form kept the name in the id and split the sender
    (["taro@example.jp", "taro@example.jp (山田太郎)", "TARO@example.jp（山田 太郎）", "(山田太郎) taro@example.jp",
      "taro@example.jp(山田)", "山田太郎 <taro@example.jp>", "山田<taro@example.jp> (窓口)",
      # re-read of session 25, finding 7: the name outside the brackets, or brackets in the comment
      "山田太郎 (taro@example.jp)", "山田太郎（TARO@example.jp）", "taro@example.jp (山田(太郎))"], "taro@example.jp"),
    (["山田 (営業)"], "山田 (営業)"),  # no number, no address: left as it is
])
def test_a_senders_spellings_are_one_sender(spellings, canonical):
    """Finding 13 of issue 5: dotted and labelled numbers, 123.0 against 123 and a mobile number stored as a
    number (the leading 0 lost) were senders of their own."""
    agg = B.SenderAggregator(key=None)
    assert {agg.sender_id(v) for v in spellings} == {canonical}
    key = b"k" * 16
    assert len({B.SenderAggregator(key=key).sender_id(v) for v in spellings}) == 1


NO_SENDERS = ["非通知", "通知不可", "公衆電話", "匿名", "不明", "なし", "無し", "-", "ー", "―", "N/A", "n/a", "none",
              "unknown", "Anonymous", "0", "000", "０００", "（非通知）", "", "  ", None, float("nan"), 0,
              0.0, np.float64(0), np.int64(0), np.float32(0)]  # (0.0: a blank 0 read from Parquet or JSON)


@pytest.mark.parametrize("value", NO_SENDERS)
def test_placeholders_name_no_sender(value):
    """Finding 9: 非通知, 匿名, '-' were each one sender, who then had every withheld caller's contacts."""
    agg = B.SenderAggregator(key=b"k" * 16)
    assert agg.add(value, when="2024-04-01", text=TEXTS[0], verdict="complaint") is None
    assert (len(agg), agg.no_sender) == (0, 1)
    assert B.is_no_sender(value) and B.SenderAggregator(key=None).sender_id(value) is None


@pytest.mark.parametrize("value", ["山田太郎", "a@example.jp", "090-1234-5678", "C-0001", "1", "0120-00-0000", 1.0,
                                   np.float64(7), "0.5", "ホテル新宿"])
def test_real_senders_are_not_placeholders(value):
    assert not B.is_no_sender(value)


def test_records_without_a_sender_are_counted_in_the_summary(small_model_dir, tmp_path):
    """Finding 8: blank and placeholder senders, and a JSONL input without the sender field, dropped out
    of the per-sender summary without a word."""
    src = _raw_csv(tmp_path / "anon.csv", ["id", "電話", "date", "text"], [
        ["1", "非通知", "2024/04/01", TEXTS[0]], ["2", "非通知", "2024/04/02", TEXTS[2]],
        ["3", "匿名", "2024/04/03", TEXTS[1]], ["4", "-", "2024/04/04", TEXTS[4]], ["5", "", "2024/04/04", TEXTS[5]],
        ["6", "03-1111-2222", "2024/04/05", TEXTS[4]], ["7", "０３－１１１１－２２２２", "2024/04/06", TEXTS[5]]])
    extra = tmp_path / "crm.jsonl"
    extra.write_text(json.dumps({"id": "8", "date": "2024/04/07", "text": TEXTS[3]}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    res = _run(small_model_dir, [src, extra], tmp_path / "o.jsonl", sender_col="電話", date_col="date",
               keep_sender_ids=True)
    assert (res.rows, res.senders, res.no_sender) == (8, 1, 6)
    assert "6 records without a sender" in res.format()
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["sender_id"] for r in rows] == [None] * 5 + ["0311112222"] * 2 + [None]


def test_without_a_date_column_dates_and_runs_are_empty_and_a_warning_says_why(small_model_dir, tmp_path):
    """Finding 3: without --date-column the summary said longest_run_7d 0 and nothing warned."""
    src = _raw_csv(tmp_path / "s.csv", ["sender", "text"], [["a@example.jp", TEXTS[4]]] * 3)
    res = _run(small_model_dir, [src], tmp_path / "o.jsonl", sender_col="sender", keep_sender_ids=True)
    (row,) = [json.loads(line) for line in res.sender_output.read_text(encoding="utf-8").splitlines()]
    assert (row["contacts"], row["first_date"], row["longest_run_7d"]) == (3, None, None)
    assert row["repeat_count"] == 2 and row["repetition"]  # the same text three times, time unknown
    assert any("no --date-column" in w and "longest_run_7d" in w for w in res.warnings)
    res = _run(small_model_dir, [src], tmp_path / "o2.jsonl", sender_col="sender", date_col=None,
               keep_sender_ids=True, sender_output=tmp_path / "o2.senders.csv")
    summary = list(csv.DictReader(io.StringIO((tmp_path / "o2.senders.csv").read_text(encoding="utf-8-sig"))))
    assert summary[0]["longest_run_7d"] == "" and summary[0]["first_date"] == ""


def test_a_sender_none_of_whose_dates_can_be_read_has_no_7_day_run(small_model_dir, tmp_path):
    """Acceptance 5b, finding 7: a sender whose two contacts were undated had longest_run_7d 0 ("at most
    0 contacts in any 7 days"), where the run is unknown, as without --date-column."""
    src = _raw_csv(tmp_path / "u.csv", ["id", "sender", "date", "text"], [
        ["1", "u1@example.jp", "不明", TEXTS[4]], ["2", "u1@example.jp", "", TEXTS[5]],
        ["3", "u2@example.jp", "2024-04-01", TEXTS[1]], ["4", "u2@example.jp", "令和6年4月3日", TEXTS[3]],
        ["5", "u3@example.jp", "2024-04-20", TEXTS[0]], ["6", "u3@example.jp", "そのうち", TEXTS[4]]])
    for summary in (tmp_path / "who.csv", tmp_path / "who.jsonl"):
        _run(small_model_dir, [src], tmp_path / "o.jsonl", sender_col="sender", date_col="date",
             keep_sender_ids=True, sender_output=summary, with_evidence=False)
        if summary.suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(summary.read_text(encoding="utf-8-sig"))))
            empty = ""
        else:
            rows = [json.loads(line) for line in summary.read_text(encoding="utf-8").splitlines()]
            empty = None
        got = {r["sender_id"]: (r["contacts"], r["first_date"], r["longest_run_7d"]) for r in rows}
        assert got["u1@example.jp"] == (2 if empty is None else "2", empty, empty)
        assert got["u2@example.jp"][2] in (2, "2") and got["u3@example.jp"][2] in (1, "1")  # (dated contacts only)
    agg = B.SenderAggregator(key=None)
    agg.add("u1@example.jp", when="不明", text=TEXTS[4], verdict="complaint")
    assert agg.rows()[0]["longest_run_7d"] is None


@pytest.mark.parametrize("with_mail", [False, True], ids=["csv", "csv-and-mail"])
def test_a_sender_summary_without_a_sender_column_is_refused_before_scoring(small_model_dir, tmp_path, monkeypatch,
                                                                            with_mail):
    """Acceptance 5b, finding 5: --sender-summary without --sender-column wrote no summary, without a word.
    Re-read of session 25, finding 6: refused only after every input was read; now before (no scan)."""
    srcs = [_write_csv(tmp_path / "in.csv", _rows(4))]
    if with_mail:
        srcs.append(_eml_tree(tmp_path / "mail"))
    with monkeypatch.context() as m:
        m.setattr(B, "_scan", lambda *a, **k: pytest.fail("the inputs were read"))
        with pytest.raises(InputFormatError, match=r"--sender-summary needs --sender-column .*mail inputs: their From"):
            _run(small_model_dir, srcs, tmp_path / "o.csv", sender_output=tmp_path / "who.csv")
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.csv.parts").exists()
    if with_mail:
        return
    # mail inputs have a sender column of their own (From)
    res = _run(small_model_dir, [_eml_tree(tmp_path / "mail")], tmp_path / "m.csv", sender_output=tmp_path / "who.csv",
               with_evidence=False)
    assert res.sender_output == tmp_path / "who.csv" and res.senders == 4


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
    assert ids == {"a@example.jp", "09011112222"}  # canonical: grouped as the pseudonyms are
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


def _run_interrupted(monkeypatch, stop, *args, **kwargs):
    """``_run(*args, **kwargs)`` interrupted (KeyboardInterrupt, as Ctrl-C) when ``stop(n, k)`` is true
    for the n-th checkpoint write (from 1), of chunk k; the checkpoints written before it stay."""
    real, calls = B._write_part, {"n": 0}

    def interrupted(parts, k, rows):
        calls["n"] += 1
        if stop(calls["n"], k):
            raise KeyboardInterrupt
        real(parts, k, rows)

    with monkeypatch.context() as m:
        m.setattr(B, "_write_part", interrupted)
        with pytest.raises(KeyboardInterrupt):
            _run(*args, **kwargs)


def test_interrupted_run_refuses_restart_and_resumes(small_model_dir, tmp_path, monkeypatch):
    src = _write_csv(tmp_path / "in.csv", _rows(25))
    ref = tmp_path / "ref.parquet"
    _run(small_model_dir, [src], ref, chunk_rows=4)
    out = tmp_path / "out.parquet"
    _run_interrupted(monkeypatch, lambda n, k: n == 3, small_model_dir, [src], out, chunk_rows=4)
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
    assert (tmp_path / "out.csv.lock").is_file()  # left by the killed run: its lock died with it

    res = _run(small_model_dir, [src], out, chunk_rows=5, resume=True)  # same options as the killed run
    assert res.resumed_chunks == done and res.chunks == 60 and res.rows == 300
    assert not (tmp_path / "out.csv.lock").exists()
    ref = tmp_path / "ref.csv"
    _run(small_model_dir, [src], ref, chunk_rows=5)
    assert out.read_bytes() == ref.read_bytes()
    assert not parts.exists()


# -- inputs that are not files of their format ------------------------------------------


def test_a_pipe_or_a_device_as_input_is_refused_at_once(tmp_path):
    """Acceptance 5b, finding 4: a named pipe blocked for ever (opened a second time after its writer had
    finished), and <(…) failed with "File or stream is not seekable"."""
    import threading

    fifo = tmp_path / "受付.csv"
    os.mkfifo(fifo)
    got: dict[str, str] = {}

    def expand(pattern: str) -> None:
        try:
            B.expand_inputs([pattern])
        except InputFormatError as e:
            got[pattern] = str(e)

    for pattern in (str(fifo), str(tmp_path / "*.csv")):
        t = threading.Thread(target=expand, args=(pattern,), daemon=True)
        t.start()
        t.join(20)
        if t.is_alive():  # (blocked opening the pipe: a writer lets it go)
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            t.join(20)
            pytest.fail(f"reading the named pipe {pattern} blocked")
        assert f"the input {fifo} is a pipe" in got[pattern] and "save the data to a file" in got[pattern]
    with pytest.raises(InputFormatError, match="/dev/null is not a regular file"):
        B.expand_inputs(["/dev/null"], fmt="csv")


#: (file name, what it holds, --format, what the error says): given as JSONL, a file of another format
#: became a file of error rows (a 6-row Parquet file 45 "records") and the run exited 0
NOT_JSONL = [
    pytest.param("受付.csv", "受付番号,内容\n1,ゴミが回収されていません。\n2,道路に穴があいています。\n".encode(),
                 "jsonl",
                 r"受付\.csv is not JSONL: none of its 3 lines is a JSON object; its name says csv: read it with "
                 r"--format csv, or leave out --format", id="csv-given-as-jsonl"),
    pytest.param("crm.jsonl", "id,text\n1,図書館の開館時間を教えてください。\n".encode("cp932"), None,
                 r"crm\.jsonl is not JSONL: none of its 2 lines is a JSON object; each line of a JSONL file is one "
                 r"JSON object", id="csv-named-jsonl"),
    pytest.param("scored.parquet", b"PAR1" + b"\0" * 64 + b"PAR1", "jsonl",
                 r"scored\.parquet is not JSONL text: it looks like a Parquet file; read it with --format parquet",
                 id="parquet-given-as-jsonl"),
    pytest.param("台帳.xlsx", b"PK\x03\x04" + b"\0" * 64, "jsonl",
                 r"台帳\.xlsx is not JSONL text: it looks like an Excel workbook .*--format xlsx",
                 id="workbook-given-as-jsonl"),
    # UTF-16 (as Excel's "Unicode text" and PowerShell write it): every line an error row before
    pytest.param("crm.jsonl", '{"id": "1", "text": "道路の穴を直してください。"}\n{"id": "2", "text": "騒音"}\n'
                 .encode("utf-16"), None,
                 r"crm\.jsonl is not JSONL as read: it looks like UTF-16 .*JSONL is read as UTF-8: convert it "
                 r"\(iconv -f utf-16 -t utf-8 crm\.jsonl > crm-utf8\.jsonl\)", id="utf16-with-bom"),
    pytest.param("crm.jsonl", '{"id": "1", "text": "図書館の開館時間を教えてください。"}\n'.encode("utf-16-le"), None,
                 r"crm\.jsonl is not JSONL as read: it looks like UTF-16 .*iconv -f utf-16 -t utf-8",
                 id="utf16-le-without-bom"),
    pytest.param("crm.jsonl", '"騒音がひどい"\n["1", "道路の穴を直してください。"]\n'.encode(), None,
                 r"crm\.jsonl is not JSONL: none of its 2 lines is a JSON object", id="arrays-and-strings"),
]


@pytest.mark.parametrize(("name", "content", "fmt", "says"), NOT_JSONL)
def test_a_file_read_as_jsonl_that_is_not_jsonl_is_refused_before_scoring(small_model_dir, tmp_path, name,
                                                                            content, fmt, says):
    src = tmp_path / name
    src.write_bytes(content)
    with pytest.raises(InputFormatError, match=says):
        _run(small_model_dir, [src], tmp_path / "o.jsonl", fmt=fmt)
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.parts").exists()


def test_a_jsonl_file_with_some_bad_lines_is_still_read(small_model_dir, tmp_path):
    src = tmp_path / "crm.jsonl"
    src.write_text("受付番号,内容\n" + json.dumps({"id": "1", "text": TEXTS[1]}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    res = _run(small_model_dir, [src], tmp_path / "o.jsonl", with_evidence=False)
    assert (res.rows, res.scored, dict(res.by_error)) == (2, 1, {"malformed": 1})


#: (the bytes of a JSONL file none of whose lines is a JSON object, but whose lines start with "{": cut short)
CUT_SHORT_JSONL = [
    pytest.param('{"id":"1","text":"道路の穴を直してください。"'.encode(), id="one-line-without-its-brace"),
    pytest.param('\ufeff  {"id":"1","text":"騒音がひどいです。"\n'.encode(), id="bom-and-spaces-first"),
    pytest.param('{"id":"1","text":"ゴミが回収されていません。"\n\n\t{"id":"2","te'.encode(), id="two-lines-cut-short"),
]


@pytest.mark.parametrize("data", CUT_SHORT_JSONL)
def test_a_jsonl_file_whose_only_lines_are_cut_short_gives_error_rows(small_model_dir, tmp_path, data):
    """Re-read of session 25, finding 3: one file of a glob holding a single line cut short stopped the whole run
    (exit 2, "b.jsonl is not JSONL"); it gave an error row asking whether the line is cut short."""
    good = tmp_path / "a.jsonl"
    good.write_text(json.dumps({"id": "0", "text": TEXTS[0]}, ensure_ascii=False) + "\n", encoding="utf-8")
    cut = tmp_path / "b.jsonl"
    cut.write_bytes(data)
    out = tmp_path / "o.jsonl"
    res = _run(small_model_dir, [good, cut], out, with_evidence=False)
    lines = sum(1 for line in data.split(b"\n") if line.strip())
    assert (res.rows, res.scored, dict(res.by_error)) == (1 + lines, 1, {"malformed": lines})
    errors = [r for r in B.iter_scored(out) if r.get("error")]
    assert len(errors) == lines and all(r["source_file"].endswith("b.jsonl") for r in errors)
    assert "is the line cut short?" in errors[0]["error"]


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


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


BLANK_LINE_FILES = [
    # (lines after the header "id,text"; line ending)
    pytest.param(["1,ゴミが回収されていません", "", "2,騒音がひどい"], "\n", id="empty-line"),
    pytest.param(["1,ゴミが回収されていません", "", "", "2,騒音がひどい", ",", "3,道路に穴があいています"], "\r\n",
                 id="empty-lines-and-blank-row-crlf"),
    pytest.param(["", "1,図書館の開館時間を教えてください。", "2,住民票の写しはコンビニで取れますか。", "", ""], "\n",
                 id="empty-lines-first-and-last"),
]


@pytest.mark.parametrize(("lines", "eol"), BLANK_LINE_FILES)
def test_dask_engine_numbers_rows_after_empty_lines_as_the_local_engine(small_model_dir, tmp_path, dask_scheduler,
                                                                         lines, eol):
    src = tmp_path / "in.csv"
    src.write_bytes(eol.join(["id,text", *lines, ""]).encode("utf-8"))
    numbers = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.jsonl"
        _run(small_model_dir, [src], out, engine=engine, scheduler=dask_scheduler, with_evidence=False)
        numbers[engine] = [(r["id"], r["source_record"]) for r in B.iter_scored(out)]
    expected = [(line.split(",")[0], str(n)) for n, line in enumerate(lines, 2) if line.strip(", ")]
    assert numbers["local"] == numbers["dask"] == expected


SECRET = "窓口の山田花子さん（090-1234-5678）の説明が違っていました"


def _bad_byte_file(path: Path, encoding: str, bad_row: int, bad: bytes, column: str = "text") -> Path:
    """A CSV file of 15 records (id, channel, text) in ``encoding`` whose record ``bad_row`` (from 1) holds
    the bytes ``bad`` at the end of ``column``."""
    out = ["id,channel,text\r\n".encode(encoding)]
    for i in range(1, 16):
        text = SECRET if i == bad_row else f"{TEXTS[i % len(TEXTS)]}（{i}）"
        channel = "窓口" if i == bad_row else ("電話", "メール")[i % 2]
        cells = {"channel": channel.encode(encoding), "text": text.encode(encoding)}
        if i == bad_row:
            cells[column] += bad
        out.append(f"{i},".encode(encoding) + cells["channel"] + b"," + cells["text"] + b"\r\n")
    path.write_bytes(b"".join(out))
    return path


#: (encoding, record holding the bad bytes, the bytes, the column): the first 10 records are the head
#: sample Dask reads on the driver, the others are read on a worker only
BAD_BYTE_FILES = [
    pytest.param("utf-8", 2, b"\xff", "text", id="utf8-in-the-head-sample"),
    pytest.param("utf-8", 14, b"\xff", "text", id="utf8-on-a-worker-only"),
    pytest.param("utf-8", 13, b"\xe3\x81", "channel", id="utf8-cut-character-outside-the-text"),
    pytest.param("cp932", 12, b"\x85\x40", "text", id="cp932-unassigned-character"),
    pytest.param("cp932", 3, b"\xff\xfe", "text", id="cp932-bytes-read-as-private-use"),
]


@pytest.mark.parametrize(("encoding", "bad_row", "bad", "column"), BAD_BYTE_FILES)
def test_a_bad_byte_gives_the_dask_engine_the_local_engines_output(small_model_dir, tmp_path, dask_scheduler,
                                                                   encoding, bad_row, bad, column):
    """Acceptance 5b, finding 1: one undecodable byte stopped every Dask run ("the Dask run failed
    (UnicodeEncodeError on a worker …): rerun … with --resume", which failed again), and the worker's log
    held the record's text (a name, a phone number) in the exception."""
    src = _bad_byte_file(tmp_path / "in.csv", encoding, bad_row, bad, column)
    assert B.detect_encoding(src) == encoding
    outs = {}
    for engine in ("local", "dask"):
        outs[engine] = tmp_path / f"{engine}.jsonl"
        res = _run(small_model_dir, [src], outs[engine], engine=engine, scheduler=dask_scheduler,
                   with_evidence=False)
        assert res.rows == 15
        if column == "text":
            assert (res.scored, dict(res.by_error)) == (14, {"undecodable": 1}), engine
        else:
            assert (res.scored, res.row_warnings) == (15, 1), engine
    assert outs["dask"].read_bytes() == outs["local"].read_bytes()
    (row,) = [r for r in B.iter_scored(outs["dask"]) if r["source_record"] == str(bad_row + 1)]
    if column == "text":
        assert "not valid in the file's encoding" in row["error"] and row.get("verdict") is None
    else:
        assert "channel" in row["warning"] and row["channel"].endswith("\ufffd") and row["verdict"]


#: CSV files with a quote opened and never closed, and multi-line texts whose quotes close: (lines
#: after the header "id,text,channel", ids of the rows scored, ids of the error rows)
QUOTED_FILES = [
    pytest.param(["1,住民票の取り方,web", '2,"窓口の職員の対応が悪い,web', "3,死ね,tel"], ["1", "3"], ["2"],
                 id="unclosed-quote-one-record-before-the-end"),
    pytest.param(["1,住民票の取り方,web", '2,"窓口の職員の対応が悪い,web'], ["1"], ["2"],
                 id="unclosed-quote-last-line"),
    pytest.param(['1,"隣の工事の騒音がひどい。', '2,3日前から朝7時に始まる。",tel', "2,ゴミの日を教えてください,web"],
                 ["1", "2"], [], id="closed-multiline-text"),
    pytest.param(["2,ゴミの日を教えてください,web", '1,"隣の工事の騒音がひどい。', '2,3日前から朝7時に始まる。",tel'],
                 ["2", "1"], [], id="closed-multiline-text-last"),
]


@pytest.mark.parametrize(("lines", "scored", "errors"), QUOTED_FILES)
def test_an_unclosed_quote_costs_batch_only_its_own_row(small_model_dir, tmp_path, lines, scored, errors):
    """Finding 8 (acceptance 2): a quote left open before the last record merged that record into it."""
    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text,channel", *lines, ""]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    _run(small_model_dir, [src], out, id_col="id", with_evidence=False)
    rows = list(B.iter_scored(out))
    assert [r["id"] for r in rows if not r.get("error")] == scored
    assert [r["id"] for r in rows if r.get("error")] == errors
    assert all("never closed" in r["error"] for r in rows if r.get("error"))
    assert all("死ね" not in (r["text"] or "") for r in rows if r["id"] != "3")  # no record swallowed


@pytest.mark.parametrize("data", [
    pytest.param("id,text\n1,住民票の取り方\n2,\"窓口の職員の対応が悪い\n3,死ね\n",
                 id="the-file-ends-inside-the-field"),
    pytest.param("id,sender,text\n1,a,ゴミの日を教えて\n2,b,\"閉じ忘れ 道路を直して\n3,c,ゴミの日\n4,d,騒音がひどい\n"
                 "5,e,\"前半, 後半\"\n6,f,最後の行\n", id="closed-by-a-later-quoted-field"),
])
def test_an_unclosed_quote_is_counted_as_malformed(small_model_dir, tmp_path, data):
    """Reread #5: both messages of a quote never closed were counted as 'other'."""
    src = tmp_path / "in.csv"
    src.write_text(data, encoding="utf-8")
    res = _run(small_model_dir, [src], tmp_path / "out.jsonl", with_evidence=False)
    assert res.by_error == {"malformed": 1} and "errors:     malformed 1 " in res.format()


@pytest.mark.parametrize(("lines", "row", "problem"), [
    (["1,ゴミの日はいつですか", "2,ふざけるな殺すぞ,extra", "3,道路の穴を直してください"], 3,
     "has 3 fields, the header has 2"),
    # first: pandas would take the first column for the index and shift every column
    (["1,ふざけるな殺すぞ,extra", "2,ゴミの日はいつですか"], 2, "has 3 fields, the header has 2"),
    (["1,ゴミの日はいつですか", "2"], 3, "has 1 fields, the header has 2"),
])
def test_the_dask_engine_refuses_a_csv_with_a_misshapen_record_before_scoring(small_model_dir, tmp_path,
                                                                              dask_scheduler, lines, row, problem):
    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text", *lines, ""]), encoding="utf-8")
    with pytest.raises(InputFormatError, match=rf"in\.csv: row {row} {problem}; the Dask engine .* --engine local"):
        _run(small_model_dir, [src], tmp_path / "dask.jsonl", engine="dask", scheduler=dask_scheduler)
    assert not (tmp_path / "dask.jsonl").exists()
    # the local engine keeps the record as an error row in its place
    out = tmp_path / "local.jsonl"
    _run(small_model_dir, [src], out, with_evidence=False)
    rows = list(B.iter_scored(out))
    assert [r["source_record"] for r in rows if r.get("error")] == [str(row)]


#: (file name, encoding, its bytes, the line where the record with a quoted line break starts)
QUOTED_LINE_BREAKS = [
    pytest.param("in.csv", "utf-8", 'id,text\n1,ゴミの日はいつですか\n2,"隣の工事の騒音がひどい。\n朝7時からです。"\n',
                 3, id="utf8-lf"),
    pytest.param("in.csv", "cp932", '受付番号,内容\r\n1,"道路の穴を直してください。\r\n危険です。"\r\n2,騒音\r\n', 2,
                 id="cp932-crlf"),
    pytest.param("in.tsv", "utf-8", 'id\ttext\n1\t図書館\n2\t住民票\n3\t"公園の遊具が壊れています。\n"\n', 4,
                 id="tsv-line-break-at-the-end-of-the-field"),
]


@pytest.mark.parametrize(("name", "encoding", "data", "line"), QUOTED_LINE_BREAKS)
def test_blocksize_is_refused_before_scoring_for_a_file_with_a_quoted_line_break(small_model_dir, tmp_path,
                                                                                  monkeypatch, name, encoding, data,
                                                                                  line):
    """Acceptance 5b, finding 3: --blocksize on such a file failed on a worker with a ParserError reported as
    a cluster failure, with advice to --resume that could only fail again.  (Re-read of session 25, finding 5:
    the line is the scan's, not that of a second read of the file with another parser.)"""
    pytest.importorskip("distributed")
    src = tmp_path / name
    src.write_bytes(data.encode(encoding))
    text_col = "内容" if encoding == "cp932" else "text"
    assert B._scan(B.expand_inputs([src]), text_col, None).line_breaks == {str(src): line}
    monkeypatch.setattr(B, "_dask_engine", lambda *a, **k: pytest.fail("a cluster was started"))
    with pytest.raises(InputFormatError, match=rf"--blocksize cannot split .*{re.escape(name)}: the record on line "
                                               rf"{line} holds a line break inside a quoted field.*drop --blocksize"):
        _run(small_model_dir, [src], tmp_path / "o.jsonl", engine="dask", dask_blocksize="1KB", text_col=text_col)
    assert not (tmp_path / "o.jsonl.parts").exists()  # (refused before the run: _dask_engine was never called)
    one_line = src.with_name("one-line" + src.suffix)
    one_line.write_bytes(data.replace("\r\n", "\n").replace('\n"', '"').replace('。\n', '。').encode(encoding))
    assert B._scan(B.expand_inputs([one_line]), text_col, None).line_breaks == {}


def test_a_quote_never_closed_is_a_misshapen_record_not_a_quoted_line_break_under_blocksize(small_model_dir,
                                                                                             tmp_path,
                                                                                             dask_scheduler):
    """Re-read of session 25, finding 5: the second parser of the blocksize check read a quote never closed as
    a field running to the end of the file ("holds a line break inside a quoted field"), where the reader
    reads the lines after it again as records and the Dask engine refuses the record as misshapen."""
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,ゴミの日はいつですか\n2,"隣の工事の騒音がひどい\n3,道路の穴を直してください\n',
                   encoding="utf-8")
    assert B._scan(B.expand_inputs([src]), "text", None).line_breaks == {}
    with pytest.raises(InputFormatError, match=r"in\.csv: row 3 opens a quoted field that is never closed") as e:
        _run(small_model_dir, [src], tmp_path / "o.jsonl", engine="dask", scheduler=dask_scheduler,
             dask_blocksize="1KB")
    assert "holds a line break" not in str(e.value)


def test_resumed_dask_run_numbers_rows_after_blank_rows_as_an_uninterrupted_run(small_model_dir, tmp_path,
                                                                                 dask_scheduler, monkeypatch):
    texts = [f"ゴミが回収されていません（{i}回目）" for i in range(1, 4)]
    texts += [f"騒音がひどいので対応してください{i}" for i in range(4, 12)]
    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text", ",", ",", *(f"{i},{t}" for i, t in enumerate(texts, 1))]) + "\n",
                   encoding="utf-8")
    opts = {"engine": "dask", "scheduler": dask_scheduler, "dask_blocksize": 120, "with_evidence": False}
    ref = tmp_path / "ref.jsonl"
    res = _run(small_model_dir, [src], ref, **opts)
    assert res.chunks >= 3
    expected = [(str(i), str(i + 3)) for i in range(1, 12)]  # two blank rows below the header keep their numbers
    assert [(r["id"], r["source_record"]) for r in B.iter_scored(ref)] == expected

    out = tmp_path / "out.jsonl"
    _run_interrupted(monkeypatch, lambda n, k: k == 1, small_model_dir, [src], out, **opts)
    parts = tmp_path / "out.jsonl.parts"
    assert sorted(p.name for p in parts.glob("chunk-*.jsonl")) == ["chunk-000000.jsonl"]
    res = _run(small_model_dir, [src], out, resume=True, **opts)
    assert res.resumed_chunks == 1
    assert [(r["id"], r["source_record"]) for r in B.iter_scored(out)] == expected
    assert out.read_bytes() == ref.read_bytes()

    # checkpoints without their row counts (an older version's) are refused, not misnumbered
    _run_interrupted(monkeypatch, lambda n, k: k == 1, small_model_dir, [src], out, **opts)
    (parts / "chunk-000000.rows.json").unlink()
    with pytest.raises(InputFormatError, match="lacks its row count.*without --resume"):
        _run(small_model_dir, [src], out, resume=True, **opts)


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


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", ".xlsx"])
def test_lone_surrogate_escapes_outside_the_text_are_repaired_with_a_warning(small_model_dir, tmp_path, suffix):
    # acceptance 2b, finding 6: a "\ud800" escape outside the text became U+FFFD without the row's warning, and
    # one in the text made an error saying the file's bytes were not valid in its encoding
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "t", "text": "\\ud83d \\u6bba\\u3059\\u305e", "note": "\\ud800"}\n'
                    b'{"id": "n", "text": "ok", "note": "\\ud800"}\n'
                    b'{"id": "d", "text": "ok", "meta": {"a": ["\\udc80"]}, "\\ud800x": 1}\n'
                    b'{"id": "b", "text": "ok", "note": "\xff"}\n'  # a bad byte outside the text, as before
                    b'{"id": "p", "text": "\\u516c\\u5712\\ud83d\\ude00"}\n')
    out = tmp_path / f"out{suffix}"
    res = _run(small_model_dir, [src], out)
    assert res.rows == 5 and res.scored == 4 and res.by_error == {"undecodable": 1} and res.row_warnings == 4
    rows = {r["id"]: r for r in B.iter_scored(out)}
    assert rows["t"]["error"].startswith("text contains an unpaired surrogate (U+D83D) at character 0; ")
    assert "bytes" not in rows["t"]["error"] and rows["t"]["text"] == "\ufffd 殺すぞ"
    escaped = "unpaired UTF-16 surrogates (JSON escapes such as \\ud800 without their pair) replaced with U+FFFD in "
    assert rows["t"]["warning"] == rows["n"]["warning"] == escaped + "field 'note'"
    assert rows["n"]["note"] == "\ufffd" and not rows["n"].get("error") and rows["n"]["verdict"] == "inquiry"
    assert rows["d"]["warning"] == escaped + "fields 'meta', '\ufffdx'" and rows["d"]["\ufffdx"] in (1, "1")
    assert rows["b"]["warning"] == "bytes not valid UTF-8 replaced with U+FFFD in field 'note'"
    assert not rows["p"].get("warning") and rows["p"]["text"] == "公園😀" and rows["p"]["verdict"]


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


# -- acceptance defects: long cells, encodings, own output, workers, cells, headers, dates, folders, formulas --

NOISE = "騒音がひどい、毎晩眠れない。\n"
THREAT = "殺すぞ。夜道に気をつけろよ。"


def _raw_csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.mark.parametrize("body", [
    pytest.param(NOISE * 9_500, id="142k-chars-over-many-lines"),
    pytest.param("x" * 2_100_000, id="2MB-one-line-over-the-field-limit"),
    pytest.param("騒" * 700_000, id="2MB-one-line-japanese"),
])
def test_an_over_long_cell_is_one_too_long_row_and_the_next_records_are_scored(small_model_dir, tmp_path, body):
    src = _raw_csv(tmp_path / "long.csv", ["受付番号", "内容"],
                   [["R6-00001", body], ["R6-00002", TEXTS[0]], ["R6-00003", THREAT]])
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, text_col="内容", id_col="受付番号")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert res.rows == 3 and res.by_error == {"too_long": 1} and res.scored == 2
    assert rows[0]["受付番号"] == "R6-00001" and rows[0]["source_record"] == "2"  # its other columns are kept
    assert [r["受付番号"] for r in rows[1:]] == ["R6-00002", "R6-00003"] and rows[2]["verdict"] == "harassment"
    assert "R6-00001 too_long" in res.format()


ENCODED_FILES = [
    # (rows as (id, name, text), encoding, bad bytes appended to row 3's text, detected)
    pytest.param("cp932", b"\x85\x40", "cp932", id="cp932-one-bad-byte"),
    pytest.param("cp932", b"", "cp932", id="cp932-clean"),
    pytest.param("utf-8", "窓口の対応がひどかった。".encode("cp932"), "utf-8", id="utf8-one-cp932-cell"),
    pytest.param("euc_jp", b"", "euc_jp", id="euc-jp"),
    pytest.param("utf-8-sig", b"", "utf-8-sig", id="bom"),
]


def _encoded_csv(path: Path, encoding: str, bad: bytes) -> Path:
    rows = [("1", "山田", TEXTS[0]), ("2", "佐藤", TEXTS[1]), ("3", "鈴木", TEXTS[4]), ("4", "高橋", TEXTS[5])]
    data = b"".join(",".join(r).encode(encoding if encoding != "utf-8-sig" else "utf-8") + (bad if r[0] == "3" else b"")
                    + b"\r\n" for r in [("受付番号", "氏名", "内容"), *rows])
    path.write_bytes((b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b"") + data)
    return path


@pytest.mark.parametrize(("encoding", "bad", "detected"), ENCODED_FILES)
def test_one_bad_byte_costs_one_row_not_the_file(small_model_dir, tmp_path, encoding, bad, detected):
    src = _encoded_csv(tmp_path / "in.csv", encoding, bad)
    assert B.detect_encoding(src) == detected
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, text_col="内容", id_col="受付番号")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["氏名"] for r in rows] == ["山田", "佐藤", "鈴木", "高橋"]  # read in the right encoding
    assert res.errors == (1 if bad else 0) and res.scored == 4 - res.errors
    if bad:
        assert rows[2]["error"] and "not valid" in rows[2]["error"] and rows[2]["受付番号"] == "3"
        assert "3 undecodable" in res.format()


_LONG_COMPLAINT = "区役所の職員の対応について申し上げます。先日窓口で長時間待たされた上に説明も不十分でした。" * 8
MIXED_ENCODINGS = [
    # (rows after the header "id,text": (id, text, its encoding, bytes appended); detected; ids of error rows)
    pytest.param([(str(i), TEXTS[i % len(TEXTS)], "utf-8", b"") for i in range(20)]
                 + [("99", _LONG_COMPLAINT, "cp932", b"")],
                 "utf-8", ["99"], id="20-utf8-rows-and-one-long-cp932-row"),
    pytest.param([("1", "道路に穴", "utf-8", b""), ("2", "殺すぞ", "utf-8", b""),
                  ("3", "ゴミの収集日を教えてください。", "cp932", b"")],
                 "utf-8", ["3"], id="short-utf8-rows-that-also-decode-as-cp932"),
    pytest.param([(str(i), TEXTS[i % len(TEXTS)], "cp932", b"") for i in range(6)]
                 + [("7", "窓口の対応がひどかった。", "cp932", b"\x85\x40")],
                 "cp932", ["7"], id="cp932-file-with-one-bad-byte"),
    pytest.param([("1", _LONG_COMPLAINT, "cp932", b""), ("2", TEXTS[1], "cp932", b"\x85\x40"),
                  ("3", TEXTS[2], "cp932", b"")],
                 "cp932", ["2"], id="cp932-file-with-a-long-row-and-one-bad-byte"),
]


@pytest.mark.parametrize(("lines", "detected", "lost"), MIXED_ENCODINGS)
def test_one_row_in_another_encoding_costs_that_row_only(small_model_dir, tmp_path, lines, detected, lost):
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\r\n" + b"".join(f"{i},{t}".encode(e) + bad + b"\r\n" for i, t, e, bad in lines))
    assert B.detect_encoding(src) == detected
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, id_col="id")
    rows = list(B.iter_scored(out))
    assert [r["id"] for r in rows if r.get("error")] == lost
    assert res.scored == len(lines) - len(lost)
    # the other rows are read in the right encoding, not as mojibake
    assert [r["text"] for r in rows if not r.get("error")] == [t for i, t, _, _ in lines if i not in lost]


def test_a_misdecoded_header_says_the_encoding_looks_wrong(small_model_dir, tmp_path):
    src = _encoded_csv(tmp_path / "sjis.csv", "cp932", b"")
    with pytest.raises(InputFormatError, match="encoding looks wrong.*--encoding cp932") as e:
        _run(small_model_dir, [src], tmp_path / "o.jsonl", text_col="内容", encoding="utf-8")
    assert "\ufffd" not in str(e.value) and "columns:" not in str(e.value)
    ascii_text = _raw_csv(tmp_path / "ascii.csv", ["text", "受付番号"], [[TEXTS[0], "1"]], encoding="cp932")
    with pytest.raises(InputFormatError, match="--id-column.*encoding looks wrong.*--encoding cp932"):
        _run(small_model_dir, [ascii_text], tmp_path / "o.jsonl", id_col="受付番号", encoding="utf-8")


def test_the_runs_own_output_is_never_read_as_input(small_model_dir, tmp_path, cli_app):
    d = tmp_path / "glob"
    d.mkdir()
    _write_csv(d / "2023.csv", _rows(3))
    _write_csv(d / "2024.csv", _rows(2))
    out = d / "scored.csv"
    first = _run(small_model_dir, [str(d / "*.csv")], out, sender_col="channel")
    again = _run(small_model_dir, [str(d / "*.csv")], out, sender_col="channel")  # matches scored(.senders).csv
    assert first.rows == again.rows == 5
    assert sorted(w for w in again.warnings if "skipped" in w) == [
        f"{d / 'scored.csv'} skipped: it is the output of this run",
        f"{d / 'scored.senders.csv'} skipped: it is the per-sender summary of this run"]
    src = d / "2023.csv"
    before = src.read_bytes()
    for args in (["-o", str(src)], ["-o", str(tmp_path / "x.csv"), "--sender-column", "channel",
                                     "--sender-summary", str(src)]):
        r = CliRunner().invoke(cli_app, ["batch", str(src), *args, "--model", str(small_model_dir), "--jobs", "1"])
        assert r.exit_code == 2 and "overwrite" in r.stderr, r.output
    assert src.read_bytes() == before


def _children(pid: int) -> list[int]:
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError):
                if int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # (a zombie waits for its new parent to reap it: it is gone)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal and /proc are Linux features")
def test_pool_workers_exit_when_the_driver_is_killed(small_model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _rows(3000))
    parts = tmp_path / "out.csv.parts"
    cmd = [sys.executable, "-m", "complaint_triage.batch_cli", "batch", str(src), "-o", str(tmp_path / "out.csv"),
           "--model", str(small_model_dir), "--chunk-rows", "5", "--jobs", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (parts / "chunk-000001.jsonl").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        workers = _children(proc.pid)
        assert len(workers) == 2
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    for w in left:  # (do not leave them behind if the test fails)
        os.kill(w, signal.SIGKILL)
    assert not left, "pool workers outlived the killed driver"


def test_a_bad_cell_does_not_cost_the_record(small_model_dir, tmp_path):
    header = "受付番号,氏名,内容,備考\r\n".encode()
    src = tmp_path / "desk.csv"
    src.write_bytes(b"".join([
        header,
        f'R-1,山田,"{TEXTS[0]}\r\n（続き）",\r\n'.encode(),                    # row 2, lines 2-3
        b"R-2," + "鈴木".encode("cp932") + f",{TEXTS[2]},\r\n".encode(),           # a bad byte in 氏名
        "R-3,佐藤,".encode() + "窓口".encode("cp932") + ",要折返し\r\n".encode(),  # a bad byte in 内容
        f"R-4,高橋,{TEXTS[4]},備考,余分\r\n".encode(),                           # 5 fields for 4
        b",,,\r\n",                                                         # an empty row: skipped
        " , ,\u3000,\r\n".encode(),                                                 # spaces: a record
        ",伊藤,,\r\n".encode(),                                                      # no id, empty text
    ]))
    out = tmp_path / "out.csv"
    res = _run(small_model_dir, [src], out, text_col="内容", id_col="受付番号", encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["source_record"] for r in rows] == ["2", "3", "4", "5", "7", "8"]
    ok, bad_name, bad_text, extra, spaces, no_id = rows
    assert "empty" in spaces["error"] and not spaces["verdict"]
    assert ok["verdict"] and not ok["warning"] and not ok["error"]
    assert bad_name["verdict"] == "harassment" and bad_name["氏名"] == "\ufffd\ufffd\ufffd\ufffd"
    assert bad_name["warning"] == "bytes not valid in the file's encoding replaced with U+FFFD in column '氏名'"
    assert bad_text["error"] and not bad_text["verdict"]
    assert (bad_text["受付番号"], bad_text["氏名"], bad_text["備考"]) == ("R-3", "佐藤", "要折返し")  # columns kept
    assert extra["error"] == "row 5 (line 6) has 5 fields, the header has 4" and extra["内容"] == TEXTS[4]
    assert not extra["verdict"] and no_id["氏名"] == "伊藤" and "empty" in no_id["error"]
    assert res.row_warnings == 1 and "1 row with cells repaired" in res.format()
    summary = res.format()
    assert "None" not in summary and f"{src}:8 empty" in summary and "R-3 undecodable" in summary


def test_duplicate_column_names_keep_every_column(small_model_dir, tmp_path):
    import openpyxl

    src = _raw_csv(tmp_path / "dup.csv", ["受付番号", "備考", "内容", "備考"],
                   [["1", "電話受付", TEXTS[0], "要折返し"], ["2", "窓口", TEXTS[2], "警察に相談済み"]])
    book = tmp_path / "dup.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["受付番号", "備考", "内容", "備考"])
    wb.active.append(["3", "メール", TEXTS[1], "至急"])
    wb.save(book)
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src, book], out, text_col="内容")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["備考"], r["備考.1"]) for r in rows] == [("電話受付", "要折返し"), ("窓口", "警察に相談済み"),
                                                      ("メール", "至急")]
    assert len([w for w in res.warnings if "'備考' → '備考.1'" in w]) == 2  # once per file


def _titled_book(path: Path, *, memo_rows: int = 1) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "令和6年度"
    ws.append(["受付一覧（令和6年度）"])
    ws.merge_cells("A1:E1")
    ws.append(["受付日", "受付番号", "担当課", "メールアドレス", "内容"])
    for i, t in enumerate(TEXTS[:4]):
        ws.append([datetime(2024, 4, 1 + i), f"X-{i + 1:04d}", "環境課", f"user{i}@example.jp", t])
    memo = wb.create_sheet("メモ")
    for i in range(memo_rows):
        memo.append([f"集計用のメモ {i}"])
    wb.save(path)
    return path


def test_xlsx_header_below_a_title_row(small_model_dir, tmp_path):
    src = _titled_book(tmp_path / "book.xlsx")
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, text_col="内容", id_col="受付番号")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["受付番号"] for r in rows] == ["X-0001", "X-0002", "X-0003", "X-0004"] and res.scored == 4
    assert rows[0]["source_record"] == "令和6年度!3" and "受付一覧（令和6年度）" not in rows[0]
    assert f"{src}: sheet '令和6年度': header taken from row 2; the rows above it are ignored" in res.warnings
    assert any("'メモ' skipped" in w for w in res.warnings)  # one row, no data: skipped and said so
    assert _run(small_model_dir, [src], tmp_path / "one.jsonl", text_col="内容", sheet="令和6年度").rows == 4
    with pytest.raises(InputFormatError, match="'メモ' holds 2 rows.*--sheet"):
        _run(small_model_dir, [_titled_book(tmp_path / "b2.xlsx", memo_rows=3)], tmp_path / "x.jsonl",
             text_col="内容")


DATES = [
    # a datetime64 from a Parquet column: its .item() is an int of nanoseconds, not a date
    (np.datetime64("2024-01-01T00:00:00.000000000"), datetime(2024, 1, 1)),
    (np.datetime64("2024-03-05"), datetime(2024, 3, 5)),
    (np.datetime64("NaT"), None),
    ("令和6年4月1日", datetime(2024, 4, 1)),
    ("R6.4.1", datetime(2024, 4, 1)),
    ("H31.4.30", datetime(2019, 4, 30)),
    ("平成31年4月30日", datetime(2019, 4, 30)),
    ("昭和64年1月7日", datetime(1989, 1, 7)),
    ("令和元年5月1日 10時30分", datetime(2019, 5, 1, 10, 30)),
    ("㋿6年4月1日", datetime(2024, 4, 1)),
    ("Ｒ６．４．１", datetime(2024, 4, 1)),
    ("45383", datetime(2024, 4, 1)),
    (45383, datetime(2024, 4, 1)),
    (45383.5, datetime(2024, 4, 1, 12)),
    ("４５３８３", datetime(2024, 4, 1)),
    ("2024/4/1 9:05", datetime(2024, 4, 1, 9, 5)),
    ("12345", None),  # not a plausible Excel date
    (True, None),
    ("不明", None),
    ("令和6年13月1日", None),
    ("2024-04-01T09:00+09:00", datetime(2024, 4, 1, 9)),
    ("2024-04-01T00:00Z", datetime(2024, 4, 1, 9)),
    # numbers and times that are not dates (a JSONL cell can hold any number)
    pytest.param(int("1" + "0" * 400), None, id="401-digit-int"),
    pytest.param(-int("1" + "0" * 400), None, id="negative-401-digit-int"),
    (float("nan"), None),
    (float("inf"), None),
    (Decimal("sNaN"), None),
    (Decimal("1e999"), None),
    (pd.NaT, None),
    ("9999-12-31T23:00-01:00", None),  # after year 9999 in Japan time
    ("0001-01-01T00:00-01:00", datetime(1, 1, 1, 10)),
    # the time of Japanese forms and of mail exports (these were read as midnight or not at all)
    ("2024年4月1日(月) 10時30分", datetime(2024, 4, 1, 10, 30)),
    ("2024年4月1日（月曜日）10時", datetime(2024, 4, 1, 10)),
    ("2024/04/01 午前10:00", datetime(2024, 4, 1, 10)),
    ("2024/04/01 午後3時", datetime(2024, 4, 1, 15)),
    ("令和6年4月1日（月）午後3時15分", datetime(2024, 4, 1, 15, 15)),
    ("2024年4月1日 午前12時", datetime(2024, 4, 1, 0)),
    ("2024/4/1 3:05 PM", datetime(2024, 4, 1, 15, 5)),
    ("2024年4月1日 10時30分15秒", datetime(2024, 4, 1, 10, 30, 15)),
    ("2024年4月1日 25時", None),
    ("Mon, 1 Apr 2024 10:00:00 +0900", datetime(2024, 4, 1, 10)),
    ("1 Apr 2024 01:00:00 +0000", datetime(2024, 4, 1, 10)),
    ("Mon, 31 Feb 2024 10:00:00 +0900", None),
    ("04/01/2024", None),  # month and day order unknown: not guessed
    # re-read finding 10: no zone in an export is Japan time (was read as UTC: 19:00); 10時半; an hour with PM alone
    ("Mon, 1 Apr 2024 10:00:00", datetime(2024, 4, 1, 10)),
    ("1 Apr 2024 10:00", datetime(2024, 4, 1, 10)),
    ("1 Apr 2024 10:00 JST", datetime(2024, 4, 1, 10)),
    ("Mon, 1 Apr 2024 01:00:00 -0000", datetime(2024, 4, 1, 10)),
    ("1 Apr 2024 01:00 GMT", datetime(2024, 4, 1, 10)),
    ("1 Apr 2024 01:00 UT", datetime(2024, 4, 1, 10)),
    ("2024年4月1日 10時半", datetime(2024, 4, 1, 10, 30)),
    ("令和6年4月1日（月）午後3時半", datetime(2024, 4, 1, 15, 30)),
    ("2024/4/1 12 PM", datetime(2024, 4, 1, 12)),
    ("2024/4/1 9am", datetime(2024, 4, 1, 9)),
    ("2024/4/1 12 AM", datetime(2024, 4, 1, 0)),
]


@pytest.mark.parametrize(("value", "expected"), DATES)
def test_parse_date(value, expected):
    assert B.parse_date(value) == expected


_ANY_CELL = st.one_of(
    st.integers(), st.integers(min_value=-(10**1000), max_value=10**1000),
    st.floats(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=True, allow_infinity=True),
    st.text(), st.from_regex(r"\d{5}(\.\d+)?", fullmatch=True),
    st.from_regex(r"(令和|平成|昭和|R|H)(元|\d{1,2})[年.](\d{1,2})[月.](\d{1,2})日?", fullmatch=True),
    st.datetimes(timezones=st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                                             max_value=timedelta(hours=23, minutes=59)))),
    st.datetimes(timezones=st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                                             max_value=timedelta(hours=23, minutes=59))))
    .map(datetime.isoformat),
    st.booleans(), st.none(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers()),
)


@settings(max_examples=500, deadline=None)
@given(_ANY_CELL)
def test_parse_date_never_raises(value):
    got = B.parse_date(value)
    assert got is None or (type(got) is datetime and got.tzinfo is None)


def test_a_huge_number_in_a_date_column_is_not_a_date(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    huge = "1" + "0" * 400  # a JSON integer far beyond float range
    src.write_text(f'{{"text": "{TEXTS[0]}", "date": "令和6年4月1日", "from": "a"}}\n'
                   f'{{"text": "{TEXTS[4]}", "date": {huge}, "from": "b"}}\n', encoding="utf-8")
    res = _run(small_model_dir, [src], tmp_path / "o.jsonl", date_col="date", sender_col="from")
    assert (res.rows, res.scored, res.dates, res.unparsed_dates) == (2, 2, 2, 1)
    assert "1 of 2 non-empty 'date' values are not dates" in res.format()


def test_summary_counts_dates_it_cannot_read(small_model_dir, tmp_path):
    dates = ["令和6年4月1日", "R6.4.8", "45390", "不明", "", "2024/13/45"]
    src = _raw_csv(tmp_path / "d.csv", ["受付日", "電話", "内容"],
                   [[d, "03-1111-2222", TEXTS[i % 3]] for i, d in enumerate(dates)])
    res = _run(small_model_dir, [src], tmp_path / "o.jsonl", text_col="内容", sender_col="電話", date_col="受付日")
    assert (res.unparsed_dates, res.dates) == (2, 5)
    assert "2 of 5 non-empty '受付日' values are not dates" in res.format()

    sender = json.loads(res.sender_output.read_text(encoding="utf-8").splitlines()[0])
    assert sender["first_date"] == "2024-04-01 00:00:00" and sender["last_date"] == "2024-04-08 00:00:00"


def test_eml_folders_are_read_with_their_subfolders(small_model_dir, tmp_path, cli_app):
    emls = tmp_path / "mail"
    (emls / "2024-06").mkdir(parents=True)
    (emls / "2024-07").mkdir()
    (emls / ".trash").mkdir()
    (emls / "2024-06" / "b.eml").write_bytes(bytes(_mail("a@example.jp", "件名", TEXTS[0], 1)))
    (emls / "2024-06" / "a.eml").write_bytes(bytes(_mail("b@example.jp", "件名", TEXTS[2], 2)))
    (emls / "2024-07" / "c.EML").write_bytes(bytes(_mail("c@example.jp", "件名", TEXTS[1], 3)))
    (emls / "top.eml").write_bytes(bytes(_mail("d@example.jp", "件名", TEXTS[4], 4)))
    (emls / ".trash" / "old.eml").write_bytes(bytes(_mail("e@example.jp", "件名", TEXTS[5], 5)))
    (emls / "export.msg").write_bytes(b"\xd0\xcf\x11\xe0")
    (emls / "2024-07" / "memo.txt").write_text("メモ", encoding="utf-8")
    res = _run(small_model_dir, [emls], tmp_path / "o.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["source_record"] for r in rows] == ["2024-06/a.eml", "2024-06/b.eml", "2024-07/c.EML", "top.eml"]
    assert res.scored == 4 and f"{emls}: 2 files skipped, not .eml (.msg 1, .txt 1)" in res.warnings
    (tmp_path / "empty").mkdir()
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("x", encoding="utf-8")
    for folder in ("empty", "txt"):
        r = CliRunner().invoke(cli_app, ["batch", str(tmp_path / folder), "-o", str(tmp_path / "x.jsonl"),
                                         "--model", str(small_model_dir), "--jobs", "1"])
        assert r.exit_code == 2 and "no records" in r.stderr, r.output


FORMULAS = ["=HYPERLINK(\"http://evil.example/\",\"詳細\") 職員の対応がひどい。", "+81-90-1234-5678",
            "-", "@担当者 返事をしろ。", "\t=1+2", "\r=1", "'=既に引用符つき", "'普通の引用符"]


def test_csv_output_cells_are_never_formulas(small_model_dir, tmp_path):
    rows = [{"id": str(i), "電話": f, "text": f if i % 2 else TEXTS[i % len(TEXTS)]} for i, f in enumerate(FORMULAS)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + '{"id": 99, "電話": -5, '
                   '"text": "住民票の写しはコンビニで取れますか。"}\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    _run(small_model_dir, [src], out)
    got = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    cells = [v for r in got[:-1] for v in r.values() if v]
    assert not [v for v in cells if v[0] in "=+-@\t\r"]  # no string a spreadsheet would run
    assert got[0]["電話"] == "'" + FORMULAS[0] and got[6]["電話"] == "''=既に引用符つき"
    assert got[7]["電話"] == "'普通の引用符" and got[8]["電話"] == "-5"  # a number is written as it is
    back = list(B.iter_scored(out))
    assert [r["電話"] for r in back] == [*FORMULAS, "-5"]  # reading it back undoes the quotes
    jl = tmp_path / "out.jsonl"
    _run(small_model_dir, [src], jl)
    assert [json.loads(line)["電話"] for line in jl.read_text(encoding="utf-8").splitlines()] == [*FORMULAS, -5]


def test_resumed_csv_output_with_formula_cells_matches_an_uninterrupted_run(small_model_dir, tmp_path, monkeypatch):
    rows = _rows(20)
    for i, f in enumerate(FORMULAS):
        rows[2 * i]["topic"] = f
    src = _write_csv(tmp_path / "in.csv", rows)
    ref = tmp_path / "ref.csv"
    _run(small_model_dir, [src], ref, chunk_rows=3)
    out = tmp_path / "out.csv"
    _run_interrupted(monkeypatch, lambda n, k: n == 4, small_model_dir, [src], out, chunk_rows=3)
    res = _run(small_model_dir, [src], out, chunk_rows=3, resume=True)
    assert res.resumed_chunks == 3 and out.read_bytes() == ref.read_bytes()


# -- batch operations acceptance defects: one run per output, sender summary path, folder and code
# -- fingerprints, sender grouping, Dask failures, masking, full disk, Ctrl-C -----------------------


def test_a_second_run_on_an_output_another_run_holds_is_refused(small_model_dir, tmp_path):
    """Two runs on the same -o mixed their rows (they shared <out>.parts and <out>.partial)."""
    fcntl = pytest.importorskip("fcntl")
    src = _write_csv(tmp_path / "in.csv", _rows(6))
    out = tmp_path / "out.csv"
    lock = tmp_path / "out.csv.lock"
    with open(lock, "w", encoding="ascii") as held:  # a live run holds the lock
        held.write("4242\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for resume in (False, True):
            with pytest.raises(ComplaintTriageError, match=r"another batch run \(process 4242\) is writing "
                                                            rf"{re.escape(str(out))} .*another -o"):
                _run(small_model_dir, [src], out, resume=resume)
        assert not out.exists() and not (tmp_path / "out.csv.parts").exists()  # nothing of the live run touched
    # the lock file of a run that is gone (killed) blocks nothing; a finished run removes its own
    res = _run(small_model_dir, [src], out)
    assert res.rows == 6 and not lock.exists()


@pytest.mark.parametrize(("summary", "says"), [
    ("out.csv", "is the output of this run"),
    ("sub/../out.csv", "is the output of this run"),
    ("link.csv", "is the output of this run"),  # a symbolic link to the output
    ("s.txt", "cannot tell the output format"),
    ("adir", "is a folder"),
])
def test_a_bad_sender_summary_path_is_refused_before_scoring(small_model_dir, tmp_path, summary, says):
    """--sender-summary equal to -o replaced the scored records by the sender table; a bad summary
    name was found after all the scoring, and the corrected rerun was then refused."""
    src = _write_csv(tmp_path / "in.csv", _rows(6))
    (tmp_path / "adir").mkdir()
    out = tmp_path / "out.csv"
    out.write_text("an earlier output\n", encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(out)
    with pytest.raises(InputFormatError, match=says):
        _run(small_model_dir, [src], out, sender_col="channel", sender_output=tmp_path / summary)
    assert out.read_text(encoding="utf-8") == "an earlier output\n" and not (tmp_path / "out.csv.parts").exists()
    res = _run(small_model_dir, [src], out, sender_col="channel", sender_output=tmp_path / "who.csv")
    assert res.rows == 6 and all(r["verdict"] for r in B.iter_scored(out))


def _eml_tree(root: Path) -> Path:
    for year in ("2023", "2024"):
        (root / year).mkdir(parents=True)
        for i in range(4):
            (root / year / f"{i:04d}.eml").write_bytes(bytes(_mail(f"u{i}@example.jp", "件名", TEXTS[i], i + 1)))
    return root


@pytest.mark.parametrize("change", ["none", "file-added-in-a-subfolder", "file-edited-in-a-subfolder"])
def test_resume_notices_changes_inside_the_subfolders_of_an_eml_folder(small_model_dir, tmp_path, monkeypatch,
                                                                       change):
    """A folder was fingerprinted by its own mtime: a mail added in a sub-folder was lost, another doubled."""
    mail = _eml_tree(tmp_path / "mail")
    out = tmp_path / "o.jsonl"
    _run_interrupted(monkeypatch, lambda n, k: n == 3, small_model_dir, [mail], out, chunk_rows=2)
    top = mail.stat().st_mtime_ns
    if change == "file-added-in-a-subfolder":
        (mail / "2023" / "0000a.eml").write_bytes(bytes(_mail("new@example.jp", "件名", TEXTS[5], 9)))
    elif change == "file-edited-in-a-subfolder":
        (mail / "2024" / "0001.eml").write_bytes(bytes(_mail("u1@example.jp", "件名", TEXTS[6], 2)))
    assert mail.stat().st_mtime_ns == top  # (the folder itself looks unchanged)
    if change == "none":
        res = _run(small_model_dir, [mail], out, chunk_rows=2, resume=True)
        assert res.resumed_chunks == 2 and res.rows == 8
    else:
        with pytest.raises(InputFormatError, match="cannot resume.*other inputs"):
            _run(small_model_dir, [mail], out, chunk_rows=2, resume=True)


def test_keep_sender_ids_groups_a_senders_spellings_as_the_pseudonyms_do(small_model_dir, tmp_path):
    """--keep-sender-ids grouped the raw strings: 7 senders instead of 2, and the report disagreed."""
    from complaint_triage.report import write_report

    mails = ["taro@example.jp", "Taro <TARO@example.jp>", "TARO@EXAMPLE.JP", "山田太郎 <taro@example.jp>"]
    phones = ["090-1234-5678", "09012345678", "090 1234 5678"]
    rows = [[f"A{i:03d}", f"2024-05-{1 + 2 * i:02d}", mails[i % 4], TEXTS[0]] for i in range(8)]
    rows += [[f"B{i:03d}", f"2024-06-{1 + 3 * i:02d}", phones[i % 3], TEXTS[5]] for i in range(6)]
    src = _raw_csv(tmp_path / "same.csv", ["受付番号", "受付日", "送信者", "内容"], rows)
    seen = {}
    for keep in (False, True):
        out = tmp_path / f"keep-{keep}.csv"
        res = _run(small_model_dir, [src], out, text_col="内容", sender_col="送信者", date_col="受付日",
                   keep_sender_ids=keep)
        summary = list(csv.DictReader(io.StringIO(res.sender_output.read_text(encoding="utf-8-sig"))))
        seen[keep] = sorted((s["contacts"], s["longest_run_7d"], s["repeat_count"], s["repetition"]) for s in summary)
        assert write_report(out, tmp_path / f"report-{keep}.html").senders == res.senders == 2
    assert seen[True] == seen[False]
    assert {s["sender_id"] for s in csv.DictReader(io.StringIO(
        (tmp_path / "keep-True.senders.csv").read_text(encoding="utf-8-sig")))} == {"taro@example.jp", "09012345678"}


def test_mask_sender_column_replaces_the_raw_sender_by_its_id(small_model_dir, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    crm = tmp_path / "crm.parquet"
    pq.write_table(pa.table({"顧客ID": pa.array([1001, 1002, 1001], pa.int64()), "text": list(TEXTS[:3])}), crm)
    web = tmp_path / "web.jsonl"
    web.write_text(json.dumps({"顧客ID": "Taro <taro@example.jp>", "text": TEXTS[3]}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    out = tmp_path / "masked.parquet"
    res = _run(small_model_dir, [crm, web], out, sender_col="顧客ID", mask_sender_column=True)
    rows = pq.read_table(out).to_pylist()
    assert [r["顧客ID"] for r in rows] == [r["sender_id"] for r in rows]
    assert all(r["sender_id"].startswith("S-") for r in rows) and rows[0]["sender_id"] == rows[2]["sender_id"]
    assert res.senders == 3
    kept = tmp_path / "kept.jsonl"
    _run(small_model_dir, [web], kept, sender_col="顧客ID")  # (by default the raw column is kept as it was)
    assert next(B.iter_scored(kept))["顧客ID"] == "Taro <taro@example.jp>"
    with pytest.raises(InputFormatError, match="--mask-sender-column needs --sender-column"):
        _run(small_model_dir, [web], tmp_path / "x.jsonl", mask_sender_column=True)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@pytest.mark.parametrize("fails", ["write-and-close", "close"])
def test_a_full_disk_while_writing_the_output_leaves_no_partial_and_resume_finishes(small_model_dir, tmp_path,
                                                                                   monkeypatch, suffix, fails):
    """ENOSPC during the final write left <out>.partial (the writer's close failed again in the cleanup)
    and said neither the path nor what to do."""
    import errno

    src = _write_csv(tmp_path / "in.csv", _rows(12))
    ref = tmp_path / f"ref{suffix}"
    _run(small_model_dir, [src], ref, chunk_rows=5)
    out = tmp_path / f"out{suffix}"
    cls = B._JsonlWriter if suffix == ".jsonl" else B._CsvWriter
    real_close = cls.close

    def full(self, rows):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close_full(self):  # closing flushes the buffer: it fails too, after closing the file
        real_close(self)
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        if fails == "write-and-close":
            m.setattr(cls, "write", full)
        m.setattr(cls, "close", close_full)
        with pytest.raises(OSError, match=rf"cannot write {re.escape(str(out))} \(No space left on device\).*--resume"):
            _run(small_model_dir, [src], out, chunk_rows=5)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == [f"out{suffix}.parts"]
    res = _run(small_model_dir, [src], out, chunk_rows=5, resume=True)
    assert res.resumed_chunks == 3 and out.read_bytes() == ref.read_bytes()


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_earlier_ones(small_model_dir, tmp_path, monkeypatch):
    import errno

    src = _write_csv(tmp_path / "in.csv", _rows(12))
    out = tmp_path / "out.jsonl"
    real, calls = os.fsync, {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 3:  # run.json, chunk 0, chunk 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", fsync)
        with pytest.raises(OSError, match=r"cannot save the checkpoint chunk-000001\.jsonl.*No space.*--resume"):
            _run(small_model_dir, [src], out, chunk_rows=5)
    assert sorted(p.name for p in (tmp_path / "out.jsonl.parts").iterdir()) == ["chunk-000000.jsonl", "run.json"]
    assert _run(small_model_dir, [src], out, chunk_rows=5, resume=True).resumed_chunks == 1


def test_a_full_disk_while_saving_the_run_description_says_what_to_do(small_model_dir, tmp_path, monkeypatch):
    import errno

    src = _write_csv(tmp_path / "in.csv", _rows(12))
    out, ref = tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    _run(small_model_dir, [src], ref, chunk_rows=5)

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", fsync)
        with pytest.raises(OSError, match=r"cannot save the checkpoint run\.json.*No space.*--resume"):
            _run(small_model_dir, [src], out, chunk_rows=5)
    assert list((tmp_path / "out.jsonl.parts").iterdir()) == []  # no run.json, no .tmp left behind
    res = _run(small_model_dir, [src], out, chunk_rows=5, resume=True)  # nothing to resume: starts over
    assert res.resumed_chunks == 0 and out.read_bytes() == ref.read_bytes()


@pytest.fixture()
def fresh_code_version() -> Iterator[None]:
    """Recompute what identifies the code (cached per process) before and after the test."""
    B._code_version.cache_clear()
    yield
    B._code_version.cache_clear()


@pytest.mark.parametrize("upgrade", ["package_version", "source_files", "accelerator_source"])
def test_resume_is_refused_after_an_upgrade_of_complaint_triage(small_model_dir, tmp_path, monkeypatch,
                                                                 fresh_code_version, upgrade):
    """A resumed run mixed the scores of two code versions (same model pinned with --model)."""
    import shutil

    import complaint_triage

    src = _write_csv(tmp_path / "in.csv", _rows(10))
    out = tmp_path / "o.jsonl"
    _run_interrupted(monkeypatch, lambda n, k: n == 2, small_model_dir, [src], out, chunk_rows=3)
    if upgrade == "package_version":
        monkeypatch.setattr(complaint_triage, "__version__", "99.0")
    else:  # a reinstall from another commit (new signal patterns, say): same version, other code
        pkg = tmp_path / "pkg"
        here = Path(B.__file__).resolve().parent
        for f in [*here.rglob("*.py"), *here.rglob("*.c")]:
            (pkg / f.relative_to(here)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, pkg / f.relative_to(here))
        # (the C accelerator is rebuilt from its source: another source, perhaps other scores)
        changed = pkg / ("normalize.py" if upgrade == "source_files" else "_speedups.c")
        assert changed.is_file()
        with open(changed, "a", encoding="utf-8") as f:
            f.write("\n/* changed */\n" if changed.suffix == ".c" else "# changed\n")
        monkeypatch.setattr(B, "__file__", str(pkg / "batch.py"))
    B._code_version.cache_clear()
    with pytest.raises(InputFormatError, match="cannot resume: .*another version of complaint-triage"):
        _run(small_model_dir, [src], out, chunk_rows=3, resume=True)


# -- Dask failures: a clear error within a bounded time, and a hint to resume

def test_a_scheduler_address_where_nothing_answers_fails_within_the_timeout(small_model_dir, tmp_path):
    """The dashboard's port (8787 for 8786) or any HTTP server: the Dask handshake waited forever."""
    import socket

    pytest.importorskip("distributed")
    src = _write_csv(tmp_path / "in.csv", _rows(4))
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(ComplaintTriageError, match=f"no Dask scheduler answered at {address} within 1 s"):
            _run(small_model_dir, [src], tmp_path / "o.csv", engine="dask", scheduler=address, scheduler_timeout=1)
        assert time.monotonic() - t0 < 30


def test_a_scheduler_without_workers_and_a_bad_address_are_errors(small_model_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    src = _write_csv(tmp_path / "in.csv", _rows(4))
    with pytest.raises(InputFormatError, match="'notanaddress' is not a Dask scheduler address"):
        _run(small_model_dir, [src], tmp_path / "o.csv", engine="dask", scheduler="notanaddress")
    assert not (tmp_path / "o.csv.parts").exists()  # refused before anything is written
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster:
        with pytest.raises(ComplaintTriageError, match="has no worker .*within 1 s"):
            _run(small_model_dir, [src], tmp_path / "o.csv", engine="dask", scheduler=cluster.scheduler_address,
                 scheduler_timeout=1)


@contextlib.contextmanager
def _dask_logs() -> Iterator[list[str]]:
    """The records Dask's loggers (a worker's "Compute Failed" among them) emit in this process, formatted
    with their tracebacks."""
    import logging

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(logging.Formatter().format(record))

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("distributed", "distributed.worker", "distributed.scheduler")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield seen
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def _messages(e: BaseException) -> str:
    """Every message of an exception and of the exceptions chained to it."""
    out = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        out.append(f"{type(x).__name__}: {x} {x.args!r}")
        todo += [x.__cause__, x.__context__]
    return "\n".join(out)


def test_a_failure_on_the_dask_cluster_says_to_resume_and_the_resumed_run_is_complete(small_model_dir, tmp_path,
                                                                                       monkeypatch):
    """A lost scheduler or a worker's error ended in a raw traceback without the hint to resume; and
    (acceptance 5b, finding 1) a worker's error quoting a record went into the worker's log and the
    driver's error as it was."""
    distributed = pytest.importorskip("distributed")
    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text", *(f"{i},{TEXTS[i % 8]}（{i}）" for i in range(12))]) + "\n", encoding="utf-8")
    ref = tmp_path / "ref.jsonl"
    _run(small_model_dir, [src], ref, with_evidence=False)
    real = B.score_frame

    def flaky(df, **kw):
        if any("（11）" in t for t in df["text"]):  # (the last partition: the first ones are saved)
            raise UnicodeError(f"a worker failed on {SECRET}")
        return real(df, **kw)

    opts = {"engine": "dask", "dask_blocksize": 200, "with_evidence": False}
    out = tmp_path / "out.jsonl"
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster:
        opts["scheduler"] = cluster.scheduler_address
        with monkeypatch.context() as m, _dask_logs() as logs:
            m.setattr(B, "score_frame", flaky)
            with pytest.raises(ComplaintTriageError, match=r"the Dask run failed \(UnicodeError while scoring a "
                                                            r"partition on a worker.*"
                                                            r"out\.jsonl\.parts: rerun the same command with --resume"
                               ) as e:
                _run(small_model_dir, [src], out, **opts)
        assert any("Compute Failed" in line for line in logs)  # (the worker logged its error: without the record)
        for secret in ("山田花子", "090-1234-5678"):
            assert secret not in _messages(e.value) and not any(secret in line for line in logs), secret
        assert "chunk-000000.jsonl" in {p.name for p in (tmp_path / "out.jsonl.parts").iterdir()}
        res = _run(small_model_dir, [src], out, resume=True, **opts)
    assert res.resumed_chunks >= 1 and res.chunks >= 3 and out.read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("blocksize", [None, 200])
def test_a_file_pandas_cannot_read_on_the_cluster_is_an_input_error_that_quotes_nothing(small_model_dir, tmp_path,
                                                                                        monkeypatch, blocksize):
    """Acceptance 5b, findings 1 and 3: pandas' error on a worker, which may quote the file, was logged
    and raised as it was, and reported as a cluster failure to --resume."""
    distributed = pytest.importorskip("distributed")
    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text", *(f"{i},{TEXTS[i % 8]}（{i}）" for i in range(11)), f"11,{SECRET}"]) + "\n",
                   encoding="utf-8")
    real = pd.read_csv

    def failing(data, *args, **kw):  # (the head sample, read on the driver with nrows, is read)
        if kw.get("nrows") is None and SECRET.encode() in data.getvalue():
            raise ValueError(f"cannot parse {SECRET!r}")
        return real(data, *args, **kw)

    out = tmp_path / "out.jsonl"
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster:
        with monkeypatch.context() as m, _dask_logs() as logs:
            m.setattr(pd, "read_csv", failing)
            hint = "drop --blocksize" if blocksize else "score it with --engine local"
            with pytest.raises(InputFormatError, match=r"in\.csv: the Dask engine cannot read it \(pandas' CSV "
                                                       rf"reader failed with ValueError\); {hint}") as e:
                _run(small_model_dir, [src], out, engine="dask", scheduler=cluster.scheduler_address,
                     dask_blocksize=blocksize, with_evidence=False)
    assert "--resume" not in str(e.value)
    for secret in ("山田花子", "090-1234-5678"):
        assert secret not in _messages(e.value) and not any(secret in line for line in logs), secret
    assert not out.exists() and not (tmp_path / "out.jsonl.parts").exists()  # (no checkpoint to resume)


#: (error pandas raises, where: on the driver's sample of the file's head or on a worker, whether it is the file's
#: fault): only errors of reading the file are input errors (exit 2, no checkpoint); a worker with another pandas
#: (TypeError, ImportError) or short of memory is a cluster failure to --resume, on the driver as on a worker
READ_FAILURES = [
    pytest.param(ValueError, "worker", True, id="ValueError-worker"),
    pytest.param(pd.errors.ParserError, "sample", True, id="ParserError-sample"),
    pytest.param(UnicodeDecodeError, "worker", True, id="UnicodeDecodeError-worker"),
    pytest.param(csv.Error, "worker", True, id="csv.Error-worker"),
    pytest.param(TypeError, "worker", False, id="TypeError-worker"),
    pytest.param(ImportError, "worker", False, id="ImportError-worker"),
    pytest.param(MemoryError, "worker", False, id="MemoryError-worker"),
    pytest.param(MemoryError, "sample", False, id="MemoryError-sample"),
]


@pytest.mark.parametrize(("error", "where", "input_error"), READ_FAILURES)
def test_only_errors_of_reading_the_file_are_input_errors_on_the_dask_engine(small_model_dir, tmp_path, monkeypatch,
                                                                             error, where, input_error):
    """Re-read of session 25, finding 2: any error of pandas' reader counted as the file's fault (exit 2, the
    checkpoints deleted), a TypeError of a worker with another pandas among them; a MemoryError was the cluster's
    on a worker but the file's on the driver."""
    distributed = pytest.importorskip("distributed")
    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text", *(f"{i},{TEXTS[i % 8]}（{i}）" for i in range(11)), f"11,{SECRET}"]) + "\n",
                   encoding="utf-8")
    real = pd.read_csv

    def failing(data, *args, **kw):
        if (kw.get("nrows") is not None) == (where == "sample") and SECRET.encode() in data.getvalue():
            if error is UnicodeDecodeError:
                raise UnicodeDecodeError("utf-8", SECRET.encode(), 0, 1, "invalid start byte")
            raise error(f"cannot parse {SECRET!r}")
        return real(data, *args, **kw)

    out = tmp_path / "out.jsonl"
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster:
        with monkeypatch.context() as m, _dask_logs():
            m.setattr(pd, "read_csv", failing)
            with pytest.raises(ComplaintTriageError) as e:
                _run(small_model_dir, [src], out, engine="dask", scheduler=cluster.scheduler_address,
                     dask_blocksize=None if where == "sample" else 200, with_evidence=False)
    assert isinstance(e.value, InputFormatError) == input_error
    assert isinstance(e.value, B.DaskEngineError) != input_error
    kind = error.__name__ if error is not csv.Error else "Error"
    if input_error:
        assert f"the Dask engine cannot read it (pandas' CSV reader failed with {kind})" in str(e.value)
        assert not (tmp_path / "out.jsonl.parts").exists()
    else:
        assert f"the Dask run failed ({kind} while reading a partition" in str(e.value)
        assert "--resume" in str(e.value) and (tmp_path / "out.jsonl.parts").is_dir()
    for secret in ("山田花子", "090-1234-5678"):
        assert secret not in _messages(e.value), secret


def test_a_model_that_does_not_load_on_a_worker_says_why(small_model_dir, tmp_path, monkeypatch):
    """Re-read of session 25, finding 2: a worker's ModelLoadError (another scikit-learn) became "the Dask run
    failed (ModelLoadError while scoring a partition…)", without the versions to install."""
    distributed = pytest.importorskip("distributed")
    from complaint_triage.exceptions import ModelLoadError

    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text", *(f"{i},{TEXTS[i % 8]}（{i}）" for i in range(12))]) + "\n", encoding="utf-8")
    real = B.score_frame
    why = "the model at /srv/models/m-1 needs scikit-learn 1.6 (this process has 1.5): install the same versions"

    def old_sklearn(df, **kw):
        if not len(df):  # (the driver's empty frame, for the output's columns)
            return real(df, **kw)
        raise ModelLoadError(why)

    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster:
        with monkeypatch.context() as m, _dask_logs():
            m.setattr(B, "score_frame", old_sklearn)
            with pytest.raises(ModelLoadError) as e:
                _run(small_model_dir, [src], tmp_path / "out.jsonl", engine="dask",
                     scheduler=cluster.scheduler_address, with_evidence=False)
    assert str(e.value) == why


def test_dask_utf16_input_and_a_local_cluster_without_dashboard_port_warnings(small_model_dir, tmp_path):
    """--blocksize split UTF-16 files into undecodable pieces (a worker's UnicodeError traceback), and the
    local cluster warned "Port 8787 is already in use" though it serves no dashboard."""
    import socket
    import warnings

    pytest.importorskip("distributed")
    src = tmp_path / "u16.tsv"
    src.write_text("id\ttext\n" + "".join(f"{i}\t{TEXTS[i % 8]}\n" for i in range(6)), encoding="utf-16")
    assert B.detect_encoding(src) == "utf-16"
    with pytest.raises(InputFormatError, match="--blocksize cannot split .*UTF-16"):
        _run(small_model_dir, [src], tmp_path / "x.jsonl", engine="dask", dask_blocksize="1KB")
    local = tmp_path / "local.jsonl"
    _run(small_model_dir, [src], local)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(socket.socket())
        with contextlib.suppress(OSError):  # (if 8787 is taken already, it is taken)
            port.bind(("127.0.0.1", 8787))
            port.listen(1)
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        _run(small_model_dir, [src], tmp_path / "dask.jsonl", engine="dask")
    assert not [w for w in caught if "already in use" in str(w.message)]
    assert (tmp_path / "dask.jsonl").read_bytes() == local.read_bytes()


def _ctrl_c_batch(tmp_path: Path, args: list[str], ready: Callable[[int], bool], what: str) -> None:
    """Run ``complaint-triage batch ARGS --quiet`` in a process group of its own, send the group SIGINT
    (as a terminal's Ctrl-C does) once ``ready(pid)`` holds, and check that it stopped with 130, the hint
    to resume, and no traceback."""
    cmd = [sys.executable, "-m", "complaint_triage.batch_cli", "batch", *args, "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ready(proc.pid):
            assert proc.poll() is None, proc.stderr.read().decode()  # (it ended before that)
            assert time.monotonic() < deadline, f"{what} never came"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = err.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text and "--resume" in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc are Linux features")
def test_ctrl_c_stops_the_run_without_worker_tracebacks(small_model_dir, tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) printed one KeyboardInterrupt traceback per pool
    worker, and could leave the driver hanging at exit."""
    src = _write_csv(tmp_path / "in.csv", _rows(400))
    workers: list[int] = []

    def started(pid: int) -> bool:  # the workers have started: they are loading the model
        workers[:] = _children(pid)
        return len(workers) >= 2

    _ctrl_c_batch(tmp_path, [str(src), "-o", str(tmp_path / "out.csv"), "--model", str(small_model_dir),
                             "--chunk-rows", "5", "--jobs", "2"], started, "two pool workers")
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc are Linux features")
def test_ctrl_c_stops_a_local_dask_cluster_without_worker_tracebacks(small_model_dir, tmp_path):
    """Ctrl-C during a run on a local Dask cluster printed each Dask worker's KeyboardInterrupt traceback
    (the workers share the terminal's process group)."""
    pytest.importorskip("distributed")
    src = _write_csv(tmp_path / "in.csv", _rows(3000))
    parts = tmp_path / "out.csv.parts"

    def scoring(pid: int) -> bool:  # a chunk has been written: the workers are scoring
        return parts.is_dir() and any(p.name.startswith("chunk-") for p in parts.iterdir())

    _ctrl_c_batch(tmp_path, [str(src), "-o", str(tmp_path / "out.csv"), "--model", str(small_model_dir),
                             "--engine", "dask", "--blocksize", "4KB", "--jobs", "2"], scoring, "a scored chunk")


def _dask_log_level() -> int:
    import logging

    return logging.getLogger("distributed.worker").getEffectiveLevel()


def test_a_local_clusters_workers_log_only_critical_errors():
    """At a Ctrl-C a Dask worker whose heartbeat met the closing scheduler printed a CommClosedError
    traceback (silence_logs reaches the scheduler and nannies in the driver, not the workers)."""
    import logging

    distributed = pytest.importorskip("distributed")
    before = os.environ.get("DASK_LOGGING__DISTRIBUTED")
    with contextlib.ExitStack() as stack:
        client = B._dask_client(distributed, stack, scheduler=None, jobs=1, timeout=30)
        assert set(client.run(_dask_log_level).values()) == {logging.CRITICAL}
    assert os.environ.get("DASK_LOGGING__DISTRIBUTED") == before  # (the driver's environment is restored)


def test_after_ctrl_c_dask_objects_freed_half_built_print_nothing():
    """A Ctrl-C inside distributed's Future.__init__ left a future whose __del__ failed as it was freed,
    printed as an 'Exception ignored in' traceback after the resume hint; other objects' still print."""

    def broken(module: str) -> object:
        def __del__(self):  # noqa: N807  (like Future.__del__ with _client never set)
            raise AttributeError("'Future' object has no attribute '_client'")
        __del__.__module__ = module
        return type("Future", (), {"__module__": module, "__del__": __del__})()

    reported: list[str] = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: reported.append(u.object.__module__)
    try:
        B._silence_dask_teardown()
        installed = sys.unraisablehook
        B._silence_dask_teardown()  # a second Ctrl-C in the same process: no second wrapper
        assert sys.unraisablehook is installed
        for module in ("distributed.client", "dask.base", "myapp.things"):
            obj = broken(module)
            del obj
            gc.collect()
    finally:
        sys.unraisablehook = old
    assert reported == ["myapp.things"]


def test_progress_total_skips_lines_that_hold_only_a_byte_order_mark(small_model_dir, tmp_path):
    """The reader drops a BOM on any line (files joined with cat), so a BOM-only line is blank to both."""
    bom = b"\xef\xbb\xbf"
    src = tmp_path / "joined.jsonl"
    src.write_bytes(bom + "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in TEXTS[:3]).encode()
                    + bom + b"\n" + bom + json.dumps({"text": TEXTS[3]}, ensure_ascii=False).encode() + b"\n")
    buf = io.StringIO()
    res = _run(small_model_dir, [src], tmp_path / "o.jsonl", progress=True, progress_stream=buf)
    assert res.rows == 4 and "4/4 rows" in buf.getvalue()


@pytest.mark.parametrize(("raw", "kind"), [
    (b"Subject: x\r\n\r\n   \r\n", "empty"),
    (b"Content-Type: text/plain\r\n\r\n> old quoted\r\n", "empty"),
    (b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: application/pdf\r\n'
     b'Content-Disposition: attachment; filename="a.pdf"\r\n\r\nJVBERi0=\r\n--B--\r\n', "empty"),
    (b'Content-Type: multipart/alternative; boundary="BB"\r\n\r\n--CC\r\nContent-Type: text/plain\r\n\r\n'
     b"hi\r\n--CC--\r\n", "email"),
])
def test_an_email_with_nothing_to_score_is_counted_by_why(raw, kind):
    from complaint_triage.batch import _error_kind
    from complaint_triage.email import parse_email

    reason = parse_email(raw).empty_reason()
    assert reason is not None
    assert _error_kind(reason) == kind


@pytest.mark.parametrize("text", ["", "  \n", "\x00\u200b"])
def test_blank_and_invisible_texts_are_counted_as_empty(text):
    from complaint_triage.batch import _error_kind
    from complaint_triage.exceptions import InvalidTextError
    from complaint_triage.results import check_text

    with pytest.raises(InvalidTextError) as e:
        check_text(text)
    assert _error_kind(str(e.value)) == "empty"


def test_a_jsonl_input_without_the_text_field_in_any_record_is_refused(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "body": "ゴミの日はいつですか"}\n{"id": 2, "body": "道路の穴"}\n', encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"no record of .*in\.jsonl has the field 'text' \(fields: id, body\)"):
        _run(small_model_dir, [src], tmp_path / "out.jsonl")
    # some records without it are error rows, as before
    src.write_text('{"id": 1, "text": "ゴミの日はいつですか"}\n{"id": 2, "body": "道路の穴"}\n', encoding="utf-8")
    res = _run(small_model_dir, [src], tmp_path / "out2.jsonl", with_evidence=False)
    assert res.by_error == {"missing": 1}


def test_cp932_bytes_that_python_maps_to_private_use_characters_count_as_undecodable(small_model_dir, tmp_path):
    # Python's cp932 codec turns 0xA0 and 0xFD-0xFF into U+F8F0-U+F8F3 without an error
    src = tmp_path / "in.csv"
    src.write_bytes("id,text,備考\r\n".encode("cp932")
                    + "1,ゴミの日は".encode("cp932") + b"\xff\xa0" + "いつですか,なし\r\n".encode("cp932")
                    + "2,道路の穴を直してください,メモ".encode("cp932") + b"\xfd" + b"\r\n")
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, with_evidence=False)
    rows = list(B.iter_scored(out))
    assert res.by_error == {"undecodable": 1} and rows[0]["error"]
    assert rows[1]["verdict"] and "備考" in (rows[1]["warning"] or "")
    assert not any("\uf8f0" <= ch <= "\uf8f3" for r in rows for v in r.values() if isinstance(v, str) for ch in v)


def test_an_xlsx_output_says_which_cells_it_cut_to_excels_limit(small_model_dir, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.csv"
    src.write_text("id,text,memo\n1,ゴミの日はいつですか," + "あ" * 40_000 + "\n2,道路の穴,短い\n", encoding="utf-8")
    out = tmp_path / "out.xlsx"
    _run(small_model_dir, [src], out, with_evidence=False)
    ws = openpyxl.load_workbook(out, read_only=True)["scored"]
    rows = list(ws.iter_rows(values_only=True))
    head = list(rows[0])
    memo, warning = head.index("memo"), head.index("warning")
    assert rows[1][memo].endswith("…[truncated]") and len(rows[1][memo]) <= 32_767
    assert "column 'memo' cut to 32,747 characters here (an Excel cell's limit)" in rows[1][warning]
    assert len(rows[2]) <= warning or rows[2][warning] is None  # (read-only rows end at their last value)


def test_xlsx_sheets_without_records_are_named_in_the_warnings(small_model_dir, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "A"
    ws.append(["id", "text"])
    ws.append([1, "ゴミの日はいつですか"])
    wb.create_sheet("headeronly").append(["id", "text"])
    wb.create_sheet("blank")
    wb.save(src)
    res = _run(small_model_dir, [src], tmp_path / "out.jsonl", with_evidence=False)
    assert res.rows == 1
    assert f"{src}: sheet 'headeronly' has a header but no data rows" in res.warnings
    assert f"{src}: sheet 'blank' skipped: it is empty" in res.warnings


@pytest.mark.parametrize(("data", "read"), [
    # finding 10 (acceptance 2): a text of only spaces in a text-only CSV was skipped as a blank row
    pytest.param(f'text\n"   "\n"\u3000"\n\n{TEXTS[1]}\n', [("2", True), ("3", True), ("5", False)], id="text-only"),
    # reread #3: a stray line of spaces (fewer fields than the header) was an error row, and Dask
    # refused the file; a row of spaces with the header's width is a record
    pytest.param(f"id,text\n1,{TEXTS[1]}\n2,{TEXTS[2]}\n \n", [("2", False), ("3", False)], id="stray-line-at-the-end"),
    pytest.param(f"id,text\r\n1,{TEXTS[1]}\r\n \r\n , \r\n2,{TEXTS[2]}\r\n\u3000\r\n",
                 [("2", False), ("4", True), ("5", False)], id="stray-lines-and-a-row-of-spaces"),
])
def test_rows_of_spaces_are_records_in_both_engines(small_model_dir, tmp_path, dask_scheduler, data, read):
    src = tmp_path / "in.csv"
    src.write_bytes(data.encode())
    got = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.jsonl"
        res = _run(small_model_dir, [src], out, engine=engine, scheduler=dask_scheduler if engine == "dask" else None,
                   with_evidence=False)
        got[engine] = [(r["source_record"], bool(r.get("error")) and "empty" in r["error"]) for r in B.iter_scored(out)]
        assert res.by_error.get("malformed", 0) == 0
    assert got["local"] == got["dask"] == read


def test_xlsx_rows_of_spaces_are_records_as_in_a_csv(small_model_dir, tmp_path):
    """Reread #4: a sheet row whose cells held only spaces was skipped without a word."""
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["id", "text"], [1, "   "], [None, "\u3000"], [None, None], ["\u3000", None], [3, TEXTS[1]]):
        ws.append(row)
    wb.save(src)
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, with_evidence=False)
    assert [(r["source_record"], r["text"]) for r in B.iter_scored(out)] == [
        ("Sheet!2", "   "), ("Sheet!3", "\u3000"), ("Sheet!5", None), ("Sheet!6", TEXTS[1])]
    assert res.by_error == {"empty": 2, "missing": 1}


@pytest.mark.parametrize("lines", [["1,ゴミの日はいつですか", ",,", "2,道路の穴"], [",,", "1,ゴミの日はいつですか"]])
def test_the_dask_engine_refuses_a_blank_record_wider_than_the_header(small_model_dir, tmp_path, dask_scheduler,
                                                                      lines):
    # pandas trips on it (or, first, shifts every column), though the local engine skips a blank record
    src = tmp_path / "in.csv"
    src.write_text("\n".join(["id,text", *lines, ""]), encoding="utf-8")
    row = 2 + lines.index(",,")
    with pytest.raises(InputFormatError, match=rf"row {row} has 3 fields, the header has 2"):
        _run(small_model_dir, [src], tmp_path / "dask.jsonl", engine="dask", scheduler=dask_scheduler)


def test_the_dask_engine_reads_cp932_single_bytes_as_undecodable_like_the_local_engine(small_model_dir, tmp_path,
                                                                                          dask_scheduler):
    src = tmp_path / "in.csv"
    src.write_bytes("id,text,備考\r\n".encode("cp932")
                    + "1,ゴミの日は".encode("cp932") + b"\xff\xa0" + "いつですか,なし\r\n".encode("cp932")
                    + "2,道路の穴を直してください,メモ".encode("cp932") + b"\xfd" + b"\r\n")
    got = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.jsonl"
        res = _run(small_model_dir, [src], out, engine=engine, scheduler=dask_scheduler if engine == "dask" else None,
                   with_evidence=False)
        got[engine] = (res.by_error, [(r.get("error") is not None, r.get("warning")) for r in B.iter_scored(out)])
    assert got["local"] == got["dask"] and got["local"][0] == {"undecodable": 1}


def test_a_jsonl_line_too_long_to_read_may_hold_the_text_field(small_model_dir, tmp_path, monkeypatch):
    from complaint_triage import io as cio

    monkeypatch.setattr(cio.jsonl_lines, "__defaults__", (200,))  # (the real limit is 64 MiB)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "あ" * 300}, ensure_ascii=False) + '\n{"id": 2, "memo": "x"}\n',
                   encoding="utf-8")
    res = _run(small_model_dir, [src], tmp_path / "out.jsonl", with_evidence=False)  # not refused
    assert res.rows == 2 and res.by_error["missing"] == 1


def test_a_single_sheet_without_rows_is_not_warned_about_twice(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["id", "text"])
    wb.save(src)
    scan = B._scan(B.expand_inputs([str(src)]), "text", None)
    assert scan.total == 0 and not any("has a header but no data rows" in w for w in scan.warnings)


def test_a_cell_merged_down_several_records_gives_each_its_value(small_model_dir, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "text", "担当課"])
    ws.append([1, "ゴミの日はいつですか", "清掃課"])
    ws.append([2, "税金の納付書が届きません", "税務課"])
    ws.append([3, "督促状の金額が違います", None])
    ws.append([4, "窓口の案内が分かりにくい", None])
    ws.merge_cells("C3:C5")  # 税務課 for records 2-4
    ws.append(["■ 5月分", None, None])
    ws.merge_cells("A6:C6")  # a title row across the columns: no record's value
    ws.append([5, "保育園の申込みについて", "保育課"])
    ws.append([6, None, "保育課"])
    ws.merge_cells("B7:B8")  # a message merged down its follow-up row: scored once, never copied
    wb.save(src)
    out = tmp_path / "out.jsonl"
    _run(small_model_dir, [src], out, with_evidence=False)
    rows = list(B.iter_scored(out))
    assert [r["担当課"] for r in rows[:4]] == ["清掃課", "税務課", "税務課", "税務課"]
    title = next(r for r in rows if r["id"] == "■ 5月分")
    assert title["error"] and not title["text"]
    assert rows[-2]["text"] == "保育園の申込みについて" and rows[-2]["verdict"]
    assert not rows[-1]["text"] and rows[-1]["error"]


def test_merged_ranges_are_read_from_the_sheet_xml(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(30):
        ws.append([i, f"text {i}", None])
    ws.merge_cells("C2:C4")
    ws.merge_cells("AA10:AB12")
    wb.save(src)
    ro = openpyxl.load_workbook(src, read_only=True)
    assert B._merged_ranges(ro, ro.active) == [(2, 3, 4, 3), (10, 27, 12, 28)]
    ro.close()


def test_a_merge_wider_than_one_column_or_taller_than_the_sheet_is_handled(small_model_dir, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "text", "担当課", "sender", "date"])
    ws.append([1, "ゴミの日はいつですか", "X課", None, None])
    ws.append([2, "道路の穴を直して", None, None, None])
    ws.merge_cells("C2:F3")  # several columns: left alone (it would make up senders and dates)
    ws.append([3, "公園の草刈り", "Y課", None, None])
    ws.append([4, "図書館の開館時間", None, None, None])
    ws.merge_cells("C4:C1048576")  # down to Excel's last row: costs nothing for rows that do not exist
    wb.save(src)
    out = tmp_path / "out.jsonl"
    _run(small_model_dir, [src], out, with_evidence=False, sender_col="sender")
    rows = list(B.iter_scored(out))
    assert [(r["担当課"], r["sender"]) for r in rows] == [("X課", None), (None, None), ("Y課", None), ("Y課", None)]
    assert "column_6" not in rows[0]


@pytest.mark.parametrize("ref", ['ref="c2:c4"', "ref='C2:C4'", 'ref = "C2:C4"', 'ref="$C$2:$C$4"'])
def test_merged_ranges_are_read_in_every_spelling_of_ref(tmp_path, ref):
    import zipfile

    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    for i in range(5):
        wb.active.append([i, f"text {i}", None])
    wb.active.merge_cells("C2:C4")
    wb.save(src)
    with zipfile.ZipFile(src) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    parts[sheet] = parts[sheet].replace(b'ref="C2:C4"', ref.encode())
    with zipfile.ZipFile(src, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    ro = openpyxl.load_workbook(src, read_only=True)
    assert B._merged_ranges(ro, ro.active) == [(2, 3, 4, 3)]
    ro.close()


# -- acceptance findings (session 23): output fidelity ---------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("-500", "-500"), ("+20", "+20"), ("-1.5e3", "-1.5e3"), ("+.5", "+.5"), ("1.5e3", "1.5e3"),
        ("+81-3-1234-5678", "'+81-3-1234-5678"),  # Excel computes it: still protected
        ("-", "'-"), ("-500円", "'-500円"), ("+1+1", "'+1+1"), ("-1e3)", "'-1e3)"), ("=1", "'=1"),
        ("'-500", "''-500"),  # already quoted: one more, so that reading it back restores it
    ],
)
def test_csv_output_leaves_plain_numbers_unquoted(cell, written):
    """Plain numbers from a CSV input were written '-500, '+20."""
    assert B._defuse(cell) == written and B._undefuse(written) == cell


def test_csv_output_of_signed_numbers_reads_back_as_written(small_model_dir, tmp_path):
    src = _raw_csv(tmp_path / "neg.csv", ["id", "金額", "電話", "text"],
                   [["1", "-500", "+81-3-1234-5678", "道路の穴を直してください。"],
                    ["2", "+20", "-", "ゴミの日を教えて"]])
    out = tmp_path / "out.csv"
    _run(small_model_dir, [src], out)
    got = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    assert [(r["金額"], r["電話"]) for r in got] == [("-500", "'+81-3-1234-5678"), ("+20", "'-")]
    assert [(r["金額"], r["電話"]) for r in B.iter_scored(out)] == [("-500", "+81-3-1234-5678"), ("+20", "-")]


def test_xlsx_output_writes_integers_excel_cannot_hold_as_text(small_model_dir, tmp_path):
    """int64 ids 1234567890123456789 read back as 1.234567890123457e+18 (and 2**53 + 1 as 2**53)."""
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.jsonl"
    ids = [1234567890123456789, 2**53 + 1, -(10**15), 999_999_999_999_999, 7]
    src.write_text("".join(json.dumps({"id": i, "text": "ゴミの日は？"}) + "\n" for i in ids), encoding="utf-8")
    out = tmp_path / "out.xlsx"
    _run(small_model_dir, [src], out, with_evidence=False)
    got = [r[0] for r in openpyxl.load_workbook(out, read_only=True)["scored"].iter_rows(min_row=2, values_only=True)]
    assert got == ["1234567890123456789", "9007199254740993", "-1000000000000000", 999_999_999_999_999, 7]


def test_xlsx_output_replaces_control_characters_one_for_one_and_says_so(small_model_dir, tmp_path):
    """Control characters (FileMaker's \\x0b line break) were stripped: evidence offsets pointed elsewhere."""
    openpyxl = pytest.importorskip("openpyxl")
    text = "前回の件\x0b\x0bまだ直っていない\x01担当者を出せ。土下座しろ。殺すぞ。"
    src = tmp_path / "ctl.jsonl"
    src.write_text(json.dumps({"id": 1, "text": text, "memo": "ok"}) + "\n", encoding="utf-8")
    out = tmp_path / "ctl.xlsx"
    _run(small_model_dir, [src], out)
    ws = openpyxl.load_workbook(out, read_only=True)["scored"]
    head, row = (list(r) for r in ws.iter_rows(values_only=True))
    got = dict(zip(head, row, strict=False))
    assert got["text"] == "前回の件\n\nまだ直っていない\ufffd担当者を出せ。土下座しろ。殺すぞ。"
    assert "control characters" in got["warning"] and "column 'text'" in got["warning"]
    evidence = json.loads(got["evidence"])
    assert evidence and all(text[e["start"]:e["end"]] == e["text"] for e in evidence)
    assert all(len(got["text"][e["start"]:e["end"]]) == len(e["text"]) for e in evidence)


def test_xlsx_output_wider_than_excel_is_refused_before_scoring(small_model_dir, tmp_path, monkeypatch):
    width = B._XLSX_MAX_COLUMNS - len(B.PREDICTION_COLUMNS) - 3 + 1  # one column too many with the predictions
    src = _raw_csv(tmp_path / "wide.csv", ["text", *(f"c{i}" for i in range(width - 1))],
                   [["ゴミの日は？", *["x"] * (width - 1)]])
    monkeypatch.setattr(B, "_get_triager", lambda *a, **k: pytest.fail("scored before refusing"))
    with pytest.raises(InputFormatError, match="16,384 of an Excel sheet: write .csv or .parquet"):
        _run(small_model_dir, [src], tmp_path / "wide.xlsx")
    assert not (tmp_path / "wide.xlsx").exists()
    B._check_xlsx_width("xlsx", B._XLSX_MAX_COLUMNS)  # exactly Excel's width is fine


def test_an_input_that_vanishes_mid_run_says_to_resume(small_model_dir, tmp_path, monkeypatch):
    """An input removed while the run read it gave a bare "[Errno 2] No such file or directory"."""
    first = _write_csv(tmp_path / "a.csv", _rows(6))
    gone = _write_csv(tmp_path / "vanish.csv", _rows(4))
    read_csv = B._read_csv

    def vanishing(src, *a, **k):
        if src.path.name == "vanish.csv":
            src.path.unlink()
        return read_csv(src, *a, **k)

    monkeypatch.setattr(B, "_read_csv", vanishing)
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputFormatError, match="disappeared during the run") as e:
        _run(small_model_dir, [first, gone], out, chunk_rows=3, jobs=1)
    assert "vanish.csv" in str(e.value) and "--resume" in str(e.value)
    assert (tmp_path / "out.jsonl.parts").is_dir() and not out.exists()


def test_a_jsonl_record_without_the_text_field_says_it_is_missing(small_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1}\n{"id": 2, "text": "図書館はどこですか"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, jobs=1)
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["error"] == "line 1: the field 'text' is missing" and "null" not in first["error"]
    assert res.by_error == {"missing": 1}


@pytest.mark.parametrize("first_bad", [True, False], ids=["bad-line-first", "bad-line-second"])
def test_a_jsonl_bad_byte_outside_the_text_keeps_every_field_and_is_a_warning(small_model_dir, tmp_path, first_bad):
    """Re-read finding: batch made such a line an error ("in the text", though the byte was in
    another field), and a first line it could not parse for the column scan lost its fields."""
    bad = '{"id": 1, "氏名": "'.encode() + b"\xff" + '", "text": "ゴミの日を教えてください"}\n'.encode()
    good = '{"id": 2, "氏名": "佐藤", "text": "騒音がひどい、何とかしてほしい"}\n'.encode()
    broken = '{"id": 3, "氏名": "鈴木", "text": "'.encode() + b"\xff" + '壊れた本文"}\n'.encode()
    src = tmp_path / "in.jsonl"
    src.write_bytes((bad + good if first_bad else good + bad) + broken)
    out = tmp_path / "out.jsonl"
    _run(small_model_dir, [src], out)
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert set(rows) == {1, 2, 3}
    assert rows[1]["氏名"] == "\ufffd" and "verdict" in rows[1] and "field '氏名'" in rows[1]["warning"]
    assert "error" not in rows[1] or rows[1]["error"] is None
    assert rows[3]["氏名"] == "鈴木" and "in the text" in rows[3]["error"]


@pytest.mark.parametrize(("value", "canonical"), [("MOB123456", "MOB123456"), ("TEL 12345", "TEL 12345"),
                                                  ("123456", "123456"), ("TEL090-1234-5678", "09012345678")])
def test_a_label_glued_to_a_short_number_is_not_a_phone_label(value, canonical):
    """Re-read round 2: MOB123456 lost its label and grouped with the customer id 123456."""
    assert B.SenderAggregator(key=None).sender_id(value) == canonical


# -- acceptance findings (acc5): batch reading its own CSV, two-row xlsx headers, uncomputed formulas ----

GUARDED = [  # (sender, text): cells batch's CSV output guards with a leading '
    ("+81-90-1234-5678", "-職員はクズだ。死ね。"),
    ("=1+1", "@区役所 道路を直してください。"),
    ("-500", "=HYPERLINK(\"http://x\",\"詳細\") 職員の対応がひどい。"),
    ("'=既に引用符つき", "'-既に引用符つきの苦情です。ふざけるな、殺すぞ。"),
]


def _guarded_source(tmp_path: Path) -> Path:
    """GUARDED as a JSONL file (its cells as they are: a CSV input would lose the quote of '=既に…)."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "sender": s, "text": t}, ensure_ascii=False) + "\n"
                           for i, (s, t) in enumerate(GUARDED, 1)), encoding="utf-8")
    return src


@pytest.mark.parametrize("second", ["csv", "jsonl", "xlsx"])
def test_batch_reads_its_own_csv_output_without_the_formula_guard(small_model_dir, tmp_path, second):
    """Batch kept the ' its CSV output adds: texts and senders gained a quote each round trip,
    evidence spans took it in and the sender's pseudonym changed."""
    src = _guarded_source(tmp_path)
    first = tmp_path / "r1.csv"
    _run(small_model_dir, [src], first, sender_col="sender")
    again = tmp_path / "r2.csv"
    _run(small_model_dir, [first], again, sender_col="sender")
    last = tmp_path / f"r3.{second}"
    _run(small_model_dir, [again], last, sender_col="sender")
    rounds = [list(B.iter_scored(p)) for p in (first, again, last)]
    for rows in rounds:
        assert [(r["sender"], r["text"]) for r in rows] == GUARDED
    kept = [[(r["sender_id"], r["evidence"]) for r in rows] for rows in rounds]
    assert kept[0] == kept[1] == kept[2]
    assert any(e["start"] == 0 and e["text"].startswith("-職員") for e in rounds[2][0]["evidence"])
    raw = list(csv.DictReader(io.StringIO(again.read_text(encoding="utf-8-sig"), newline="")))
    assert [(r["sender"], r["text"][:2]) for r in raw] == [
        ("'+81-90-1234-5678", "'-"), ("'=1+1", "'@"), ("-500", "'="), ("''=既に引用符つき", "''")]


@pytest.mark.parametrize(("cell", "read"), [
    ("'=1", "=1"), ("''=1", "'=1"), ("'+81-3-1234-5678", "+81-3-1234-5678"), ("'\t=1", "\t=1"),
    ("'-500", "'-500"),  # the guard never quotes a plain number: a genuine quote, kept
    ("'普通の引用符", "'普通の引用符"), ("'", "'"), ("''", "''"), ("-5", "-5"), ("=1", "=1"),
])
def test_only_the_quote_the_formula_guard_adds_is_removed(cell, read):
    assert B._undefuse(cell) == read and B._unguarded({"text": cell, "n": 5}) == {"text": read, "n": 5}


def test_a_csv_from_another_program_loses_a_quote_only_where_the_guard_would_have_put_one(small_model_dir, tmp_path):
    """The documented cost: batch cannot tell its own guard from a genuine quote before = + - @."""
    src = _raw_csv(tmp_path / "in.csv", ["id", "備考", "text"],
                   [["1", "'=既に引用符つき", "'-職員はクズだ。"], ["2", "'-500", "'ゴミの日を教えてください"]])
    out = tmp_path / "out.jsonl"
    _run(small_model_dir, [src], out)
    assert [(r["備考"], r["text"]) for r in B.iter_scored(out)] == [
        ("=既に引用符つき", "-職員はクズだ。"), ("'-500", "'ゴミの日を教えてください")]


def test_a_tsv_input_keeps_its_leading_quotes(small_model_dir, tmp_path):
    """Batch writes no TSV, so a TSV's quotes are data."""
    src = _raw_csv(tmp_path / "in.csv", ["id", "text"], [["1", "'-職員はクズだ。"]])
    tsv = tmp_path / "in.tsv"
    tsv.write_text(src.read_text(encoding="utf-8").replace(",", "\t"), encoding="utf-8")
    for path, text in ((src, "-職員はクズだ。"), (tsv, "'-職員はクズだ。")):
        out = tmp_path / f"{path.suffix[1:]}.jsonl"
        _run(small_model_dir, [path], out)
        assert [r["text"] for r in B.iter_scored(out)] == [text]



def test_the_dask_engine_reads_a_guarded_csv_as_the_local_engine(small_model_dir, tmp_path, dask_scheduler):
    first = tmp_path / "r1.csv"
    _run(small_model_dir, [_guarded_source(tmp_path)], first, sender_col="sender")
    outs = {}
    for engine in ("local", "dask"):
        outs[engine] = tmp_path / f"{engine}.csv"
        _run(small_model_dir, [first], outs[engine], engine=engine, scheduler=dask_scheduler, sender_col="sender")
    assert outs["local"].read_bytes() == outs["dask"].read_bytes()
    assert [(r["sender"], r["text"]) for r in B.iter_scored(outs["dask"])] == GUARDED


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_dask_engine_keeps_input_columns_named_like_prediction_columns(small_model_dir, tmp_path,
                                                                           dask_scheduler, kind):
    """Found with acc5 #1: on Dask, score_frame's columns replaced an input's verdict, categories or
    error (a labelled or scored file read again), so input_verdict held the new verdict."""
    rows = [{"id": "1", "verdict": "complaint", "categories": "", "error": "手入力",
             "text": "ふざけるな、殺すぞ。"},
            {"id": "2", "verdict": "inquiry", "categories": "x", "error": "", "text": "ゴミの日はいつですか。"}]
    if kind == "csv":
        src = _write_csv(tmp_path / "in.csv", rows)
    else:
        src = tmp_path / "in.parquet"
        pd.DataFrame(rows).to_parquet(src, index=False)
    outs = {}
    for engine in ("local", "dask"):
        outs[engine] = tmp_path / f"{engine}.csv"
        _run(small_model_dir, [src], outs[engine], engine=engine, scheduler=dask_scheduler)
    assert outs["local"].read_bytes() == outs["dask"].read_bytes()
    got = list(B.iter_scored(outs["dask"]))
    assert [(r["input_verdict"], r["input_categories"], r["input_error"]) for r in got] == [
        ("complaint", "", "手入力"), ("inquiry", "x", "")]


def _ledger(path: Path, *, title: bool = False, formulas: bool = False) -> Path:
    """A 台帳 with a two-row header: 番号 and text merged down, 受付 across 日付 and 担当課."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "台帳"
    top = 1
    if title:
        ws.append(["苦情受付台帳（令和6年度）"])
        ws.merge_cells("A1:D1")
        top = 2
    ws.append(["番号", "受付", None, "text"])
    ws.append([None, "日付", "担当課", None])
    ws.merge_cells(f"A{top}:A{top + 1}")
    ws.merge_cells(f"B{top}:C{top}")
    ws.merge_cells(f"D{top}:D{top + 1}")
    ws.append([1, datetime(2024, 4, 1), "道路課", "道路の陥没を直してください。"])
    ws.append([2, datetime(2024, 4, 2), "保育課", "保育園の入園結果に納得できません。説明してください。"])
    if formulas:
        ws.append([3, f"=B{top + 3}+1", "保育課", '="職員を"&"クビにしろ"'])
        ws.append([4, f"=B{top + 3}+2", "清掃課", "ゴミの日はいつですか。"])
        ws.append([None, f"=B{top + 3}+3", None, '="税金を"&"返せ"'])  # nothing but formulas: still a record
    wb.save(path)
    return path


@pytest.mark.parametrize("title", [False, True], ids=["header-on-row-1", "below-a-title-row"])
def test_a_two_row_xlsx_header_is_read_as_one_header(small_model_dir, tmp_path, title):
    """A merged two-row header gave columns 受付, column_3 and made the sub-header row an error record."""
    src = _ledger(tmp_path / "ledger.xlsx", title=title)
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out, date_col="日付", sender_col="担当課")
    rows = list(B.iter_scored(out))
    top = 2 if title else 1
    assert [(r["番号"], r["担当課"], r["source_record"]) for r in rows] == [
        (1, "道路課", f"台帳!{top + 2}"), (2, "保育課", f"台帳!{top + 3}")]
    assert not res.errors and all(r["日付"] for r in rows)
    assert (f"{src}: sheet '台帳': rows {top}-{top + 1} read as one header, each column named by its cell in row "
            f"{top + 1}, else row {top}: 番号, 日付, 担当課, text") in res.warnings
    assert any("header taken from row 2" in w for w in res.warnings) == title


@pytest.mark.parametrize(("header", "below", "down", "names"), [
    (["番号", "受付", None, "text"], [None, "日付", "担当課", None], {0, 3}, ["番号", "日付", "担当課", "text"]),
    (["番号", "text", "受付", None], [None, None, "日付", "担当課"], {0, 1}, ["番号", "text", "日付", "担当課"]),
    (["text", "受付", None], [None, "第1回", "1次対応"], {0}, ["text", "第1回", "1次対応"]),  # one digit: a name
    # rows that are records, not a second header:
    (["id", "text", "担当課"], ["x1", None, "清掃課"], {0, 1}, None),  # no blank header cell to fill
    (["id", "text", None], ["x1", None, "至急"], {0, 1}, None),  # x1 is under id, which heads no group
    (["id", "text", None], [None, None, "至急"], {0, 1}, None),  # the cell right of the text column
    (["番号", "受付", None, "text"], [None, datetime(2024, 4, 1), "道路課", None], {0, 3}, None),  # a date: data
    (["番号", "受付", None, "text"], [None, "日付", "担当課", "道路の陥没"], {0, 3}, None),  # a text
    ([None, "受付", "text"], ["区分", None, None], {2}, None),  # a blank first cell heads no group
    # reread #2: nothing shows it is a header (the names with nothing under them are not merged down)
    (["text", "相談者", None], [None, "山田花子", "090-1234-5678"], set(), None),
    (["text", "担当", None], [None, "福祉課", "メモ"], set(), None),
    (["番号", "受付", None, "text"], [None, "日付", "担当課", None], {3}, None),  # 番号 not merged down
    (["番号", "受付", None, "text"], [None, "日付", "担当課", None], {0}, None),  # nor the text column's
    # ... or its cells are values, though the names are merged down
    (["text", "相談者", None], [None, "山田花子", "090-1234-5678"], {0}, None),
    (["text", "相談者", None], [None, "山田花子", "ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ"], {0}, None),
    (["text", "受付", None], [None, "令和6年4月1日", "福祉課"], {0}, None),
    (["text", "受付", None], [None, "第３", "１２"], {0}, None),
])
def test_a_second_header_row_is_told_from_a_record(header, below, down, names):
    assert B._sub_header(header, below, header.index("text"), lambda: frozenset(down)) == names


def test_a_record_under_the_header_is_not_taken_for_a_second_header(small_model_dir, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "text", None, "担当課"])
    ws.append(["x1", None, "至急", "清掃課"])  # no text: an error record, as before
    ws.append(["x2", "ゴミの日はいつですか。", None, "清掃課"])
    wb.save(src)
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out)
    rows = list(B.iter_scored(out))
    assert [(r["id"], r["column_3"]) for r in rows] == [("x1", "至急"), ("x2", None)] and res.by_error == {"missing": 1}
    assert f"{src}: sheet 'Sheet': columns renamed to keep them apart: '' → 'column_3'" in res.warnings


@pytest.mark.parametrize("rows", [
    [["text", "相談者", None], [None, "山田花子", "090-1234-5678"]],
    [["text", "担当", None], [None, "福祉課", "メモ"]],
], ids=["a-name-and-a-phone-number", "a-section-and-a-note"])
def test_a_record_without_text_under_a_merged_name_is_not_a_second_header(small_model_dir, tmp_path, rows):
    """Reread #2: the row was read as the header's second row: the record vanished, its cells (a
    resident's name and phone number) were printed in the warning and became column names."""
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    ws.merge_cells("B1:C1")
    ws.append(["窓口の対応がひどい。", "佐藤", None])
    wb.save(src)
    out = tmp_path / "out.csv"
    res = _run(small_model_dir, [src], out)
    got = list(B.iter_scored(out))
    name = rows[0][1]
    assert [(r["source_record"], r[name], r["column_3"]) for r in got] == [
        ("Sheet!2", rows[1][1], rows[1][2]), ("Sheet!3", "佐藤", "")]
    assert res.by_error == {"missing": 1} and not any("one header" in w for w in res.warnings)
    assert not any(v in w for w in res.warnings for v in rows[1][1:])
    assert out.read_text(encoding="utf-8-sig").startswith(f"text,{name},column_3,")


def test_the_ledger_header_is_told_by_its_merges_in_a_read_only_workbook(tmp_path):
    """The merges are read from the sheet's XML: openpyxl's read-only mode does not parse them."""
    src = _ledger(tmp_path / "ledger.xlsx")
    wb = B._open_workbook(src, src, "")
    try:
        ws = wb["台帳"]
        h = B._xlsx_find_header(ws, "text", (), lambda: B._merged_ranges(wb, ws))
        assert (h.row, h.rows, h.names) == (1, 2, ["番号", "日付", "担当課", "text"])
        h = B._xlsx_find_header(ws, "text", (), list)  # the same sheet without its merges
        assert (h.row, h.rows, h.names) == (1, 1, ["番号", "受付", "column_3", "text"])
    finally:
        wb.close()


def _xml_part(path: Path, edit: Callable[[str], str]) -> None:
    """Rewrite the first sheet's XML of a workbook (as a program other than openpyxl would write it)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    name = "xl/worksheets/sheet1.xml"
    parts[name] = edit(parts[name].decode("utf-8")).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)


def test_an_xlsx_formula_never_computed_is_named_in_the_error(small_model_dir, tmp_path):
    """A formula without a stored result (a workbook written by a script) was "text is missing (null)"."""
    src = _ledger(tmp_path / "ledger.xlsx", formulas=True)
    out = tmp_path / "out.jsonl"
    res = _run(small_model_dir, [src], out)
    rows = list(B.iter_scored(out))
    assert [r["source_record"] for r in rows] == [f"台帳!{n}" for n in range(3, 8)]  # the formula-only row too
    assert rows[2]["error"] == rows[4]["error"] == B._UNCOMPUTED_TEXT and "Excel" in B._UNCOMPUTED_TEXT
    assert rows[3]["verdict"] and not rows[3]["error"]  # its text is a value: scored
    assert all(r["warning"] == "column '日付' read as empty: a formula never computed (open the workbook in Excel "
               "and save it)" for r in rows[2:])
    assert res.by_error == {"formula": 2} and res.rows == 5


def test_the_summary_counts_formula_warnings_apart_from_repaired_cells(small_model_dir, tmp_path):
    """Reread #6: rows with formulas never computed were "rows with cells repaired while reading"."""
    src = _ledger(tmp_path / "ledger.xlsx", formulas=True)
    res = _run(small_model_dir, [src], tmp_path / "out.jsonl")
    assert (res.formula_warnings, res.row_warnings) == (3, 0)
    summary = res.format()
    assert "repaired" not in summary
    assert ("formulas:   3 rows with formula cells never computed, read as empty (see the warning column; open "
            "the workbook in Excel and save it)") in summary


@pytest.mark.parametrize(("cell", "found"), [
    ('<c r="D5"><f>"職員を"&amp;"クビにしろ"</f><v /></c>', True),  # openpyxl, pandas
    ('<c r="D5"><f>"職員を"&amp;"クビにしろ"</f></c>', True),
    ('<c r="D5" t="str"><f>"職員を"&amp;"クビにしろ"</f><v>職員をクビにしろ</v></c>', False),  # saved by Excel
    ('<c r="D5" t="str"><f>IF(A5="","",A5)</f><v></v></c>', False),  # an empty string is a result
    ('<x:c r="D5"><x:f t="shared" si="0"/></x:c>', True),
    ('<c r="D5" t="inlineStr"><is><t>=1+1 と書いた</t></is></c>', False),  # a text, no formula
])
def test_formula_cells_without_a_stored_result_are_found_in_the_sheet_xml(tmp_path, cell, found):
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["id", "text"])
    wb.save(src)
    _xml_part(src, lambda x: x.replace("</sheetData>", f'<row r="5">{cell}</row></sheetData>').replace(
        "<sheetData/>", f'<sheetData><row r="5">{cell}</row></sheetData>'))
    ro = openpyxl.load_workbook(src, read_only=True, data_only=True)
    assert list(B._uncomputed_formulas(ro, ro.active)) == ([(5, frozenset({4}))] if found else [])
    ro.close()


def _future_that_gets_a_ctrl_c() -> type:
    """A class like distributed's Future whose ``__del__`` receives a Ctrl-C (SIGINT to this process):
    Python drops the KeyboardInterrupt raised there, as it did in CI."""
    import signal

    def __del__(self):  # noqa: N807  (a Dask future being freed)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # (the handler runs between bytecodes, still inside __del__)
            pass
    __del__.__module__ = "distributed.client"
    return type("Future", (), {"__module__": "distributed.client", "__del__": __del__})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals to oneself as on a terminal")
def test_a_ctrl_c_dropped_inside_a_dask_objects_del_is_still_seen():
    """CI once saw a Ctrl-C land in distributed's Future.__del__: Python dropped the KeyboardInterrupt
    ("Exception ignored in") and the run finished with exit 0.  The latch remembers it so that the Dask
    engine raises it again, and the dropped one is not printed."""
    import signal

    future = _future_that_gets_a_ctrl_c()
    reported: list[object] = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: reported.append(u.exc_type)
    try:
        latch = B._InterruptLatch()
        with latch:
            f = future()
            del f  # (the interrupt is raised inside __del__ and dropped by Python)
        assert latch.seen
        assert reported == []  # (dropped quietly: the engine raises it again)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # (restored)
    finally:
        sys.unraisablehook = old_hook


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals to oneself as on a terminal")
def test_the_dask_engine_stops_on_a_ctrl_c_python_dropped(monkeypatch, tmp_path):
    """The latch alone is not enough: the engine must raise the dropped Ctrl-C again (re-read finding:
    deleting that raise passed every test)."""
    import signal

    future = _future_that_gets_a_ctrl_c()
    scored: list[int] = []

    def fake_score(*args, interrupted=None, **kwargs):
        f = future()
        del f  # (the Ctrl-C lands in __del__ and Python drops it)
        scored.append(1)
        return 3

    monkeypatch.setattr(B, "_dask_score", fake_score)
    old_hook = sys.unraisablehook
    try:
        with pytest.raises(KeyboardInterrupt):
            B._dask_engine([], None, parts=tmp_path, done=set(), text_col="text", model_dir=tmp_path, max_chars=10,
                           with_evidence=False, jobs=1, scheduler=None, blocksize=None, timeout=1.0, progress=None)
    finally:
        sys.unraisablehook = old_hook
    assert scored == [1] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_csv_output_is_written_while_scoring_and_a_failed_write_falls_back(small_model_dir, tmp_path, monkeypatch):
    """Re-read finding: nothing failed when the streamed write was skipped or broken (the output is
    right either way, written afterwards).  Streaming reads each checkpoint once; a write that fails
    during scoring is redone after it, with the same bytes and no partial file left."""
    src = _write_csv(tmp_path / "in.csv", _rows(60))
    reads: list[int] = []
    real_read = B._read_part
    monkeypatch.setattr(B, "_read_part", lambda parts, k: reads.append(k) or real_read(parts, k))
    first = tmp_path / "a.csv"
    _run(small_model_dir, [src], first, chunk_rows=10)
    assert reads == list(range(6))  # (streamed: each chunk read back once, in order)

    reads.clear()
    real_add, calls = B._Assembly.add, []

    def failing_add(self, rows):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_add(self, rows)

    monkeypatch.setattr(B._Assembly, "add", failing_add)
    second = tmp_path / "b.csv"
    _run(small_model_dir, [src], second, chunk_rows=10)
    assert reads[:2] == [0, 1] and reads[2:] == list(range(6))  # (given up at chunk 1, then written whole)
    assert second.read_bytes() == first.read_bytes()
    assert not list(tmp_path.glob("*.partial"))


def test_an_email_row_whose_text_was_not_decoded_as_declared_goes_to_review():
    # (as the API decides, ParsedEmail.text_in_doubt: the scored text may be cut off or garbled)
    from complaint_triage.email import UNDECODED_TEXT, UNREADABLE_TEXT

    assert UNDECODED_TEXT in B._TEXT_IN_DOUBT.pattern and UNREADABLE_TEXT in B._TEXT_IN_DOUBT.pattern
    df = pd.DataFrame({
        "text": ["燃えるゴミの日を教えてください。"] * 3,
        "defects": ["", "CharsetFallback: declared utf-8, decoded as cp932; UndecodedText: the text part could "
                    "not be decoded as utf-8", "NoteUndecodedText: not a defect of ours"],
    })
    out = B.score_frame(df, text_col="text")
    assert out["review"].tolist()[1] is True
    assert out["verdict"].tolist()[1] == out["verdict"].tolist()[0]  # (the verdict is the model's)
    assert out["review"].tolist()[0] == out["review"].tolist()[2]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_batch_email_whose_base64_is_cut_off_goes_to_review(tmp_path, jobs):
    # (through run_batch: the local engine gave score_frame the texts alone, so the row above never
    # reached review in a real run; found by the session's last re-read)
    import base64

    body = "北沢公園の遊具が壊れたままです。早く直してください。".encode()
    cut = base64.b64encode(body).decode()[:45]
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "a.eml").write_bytes(
        b"From: r@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + cut.encode() + b"\r\n")
    out = tmp_path / "out.jsonl"
    B.run_batch([tmp_path / "mail"], out, jobs=jobs, progress=False)
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert "UndecodedText" in row["defects"] and row["verdict"] is not None
    assert row["review"] is True
