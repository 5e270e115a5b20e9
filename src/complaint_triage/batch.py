"""Batch scoring of archived message logs: many input formats in, one scored file out.

The office's archives come as CSV/TSV saved by Japanese Excel (CP932) or other tools
(UTF-8, UTF-8 with BOM), Excel workbooks, JSON Lines from a CRM, Parquet, mbox files and
folders of ``.eml`` files.  :func:`run_batch` reads any mix of them (globs allowed), scores
every record in fixed-size chunks on a process pool (or on a Dask cluster), and writes one
output file whose format follows its extension (``.parquet``, ``.csv``, ``.jsonl``,
``.xlsx``).  Every input column is kept and the prediction columns are added::

    source_file, source_record,            where the record came from
    [sender_id],                           pseudonymised sender (when --sender-column is given)
    verdict, categories, grievance,
    score_harassment … score_grievance,    the 11 calibrated probabilities
    evidence, action, review, model_version,
    error                                  why a record could not be scored (else empty)

Design
------
* :func:`score_frame` is the one pure scoring function: ``DataFrame -> DataFrame``.  The
  local engine calls it in worker processes (each loads the model once, in the pool
  initializer); the Dask engine maps it over partitions with ``map_partitions``.
* Memory is bounded: records are streamed, at most ``2 × jobs`` chunks are in flight, and
  the output writers stream too.
* Resumable: each finished chunk is saved atomically as ``<output>.parts/chunk-NNNNNN.jsonl``.
  ``resume=True`` skips the chunks already saved; the output is always assembled from the
  saved chunks, so a resumed run writes exactly what an uninterrupted run writes.
* Nothing is lost: an empty, non-text, over-long, undecodable or malformed record yields an
  output row whose ``error`` column says why.

Dask engine
-----------
``engine="dask"`` (``--engine dask``) reads CSV/TSV and Parquet inputs with
``dask.dataframe`` and maps :func:`score_frame` over the partitions; the driver streams the
scored partitions, in order, into the same checkpoints and writers, so the output is
byte-identical to the local engine's.  Without ``scheduler`` a ``LocalCluster`` of ``jobs``
single-threaded worker processes is started.  To use an existing cluster::

    dask scheduler                                   # on one machine: tcp://HOST:8786
    dask worker tcp://HOST:8786 --nworkers 2 --nthreads 1    # on each worker machine
    complaint-triage batch 'archive/*.parquet' -o scored.parquet \
        --engine dask --scheduler tcp://HOST:8786 --model /shared/models/m-…

Workers need the same environment (``pip install 'complaint-triage[dask]'``), the input
files and the model directory at the same paths (a shared file system), and one thread
each (a MeCab tagger is per thread; scoring is CPU-bound).  Each worker loads the model
once and keeps it.  A CSV file is one partition (Dask cannot split files whose quoted
fields hold line breaks; pass ``--blocksize 64MB`` only for files without them); a Parquet
file gives one partition per row group, so write big archives as Parquet with row groups
of some 10,000–100,000 rows.

Sender pseudonyms
-----------------
With a sender column, a ``sender_id`` column and a per-sender summary are written.  Sender
identifiers are replaced by ``S-`` + 16 hex digits of HMAC-SHA256 under a secret key, unless
``keep_sender_ids=True``.  The key is taken from the environment variable
``COMPLAINT_TRIAGE_SENDER_KEY`` (at least 16 characters) if set; otherwise from a key file,
by default ``$XDG_CONFIG_HOME/complaint-triage/sender.key`` (``~/.config/…``), which is
generated (32 random bytes, mode 0600) on first use.  Keep the key to get the same
pseudonyms in later runs; delete it to make old pseudonyms unlinkable.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob
import hashlib
import hmac
import importlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import sys
import threading
import time
import unicodedata
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from complaint_triage.exceptions import ComplaintTriageError, InputFormatError
from complaint_triage.io import json_line, read_header
from complaint_triage.labels import CATEGORIES, VERDICTS
from complaint_triage.model import SCORE_NAMES
from complaint_triage.scoring import DEFAULT_MAX_CHARS, Prediction, Triager

__all__ = [
    "BatchResult",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "PREDICTION_COLUMNS",
    "SCORE_COLUMNS",
    "SENDER_KEY_ENV",
    "OptionalDependencyError",
    "Record",
    "SenderAggregator",
    "default_sender_key_file",
    "detect_encoding",
    "expand_inputs",
    "import_or_raise",
    "iter_chunks",
    "iter_records",
    "iter_scored",
    "load_sender_key",
    "parse_date",
    "pseudonymise",
    "run_batch",
    "score_frame",
]

#: Input formats (``--format``); by default chosen from the file extension.
INPUT_FORMATS = ("csv", "tsv", "xlsx", "jsonl", "parquet", "mbox", "eml")
#: Output formats, chosen from the output file's extension.
OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
                  ".ndjson": "jsonl", ".xlsx": "xlsx"}
#: One probability column per entry of the ``scores`` object of the output schema.
SCORE_COLUMNS: tuple[str, ...] = tuple(f"score_{n}" for n in SCORE_NAMES)
#: Columns :func:`score_frame` adds, in order.
PREDICTION_COLUMNS: tuple[str, ...] = (
    "verdict", "categories", "grievance", *SCORE_COLUMNS, "evidence", "action", "review", "model_version", "error",
)
SENDER_KEY_ENV = "COMPLAINT_TRIAGE_SENDER_KEY"

_SOURCE_COLUMNS = ("source_file", "source_record")
_RESERVED = frozenset({*PREDICTION_COLUMNS, *_SOURCE_COLUMNS, "sender_id", "scores"})
_EMAIL_BASE_COLUMNS = ("channel", "message_id", "from", "to", "cc", "subject", "date")
_EMAIL_TAIL_COLUMNS = ("quotes_reply", "attachments", "charset", "defects")
_INDEX_COL = re.compile(r"^__index_level_\d+__$")
_SURROGATE = re.compile("[\ud800-\udfff]")  # undecodable bytes (surrogateescape) or lone JSON escapes
_XLSX_MAX_ROWS = 1_048_576
_XLSX_MAX_CELL = 32_767
_PARTS_SUFFIX = ".parts"
_RUN_FILE = "run.json"


class OptionalDependencyError(ComplaintTriageError, ImportError):
    """A feature needs an optional package that is not installed."""


def import_or_raise(module: str, feature: str) -> Any:
    """Import ``module`` or raise :class:`OptionalDependencyError` naming ``feature``.

    >>> import_or_raise("json", "JSON output").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra = {"dask": "dask", "distributed": "dask", "pyarrow": "batch", "openpyxl": "batch"}.get(
            module.split(".")[0], "batch")
        raise OptionalDependencyError(
            f"{feature} needs the optional package {module.split('.')[0]!r}; "
            f"install it with: pip install 'complaint-triage[{extra}]'"
        ) from e


# ---------------------------------------------------------------------------
# The pure scoring function
# ---------------------------------------------------------------------------

_TRIAGERS: dict[tuple[str, int], Triager] = {}


def _model_dir(model: str | os.PathLike[str] | None) -> Path:
    """Resolve ``model`` (None = the promoted default) to a concrete model directory."""
    from complaint_triage.persist import MODEL_FILE, models_root, promoted_version

    if model is None:
        env = os.environ.get("COMPLAINT_TRIAGE_MODEL")
        if env:
            model = env
        else:
            root = models_root()
            return (root / promoted_version(root)).resolve()
    p = Path(model)
    if p.is_file() and p.name == MODEL_FILE:
        p = p.parent
    return p.resolve()


def _get_triager(model: str | os.PathLike[str] | None, max_chars: int) -> Triager:
    """The triager for ``model``, loaded once per process."""
    key = (str(_model_dir(model)), int(max_chars))
    tr = _TRIAGERS.get(key)
    if tr is None:
        tr = Triager.load(key[0], max_chars=key[1])
        _TRIAGERS[key] = tr
    return tr


