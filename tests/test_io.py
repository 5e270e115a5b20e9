"""Reading records from JSONL and CSV (io): one bad line or cell never costs the others."""

from __future__ import annotations

import csv
import io
import json
import warnings

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaint_triage.exceptions import InputFormatError
from complaint_triage.io import (
    UNDECODABLE,
    CsvReader,
    InputRecordError,
    InputWarning,
    _RecordParser,
    jsonl_fields_without,
    read_csv,
    read_jsonl,
    starts_json_array,
    surrogates_replaced,
    unique_names,
)

COMPLAINT = "ゴミが3回も回収されていません。至急対応してください。"
THREAT = "殺すぞ。夜道に気をつけろよ。"
NOISE = "騒音がひどい、毎晩眠れない。\n"


def _jsonl(*objs: object) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o, ensure_ascii=False).encode()) + b"\n" for o in objs)


def _csv(rows: list[list[str]], *, encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


def _read(data: bytes, **kw: object) -> list[tuple[int, object]]:
    kw.setdefault("text_column", "内容")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        return list(read_csv(io.BytesIO(data), **kw))


@pytest.fixture()
def csv_limit():
    """Set the csv module's process-wide field limit for one test, and restore it."""
    old = csv.field_size_limit()
    yield csv.field_size_limit
    csv.field_size_limit(old)


# -- JSONL ---------------------------------------------------------------------------

BAD_JSONL_LINES = [
    pytest.param(b"[" * 100_000, "nested too deeply", id="100k-nested-brackets"),
    pytest.param(b'{"text": "' + "窓口の対応".encode() + b'", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                 "nested too deeply", id="deep-value-in-object"),
    pytest.param(b'{"id": ' + b"9" * 5_000 + b', "text": "' + "道路に穴".encode() + b'"}', "integer",
                 id="5000-digit-id"),
    pytest.param(b'{"text": "\xff\xfe"}', "UTF-8", id="invalid-utf8"),
    pytest.param(b'{"text": ', "not valid JSON", id="truncated"),
    pytest.param('{"text": "窓口の対応", "受付": NaN}'.encode(), "NaN is not a JSON value", id="nan"),
    pytest.param('{"text": "窓口の対応", "点数": -Infinity}'.encode(), "-Infinity is not a JSON value", id="-infinity"),
    pytest.param('{"text": "窓口の対応", "点数": 1e999}'.encode(), "too large for a 64-bit float", id="overflow"),
    pytest.param('{"text": "窓口の対応", "text": "道路に穴"}'.encode(), "'text' appears twice", id="text-twice"),
    pytest.param('{"text": "窓口の対応", "meta": {"a": 1, "a": 2}}'.encode(), "'a' appears twice",
                 id="nested-key-twice"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_JSONL_LINES)
def test_read_jsonl_turns_a_bad_line_into_one_error_record(bad, reason):
    data = _jsonl({"id": "a", "text": COMPLAINT}, bad, {"id": "b", "text": THREAT})
    got = list(read_jsonl(io.BytesIO(data)))
    assert [n for n, _ in got] == [1, 2, 3]
    assert got[0][1]["text"] == COMPLAINT and got[2][1]["text"] == THREAT  # the run goes on
    err = got[1][1]
    assert isinstance(err, InputRecordError) and reason in err.error and err.error.startswith("line 2 ")
    assert "9999" not in err.error and "窓口" not in err.error  # no input text in the message


# -- CSV: numbering ------------------------------------------------------------------------


def test_read_csv_numbers_records_by_the_line_where_they_start():
    data = _csv([["受付番号", "内容"], ["1", "改行を\n含む\n本文です。"], ["2", COMPLAINT]]) + (
        "3,余分な,列\n".encode() + b"4,\x82\xa0\n" + "5,最後\n".encode())
    got = _read(data)
    assert [n for n, _ in got] == [2, 5, 6, 7, 8]  # physical lines: the first record spans 3
    assert got[0][1]["内容"] == "改行を\n含む\n本文です。"
    assert got[2][1].error == "line 6 has 3 fields, the header has 2"
    assert got[3][1].error.startswith("line 7 is not valid utf-8 text")
    rows = _read(data, numbering="row")
    assert [n for n, _ in rows] == [2, 3, 4, 5, 6] and rows[2][1].error.startswith("row 4 ")


def test_empty_rows_are_skipped_but_keep_their_numbers():
    data = "受付番号,内容,備考\n1,{}\n,,\n\n2,{},\n".format(COMPLAINT + ",", THREAT).encode()
    recs = list(CsvReader(io.BytesIO(data), text_column="内容"))
    assert [(r.row, r.line, r.values["受付番号"]) for r in recs] == [(2, 2, "1"), (5, 5, "2")]


#: Rows whose cells hold only spaces: records (their text is an error for the scorer), never
#: skipped as blank, also when the text is the only column.  (file, the texts read)
WHITESPACE_ROWS = [
    pytest.param(f'内容\n"   "\n"\u3000"\n\u3000\n{COMPLAINT}\n', ["   ", "\u3000", "\u3000", COMPLAINT],
                 id="text-only-quoted-spaces-and-ideographic-space"),
    pytest.param(f"内容\r\n  \r\n{THREAT}\r\n", ["  ", THREAT], id="text-only-unquoted-crlf"),
    pytest.param(f"受付番号,内容,備考\n , ,\u3000\n,\u3000,\n2,{THREAT},\n", [" ", "\u3000", THREAT],
                 id="cells-of-spaces"),
    # reread #3: a stray line of spaces, with fewer fields than the header, is no record (as before)
    pytest.param(f"受付番号,内容\n1,{COMPLAINT}\n2,{THREAT}\n \n", [COMPLAINT, THREAT], id="a-stray-line-at-the-end"),
    pytest.param(f"受付番号,内容,備考\r\n1,{COMPLAINT},\r\n\u3000\r\n , \r\n \t \r\n2,{THREAT},\r\n",
                 [COMPLAINT, THREAT], id="stray-lines-in-a-file-of-three-columns"),
    pytest.param(f"受付番号,内容\n \n , \n2,{THREAT}\n", [" ", THREAT], id="a-stray-line-and-a-row-of-spaces"),
]


@pytest.mark.parametrize(("data", "texts"), WHITESPACE_ROWS)
def test_a_row_of_spaces_is_a_record_not_a_blank_row(data, texts):
    raw = data.encode()
    assert [r.values["内容"] for r in CsvReader(io.BytesIO(raw), text_column="内容")] == texts
    assert CsvReader(io.BytesIO(raw), text_column="内容").count() == len(texts)
    assert [rec["内容"] for _, rec in _read(raw)] == texts
    assert CsvReader(io.BytesIO(raw), text_column="内容").first_misshapen() is None


def test_the_rows_of_stray_lines_of_spaces_are_kept_for_the_dask_engine():
    """pandas reads a stray line of spaces as a row (`` `` and `` , `` alike): the engine drops it by its row."""
    reader = CsvReader(io.BytesIO(f"受付番号,内容\n1,{COMPLAINT}\n \n , \n\n\u3000\n".encode()), text_column="内容")
    assert reader.first_misshapen() is None and reader.stray_rows == [3, 6]


# -- CSV: long fields -------------------------------------------------------------------------

LONG_FIELDS = [
    pytest.param('"' + NOISE * 9_500 + '"', id="142k-chars-quoted-over-many-lines"),
    pytest.param("x" * 2_100_000, id="2MB-on-one-line"),
    pytest.param('"' + "ab,\n" * 600_000 + '"', id="quoted-delimiters-and-breaks"),
]


@pytest.mark.parametrize("cell", LONG_FIELDS)
@pytest.mark.parametrize("csv_module_limit", ["same", "higher"])
def test_a_field_over_the_limit_is_one_error_and_the_next_records_are_read(cell, csv_module_limit, csv_limit):
    limit = 100_000
    csv_limit(limit if csv_module_limit == "same" else 4 * limit)  # csv.Error and re-read, or cut afterwards
    data = ("受付番号,内容\nR6-1," + cell + f"\nR6-2,{COMPLAINT}\nR6-3,{THREAT}\n").encode()
    got = _read(data, field_limit=limit)
    assert len(got) == 3  # not hundreds of rows made of the rest of the field
    assert "the text is over the limit" in got[0][1].error and got[0][0] == 2
    assert got[1][1] == {"受付番号": "R6-2", "内容": COMPLAINT}
    assert got[2][1] == {"受付番号": "R6-3", "内容": THREAT}
    recs = list(CsvReader(io.BytesIO(data), text_column="内容", field_limit=limit))
    assert recs[0].truncated == ("内容",) and len(recs[0].values["内容"]) == limit
    assert recs[0].values["受付番号"] == "R6-1"  # the other columns are kept


def test_fields_longer_than_the_csv_module_default_are_read_whole():
    body = NOISE * 9_500  # 142,500 characters > csv's default 131,072
    got = _read(_csv([["受付番号", "内容"], ["1", body], ["2", THREAT]]))
    assert got[0][1]["内容"] == body and got[1][1]["内容"] == THREAT


def test_a_long_field_in_another_column_is_cut_and_named(csv_limit):
    csv_limit(1_000)
    data = _csv([["受付番号", "備考", "内容"], ["1", "メモ" * 2_000, COMPLAINT], ["2", "", THREAT]])
    recs = list(CsvReader(io.BytesIO(data), text_column="内容", field_limit=1_000))
    assert recs[0].truncated == ("備考",) and recs[0].values["内容"] == COMPLAINT
    assert len(recs[0].values["備考"]) == 1_000 and recs[1].values["内容"] == THREAT


_CSV_PIECES = st.sampled_from(["a", "苦情", ",", "\t", '"', '""', "\n", "\r", "\r\n", " ", "\x00"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_CSV_PIECES, max_size=16).map("".join), st.sampled_from([",", "\t"]))
def test_record_parser_reads_records_as_the_csv_module_does(text, delimiter):
    expected = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    got: list[list[str]] = []
    parser = None
    for line in io.StringIO(text, newline=""):
        parser = parser or _RecordParser(delimiter, 1 << 20)
        if parser.feed(line):
            got.append(parser.fields)
            parser = None
    if parser is not None:
        parser.finish()
        got.append(parser.fields)
    assert got == expected


# -- CSV: header ----------------------------------------------------------------------------------

DUPLICATE_HEADERS = [
    pytest.param(["受付番号", "備考", "内容", "備考"], id="two-備考"),
    pytest.param(["備考", "備考", "備考"], id="three"),
    pytest.param(["備考", "備考.1", "備考"], id="taken-suffix"),
    pytest.param(["内容", "", "column_2", ""], id="blanks-give-way"),
]


@pytest.mark.parametrize("names", DUPLICATE_HEADERS)
def test_unique_names_match_pandas(names):
    blanks = [i for i, n in enumerate(names) if not n]
    got, renamed = unique_names([n or f"Unnamed: {i}" for i, n in enumerate(names)], last=blanks)
    assert got == list(pd.read_csv(io.StringIO(",".join(names) + "\n")).columns)
    assert len(set(got)) == len(names) and all(new in got for _, new in renamed)


def test_duplicate_header_names_keep_every_column_and_warn_once():
    data = _csv([["受付番号", "備考", "内容", "備考"], ["1", "電話受付", COMPLAINT, "要折返し"],
                 ["2", "窓口", THREAT, "警察に相談済み"]])
    with pytest.warns(InputWarning, match="備考.1") as caught:
        got = list(read_csv(io.BytesIO(data), text_column="内容"))
    assert len(caught) == 1
    assert got[0][1] == {"受付番号": "1", "備考": "電話受付", "内容": COMPLAINT, "備考.1": "要折返し"}


def test_blank_header_names_are_numbered():
    reader = CsvReader(io.BytesIO("受付番号,,内容,\n1,a,b,c\n".encode()), text_column="内容")
    assert reader.header == ["受付番号", "column_2", "内容", "column_4"]


@pytest.mark.parametrize("header", [["受付番号", "内容"], ["内容", "氏名"]])
def test_a_misdecoded_header_says_the_encoding_looks_wrong(header):
    data = _csv([header, ["1", "窓口の対応がひどかった。"]], encoding="cp932")
    with pytest.raises(InputFormatError, match="encoding looks wrong") as e:
        _read(data, text_column="本文")
    assert "UTF-8" in str(e.value) and "\ufffd" not in str(e.value) and "\udc8e" not in str(e.value)
    with pytest.raises(InputFormatError, match="--encoding cp932"):
        CsvReader(io.BytesIO(data), text_column="本文", encoding_hint="pass --encoding cp932")


def test_a_header_that_reads_but_lacks_the_column_lists_the_columns():
    with pytest.raises(InputFormatError, match=r"columns: 受付番号, 内容\); choose one with --text-column"):
        _read(_csv([["受付番号", "内容"], ["1", COMPLAINT]]), text_column="本文")


@pytest.mark.parametrize(("rows", "values", "error"), [
    ([["受付番号", "内容", "担当"], ["A-1", COMPLAINT]], {"受付番号": "A-1", "内容": COMPLAINT}, "has 2 fields"),
    ([["受付番号", "内容"], ["A-2", THREAT, "余分"]], {"受付番号": "A-2", "内容": THREAT}, "has 3 fields"),
])
def test_a_row_with_the_wrong_number_of_fields_keeps_the_fields_it_has(rows, values, error):
    ((n, rec),) = _read(_csv(rows))
    assert isinstance(rec, InputRecordError) and error in rec.error and rec.values == values
    assert "quote" not in rec.error  # (one line: no quoted field ran over line breaks)


def test_a_record_of_several_lines_with_the_wrong_number_of_fields_mentions_its_quotes():
    data = f"受付番号,内容,受付方法\n1,\"窓口の対応が悪い\n二行目\"\n2,{COMPLAINT},web\n".encode()
    (n, rec), (_, ok) = _read(data)
    assert isinstance(rec, InputRecordError) and rec.error.startswith("line 2 has 2 fields, the header has 3; ")
    assert "runs over 2 lines" in rec.error and "quotes close" in rec.error and "窓口" not in rec.error
    assert ok == {"受付番号": "2", "内容": COMPLAINT, "受付方法": "web"}


# -- CSV: an unclosed quote ---------------------------------------------------------------------

STRAY = '"至急 公園のトイレが汚い'

#: Office exports with one stray quote: the field it opens swallows the lines after it, up to the
#: end of the file or to the next quote.  (file, the spreadsheet row of the stray quote)
RUNAWAY_QUOTES = [
    pytest.param("受付番号,送信者,内容\n" + "".join(
        f"{i},u{i}@example.jp,{STRAY if i == 3 else COMPLAINT}\n" for i in range(1, 9)),
        4, id="to-the-end-of-the-file"),
    pytest.param("受付番号,送信者,内容\n1,a,ゴミの日を教えて\n2,b,\"閉じ忘れ 道路を直して\n3,c,ゴミの日\n"
                 "4,d,騒音がひどい\n5,e,\"前半, 後半\"\n6,f,最後の行\n", 3, id="closed-by-a-later-quoted-field"),
    pytest.param("内容,受付番号,担当\n\"閉じ忘れの苦情です,R1,土木\nゴミの日,R2,清掃\n騒音です,R3,環境\n"
                 "段差があります,R4,土木\n", 2, id="the-text-column-first"),
    # the quote is still open at the end of the file: one line (or none) after it is enough
    pytest.param("受付番号,内容\n1,住民票の取り方\n2,\"窓口の職員の対応が悪い\n3,死ね\n", 3,
                 id="one-record-after-it-to-the-end"),
    pytest.param("受付番号,内容\n1,住民票の取り方\n2,\"窓口の職員の対応が悪い\n3,死ね", 3,
                 id="one-record-after-it-no-final-newline"),
    pytest.param("受付番号,内容\r\n1,住民票の取り方\r\n2,\"窓口の職員の対応が悪い\r\n3,死ね\r\n", 3,
                 id="one-record-after-it-crlf"),
    pytest.param("受付番号,内容,受付方法\n1,住民票の取り方,web\n2,\"窓口の職員の対応が悪い,web\n3,死ね,tel\n", 3,
                 id="in-a-middle-column"),
    pytest.param("内容\n住民票の取り方\n\"窓口の職員の対応が悪い\n死ね\n", 3, id="the-text-the-only-column"),
    pytest.param("受付番号,内容\n1,住民票の取り方\n2,\"窓口の職員の対応が悪い\n", 3, id="on-the-last-line"),
]


@pytest.mark.parametrize(("data", "opener"), RUNAWAY_QUOTES)
def test_an_unclosed_quote_is_one_error_and_the_lines_it_swallowed_are_read_as_records(data, opener):
    raw = data.encode()
    width = len(data.split("\n", 1)[0].split(","))
    records = len([ln for ln in data.split("\n")[1:] if ln])  # one a line: no legitimate line breaks
    recs = list(CsvReader(io.BytesIO(raw), text_column="内容"))
    assert len(recs) == records and CsvReader(io.BytesIO(raw), text_column="内容").count() == records
    bad = [r for r in recs if r.problem]
    assert [r.row for r in bad] == [opener] and "never closed" in bad[0].problem
    assert all(len(r.values) == width for r in recs if not r.problem)
    assert [r.line for r in recs] == list(range(2, records + 2)) == [r.row for r in recs]
    got = _read(raw)
    assert len(got) == records and sum(isinstance(rec, InputRecordError) for _, rec in got) == 1
    row, problem = CsvReader(io.BytesIO(raw), text_column="内容").first_misshapen()
    assert row == bad[0].row and "never closed" in problem


#: Multi-line fields that are not runaway quotes: letters whose lines hold commas, and records
#: that look alike but are inside one legitimately quoted field of a two-column file.
LEGIT_MULTILINE = [
    pytest.param(_csv([["受付番号", "内容"], ["1", "拝啓, 先日の件です。\nはい, そうです。\nでは, よろしく。"],
                       ["2", COMPLAINT]]),
                 id="a-letter-with-a-comma-on-each-line"),
    pytest.param(_csv([["受付番号", "氏名", "内容"], ["1", "山田", "一行目\n二, 三\n四, 五\n六"],
                       ["2", "田中", THREAT]]),
                 id="lines-of-the-wrong-width"),
    pytest.param(_csv([["受付番号", "内容"], ["1", "引用します:\n2,前回の件\n本文の続き\n結び"], ["2", COMPLAINT]]),
                 id="one-lookalike-line-of-four"),
    # every line after the first looks like a record (「2,3日」「3,4回」), but the quote closes
    pytest.param("id,内容\n1,\"隣の工事の騒音がひどい。\n2,3日前から朝7時に始まる。\n3,4回注意したが止まらない。\n"
                 "何とかしてほしい。\"\n2,ゴミの日を教えてください\n".encode(),
                 id="numbers-with-commas-in-a-closed-field"),
    # the same as the file's last record, with and without a final line break
    pytest.param("id,内容\n2,ゴミの日を教えてください\n1,\"隣の工事の騒音がひどい。\n2,3日前から朝7時に始まる。\"\n".encode(),
                 id="closed-multiline-field-last"),
    pytest.param("id,内容\r\n2,ゴミの日を教えてください\r\n1,\"隣の工事の騒音がひどい。\r\n2,3日前から。\"".encode(),
                 id="closed-multiline-field-last-no-final-newline"),
    pytest.param("内容\n\"騒音がひどい。\n2,3日前から朝7時に始まる。\"\n\"改行\nあり\"\n".encode(),
                 id="text-only-column"),
]


@pytest.mark.parametrize("data", LEGIT_MULTILINE)
def test_a_multiline_field_that_closes_is_read_whole(data):
    recs = list(CsvReader(io.BytesIO(data), text_column="内容"))
    assert len(recs) == 2 and not any(r.problem for r in recs)
    assert CsvReader(io.BytesIO(data), text_column="内容").first_misshapen() is None  # Dask does not refuse it


#: A CSV row with an undecodable byte (CP932 「山」) in the text or in another column.
BAD_BYTE_ROWS = [
    ("受付番号,氏名,内容\nA-1,".encode() + b"\x8eR" + f",{COMPLAINT}\n".encode(), "氏名"),
    ("受付番号,氏名,内容\nA-2,山田,".encode() + b"\x8eR" + "への苦情です\n".encode(), "内容"),
]


@pytest.mark.parametrize(("data", "column"), BAD_BYTE_ROWS)
@pytest.mark.parametrize("repair", [False, True])
def test_a_bad_byte_costs_only_its_own_column(data, column, repair):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ((n, rec),) = list(read_csv(io.BytesIO(data), text_column="内容", repair_other_columns=repair))
    if repair and column != "内容":  # the text is scored, the other column repaired and named
        assert rec["受付番号"] == "A-1" and rec["氏名"] == "\ufffdR" and rec["内容"] == COMPLAINT
        assert [str(w.message) for w in caught if "replaced" in str(w.message)] == [
            "line 2: bytes not valid utf-8 replaced with U+FFFD in column '氏名'; the record is kept"]
    else:
        assert isinstance(rec, InputRecordError) and "not valid utf-8" in rec.error
        assert rec.values is not None and rec.values["受付番号"].startswith("A-")
        assert "\ufffd" in rec.values[column] and not any(UNDECODABLE.search(v) for v in rec.values.values())


@pytest.mark.parametrize("header", [["受付番号", "text"], ["text", "氏名", "担当課"]])
def test_a_misdecoded_header_warns_even_when_the_text_column_is_found(header):
    data = _csv([header, ["窓口の対応がひどかった。"] * len(header)], encoding="cp932")
    with pytest.warns(InputWarning, match=r"does not read as UTF-8.*--encoding cp932"):
        rows = list(read_csv(io.BytesIO(data), text_column="text", encoding_hint="pass --encoding cp932"))
    assert len(rows) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ((_, rec),) = list(read_csv(io.BytesIO(data), text_column="text", encoding="cp932"))
    assert list(rec) == header


@pytest.mark.parametrize("header", [["id", "text"], ["id", "text", "channel"]])
@pytest.mark.parametrize("repair", [False, True])
def test_rows_that_do_not_decode_under_an_ascii_header_point_to_the_encoding_once(header, repair):
    """A CP932 file (Japanese Excel) with an ASCII header: every row failed with 're-save as UTF-8'."""
    rows = [["1", "窓口の職員はバカだ、死ね", "電話"], ["2", "住民票はどこで取れますか", "窓口"],
            ["3", "ゴミが回収されていません", "web"]]
    data = _csv([header, *(r[: len(header)] for r in rows)], encoding="cp932")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = list(read_csv(io.BytesIO(data), text_column="text", repair_other_columns=repair,
                            encoding_hint="re-save it as UTF-8 or pass --encoding cp932"))
    assert len(got) == 3 and all(isinstance(rec, InputRecordError) for _, rec in got)
    hints = [str(w.message) for w in caught if "--encoding cp932" in str(w.message)]
    assert hints == ["line 2 holds bytes that are not valid UTF-8 (and later rows may too), so the file's "
                     "encoding looks wrong; re-save it as UTF-8 or pass --encoding cp932"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read with the right encoding: no warning, every row a record
        assert [r["text"] for _, r in read_csv(io.BytesIO(data), text_column="text", encoding="cp932")] == [
            r[1] for r in rows]


def test_read_jsonl_drops_a_byte_order_mark_on_any_line():
    """Files joined with cat carry the second file's BOM in the middle."""
    data = b"\xef\xbb\xbf" + _jsonl({"text": COMPLAINT}) + b"\xef\xbb\xbf" + _jsonl({"text": THREAT, "n": 1.5})
    assert [r for _, r in read_jsonl(io.BytesIO(data))] == [{"text": COMPLAINT}, {"text": THREAT, "n": 1.5}]


def test_read_jsonl_reads_past_a_line_over_the_limit_without_holding_it():
    """One endless line (from a pipe, say) is an error record; the lines after it are read."""
    big = b'{"text": "' + "窓".encode() * 400 + b'"}'
    data = _jsonl({"text": COMPLAINT}) + big + b"\n" + _jsonl({"text": THREAT})
    got = list(read_jsonl(io.BytesIO(data), line_limit=1000))
    assert [n for n, _ in got] == [1, 2, 3]
    assert got[0][1] == {"text": COMPLAINT} and got[2][1] == {"text": THREAT}
    err = got[1][1]
    assert isinstance(err, InputRecordError) and err.error.startswith("line 2 is longer than 1,000 bytes")
    assert "窓" not in err.error
    last = list(read_jsonl(io.BytesIO(_jsonl({"text": COMPLAINT}) + big), line_limit=1000))  # no final newline
    assert isinstance(last[-1][1], InputRecordError) and len(last) == 2
    exact = b'{"text": "' + b"a" * 988 + b'"}\n'  # 1,001 bytes with its newline: the line itself fits
    assert list(read_jsonl(io.BytesIO(exact), line_limit=1000)) == [(1, {"text": "a" * 988})]


# -- JSONL: bad bytes, messages, arrays (acceptance findings, session 23) ------------------------


@pytest.mark.parametrize(
    ("line", "field", "scored"),
    [
        pytest.param(b'{"id": 1, "name": "\xff\xfe' + "太郎".encode() + b'", "text": "' + COMPLAINT.encode() + b'"}',
                     "name", True, id="bad-byte-in-name"),
        pytest.param(b'{"id": 1, "meta": {"tag": "\x93\xfa"}, "text": "' + COMPLAINT.encode() + b'"}',
                     "meta", True, id="cp932-bytes-nested"),
        pytest.param(b'{"id": 1, "text": "' + "粗大ごみ".encode() + b'\xff"}', "text", False, id="bad-byte-in-text"),
    ],
)
def test_a_jsonl_bad_byte_costs_only_its_own_field(line, field, scored):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        (n, rec), = list(read_jsonl(io.BytesIO(line + b"\n"), text_field="text"))
    values = rec if scored else rec.values
    assert n == 1 and values["id"] == 1  # every field kept
    assert "\ufffd" in json.dumps(values[field], ensure_ascii=False)
    assert not UNDECODABLE.search(json.dumps(values, ensure_ascii=False))
    if scored:
        assert isinstance(rec, dict) and rec["text"] == COMPLAINT
        assert [str(w.message) for w in caught] == [
            f"line 1: bytes not valid UTF-8 replaced with U+FFFD in field {field!r}; the record is kept"]
    else:
        assert isinstance(rec, InputRecordError) and "not valid UTF-8" in rec.error and "in the text" in rec.error
        assert not caught


def test_a_jsonl_bad_byte_outside_any_string_is_an_error_record():
    (_, rec), = list(read_jsonl(io.BytesIO(b'{"id": 1\xff, "text": "abc"}\n'), text_field="text"))
    assert isinstance(rec, InputRecordError) and "not valid UTF-8" in rec.error and rec.values is None


@pytest.mark.parametrize(
    ("line", "says"),
    [
        pytest.param(b'{"text":"abc"', "Expecting ',' delimiter at the end of the line, column 14", id="cut-short"),
        pytest.param(b'{"text":"abc"\r', "at the end of the line, column 14", id="cut-short-crlf"),
        pytest.param(b'{"text":"a\x01b"}', "(Invalid control character at column 11)", id="control-char"),
        pytest.param(b'{"text": "a" "b"}', "Expecting ',' delimiter at column 14)", id="missing-comma"),
    ],
)
def test_jsonl_syntax_errors_say_where_once(line, says):
    (_, rec), = list(read_jsonl(io.BytesIO(line + b"\n")))
    assert says in rec.error and "at at" not in rec.error and "column 1)" not in rec.error


@pytest.mark.parametrize("data", [b'[\n  {"text": "abc"}\n]\n', b'[{"text": "abc"}]\n'])
def test_a_json_array_is_named_on_its_first_line(data):
    got = list(read_jsonl(io.BytesIO(data)))
    assert "JSON array" in got[0][1].error and "jq -c" in got[0][1].error
    assert all(isinstance(r, dict) or "JSON array" not in r.error for _, r in got[1:])
    assert starts_json_array(io.BytesIO(b"\xef\xbb\xbf \n" + data))
    assert not starts_json_array(io.BytesIO(b'{"text": "[abc]"}\n'))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_jsonl({"id": 1, "本文": "a"}, {"id": 2, "本文": "b", "日付": "2024-04-01"}), "id, 本文, 日付"),
        (_jsonl({"id": 1, "本文": "a"}, {"id": 2, "text": "b"}), None),  # one record has it
        (_jsonl([1, 2], b"not json"), None),  # no object at all: the reader's errors say why
        (b"", None),
    ],
)
def test_jsonl_fields_without_names_the_fields_when_no_record_has_the_text(data, expected):
    assert jsonl_fields_without(io.BytesIO(data), "text") == expected


@pytest.mark.parametrize(("data", "says"), [(b"", "is empty"), (b"\n\n\r\n", "first line is blank")])
def test_a_csv_without_a_header_line_is_refused(data, says):
    with pytest.raises(InputFormatError, match=says):
        _read(data, text_column="text")


@pytest.mark.parametrize(("obj", "keep", "expected", "fields"), [
    ({"text": "ok", "n": 1}, (), {"text": "ok", "n": 1}, []),
    ({"text": "\ud83d殺", "note": "a\ud800b"}, (), {"text": "\ufffd殺", "note": "a\ufffdb"}, ["text", "note"]),
    ({"text": "\ud83d殺", "note": "a\ud800b"}, ("text",), {"text": "\ud83d殺", "note": "a\ufffdb"}, ["note"]),
    ({"meta": {"tags": ["\udc80", 2], "\udfff": None}}, (), {"meta": {"tags": ["\ufffd", 2], "\ufffd": None}},
     ["meta"]),
    ({"\ud800x": 1, "ok": "😀"}, (), {"\ufffdx": 1, "ok": "😀"}, ["\ufffdx"]),
])
def test_surrogates_replaced_names_the_fields_it_repaired(obj, keep, expected, fields):
    out, got = surrogates_replaced(obj, keep)
    assert out == expected and got == fields
    if not fields:
        assert out is obj
