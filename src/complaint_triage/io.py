"""Reading message records from JSONL and CSV, never losing one.

Each record read is either ``(line_no, dict)`` or ``(line_no, InputRecordError)``: bad
lines (invalid UTF-8, malformed JSON, a JSON value that is not an object) become error
records that say why, so every input line yields exactly one output line.

CSV/TSV files are read by :class:`CsvReader`, which :func:`read_csv` and the batch reader
share: fields of up to :data:`FIELD_LIMIT` characters are read whole (longer ones are cut
there and reported, and the records after them are read normally), duplicate or blank
header names are renamed so that no column is lost, empty rows (no character in any cell:
an empty line, or only delimiters) and stray lines of spaces (fewer fields than the header)
are skipped, and each record carries both its spreadsheet row number and the physical line
where it starts.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io as _io
import json
import re
import warnings
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal, NamedTuple

from complaint_triage.exceptions import InputFormatError

__all__ = [
    "CsvReader",
    "CsvRecord",
    "FIELD_LIMIT",
    "ENCODING_HINT",
    "FORMATS",
    "JSONL_LINE_LIMIT",
    "InputRecordError",
    "InputWarning",
    "JSON_ARRAY_HINT",
    "LONE_SURROGATE",
    "NotPlainJSONError",
    "OUTPUT_FORMATS",
    "UNDECODABLE",
    "binary_format",
    "column_names",
    "detect_format",
    "input_name",
    "shown_names",
    "input_warnings_to",
    "jsonl_fields_without",
    "jsonl_lines",
    "loads_strict",
    "raise_field_limit",
    "read_csv",
    "read_jsonl",
    "renamed_note",
    "runaway_quote",
    "starts_json_array",
    "surrogates_replaced",
    "unique_names",
]

FORMATS = ("jsonl", "csv", "tsv")

#: The longest CSV field read whole, in characters.  A longer field is cut there (and the
#: record reported), so one runaway field or an unclosed quote cannot exhaust memory.
FIELD_LIMIT = 1 << 20

#: An undecodable byte, as ``surrogateescape`` decoding leaves it (U+DC80-U+DCFF).
UNDECODABLE = re.compile("[\udc80-\udcff]")
#: A UTF-16 surrogate code point.  In a string that ``json.loads`` read (it joins an escaped pair
#: into one character) or that was decoded with ``surrogateescape``, one stands alone: a JSON escape
#: without its pair (``\ud83d``) or an undecodable byte.  No UTF-8 text can hold it, and strict
#: JSON readers (jq, serde_json) refuse its escape.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: Python's cp932 codec decodes the bytes 0xA0, 0xFD, 0xFE and 0xFF, which no Shift_JIS character
#: uses, to private-use characters (U+F8F0-U+F8F3) without an error: they are made the undecodable
#: bytes they are, as ``surrogateescape`` would leave them.
SINGLE_BYTE_PUA = {0xF8F0: 0xDCA0, 0xF8F1: 0xDCFD, 0xF8F2: 0xDCFE, 0xF8F3: 0xDCFF}


def reads_singles_as_pua(encoding: str | None) -> bool:
    """Whether ``encoding`` is Python's cp932 under any of its names (ms932, mskanji, 932 …), whose
    private-use readings of single bytes :data:`SINGLE_BYTE_PUA` undoes."""
    return codecs.lookup(encoding or "utf-8").name == "cp932"


#: A value's shape: runs of digits, of ASCII letters and of other characters, each as one symbol
#: (ids ``R0006`` and ``R0123`` have one shape, a sentence another).
_SHAPE_RUNS = re.compile(r"[0-9]+|[A-Za-z]+|[^\x00-\x7f]+")


def _shape(value: str) -> str:
    return _SHAPE_RUNS.sub(lambda m: "9" if m[0][0].isdigit() else ("a" if m[0][0].isascii() else "\u3042"),
                           value.strip())


def runaway_quote(lines: Sequence[str], delimiter: str, width: int) -> int:
    """How many of a record's lines after its first read as records of their own: the mark of
    a quote opened and never closed (``6,"引用の閉じ忘れ`` swallows the lines up to the next
    quote, or to the end of the file, into one field).  0 when the record is not such a one.

    A continuation line counts when it splits into ``width`` fields and, if the open field is
    not the first, its first field has the shape of the record's own first field (an id, a
    date).  It takes at least two of them and at least half of the continuation lines, so
    that a long letter whose lines hold a comma or two is left alone.
    """
    if width < 2 or len(lines) < 3:
        return 0
    first = next(csv.reader(lines[:1], delimiter=delimiter), [])
    opened = len(first) - 1  # the field the quote opens is the first line's last
    if opened < 0 or (opened == 0 and width < 3):
        return 0
    shape = _shape(first[0]) if opened > 0 else None
    whole = 0
    for s in lines[1:]:
        f = next(csv.reader([s], delimiter=delimiter), [])
        if len(f) == width and (shape is None or _shape(f[0]) == shape):
            whole += 1
    return whole if whole >= 2 and 2 * whole >= len(lines) - 1 else 0


def _closes_cleanly(lines: Sequence[str], delimiter: str) -> bool:
    """Whether ``lines`` read as CSV in strict mode: every quote that opens a field closes, and
    is followed by a delimiter or the end of a line (not text, as after a stray quote)."""
    try:
        for _ in csv.reader(lines, delimiter=delimiter, strict=True):
            pass
    except csv.Error:
        return False
    return True


def _no_record(fields: list[str], width: int) -> bool:
    """Whether a row of a CSV whose header has ``width`` columns is skipped: an empty row (an empty
    line, or delimiters only, as a spreadsheet saves a blank row) or a stray line of spaces with
    fewer fields than the header (`` `` in a file of several columns).  A row of spaces with the
    header's width (`` , ``), or in a one-column file, is a record: its text is an error."""
    return not any(fields) or (len(fields) < width and not any(map(str.strip, fields)))