def _is_missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def score_frame(
    df: pd.DataFrame,
    *,
    text_col: str = "text",
    model: str | os.PathLike[str] | None = None,
    triager: Triager | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    with_evidence: bool = True,
) -> pd.DataFrame:
    """Score the texts of one frame; return a copy with :data:`PREDICTION_COLUMNS` appended.

    Pure: ``df`` is not modified, and the result depends only on ``df`` and the model.  An
    empty frame is returned with the prediction columns and without loading the model, so
    ``score_frame(ddf._meta)`` is the ``meta`` of the Dask engine.

    Parameters
    ----------
    df : pandas.DataFrame
        Must hold ``text_col``.  Missing values, non-strings, empty or over-long texts and
        texts holding undecodable bytes (lone surrogates) become error rows.
    text_col : str, default="text"
        Column holding the message text.
    model : path-like or None, default=None
        Model directory (None = the promoted model); loaded once per process and cached.
        Ignored when ``triager`` is given.
    triager : Triager or None, default=None
        An already loaded triager.
    max_chars : int, default=20000
        Longer texts get an error (only used when the model is loaded from ``model``).
    with_evidence : bool, default=True
        Add evidence spans for harassment.

    Returns
    -------
    pandas.DataFrame
        ``df``'s columns plus ``verdict`` (str), ``categories`` (list of str), ``grievance``
        (bool), the ``score_*`` float columns, ``evidence`` (list of dicts with ``category``,
        ``start``, ``end``, ``text``), ``action`` (str), ``review`` (bool),
        ``model_version`` (str) and ``error`` (str; None when scored).  Prediction values
        are None on error rows.
    """
    if text_col not in df.columns:
        raise InputFormatError(
            f"no column {text_col!r} (columns: {', '.join(map(str, df.columns)) or 'none'}); "
            "choose one with --text-column"
        )
    n = len(df)
    cols: dict[str, list[Any]] = {c: [None] * n for c in PREDICTION_COLUMNS}
    if n:
        tr = triager if triager is not None else _get_triager(model, max_chars)
        raw = [None if _is_missing(v) else v for v in df[text_col].tolist()]
        bad = {i for i, v in enumerate(raw) if isinstance(v, str) and _SURROGATE.search(v)}
        idx = [i for i in range(n) if i not in bad]
        results = tr.score_many([raw[i] for i in idx], with_evidence=with_evidence) if idx else []
        for i in bad:
            cols["error"][i] = ("text holds bytes that are not valid in the file's encoding; "
                                "re-save the file as UTF-8 or pass --encoding")
            cols["model_version"][i] = tr.version
        for i, res in zip(idx, results, strict=True):
            if isinstance(res, Prediction):
                cols["verdict"][i] = res.verdict
                cols["categories"][i] = list(res.categories)
                cols["grievance"][i] = bool(res.grievance)
                for name, col in zip(SCORE_NAMES, SCORE_COLUMNS, strict=True):
                    cols[col][i] = float(res.scores[name])
                cols["evidence"][i] = [e.to_dict() for e in res.evidence]
                cols["action"][i] = res.action
                cols["review"][i] = bool(res.review)
                cols["model_version"][i] = res.model_version
            else:
                cols["error"][i] = res.error
                cols["model_version"][i] = res.model_version or tr.version
    out = df.copy(deep=False)
    for c in PREDICTION_COLUMNS:
        if c in SCORE_COLUMNS:
            out[c] = pd.Series([np.nan if v is None else v for v in cols[c]], index=df.index, dtype="float64")
        else:
            out[c] = pd.Series(cols[c], index=df.index, dtype=object)
    return out


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    path: Path
    label: str
    kind: str
    encoding: str | None = None


@dataclass(frozen=True)
class Record:
    """One input record.

    Attributes
    ----------
    source_file : str
        The input file (as given or as matched by a glob).
    source_record : str
        Where in the file: the CSV/TSV row number (header = 1), the JSONL line number, the
        Excel ``Sheet!row``, the Parquet row number (from 1), the mbox key or the .eml name.
    values : dict or None
        Column -> value; None when the record could not be read.
    error : str or None
        Why the record could not be read.
    """

    source_file: str
    source_record: str
    values: dict[str, Any] | None
    error: str | None = None


def detect_encoding(path: str | os.PathLike[str], *, sample_bytes: int = 1 << 20) -> str:
    """Guess a CSV/TSV file's encoding from its first ``sample_bytes``.

    Returns ``"utf-8-sig"`` (BOM), ``"utf-16"`` (UTF-16 BOM, Excel's "Unicode text"),
    ``"utf-8"``, ``"cp932"`` (Shift_JIS as written by Japanese Windows) or ``"euc_jp"``.
    Undecodable rows of a wrongly guessed file become error rows; override with
    ``encoding=``.
    """
    with open(path, "rb") as f:
        head = f.read(sample_bytes)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    final = len(head) < sample_bytes
    for enc in ("utf-8", "cp932", "euc_jp"):
        try:
            codecs.getincrementaldecoder(enc)().decode(head, final=final)
        except UnicodeDecodeError:
            continue
        return enc
    return "utf-8"


_EXT_KINDS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".jsonl": "jsonl",
    ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".mbox": "mbox",
    ".mbx": "mbox", ".eml": "eml",
}


