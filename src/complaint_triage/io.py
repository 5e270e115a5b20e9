"""Reading message records from JSONL and CSV, never losing one.

Each record read is either ``(line_no, dict)`` or ``(line_no, InputRecordError)``: bad
lines (invalid UTF-8, malformed JSON, a JSON value that is not an object) become error
records that say why, so every input line yields exactly one output line.
"""

from __future__ import annotations

import csv
import io as _io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from complaint_triage.exceptions import InputFormatError

__all__ = ["InputRecordError", "read_jsonl", "read_csv", "detect_format", "FORMATS"]

FORMATS = ("jsonl", "csv", "tsv")

#: What ``errors="surrogateescape"`` decodes an undecodable byte to (U+DC80-U+DCFF).
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class InputRecordError:
    """A line that could not be read as a record."""

    error: str


def json_line(obj: Any, **kwargs: Any) -> str:
    """``obj`` as one line of JSON, non-ASCII text kept as is.

    A lone UTF-16 surrogate (from a ``"\\ud800"`` escape in the input) cannot be written as
    UTF-8; such a line is written with ASCII escapes instead, so it still round-trips.
    """
    line = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj, ensure_ascii=True, **kwargs)
    return line


def detect_format(name: str, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise InputFormatError(f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}")
        return explicit
    lower = name.lower()
    if lower.endswith((".csv",)):
        return "csv"
    if lower.endswith((".tsv", ".tab")):
        return "tsv"
    return "jsonl"


def read_jsonl(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | InputRecordError]]:
    for n, raw in enumerate(stream, 1):
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield n, InputRecordError(f"line {n} is not valid UTF-8 (byte {e.start}); re-save the file as UTF-8")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield n, InputRecordError(f"line {n} is not valid JSON ({e.msg} at column {e.colno})")
            continue
        if not isinstance(obj, dict):
            yield n, InputRecordError(
                f"line {n} is a JSON {type(obj).__name__}, expected an object with a 'text' field")
            continue
        yield n, obj


def read_header(
    reader: Iterator[list[str]], text_column: str, *, source: str = "the CSV file"
) -> list[str] | None:
    """The first row of a ``csv.reader``, checked to name ``text_column``; None for an empty file.

    Raises :class:`InputFormatError` when the header cannot be read or lacks the column.
    """
    try:
        header = next(reader)
    except StopIteration:
        return None
    except csv.Error as e:
        raise InputFormatError(f"cannot read the header of {source}: {e}") from e
    if text_column not in header:
        raise InputFormatError(
            f"no column {text_column!r} in the header of {source} (columns: {', '.join(header) or 'none'}); "
            "choose one with --text-column"
        )
    return header


def read_csv(stream: IO[bytes], *, text_column: str, delimiter: str = ",",
             encoding: str = "utf-8-sig") -> Iterator[tuple[int, dict[str, Any] | InputRecordError]]:
    """Read CSV rows as dicts of strings; rows with undecodable bytes become errors.

    Raises :class:`InputFormatError` when the header lacks ``text_column`` (the whole run
    cannot proceed).
    """
    text = _io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    header = read_header(reader, text_column)
    if header is None:
        return
    n = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            n += 1
            yield n, InputRecordError(f"row {n} is not valid CSV ({e})")
            continue
        n += 1
        if not row:
            continue
        if any(map(_UNDECODABLE.search, row)):  # (a search per cell, not a Python step per character)
            yield n, InputRecordError(
                f"row {n} is not valid {encoding.replace('-sig', '')} text; re-save the file as UTF-8")
            continue
        if len(row) != len(header):
            yield n, InputRecordError(f"row {n} has {len(row)} fields, the header has {len(header)}")
            continue
        yield n, dict(zip(header, row, strict=True))