def _field_count_problem(fields: list[str], width: int, lines: int = 1) -> str | None:
    """What :meth:`CsvReader.records` reports about a record with other than ``width`` fields
    (``lines``: the physical lines it was read from; a quoted field ran over them)."""
    if len(fields) == width:
        return None
    problem = f"has {len(fields)} fields, the header has {width}"
    if lines > 1:
        problem += (f"; a quoted field in it runs over {lines:,} lines: check that its quotes close where they "
                    "should (a stray \" opens a field that swallows the lines after it)")
    return problem
#: A header name that did not decode: surrogate escapes, or U+FFFD from an earlier decoder.
_GARBLED = re.compile("[\udc80-\udcff\ufffd]")

#: What to do about a CSV/TSV whose bytes are not UTF-8 (a tool with an encoding option adds it).
ENCODING_HINT = "re-save it as UTF-8 (in Excel: 「CSV UTF-8」)"


class InputWarning(UserWarning):
    """Something in an input file was repaired while reading it (e.g. duplicate column names)."""


@contextlib.contextmanager
def input_warnings_to(emit: Callable[[str], None]) -> Iterator[None]:
    """Within the block, each :class:`InputWarning` goes to ``emit`` as its message alone (a
    command line tool prints it as one ``warning:`` line, not with Python's source line); other
    warnings are shown as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        show = warnings.showwarning

        def _show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, InputWarning):
                emit(str(message))
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = _show
        yield


@dataclass(frozen=True)
class InputRecordError:
    """A line that could not be read as a record.

    ``values``: the fields that could be read (a CSV row with the wrong number of fields or
    undecodable bytes), to keep on the error record; None when nothing could.
    """

    error: str
    values: dict[str, str] | None = None


def json_line(obj: Any, *, on_repair: Callable[[list[str]], object] | None = None, **kwargs: Any) -> str:
    """``obj`` as one line of JSON, non-ASCII text kept as is.

    A lone UTF-16 surrogate (from a ``"\\ud800"`` escape in the input) cannot be written as
    UTF-8, and its escape is refused by strict JSON readers (jq, serde_json): it is written as
    U+FFFD, and ``on_repair`` (when given, for a dict) gets the top-level fields that held one.
    The check is the UTF-8 encoding of the line, so a line without one costs nothing more.
    """
    line = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = LONE_SURROGATE.sub("\ufffd", line)
        if on_repair is not None and isinstance(obj, dict):
            on_repair(surrogates_replaced(obj)[1])
    return line


#: Output file name endings ``batch`` writes, and the format each means (``score`` writes JSONL only).
OUTPUT_FORMATS: dict[str, str] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
                                  ".ndjson": "jsonl", ".xlsx": "xlsx"}

#: File name endings and the format each means (``batch`` adds the formats only it reads).
EXTENSIONS: dict[str, str] = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
                              ".tsv": "tsv", ".tab": "tsv"}


def detect_format(name: str, explicit: str | None = None, *, strict: bool = False) -> str:
    """``explicit``, else the format :data:`EXTENSIONS` gives ``name`` (``-``, stdin: JSONL).

    An unknown ending is read as JSONL, or with ``strict`` refused (:class:`InputFormatError`).
    """
    if explicit:
        if explicit not in FORMATS:
            raise InputFormatError(f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}")
        return explicit
    lower = name.lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    if strict and name != "-":
        raise InputFormatError(
            f"cannot tell the format of {name} from its extension: score reads "
            f"{', '.join(EXTENSIONS)} files; to read it anyway, pass --format ({', '.join(FORMATS)})")
    return "jsonl"


class NotPlainJSONError(ValueError):
    """JSON that Python's ``json`` reads but strict JSON does not (``NaN``, ``Infinity``, a number
    beyond a float's range, a field named twice in one object): the reason, no input text.

    ``key``: the name given twice (None for the other faults), for a caller that must not repeat
    it (the API names only its schema's fields).
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _no_constant(name: str) -> Any:
    raise NotPlainJSONError(f"{name} is not a JSON value; write it as null or as a string")


def _finite_float(digits: str) -> float:
    value = float(digits)
    if value in (float("inf"), float("-inf")):
        raise NotPlainJSONError("a number too large for a 64-bit float; write it as a string")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise NotPlainJSONError(f"the field {_shown_key(twice)} appears twice in one object; keep one", key=twice)
    return obj


def _shown_key(key: str) -> str:
    """A field name for a message: names are schema, not message text, but a long one is cut."""
    return repr(key if len(key) <= 40 else key[:40] + "…")


def loads_strict(doc: str | bytes) -> Any:
    """``json.loads(doc)``, refusing what strict JSON readers refuse (:class:`NotPlainJSONError`).

    Other faults raise as ``json.loads`` raises them (``json.JSONDecodeError``,
    ``UnicodeDecodeError``, ``RecursionError``, ``ValueError``).
    """
    return json.loads(doc, parse_constant=_no_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys)


#: A JSONL line longer than this is an error record, read past without being held in memory (a
#: record is a message of at most ``--max-chars`` characters and its fields: far less).
JSONL_LINE_LIMIT = 64 << 20


def input_name(name: str, taken: Collection[str]) -> str:
    """``input_NAME`` (``input_input_NAME`` … while that is taken too): what ``score`` and ``batch``
    rename an input field or column to when the output needs its name."""
    new = f"input_{name}"
    while new in taken:
        new = f"input_{new}"
    return new


def column_names(cols: Sequence[str], noun: str = "column") -> str:
    """``column 'a'`` or ``columns 'a', 'b'`` (or another ``noun``), for messages."""
    return (noun if len(cols) == 1 else noun + "s") + " " + ", ".join(map(repr, cols))


def jsonl_lines(stream: IO[bytes], limit: int = JSONL_LINE_LIMIT) -> Iterator[bytes | None]:
    """The lines of ``stream``, each at most ``limit`` bytes and without a leading UTF-8 byte-order
    mark (files joined with ``cat`` carry one in the middle); ``None`` for a longer line, skipped in
    pieces so that one endless line from a pipe cannot fill the memory."""
    while raw := stream.readline(limit + 1):
        if len(raw) > limit and not raw.endswith(b"\n"):
            while (more := stream.readline(1 << 20)) and not more.endswith(b"\n"):
                pass
            yield None
        else:
            yield raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


def read_jsonl(stream: IO[bytes], *, line_limit: int = JSONL_LINE_LIMIT, text_field: str | None = None,
               on_repair: Callable[[int, list[str]], None] | None = None,
               ) -> Iterator[tuple[int, dict[str, Any] | InputRecordError]]:
    """``(line number, object)`` for each non-blank line, or an :class:`InputRecordError` saying why not.

    Strict JSON: ``NaN``/``Infinity``, a number beyond a float's range and a field named twice in
    one object are refused for that line (Python reads them, but the output would then carry a
    value other JSON readers reject, or silently keep only one of two texts). A UTF-8 byte-order
    mark is dropped at the start of any line (files joined with ``cat`` carry one in the middle).
    A line over ``line_limit`` bytes is an error record.

    A line with bytes that are not UTF-8 inside its strings is still read, those bytes as U+FFFD:
    when they are outside ``text_field`` the object is yielded (an :class:`InputWarning` names the
    fields, or ``on_repair(line number, fields)`` is called instead, before the object is yielded),
    otherwise (or without ``text_field``) it is an error record whose ``values`` keep the
    fields.  Bad bytes outside a string (in the JSON itself) make the line an error record.
    """
    first = True
    for n, raw in enumerate(jsonl_lines(stream, line_limit), 1):
        if raw is None:
            first = False
            yield n, InputRecordError(f"line {n} is longer than {line_limit:,} bytes; split the record or "
                                      "shorten its text")
            continue
        if not raw.strip():
            continue
        was_first, first = first, False
        bad_byte: int | None = None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad_byte = e.start
            line = raw.decode("utf-8", errors="surrogateescape")
        line = line.rstrip("\r\n")  # (an error at the end of a line is placed there, not on the next)
        try:
            obj = loads_strict(line)
        except NotPlainJSONError as e:
            yield n, InputRecordError(f"line {n} is not plain JSON: {e}")
            continue
        except json.JSONDecodeError as e:
            if bad_byte is not None:
                yield n, InputRecordError(f"line {n} is not valid UTF-8 (byte {bad_byte}); re-save the file as UTF-8")
                continue
            yield n, InputRecordError(f"line {n} is not valid JSON ({_json_problem(e, line)})"
                                      + (_ARRAY_NOTE if was_first and line.lstrip().startswith("[") else ""))
            continue
        except RecursionError:
            yield n, InputRecordError(f"line {n} is not valid JSON for scoring (nested too deeply)")
            continue
        except ValueError as e:  # e.g. an integer of more digits than Python converts
            yield n, InputRecordError(f"line {n} is not valid JSON for scoring ({_first_clause(e)})")
            continue
        if not isinstance(obj, dict):
            yield n, InputRecordError(
                f"line {n} is a JSON {type(obj).__name__}, expected an object with a 'text' field"
                + (_ARRAY_NOTE if was_first and isinstance(obj, list) else ""))
            continue
        if bad_byte is not None:
            obj, fields = _undecodable_replaced(obj)
            if text_field is None or text_field in fields:
                where = "the text" if text_field is not None else column_names(fields, "field")
                yield n, InputRecordError(f"line {n} is not valid UTF-8 (byte {bad_byte}) in {where}; "
                                          "re-save the file as UTF-8", obj)
                continue
            if on_repair is not None:
                on_repair(n, fields)
            else:
                warnings.warn(f"line {n}: bytes not valid UTF-8 replaced with U+FFFD in "
                              f"{column_names(fields, 'field')}; the record is kept", InputWarning, stacklevel=2)
        yield n, obj


#: Said of a JSONL file whose first line opens a JSON array.
JSON_ARRAY_HINT = "convert it to JSON Lines (one object per line), e.g. jq -c '.[]' FILE"

_ARRAY_NOTE = f"; the file looks like one JSON array: {JSON_ARRAY_HINT}"


#: The first bytes of binary files that get read as text by mistake (``--format csv`` on a workbook).
_MAGIC = ((b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip archive", "xlsx"),
          (b"PAR1", "a Parquet file", "parquet"),
          (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls) or another OLE file", None))


def binary_format(head: bytes) -> str | None:
    """What a file starting with ``head`` looks like when it is a binary format, not text: the words
    for a message, with ``--format NAME`` when ``batch`` reads it (None: no such format)."""
    for magic, what, fmt in _MAGIC:
        if head.startswith(magic):
            return what + (f"; read it with --format {fmt}, or leave out --format" if fmt else
                           "; save it from Excel as .xlsx or as CSV UTF-8")
    return None


def starts_json_array(stream: IO[bytes]) -> bool:
    """Whether the start of ``stream`` (read, not rewound) opens a JSON array: a ``.json`` export
    that is one array of records, not JSON Lines."""
    return stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


#: How many field or column names a message lists before "…".
SHOWN_NAMES = 12


def shown_names(names: Collection[str], shown: int = SHOWN_NAMES) -> str:
    """The first ``shown`` of ``names``, comma-separated, with ", …" when there are more (for messages)."""
    return ", ".join(list(names)[:shown]) + (", …" if len(names) > shown else "")


def jsonl_fields_without(stream: IO[bytes], field: str, *, shown: int = SHOWN_NAMES) -> str | None:
    """When no object of the JSONL ``stream`` has ``field`` (a mistyped ``--text-column``): the
    field names its objects do have, for the message (the first ``shown``); None when one has it,
    when there is no object, or when a line too long to read might hold it.  Stops reading at the
    first object that has the field."""
    seen: dict[str, None] = {}
    for raw in jsonl_lines(stream):
        if raw is None:
            return None
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            if field in obj:
                return None
            seen.update(dict.fromkeys(obj))
    if not seen:
        return None
    return shown_names(seen, shown)


def _json_problem(e: json.JSONDecodeError, line: str) -> str:
    """``Expecting ',' delimiter at column 14`` (at the end of the line: said so)."""
    msg = re.sub(r"\s+at$", "", e.msg)  # ("Invalid control character at" already ends with it)
    if e.pos >= len(line):
        return f"{msg} at the end of the line, column {e.colno}: is the line cut short?"
    return f"{msg} at column {e.colno}"


def _undecodable_replaced(obj: dict[str, Any], pattern: re.Pattern[str] = UNDECODABLE,
                          keep: Collection[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """``obj`` with undecodable bytes (surrogate escapes; or what ``pattern`` matches) as U+FFFD, in
    names and values at any depth, but not in the values of the fields in ``keep``, and the top-level
    fields where there were some (their new names)."""
    def fix(v: Any) -> Any:
        if isinstance(v, str):
            return pattern.sub("\ufffd", v) if not v.isascii() else v
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {fix(k): fix(x) for k, x in v.items()}
        return v

    out: dict[str, Any] = {}
    fields = []
    for k, v in obj.items():
        new_k, new_v = fix(k), (v if k in keep else fix(v))
        if new_k != k or new_v != v:
            fields.append(new_k)
        out[new_k] = new_v
    return out, fields


def surrogates_replaced(obj: dict[str, Any], keep: Collection[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """``obj`` with every :data:`LONE_SURROGATE` as U+FFFD, in names and values at any depth (but
    not in the values of the fields in ``keep``), and the top-level fields that held one (by their
    new names): a record that can be written as UTF-8 JSON every reader accepts.  ``obj`` itself
    is returned when there is nothing to replace."""
    out, fields = _undecodable_replaced(obj, LONE_SURROGATE, keep)
    return (out, fields) if fields else (obj, [])


def _first_clause(e: BaseException) -> str:
    """The start of an exception's message (no input text: Python's messages quote none here)."""
    return str(e).split(";")[0].split(":")[0].strip() or type(e).__name__


def raise_field_limit(limit: int) -> None:
    """Let the ``csv`` module read fields of up to ``limit`` characters.

    ``csv.field_size_limit`` is process-wide (default 131,072): it is only ever raised here,
    never lowered, and only when a file is read (not on import).
    """
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def renamed_note(renamed: Sequence[tuple[str, str]]) -> str:
    """The diagnostic for columns :func:`unique_names` renamed: ``columns renamed to keep them
    apart: '備考' → '備考.1'``."""
    return "columns renamed to keep them apart: " + ", ".join(f"{a!r} → {b!r}" for a, b in renamed)


def unique_names(names: Sequence[str], *, last: Collection[int] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    """Column names made unique as pandas' CSV reader does: ``備考, 備考.1, 備考.2``.

    A suffix already taken by another column is skipped.  The names at the indexes in
    ``last`` (generated ones, e.g. for blank header cells) give way to the others.
    Returns the new names and the ``(old, new)`` pairs renamed, in column order.

    >>> unique_names(["受付番号", "備考", "内容", "備考"])
    (['受付番号', '備考', '内容', '備考.1'], [('備考', '備考.1')])
    """
    out = list(names)
    order = [i for i in range(len(out)) if i not in last] + sorted(i for i in last if i < len(out))
    counts: dict[str, int] = {}
    renamed = []
    for i in order:
        col = old = out[i]
        cur = counts.get(col, 0)
        while cur > 0:
            counts[old] = cur + 1
            col = f"{old}.{cur}"
            cur = cur + 1 if col in out else counts.get(col, 0)
        if col != old:
            renamed.append((i, old, col))
        out[i] = col
        counts[col] = cur + 1
    return out, [(old, new) for _, old, new in sorted(renamed)]


class CsvRecord(NamedTuple):
    """One record of a CSV/TSV file, as read by :class:`CsvReader`.

    Attributes
    ----------
    row : int
        Spreadsheet row number (the header is row 1; blank rows count, as in Excel).
    line : int
        Physical line of the file where the record starts (differs from ``row`` after a
        quoted field that holds line breaks).
    values : dict
        Column -> cell text, for every field that could be mapped to a column.  Bytes not
        valid in the file's encoding are kept as surrogate escapes (U+DC80-U+DCFF).
    problem : str or None
        Why the record cannot be used as is (wrong number of fields), without its location.
    undecodable : tuple of str
        Columns whose cell holds undecodable bytes.
    truncated : tuple of str
        Columns whose cell was longer than the field limit and was cut there.
    """

    row: int
    line: int
    values: dict[str, str]
    problem: str | None = None
    undecodable: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()


# States of _RecordParser, named as in CPython's Modules/_csv.c
_START_RECORD, _START_FIELD, _IN_FIELD, _IN_QUOTED, _QUOTE_IN_QUOTED, _EAT_CRNL = range(6)


class _RecordParser:
    """The ``csv`` module's record grammar (excel dialect, not strict), with a cap on fields.

    Used to re-read a record on which ``csv.reader`` failed (a field over the field limit):
    the reader cannot resume mid-record, and would read the rest of a long quoted field as
    new records.  Fed one line at a time; fields are cut at ``limit`` characters.
    """

    def __init__(self, delimiter: str, limit: int) -> None:
        self.delimiter = delimiter
        self.limit = limit
        self.state = _START_RECORD
        self.fields: list[str] = []
        self.cut: list[int] = []
        self._parts: list[str] = []
        self._len = 0
        self._over = False
        self._stop = re.compile("[" + re.escape(delimiter) + "\r\n]")

    def _add(self, s: str) -> None:
        room = self.limit - self._len
        if len(s) > room:
            s = s[: max(room, 0)]
            self._over = True
        if s:
            self._parts.append(s)
            self._len += len(s)

    def _save(self) -> None:
        if self._over:
            self.cut.append(len(self.fields))
        self.fields.append("".join(self._parts))
        self._parts, self._len, self._over = [], 0, False

    def feed(self, line: str) -> bool:
        """Parse one physical line; True when the record ends with it."""
        d = self.delimiter
        st = self.state
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if st == _START_RECORD:
                if c in "\r\n":
                    st, i = _EAT_CRNL, i + 1
                    continue
                st = _START_FIELD
            if st == _START_FIELD:
                if c in "\r\n":
                    self._save()
                    st = _EAT_CRNL
                elif c == '"':
                    st = _IN_QUOTED
                elif c == d:
                    self._save()
                else:
                    st = _IN_FIELD
                    continue
                i += 1
            elif st == _IN_FIELD:
                m = self._stop.search(line, i)
                j = m.start() if m else n
                self._add(line[i:j])
                if m:
                    self._save()
                    st = _START_FIELD if line[j] == d else _EAT_CRNL
                    j += 1
                i = j
            elif st == _IN_QUOTED:
                j = line.find('"', i)
                if j < 0:
                    self._add(line[i:])
                    i = n
                else:
                    self._add(line[i:j])
                    st, i = _QUOTE_IN_QUOTED, j + 1
            elif st == _QUOTE_IN_QUOTED:
                if c == '"':
                    self._add(c)
                    st = _IN_QUOTED
                elif c == d:
                    self._save()
                    st = _START_FIELD
                elif c in "\r\n":
                    self._save()
                    st = _EAT_CRNL
                else:
                    self._add(c)
                    st = _IN_FIELD
                i += 1
            else:  # _EAT_CRNL: only line breaks follow (lines are split at them)
                if c in "\r\n":
                    i += 1
                else:
                    st = _START_FIELD
        # end of the line
        if st in (_START_FIELD, _IN_FIELD, _QUOTE_IN_QUOTED):
            self._save()
            st = _START_RECORD
        elif st == _EAT_CRNL:
            st = _START_RECORD
        self.state = st
        return st == _START_RECORD

    def finish(self) -> None:
        """End of input inside a quoted field: the field ends there (as in ``csv``)."""
        if self.state == _IN_QUOTED or self._parts:
            self._save()
        self.state = _START_RECORD


class CsvReader:
    """Read a CSV/TSV byte stream record by record, never losing a column or a record.

    The header is read on construction.  Iterating yields one :class:`CsvRecord` per
    record that is not empty (an empty line, or one of delimiters only, as a spreadsheet saves
    a blank row, is skipped, as is a stray line of spaces with fewer fields than the header; a
    row of spaces with the header's width makes a record: see :func:`_no_record`).  Undecodable bytes
    are kept as surrogate escapes and named per record; a field over ``field_limit``
    characters is cut there and named, and the next record is read normally; a record with
    the wrong number of fields keeps the fields it has; a quote opened and never closed makes
    its record an error and the lines it swallowed are read again as records.

    Parameters
    ----------
    stream : binary file
        The file, read in text mode with ``encoding`` and ``errors="surrogateescape"``.
    text_column : str or None
        The header must name this column (None: no check).
    delimiter : str, default=","
    encoding : str, default="utf-8-sig"
    field_limit : int, default=FIELD_LIMIT
        Longest field read whole, in characters.  Raises the process-wide
        ``csv.field_size_limit`` to this if it is lower.
    source : str, default="the CSV file"
        How messages name the file.
    encoding_hint : str
        What a message suggests when the header looks mis-decoded.

    Attributes
    ----------
    header : list of str or None
        Column names (blank ones named ``column_N``, duplicates ``NAME.1``…); None for an
        empty file.
    renamed : list of (str, str)
        Header names that were renamed, ``(old, new)``.
    stray_rows : list of int
        The spreadsheet rows of the stray lines of spaces :meth:`first_misshapen` skipped
        (pandas reads each as a row, which the caller drops by its number).

    Raises
    ------
    InputFormatError
        The header cannot be read, or does not name ``text_column`` (the message says when
        the file's encoding looks wrong instead of listing garbled names).
    """

    def __init__(self, stream: IO[bytes], *, text_column: str | None, delimiter: str = ",",
                 encoding: str = "utf-8-sig", field_limit: int = FIELD_LIMIT, source: str = "the CSV file",
                 encoding_hint: str = ENCODING_HINT) -> None:
        self.delimiter = delimiter
        self.encoding = encoding
        self.field_limit = field_limit
        self.source = source
        self.lines = 0  # physical lines read so far
        self.stray_rows: list[int] = []
        self._buf: list[str] = []  # the lines of the record being read
        self._pending: deque[str] = deque()  # lines to read again (after an unclosed quote)
        self._eof = False  # the line source has ended (a record read then ran into it in an open quote)
        self._width = 0  # the header's, once read (0: no runaway-quote check)
        self._text = _io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
        self._src = self._line_source()
        raise_field_limit(field_limit)
        self._check_len = csv.field_size_limit() > field_limit
        self._reader = csv.reader(self._src, delimiter=delimiter)
        self.renamed: list[tuple[str, str]] = []
        self.garbled = False  # the header holds bytes that did not decode: the encoding looks wrong
        self.header = self._read_header(text_column, encoding_hint)

    def _line_source(self) -> Iterator[str]:
        buf, pending = self._buf, self._pending
        pua = SINGLE_BYTE_PUA if reads_singles_as_pua(self.encoding) else None
        text = iter(self._text)
        while True:
            if pending:
                s = pending.popleft()
            else:
                s = next(text, None)
                if s is None:
                    self._eof = True
                    return
                if pua is not None:
                    s = s.translate(pua)
            self.lines += 1
            buf.append(s)
            yield s

    def _runaway(self, start: int, fields: list[str] | None = None) -> tuple[list[str], str] | None:
        """When the record just read (its lines in ``_buf``, the first at physical line ``start``;
        ``fields``, when it was read whole) opened a quote it never closed: its first line's fields
        and the problem, with the lines after the first put back to be read again as records.
        None otherwise.  A record whose quotes close properly, each followed by a delimiter or the
        end of a line, and that has the header's number of fields is never one, whatever its
        lines look like (「2,3日前から」 on a line of its own is text, not a record).

        A record read whole that ran into the end of the file (the reader asked for a line after
        its first and got none) is one in every case: only an open quote reads past a line's end,
        so its quote is never closed, and each line after its first is read again as a record."""
        lines = self._buf
        at_end = fields is not None and self._eof
        if not self._width or (len(lines) < 3 and not at_end):
            return None
        if at_end:
            n = 0
        else:
            if fields is not None and len(fields) == self._width and _closes_cleanly(lines, self.delimiter):
                return None
            n = runaway_quote(lines, self.delimiter, self._width)
            if not n:
                return None
        first = next(csv.reader(lines[:1], delimiter=self.delimiter), [])
        if first:
            first[-1] = first[-1].rstrip("\r\n")
        swallowed = len(lines) - 1
        self._pending.extendleft(reversed(lines[1:]))
        self._eof = False
        self.lines = start
        lines.clear()
        # (a new line source too: the old one has ended if the field ran to the end of the file)
        self._src = self._line_source()
        self._reader = csv.reader(self._src, delimiter=self.delimiter)
        if at_end:
            again = ("" if not swallowed else ", so the line after it was read again as a record" if swallowed == 1
                     else f", so the {swallowed:,} lines after it were read again as records")
            return first, ("opens a quoted field that is never closed (a stray \" in it?): the file ends inside "
                           f"that field{again}; check the quotes of this row")
        return first, (f"opens a quoted field that is never closed where it should be (a stray \" in it?): "
                       f"the {swallowed:,} lines after it were read into that field, {n:,} of them "
                       "records of their own, so they were read again as records; check the quotes of this row")

    def _next_fields(self) -> tuple[list[str], list[int], str | None] | None:
        """The next record's fields, the indexes of cut fields and a problem; None at the end."""
        self._buf.clear()
        start = self.lines + 1
        try:
            fields = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as e:
            return self._after_error(e, start)
        if (len(self._buf) > 2 or self._eof) and (run := self._runaway(start, fields)) is not None:
            return run[0], [], run[1]
        if self._check_len and fields and max(map(len, fields)) > self.field_limit:
            return (*self._cut(fields), None)
        return fields, [], None

    def _after_error(self, e: csv.Error, start: int) -> tuple[list[str], list[int], str | None]:
        """csv.reader failed on the current record and cannot go on mid-record: read it again
        (or, when it opened a quote it never closed, read the lines after its first again)."""
        if (run := self._runaway(start)) is not None:
            return run[0], [], run[1]
        fields, cut = self._recover()
        limit = str(e).startswith("field larger than field limit")
        return fields, cut, None if limit else f"is not valid CSV ({e})"

    def _cut(self, fields: list[str]) -> tuple[list[str], list[int]]:
        cut = [i for i, f in enumerate(fields) if len(f) > self.field_limit]
        for i in cut:
            fields[i] = fields[i][: self.field_limit]
        return fields, cut

    def _recover(self) -> tuple[list[str], list[int]]:
        """Re-read the record on which csv.reader failed, to its end, cutting long fields."""
        parser = _RecordParser(self.delimiter, self.field_limit)
        lines, ended = list(self._buf), False
        self._buf.clear()
        for s in lines:
            ended = parser.feed(s)
        while not ended:
            s = next(self._src, None)
            self._buf.clear()
            if s is None:
                parser.finish()
                break
            ended = parser.feed(s)
        return parser.fields, parser.cut

    def _read_header(self, text_column: str | None, hint: str) -> list[str] | None:
        got = self._next_fields()
        if got is None:
            return None
        raw, _, problem = got
        if problem is not None:
            raise InputFormatError(f"cannot read the header of {self.source}: it {problem}")
        if raw and raw[0].startswith("\ufeff"):
            raw[0] = raw[0][1:]
        if text_column is not None and not any(map(str.strip, raw)):
            raise InputFormatError(f"{self.source} has no header: its first line is blank, so no column "
                                   f"{text_column!r} can be found; the first line must name the columns")
        garbled = self.garbled = any(map(_GARBLED.search, raw))
        names = [f"column_{i + 1}" if not s.strip() else UNDECODABLE.sub("\ufffd", s) for i, s in enumerate(raw)]
        blanks = [i for i, s in enumerate(raw) if not s.strip()]
        names, dups = unique_names(names, last=blanks)
        blank = [(raw[i], names[i]) for i in blanks]
        self.renamed = blank + dups
        self._width = len(names)
        if text_column is not None and text_column not in names:
            if garbled:
                raise InputFormatError(
                    f"no column {text_column!r} in {self.source}: its header does not read as "
                    f"{self.encoding.replace('-sig', '').upper()}, so the file's encoding looks wrong; {hint}")
            raise InputFormatError(
                f"no column {text_column!r} in the header of {self.source} (columns: {', '.join(names) or 'none'}); "
                "choose one with --text-column"
            )
        return names

    def records(self) -> Iterator[CsvRecord]:
        """Every record that is not empty or a stray line of spaces (:func:`_no_record`), in order."""
        header = self.header
        if header is None:
            return
        width = len(header)
        row = 1
        buf, clear, check_len, search = self._buf, self._buf.clear, self._check_len, UNDECODABLE.search
        while True:
            line = self.lines + 1
            clear()
            cut: list[int] = []
            problem = None
            try:  # (the common case inline: this loop runs once per record)
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as e:
                fields, cut, problem = self._after_error(e, line)
            else:
                if (len(buf) > 2 or self._eof) and (run := self._runaway(line, fields)) is not None:
                    fields, problem = run
                elif check_len and fields and max(map(len, fields)) > self.field_limit:
                    fields, cut = self._cut(fields)
            row += 1
            if _no_record(fields, width):  # (a cell of spaces is a record, but for a stray line of spaces)
                continue
            if problem is None and len(fields) != width:
                problem = _field_count_problem(fields, width, len(buf))
            bad: tuple[str, ...] = ()
            if any(map(search, fields)):  # (a search per cell, not a Python step per character)
                bad = tuple(header[i] for i, f in enumerate(fields[:width]) if search(f))
            yield CsvRecord(row, line, dict(zip(header, fields, strict=False)), problem, bad,
                            tuple(header[i] for i in cut if i < width) if cut else ())

    def __iter__(self) -> Iterator[CsvRecord]:
        return self.records()

    def first_misshapen(self) -> tuple[int, str] | None:
        """``(spreadsheet row, problem)`` of the first record with the wrong number of fields or that
        is not valid CSV (what :meth:`records` reports as its ``problem``; an empty record or a
        stray line of spaces is skipped, as there, unless it has more fields than the header, and
        the stray lines' rows are kept in :attr:`stray_rows`); None when there is none.  Reads the
        rest of the file without building records."""
        if self.header is None:
            return None
        width, row = len(self.header), 1
        while (got := self._next_fields()) is not None:
            fields, _cut, problem = got
            row += 1
            if len(fields) <= width and _no_record(fields, width):  # (pandas trips on a wider one)
                if any(fields):
                    self.stray_rows.append(row)
                continue
            problem = problem or _field_count_problem(fields, width, len(self._buf))
            if problem is not None:
                return row, problem
        return None

    def count(self) -> int:
        """How many records :meth:`records` yields, without building them."""
        if self.header is None:
            return 0
        n, width = 0, len(self.header)
        while (got := self._next_fields()) is not None:
            n += not _no_record(got[0], width)
        return n


def read_csv(stream: IO[bytes], *, text_column: str, delimiter: str = ",", encoding: str = "utf-8-sig",
             field_limit: int = FIELD_LIMIT, numbering: Literal["line", "row"] = "line",
             repair_other_columns: bool = False, encoding_hint: str = ENCODING_HINT,
             ) -> Iterator[tuple[int, dict[str, Any] | InputRecordError]]:
    """Read CSV rows as dicts of strings; rows that cannot be read whole become errors.

    Each item is ``(n, record)`` where ``n`` is the physical line where the record starts
    (``numbering="line"``, the default) or its spreadsheet row number, header = 1
    (``numbering="row"``).  A record with undecodable bytes, a field over ``field_limit``
    characters or the wrong number of fields becomes an :class:`InputRecordError` whose
    ``values`` keep the fields that could be read (undecodable bytes as U+FFFD); the records
    after it are read normally.  With ``repair_other_columns``, undecodable bytes outside
    ``text_column`` are replaced with U+FFFD (an :class:`InputWarning` says where) and the
    record is kept.  Empty rows (no character in any cell) and stray lines of spaces (fewer
    fields than the header) are skipped; a row whose cells hold only spaces is otherwise a
    record.  Duplicate header names are renamed
    (``備考``, ``備考.1``) with an :class:`InputWarning`, and a header that does not decode
    gets one saying the encoding looks wrong (``encoding_hint``: what to do about it).  When
    the header reads but a row does not decode as UTF-8 (a CP932 file whose header is ASCII),
    one :class:`InputWarning` at the first such row says the same, not one per row.

    Raises :class:`InputFormatError` when the header lacks ``text_column`` (the whole run
    cannot proceed); when the header does not decode, the message says the encoding looks
    wrong and to re-save the file as UTF-8.
    """
    reader = CsvReader(stream, text_column=text_column, delimiter=delimiter, encoding=encoding,
                       field_limit=field_limit, encoding_hint=encoding_hint)
    enc = encoding.replace("-sig", "")
    if reader.header is None:
        raise InputFormatError(f"the CSV file is empty: it has no header line naming the column {text_column!r}")
    if reader.garbled:
        warnings.warn(f"the header does not read as {enc.upper()} (columns: {', '.join(reader.header)}), "
                      f"so the file's encoding looks wrong; {encoding_hint}", InputWarning, stacklevel=2)
    if reader.renamed:
        warnings.warn(renamed_note(reader.renamed), InputWarning, stacklevel=2)
    # (said once, at the first row that does not decode: every row of a CP932 file would repeat it)
    hint_rows = not reader.garbled and codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    for rec in reader:
        n = rec.line if numbering == "line" else rec.row
        where = f"{numbering} {n}"
        values = _replaced(rec.values) if rec.undecodable else rec.values
        if rec.undecodable and hint_rows:
            hint_rows = False
            warnings.warn(f"{where} holds bytes that are not valid {enc.upper()} (and later rows may too), so the "
                          f"file's encoding looks wrong; {encoding_hint}", InputWarning, stacklevel=2)
        if rec.undecodable and (not repair_other_columns or text_column in rec.undecodable):
            yield n, InputRecordError(f"{where} is not valid {enc} text; re-save the file as UTF-8", values)
        elif rec.problem is not None:
            yield n, InputRecordError(f"{where} {rec.problem}", values)
        elif rec.truncated:
            what = "the text is" if text_column in rec.truncated else f"column {rec.truncated[0]!r} is"
            yield n, InputRecordError(f"{where}: {what} over the limit of {field_limit:,} characters for one field",
                                      values)
        else:
            if rec.undecodable:
                warnings.warn(f"{where}: bytes not valid {enc} replaced with U+FFFD in "
                              f"{column_names(rec.undecodable)}; the record is kept", InputWarning, stacklevel=2)
            yield n, values


def _replaced(values: dict[str, str]) -> dict[str, str]:
    """``values`` with undecodable bytes (surrogate escapes) replaced with U+FFFD."""
    return {k: UNDECODABLE.sub("\ufffd", v) for k, v in values.items()}