def _kind_of(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in INPUT_FORMATS:
            raise InputFormatError(f"unknown input format {fmt!r}; use one of {', '.join(INPUT_FORMATS)}")
        return fmt
    if path.is_dir():
        return "eml"
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputFormatError(f"{path}: old .xls workbooks are not supported; save it as .xlsx in Excel")
    kind = _EXT_KINDS.get(suffix)
    if kind is None:
        raise InputFormatError(
            f"cannot tell the format of {path} from its extension; pass --format "
            f"({', '.join(INPUT_FORMATS)})"
        )
    return kind


def expand_inputs(patterns: Iterable[str | os.PathLike[str]], *, fmt: str | None = None,
                  encoding: str | None = None) -> list[_Source]:
    """Expand globs and detect each input's format (and a CSV/TSV file's encoding).

    Raises
    ------
    InputFormatError
        A pattern matches nothing, or a format cannot be told.
    """
    out: list[_Source] = []
    seen: set[Path] = set()
    for pat in patterns:
        s = str(pat)
        matches = sorted(glob.glob(s, recursive=True)) if glob.has_magic(s) else [s]
        if not matches or not Path(matches[0]).exists():
            raise InputFormatError(f"no input matches {s!r}")
        for m in matches:
            p = Path(m)
            if p.resolve() in seen:
                continue
            seen.add(p.resolve())
            kind = _kind_of(p, fmt)
            if kind == "eml" and not p.is_dir() and not p.is_file():
                raise InputFormatError(f"no input matches {m!r}")
            enc = None
            if kind in ("csv", "tsv"):
                enc = encoding or detect_encoding(p)
            out.append(_Source(p, m, kind, enc))
    if not out:
        raise InputFormatError("no input files given")
    return out


def _header_names(cells: Sequence[object]) -> list[str]:
    return [f"column_{i + 1}" if c is None or str(c).strip() == "" else str(c).strip() for i, c in enumerate(cells)]


def _xlsx_sheets(src: _Source, text_col: str, sheet: str | None, warn: Callable[[str], None]) -> list[str]:
    openpyxl = import_or_raise("openpyxl", "Reading .xlsx workbooks")
    wb = openpyxl.load_workbook(src.path, read_only=True, data_only=True)
    try:
        names = list(wb.sheetnames)
        if sheet is not None:
            if sheet not in names:
                raise InputFormatError(f"{src.label}: no sheet {sheet!r} (sheets: {', '.join(names)})")
            names = [sheet]
        keep = []
        for name in names:
            header = _xlsx_header(wb[name])
            if header is None:
                continue
            if text_col not in header[1]:
                if sheet is not None:
                    raise InputFormatError(f"{src.label}: sheet {name!r} has no column {text_col!r} "
                                           f"(columns: {', '.join(header[1])}); choose one with --text-column")
                warn(f"{src.label}: sheet {name!r} skipped: no column {text_col!r}")
                continue
            keep.append(name)
        if not keep:
            raise InputFormatError(f"{src.label}: no sheet has a column {text_col!r}; choose one with --text-column")
        return keep
    finally:
        wb.close()


def _xlsx_header(ws: Any) -> tuple[int, list[str]] | None:
    for r, row in enumerate(ws.iter_rows(values_only=True), 1):
        if any(v is not None and str(v).strip() != "" for v in row):
            cells = list(row)
            while cells and (cells[-1] is None or str(cells[-1]).strip() == ""):
                cells.pop()
            return r, _header_names(cells)
    return None


def _read_xlsx(src: _Source, text_col: str, sheets: list[str]) -> Iterator[Record]:
    openpyxl = import_or_raise("openpyxl", "Reading .xlsx workbooks")
    wb = openpyxl.load_workbook(src.path, read_only=True, data_only=True)
    try:
        for name in sheets:
            ws = wb[name]
            header: list[str] | None = None
            for r, row in enumerate(ws.iter_rows(values_only=True), 1):
                if header is None:
                    if any(v is not None and str(v).strip() != "" for v in row):
                        cells = list(row)
                        while cells and (cells[-1] is None or str(cells[-1]).strip() == ""):
                            cells.pop()
                        header = _header_names(cells)
                    continue
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                    continue
                values: dict[str, Any] = {}
                for i, v in enumerate(row):
                    if i < len(header):
                        values[header[i]] = v
                    elif v is not None:
                        values[f"column_{i + 1}"] = v
                yield Record(src.label, f"{name}!{r}", values)
    finally:
        wb.close()


def _read_csv(src: _Source, text_col: str) -> Iterator[Record]:
    from complaint_triage.io import InputRecordError, read_csv

    delim = "\t" if src.kind == "tsv" else ","
    with open(src.path, "rb") as f:
        try:
            for n, rec in read_csv(f, text_column=text_col, delimiter=delim, encoding=src.encoding or "utf-8"):
                if isinstance(rec, InputRecordError):
                    yield Record(src.label, str(n), None, rec.error)
                else:
                    yield Record(src.label, str(n), rec)
        except InputFormatError as e:
            raise InputFormatError(f"{src.label}: {e}") from e


def _read_jsonl(src: _Source) -> Iterator[Record]:
    from complaint_triage.io import InputRecordError, read_jsonl

    with open(src.path, "rb") as f:
        for n, rec in read_jsonl(f):
            if isinstance(rec, InputRecordError):
                yield Record(src.label, str(n), None, rec.error)
            else:
                yield Record(src.label, str(n), rec)


def _parquet_file(src: _Source, text_col: str) -> Any:
    pq = import_or_raise("pyarrow.parquet", "Reading Parquet files")
    pf = pq.ParquetFile(src.path)
    if text_col not in pf.schema_arrow.names:
        raise InputFormatError(f"{src.label}: no column {text_col!r} (columns: {', '.join(pf.schema_arrow.names)}); "
                               "choose one with --text-column")
    return pf


def _read_parquet(src: _Source, text_col: str) -> Iterator[Record]:
    pf = _parquet_file(src, text_col)
    cols = [c for c in pf.schema_arrow.names if not _INDEX_COL.match(c)]
    n = 0
    for batch in pf.iter_batches(batch_size=4096, columns=cols):
        for row in batch.to_pylist():
            n += 1
            yield Record(src.label, str(n), row)


def _email_columns(text_col: str) -> list[str]:
    return [*_EMAIL_BASE_COLUMNS, text_col, *_EMAIL_TAIL_COLUMNS]


def _email_values(p: Any, text_col: str) -> dict[str, Any]:
    return {
        "channel": "email",
        "message_id": p.message_id,
        "from": p.from_,
        "to": ", ".join(p.to),
        "cc": ", ".join(p.cc),
        "subject": p.subject,
        "date": p.date,
        text_col: p.body,
        "quotes_reply": any(b.kind in ("quote", "quote_header") for b in p.stripped),
        "attachments": "; ".join(a.filename or a.content_type for a in p.attachments),
        "charset": p.charset,
        "defects": "; ".join(p.defects),
    }


def _read_email(src: _Source, text_col: str) -> Iterator[Record]:
    from complaint_triage.email import iter_eml_dir, iter_mbox, parse_email
    from complaint_triage.exceptions import EmailParseError

    if src.kind == "mbox":
        items: Iterable[tuple[str, Any]] = iter_mbox(src.path)
    elif src.path.is_dir():
        items = iter_eml_dir(src.path)
    else:
        def one() -> Iterator[tuple[str, Any]]:
            try:
                yield src.path.name, parse_email(src.path.read_bytes())
            except EmailParseError as e:
                yield src.path.name, e
        items = one()
    for key, res in items:
        if isinstance(res, Exception):
            yield Record(src.label, key, None, str(res))
        else:
            yield Record(src.label, key, _email_values(res, text_col))


def _check_json_array(src: _Source) -> None:
    with open(src.path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        raise InputFormatError(
            f"{src.label} is a JSON array; convert it to JSON Lines (one object per line), e.g. jq -c '.[]'"
        )


def _iter_source(src: _Source, text_col: str, sheets: dict[str, list[str]]) -> Iterator[Record]:
    if src.kind in ("csv", "tsv"):
        yield from _read_csv(src, text_col)
    elif src.kind == "jsonl":
        _check_json_array(src)
        yield from _read_jsonl(src)
    elif src.kind == "xlsx":
        yield from _read_xlsx(src, text_col, sheets[src.label])
    elif src.kind == "parquet":
        yield from _read_parquet(src, text_col)
    else:
        yield from _read_email(src, text_col)


@dataclass
class _Scan:
    columns: list[str]
    total: int
    arrow_types: dict[str, Any]
    sheets: dict[str, list[str]]
    warnings: list[str]


def _scan(sources: Sequence[_Source], text_col: str, sheet: str | None) -> _Scan:
    """Find the union of input columns (first-seen order) and count the records."""
    cols: dict[str, None] = {}
    types: dict[str, Any] = {}
    non_parquet: set[str] = set()
    total = 0
    warnings: list[str] = []
    sheets: dict[str, list[str]] = {}

    def add(names: Iterable[str], arrow: dict[str, Any] | None = None) -> None:
        for c in names:
            cols.setdefault(c, None)
            if arrow is None:
                non_parquet.add(c)
            elif c in types and types[c] != arrow[c]:
                non_parquet.add(c)
            else:
                types.setdefault(c, arrow[c])

    for src in sources:
        if src.kind in ("csv", "tsv"):
            with open(src.path, "rb") as f:
                text = _io_text(f, src.encoding or "utf-8")
                reader = csv.reader(text, delimiter="\t" if src.kind == "tsv" else ",")
                header = read_header(reader, text_col, source=src.label)
                if header is None:
                    continue
                add(header)
                try:
                    total += sum(1 for row in reader if row)
                except csv.Error:
                    pass
        elif src.kind == "jsonl":
            _check_json_array(src)
            with open(src.path, "rb") as f:
                for raw in f:
                    if not raw.strip():
                        continue
                    total += 1
                    try:
                        obj = json.loads(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        continue
                    if isinstance(obj, dict):
                        add(obj.keys())
        elif src.kind == "xlsx":
            sheets[src.label] = names = _xlsx_sheets(src, text_col, sheet, warnings.append)
            openpyxl = import_or_raise("openpyxl", "Reading .xlsx workbooks")
            wb = openpyxl.load_workbook(src.path, read_only=True, data_only=True)
            try:
                for name in names:
                    ws = wb[name]
                    h = _xlsx_header(ws)
                    if h is None:
                        continue
                    header = h[1]
                    add(header)
                    extra: set[int] = set()
                    for row in ws.iter_rows(min_row=h[0] + 1, values_only=True):
                        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                            continue
                        total += 1
                        extra.update(i for i in range(len(header), len(row)) if row[i] is not None)
                    add(f"column_{i + 1}" for i in sorted(extra))
            finally:
                wb.close()
        elif src.kind == "parquet":
            pf = _parquet_file(src, text_col)
            schema = pf.schema_arrow
            names = [c for c in schema.names if not _INDEX_COL.match(c)]
            add(names, {c: schema.field(c).type for c in names})
            total += pf.metadata.num_rows
        else:
            add(_email_columns(text_col))
            if src.kind == "mbox":
                import mailbox

                box = mailbox.mbox(str(src.path), create=False)
                try:
                    total += len(box)
                finally:
                    box.close()
            elif src.path.is_dir():
                total += sum(1 for f in src.path.iterdir() if f.suffix.lower() == ".eml" and f.is_file())
            else:
                total += 1
    cols.setdefault(text_col, None)
    arrow_types = {c: t for c, t in types.items() if c not in non_parquet}
    return _Scan(list(cols), total, arrow_types, sheets, warnings)


def _io_text(stream: IO[bytes], encoding: str) -> IO[str]:
    import io as _io

    return _io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")


def iter_records(inputs: Iterable[str | os.PathLike[str]], *, text_col: str = "text", fmt: str | None = None,
                 encoding: str | None = None, sheet: str | None = None) -> Iterator[Record]:
    """Stream every record of every input, in order, as :class:`Record` objects.

    Parameters
    ----------
    inputs : iterable of path-like or glob patterns
        Files (CSV, TSV, xlsx, JSONL, Parquet, mbox, .eml) and folders of .eml files.
    text_col : str, default="text"
        Column holding the text (for e-mails: where the new body text is put).
    fmt : str or None, default=None
        Force one input format for all inputs (see :data:`INPUT_FORMATS`).
    encoding : str or None, default=None
        Force the CSV/TSV encoding (default: :func:`detect_encoding`).
    sheet : str or None, default=None
        Read only this sheet of .xlsx inputs (default: every sheet holding ``text_col``).
    """
    sources = expand_inputs(inputs, fmt=fmt, encoding=encoding)
    sheets = {s.label: _xlsx_sheets(s, text_col, sheet, lambda _m: None) for s in sources if s.kind == "xlsx"}
    for src in sources:
        yield from _iter_source(src, text_col, sheets)


def _frame(rows: Sequence[Record], columns: Sequence[str]) -> pd.DataFrame:
    data = {c: pd.Series([r.values.get(c) if r.values is not None else None for r in rows], dtype=object)
            for c in columns}
    data["source_file"] = pd.Series([r.source_file for r in rows], dtype=object)
    data["source_record"] = pd.Series([r.source_record for r in rows], dtype=object)
    return pd.DataFrame(data)


def iter_chunks(inputs: Iterable[str | os.PathLike[str]], *, text_col: str = "text", chunk_rows: int = 1000,
                fmt: str | None = None, encoding: str | None = None,
                sheet: str | None = None) -> Iterator[pd.DataFrame]:
    """Stream the inputs as DataFrames of at most ``chunk_rows`` rows (object columns).

    Each frame holds the union of the inputs' columns plus ``source_file`` and
    ``source_record``; ready for :func:`score_frame`.
    """
    sources = expand_inputs(inputs, fmt=fmt, encoding=encoding)
    scan = _scan(sources, text_col, sheet)
    buf: list[Record] = []
    for src in sources:
        for rec in _iter_source(src, text_col, scan.sheets):
            buf.append(rec)
            if len(buf) >= chunk_rows:
                yield _frame(buf, scan.columns)
                buf = []
    if buf:
        yield _frame(buf, scan.columns)


# ---------------------------------------------------------------------------
# Canonical rows, checkpoint parts
# ---------------------------------------------------------------------------

_TAG = "__ct__"


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return {_TAG: "datetime", "v": v.isoformat()}
    if isinstance(v, date):
        return {_TAG: "date", "v": v.isoformat()}
    if isinstance(v, dtime):
        return {_TAG: "time", "v": v.isoformat()}
    if isinstance(v, timedelta):
        return {_TAG: "timedelta", "v": v.total_seconds()}
    if isinstance(v, Decimal):
        return {_TAG: "decimal", "v": str(v)}
    if isinstance(v, bytes | bytearray):
        import base64

        return {_TAG: "bytes", "v": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, set | frozenset | tuple):
        return list(v)
    if v is pd.NA or v is pd.NaT:
        return None
    return str(v)


def _json_hook(d: dict[str, Any]) -> Any:
    t = d.get(_TAG)
    if t is None or len(d) != 2:
        return d
    v = d["v"]
    if t == "datetime":
        return datetime.fromisoformat(v)
    if t == "date":
        return date.fromisoformat(v)
    if t == "time":
        return dtime.fromisoformat(v)
    if t == "timedelta":
        return timedelta(seconds=v)
    if t == "decimal":
        return Decimal(v)
    if t == "bytes":
        import base64

        return base64.b64decode(v)
    return d


def _clean(v: Any) -> Any:
    """Canonical input value: surrogates replaced, pandas/numpy scalars unwrapped."""
    if isinstance(v, str):
        return _SURROGATE.sub("\ufffd", v) if not v.isascii() else v
    if v is None or isinstance(v, bool | int | float | list | dict | datetime | date | dtime | timedelta):
        if isinstance(v, float) and math.isnan(v):
            return None
        return v
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        return _clean(v.item())
    if isinstance(v, np.ndarray):
        return [_clean(x) for x in v.tolist()]
    return v


#: One encoder and one decoder for every checkpoint line (``json.dumps`` with arguments
#: builds a new encoder per call).
_PART_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default)
_PART_DECODER = json.JSONDecoder(object_hook=_json_hook)


def _write_part(parts: Path, k: int, rows: list[list[Any]]) -> None:
    final = parts / f"chunk-{k:06d}.jsonl"
    tmp = parts / f"chunk-{k:06d}.jsonl.tmp"
    body = "".join([_PART_ENCODER.encode(row) + "\n" for row in rows])
    if not body.isascii():
        # text that is not valid Unicode (its row is an error row) is kept with U+FFFD in
        # place of the bad code units, so that every output format can be written (JSON
        # without ASCII escapes holds them as they are, so one pass over the chunk finds them)
        body = _SURROGATE.sub("\ufffd", body)
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)


def _read_part(parts: Path, k: int) -> list[list[Any]]:
    with open(parts / f"chunk-{k:06d}.jsonl", encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line.strip()]
    # every line is one JSON array: the chunk is read as one array of them
    rows: list[list[Any]] = _PART_DECODER.decode("[" + ",".join(lines) + "]")
    return rows


def _done_parts(parts: Path) -> set[int]:
    out = set()
    for p in parts.glob("chunk-*.jsonl"):
        with contextlib.suppress(ValueError):
            out.add(int(p.name[6:12]))
    return out


# ---------------------------------------------------------------------------
# Output writers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Col:
    name: str
    kind: str  # input | str | bool | float | int | strlist | evidence
    arrow: Any = None


def _to_text(v: Any) -> str | None:
    """A value as text for CSV/xlsx/string Parquet columns (None stays None)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date | dtime):
        return v.isoformat()
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, default=_plain_default)
    return str(v)


def _plain_default(v: Any) -> Any:
    if isinstance(v, datetime | date | dtime):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _tabular(col: _Col, v: Any) -> Any:
    """Value for a CSV/xlsx cell (lists joined / JSON)."""
    if v is None:
        return None
    if col.kind == "strlist":
        return ";".join(v)
    if col.kind == "evidence":
        return json.dumps(v, ensure_ascii=False)
    return v


class _Writer:
    def write(self, rows: list[list[Any]]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _csv_cell(c: _Col, v: Any) -> str:
    t = _to_text(_tabular(c, v))
    return "" if t is None else t


_EVIDENCE_JSON = json.JSONEncoder(ensure_ascii=False)  # = json.dumps(v, ensure_ascii=False)
_BOOL_TEXT = {True: "true", False: "false"}


def _csv_column(c: _Col, vals: tuple[Any, ...]) -> Sequence[str]:
    """The cells of one column, as :func:`_csv_cell` makes them one by one, but without a
    Python call per cell for the common columns (all strings, all floats, all booleans)."""
    if c.kind == "strlist":
        return ["" if v is None else ";".join(v) for v in vals]
    if c.kind == "evidence":
        return ["" if v is None else _EVIDENCE_JSON.encode(v) for v in vals]
    types = set(map(type, vals))
    if types == {str}:
        return vals
    if types == {float} and not any(map(math.isnan, vals)):
        return list(map(str, vals))
    if types == {bool}:
        return list(map(_BOOL_TEXT.__getitem__, vals))
    if types == {type(None)}:
        return [""] * len(vals)
    return [_csv_cell(c, v) for v in vals]


class _CsvWriter(_Writer):
    def __init__(self, path: Path, cols: list[_Col]) -> None:
        self.cols = cols
        self.f = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
        self.w = csv.writer(self.f)
        self.w.writerow([c.name for c in cols])

    def write(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        # column by column (see _csv_column); then back to rows for the csv module
        columns = [_csv_column(c, vals) for c, vals in zip(self.cols, zip(*rows, strict=True), strict=True)]
        self.w.writerows(zip(*columns, strict=True))

    def close(self) -> None:
        self.f.close()


class _JsonlWriter(_Writer):
    def __init__(self, path: Path, cols: list[_Col]) -> None:
        self.cols = cols
        self.f = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed in close()
        self.score_idx = [i for i, c in enumerate(cols) if c.name in SCORE_COLUMNS]
        self.has_pred = "verdict" in {c.name for c in cols}

    def _obj(self, row: list[Any]) -> dict[str, Any]:
        if not self.has_pred:
            return {c.name: v for c, v in zip(self.cols, row, strict=True)}
        obj: dict[str, Any] = {}
        vals = dict(zip((c.name for c in self.cols), row, strict=True))
        failed = vals.get("error") is not None
        for c in self.cols:
            if c.name in PREDICTION_COLUMNS:
                continue
            obj[c.name] = vals[c.name]
        if failed:
            obj["error"] = vals["error"]
            obj["model_version"] = vals["model_version"]
        else:
            obj["verdict"] = vals["verdict"]
            obj["categories"] = vals["categories"]
            obj["grievance"] = vals["grievance"]
            obj["scores"] = {n: vals[c] for n, c in zip(SCORE_NAMES, SCORE_COLUMNS, strict=True)}
            obj["evidence"] = vals["evidence"]
            obj["action"] = vals["action"]
            obj["review"] = vals["review"]
            obj["model_version"] = vals["model_version"]
        return obj

    def write(self, rows: list[list[Any]]) -> None:
        for row in rows:
            self.f.write(json_line(self._obj(row), default=_plain_default) + "\n")

    def close(self) -> None:
        self.f.close()


def _arrow_type(c: _Col) -> Any:
    import pyarrow as pa

    if c.kind == "input":
        return c.arrow if c.arrow is not None else pa.string()
    return {
        "str": pa.string(), "bool": pa.bool_(), "float": pa.float64(), "int": pa.int64(),
        "strlist": pa.list_(pa.string()),
        "evidence": pa.list_(pa.struct([("category", pa.string()), ("start", pa.int64()),
                                        ("end", pa.int64()), ("text", pa.string())])),
    }[c.kind]


class _ParquetWriter(_Writer):
    ROW_GROUP = 10_000

    def __init__(self, path: Path, cols: list[_Col]) -> None:
        pa = import_or_raise("pyarrow", "Parquet output")
        pq = import_or_raise("pyarrow.parquet", "Parquet output")
        self.pa = pa
        self.cols = cols
        self.types = [_arrow_type(c) for c in cols]
        self.schema = pa.schema([pa.field(c.name, t) for c, t in zip(cols, self.types, strict=True)])
        self.w = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.buf: list[list[Any]] = []

    def write(self, rows: list[list[Any]]) -> None:
        # Row groups of a fixed size, whatever the chunking: the file does not depend on it.
        self.buf.extend(rows)
        while len(self.buf) >= self.ROW_GROUP:
            self._flush(self.buf[: self.ROW_GROUP])
            del self.buf[: self.ROW_GROUP]

    def _flush(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        arrays = []
        for i, (c, t) in enumerate(zip(self.cols, self.types, strict=True)):
            vals = [r[i] for r in rows]
            if c.kind == "input" and c.arrow is None:
                vals = [_to_text(v) for v in vals]
            arrays.append(self.pa.array(vals, type=t))
        self.w.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self._flush(self.buf)
        self.buf = []
        self.w.close()


class _XlsxWriter(_Writer):
    def __init__(self, path: Path, cols: list[_Col]) -> None:
        self.openpyxl = import_or_raise("openpyxl", ".xlsx output")
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Font

        self.Cell, self.illegal, self.bold = WriteOnlyCell, ILLEGAL_CHARACTERS_RE, Font(bold=True)
        self.path = path
        self.cols = cols
        self.wb = self.openpyxl.Workbook(write_only=True)
        self.n_sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.n_sheets += 1
        self.ws = self.wb.create_sheet("scored" if self.n_sheets == 1 else f"scored ({self.n_sheets})")
        header = []
        for c in self.cols:
            cell = self.Cell(self.ws, value=c.name)
            cell.font = self.bold
            header.append(cell)
        self.ws.append(header)
        self.rows_in_sheet = 1

    def _cell(self, c: _Col, v: Any) -> Any:
        v = _tabular(c, v)
        if v is None or isinstance(v, bool | int | float | date | dtime | timedelta):
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, datetime | dtime) and v.tzinfo is not None:
                return v.replace(tzinfo=None)
            return v
        s = _to_text(v) or ""
        s = self.illegal.sub("", s)
        if len(s) > _XLSX_MAX_CELL:
            s = s[: _XLSX_MAX_CELL - 20] + "…[truncated]"
        if s.startswith("="):  # a text, never a formula
            cell = self.Cell(self.ws, value=s)
            cell.data_type = "s"
            return cell
        return s

    def write(self, rows: list[list[Any]]) -> None:
        for row in rows:
            if self.rows_in_sheet >= _XLSX_MAX_ROWS:
                self._new_sheet()
            self.ws.append([self._cell(c, v) for c, v in zip(self.cols, row, strict=True)])
            self.rows_in_sheet += 1

    def close(self) -> None:
        self.wb.save(self.path)


def _open_writer(path: Path, fmt: str, cols: list[_Col]) -> _Writer:
    return {"csv": _CsvWriter, "jsonl": _JsonlWriter, "parquet": _ParquetWriter, "xlsx": _XlsxWriter}[fmt](path, cols)


def _output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFormatError(
            f"cannot tell the output format of {path}; end the name with one of {', '.join(sorted(OUTPUT_FORMATS))}"
        )
    return fmt


# ---------------------------------------------------------------------------
# Reading scored files back (for the report and for tests)
# ---------------------------------------------------------------------------


def _parse_bool(v: Any) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() in ("true", "1", "yes")


def _normalise_scored(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    err = out.get("error")
    out["error"] = err if err not in ("", None) else None
    cats = out.get("categories")
    if isinstance(cats, str):
        cats = [c for c in cats.split(";") if c]
    out["categories"] = list(cats) if cats is not None else []
    ev = out.get("evidence")
    if isinstance(ev, str):
        try:
            ev = json.loads(ev) if ev else []
        except json.JSONDecodeError:
            ev = []
    out["evidence"] = list(ev) if ev is not None else []
    scores = out.get("scores")
    if not isinstance(scores, dict):
        scores = {}
        for n, c in zip(SCORE_NAMES, SCORE_COLUMNS, strict=True):
            v = out.pop(c, None)
            if v not in (None, ""):
                with contextlib.suppress(TypeError, ValueError):
                    scores[n] = float(v)
    else:
        for c in SCORE_COLUMNS:
            out.pop(c, None)
    out["scores"] = scores
    for b in ("grievance", "review"):
        out[b] = _parse_bool(out.get(b))
    for s in ("verdict", "action", "model_version"):
        if out.get(s) == "":
            out[s] = None
    return out


def iter_scored(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream the rows of a scored file (any output format, or `complaint-triage score` JSONL).

    Each row is a dict of the input columns plus the output schema's fields: ``verdict``,
    ``categories`` (list), ``grievance``, ``scores`` (dict), ``evidence`` (list of dicts),
    ``action``, ``review``, ``model_version`` and ``error`` (None when scored).
    """
    p = Path(path)
    fmt = _output_format(p)
    if fmt == "jsonl":
        with open(p, "rb") as f:
            for n, raw in enumerate(f, 1):
                if raw.strip():
                    try:
                        yield _normalise_scored(json.loads(raw))
                    except (json.JSONDecodeError, UnicodeDecodeError) as e:
                        raise InputFormatError(f"{p}: line {n} is not valid JSON ({e})") from e
    elif fmt == "csv":
        with open(p, encoding=detect_encoding(p), newline="") as f:
            for row in csv.DictReader(f):
                yield _normalise_scored(row)
    elif fmt == "parquet":
        pq = import_or_raise("pyarrow.parquet", "Reading Parquet files")
        for batch in pq.ParquetFile(p).iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                yield _normalise_scored(row)
    else:
        openpyxl = import_or_raise("openpyxl", "Reading .xlsx workbooks")
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        try:
            for ws in wb.worksheets:
                header: list[str] | None = None
                for row in ws.iter_rows(values_only=True):
                    if header is None:
                        header = _header_names(row)
                        continue
                    yield _normalise_scored(dict(zip(header, row, strict=False)))
        finally:
            wb.close()


# ---------------------------------------------------------------------------
# Senders: pseudonyms, dates, per-sender summary
# ---------------------------------------------------------------------------


def default_sender_key_file() -> Path:
    """``$XDG_CONFIG_HOME/complaint-triage/sender.key`` (default ``~/.config/…``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "complaint-triage" / "sender.key"


def load_sender_key(key_file: str | os.PathLike[str] | None = None) -> bytes:
    """The secret key for sender pseudonyms.

    From ``$COMPLAINT_TRIAGE_SENDER_KEY`` (at least 16 characters) if set, else from
    ``key_file`` (default :func:`default_sender_key_file`), which is created with 32 random
    bytes (hex, mode 0600) when it does not exist.
    """
    env = os.environ.get(SENDER_KEY_ENV)
    if env:
        if len(env) < 16:
            raise ComplaintTriageError(f"${SENDER_KEY_ENV} is too short: use at least 16 random characters")
        return env.encode("utf-8")
    path = Path(key_file) if key_file is not None else default_sender_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_hex(32) + "\n")
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 16:
        raise ComplaintTriageError(f"sender key file {path} is too short; delete it to generate a new one")
    return key.encode("ascii")


_ADDR = re.compile(r"<([^<>@\s]+@[^<>\s]+)>")
_EMAIL_ONLY = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONEISH = re.compile(r"^[0-9+()\-‐－ー−\s]+$")
_PSEUDONYM = re.compile(r"^S-[0-9a-f]{16}$")


def _canonical_sender(value: object) -> str:
    s = unicodedata.normalize("NFKC", str(value)).strip()
    m = _ADDR.search(s)
    if m:
        return m.group(1).lower()
    if _EMAIL_ONLY.match(s):
        return s.lower()
    if _PHONEISH.match(s) and sum(ch.isdigit() for ch in s) >= 6:
        return "".join(ch for ch in s if ch.isdigit())
    return s


def pseudonymise(value: object, key: bytes) -> str:
    """Keyed-hash pseudonym of a sender id: ``S-`` + 16 hex digits of HMAC-SHA256.

    E-mail addresses are compared case-insensitively without the display name; telephone
    numbers by their digits.

    >>> pseudonymise("Taro <TARO@example.jp>", b"k" * 16) == pseudonymise("taro@example.jp", b"k" * 16)
    True
    """
    return "S-" + hmac.new(key, _canonical_sender(value).encode("utf-8"), hashlib.sha256).hexdigest()[:16]


_JA_DATE = re.compile(r"(\d{4})\s*[年/\-.]\s*(\d{1,2})\s*[月/\-.]\s*(\d{1,2})\s*日?"
                      r"(?:\s*(\d{1,2})\s*[:時]\s*(\d{1,2})\s*分?(?:\s*[:]?\s*(\d{1,2})\s*秒?)?)?")


def parse_date(value: object) -> datetime | None:
    """Parse a date/time cell (ISO, ``2024/05/01 10:00``, ``2024年5月1日``, Excel dates).

    Aware times are converted to Japan time and made naive.

    >>> parse_date("2024年5月1日 9:05")
    datetime.datetime(2024, 5, 1, 9, 5)
    """
    if _is_missing(value) or value == "":
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        s = unicodedata.normalize("NFKC", str(value)).strip()
        try:
            dt = datetime.fromisoformat(s.replace("/", "-").replace("Z", "+00:00"))
        except ValueError:
            m = _JA_DATE.search(s)
            if not m:
                return None
            try:
                dt = datetime(*(int(g) for g in m.groups() if g is not None))
            except (TypeError, ValueError):
                return None
    if dt.tzinfo is not None:
        from datetime import timezone

        dt = dt.astimezone(timezone(timedelta(hours=9))).replace(tzinfo=None)
    return dt


def _simhash(text: str) -> int:
    """64-bit SimHash of a text's character 3-grams (near-duplicates differ in few bits)."""
    s = "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())
    grams = [s[i: i + 3] for i in range(max(1, len(s) - 2))]
    if not grams:
        return 0
    h = np.fromiter(((zlib.crc32(g.encode()) << 32) | zlib.crc32(g.encode(), 0x9E3779B9) for g in grams),
                    dtype=np.uint64, count=len(grams))
    bits = np.unpackbits(h.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    votes = bits.sum(axis=0, dtype=np.int64) * 2 > len(grams)
    return int(np.packbits(votes, bitorder="little").view(np.uint64)[0])


@dataclass
class _Contact:
    when: datetime | None
    verdict: str | None
    categories: tuple[str, ...]
    grievance: bool
    sim: int | None
    quotes_reply: bool


class SenderAggregator:
    """Per-sender summary and repetition detection, fed one scored row at a time.

    Parameters
    ----------
    key : bytes or None
        Pseudonymise sender ids with this key (:func:`pseudonymise`); None keeps them.
    window_days : int, default=7
        ``longest_run_7d`` is the most contacts falling within any window of this many days.
    near_dup_bits : int, default=10
        Texts whose 64-bit SimHashes differ in at most this many bits are near-duplicates.
    repeat_gap_hours : float, default=24
        A near-duplicate counts as a repeat *after a reply* when it quotes an earlier reply
        (e-mail) or comes at least this long after the earlier message (time to reply).
    repeat_min : int, default=2
        ``repetition`` is set when a sender has at least this many repeats.

    Only messages carrying a grievance (complaints, harassment with a grievance) count as
    raising "the same grievance"; inquiries and error rows do not.
    """

    COLUMNS = ("sender_id", "contacts", "first_date", "last_date", "harassment_count", "complaint_count",
               "inquiry_count", "error_count", "harassment_categories", "longest_run_7d", "repeat_count", "repetition")

    def __init__(self, *, key: bytes | None, window_days: int = 7, near_dup_bits: int = 10,
                 repeat_gap_hours: float = 24.0, repeat_min: int = 2) -> None:
        self.key = key
        self.window = timedelta(days=window_days)
        self.near_dup_bits = near_dup_bits
        self.repeat_gap = timedelta(hours=repeat_gap_hours)
        self.repeat_min = repeat_min
        self._by: dict[str, list[_Contact]] = {}

    def sender_id(self, value: object) -> str | None:
        """The id shown for a raw sender value (pseudonym unless keys are kept)."""
        if _is_missing(value) or str(value).strip() == "":
            return None
        if self.key is None:
            return str(value).strip()
        if isinstance(value, str) and _PSEUDONYM.match(value):
            return value
        return pseudonymise(value, self.key)

    def add(self, sender: object, *, when: object = None, text: object = None, verdict: str | None = None,
            categories: Sequence[str] = (), grievance: bool | None = None, quotes_reply: object = False) -> str | None:
        """Record one contact; return the sender's id (None when the sender is blank)."""
        sid = self.sender_id(sender)
        if sid is None:
            return None
        g = bool(grievance) if grievance is not None else verdict in ("complaint", "harassment")
        sim = _simhash(text) if (g and verdict is not None and isinstance(text, str) and text.strip()) else None
        self._by.setdefault(sid, []).append(_Contact(parse_date(when), verdict, tuple(categories or ()), g, sim,
                                                     _parse_bool(quotes_reply) or False))
        return sid

    def __len__(self) -> int:
        return len(self._by)

    def _repeats(self, contacts: list[_Contact]) -> int:
        n = 0
        earlier: list[_Contact] = []
        for c in contacts:
            if c.sim is not None:
                for e in earlier[-200:]:
                    if (c.sim ^ e.sim).bit_count() > self.near_dup_bits:  # type: ignore[operator]
                        continue
                    after_reply = c.quotes_reply or (
                        c.when is not None and e.when is not None and c.when - e.when >= self.repeat_gap)
                    if after_reply:
                        n += 1
                        break
                earlier.append(c)
        return n

    def rows(self) -> list[dict[str, Any]]:
        """One dict per sender (keys :attr:`COLUMNS`), most harassment / contacts first."""
        out = []
        for sid, cs in self._by.items():
            dated = sorted((c for c in cs if c.when is not None), key=lambda c: c.when)  # type: ignore[arg-type,return-value]
            ordered = dated + [c for c in cs if c.when is None]
            run, lo = 0, 0
            for hi in range(len(dated)):
                while dated[hi].when - dated[lo].when >= self.window:  # type: ignore[operator]
                    lo += 1
                run = max(run, hi - lo + 1)
            verdicts = Counter(c.verdict for c in cs)
            cats = Counter(cat for c in cs if c.verdict == "harassment" for cat in c.categories)
            repeats = self._repeats(ordered)
            out.append({
                "sender_id": sid,
                "contacts": len(cs),
                "first_date": dated[0].when.isoformat(sep=" ") if dated else None,  # type: ignore[union-attr]
                "last_date": dated[-1].when.isoformat(sep=" ") if dated else None,  # type: ignore[union-attr]
                "harassment_count": verdicts.get("harassment", 0),
                "complaint_count": verdicts.get("complaint", 0),
                "inquiry_count": verdicts.get("inquiry", 0),
                "error_count": verdicts.get(None, 0),
                "harassment_categories": [c for c, _ in sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))],
                "longest_run_7d": run,
                "repeat_count": repeats,
                "repetition": repeats >= self.repeat_min,
            })
        out.sort(key=lambda r: (-r["harassment_count"], -int(r["repetition"]), -r["contacts"], r["sender_id"]))
        return out


_SENDER_COLS = [
    _Col("sender_id", "str"), _Col("contacts", "int"), _Col("first_date", "str"), _Col("last_date", "str"),
    _Col("harassment_count", "int"), _Col("complaint_count", "int"), _Col("inquiry_count", "int"),
    _Col("error_count", "int"), _Col("harassment_categories", "strlist"), _Col("longest_run_7d", "int"),
    _Col("repeat_count", "int"), _Col("repetition", "bool"),
]


# ---------------------------------------------------------------------------
# Progress and summary
# ---------------------------------------------------------------------------


def _fmt_secs(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Progress:
    """A one-line progress bar on a stream: rows, percent, rows/s and ETA."""

    def __init__(self, total: int, *, enabled: bool, stream: IO[str] | None = None, every: float = 0.25) -> None:
        self.total, self.enabled, self.every = total, enabled, every
        self.stream = stream if stream is not None else sys.stderr
        self.done = self.base = 0
        self.t0 = time.monotonic()
        self.last = 0.0

    def skip(self, n: int) -> None:
        self.done += n
        self.base += n

    def update(self, n: int, *, force: bool = False) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        el = max(now - self.t0, 1e-9)
        rate = (self.done - self.base) / el
        width = 24
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        bar = "█" * int(frac * width) + "░" * (width - int(frac * width))
        eta = _fmt_secs((self.total - self.done) / rate) if rate > 0 and self.total > self.done else "--"
        self.stream.write(f"\r{bar} {self.done:,}/{self.total:,} rows {frac:4.0%} | {rate:,.0f} rows/s | ETA {eta} ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(0, force=True)
            self.stream.write("\n")
            self.stream.flush()


def _error_kind(msg: str) -> str:
    m = msg.lower()
    if "json" in m or " csv" in m or "fields, the header has" in m:
        return "malformed"
    if "not valid" in m or "encoding" in m or "undecodable" in m:
        return "undecodable"
    if "e-mail" in m or m.startswith("cannot read"):
        return "email"
    if "empty" in m:
        return "empty"
    if "over the limit" in m:
        return "too_long"
    if "missing" in m:
        return "missing"
    if "not a string" in m:
        return "not_text"
    return "other"


@dataclass
class BatchResult:
    """What a batch run did."""

    output: Path
    rows: int = 0
    scored: int = 0
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    review: int = 0
    model_version: str = ""
    seconds: float = 0.0
    newly_scored_rows: int = 0
    resumed_chunks: int = 0
    chunks: int = 0
    sender_output: Path | None = None
    senders: int = 0
    repetition_senders: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(self.by_error.values())

    @property
    def rows_per_second(self) -> float:
        return self.newly_scored_rows / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        """A few human-readable lines for stderr."""
        lines = [f"{self.rows:,} records → {self.output} ({self.scored:,} scored, {self.errors:,} errors) "
                 f"in {_fmt_secs(self.seconds)}, {self.rows_per_second:,.0f} rows/s"
                 + (f"; resumed {self.resumed_chunks} of {self.chunks} chunks" if self.resumed_chunks else "")]
        lines.append("verdicts:   " + (", ".join(f"{v} {self.by_verdict.get(v, 0):,}" for v in VERDICTS)))
        cats = [f"{c} {self.by_category[c]:,}" for c in CATEGORIES if self.by_category.get(c)]
        lines.append("categories: " + (", ".join(cats) or "none"))
        lines.append(f"review:     {self.review:,}")
        errs = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_error.items()))
        lines.append("errors:     " + (errs or "none")
                     + (f" (e.g. {', '.join(self.error_examples)})" if self.error_examples else ""))
        if self.sender_output is not None:
            lines.append(f"senders:    {self.senders:,} → {self.sender_output} "
                         f"({self.repetition_senders:,} with repetition)")
        if self.model_version:
            lines.append(f"model:      {self.model_version}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(model_dir: str, max_chars: int) -> None:
    """Process-pool initializer: load the model once per worker."""
    _WORKER["triager"] = _get_triager(model_dir, max_chars)


def _score_texts(texts: list[Any], text_col: str, with_evidence: bool) -> dict[str, list[Any]]:
    """Pool task: score one chunk's texts through :func:`score_frame`."""
    df = pd.DataFrame({text_col: pd.Series(texts, dtype=object)})
    out = score_frame(df, text_col=text_col, triager=_WORKER["triager"], with_evidence=with_evidence)
    return {c: out[c].tolist() for c in PREDICTION_COLUMNS}


def _nan_to_none(vals: list[Any]) -> list[Any]:
    """``vals`` with float NaN (a score of an error row) made None."""
    types = set(map(type, vals))
    if not any(issubclass(t, float) for t in types):
        return vals
    if all(issubclass(t, float) for t in types):
        has_nan = any(map(math.isnan, vals))
    else:
        has_nan = any(isinstance(v, float) and math.isnan(v) for v in vals)
    return [None if isinstance(v, float) and math.isnan(v) else v for v in vals] if has_nan else vals


def _pred_rows(cols: dict[str, list[Any]], n: int) -> list[list[Any]]:
    columns = [_nan_to_none(cols[c][:n]) for c in PREDICTION_COLUMNS]
    return [list(row) for row in zip(*columns, strict=True)] if n else []


def _fingerprint(sources: Sequence[_Source], opts: dict[str, Any]) -> dict[str, Any]:
    files = []
    for s in sources:
        st = s.path.stat()
        files.append({"input": s.label, "path": str(s.path.resolve()), "kind": s.kind, "encoding": s.encoding,
                      "size": st.st_size if s.path.is_file() else None, "mtime_ns": st.st_mtime_ns})
    return {"format": 1, "inputs": files, **opts}


def _prepare_parts(parts: Path, fp: dict[str, Any], resume: bool) -> set[int]:
    run_file = parts / _RUN_FILE
    if parts.exists() and resume and run_file.is_file():
        old = json.loads(run_file.read_text(encoding="utf-8"))
        if old != fp:
            changed = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            raise InputFormatError(
                f"cannot resume: the checkpoints in {parts} were made with other inputs or options "
                f"(differs: {', '.join(changed)}); rerun without --resume after deleting {parts}"
            )
        for tmp in parts.glob("*.tmp"):
            tmp.unlink()
        return _done_parts(parts)
    if parts.exists():
        if not resume and any(parts.glob("chunk-*.jsonl")):
            raise InputFormatError(
                f"checkpoints of an interrupted run exist in {parts}; pass --resume to continue it, "
                "or delete that folder to start again"
            )
        shutil.rmtree(parts)
    parts.mkdir(parents=True)
    tmp = parts / (_RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(fp, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, run_file)
    return set()


def _local_engine(sources: Sequence[_Source], scan: _Scan, *, parts: Path, done: set[int], text_col: str,
                  model_dir: Path, max_chars: int, with_evidence: bool, jobs: int, chunk_rows: int,
                  progress: _Progress) -> int:
    """Score every chunk not in ``done``; return the number of chunks."""
    cols = scan.columns

    def chunks() -> Iterator[tuple[int, list[Record]]]:
        buf: list[Record] = []
        k = 0
        for src in sources:
            for rec in _iter_source(src, text_col, scan.sheets):
                buf.append(rec)
                if len(buf) >= chunk_rows:
                    yield k, buf
                    k, buf = k + 1, []
        if buf:
            yield k, buf

    def finish(k: int, recs: list[Record], preds: dict[str, list[Any]]) -> None:
        prow = _pred_rows(preds, len(recs))
        rows = []
        for rec, pr in zip(recs, prow, strict=True):
            vals = rec.values or {}
            if rec.error is not None:
                pr[PREDICTION_COLUMNS.index("error")] = rec.error
            # (a string's undecodable bytes are replaced when the chunk is saved, see _write_part)
            rows.append([v if type(v) is str else _clean(v) for v in map(vals.get, cols)]
                        + [rec.source_file, rec.source_record] + pr)
        _write_part(parts, k, rows)
        progress.update(len(recs))

    def texts(recs: list[Record]) -> list[Any]:
        return [r.values.get(text_col) if r.values is not None else None for r in recs]

    n_chunks = 0
    if jobs <= 1:
        triager = _get_triager(model_dir, max_chars)
        for k, recs in chunks():
            n_chunks = k + 1
            if k in done:
                progress.skip(len(recs))
                continue
            df = pd.DataFrame({text_col: pd.Series(texts(recs), dtype=object)})
            out = score_frame(df, text_col=text_col, triager=triager, with_evidence=with_evidence)
            finish(k, recs, {c: out[c].tolist() for c in PREDICTION_COLUMNS})
        return n_chunks

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # fork is cheap (modules, even a loaded model, are shared copy-on-write) and safe while this
    # process runs a single thread; otherwise spawn fresh interpreters.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods and threading.active_count() == 1 else "spawn")
    pending: deque[tuple[int, list[Record], Any]] = deque()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(str(model_dir), max_chars)) as pool:
        try:
            for k, recs in chunks():
                n_chunks = k + 1
                if k in done:
                    progress.skip(len(recs))
                    continue
                pending.append((k, recs, pool.submit(_score_texts, texts(recs), text_col, with_evidence)))
                while len(pending) >= 2 * jobs:
                    pk, precs, fut = pending.popleft()
                    finish(pk, precs, fut.result())
            while pending:
                pk, precs, fut = pending.popleft()
                finish(pk, precs, fut.result())
        except BrokenProcessPool as e:
            raise ComplaintTriageError(
                "a scoring worker process died (out of memory?); the finished chunks are saved: "
                "rerun with --resume, perhaps with fewer --jobs or a smaller --chunk-rows"
            ) from e
        except BaseException:
            for _, _, fut in pending:
                fut.cancel()
            raise
    return n_chunks


def _dask_engine(sources: Sequence[_Source], scan: _Scan, *, parts: Path, done: set[int], text_col: str,
                 model_dir: Path, max_chars: int, with_evidence: bool, jobs: int, scheduler: str | None,
                 blocksize: str | int | None, progress: _Progress) -> int:
    """Score CSV/TSV/Parquet inputs on a Dask cluster, partition by partition."""
    dask = import_or_raise("dask", "Dask batch scoring (--engine dask)")
    dd = import_or_raise("dask.dataframe", "Dask batch scoring (--engine dask)")
    distributed = import_or_raise("distributed", "Dask batch scoring (--engine dask)")
    pa = import_or_raise("pyarrow", "Dask batch scoring (--engine dask)")
    cols = scan.columns

    with contextlib.ExitStack() as stack:
        stack.enter_context(dask.config.set({"dataframe.convert-string": False}))
        if scheduler:
            client = stack.enter_context(distributed.Client(scheduler))
        else:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR))
            client = stack.enter_context(distributed.Client(cluster))
        n_workers = max(1, len(client.nthreads()))
        # (partition, source, is_parquet, input columns of that source)
        plan: list[tuple[Any, _Source, list[str]]] = []
        for src in sources:
            if src.kind == "parquet":
                pf = _parquet_file(src, text_col)
                names = [c for c in pf.schema_arrow.names if not _INDEX_COL.match(c)]
                ddf = dd.read_parquet(str(src.path), columns=names, index=False, dtype_backend="pyarrow",
                                      split_row_groups=True)  # one partition per row group
            else:
                with open(src.path, "rb") as f:
                    header = next(csv.reader(_io_text(f, src.encoding or "utf-8"),
                                             delimiter="\t" if src.kind == "tsv" else ","), [])
                names = header
                ddf = dd.read_csv(str(src.path), sep="\t" if src.kind == "tsv" else ",", dtype=str,
                                  keep_default_na=False, na_filter=False, encoding=src.encoding or "utf-8",
                                  encoding_errors="surrogateescape", blocksize=blocksize)
            meta = score_frame(ddf._meta, text_col=text_col)
            scored = ddf.map_partitions(score_frame, text_col=text_col, model=str(model_dir), max_chars=max_chars,
                                        with_evidence=with_evidence, meta=meta)
            plan.extend((part, src, names) for part in scored.to_delayed())

        offsets: dict[str, int] = {}
        pending: deque[tuple[int, _Source, list[str], Any]] = deque()

        def finish(k: int, src: _Source, names: list[str], df: pd.DataFrame) -> None:
            first = offsets.get(src.label, 0)
            offsets[src.label] = first + len(df)
            if k in done:
                return
            base = 2 if src.kind in ("csv", "tsv") else 1
            if src.kind == "parquet":
                table = pa.Table.from_pandas(df[names], preserve_index=False)
                in_rows = table.to_pylist()
            else:
                in_rows = df[names].to_dict(orient="records")
            preds = _pred_rows({c: df[c].tolist() for c in PREDICTION_COLUMNS}, len(df))
            rows = [[_clean(vals.get(c)) for c in cols] + [src.label, str(first + i + base)] + pr
                    for i, (vals, pr) in enumerate(zip(in_rows, preds, strict=True))]
            _write_part(parts, k, rows)
            progress.update(len(df))

        for k, (part, src, names) in enumerate(plan):
            if k in done:
                # the row offsets of later partitions need this partition's length
                n = len(_read_part(parts, k))
                pending.append((k, src, names, n))
                progress.skip(n)
            else:
                pending.append((k, src, names, client.compute(part)))
            while len(pending) >= 2 * n_workers or (pending and isinstance(pending[0][3], int)):
                pk, psrc, pnames, fut = pending.popleft()
                if isinstance(fut, int):
                    offsets[psrc.label] = offsets.get(psrc.label, 0) + fut
                else:
                    finish(pk, psrc, pnames, fut.result())
        while pending:
            pk, psrc, pnames, fut = pending.popleft()
            if isinstance(fut, int):
                offsets[psrc.label] = offsets.get(psrc.label, 0) + fut
            else:
                finish(pk, psrc, pnames, fut.result())
    return len(plan)


def _free_name(name: str, taken: set[str]) -> str:
    new = f"input_{name}"
    while new in taken:
        new = f"input_{new}"
    return new


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    text_col: str = "text",
    id_col: str | None = None,
    sender_col: str | None = None,
    date_col: str | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    model: str | os.PathLike[str] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    with_evidence: bool = True,
    engine: str = "local",
    scheduler: str | None = None,
    dask_blocksize: str | int | None = None,
    jobs: int = 2,
    chunk_rows: int = 1000,
    resume: bool = False,
    sender_output: str | os.PathLike[str] | None = None,
    keep_sender_ids: bool = False,
    sender_key_file: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    progress_stream: IO[str] | None = None,
) -> BatchResult:
    """Score every record of ``inputs`` into ``output``; resumable, bounded memory.

    Parameters
    ----------
    inputs : sequence of path-like or glob patterns
        CSV/TSV, .xlsx, JSONL, Parquet, mbox, .eml files and folders of .eml files.
    output : path-like
        ``.parquet``, ``.csv`` (UTF-8 with BOM), ``.jsonl`` or ``.xlsx``.  Written atomically.
    text_col, id_col, sender_col, date_col : str
        Column names.  ``id_col`` names error examples in the summary; ``sender_col`` adds
        a ``sender_id`` column and writes the per-sender summary (with ``date_col`` for
        dates, 7-day runs and repeats).  For e-mail inputs they default to ``from``/``date``.
    fmt, encoding, sheet : str or None
        Input format for all inputs, CSV/TSV encoding, single .xlsx sheet.
    model : path-like or None
        Model directory (default: the promoted model).
    max_chars : int, default=20000
        Longer texts become error rows.
    with_evidence : bool, default=True
        Add evidence spans (about a third of the scoring time).
    engine : {"local", "dask"}, default="local"
        ``dask`` maps :func:`score_frame` over partitions of CSV/TSV/Parquet inputs on the
        cluster at ``scheduler`` (default: a local cluster of ``jobs`` single-threaded workers).
    dask_blocksize : str, int or None, default=None
        Split CSV files into partitions of this size (only safe when no quoted field holds a
        line break); by default one partition per CSV file.
    jobs : int, default=2
        Worker processes (each loads the model once).
    chunk_rows : int, default=1000
        Rows per chunk and checkpoint (local engine).
    resume : bool, default=False
        Continue an interrupted run from its checkpoints (``<output>.parts``).
    sender_output : path-like or None
        Where to write the per-sender summary (default ``<output stem>.senders<ext>``).
    keep_sender_ids : bool, default=False
        Keep raw sender ids instead of keyed-hash pseudonyms.
    sender_key_file : path-like or None
        Key file for pseudonyms (see :func:`load_sender_key`).
    progress : bool or None, default=None
        Show a progress bar on stderr (None: only when stderr is a terminal).
    progress_stream : text stream or None, default=None
        Where to draw the progress bar (default: stderr).

    Returns
    -------
    BatchResult
    """
    t0 = time.monotonic()
    out = Path(output)
    out_fmt = _output_format(out)
    if engine not in ("local", "dask"):
        raise InputFormatError(f"unknown engine {engine!r}; use local or dask")
    if chunk_rows < 1 or jobs < 1:
        raise InputFormatError("chunk_rows and jobs must be at least 1")
    sources = expand_inputs(inputs, fmt=fmt, encoding=encoding)
    if engine == "dask":
        bad = [s.label for s in sources if s.kind not in ("csv", "tsv", "parquet")]
        if bad:
            raise InputFormatError(
                f"the Dask engine reads CSV, TSV and Parquet only, not {', '.join(bad)}; use --engine local for those"
            )
        import_or_raise("dask.dataframe", "Dask batch scoring (--engine dask)")
        import_or_raise("distributed", "Dask batch scoring (--engine dask)")
    scan = _scan(sources, text_col, sheet)
    columns = scan.columns
    if all(s.kind in ("mbox", "eml") for s in sources):
        sender_col = sender_col or "from"
        date_col = date_col or "date"
    for opt, name in (("--id-column", id_col), ("--sender-column", sender_col), ("--date-column", date_col)):
        if name is not None and name not in columns:
            raise InputFormatError(f"no column {name!r} for {opt} (columns: {', '.join(columns)})")

    model_dir = _model_dir(model)
    from complaint_triage.persist import MANIFEST_FILE

    try:
        model_version = str(json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))["model_version"])
    except (OSError, ValueError, KeyError):
        _get_triager(model_dir, max_chars)  # raises the library's precise error
        raise
    opts = {"text_col": text_col, "sheet": sheet, "columns": columns, "model_dir": str(model_dir),
            "model_version": model_version, "max_chars": max_chars, "with_evidence": with_evidence,
            "engine": engine, "chunk_rows": chunk_rows if engine == "local" else None,
            "dask_blocksize": dask_blocksize if engine == "dask" else None}
    fp = _fingerprint(sources, opts)
    parts = out.with_name(out.name + _PARTS_SUFFIX)
    done = _prepare_parts(parts, fp, resume)

    show = (sys.stderr.isatty() if progress is None else progress)
    bar = _Progress(scan.total, enabled=show, stream=progress_stream)
    try:
        if engine == "local":
            n_chunks = _local_engine(sources, scan, parts=parts, done=done, text_col=text_col, model_dir=model_dir,
                                     max_chars=max_chars, with_evidence=with_evidence, jobs=jobs,
                                     chunk_rows=chunk_rows, progress=bar)
        else:
            n_chunks = _dask_engine(sources, scan, parts=parts, done=done, text_col=text_col, model_dir=model_dir,
                                    max_chars=max_chars, with_evidence=with_evidence, jobs=jobs, scheduler=scheduler,
                                    blocksize=dask_blocksize, progress=bar)
    finally:
        bar.close()
    newly = bar.done - bar.base

    # ---- assemble the output from the checkpoints (same bytes whether resumed or not)
    taken = set(columns)
    out_names = [(_free_name(c, taken) if c in _RESERVED else c) for c in columns]
    result = BatchResult(output=out, warnings=list(scan.warnings), resumed_chunks=len(done & set(range(n_chunks))),
                         chunks=n_chunks, model_version=model_version)
    for c, new in zip(columns, out_names, strict=True):
        if c != new:
            result.warnings.append(f"input column {c!r} renamed {new!r} in the output "
                                   "(the name is a prediction column)")
    out_cols = [_Col(n, "input", scan.arrow_types.get(c)) for c, n in zip(columns, out_names, strict=True)]
    out_cols += [_Col("source_file", "str"), _Col("source_record", "str")]
    aggregator: SenderAggregator | None = None
    if sender_col is not None:
        aggregator = SenderAggregator(key=None if keep_sender_ids else load_sender_key(sender_key_file))
        out_cols.append(_Col("sender_id", "str"))
    kinds = {"categories": "strlist", "evidence": "evidence", "grievance": "bool", "review": "bool"}
    out_cols += [_Col(c, "float" if c in SCORE_COLUMNS else kinds.get(c, "str")) for c in PREDICTION_COLUMNS]

    n_in = len(columns)
    ix = {c: i for i, c in enumerate(columns)}
    p0 = n_in + 2
    pi = {c: p0 + j for j, c in enumerate(PREDICTION_COLUMNS)}
    tmp_out = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = _open_writer(tmp_out, out_fmt, out_cols)
    try:
        for k in range(n_chunks):
            rows = _read_part(parts, k)
            for row in rows:
                result.rows += 1
                err = row[pi["error"]]
                if err is not None:
                    kind = _error_kind(err)
                    result.by_error[kind] += 1
                    if len(result.error_examples) < 5:
                        rid = row[ix[id_col]] if id_col is not None else f"{row[n_in]}:{row[n_in + 1]}"
                        result.error_examples.append(f"{rid} {kind}")
                else:
                    result.scored += 1
                    result.by_verdict[row[pi["verdict"]]] += 1
                    result.by_category.update(row[pi["categories"]] or ())
                    result.review += bool(row[pi["review"]])
                if aggregator is not None:
                    sid = aggregator.add(
                        row[ix[sender_col]], when=row[ix[date_col]] if date_col else None, text=row[ix[text_col]],
                        verdict=row[pi["verdict"]], categories=row[pi["categories"]] or (),
                        grievance=row[pi["grievance"]],
                        quotes_reply=row[ix["quotes_reply"]] if "quotes_reply" in ix else False)
                    row.insert(p0, sid)
            writer.write(rows)
    except BaseException:
        writer.close()
        tmp_out.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(tmp_out, out)

    if aggregator is not None:
        s_out = Path(sender_output) if sender_output is not None else out.with_name(f"{out.stem}.senders{out.suffix}")
        s_fmt = _output_format(s_out)
        s_rows = aggregator.rows()
        s_tmp = s_out.with_name(s_out.name + ".partial")
        w = _open_writer(s_tmp, s_fmt, list(_SENDER_COLS))
        w.write([[r[c.name] for c in _SENDER_COLS] for r in s_rows])
        w.close()
        os.replace(s_tmp, s_out)
        result.sender_output, result.senders = s_out, len(s_rows)
        result.repetition_senders = sum(r["repetition"] for r in s_rows)
    shutil.rmtree(parts, ignore_errors=True)
    result.seconds = time.monotonic() - t0
    result.newly_scored_rows = newly
    return result
