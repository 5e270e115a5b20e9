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
    warning                                what was repaired when the record was read (else
                                           empty); the record is still scored

Design
------
* :func:`score_frame` is the one pure scoring function: ``DataFrame -> DataFrame``.  The
  local engine calls it in worker processes (each loads the model once, in the pool
  initializer, and on Linux is killed by the kernel when the driver dies, even by SIGKILL);
  the Dask engine maps it over partitions with ``map_partitions``.
* Memory is bounded: records are streamed, at most ``2 × jobs`` chunks are in flight, and
  the output writers stream too.
* Resumable: each finished chunk is saved atomically as ``<output>.parts/chunk-NNNNNN.jsonl``.
  ``resume=True`` skips the chunks already saved; the output is always assembled from the
  saved chunks, so a resumed run writes exactly what an uninterrupted run writes.  Resuming
  is refused when the inputs (for a folder: every file in it, by path, size and mtime), the
  options, the model or the code (package version, signal patterns, source files) changed.
  A failed write of the output (a full disk) removes the partial file and keeps the
  checkpoints, so the same command with ``--resume`` finishes the run.
* One run per output: a run holds an exclusive lock on ``<output>.lock`` (``flock``,
  released by the kernel however the run ends, so a killed run leaves nothing that blocks
  ``--resume``); a second run on the same output is refused (:class:`OutputInUseError`).
* Ctrl-C stops the run at once: the pool workers ignore it, the driver stops them and the
  finished chunks are kept for ``--resume``.
* Nothing is lost: an empty, non-text, over-long, undecodable or malformed record yields an
  output row whose ``error`` column says why, with every column that could be read.
* A run whose inputs hold no record at all is an error (``InputFormatError``), as is an
  input that is a named pipe, ``<(…)`` or a device (a run reads each input more than once:
  opening a pipe again would wait for ever), and an
  input that is one of the run's own files (the output, the per-sender summary, the
  checkpoints): given by name it is refused, matched by a glob or inside a folder it is
  skipped with a warning, so running the same glob twice does not read the last output.

Reading the inputs
------------------
* CSV/TSV encoding (unless ``encoding=``): a BOM decides; else, of the first MiB's lines
  that are not plain ASCII, UTF-8 if most decode as UTF-8, else CP932 or EUC-JP if one
  fails on fewer of them than UTF-8 does (lines are counted, not bytes; see
  :func:`detect_encoding`).  A cell with bytes that are not valid in
  the encoding: in the text column the row is an error row; in another column the bytes
  become U+FFFD, the row is scored and its ``warning`` says so.  When the header itself does
  not decode and lacks the text column, the error says the encoding looks wrong.
* JSONL: bytes that are not UTF-8 inside a string, and lone UTF-16 surrogates (JSON escapes
  such as ``\\ud800`` without their pair), are treated alike: outside the text (a value or a
  field name, at any depth) they become U+FFFD and the row's ``warning`` says so; in the text
  the row is an error row saying which of the two it holds.  A file read as JSONL that is a
  workbook or a Parquet file (by its first bytes), or none of whose lines starts with ``{`` (a CSV
  file; UTF-16, which is said so, with how to convert it to UTF-8), is refused (``InputFormatError``)
  rather than read as a file of error rows; a file whose only lines are objects cut short is read,
  each line an error row.
* CSV fields are read whole up to ``max(1 MiB, 4 × max_chars)`` characters; a longer field
  is cut there (the text column: a ``too_long`` error row; another column: a ``warning``) and
  the records after it are read normally.  A row with the wrong number of fields is an error
  row that keeps the fields it has; empty rows (``,,,,`` or an empty line) are skipped like
  blank Excel rows, as is a stray line of spaces with fewer fields than the header, but a row
  whose cells hold only spaces is a record (in Excel too: a text of spaces is an error row).
  A quote opened and never closed makes its row an error row, and the lines it swallowed are
  read as rows.
  ``source_record`` is the spreadsheet row (header = 1); error messages also give the line
  where the record starts.
* Duplicate column names (CSV and Excel) are kept apart as pandas does: ``備考``, ``備考.1``;
  blank ones are named ``column_N``.  A warning says so.
* Excel: a sheet's header is the first of its first 20 rows that names the text column (and
  the id, sender and date columns when given), so a title row above the header is ignored (a
  warning names the row taken).  A sheet that holds rows but no text column is an error,
  since its records would be lost: pick the sheets with ``sheet=``/``--sheet`` (repeatable).
  A sheet without data rows is skipped with a warning.  A second header row under the header
  (受付 merged across 日付 and 担当課, the other names merged down into it) completes its names,
  with a warning (see :func:`_sub_header`); a row holding a date, a number, a phone number or
  an e-mail address is never taken for one.  A formula cell without a stored result (a
  workbook written by a program) reads as empty: in the text column the record is an error
  that says so, in another its ``warning`` does (:func:`_uncomputed_formulas`).
* CSV (not TSV) cells lose the formula guard batch's CSV output adds (a leading ``'`` before
  ``=``, ``+``, ``-``, ``@``, a tab or a CR, not before a plain signed number; see
  :func:`_undefuse`), as :func:`iter_scored` and the report read them, so a scored CSV scored
  again keeps its texts, sender pseudonyms and evidence offsets.  A genuine leading ``'`` in
  such a place (a CSV from another program) is lost the same way.
* Folders of ``.eml`` files are read with their sub-folders, in sorted path order (the
  record key is the path inside the folder); hidden files are ignored and other files are
  counted in a warning.
* Dates (``date_col``): ISO, ``2024/5/1``, ``2024年5月1日``, Japanese eras (``令和6年4月1日``,
  ``R6.4.1``, ``H31.4.30``, ``元年``), RFC 2822 mail dates and Excel serial numbers (1950-2099),
  with a time as ``10:30``, ``10時30分``, ``午前10:00`` or ``午後3時`` (see :func:`parse_date`); the summary counts
  non-empty dates that could not be read (treated as undated), among them numbers out of
  that range, however large, NaN and infinity.

Outputs
-------
CSV output is UTF-8 with a BOM, for Excel.  A string cell starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading ``'`` so that a spreadsheet shows it as text
instead of running it as a formula (OWASP's advice against CSV injection; a cell that is
quotes followed by one of those characters gets one quote more, and :func:`iter_scored`
and the CSV input reader remove the added quote).  Numbers are written as they are.  The .xlsx writer stores such
strings as text cells; JSONL and Parquet are written unchanged.  The ``warning`` key of a
JSONL row is only present when set.

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
each (a MeCab tagger is per thread; scoring is CPU-bound).  For well-formed files the rows
are those of the local engine, with the same ``source_record`` (empty lines and empty
rows are skipped but keep their numbers, also in a resumed run).  A CSV file with a record of
the wrong number of fields (or that is not valid CSV) is refused before any partition runs: pandas
would stop on it or shift every column; score it with the local engine, which writes that record
as an error row.  A field over the field limit is read by pandas' rules.  Each worker loads the model
once and keeps it.  A CSV file is one partition (Dask cannot split files whose quoted
fields hold line breaks; pass ``--blocksize 64MB`` only for files without them); a Parquet
file gives one partition per row group, so write big archives as Parquet with row groups
of some 10,000–100,000 rows.  A UTF-16 file cannot be split (``--blocksize`` is refused for it), nor can
a file with a line break inside a quoted field (``--blocksize`` is refused for it before scoring).  A bad
byte is read as the local engine reads it (the columns are read as Python strings holding the surrogate
escapes, not as pandas' default string columns, which cannot hold them).

A scheduler that does not answer within ``scheduler_timeout`` seconds (``--scheduler-timeout``,
default 30; e.g. the dashboard's port 8787 given instead of 8786), or that has no worker
joined by then, stops the run with :class:`DaskEngineError` before any scoring; so does a
failure of the cluster during the run (scheduler lost, a worker's error), which keeps the
finished partitions for ``--resume``; a CSV file pandas cannot read is an ``InputFormatError``
instead (resuming cannot help).  The functions the workers run raise errors that name the original
error's type but never its message, which could quote a record into the workers' logs.  A local
cluster serves no dashboard.

Sender pseudonyms
-----------------
With a sender column, a ``sender_id`` column and a per-sender summary are written.  Sender
identifiers are replaced by ``S-`` + 16 hex digits of HMAC-SHA256 under a secret key, unless
``keep_sender_ids=True``, which shows their canonical form instead (e-mail address in lower
case without the display name, phone number as digits); either way ``taro@example.jp``,
``Taro <TARO@example.jp>`` and ``090-1234-5678``/``09012345678`` group as one sender each,
as in the report.  Pseudonyms apply to ``sender_id`` and the summary only: the scored output
keeps every input column, the raw sender column included, unless ``mask_sender_column=True``
(``--mask-sender-column``) replaces that column's values by their ``sender_id``.

The key is read from ``sender_key_file`` (``--sender-key-file``) when one is given, which must
exist; otherwise from the environment variable ``COMPLAINT_TRIAGE_SENDER_KEY`` (at least 16
characters) if set; otherwise from ``$XDG_CONFIG_HOME/complaint-triage/sender.key``
(``~/.config/…``), which is generated (32 random bytes, mode 0600) on first use, with a
warning that says so.  Keep the key to get the same
pseudonyms in later runs; delete it to make old pseudonyms unlinkable.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import functools
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
import zipfile
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from complaint_triage.exceptions import (
    ComplaintTriageError,
    InputFormatError,
    LabelSetMismatchError,
    ModelLoadError,
    ModelNotFoundError,
    UntrustedModelError,
)
from complaint_triage.io import (
    EXTENSIONS,
    FIELD_LIMIT,
    LONE_SURROGATE,
    OUTPUT_FORMATS,
    SINGLE_BYTE_PUA,
    UNDECODABLE,
    CsvReader,
    binary_format,
    column_names,
    input_name,
    json_line,
    jsonl_lines,
    raise_field_limit,
    reads_singles_as_pua,
    renamed_note,
    shown_names,
    surrogates_replaced,
    unique_names,
)
from complaint_triage.io import _no_record as _no_csv_record
from complaint_triage.labels import CATEGORIES, VERDICTS
from complaint_triage.model import SCORE_NAMES
from complaint_triage.results import unpaired_surrogate
from complaint_triage.scoring import DEFAULT_MAX_CHARS, Prediction, Triager

__all__ = [
    "BatchResult",
    "DaskEngineError",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "PREDICTION_COLUMNS",
    "SCORE_COLUMNS",
    "SENDER_KEY_ENV",
    "OptionalDependencyError",
    "OutputInUseError",
    "OutputWriteError",
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
#: One probability column per entry of the ``scores`` object of the output schema.
SCORE_COLUMNS: tuple[str, ...] = tuple(f"score_{n}" for n in SCORE_NAMES)
#: Columns :func:`score_frame` adds, in order.
PREDICTION_COLUMNS: tuple[str, ...] = (
    "verdict", "categories", "grievance", *SCORE_COLUMNS, "evidence", "action", "review", "model_version", "error",
)
SENDER_KEY_ENV = "COMPLAINT_TRIAGE_SENDER_KEY"

_SOURCE_COLUMNS = ("source_file", "source_record")
_WARNING_COLUMN = "warning"
_RESERVED = frozenset({*PREDICTION_COLUMNS, *_SOURCE_COLUMNS, "sender_id", "scores", _WARNING_COLUMN})
_EMAIL_BASE_COLUMNS = ("channel", "message_id", "from", "to", "cc", "subject", "date")
_EMAIL_TAIL_COLUMNS = ("quotes_reply", "stripped", "attachments", "charset", "defects")
_INDEX_COL = re.compile(r"^__index_level_\d+__$")
_XLSX_MAX_ROWS = 1_048_576
_XLSX_MAX_CELL = 32_767
_XLSX_MAX_COLUMNS = 16_384
#: Digits of the longest integer an .xlsx cell holds exactly (Excel keeps 15 significant digits):
#: a longer one (an id such as 1234567890123456789) is written as text.
_XLSX_DIGITS = 15
#: The control characters an .xlsx cell cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE), each
#: replaced by one character: vertical tab (FileMaker's line break in a field) and form feed by a
#: line break, the others by U+FFFD.
_XLSX_CONTROLS = dict.fromkeys((*range(0x00, 0x09), *range(0x0E, 0x20)), "\ufffd") | {0x0B: "\n", 0x0C: "\n"}
_PARTS_SUFFIX = ".parts"
_LOCK_SUFFIX = ".lock"
_RUN_FILE = "run.json"


class OptionalDependencyError(ComplaintTriageError, ImportError):
    """A feature needs an optional package that is not installed."""


class OutputInUseError(ComplaintTriageError, RuntimeError):
    """Another batch run is writing the same output (it holds ``<output>.lock``)."""


class OutputWriteError(ComplaintTriageError, OSError):
    """The output or a checkpoint could not be written (a full disk, no permission); the
    checkpoints saved so far are kept for ``--resume``."""


class DaskEngineError(ComplaintTriageError, RuntimeError):
    """The Dask cluster could not be reached or used, or a partition failed on it."""


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
    cp932_singles: bool = False,
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
    cp932_singles : bool, default=False
        The frame was decoded as cp932: the private-use characters that codec reads the bytes
        0xA0 and 0xFD-0xFF as count as undecodable bytes too (as the local engine's reader makes them).

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
        if cp932_singles:
            raw = [v.translate(SINGLE_BYTE_PUA) if isinstance(v, str) else v for v in raw]
        bad = {i for i, v in enumerate(raw) if isinstance(v, str) and LONE_SURROGATE.search(v)}
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
        if "defects" in df.columns:
            # an e-mail whose text part was not decoded as declared (corrupt base64, a charset its bytes do
            # not fit) may have been scored cut off or garbled: a person reads it, as the API decides
            for i, d in enumerate(df["defects"].tolist()):
                if isinstance(d, str) and _TEXT_IN_DOUBT.search(d) and cols["verdict"][i] is not None:
                    cols["review"][i] = True
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
    skip: frozenset[Path] = frozenset()  # (folders) the run's own files, resolved: not read


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
        Column -> value (every column that could be read, also on error records); None
        when nothing could be read.
    error : str or None
        Why the record could not be read (it is not scored).
    warning : str or None
        What was repaired while reading it (bytes not valid in the file's encoding replaced
        with U+FFFD in a column other than the text, a field cut at the field limit); the
        record is still scored.
    """

    source_file: str
    source_record: str
    values: dict[str, Any] | None
    error: str | None = None
    warning: str | None = None


_HALFWIDTH_KANA = re.compile("[\uff61-\uff9f]")


def detect_encoding(path: str | os.PathLike[str], *, sample_bytes: int = 1 << 20) -> str:
    """Guess a CSV/TSV file's encoding from its first ``sample_bytes``.

    Returns ``"utf-8-sig"`` (BOM), ``"utf-16"`` (UTF-16 BOM, Excel's "Unicode text"),
    ``"utf-8"``, ``"cp932"`` (Shift_JIS as written by Japanese Windows) or ``"euc_jp"``.

    A BOM decides.  Otherwise the sample's lines that hold non-ASCII bytes are decoded one
    by one, and the encodings are compared by how many of those lines fail to decode (not
    by how many bytes: one long line must not outweigh many short ones).  UTF-8 is chosen
    when every such line decodes as UTF-8, when most of them do, and when CP932 or EUC-JP
    fails on as many lines; else the one of CP932 and EUC-JP that fails on fewer lines.  So
    one bad byte does not send a whole CP932 file to UTF-8, and one CP932 row in a UTF-8
    file does not send it to CP932 (where its UTF-8 rows would read as mojibake): only the
    rows holding bad bytes are affected.  Override with ``encoding=``.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as f:
    ...     _ = f.write("受付番号,内容\\n1,騒音がひどい\\n".encode("cp932") + b"2,\\x85\\x40\\n")
    >>> detect_encoding(f.name)
    'cp932'
    >>> os.unlink(f.name)
    """
    with open(path, "rb") as f:
        head = f.read(sample_bytes)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    final = len(head) < sample_bytes  # (else a character cut at the end of the sample is no error)
    texts: dict[str, str] = {}
    failed: dict[str, int] = {}  # lines holding bytes that do not decode
    for enc in ("utf-8", "cp932", "euc_jp"):
        texts[enc] = codecs.getincrementaldecoder(enc)(errors="surrogateescape").decode(head, final=final)
        # (an undecodable byte never swallows the line break after it, so the lines of the
        # text are the lines of the file)
        failed[enc] = (sum(map(bool, map(UNDECODABLE.search, texts[enc].split("\n"))))
                       if UNDECODABLE.search(texts[enc]) else 0)
        if enc == "utf-8" and failed[enc] == 0:
            return "utf-8"
    non_ascii = sum(not line.isascii() for line in head.split(b"\n"))
    if failed["utf-8"] * 2 < non_ascii:  # most lines that are not plain ASCII read as UTF-8
        return "utf-8"
    # ties: EUC-JP read as CP932 turns into half-width katakana, so fewer of them wins
    legacy = min(("cp932", "euc_jp"), key=lambda e: (failed[e], len(_HALFWIDTH_KANA.findall(texts[e]))))
    return legacy if failed[legacy] < failed["utf-8"] else "utf-8"


_EXT_KINDS = {
    **EXTENSIONS, ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet", ".pq": "parquet", ".mbox": "mbox",
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


_ENCODING_HINT = "pass --encoding cp932 (Shift_JIS, as Japanese Excel saves CSV) or the file's real encoding"
#: How many rows of a sheet are searched for its header row (title rows come above it).
_XLSX_HEADER_ROWS = 20


def _field_limit(max_chars: int) -> int:
    """Longest CSV field read whole: room for a few over-long texts, and memory stays bounded."""
    return max(FIELD_LIMIT, 4 * int(max_chars))


def _count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _own_file(path: Path, own: Mapping[Path, str]) -> str | None:
    """What ``path`` (resolved) is among this run's own files, or None."""
    if not own:
        return None
    for p in (path, *path.parents):
        if p in own:
            return own[p]
    return None


def _sheet_list(sheet: str | Sequence[str] | None) -> list[str] | None:
    if sheet is None:
        return None
    return [sheet] if isinstance(sheet, str) else list(dict.fromkeys(sheet))


def _check_regular(path: Path, label: str, reader: str = "batch") -> None:
    """Refuse (:class:`InputFormatError`) an input that is neither a file nor a folder: a named pipe
    (also ``<(…)``, process substitution), a device or a socket.  A run reads each input several times
    (its format and encoding, its columns and records, a fingerprint for ``--resume``; ``report`` its
    format, then its records), and opening a pipe a second time waits for a writer for ever."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:  # (missing, or a broken link: refused as matching nothing)
        return
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    what = ("a pipe (a named pipe, or <(…) process substitution)" if stat.S_ISFIFO(mode)
            else "not a regular file (a device or a socket)")
    raise InputFormatError(
        f"the input {label} is {what}, which {reader} cannot read: it reads each input more than once"
        + (" (its encoding, its records, a fingerprint for --resume)" if reader == "batch" else "")
        + "; save the data to a file first (e.g. zcat log.csv.gz > log.csv) and give that file")


def expand_inputs(patterns: Iterable[str | os.PathLike[str]], *, fmt: str | None = None,
                  encoding: str | None = None, exclude: Mapping[str | os.PathLike[str], str] | None = None,
                  notes: list[str] | None = None) -> list[_Source]:
    """Expand globs and detect each input's format (and a CSV/TSV file's encoding).

    Parameters
    ----------
    patterns : iterable of path-like or glob patterns
    fmt, encoding : str or None
        Force the format of every input, or the CSV/TSV encoding (default: detected).
    exclude : mapping of path -> description, optional
        The run's own files (output, per-sender summary, checkpoints).  Given explicitly as
        an input, one is refused; matched by a glob (or inside a folder), it is skipped and
        a note is added to ``notes``.
    notes : list of str, optional
        Receives a line for each input skipped.

    Raises
    ------
    InputFormatError
        A pattern matches nothing, a format cannot be told, an input is a pipe or a device,
        or an input is one of the run's own files.
    """
    own = {Path(p).resolve(): d for p, d in (exclude or {}).items()}
    out: list[_Source] = []
    seen: set[Path] = set()
    skipped = 0
    for pat in patterns:
        s = str(pat)
        magic = glob.has_magic(s)
        matches = sorted(glob.glob(s, recursive=True)) if magic else [s]
        if not matches or not Path(matches[0]).exists():
            raise InputFormatError(f"no input matches {s!r}")
        for m in matches:
            p = Path(m)
            _check_regular(p, m)
            rp = p.resolve()
            what = _own_file(rp, own)
            if what is not None:
                if not magic:
                    raise InputFormatError(
                        f"the input {m} is {what} of this run, which would overwrite it: "
                        "write the output elsewhere (-o, --sender-summary)")
                skipped += 1
                if notes is not None:
                    notes.append(f"{m} skipped: it is {what} of this run")
                continue
            if rp in seen:
                continue
            seen.add(rp)
            kind = _kind_of(p, fmt)
            if kind == "eml" and not p.is_dir() and not p.is_file():
                raise InputFormatError(f"no input matches {m!r}")
            enc = None
            if kind in ("csv", "tsv"):
                enc = encoding or detect_encoding(p)
            out.append(_Source(p, m, kind, enc, frozenset(own) if p.is_dir() else frozenset()))
    if not out:
        raise InputFormatError("the inputs match only this run's own output files" if skipped
                               else "no input files given")
    return out


def _blank(row: Sequence[object]) -> bool:
    """Whether a sheet row holds nothing (no cell, or only empty strings): skipped, as an empty CSV
    row is.  A cell holding only spaces makes the row a record, as in a CSV (a text of spaces is
    then an error record, "empty or whitespace only")."""
    return all(v is None or v == "" for v in row)


def _sheet_header(cells: Sequence[object]) -> tuple[list[str], list[tuple[str, str]]]:
    """Column names of a header row (trailing blanks dropped, blanks ``column_N``, duplicates ``NAME.1``)
    and the names renamed, ``(old, new)``: blanks first, as the CSV reader lists them."""
    cells = list(cells)
    while cells and _blank_cell(cells[-1]):
        cells.pop()
    blanks = [i for i, c in enumerate(cells) if _blank_cell(c)]
    names, dups = unique_names(_header_names(cells), last=blanks)
    return names, [("" if cells[i] is None else str(cells[i]), names[i]) for i in blanks] + dups


def _blank_cell(c: object) -> bool:
    return c is None or str(c).strip() == ""


def _header_names(cells: Sequence[object]) -> list[str]:
    return [f"column_{i + 1}" if _blank_cell(c) else str(c).strip() for i, c in enumerate(cells)]


#: A cell of a row under the header that is a record's value, not a column's name (after NFKC):
#: two digits or more (a date, 令和6年4月1日 too, a phone number, a postcode, an amount), a lone
#: number, an e-mail address.  (「第1回」「1次対応」 may be names.)
_DATA_CELL = re.compile(r"\d\D*\d|@|^\W*\d\W*$")


def _sub_header(header: Sequence[object], below: Sequence[object], text_at: int,
                merged_down: Callable[[], frozenset[int]]) -> list[object] | None:
    """The header's cells named by a second header row ``below`` it, or None when ``below`` is not one.

    A 台帳 often heads a group of columns with one name merged across them (受付 over 日付 and 担当課)
    and merges the other names down both rows.  ``below`` is such a second row only when the sheet
    shows it: it has no text (nothing at ``text_at``) and holds only strings, none of which looks
    like a record's value (:data:`_DATA_CELL`: a date, a phone number, an amount, an e-mail
    address); each of them sits in a group (under a name of ``header`` other than the text
    column's, or in the blank cells right of one), at least one of them in a blank cell; and every
    name of ``header`` with nothing under it (the text column's, 番号) is merged down into
    ``below``.  ``merged_down()`` gives the (0-based) columns whose header cell is merged into the
    row below; it is called only when the rest holds (it reads the sheet's XML).  A column is then
    named by its cell in ``below``, else by its cell in ``header``.

    >>> _sub_header(["番号", "受付", None, "text"], [None, "日付", "担当課", None], 3, lambda: frozenset({0, 3}))
    ['番号', '日付', '担当課', 'text']
    >>> _sub_header(["text", "相談者", None], [None, "山田花子", "090-1234-5678"], 0, frozenset)  # a record
    """
    width = max(len(header), len(below))
    head = list(header) + [None] * (width - len(header))
    sub = list(below) + [None] * (width - len(below))
    values = [v for v in sub if not _blank_cell(v)]
    if not values or not _blank_cell(sub[text_at]) or not all(
            isinstance(v, str) and not _DATA_CELL.search(unicodedata.normalize("NFKC", v)) for v in values):
        return None
    group = -1  # the column naming the group a cell lies in (-1: none)
    groups: set[int] = set()  # the columns naming a group with a cell of ``below`` in it
    fills_blank = False
    for i, (h, v) in enumerate(zip(head, sub, strict=True)):
        if not _blank_cell(h):
            group = i if i != text_at and i + 1 < width and _blank_cell(head[i + 1]) else -1
        if _blank_cell(v):
            continue
        if group < 0:
            return None
        groups.add(group)
        fills_blank = fills_blank or _blank_cell(h)
    if not fills_blank:
        return None
    down = merged_down()
    if any(not _blank_cell(h) and i not in groups and i not in down for i, h in enumerate(head)):
        return None
    return [h if _blank_cell(v) else v for h, v in zip(head, sub, strict=True)]


def _merged_down(merges: Callable[[], Iterable[tuple[int, int, int, int]]], row: int) -> frozenset[int]:
    """The (0-based) columns whose cell in ``row`` (1-based) is merged into the row below it, of
    the merged ranges ``merges()`` gives (:func:`_merged_ranges`)."""
    return frozenset(c - 1 for r1, c1, r2, c2 in merges() if r1 <= row < r2 for c in range(c1, c2 + 1))


@dataclass(frozen=True)
class _Sheet:
    """A sheet to read: its header row (the first, when the header has two), column names and
    how many rows the header takes."""

    name: str
    header_row: int
    columns: tuple[str, ...]
    header_rows: int = 1

    @property
    def data_row(self) -> int:
        return self.header_row + self.header_rows


@dataclass
class _Header:
    """Where :func:`_xlsx_find_header` found a sheet's header."""

    row: int | None  # None: no row names the text column
    rows: int  # 2: the header's names are completed by a second header row below it
    names: list[str]
    renamed: list[tuple[str, str]]
    first: int | None  # the first non-blank row
    first_names: list[str]


def _xlsx_find_header(ws: Any, text_col: str, want: Sequence[str],
                      merges: Callable[[], Sequence[tuple[int, int, int, int]]]) -> _Header:
    """Find a sheet's header row among its first rows.

    The header is the first row naming ``text_col`` and every column of ``want`` (else the
    first naming ``text_col``), with the names of a second header row below it (see
    :func:`_sub_header`; ``merges()``: the sheet's merged ranges, as :func:`_merged_ranges` gives).
    """
    rows = list(ws.iter_rows(max_row=_XLSX_HEADER_ROWS + 1, values_only=True))
    found = _Header(None, 1, [], [], None, [])
    fallback: _Header | None = None
    for r, row in enumerate(rows[:_XLSX_HEADER_ROWS], 1):
        if all(map(_blank_cell, row)):  # (a row of spaces above the header is no header)
            continue
        names, renamed = _sheet_header(row)
        if found.first is None:
            found.first, found.first_names = r, names
        if text_col in names:
            cells, n = row, 1
            if r < len(rows) and (two := _sub_header(row, rows[r], names.index(text_col),
                                                     functools.partial(_merged_down, merges, r))) is not None:
                cells, n = two, 2
                names, renamed = _sheet_header(cells)
            here = _Header(r, n, names, renamed, found.first, found.first_names)
            if all(c in names for c in want):
                return here
            if fallback is None:
                fallback = here
    return fallback if fallback is not None else found


def _open_workbook(path: Path, label: object, hint: str) -> Any:
    """``path`` opened with openpyxl (read-only, cached values); a damaged or non-.xlsx file
    raises :class:`InputFormatError` naming ``label`` and ending with ``hint``."""
    openpyxl = import_or_raise("openpyxl", "Reading .xlsx workbooks")
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError) as e:
        raise InputFormatError(f"{label} cannot be read as an .xlsx workbook ({e}); {hint}") from e


def _open_parquet(path: Path, label: object, hint: str) -> Any:
    """``pyarrow.parquet.ParquetFile(path)``; a damaged or non-Parquet file raises
    :class:`InputFormatError` naming ``label`` and ending with ``hint``."""
    pa = import_or_raise("pyarrow", "Reading Parquet files")
    pq = import_or_raise("pyarrow.parquet", "Reading Parquet files")
    try:
        return pq.ParquetFile(path)
    except pa.ArrowException as e:
        raise InputFormatError(f"{label} cannot be read as Parquet ({e}); {hint}") from e


_INPUT_HINT = "check that the file is what its name says (save a workbook again from Excel as .xlsx)"


def _xlsx_layout(src: _Source, text_col: str, sheet: Sequence[str] | None, want: Sequence[str],
                 warn: Callable[[str], None]) -> list[_Sheet]:
    """The sheets of a workbook to read, each with its header row.

    Raises :class:`InputFormatError` when a sheet that holds data rows has no ``text_col``
    (its records would be lost) unless sheets were chosen with ``sheet``; a sheet without
    data rows is skipped with a warning.
    """
    wb = _open_workbook(src.path, src.label, _INPUT_HINT)
    try:
        names = list(wb.sheetnames)
        if sheet is not None:
            missing = [s for s in sheet if s not in names]
            if missing:
                raise InputFormatError(f"{src.label}: no sheet {missing[0]!r} (sheets: {', '.join(names)})")
            names = list(sheet)
        keep = []
        for name in names:
            ws = wb[name]
            h = _xlsx_find_header(ws, text_col, want, functools.cache(functools.partial(_merged_ranges, wb, ws)))
            if h.row is None:
                if h.first is None:
                    warn(f"{src.label}: sheet {name!r} skipped: it is empty")
                    continue
                if sheet is not None:
                    raise InputFormatError(
                        f"{src.label}: sheet {name!r} has no column {text_col!r} in its first {_XLSX_HEADER_ROWS} "
                        f"rows (columns: {', '.join(h.first_names)}); choose one with --text-column")
                data = sum(1 for r in ws.iter_rows(min_row=h.first + 1, values_only=True) if not _blank(r))
                if data:
                    raise InputFormatError(
                        f"{src.label}: sheet {name!r} holds {_count(data, 'row')} but no column {text_col!r} in its "
                        f"first {_XLSX_HEADER_ROWS} rows, so its records would be lost; name the sheets to read with "
                        "--sheet (repeatable), or the text column with --text-column")
                warn(f"{src.label}: sheet {name!r} skipped: no column {text_col!r} and no data rows")
                continue
            if h.row != h.first:
                warn(f"{src.label}: sheet {name!r}: header taken from row {h.row}; the rows above it are ignored")
            if h.rows == 2:
                warn(f"{src.label}: sheet {name!r}: rows {h.row}-{h.row + 1} read as one header, each column named "
                     f"by its cell in row {h.row + 1}, else row {h.row}: {', '.join(h.names)}")
            if h.renamed:
                warn(f"{src.label}: sheet {name!r}: {renamed_note(h.renamed)}")
            keep.append(_Sheet(name, h.row, tuple(h.names), h.rows))
        if not keep:
            raise InputFormatError(f"{src.label}: no sheet has a column {text_col!r}; choose one with --text-column")
        return keep
    finally:
        wb.close()


#: A merged range in a sheet's XML (``<mergeCell ref="E4:E6"/>``, after the rows).
_MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref\s*=\s*["\']\$?([A-Za-z]{1,3})\$?([0-9]{1,7}):'
                        rb'\$?([A-Za-z]{1,3})\$?([0-9]{1,7})["\']')


def _merged_ranges(wb: Any, ws: Any) -> list[tuple[int, int, int, int]]:
    """``(first row, first column, last row, last column)`` (1-based) of each merged range of a
    read-only worksheet, read from its XML part (openpyxl's read-only mode does not parse them);
    none when openpyxl keeps that part elsewhere than this version does."""
    from openpyxl.utils import column_index_from_string

    path, archive = getattr(ws, "_worksheet_path", None), getattr(wb, "_archive", None)
    if not isinstance(path, str) or archive is None:
        return []
    found: set[tuple[int, int, int, int]] = set()
    tail = b""
    with archive.open(path) as f:  # (in pieces: a sheet's XML can be hundreds of megabytes)
        while chunk := f.read(1 << 20):
            buf = tail + chunk
            for m in _MERGE_REF.finditer(buf):
                c1, r1, c2, r2 = m.groups()
                found.add((int(r1), column_index_from_string(c1.decode().upper()), int(r2),
                           column_index_from_string(c2.decode().upper())))
            tail = buf[-4096:]  # (a tag cut between two pieces is found whole in the next buffer)
    return sorted(r for r in found if (r[0], r[1]) != (r[2], r[3]))


#: A cell holding a formula, in a sheet's XML: the cell's attributes, its ``<v>`` (the result
#: Excel stored, if any) and that value.  (Every ``<`` of the XML starts a tag: text escapes it.)
_FORMULA_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*)>\s*<(?:\w+:)?f\b(?:[^>]*/>|[^>]*>[^<]*</(?:\w+:)?f\s*>)\s*'
                           rb'(<(?:\w+:)?v\s*/>|<(?:\w+:)?v\s*>([^<]*)</(?:\w+:)?v\s*>)?')
_CELL_START = re.compile(rb'<(?:\w+:)?c[\s/>]')
_CELL_REF = re.compile(rb'\br\s*=\s*["\']\$?([A-Za-z]{1,3})\$?([0-9]{1,7})["\']')
_STRING_RESULT = re.compile(rb'\bt\s*=\s*["\']str["\']')


def _uncomputed_formulas(wb: Any, ws: Any) -> Iterator[tuple[int, frozenset[int]]]:
    """``(row, columns)`` (1-based), in row order, of the cells of a read-only worksheet that hold a
    formula without a stored result, which openpyxl reads as empty.  Excel stores each formula's
    result; a workbook written by a program (openpyxl, pandas) often does not.  Read from the
    sheet's XML in pieces, as :func:`_merged_ranges` reads it; nothing when that part is elsewhere.
    (An empty result of a string formula, ``t="str"`` with ``<v></v>``, is a result.)"""
    from openpyxl.utils import column_index_from_string

    path, archive = getattr(ws, "_worksheet_path", None), getattr(wb, "_archive", None)
    if not isinstance(path, str) or archive is None:
        return
    row, cols = 0, set[int]()
    tail = b""
    with archive.open(path) as f:
        while True:
            chunk = f.read(1 << 20)
            buf = tail + chunk
            cut = len(buf)
            if chunk:  # (keep the last cell, which may go on in the next piece, for the next buffer)
                while (cut := buf.rfind(b"<", 0, cut)) > 0 and not _CELL_START.match(buf, cut):
                    pass
                cut = max(cut, 0)
            for m in _FORMULA_CELL.finditer(buf, 0, cut):
                attrs, v, value = m.groups()
                if v is not None and ((value or b"").strip() or _STRING_RESULT.search(attrs)):
                    continue
                if (ref := _CELL_REF.search(attrs)) is None:
                    continue
                r, c = int(ref[2]), column_index_from_string(ref[1].decode().upper())
                if r != row and cols:
                    yield row, frozenset(cols)
                    cols = set()
                row = r
                cols.add(c)
            if not chunk:
                break
            tail = buf[cut:]
    if cols:
        yield row, frozenset(cols)


def _xlsx_rows(wb: Any, ws: Any, start: int) -> Iterator[tuple[int, tuple[Any, ...], frozenset[int]]]:
    """A sheet's rows from ``start`` on: ``(row number, cells, columns holding a formula without a
    stored result)``; rows that are blank and hold no such formula are left out."""
    with contextlib.closing(_uncomputed_formulas(wb, ws)) as formulas:
        pending = next(formulas, None)
        for r, row in enumerate(ws.iter_rows(min_row=start, values_only=True), start):
            while pending is not None and pending[0] < r:
                pending = next(formulas, None)
            uncomputed = pending[1] if pending is not None and pending[0] == r else frozenset()
            if not uncomputed and _blank(row):
                continue
            yield r, row, uncomputed


#: The end of the ``warning`` of a record with cells outside the text that hold a formula without
#: a stored result (the summary counts those rows apart from rows with cells repaired).
_UNCOMPUTED_NOTE = "read as empty: a formula never computed (open the workbook in Excel and save it)"

#: The error of a record whose text cell holds a formula without a stored result.
_UNCOMPUTED_TEXT = ("the text cell holds a formula that was never computed (the workbook was written by a program, "
                   "not saved by Excel); open the workbook in Excel, save it and run again")


def _read_xlsx(src: _Source, sheets: Sequence[_Sheet], text_col: str = "text") -> Iterator[Record]:
    wb = _open_workbook(src.path, src.label, _INPUT_HINT)
    try:
        for sh in sheets:
            header = sh.columns
            width = len(header)
            start = sh.data_row
            ws = wb[sh.name]
            # A cell merged down several rows (担当課 or 受付日 for a block of records) shows its
            # value on each of them: those records get it too.  Only a merge one column wide
            # within the header's columns, not the text column (a message merged down the rows
            # of its follow-up entries is one message, scored once), and not a merge within one
            # row (a title row across the columns is no record's value).
            text_at = header.index(text_col) + 1 if text_col in header else 0
            starts: dict[int, list[tuple[int, int, int, int]]] = {}  # merges by their first row
            for rng in _merged_ranges(wb, ws):
                if rng[0] >= start and rng[2] > rng[0] and rng[1] == rng[3] and rng[1] != text_at \
                        and rng[1] <= width:
                    starts.setdefault(rng[0], []).append(rng)
            active: list[tuple[tuple[int, int, int, int], Any]] = []  # (merge, value) covering later rows
            for r, row, uncomputed in _xlsx_rows(wb, ws, start):
                if active:
                    active = [a for a in active if a[0][2] >= r]
                fill = active
                if r in starts:  # (the first row of a merged range holds its value)
                    active = active + [(g, row[g[1] - 1] if g[1] - 1 < len(row) else None) for g in starts[r]]
                if fill:
                    cells = list(row) + [None] * max(0, width - len(row))
                    for g, v in fill:
                        if v is not None and cells[g[1] - 1] is None:
                            cells[g[1] - 1] = v
                    row = tuple(cells)
                values: dict[str, Any] = {}
                for i, v in enumerate(row):
                    if i < width:
                        values[header[i]] = v
                    elif v is not None:
                        values[f"column_{i + 1}"] = v
                error = warning = None
                if uncomputed:  # (cells read as empty that are not)
                    if text_at in uncomputed and values.get(text_col) is None:
                        error = _UNCOMPUTED_TEXT
                    names = [header[c - 1] if c <= width else f"column_{c}" for c in sorted(uncomputed)
                             if c != text_at and (c > len(row) or row[c - 1] is None)]
                    if names:
                        warning = f"{column_names(names)} {_UNCOMPUTED_NOTE}"
                yield Record(src.label, f"{sh.name}!{r}", values, error, warning)
    finally:
        wb.close()


def _cell_warning(undecodable: Sequence[str], truncated: Sequence[str], limit: int) -> str | None:
    """The ``warning`` of a record whose cells (other than the text) were repaired."""
    notes = []
    if undecodable:
        notes.append(f"bytes not valid in the file's encoding replaced with U+FFFD in {column_names(undecodable)}")
    if truncated:
        notes.append(f"{column_names(truncated)} cut to the first {limit:,} characters")
    return "; ".join(notes) or None


def _csv_reader(src: _Source, f: IO[bytes], text_col: str, field_limit: int) -> CsvReader:
    return CsvReader(f, text_column=text_col, delimiter="\t" if src.kind == "tsv" else ",",
                     encoding=src.encoding or "utf-8", field_limit=field_limit, source=src.label,
                     encoding_hint=_ENCODING_HINT)


def _count_csv(reader: CsvReader) -> tuple[int, int | None]:
    """:meth:`CsvReader.count`, and the physical line where the first record spanning several lines starts
    (a line break inside a quoted field; None: there is none).  The reader's own parse of the file: a quote
    never closed is no such record (its lines are read again as records, and the record is misshapen)."""
    if reader.header is None:
        return 0, None
    n, width, first = 0, len(reader.header), None
    buf = reader._buf  # (the lines of the record just read: cleared, not replaced, by the reader)
    while True:
        start = reader.lines + 1
        if (got := reader._next_fields()) is None:
            return n, first
        if first is None and len(buf) > 1:
            first = start
        n += not _no_csv_record(got[0], width)


def _read_csv(src: _Source, text_col: str, field_limit: int = FIELD_LIMIT) -> Iterator[Record]:
    """The records of a CSV/TSV file; every readable column is kept, also on error rows.

    A CSV (not TSV) cell loses the formula guard batch's CSV output adds (see :func:`_unguarded`).
    """
    unguard = src.kind == "csv"
    with open(src.path, "rb") as f:
        for rec in _csv_reader(src, f, text_col, field_limit):
            error = None
            if rec.problem is not None:
                error = f"row {rec.row} (line {rec.line}) {rec.problem}"
            elif text_col in rec.truncated:
                error = f"the text is over the limit: its field holds more than {field_limit:,} characters"
            warning = None
            if rec.undecodable or rec.truncated:  # (rarely: most records have neither)
                warning = _cell_warning([c for c in rec.undecodable if c != text_col],
                                        [c for c in rec.truncated if c != text_col], field_limit)
            values = _unguarded(rec.values) if unguard and rec.values else rec.values
            yield Record(src.label, str(rec.row), values, error, warning)


def _read_jsonl(src: _Source, text_col: str = "text") -> Iterator[Record]:
    """The records of a JSONL file.  Bytes not valid UTF-8 and lone UTF-16 surrogates (JSON escapes
    such as ``\\ud800`` without their pair) outside the text become U+FFFD, the row's ``warning``
    saying so; in the text they make the row an error that says which of the two it is."""
    from complaint_triage.io import InputRecordError, read_jsonl

    repaired: dict[int, list[str]] = {}  # a line whose bad bytes lie outside the text: kept, and its row says so
    with open(src.path, "rb") as f:
        for n, rec in read_jsonl(f, text_field=text_col, on_repair=repaired.__setitem__):
            if isinstance(rec, InputRecordError):
                yield Record(src.label, str(n), rec.values or None, rec.error)
                continue
            notes = []
            if fields := repaired.pop(n, None):
                notes.append(f"bytes not valid UTF-8 replaced with U+FFFD in {column_names(fields, 'field')}")
            rec, escaped = surrogates_replaced(rec, keep=(text_col,))
            if escaped:
                notes.append("unpaired UTF-16 surrogates (JSON escapes such as \\ud800 without their pair) replaced "
                             f"with U+FFFD in {column_names(escaped, 'field')}")
            note = "; ".join(notes) or None
            text = rec.get(text_col)
            if text_col not in rec:  # (not "missing (null)": the field is not there at all)
                yield Record(src.label, str(n), rec, f"line {n}: the field {text_col!r} is missing", note)
            elif isinstance(text, str) and (problem := unpaired_surrogate(text)) is not None:
                yield Record(src.label, str(n), rec, problem, note)  # (the text gets U+FFFD when the chunk is saved)
            else:
                yield Record(src.label, str(n), rec, None, note)


_PARQUET_HINT = ("check that the file is a whole Parquet file (not cut short by a copy or still being written), "
                 "or write it again")


def _parquet_file(src: _Source, text_col: str) -> Any:
    pf = _open_parquet(src.path, src.label, _PARQUET_HINT)
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


#: an e-mail row's ``defects`` saying its text was not decoded as declared (``ParsedEmail.text_in_doubt``)
_TEXT_IN_DOUBT = re.compile(r"(?:^|; )(?:UndecodedText|UnreadableText):")


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
        "stripped": p.stripped_kinds,
        "attachments": "; ".join(a.filename or a.content_type for a in p.attachments),
        "charset": p.charset,
        "defects": "; ".join(p.defects),
    }


@dataclass
class _EmlFolder:
    files: list[tuple[str, Path]]  # (path relative to the folder, with /; the record key), sorted
    other: Counter[str]  # suffixes of files skipped because they are not .eml
    own: list[str]  # this run's own files found in the folder (skipped)


def _eml_folder(src: _Source) -> _EmlFolder:
    """Every ``.eml`` file of a folder and its sub-folders, in a fixed order (sorted paths).

    Hidden files and folders (``.DS_Store``, ``._x.eml``, ``.git``) are left out; other files
    are counted by suffix; the run's own output files are skipped.
    """
    own = dict.fromkeys(src.skip, "")
    found = _EmlFolder([], Counter(), [])
    for dirpath, dirnames, filenames in os.walk(src.path):
        here = Path(dirpath)
        for d in list(dirnames):
            if own and _own_file((here / d).resolve(), own) is not None:
                found.own.append(str(here / d))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and str(here / d) not in found.own)
        for name in filenames:
            if name.startswith("."):
                continue
            path = here / name
            if own and _own_file(path.resolve(), own) is not None:
                found.own.append(str(path))
            elif name.lower().endswith(".eml") and path.is_file():
                found.files.append((path.relative_to(src.path).as_posix(), path))
            else:
                found.other[path.suffix.lower() or "(no suffix)"] += 1
    found.files.sort()
    return found


def _read_email(src: _Source, text_col: str, files: Sequence[tuple[str, Path]] | None) -> Iterator[Record]:
    """Records of an mbox, an .eml file or an .eml folder (its ``files`` as :func:`_scan` listed
    them, else listed now)."""
    from complaint_triage.email import iter_eml_files, iter_mbox, parse_email
    from complaint_triage.exceptions import EmailParseError

    if src.kind == "mbox":
        items: Iterable[tuple[str, Any]] = iter_mbox(src.path)
    elif src.path.is_dir():
        items = iter_eml_files(files if files is not None else _eml_folder(src).files)
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
        elif (empty := res.empty_reason()) is not None:  # as the API's 422 empty_email_body says (counted as "empty")
            yield Record(src.label, key, _email_values(res, text_col), empty)
        else:
            yield Record(src.label, key, _email_values(res, text_col))


def _check_json_array(src: _Source) -> None:
    from complaint_triage.io import JSON_ARRAY_HINT, starts_json_array

    with open(src.path, "rb") as f:
        if starts_json_array(f):
            raise InputFormatError(f"{src.label} is a JSON array; {JSON_ARRAY_HINT}")


def _check_text_head(src: _Source) -> None:
    """Refuse (:class:`InputFormatError`) a CSV, TSV or JSONL input whose first bytes are those of a
    binary format (an .xlsx, a Parquet file given as text)."""
    with open(src.path, "rb") as f:
        head = f.read(8)
    if (binary := binary_format(head)) is not None:
        what = "JSONL" if src.kind == "jsonl" else src.kind.upper()
        raise InputFormatError(f"{src.label} is not {what} text: it looks like {binary}")


def _not_jsonl(src: _Source, lines: int, utf16: bool) -> InputFormatError:
    """The refusal of a JSONL input none of whose lines starts with ``{``: a UTF-16 file, a CSV or another
    text file (it would give only error rows)."""
    if utf16:
        return InputFormatError(f"{src.label} is not JSONL as read: it looks like UTF-16 (a UTF-16 byte-order mark "
                                "or NUL bytes); JSONL is read as UTF-8: convert it (iconv -f utf-16 -t utf-8 "
                                f"{src.path.name} > {src.path.stem}-utf8.jsonl)")
    named = _EXT_KINDS.get(src.path.suffix.lower())
    hint = (f"its name says {named}: read it with --format {named}, or leave out --format"
            if named is not None and named != "jsonl" else
            "each line of a JSONL file is one JSON object, such as {\"text\": \"…\"}")
    return InputFormatError(f"{src.label} is not JSONL: none of its {_count(lines, 'line')} is a JSON object; "
                            f"{hint}")


def _partial(path: Path) -> Path:
    """Where an output is written before it replaces ``path`` (checked up front as well)."""
    return path.with_name(path.name + ".partial")


def _iter_source(src: _Source, text_col: str, sheets: Mapping[str, Sequence[_Sheet]],
                 field_limit: int = FIELD_LIMIT,
                 folders: Mapping[str, Sequence[tuple[str, Path]]] | None = None) -> Iterator[Record]:
    if src.kind in ("csv", "tsv"):
        yield from _read_csv(src, text_col, field_limit)
    elif src.kind == "jsonl":
        _check_json_array(src)
        yield from _read_jsonl(src, text_col)
    elif src.kind == "xlsx":
        yield from _read_xlsx(src, sheets[src.label], text_col)
    elif src.kind == "parquet":
        yield from _read_parquet(src, text_col)
    else:
        yield from _read_email(src, text_col, (folders or {}).get(src.label))


@dataclass
class _Scan:
    columns: list[str]
    total: int
    arrow_types: dict[str, Any]
    sheets: dict[str, list[_Sheet]]
    warnings: list[str]
    empty: list[str] = field(default_factory=list)  # inputs without records, and why
    # a CSV/TSV file's first record that spans several lines (a line break inside a quoted field): the
    # physical line where it starts, by label (Dask cannot cut such a file at line breaks: --blocksize)
    line_breaks: dict[str, int] = field(default_factory=dict)
    folders: dict[str, list[tuple[str, Path]]] = field(default_factory=dict)  # an .eml folder's files, by label


def _scan(sources: Sequence[_Source], text_col: str, sheet: str | Sequence[str] | None, *,
          want: Sequence[str] = (), field_limit: int = FIELD_LIMIT) -> _Scan:
    """Find the union of input columns (first-seen order) and count the records.

    ``want`` are the other columns asked for (id, sender, date): a sheet's header row is
    the first that names them all with ``text_col`` (see :func:`_xlsx_layout`).
    """
    cols: dict[str, None] = {}
    types: dict[str, Any] = {}
    non_parquet: set[str] = set()
    total = 0
    warnings: list[str] = []
    empty: list[str] = []
    sheets: dict[str, list[_Sheet]] = {}
    folders: dict[str, list[tuple[str, Path]]] = {}
    line_breaks: dict[str, int] = {}
    sheet_names = _sheet_list(sheet)

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
        n = 0
        why = "no records"
        if src.kind in ("csv", "tsv"):
            _check_text_head(src)
            with open(src.path, "rb") as f:
                reader = _csv_reader(src, f, text_col, field_limit)
                if reader.header is None:
                    empty.append(f"{src.label}: empty file")
                    continue
                add(reader.header)
                if reader.renamed:
                    warnings.append(f"{src.label}: {renamed_note(reader.renamed)}")
                n, line_break = _count_csv(reader)
                if line_break is not None:
                    line_breaks[src.label] = line_break
                why = "a header but no records"
        elif src.kind == "jsonl":
            _check_text_head(src)
            _check_json_array(src)
            seen: dict[str, None] = {}
            unread = 0  # lines too long to parse here: they may hold the text field
            braced = False  # a line starts with "{" (after spaces): JSONL, if only cut short ({"text":"…" alone)
            utf16 = False  # a UTF-16 byte-order mark or NUL bytes: UTF-16, which JSONL is not read as
            with open(src.path, "rb") as f:
                for raw in jsonl_lines(f):  # (the reader's lines: an over-long one is one record, not held)
                    if raw is not None and not raw.strip():
                        continue
                    n += 1
                    if raw is None:
                        unread += 1
                        continue
                    if not braced or not utf16:
                        nul = b"\0" in raw
                        utf16 = utf16 or nul or raw.startswith((b"\xff\xfe", b"\xfe\xff"))
                        braced = braced or (not nul and raw.lstrip().startswith(b"{"))
                    try:  # (bytes not UTF-8 as the reader takes them: the line keeps its fields)
                        obj = json.loads(raw.decode("utf-8", errors="surrogateescape"))
                    except (ValueError, RecursionError):  # (the reader makes them error rows)
                        continue
                    if isinstance(obj, dict):
                        # (as the reader names them: undecodable bytes and lone "\ud800" escapes as U+FFFD)
                        keys = [LONE_SURROGATE.sub("\ufffd", k) for k in obj]
                        add(keys)
                        seen.update(dict.fromkeys(keys))
            if n and not braced and not unread:  # (a CSV, UTF-16 or other text file given as JSONL: only error rows)
                raise _not_jsonl(src, n, utf16)
            if seen and text_col not in seen and not unread:  # (as a CSV header without the column: a typo)
                raise InputFormatError(f"no record of {src.label} has the field {text_col!r} "
                                       f"(fields: {shown_names(seen)}); "
                                       "choose one with --text-column")
        elif src.kind == "xlsx":
            sheets[src.label] = layout = _xlsx_layout(src, text_col, sheet_names, want, warnings.append)
            wb = _open_workbook(src.path, src.label, _INPUT_HINT)
            try:
                for sh in layout:
                    add(sh.columns)
                    extra: set[int] = set()
                    width = len(sh.columns)
                    before = n
                    for _r, row, _f in _xlsx_rows(wb, wb[sh.name], sh.data_row):
                        n += 1
                        extra.update(i for i in range(width, len(row)) if row[i] is not None)
                    add(f"column_{i + 1}" for i in sorted(extra))
                    if n == before and len(layout) > 1:  # (one sheet without rows: the input has no records)
                        warnings.append(f"{src.label}: sheet {sh.name!r} has a header but no data rows")
            finally:
                wb.close()
        elif src.kind == "parquet":
            pf = _parquet_file(src, text_col)
            schema = pf.schema_arrow
            names = [c for c in schema.names if not _INDEX_COL.match(c)]
            add(names, {c: schema.field(c).type for c in names})
            n = pf.metadata.num_rows
        else:
            add(_email_columns(text_col))
            if src.kind == "mbox":
                import mailbox

                from complaint_triage.email import has_mbox_preamble

                box = mailbox.mbox(str(src.path), create=False)
                try:
                    n = len(box) + has_mbox_preamble(src.path)  # (the text before the first message: a record)
                finally:
                    box.close()
            elif src.path.is_dir():
                folder = _eml_folder(src)
                n = len(folder.files)
                folders[src.label] = folder.files
                warnings.extend(f"{p} skipped: it is one of this run's own output files" for p in folder.own)
                others = sum(folder.other.values())
                if others:
                    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(folder.other.items()))
                    warnings.append(f"{src.label}: {_count(others, 'file')} skipped, not .eml ({kinds})")
                why = f"no .eml file in the folder or its sub-folders ({_count(others, 'other file')})"
            else:
                n = 1
        if n == 0:
            empty.append(f"{src.label}: {why}")
        total += n
    cols.setdefault(text_col, None)
    arrow_types = {c: t for c, t in types.items() if c not in non_parquet}
    if total and empty:
        warnings.extend(empty)
    return _Scan(list(cols), total, arrow_types, sheets, warnings, empty=empty, folders=folders,
                 line_breaks=line_breaks)


def _layouts(sources: Sequence[_Source], text_col: str, sheet: str | Sequence[str] | None) -> dict[str, list[_Sheet]]:
    return {s.label: _xlsx_layout(s, text_col, _sheet_list(sheet), (), lambda _m: None)
            for s in sources if s.kind == "xlsx"}


def iter_records(inputs: Iterable[str | os.PathLike[str]], *, text_col: str = "text", fmt: str | None = None,
                 encoding: str | None = None, sheet: str | Sequence[str] | None = None) -> Iterator[Record]:
    """Stream every record of every input, in order, as :class:`Record` objects.

    Parameters
    ----------
    inputs : iterable of path-like or glob patterns
        Files (CSV, TSV, xlsx, JSONL, Parquet, mbox, .eml) and folders of .eml files
        (sub-folders included).
    text_col : str, default="text"
        Column holding the text (for e-mails: where the new body text is put).
    fmt : str or None, default=None
        Force one input format for all inputs (see :data:`INPUT_FORMATS`).
    encoding : str or None, default=None
        Force the CSV/TSV encoding (default: :func:`detect_encoding`).
    sheet : str, list of str or None, default=None
        Read only these sheets of .xlsx inputs (default: every sheet holding ``text_col``).
    """
    sources = expand_inputs(inputs, fmt=fmt, encoding=encoding)
    sheets = _layouts(sources, text_col, sheet)
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
                sheet: str | Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
    """Stream the inputs as DataFrames of at most ``chunk_rows`` rows (object columns).

    Each frame holds the union of the inputs' columns plus ``source_file`` and
    ``source_record``; ready for :func:`score_frame`.
    """
    sources = expand_inputs(inputs, fmt=fmt, encoding=encoding)
    scan = _scan(sources, text_col, sheet)
    buf: list[Record] = []
    for src in sources:
        for rec in _iter_source(src, text_col, scan.sheets, folders=scan.folders):
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
        return LONE_SURROGATE.sub("\ufffd", v) if not v.isascii() else v
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
    body = "".join([_PART_ENCODER.encode(row) + "\n" for row in rows])
    if not body.isascii():
        # text that is not valid Unicode (its row is an error row) is kept with U+FFFD in
        # place of the bad code units, so that every output format can be written (JSON
        # without ASCII escapes holds them as they are, so one pass over the chunk finds them)
        body = LONE_SURROGATE.sub("\ufffd", body)
    _write_atomically(parts / f"chunk-{k:06d}.jsonl", body)


def _write_atomically(final: Path, text: str) -> None:
    """Write ``text`` to ``final`` through ``final`` + ``.tmp``, synced and renamed over it: a
    checkpoint file is complete or absent, whenever the run is killed."""
    tmp = final.with_name(final.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputWriteError(
            f"cannot save the checkpoint {final.name} in {final.parent} ({e.strerror or type(e).__name__}); the "
            "checkpoints saved before it are kept: fix the cause (e.g. free disk space) and rerun the same command "
            "with --resume") from e


def _read_part(parts: Path, k: int) -> list[list[Any]]:
    with open(parts / f"chunk-{k:06d}.jsonl", encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line.strip()]
    # every line is one JSON array: the chunk is read as one array of them
    rows: list[list[Any]] = _PART_DECODER.decode("[" + ",".join(lines) + "]")
    return rows


def _write_part_rows(parts: Path, k: int, *, input_rows: int, records: int) -> None:
    """Record how many input rows (blank ones too) and records partition ``k`` of the Dask engine covers."""
    _write_atomically(parts / f"chunk-{k:06d}.rows.json", json.dumps({"input_rows": input_rows, "records": records}))


def _read_part_rows(parts: Path, k: int) -> tuple[int, int]:
    """(input rows, records) of a saved Dask partition, see :func:`_write_part_rows`."""
    path = parts / f"chunk-{k:06d}.rows.json"
    try:
        got = json.loads(path.read_text(encoding="utf-8"))
        return int(got["input_rows"]), int(got["records"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputFormatError(
            f"cannot resume: the checkpoint chunk-{k:06d}.jsonl in {parts} lacks its row count "
            f"(it was written by an older version, or {path.name} was removed); delete {parts} and rerun "
            "without --resume"
        ) from e


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


#: First characters that make a spreadsheet take a CSV cell for a formula (OWASP, "CSV injection").
_FORMULA_START = frozenset("=+-@\t\r")
_DEFUSE_FIRST = _FORMULA_START | {"'"}


#: A plain signed number (``-500``, ``+20``, ``-1.5e3``): a spreadsheet reads it as that number, never
#: as a formula, so it is written as it is.  ``+81-3-1234-5678`` is not one (Excel computes it).
_PLAIN_NUMBER = re.compile(r"[+-](?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _defuse(s: str) -> str:
    """A CSV string cell that a spreadsheet would run as a formula, made text with a leading ``'``.

    A plain signed number is left as it is.  A cell that is already quotes followed by such a
    character gets one more quote, so that :func:`_undefuse` restores every cell exactly.

    >>> _defuse("=SUM(1,2)"), _defuse("-5"), _defuse("+81-3-1234-5678"), _defuse("'=1"), _defuse("'ok")
    ("'=SUM(1,2)", '-5', "'+81-3-1234-5678", "''=1", "'ok")
    """
    if s[:1] in _FORMULA_START:
        return s if s[:1] in "+-" and _PLAIN_NUMBER.fullmatch(s) else "'" + s
    if s[:1] == "'" and s.lstrip("'")[:1] in _FORMULA_START:
        return "'" + s
    return s


def _undefuse(s: str) -> str:
    """Undo :func:`_defuse`: drop a leading ``'`` that it adds, and no other.

    A quote before a plain signed number (``'-500``) or before a cell the guard leaves alone
    (``'ok``) is kept, since :func:`_defuse` never writes one there.

    >>> _undefuse("'=SUM(1,2)"), _undefuse("''=1"), _undefuse("'-500"), _undefuse("'ok"), _undefuse("-5")
    ('=SUM(1,2)', "'=1", "'-500", "'ok", '-5')
    """
    if s[:1] == "'" and _defuse(s[1:]) == s:
        return s[1:]
    return s


def _unguarded(values: dict[str, Any]) -> dict[str, Any]:
    """A CSV record's cells without the formula guard that batch's CSV output adds (:func:`_undefuse`),
    so that a scored CSV read back by ``batch`` gives the texts and senders it was made from."""
    if not any(isinstance(v, str) and v[:1] == "'" for v in values.values()):
        return values
    return {k: _undefuse(v) if isinstance(v, str) else v for k, v in values.items()}


def _unguarded_frame(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`_unguarded` for a partition of the Dask engine's CSV input (its dtypes kept)."""
    out = df.copy(deep=False)
    for c in df.columns:
        vals = df[c].tolist()
        if any(isinstance(v, str) and v[:1] == "'" for v in vals):
            out[c] = pd.Series([_undefuse(v) if isinstance(v, str) else v for v in vals], index=df.index,
                               dtype=df[c].dtype)
    return out


def _csv_cell(c: _Col, v: Any) -> str:
    tv = _tabular(c, v)
    t = _to_text(tv)
    if t is None:
        return ""
    return _defuse(t) if isinstance(tv, str) else t


_EVIDENCE_JSON = json.JSONEncoder(ensure_ascii=False)  # = json.dumps(v, ensure_ascii=False)
_BOOL_TEXT = {True: "true", False: "false"}


def _csv_column(c: _Col, vals: tuple[Any, ...]) -> Sequence[str]:
    """The cells of one column, as :func:`_csv_cell` makes them one by one, but without a
    Python call per cell for the common columns (all strings, all floats, all booleans)."""
    if c.kind == "strlist":
        joined = ["" if v is None else ";".join(v) for v in vals]
        return joined if _DEFUSE_FIRST.isdisjoint({t[:1] for t in joined}) else list(map(_defuse, joined))
    if c.kind == "evidence":
        return ["" if v is None else _EVIDENCE_JSON.encode(v) for v in vals]  # (JSON: starts with "[")
    types = set(map(type, vals))
    if types == {str}:
        return vals if _DEFUSE_FIRST.isdisjoint({v[:1] for v in vals}) else list(map(_defuse, vals))
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
            if c.name in PREDICTION_COLUMNS or c.name == _WARNING_COLUMN:
                continue
            obj[c.name] = vals[c.name]
        if vals.get(_WARNING_COLUMN) is not None:
            obj[_WARNING_COLUMN] = vals[_WARNING_COLUMN]
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
        self._cut: list[str] = []  # the columns of the row being written cut to Excel's cell limit
        self._controls: list[str] = []  # … and those whose control characters were replaced
        self._warning = next((i for i, c in enumerate(cols) if c.name == _WARNING_COLUMN), None)
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
        if type(v) is int and len(str(abs(v))) > _XLSX_DIGITS:  # (a float in Excel: its last digits lost)
            cell = self.Cell(self.ws, value=str(v))
            cell.data_type = "s"
            return cell
        if v is None or isinstance(v, bool | int | float | date | dtime | timedelta):
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, datetime) and v.tzinfo is not None:  # (Excel has no offsets: Japan time)
                try:
                    return _jst_naive(v)
                except OverflowError:  # after 9999 in Japan time: the time as written
                    return v.isoformat()
            if isinstance(v, dtime) and v.tzinfo is not None:
                return v.replace(tzinfo=None)
            return v
        s = _to_text(v) or ""
        if self.illegal.search(s):  # one for one, so that evidence offsets still index the text
            s = s.translate(_XLSX_CONTROLS)
            self._controls.append(c.name)
        if len(s) > _XLSX_MAX_CELL:
            s = s[: _XLSX_MAX_CELL - 20] + "…[truncated]"
            self._cut.append(c.name)
        if s.startswith("="):  # a text, never a formula
            cell = self.Cell(self.ws, value=s)
            cell.data_type = "s"
            return cell
        return s

    def write(self, rows: list[list[Any]]) -> None:
        for row in rows:
            if self.rows_in_sheet >= _XLSX_MAX_ROWS:
                self._new_sheet()
            self._cut.clear()
            self._controls.clear()
            cells = [self._cell(c, v) for c, v in zip(self.cols, row, strict=True)]
            if (self._cut or self._controls) and self._warning is not None:  # (the row says so)
                notes = [cells[self._warning]]
                if self._controls:
                    notes.append(f"control characters an Excel cell cannot hold replaced one for one in "
                                 f"{column_names(self._controls)} here (vertical tab and form feed by a line "
                                 "break, others by U+FFFD)")
                if self._cut:
                    notes.append(f"{column_names(self._cut)} cut to {_XLSX_MAX_CELL - 20:,} characters here "
                                 "(an Excel cell's limit)")
                cells[self._warning] = "; ".join(x for x in notes if x)
            self.ws.append(cells)
            self.rows_in_sheet += 1

    def close(self) -> None:
        self.wb.save(self.path)


def _open_writer(path: Path, fmt: str, cols: list[_Col]) -> _Writer:
    return {"csv": _CsvWriter, "jsonl": _JsonlWriter, "parquet": _ParquetWriter, "xlsx": _XlsxWriter}[fmt](path, cols)


def _output_format(path: Path, *, scored_input: bool = False) -> str:
    """The format of an output file (or, ``scored_input``, of a scored file read back) from its name."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        endings = ", ".join(sorted(OUTPUT_FORMATS))
        raise InputFormatError(
            f"cannot tell the format of the scored file {path}: its name must end with one of {endings} "
            "(the formats `complaint-triage batch` and `score` write)" if scored_input else
            f"cannot tell the output format of {path}; end the name with one of {endings}"
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
    """One record of a scored file in the output schema's types.

    A field of the wrong type (hand-edited JSONL: ``"categories": 5``) reads as absent, as an
    unreadable ``evidence`` cell already does, rather than failing the whole file.
    """
    out = dict(row)
    err = out.get("error")
    out["error"] = err if err not in ("", None) else None
    cats = out.get("categories")
    if isinstance(cats, str):
        cats = [c for c in cats.split(";") if c]
    out["categories"] = [c for c in cats if isinstance(c, str)] if isinstance(cats, list | tuple) else []
    ev = out.get("evidence")
    if isinstance(ev, str):
        try:
            ev = json.loads(ev) if ev else []
        except json.JSONDecodeError:
            ev = []
    out["evidence"] = list(ev) if isinstance(ev, list | tuple) else []
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
        v = out.get(s)
        if v == "":
            out[s] = None
        elif v is not None and not isinstance(v, str):
            out[s] = str(v)
    return out


def iter_scored(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream the rows of a scored file (any output format, or `complaint-triage score` JSONL).

    Each row is a dict of the input columns plus the output schema's fields: ``verdict``,
    ``categories`` (list), ``grievance``, ``scores`` (dict), ``evidence`` (list of dicts),
    ``action``, ``review``, ``model_version`` and ``error`` (None when scored).

    Raises
    ------
    InputFormatError
        The format cannot be told from the name, a JSONL line is not valid JSON or not a
        JSON object, or a Parquet or .xlsx file cannot be read as one.
    """
    p = Path(path)
    fmt = _output_format(p, scored_input=True)
    if fmt == "jsonl":
        with open(p, "rb") as f:
            for n, raw in enumerate(f, 1):
                if raw.strip():
                    try:
                        rec = json.loads(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError) as e:
                        raise InputFormatError(f"{p}: line {n} is not valid JSON ({e})") from e
                    if not isinstance(rec, dict):
                        raise InputFormatError(
                            f"{p}: line {n} is valid JSON but a {type(rec).__name__}, not an object: a scored "
                            "file holds one JSON object per record; remove or fix that line")
                    yield _normalise_scored(rec)
    elif fmt == "csv":
        raise_field_limit(1 << 24)  # (our own file: cells as long as the inputs' fields)
        with open(p, encoding=detect_encoding(p), newline="") as f:
            for row in csv.DictReader(f):
                yield _normalise_scored({k: _undefuse(v) if isinstance(v, str) else v for k, v in row.items()})
    elif fmt == "parquet":
        pa = import_or_raise("pyarrow", "Reading Parquet files")
        try:
            pq = import_or_raise("pyarrow.parquet", "Reading Parquet files")
            for batch in pq.ParquetFile(p).iter_batches(batch_size=4096):
                for row in batch.to_pylist():
                    yield _normalise_scored(row)
        except pa.ArrowException as e:  # (a damaged footer, or a footer that reads over data that does not)
            raise InputFormatError(f"{p} cannot be read as Parquet ({e}); pass the file `batch -o` wrote") from e
    else:
        wb = _open_workbook(p, p, "pass the file `batch -o` wrote")
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


def load_sender_key(key_file: str | os.PathLike[str] | None = None, *, notes: list[str] | None = None) -> bytes:
    """The secret key for sender pseudonyms.

    An explicit ``key_file`` wins: it must exist (a mistyped path would otherwise start a new
    key, and pseudonyms would silently stop linking to earlier runs' ones).  Without it, the
    key comes from ``$COMPLAINT_TRIAGE_SENDER_KEY`` (at least 16 characters) if set, else from
    :func:`default_sender_key_file`, which is created with 32 random bytes (hex, mode 0600)
    on first use; ``notes`` (if given) then gets a line saying so.

    Raises
    ------
    InputFormatError
        ``key_file`` does not exist.
    ComplaintTriageError
        The key is too short.
    """
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise InputFormatError(
                f"no sender key file {path}: check the path (a new key would make pseudonyms that match no earlier "
                f"run's); to start a key there, write 64 random hex digits to it (python -c \"import secrets; "
                f"print(secrets.token_hex(32))\" > {path}), or leave out --sender-key-file to use "
                f"${SENDER_KEY_ENV} or {default_sender_key_file()}")
    else:
        env = os.environ.get(SENDER_KEY_ENV)
        if env:
            if len(env) < 16:
                raise ComplaintTriageError(f"${SENDER_KEY_ENV} is too short: use at least 16 random characters")
            return env.encode("utf-8")
        path = default_sender_key_file()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(secrets.token_hex(32) + "\n")
                if notes is not None:
                    notes.append(f"generated a new sender key in {path}: keep it (and back it up) to get the same "
                                 "pseudonyms in later runs; with another key no pseudonym links to this run's")
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 16:
        raise ComplaintTriageError(f"sender key file {path} is too short; delete it to generate a new one")
    return key.encode("ascii")


_ADDR = re.compile(r"<([^<>@\s]+@[^<>\s]+)>")
_EMAIL_ONLY = re.compile(r"^[^@\s]+@[^@\s]+$")
#: An RFC 822 comment, ``taro@example.jp (山田太郎)``: the display name of an older mail form.
_COMMENT = re.compile(r"\([^()]*\)")
#: A bracketed group without a digit (a name beside a telephone number: ``090-1234-5678 (山田)``).
_NAME_GROUP = re.compile(r"\([^()0-9]*\)")
#: A bare e-mail address in brackets, a name outside them: ``山田太郎 (taro@example.jp)``.
_BRACKETED_ADDR = re.compile(r"\(\s*([^@\s()]+@[^@\s()]+)\s*\)")


def _without(pattern: re.Pattern[str], s: str) -> str:
    """``s`` with the matches of ``pattern`` replaced by a space, repeatedly until none is left
    (nested groups: ``山田(太郎)`` in brackets goes inside out)."""
    while (t := pattern.sub(" ", s)) != s:
        s = t
    return s
_PHONEISH = re.compile(r"^[0-9+()\-‐－ー−.\s]+$")
_PSEUDONYM = re.compile(r"^S-[0-9a-f]{16}$")
#: Japan's country code before a number (after NFKC, so ＋８１ too), with the trunk 0 in brackets or not.
_JAPAN_PREFIX = re.compile(r"^\+\s*81[\s\-‐－ー−]*(?:\(\s*0\s*\)[\s\-‐－ー−]*)?")
#: Words around a telephone number that say what kind it is (``TEL 090-…``, ``090-…（携帯）``, ``電話：03-…``).
_PHONE_LABEL = re.compile(r"(?i)\(\s*(?:携帯|自宅|固定|勤務先|会社|職場|代表)\s*\)"
                          r"|(?<![a-z])(?:tel|phone|mobile|mob|cell)(?![a-z])\.?|電話番号|携帯電話|電話|携帯|自宅|固定|連絡先|[:：]")
#: A number that lost its leading 0 in a spreadsheet: 10 digits starting 50, 70, 80 or 90 is 050/070/080/090-….
_MOBILE_WITHOUT_0 = re.compile(r"^[5789]0\d{8}$")
#: Sender values that name nobody: a withheld or unknown caller, a blank filled in with a dash or zeros.
NO_SENDER = frozenset({
    "非通知", "通知不可", "公衆電話", "匿名", "不明", "なし", "無し", "不詳", "未記入", "記載なし", "表示圏外",
    "n/a", "na", "none", "null", "nil", "unknown", "anonymous", "withheld", "private",
})
_NO_SENDER_MARKS = re.compile(r"^[\s\-‐‑‒–—―－ー−_.・*＊?？/]*$|^0+$")
_BRACKETS = "()（）[]［］「」【】<>〈〉《》"


def is_no_sender(value: object) -> bool:
    """Whether a sender cell names nobody: blank, or a placeholder such as 非通知 or 匿名.

    Placeholders (after NFKC, in any case, in brackets or not): :data:`NO_SENDER` (非通知, 通知不可,
    公衆電話, 匿名, 不明, なし, 無し, N/A, none, unknown, anonymous, …), and values made only of
    dashes, dots or other marks (``-``, ``ー``, ``―``, ``***``) or only of zeros (``0``, ``000``).

    >>> [is_no_sender(v) for v in ("非通知", "（匿名）", "N/A", "―", "0000", 0, "090-1234-5678", "山田")]
    [True, True, True, True, True, True, False, False]
    """
    if _is_missing(value):
        return True
    s = unicodedata.normalize("NFKC", str(_sender_value(value))).strip().strip(_BRACKETS).strip().lower()
    return s in NO_SENDER or bool(_NO_SENDER_MARKS.match(s))


def _sender_value(value: object) -> object:
    """A sender cell as the CSV would hold it: a NumPy scalar as Python's, an integral float as an int.

    >>> _sender_value(123.0), _sender_value(np.float64(0)), _sender_value(12.5), _sender_value("0.0")
    (123, 0, 12.5, '0.0')
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():  # 123.0 from Parquet or JSON is the CSV's 123
        value = int(value)
    return value


def _canonical_sender(value: object) -> str:
    """A sender id in the form that groups its spellings (see :meth:`SenderAggregator.sender_id`)."""
    s = unicodedata.normalize("NFKC", str(_sender_value(value))).strip()
    m = _ADDR.search(s)
    if m:
        return m.group(1).lower()
    phone = s
    if "(" in s:
        if _EMAIL_ONLY.match(bare := _without(_COMMENT, s).strip()):  # addr (Name), RFC 822's comment, nested too
            return bare.lower()
        if "@" not in bare and (m := _BRACKETED_ADDR.search(s)):  # Name (addr)
            return m.group(1).lower()
        phone = _without(_NAME_GROUP, s)  # 090-… (山田): a name beside the number, not the (03) of one
    if _EMAIL_ONLY.match(s):
        return s.lower()
    if _MOBILE_WITHOUT_0.match(s):
        return "0" + s
    p = _PHONE_LABEL.sub(" ", phone).strip()
    n_digits = sum(ch.isdigit() for ch in p)
    # (dotted: 090.1234.5678, not a decimal 123.45; labelled: TEL090-…, not a customer id MOB123456)
    if _PHONEISH.match(p) and n_digits >= (9 if "." in p or p != s else 6):
        m = _JAPAN_PREFIX.match(p)
        digits = "".join(ch for ch in p[m.end():] if ch.isdigit()) if m else ""
        if m and 9 <= len(digits.lstrip("0")) <= 10:  # +81 90-…, +81 (0)90-…: the domestic 090…
            return "0" + digits.lstrip("0")
        return "".join(ch for ch in p if ch.isdigit())
    return s


def pseudonymise(value: object, key: bytes) -> str:
    """Keyed-hash pseudonym of a sender id: ``S-`` + 16 hex digits of HMAC-SHA256.

    E-mail addresses are compared case-insensitively without the display name; telephone
    numbers by their digits, ``+81`` numbers as the domestic number (``+81 90-…`` as ``090…``).

    >>> pseudonymise("Taro <TARO@example.jp>", b"k" * 16) == pseudonymise("taro@example.jp", b"k" * 16)
    True
    """
    return "S-" + hmac.new(key, _canonical_sender(value).encode("utf-8"), hashlib.sha256).hexdigest()[:16]


_JA_DATE = re.compile(r"(\d{4})\s*[年/\-.]\s*(\d{1,2})\s*[月/\-.]\s*(\d{1,2})\s*日?")
#: Japanese eras: the Gregorian year of each era's first year (元年).
_ERAS = {"令和": 2019, "平成": 1989, "昭和": 1926, "大正": 1912, "明治": 1868}
_ERA_LETTERS = {"R": "令和", "H": "平成", "S": "昭和", "T": "大正", "M": "明治"}
_ERA_DATE = re.compile(r"(令和|平成|昭和|大正|明治|(?<![A-Za-z])[RHSTMrhstm])\s*(元|\d{1,2})\s*[年/\-.]\s*(\d{1,2})\s*"
                       r"[月/\-.]\s*(\d{1,2})\s*日?")
#: The time after a date: ``10:30``, ``10:30:15``, ``10時``, ``10時30分15秒``, with 午前/午後 or AM/PM before
#: or after it, and a weekday in brackets (``(月)``, ``（月曜日）``) between the date and the time.
_TIME = re.compile(r"\s*(?:[(（]\s*[月火水木金土日](?:曜日?)?\s*[)）])?[\sT]*"
                   r"(?:(午前|午後|AM|PM|A\.M\.|P\.M\.)\s*)?(\d{1,2})\s*"
                   r"(?:時(?:\s*(\d{1,2})\s*分(?:\s*(\d{1,2})\s*秒)?|\s*(半))?|:\s*(\d{1,2})(?:\s*:\s*(\d{1,2}))?"
                   r"|(?=(?:AM|PM|A\.M\.|P\.M\.)(?![A-Za-z])))"
                   r"(?:\s*(AM|PM|A\.M\.|P\.M\.)(?![A-Za-z]))?", re.IGNORECASE)
#: RFC 2822 dates as mail exports write them (``Mon, 1 Apr 2024 10:00:00 +0900``).
_RFC2822 = re.compile(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}")
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
#: Excel serial day numbers taken for dates (1900 date system): 1950-01-01 to 2099-12-31.
_SERIAL_RANGE = (18_264, 73_050)
_EXCEL_EPOCH = datetime(1899, 12, 30)
_JST = timezone(timedelta(hours=9))


def _from_serial(x: float) -> datetime | None:
    """An Excel serial date (days since 1899-12-30; the fraction is the time), if plausible."""
    if not _SERIAL_RANGE[0] <= x < _SERIAL_RANGE[1] + 1:
        return None
    return _EXCEL_EPOCH + timedelta(seconds=round(x * 86_400))


def parse_date(value: object) -> datetime | None:
    """Parse a date/time cell; None when it is empty or not understood.

    Understood: ISO 8601, ``2024/05/01 10:00``, ``2024年5月1日``, Japanese eras (``令和6年4月1日``,
    ``R6.4.1``, ``H31.4.30``, ``平成元年…``, ``昭和64年1月7日``, ``㋿6年…``), full-width digits, a
    time after the date as ``10:30``, ``10時30分``, ``10時半``, ``午前10:00``, ``午後3時``, ``3:05 PM``
    or ``12 PM`` (a weekday in brackets, ``(月)``, may come between), RFC 2822 dates of mail exports
    (``Mon, 1 Apr 2024 10:00:00 +0900``; a zone is honoured, ``-0000`` and ``-00:00`` as UTC, and no
    zone or an unknown one such as ``JST`` is Japan time; :func:`complaint_triage.email.mail_date`),
    Excel dates and Excel serial day numbers (``45383``, ``45383.5``; 1900 date system, only
    from 1950 to 2099 so that other numbers are not taken for dates).  Aware times are
    converted to Japan time and made naive.  Never raises: a number out of that range
    (however large), NaN, infinity or a time that falls outside years 1-9999 in Japan time
    is not a date (None).

    >>> parse_date("2024年5月1日 9:05")
    datetime.datetime(2024, 5, 1, 9, 5)
    >>> parse_date("令和６年４月１日"), parse_date("H31.4.30"), parse_date("45383.5")
    (datetime.datetime(2024, 4, 1, 0, 0), datetime.datetime(2019, 4, 30, 0, 0), datetime.datetime(2024, 4, 1, 12, 0))
    >>> parse_date(10**400), parse_date(float("inf"))
    (None, None)
    """
    if _is_missing(value) or value is pd.NaT or isinstance(value, bool) or (isinstance(value, str) and not value):
        return None
    if isinstance(value, np.datetime64):  # (its .item() is an int of nanoseconds, not a date)
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return None
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float | Decimal):
        try:
            x = float(value)
        except (OverflowError, ValueError):  # an integer beyond float range, a signalling NaN
            return None
        return _from_serial(x)  # (NaN and infinity are out of its range too)
    else:
        s = unicodedata.normalize("NFKC", str(value)).strip()
        if _SERIAL.fullmatch(s):
            return _from_serial(float(s))
        try:
            dt = datetime.fromisoformat(s.replace("/", "-").replace("Z", "+00:00"))
        except ValueError:
            if _RFC2822.match(s):  # a mail header's date, read as the e-mail parser reads the Date header
                from complaint_triage.email import mail_date

                rfc = mail_date(s)
                if rfc is None:
                    return None
                dt = rfc
            else:
                m = _ERA_DATE.search(s)
                if m:
                    era = _ERA_LETTERS.get(m.group(1).upper(), m.group(1))
                    year = _ERAS[era] + (1 if m.group(2) == "元" else int(m.group(2))) - 1
                    parts = [year, int(m.group(3)), int(m.group(4))]
                else:
                    m = _JA_DATE.search(s)
                    if not m:
                        return None
                    parts = [int(g) for g in m.groups()]
                t = _TIME.match(s, m.end())
                if t:
                    parts += _clock(t)
                try:
                    dt = datetime(*parts)
                except (TypeError, ValueError):
                    return None
    if dt.tzinfo is not None:
        try:
            dt = _jst_naive(dt)
        except OverflowError:  # before year 1 or after 9999 in Japan time (or in UTC, on the way)
            return None
    return dt


def _clock(t: re.Match[str]) -> list[int]:
    """Hour, minute and second of a :data:`_TIME` match (an hour of 24 or more is left for datetime to refuse)."""
    ampm = (t.group(1) or t.group(8) or "").upper().replace(".", "")
    hour = int(t.group(2))
    minute, second = t.group(3) or t.group(6) or (30 if t.group(5) else 0), t.group(4) or t.group(7)
    if ampm in ("午後", "PM") and hour < 12:
        hour += 12
    elif ampm in ("午前", "AM") and hour == 12:  # 午前12時: midnight
        hour = 0
    return [hour, int(minute or 0), int(second or 0)]


def _jst_naive(dt: datetime) -> datetime:
    """An aware time as naive Japan time (OverflowError when that falls outside years 1-9999)."""
    return (dt if dt.utcoffset() == _JST.utcoffset(None) else dt.astimezone(_JST)).replace(tzinfo=None)


def _own_content(text: str) -> str:
    """The message's own words, for fingerprinting: without quotes, a trailing signature or contacts.

    :func:`complaint_triage.email.split_reply` removes quoted replies and a signature block;
    a one-line cell (a CSV or spreadsheet cell holding ``本文 ――― 住所 氏名 電話 … ―――``)
    loses everything from a rule whose following words are all signature lines.  E-mail
    addresses and telephone numbers left anywhere are masked
    (:func:`complaint_triage.email.mask_text`), so that they do not make different
    complaints look alike.  A text that is nothing but a signature is kept whole.

    >>> _own_content("ベンチが壊れています。 ――――― 山田 太郎 電話 03-5432-1098 ―――――")
    'ベンチが壊れています。'
    """
    from complaint_triage.email import cut_inline_signature, mask_text, split_reply

    return mask_text(cut_inline_signature(split_reply(text)[0] or text))


#: Letters and digits compared for repetition, at most: a longer message is compared by its beginning.
_REPEAT_CHARS = 2000


def _letters(text: str) -> str:
    """What repetition compares: a message's own content (:func:`_own_content`), NFKC, letters and digits only.

    Punctuation, symbols and spaces are left out, so 「うるさい！」 and 「うるさい。」 are the same words.

    >>> _letters("隣の家の犬がうるさい！ 何とかしてほしい！")
    '隣の家の犬がうるさい何とかしてほしい'
    """
    s = unicodedata.normalize("NFKC", _own_content(text))
    return "".join(ch for ch in s if unicodedata.category(ch)[0] in "LN")[:_REPEAT_CHARS]


#: The near-duplicate rule's limits (:func:`near_duplicates`; the report's note is written from them):
#: changed or missing characters, at most this share of the shorter text's length or ...
NEAR_CHANGED = 0.05
#: ... this many, whichever is more; and characters the longer adds, this share of the shorter's length.
NEAR_CHANGED_MIN = 2
NEAR_ADDED = 0.5
#: A near-duplicate sent within this many minutes is the same message sent again; and a sender is
#: flagged for repetition from this many repeats (:class:`SenderAggregator`'s defaults).
RESUBMIT_MINUTES = 10.0
REPEAT_MIN = 2


def near_duplicates(a: str, b: str, *, changed: float = NEAR_CHANGED, changed_min: int = NEAR_CHANGED_MIN,
                    added: float = NEAR_ADDED) -> bool:
    """Whether two messages' letters (:func:`_letters`) raise the same grievance again.

    True when the shorter text reappears in the longer, in order, with at most ``changed_min``
    characters or ``changed`` of its length (whichever is more) changed or missing, and the
    longer adds at most ``added`` times the shorter's length.  So a resent complaint with
    再度/至急 or a word or two changed is a near-duplicate, and so is an identical one; two
    requests that share a long opening but differ in what they ask for are not (their own
    sentences are more than 5% of the text), nor are short ones that differ in a noun
    (公園のベンチ/公園のトイレが壊れています).

    >>> near_duplicates("隣の家の犬がうるさい何とかしてほしい", "隣の家の犬が毎晩うるさい何とかしてほしい")
    True
    >>> near_duplicates("公園のベンチが壊れています", "公園のトイレが壊れています")
    False
    """
    return _near_duplicates(a, b, None, None, changed=changed, changed_min=changed_min, added=added)


def _bigrams(s: str) -> frozenset[str]:
    return frozenset(s[i:i + 2] for i in range(len(s) - 1))


def _near_duplicates(a: str, b: str, a2: frozenset[str] | None, b2: frozenset[str] | None, *,
                     changed: float = NEAR_CHANGED, changed_min: int = NEAR_CHANGED_MIN, added: float = NEAR_ADDED
                     ) -> bool:
    """:func:`near_duplicates`, with the texts' character bigrams (when known) to rule out most pairs cheaply."""
    if len(a) > len(b):
        a, b, a2, b2 = b, a, b2, a2
    short, long_ = a, b
    if not short:
        return False
    may_change = max(changed_min, int(changed * len(short)))
    may_add = added * len(short) + may_change
    if len(long_) - len(short) > may_add:
        return False
    if a2 is not None and b2 is not None:
        # each changed or missing character of the shorter text loses at most 2 of its bigrams, each place the
        # longer adds something at most 1: more missing bigrams than that and the texts cannot be near-duplicates
        if len(a2 - b2) > 2 * may_change + may_add:
            return False
    sm = difflib.SequenceMatcher(None, short, long_, autojunk=False)
    same = sum(block.size for block in sm.get_matching_blocks())
    return len(short) - same <= may_change and len(long_) - same <= may_add


@dataclass(slots=True)
class _Contact:
    when: datetime | None
    verdict: str | None
    categories: tuple[str, ...]
    grievance: bool
    letters: str | None
    quotes_reply: bool


class SenderAggregator:
    """Per-sender summary and repetition detection, fed one scored row at a time.

    Parameters
    ----------
    key : bytes or None
        Pseudonymise sender ids with this key (:func:`pseudonymise`); None shows their
        canonical form instead (e-mail address lower-cased without the display name, phone
        number as digits), grouped exactly as the pseudonyms are.
    dated : bool, default=True
        Whether the contacts carry dates (a date column was given).  Without, ``first_date``,
        ``last_date`` and ``longest_run_7d`` are empty (None), not 0: they cannot be computed; so
        are they for a sender none of whose contacts has a date that could be read.
    window_days : int, default=7
        ``longest_run_7d`` is the most contacts falling within any window of this many days.
    resubmit_minutes : float, default=10
        A near-duplicate sent within this many minutes of the earlier message is the same
        message sent twice (a double click, a mail sent again), not a repeat.
    repeat_min : int, default=2
        ``repetition`` is set when a sender has at least this many repeats.

    A message is a *repeat* when it carries a grievance and is a near-duplicate
    (:func:`near_duplicates`) of one of the sender's 100 previous grievance messages, sent
    at least ``resubmit_minutes`` after it (or at an unknown time, such as two dates without a
    time, or quoting a reply).  One sent sooner after the message it copies (the last one that
    counted) is that message resent: it counts nothing and no later message is compared with it.
    So ten copies of one complaint an hour apart are nine repeats, and copies at 0, 9 and 18
    minutes one.  Inquiries and error rows are
    never repeats.  Records without a sender (blank or a placeholder, :func:`is_no_sender`)
    are counted in :attr:`no_sender` and left out.
    """

    COLUMNS = ("sender_id", "contacts", "first_date", "last_date", "harassment_count", "complaint_count",
               "inquiry_count", "error_count", "harassment_categories", "longest_run_7d", "repeat_count", "repetition")
    #: earlier grievance messages of a sender that a new one is compared with
    LOOKBACK = 100

    def __init__(self, *, key: bytes | None, dated: bool = True, window_days: int = 7,
                 resubmit_minutes: float = RESUBMIT_MINUTES, repeat_min: int = REPEAT_MIN) -> None:
        self.key = key
        self.dated = dated
        self.window = timedelta(days=window_days)
        self.resubmit = timedelta(minutes=resubmit_minutes)
        self.repeat_min = repeat_min
        self.no_sender = 0
        self._by: dict[str, list[_Contact]] = {}

    def sender_id(self, value: object) -> str | None:
        """The id shown for a raw sender value: its pseudonym, or without a key its canonical form.

        Both group a sender's spellings alike: an e-mail address in any case, with or without
        a display name (``Name <addr>``, ``addr (Name)``, ``Name (addr)``), and a phone number however
        it is punctuated or labelled, a name in brackets beside it (``090-1234-5678 (山田)``) left out.  None for a
        value that names nobody (:func:`is_no_sender`: blank, 非通知, 匿名, ``-`` …).

        >>> agg = SenderAggregator(key=None)
        >>> agg.sender_id("山田太郎 <TARO@example.jp>"), agg.sender_id("090 1234 5678"), agg.sender_id("非通知")
        ('taro@example.jp', '09012345678', None)
        """
        if is_no_sender(value):
            return None
        if self.key is None:
            return _canonical_sender(value) or None
        if isinstance(value, str) and _PSEUDONYM.match(value):
            return value
        return pseudonymise(value, self.key)

    def add(self, sender: object, *, when: object = None, text: object = None, verdict: str | None = None,
            categories: Sequence[str] = (), grievance: bool | None = None, quotes_reply: object = False) -> str | None:
        """Record one contact; return the sender's id (None when there is no sender: counted in :attr:`no_sender`)."""
        sid = self.sender_id(sender)
        if sid is None:
            self.no_sender += 1
            return None
        g = bool(grievance) if grievance is not None else verdict in ("complaint", "harassment")
        letters = _letters(text) if (g and verdict is not None and isinstance(text, str) and text.strip()) else None
        self._by.setdefault(sid, []).append(_Contact(parse_date(when), verdict, tuple(categories or ()), g,
                                                     letters or None, _parse_bool(quotes_reply) or False))
        return sid

    def __len__(self) -> int:
        return len(self._by)

    def _repeats(self, contacts: list[_Contact]) -> int:
        """How many of ``contacts`` (dated ones in time order) repeat one of the :attr:`LOOKBACK` messages before.

        A near-duplicate within the resubmit window of an earlier message is that message sent again
        (a double click): it counts nothing and is not compared with later ones, so a burst of copies
        an hour after the original is one repeat, not one per copy.  Only the last :attr:`LOOKBACK`
        messages' bigrams are held, so memory does not grow with a sender's contacts.
        """
        n = 0
        earlier: deque[tuple[_Contact, frozenset[str]]] = deque(maxlen=self.LOOKBACK)
        for c in contacts:
            if c.letters is None:
                continue
            grams = _bigrams(c.letters)
            close = [self._resubmitted(c, e) for e, _ in earlier]
            if any(_near_duplicates(e.letters, c.letters, e_grams, grams)  # type: ignore[arg-type]
                   for (e, e_grams), cl in zip(earlier, close, strict=True) if cl):
                continue
            n += any(_near_duplicates(e.letters, c.letters, e_grams, grams)  # type: ignore[arg-type]
                     for (e, e_grams), cl in zip(reversed(earlier), reversed(close), strict=True)
                     if not cl)  # (the latest first: a resend is usually of it)
            earlier.append((c, grams))
        return n

    def _resubmitted(self, c: _Contact, e: _Contact) -> bool:
        """Whether ``c`` is ``e`` sent again (within the resubmit window; not a reply quoting the office's answer)."""
        return (not c.quotes_reply and c.when is not None and e.when is not None
                and abs(c.when - e.when) < self.resubmit
                and not (c.when.time() == e.when.time() == dtime()))  # (dates alone: time unknown)

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
                "longest_run_7d": run if self.dated and dated else None,  # (no date read: unknown, not 0)
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
    if m.endswith("nothing to score"):  # blank or invisible text, an e-mail with no new text or no text part
        return "empty"  # (first: such a message may name an attachment, export.json say)
    if "json" in m or " csv" in m or "fields, the header has" in m or "quoted field" in m:
        return "malformed"
    if "not valid" in m or "encoding" in m or "undecodable" in m:
        return "undecodable"
    if "e-mail" in m or m.startswith("cannot read"):
        return "email"
    if "empty" in m:
        return "empty"
    if "over the limit" in m:
        return "too_long"
    if "formula" in m:  # (an .xlsx text cell holding a formula never computed: not missing)
        return "formula"
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
    #: rows with cells repaired while reading (bytes not valid in the encoding, a field cut short)
    row_warnings: int = 0
    #: rows with cells read as empty: a formula never computed (an .xlsx written by a program)
    formula_warnings: int = 0
    date_column: str | None = None
    #: records left out of the per-sender summary: no sender (blank, absent or a placeholder such as 非通知)
    no_sender: int = 0
    dates: int = 0
    unparsed_dates: int = 0

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
        if self.row_warnings:
            lines.append(f"repaired:   {_count(self.row_warnings, 'row')} with cells repaired while reading "
                         "(see the warning column)")
        if self.formula_warnings:
            lines.append(f"formulas:   {_count(self.formula_warnings, 'row')} with formula cells never computed, "
                         "read as empty (see the warning column; open the workbook in Excel and save it)")
        if self.unparsed_dates:
            lines.append(f"dates:      {self.unparsed_dates:,} of {self.dates:,} non-empty {self.date_column!r} values "
                         "are not dates this tool reads (treated as undated)")
        if self.sender_output is not None:
            lines.append(f"senders:    {self.senders:,} → {self.sender_output} "
                         f"({self.repetition_senders:,} with repetition)"
                         + (f"; {_count(self.no_sender, 'record')} without a sender (blank, missing or a "
                            "placeholder such as 非通知) not in it" if self.no_sender else ""))
        if self.model_version:
            lines.append(f"model:      {self.model_version}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere a no-op).

    Pool workers otherwise outlive a driver killed with SIGKILL: each holds the pipes the
    others read, so none sees end-of-file, and they wait forever holding a model.  The
    signal applies from the call on, so a parent that died before it is caught by the
    parent-pid check.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    pr_set_pdeathsig = 1
    if prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) != 0:
        return
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(model_dir: str, max_chars: int, parent: int) -> None:
    """Process-pool initializer: ignore Ctrl-C, die with the driver, and load the model once per worker.

    A terminal sends Ctrl-C (SIGINT) to the whole process group: the driver alone handles
    it (and stops the workers), so no worker prints a KeyboardInterrupt traceback.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # (blocked while the driver started this process, see _sigint_held)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent(parent)
    _WORKER["triager"] = _get_triager(model_dir, max_chars)


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold back Ctrl-C while pool workers may be forked (by ``submit``).

    A SIGINT that lands during ``fork`` raises KeyboardInterrupt in the interpreter's
    at-fork hooks, which print it and carry on: in the driver the interrupt is lost, in the
    new worker it prints a traceback.  Blocked, it waits until the fork is done: the driver
    then raises it as usual, and the worker, which inherits the blocked signal, ignores it
    (see :func:`_init_worker`).
    """
    import signal

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _score_texts(columns: dict[str, list[Any]], text_col: str, with_evidence: bool) -> dict[str, list[Any]]:
    """Pool task: score one chunk's texts (and what else :func:`score_frame` reads: an e-mail's
    ``defects``) through :func:`score_frame`."""
    df = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()})
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


class _OutputLock:
    """An exclusive lock on ``<output>.lock``, held for the whole run.

    ``flock`` (``msvcrt.locking`` on Windows) is tied to the open file, so the kernel
    releases it when the process ends, however it ends: a lock file left by a killed run
    blocks nothing.  The file holds the owner's process id, for the refusal message; it is
    removed on release.
    """

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = output.with_name(output.name + _LOCK_SUFFIX)
        self.fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock_fd(fd)
            except OSError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                who = f" (process {holder})" if holder.isdigit() else ""
                raise OutputInUseError(
                    f"another batch run{who} is writing {self.output} (it holds {self.path.name}): wait for it to "
                    "finish, or write to another -o") from None
            try:  # (the run that held it may have removed the file between our open and our lock)
                current = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):  # (removed while still locked: no other run can take a stale file)
            self.path.unlink()
        os.close(self.fd)
        self.fd = None


def _lock_fd(fd: int) -> None:
    """Lock ``fd`` exclusively without waiting; OSError when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


@functools.lru_cache(maxsize=1)
def _code_version() -> dict[str, str]:
    """What makes this code's scores: the package version and a digest of the package's source
    files, Python and the accelerator's C (a reinstall from another commit keeps the version; new
    signal patterns are new source)."""
    from complaint_triage import __version__

    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted([*pkg.rglob("*.py"), *pkg.rglob("*.c")]):
        h.update(path.relative_to(pkg).as_posix().encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return {"package_version": __version__, "code_sha256": h.hexdigest()[:16]}


def _folder_listing(files: Sequence[tuple[str, Path]]) -> dict[str, Any]:
    """The .eml files a folder expands to (path inside it, size, mtime), as a count and a digest."""
    h = hashlib.sha256()
    for rel, path in files:
        st = path.stat()
        h.update(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return {"files": len(files), "files_sha256": h.hexdigest()}


def _fingerprint(sources: Sequence[_Source], opts: dict[str, Any],
                 folders: Mapping[str, Sequence[tuple[str, Path]]]) -> dict[str, Any]:
    """What a resumed run must share with the interrupted one; ``folders``: the files of each
    .eml folder, as :func:`_scan` listed them."""
    files = []
    for s in sources:
        entry: dict[str, Any] = {"input": s.label, "path": str(s.path.resolve()), "kind": s.kind,
                                 "encoding": s.encoding}
        if s.path.is_dir():  # (a folder's own mtime misses changes in its sub-folders and edits of its files)
            entry.update(_folder_listing(folders[s.label]))
        else:
            st = s.path.stat()
            entry.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        files.append(entry)
    return {"format": 3, **_code_version(), "inputs": files, **opts}


def _prepare_parts(parts: Path, fp: dict[str, Any], resume: bool) -> set[int]:
    run_file = parts / _RUN_FILE
    if parts.exists() and resume and run_file.is_file():
        old = json.loads(run_file.read_text(encoding="utf-8"))
        if old != fp:
            changed = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            if set(changed) <= set(_code_version()):
                raise InputFormatError(
                    f"cannot resume: the checkpoints in {parts} were made by another version of complaint-triage "
                    f"(differs: {', '.join(changed)}), whose scores can differ from this one's; rerun without "
                    f"--resume after deleting {parts}"
                )
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
    _write_atomically(run_file, json.dumps(fp, ensure_ascii=False, indent=1))
    return set()


def _local_engine(sources: Sequence[_Source], scan: _Scan, *, parts: Path, done: set[int], text_col: str,
                  model_dir: Path, max_chars: int, with_evidence: bool, jobs: int, chunk_rows: int,
                  progress: _Progress, emit: Callable[[int], None] = lambda k: None) -> int:
    """Score every chunk not in ``done``; return the number of chunks.

    ``emit(k)`` is called for every chunk, in order, once it is saved (or, in ``done``, reached),
    so that the output is written from the checkpoints while the workers score the next chunks."""
    cols = scan.columns
    field_limit = _field_limit(max_chars)

    def chunks() -> Iterator[tuple[int, list[Record]]]:
        buf: list[Record] = []
        k = 0
        for src in sources:
            for rec in _iter_source(src, text_col, scan.sheets, field_limit, scan.folders):
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
                        + [rec.source_file, rec.source_record] + pr + [rec.warning])
        _write_part(parts, k, rows)
        progress.update(len(recs))
        emit(k)

    def frame(recs: list[Record]) -> dict[str, list[Any]]:
        """The columns :func:`score_frame` reads: the texts (a record that could not be read is not
        scored) and, for e-mail rows, their ``defects`` (a text not decoded as declared goes to review)."""
        out = {text_col: [r.values.get(text_col) if r.values is not None and r.error is None else None
                          for r in recs]}
        defects = [(r.values or {}).get("defects") for r in recs]
        if text_col != "defects" and any(isinstance(d, str) for d in defects):
            out["defects"] = defects
        return out

    n_chunks = 0
    if jobs <= 1:
        triager = _get_triager(model_dir, max_chars)
        for k, recs in chunks():
            n_chunks = k + 1
            if k in done:
                progress.skip(len(recs))
                emit(k)
                continue
            df = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in frame(recs).items()})
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
    # the chunks in flight, in order; a chunk saved by an earlier run waits here (fut None) only
    # to be emitted after the chunks before it
    pending: deque[tuple[int, list[Record], Any]] = deque()

    def finish_first() -> None:
        pk, precs, fut = pending.popleft()
        if fut is None:
            emit(pk)
        else:
            finish(pk, precs, fut.result())

    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(str(model_dir), max_chars, os.getpid())) as pool:
        try:
            for k, recs in chunks():
                n_chunks = k + 1
                if k in done:
                    progress.skip(len(recs))
                    pending.append((k, [], None))
                else:
                    with _sigint_held():
                        fut = pool.submit(_score_texts, frame(recs), text_col, with_evidence)
                    pending.append((k, recs, fut))
                while pending and (pending[0][2] is None or len(pending) >= 2 * jobs):
                    finish_first()
            while pending:
                finish_first()
        except BrokenProcessPool as e:
            raise ComplaintTriageError(
                "a scoring worker process died (out of memory?); the finished chunks are saved: "
                "rerun with --resume, perhaps with fewer --jobs or a smaller --chunk-rows"
            ) from e
        except BaseException:
            # Stop at once (Ctrl-C, a failed checkpoint write): the running chunks are not waited
            # for, and the queued ones are cancelled by the pool itself (cancelling them here while
            # the pool breaks makes Python 3.11's pool thread fail, and the interpreter hang at
            # exit); waiting for the pool's thread to finish spares it a race at exit.
            for w in list((getattr(pool, "_processes", None) or {}).values()):
                w.terminate()
            # A worker killed halfway through sending a result leaves the pool's thread reading the
            # rest for ever (the parent holds the pipe's write end too: seen as a hang after Ctrl-C,
            # 2 runs of 11); with the parent's copy closed, that read ends and the thread stops.
            writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return n_chunks


def _check_scheduler_address(scheduler: str) -> None:
    """Refuse (:class:`InputFormatError`) a ``scheduler`` that is not an address, before any work."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        protocol, loc = parse_address(scheduler)
        if protocol in ("tcp", "tls", "ws", "wss"):
            parse_host_port(loc)
    except ValueError as e:
        raise InputFormatError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address ({e}); give one like tcp://HOST:8786"
        ) from e


def _probe_scheduler(scheduler: str, timeout: float) -> None:
    """Make sure a Dask scheduler answers at ``scheduler`` within ``timeout`` seconds.

    ``distributed.Client`` bounds the TCP connection but not the handshake after it, so an
    address where something else listens (the dashboard's port 8787, any HTTP server) makes
    it wait forever.  The probe connects, asks the server who it is, and gives up at the
    deadline; it runs its own event loop in a thread, so it also works under Jupyter.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect
    from distributed.security import Security

    connection_args = Security().get_connection_args("client")  # (TLS settings from the Dask config, as Client)

    async def ask() -> Any:
        comm = await connect(scheduler, timeout=timeout, **connection_args)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        return await asyncio.wait_for(ask(), timeout)

    hint = "check the address (a scheduler listens on port 8786 by default; 8787 is its dashboard) and that it runs"
    with ThreadPoolExecutor(1) as ex:
        try:
            reply = ex.submit(asyncio.run, bounded()).result()
        except OSError as e:  # (TimeoutError too)
            why = str(e).split("\n")[0] or ("no answer" if isinstance(e, TimeoutError) else type(e).__name__)
            raise DaskEngineError(f"no Dask scheduler answered at {scheduler} within {timeout:g} s ({why}): "
                                  f"{hint}") from e
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        raise DaskEngineError(f"{scheduler} answered, but not as a Dask scheduler: {hint}")


def _dask_client(distributed: Any, stack: contextlib.ExitStack, *, scheduler: str | None, jobs: int,
                 timeout: float) -> Any:
    """A client of the cluster at ``scheduler`` (which must have a worker within ``timeout`` s), or of a new
    local cluster of ``jobs`` workers."""
    if not scheduler:
        with _sigint_ignored(), _workers_log_critical_only():
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                # (the scheduler serves HTTP even without a dashboard; by default on port 8787, with a
                # warning when that port is taken: a free port on this machine instead, no dashboard)
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR))
        return stack.enter_context(distributed.Client(cluster))
    _probe_scheduler(scheduler, timeout)
    client = stack.enter_context(distributed.Client(scheduler, timeout=timeout))
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as e:
        raise DaskEngineError(
            f"the Dask scheduler at {scheduler} has no worker (none joined within {timeout:g} s): start some with "
            f"`dask worker {scheduler} --nthreads 1`, then rerun") from e
    return client


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C while a local Dask cluster starts its worker processes.

    A terminal sends Ctrl-C (SIGINT) to the whole process group.  A process started while SIGINT
    is ignored keeps ignoring it (Python installs its KeyboardInterrupt handler only over the
    default action), so the workers leave the interrupt to the driver, which stops them, instead
    of each printing a traceback.  A Ctrl-C during the start (1-3 s) is lost; press it again.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def _workers_log_critical_only() -> Iterator[None]:
    """Start a local cluster's worker processes with Dask's loggers at CRITICAL.

    ``silence_logs`` reaches the scheduler and nannies in this process only.  The driver reports
    a failed partition itself, so a worker's own error log is noise on the terminal; at a Ctrl-C
    a worker whose heartbeat met the closing scheduler printed a CommClosedError traceback (one
    clean-clone test run in six).  A new process reads Dask's logging levels from the environment
    when it imports distributed; this process imported it already and keeps its own.
    """
    key, old = "DASK_LOGGING__DISTRIBUTED", os.environ.get("DASK_LOGGING__DISTRIBUTED")
    os.environ[key] = "critical"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@contextlib.contextmanager
def _logger_level(name: str, level: int) -> Iterator[None]:
    """Set a logger's level for the duration of the block, then restore it."""
    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


class _PartitionFailure(Exception):
    """A Dask task's failure to read or score a partition: the original error's type and the stage,
    never its message, which may quote a record (a name, a phone number); and whether it is the
    input's fault (``input_error``: see :data:`_INPUT_READ_ERRORS`) rather than the cluster's.

    A worker logs the error of each task that fails and the driver raises it again, so the
    functions the workers run (:func:`_read_csv_block`, :func:`_score_partition`) raise this one
    instead, with no exception chained to it.
    """

    def __init__(self, stage: str, kind: str, input_error: bool = False) -> None:
        super().__init__(stage, kind, input_error)  # (the arguments, as pickled from the worker to the driver)
        self.stage, self.kind, self.input_error = stage, kind, input_error

    def __str__(self) -> str:
        return f"{self.kind} while {self.stage} a partition (its message is left out: it may quote a record)"


# what pandas' CSV reader raises for a file it cannot read (pandas' ParserError and EmptyDataError, a
# decoding error, pyarrow's ArrowInvalid are ValueErrors): the file's fault, the same on any worker.  Any
# other error (a TypeError or ImportError of a worker with another pandas, a MemoryError) is the cluster's.
_INPUT_READ_ERRORS: tuple[type[BaseException], ...] = (ValueError, UnicodeError, csv.Error)
# the package's own errors of loading the model: raised on a worker as they are (their messages name the
# model's path and the versions to install, never a record), so that the driver says what to do
_MODEL_ERRORS: tuple[type[BaseException], ...] = (ModelNotFoundError, ModelLoadError, UntrustedModelError,
                                                  LabelSetMismatchError)


def _read_csv_block(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:func:`pandas.read_csv` for Dask's CSV reader (the sample read on the driver, the partitions on
    the workers), raising :class:`_PartitionFailure` instead of an error that may quote the file."""
    try:
        return pd.read_csv(*args, **kwargs)
    except Exception as e:  # (pandas' and pyarrow's errors come in every type)
        kind, input_error = type(e).__name__, isinstance(e, _INPUT_READ_ERRORS)
    raise _PartitionFailure("reading", kind, input_error)  # (outside the handler: nothing chained to it)


_read_csv_block.__name__ = "read_csv"  # (how Dask's messages name the reader)


def _score_partition(df: pd.DataFrame, *, unguard: bool, text_col: str, model: str, max_chars: int,
                     with_evidence: bool, cp932_singles: bool) -> pd.DataFrame:
    """:func:`score_frame` for a partition on a Dask worker (after :func:`_unguarded_frame` for a CSV),
    raising :class:`_PartitionFailure` instead of an error that may quote a record (but a model that
    does not load on the worker as the error saying why: :data:`_MODEL_ERRORS`)."""
    try:
        if unguard:
            df = _unguarded_frame(df)
        return score_frame(df, text_col=text_col, model=model, max_chars=max_chars, with_evidence=with_evidence,
                           cp932_singles=cp932_singles)
    except _MODEL_ERRORS:
        raise
    except Exception as e:
        kind = type(e).__name__
    raise _PartitionFailure("scoring", kind)


def _dask_failure(e: BaseException) -> str:
    """What went wrong on the cluster, for a message: the error's type, and its text only for the
    connection errors of the cluster itself (a worker's error text may quote a record)."""
    from concurrent.futures import CancelledError

    if isinstance(e, _PartitionFailure):
        return f"{e.kind} while {e.stage} a partition on a worker; see the worker's log"
    if isinstance(e, OSError | TimeoutError | CancelledError) or type(e).__module__.startswith("distributed"):
        first = str(e).strip().split("\n")[0][:200]
        return f"{type(e).__name__}: {first}" if first else type(e).__name__
    return f"{type(e).__name__} on a worker; see the worker's log"


def _silence_dask_teardown() -> None:
    """After a Ctrl-C, drop the errors Dask objects raise as they are garbage-collected.

    An interrupt that lands inside ``distributed``'s ``Future.__init__`` leaves a half-built future
    whose ``__del__`` fails (``AttributeError: … '_client'``); Python prints that as an "Exception
    ignored in" traceback when the future is freed, after the run has already said how to resume
    (seen once in a local run of the test suite).  Other objects' unraisable errors are still printed.
    The filter stays for the life of the process: such a future can be freed at any later time.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_drops_dask", False):  # (one filter per process, however many interrupts)
        return

    def hook(u: Any) -> None:
        # (for a failing __del__ the object is the method itself, whose module is its class's)
        module = getattr(u.object, "__module__", None) or getattr(type(u.object), "__module__", "") or ""
        if module.split(".")[0] not in ("distributed", "dask"):
            previous(u)

    hook._drops_dask = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


class _InterruptLatch:
    """While entered (in the main thread, under Python's own Ctrl-C handler), remember every SIGINT
    before raising KeyboardInterrupt as usual.

    A KeyboardInterrupt raised while the interpreter runs a ``__del__`` (``distributed``'s futures are
    freed all through a run) is dropped: Python prints it as "Exception ignored in" and goes on, so a
    Ctrl-C at that moment was lost and the run finished (seen once in CI).  :attr:`seen` lets the
    Dask engine raise it again where it cannot be dropped, at the next partition; and
    :func:`_silence_dask_teardown` keeps the dropped one from being printed.
    """

    def __init__(self) -> None:
        self.seen = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        self.seen = True
        _silence_dask_teardown()
        raise KeyboardInterrupt

    def __enter__(self) -> _InterruptLatch:
        import signal

        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            import signal

            signal.signal(signal.SIGINT, self._old)
            self._old = None


def _dask_engine(sources: Sequence[_Source], scan: _Scan, *, parts: Path, done: set[int], text_col: str,
                 model_dir: Path, max_chars: int, with_evidence: bool, jobs: int, scheduler: str | None,
                 blocksize: str | int | None, timeout: float, progress: _Progress) -> int:
    """Score CSV/TSV/Parquet inputs on a Dask cluster, partition by partition.

    The rows are those of the local engine for well-formed files (same column names, the
    same ``warning``, empty rows and empty lines skipped but counted in ``source_record``);
    a CSV file with a record of the wrong number of fields is refused (:class:`InputFormatError`),
    and a field over the field limit is read by pandas' rules.  Each partition's checkpoint records
    how many input rows it covered, blank ones included, so that a resumed run numbers the rows after it as an
    uninterrupted run does.

    A scheduler that does not answer, or has no worker, within ``timeout`` seconds, and any
    other failure of the cluster or of a partition on it, raise :class:`DaskEngineError` (the
    finished partitions are kept for ``resume``).  Two failures are not the cluster's: a CSV/TSV
    file pandas' reader cannot read (see :data:`_INPUT_READ_ERRORS`; on the driver's sample of its
    head or on a worker) raises :class:`InputFormatError` and deletes the checkpoints, which no
    resumed run could complete; a model that does not load on a worker raises the package's own
    error (:data:`_MODEL_ERRORS`), saying what to install, and the checkpoints are kept.
    """
    counts = {k: _read_part_rows(parts, k) for k in sorted(done)}  # (before starting a cluster)
    interrupted = _InterruptLatch()
    try:
        with interrupted:
            n = _dask_score(sources, scan, parts=parts, counts=counts, text_col=text_col,
                            model_dir=model_dir, max_chars=max_chars, with_evidence=with_evidence, jobs=jobs,
                            scheduler=scheduler, blocksize=blocksize, timeout=timeout, progress=progress,
                            interrupted=interrupted)
            if interrupted.seen:  # (raised where Python drops it, in a Dask object's __del__: honoured here)
                raise KeyboardInterrupt
            return n
    except KeyboardInterrupt:
        _silence_dask_teardown()
        raise
    except _UnreadableInput:  # (its checkpoints can never be resumed: the file must be read otherwise)
        shutil.rmtree(parts, ignore_errors=True)
        raise
    except ComplaintTriageError:
        raise
    except Exception as e:  # (the cluster's and the workers' errors come in every type)
        if interrupted.seen:  # (the cluster's error came of the Ctrl-C)
            _silence_dask_teardown()
            raise KeyboardInterrupt from None
        raise DaskEngineError(
            f"the Dask run failed ({_dask_failure(e)}); the finished partitions are saved in {parts}: rerun the "
            "same command with --resume once the cluster works") from e


class _UnreadableInput(InputFormatError):
    """A CSV/TSV file that pandas could not read on the Dask engine: an input error, not a failure of the
    cluster (the same command, resumed or not, would fail again)."""


def _raise_if_unreadable(src: _Source, e: _PartitionFailure, blocksize: str | int | None) -> None:
    """Raise :class:`_UnreadableInput` for a failure to read ``src`` that is the file's fault (on the
    driver or a worker alike); return for any other failure, which is the cluster's."""
    if e.stage != "reading" or not e.input_error:
        return
    how = ("drop --blocksize, so that each file is read whole (a quoted field that holds a line break cannot be "
           "split), or score it with --engine local" if blocksize is not None else
           "score it with --engine local, which writes a record it cannot read as an error row")
    raise _UnreadableInput(f"{src.label}: the Dask engine cannot read it (pandas' CSV reader failed with "
                           f"{e.kind}); {how}") from None


def _held_name(column: str) -> str:
    """The Dask engine's name for an input column named like a prediction column (a scored file
    read again), so that :func:`score_frame` adds its own column beside it rather than over it."""
    return f"\0input:{column}"


def _dask_score(sources: Sequence[_Source], scan: _Scan, *, parts: Path,
                counts: Mapping[int, tuple[int, int]], text_col: str, model_dir: Path, max_chars: int,
                with_evidence: bool, jobs: int, scheduler: str | None, blocksize: str | int | None, timeout: float,
                progress: _Progress, interrupted: _InterruptLatch | None = None) -> int:
    dask = import_or_raise("dask", "Dask batch scoring (--engine dask)")
    dd = import_or_raise("dask.dataframe", "Dask batch scoring (--engine dask)")
    distributed = import_or_raise("distributed", "Dask batch scoring (--engine dask)")
    pa = import_or_raise("pyarrow", "Dask batch scoring (--engine dask)")
    from dask.dataframe.io.csv import read_pandas  # (dd.read_csv is this with pandas.read_csv as the reader)

    cols = scan.columns
    field_limit = _field_limit(max_chars)

    with contextlib.ExitStack() as stack:
        stack.enter_context(dask.config.set({"dataframe.convert-string": False}))
        # (a lost scheduler makes the client log a traceback of its reconnection attempt as it is
        # closed: the failure is raised as a DaskEngineError instead)
        stack.enter_context(_logger_level("distributed.client", logging.CRITICAL))
        client = _dask_client(distributed, stack, scheduler=scheduler, jobs=jobs, timeout=timeout)
        n_workers = max(1, len(client.nthreads()))
        # (partition, source, is_parquet, input columns of that source)
        plan: list[tuple[Any, _Source, list[str]]] = []
        stray: dict[str, frozenset[int]] = {}  # rows of stray lines of spaces, which pandas reads as rows
        for src in sources:
            if src.kind == "parquet":
                pf = _parquet_file(src, text_col)
                names = [c for c in pf.schema_arrow.names if not _INDEX_COL.match(c)]
                ddf = dd.read_parquet(str(src.path), columns=names, index=False, dtype_backend="pyarrow",
                                      split_row_groups=True)  # one partition per row group
            else:
                with open(src.path, "rb") as f:
                    reader = _csv_reader(src, f, text_col, field_limit)
                    names = reader.header or []
                    # pandas stops on a record with more fields than the header, shifts every column
                    # when that record is the first, and pads one with fewer: refuse the file before
                    # any partition runs, rather than lose or misalign rows
                    bad = reader.first_misshapen()
                    stray[src.label] = frozenset(reader.stray_rows)
                if bad is not None:
                    raise InputFormatError(
                        f"{src.label}: row {bad[0]} {bad[1]}; the Dask engine reads CSV with pandas, which cannot "
                        "keep such a record in its place: fix the row, or score the file with --engine local, "
                        "which writes it as an error row")
                try:
                    # (dd.read_csv with a reader whose errors never quote the file; object columns, since
                    # pandas' default str columns cannot hold the surrogate escapes of undecodable bytes)
                    ddf = read_pandas(_read_csv_block, str(src.path), sep="\t" if src.kind == "tsv" else ",",
                                      dtype=object, keep_default_na=False, na_filter=False,
                                      encoding=src.encoding or "utf-8", encoding_errors="surrogateescape",
                                      blocksize=blocksize, header=0,
                                      names=names,  # (the local engine's names: duplicates, blanks renamed)
                                      skip_blank_lines=False)  # (an empty line is a row: skipped, but counted)
                except _PartitionFailure as e:  # (the sample of the file's head is read here)
                    _raise_if_unreadable(src, e, blocksize)
                    raise
            held = {c: _held_name(c) for c in names if c in PREDICTION_COLUMNS}
            if held:  # (score_frame would replace those input columns with its own)
                ddf = ddf.rename(columns=held)
            text_in = held.get(text_col, text_col)
            cp932 = src.kind != "parquet" and reads_singles_as_pua(src.encoding)
            meta = score_frame(ddf._meta, text_col=text_in)
            scored = ddf.map_partitions(_score_partition, text_col=text_in, model=str(model_dir), max_chars=max_chars,
                                        with_evidence=with_evidence, cp932_singles=cp932,
                                        unguard=src.kind == "csv",  # (as the local engine reads it: without
                                        meta=meta)                  # batch's formula guard)
            plan.extend((part, src, names) for part in scored.to_delayed())

        offsets: dict[str, int] = {}
        pending: deque[tuple[int, _Source, list[str], Any]] = deque()

        def finish(k: int, src: _Source, names: list[str], df: pd.DataFrame) -> None:
            first = offsets.get(src.label, 0)
            offsets[src.label] = first + len(df)
            if k in counts:  # (a part finished before)
                return
            base = 2 if src.kind in ("csv", "tsv") else 1
            inputs = df[[_held_name(c) if c in PREDICTION_COLUMNS else c for c in names]]
            inputs.columns = names
            if src.kind == "parquet":
                table = pa.Table.from_pandas(inputs, preserve_index=False)
                in_rows = table.to_pylist()
            else:
                in_rows = inputs.to_dict(orient="records")
                if reads_singles_as_pua(src.encoding):  # (see score_frame's cp932_singles)
                    in_rows = [{k: v.translate(SINGLE_BYTE_PUA) if isinstance(v, str) else v for k, v in r.items()}
                               for r in in_rows]
            preds = _pred_rows({c: df[c].tolist() for c in PREDICTION_COLUMNS}, len(df))
            rows = []
            skip = stray.get(src.label, frozenset())
            for i, (vals, pr) in enumerate(zip(in_rows, preds, strict=True)):
                warning = None
                if src.kind != "parquet":
                    if not any(isinstance(v, str) and v for v in vals.values()) or first + i + base in skip:
                        continue  # an empty row or line, a stray line of spaces: skipped as by the local engine
                    bad = [c for c in names if c != text_col and isinstance(vals.get(c), str)
                           and UNDECODABLE.search(vals[c])]
                    warning = _cell_warning(bad, (), field_limit)
                rows.append([_clean(vals.get(c)) for c in cols] + [src.label, str(first + i + base)] + pr + [warning])
            _write_part_rows(parts, k, input_rows=len(df), records=len(rows))  # (first: a chunk implies it)
            _write_part(parts, k, rows)
            progress.update(len(rows))

        def result(fut: Any, src: _Source) -> pd.DataFrame:
            try:
                return fut.result()
            except _PartitionFailure as e:
                _raise_if_unreadable(src, e, blocksize)
                raise

        def stop_if_interrupted() -> None:
            # (a Ctrl-C Python dropped in a Dask object's __del__: honoured at the next partition)
            if interrupted is not None and interrupted.seen:
                raise KeyboardInterrupt

        def finish_first() -> None:
            """The oldest pending partition: a saved one's row count, else its computed rows."""
            pk, psrc, pnames, fut = pending.popleft()
            if isinstance(fut, int):
                offsets[psrc.label] = offsets.get(psrc.label, 0) + fut
            else:
                finish(pk, psrc, pnames, result(fut, psrc))
            stop_if_interrupted()

        for k, (part, src, names) in enumerate(plan):
            stop_if_interrupted()
            if k in counts:
                # the row offsets of later partitions need how many input rows this one covered
                n, recs = counts[k]
                pending.append((k, src, names, n))
                progress.skip(recs)
            else:
                pending.append((k, src, names, client.compute(part)))
            while len(pending) >= 2 * n_workers or (pending and isinstance(pending[0][3], int)):
                finish_first()
        while pending:
            finish_first()
    return len(plan)


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same path once resolved (also when neither
    exists yet), or one inode (a hard link)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, RuntimeError):  # (one of them does not exist, or is a symbolic link loop)
        return False


def _check_output_path(path: Path, what: str, option: str) -> str:
    """The format of an output file, refused (:class:`InputFormatError`) if it is a folder or has no known ending."""
    if path.is_dir():
        raise InputFormatError(f"{what} {path} is a folder; give {option} a file name ending with one of "
                               f"{', '.join(sorted(OUTPUT_FORMATS))}")
    return _output_format(path)


def _check_xlsx_width(out_fmt: str, n_columns: int) -> None:
    """Refuse (before scoring) an .xlsx output wider than Excel's 16,384 columns: Excel would
    "repair" the file and drop the columns beyond, the predictions among them."""
    if out_fmt == "xlsx" and n_columns > _XLSX_MAX_COLUMNS:
        raise InputFormatError(f"the output would have {n_columns:,} columns (the input's and the predictions), "
                               f"over the {_XLSX_MAX_COLUMNS:,} of an Excel sheet: write .csv or .parquet instead")


def _wide_encoding(encoding: str | None) -> bool:
    """UTF-16/UTF-32: a line break is not one byte, so a file cannot be cut at byte offsets."""
    try:
        return encoding is not None and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        return False


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
    sheet: str | Sequence[str] | None = None,
    model: str | os.PathLike[str] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    with_evidence: bool = True,
    engine: str = "local",
    scheduler: str | None = None,
    scheduler_timeout: float = 30.0,
    dask_blocksize: str | int | None = None,
    jobs: int = 2,
    chunk_rows: int = 1000,
    resume: bool = False,
    sender_output: str | os.PathLike[str] | None = None,
    keep_sender_ids: bool = False,
    mask_sender_column: bool = False,
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
        A run holds ``<output>.lock`` while it runs: a second run on the same output is
        refused (:class:`OutputInUseError`) instead of mixing its rows into the first's.
    text_col, id_col, sender_col, date_col : str
        Column names.  ``id_col`` names error examples in the summary; ``sender_col`` adds
        a ``sender_id`` column and writes the per-sender summary (with ``date_col`` for
        dates, 7-day runs and repeats).  For e-mail inputs they default to ``from``/``date``.
    fmt, encoding : str or None
        Input format for all inputs, CSV/TSV encoding.
    sheet : str, sequence of str or None
        Read only these sheets of .xlsx inputs (default: every sheet; a sheet that holds
        rows but no ``text_col`` is then an error, so that no records are lost unseen).
    model : path-like or None
        Model directory (default: the promoted model).
    max_chars : int, default=20000
        Longer texts become error rows.
    with_evidence : bool, default=True
        Add evidence spans (about a third of the scoring time).
    engine : {"local", "dask"}, default="local"
        ``dask`` maps :func:`score_frame` over partitions of CSV/TSV/Parquet inputs on the
        cluster at ``scheduler`` (default: a local cluster of ``jobs`` single-threaded workers).
    scheduler_timeout : float, default=30
        Seconds to wait for the scheduler at ``scheduler`` to answer, and then for a worker
        to join it (:class:`DaskEngineError` after that).
    dask_blocksize : str, int or None, default=None
        Split CSV files into partitions of this size (refused for a file where a quoted field
        holds a line break, and for UTF-16 files); by default one partition per CSV file.
    jobs : int, default=2
        Worker processes (each loads the model once).
    chunk_rows : int, default=1000
        Rows per chunk and checkpoint (local engine).
    resume : bool, default=False
        Continue an interrupted run from its checkpoints (``<output>.parts``).  Refused
        when the inputs (for a folder: the path, size and mtime of every file it holds), the
        options, the model or the version of complaint-triage (its signal patterns, its
        code) differ from the interrupted run's.
    sender_output : path-like or None
        Where to write the per-sender summary (default ``<output stem>.senders<ext>``); must
        be neither the output nor an input, and needs ``sender_col``.
    keep_sender_ids : bool, default=False
        Show canonical sender ids (e-mail address lower-cased without the display name,
        phone number as digits) in ``sender_id`` and the summary instead of keyed-hash
        pseudonyms; senders are grouped alike either way.
    mask_sender_column : bool, default=False
        Replace the raw value of ``sender_col`` in the scored output by its ``sender_id``.
        By default the scored output keeps every input column as it was, the raw sender
        column included: pseudonyms apply to ``sender_id`` and the per-sender summary only.
    sender_key_file : path-like or None
        Key file for pseudonyms (see :func:`load_sender_key`).
    progress : bool or None, default=None
        Show a progress bar on stderr (None: only when stderr is a terminal).
    progress_stream : text stream or None, default=None
        Where to draw the progress bar (default: stderr).

    Returns
    -------
    BatchResult

    Raises
    ------
    InputFormatError
        Bad inputs or options: nothing matches, a missing column, an input that is one of
        the run's own output files or a pipe, a file that is not of its format, a per-sender
        summary that is the output or without ``sender_col``, inputs that hold no records at
        all, checkpoints that cannot be resumed, ``dask_blocksize`` for a file that cannot be
        split, a CSV file that pandas cannot read on the Dask engine.
    OutputInUseError
        Another run is writing ``output``.
    OutputWriteError
        The output, the summary or a checkpoint could not be written (the checkpoints are
        kept: rerun with ``resume=True``).
    DaskEngineError
        The Dask scheduler does not answer or has no worker, or the cluster failed.
    """
    t0 = time.monotonic()
    out = Path(output)
    out_fmt = _check_output_path(out, "the output", "-o")
    if engine not in ("local", "dask"):
        raise InputFormatError(f"unknown engine {engine!r}; use local or dask")
    if chunk_rows < 1 or jobs < 1:
        raise InputFormatError("chunk_rows and jobs must be at least 1")
    if not scheduler_timeout > 0:
        raise InputFormatError("the scheduler timeout must be a positive number of seconds")
    s_out = Path(sender_output) if sender_output is not None else out.with_name(f"{out.stem}.senders{out.suffix}")
    parts = out.with_name(out.name + _PARTS_SUFFIX)
    lock = _OutputLock(out)
    out_files = {out: "the output", _partial(out): "the output being written",
                 parts: "the checkpoint folder", lock.path: "the lock file"}
    if sender_output is not None:
        s_fmt = _check_output_path(s_out, "the per-sender summary", "--sender-summary")
        for path, what in out_files.items():
            if _same_file(s_out, path):
                raise InputFormatError(f"the per-sender summary {s_out} is {what} of this run, which would "
                                       "overwrite it: give --sender-summary another name")
    else:
        s_fmt = out_fmt
    own = {**out_files, s_out: "the per-sender summary",
           _partial(s_out): "the per-sender summary"}
    skipped: list[str] = []
    sources = expand_inputs(inputs, fmt=fmt, encoding=encoding, exclude=own, notes=skipped)
    mail_only = all(s.kind in ("mbox", "eml") for s in sources)
    if sender_output is not None and sender_col is None and not mail_only:
        # (before the inputs are read: mail inputs alone have their From as the sender column)
        raise InputFormatError("--sender-summary needs --sender-column (the per-sender summary groups the records "
                               "by that column's senders; without it none is written; mail inputs: their From)")
    if engine == "dask":
        bad = [s.label for s in sources if s.kind not in ("csv", "tsv", "parquet")]
        if bad:
            raise InputFormatError(
                f"the Dask engine reads CSV, TSV and Parquet only, not {', '.join(bad)}; use --engine local for those"
            )
        import_or_raise("dask.dataframe", "Dask batch scoring (--engine dask)")
        import_or_raise("distributed", "Dask batch scoring (--engine dask)")
        if scheduler:
            _check_scheduler_address(scheduler)
        wide = [s.label for s in sources if s.kind in ("csv", "tsv") and _wide_encoding(s.encoding)]
        if wide and dask_blocksize is not None:
            raise InputFormatError(
                f"--blocksize cannot split {', '.join(wide)}: in UTF-16 a line break is two bytes, so the file "
                "cannot be cut at byte offsets; drop --blocksize (one partition per file) or save it as UTF-8")
    sheet = _sheet_list(sheet)
    scan = _scan(sources, text_col, sheet, want=[c for c in (id_col, sender_col, date_col) if c],
                 field_limit=_field_limit(max_chars))
    scan.warnings[:0] = skipped
    if scan.total == 0:
        raise InputFormatError("nothing to score: the inputs hold no records (" + "; ".join(scan.empty) + ")")
    columns = scan.columns
    if mail_only:
        sender_col = sender_col or "from"
        date_col = date_col or "date"
    # (after the mail inputs' sender column is known: it adds the sender_id column)
    _check_xlsx_width(out_fmt, len(columns) + 2 + (sender_col is not None) + len(PREDICTION_COLUMNS) + 1)
    for opt, name in (("--id-column", id_col), ("--sender-column", sender_col), ("--date-column", date_col)):
        if name is not None and name not in columns:
            if any("\ufffd" in c for c in columns):
                raise InputFormatError(f"no column {name!r} for {opt}, and some column names do not read in their "
                                       f"file's encoding: the encoding looks wrong; {_ENCODING_HINT}")
            raise InputFormatError(f"no column {name!r} for {opt} (columns: {', '.join(columns)})")
    if mask_sender_column and sender_col is None:
        raise InputFormatError("--mask-sender-column needs --sender-column (the column to replace)")
    if sender_col is not None and sender_output is None:
        _check_output_path(s_out, "the per-sender summary", "--sender-summary")
    if engine == "dask" and dask_blocksize is not None:
        for src in sources:
            if (line := scan.line_breaks.get(src.label)) is not None:
                raise InputFormatError(
                    f"--blocksize cannot split {src.label}: the record on line {line:,} holds a line break inside a "
                    "quoted field, and Dask cuts a file at line breaks; drop --blocksize (one partition per file), "
                    "or score it with --engine local")

    model_dir = _model_dir(model)
    from complaint_triage.persist import MANIFEST_FILE

    try:
        model_version = str(json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))["model_version"])
    except (OSError, ValueError, KeyError):
        _get_triager(model_dir, max_chars)  # raises the library's precise error
        raise
    key = None if sender_col is None or keep_sender_ids else load_sender_key(sender_key_file, notes=scan.warnings)
    opts = {"text_col": text_col, "sheet": sheet, "columns": columns, "model_dir": str(model_dir),
            "model_version": model_version, "max_chars": max_chars, "with_evidence": with_evidence,
            "engine": engine, "chunk_rows": chunk_rows if engine == "local" else None,
            "dask_blocksize": dask_blocksize if engine == "dask" else None}
    fp = _fingerprint(sources, opts, scan.folders)

    out.parent.mkdir(parents=True, exist_ok=True)
    lock.acquire()
    try:
        done = _prepare_parts(parts, fp, resume)
        result = _score_and_assemble(
            sources, scan, out=out, out_fmt=out_fmt, s_out=s_out, s_fmt=s_fmt, parts=parts, done=done,
            text_col=text_col, id_col=id_col, sender_col=sender_col, date_col=date_col, key=key,
            mask_sender_column=mask_sender_column, model_dir=model_dir, model_version=model_version,
            max_chars=max_chars, with_evidence=with_evidence, engine=engine, scheduler=scheduler,
            scheduler_timeout=scheduler_timeout, dask_blocksize=dask_blocksize, jobs=jobs, chunk_rows=chunk_rows,
            progress=progress, progress_stream=progress_stream)
        shutil.rmtree(parts, ignore_errors=True)
    finally:
        lock.release()
    result.seconds = time.monotonic() - t0
    return result


class _Assembly:
    """The output being written to ``path`` from the saved chunks' rows, one chunk after the other
    in order (:meth:`add`): the rows are counted (into :attr:`counts`), fed to the per-sender
    summary (:attr:`aggregator`) and written."""

    def __init__(self, path: Path, out_fmt: str, out_cols: list[_Col], *, columns: Sequence[str], text_col: str,
                 id_col: str | None, sender_col: str | None, date_col: str | None, key: bytes | None,
                 mask_sender_column: bool) -> None:
        self.counts = BatchResult(output=path)
        self.chunks = 0
        self.text_col, self.id_col, self.sender_col, self.date_col = text_col, id_col, sender_col, date_col
        self.mask_sender_column = mask_sender_column
        self.aggregator = SenderAggregator(key=key, dated=date_col is not None) if sender_col is not None else None
        self.n_in = len(columns)
        self.ix = {c: i for i, c in enumerate(columns)}
        self.p0 = self.n_in + 2
        self.pi = {c: self.p0 + j for j, c in enumerate(PREDICTION_COLUMNS)}
        self.writer: _Writer | None = _open_writer(path, out_fmt, out_cols)

    def add(self, rows: list[list[Any]]) -> None:
        result, aggregator, ix, pi, n_in = self.counts, self.aggregator, self.ix, self.pi, self.n_in
        date_col, sender_col, id_col = self.date_col, self.sender_col, self.id_col
        for row in rows:
            result.rows += 1
            when = None
            if date_col is not None:
                raw_date = row[ix[date_col]]
                when = parse_date(raw_date)
                if not (raw_date is None or (isinstance(raw_date, str) and not raw_date.strip())):
                    result.dates += 1
                    result.unparsed_dates += when is None
            sid = None
            if aggregator is not None:
                assert sender_col is not None
                sid = aggregator.add(
                    row[ix[sender_col]], when=when, text=row[ix[self.text_col]],
                    verdict=row[pi["verdict"]], categories=row[pi["categories"]] or (),
                    grievance=row[pi["grievance"]],
                    quotes_reply=row[ix["quotes_reply"]] if "quotes_reply" in ix else False)
                if self.mask_sender_column:  # (before the id column, which may be the sender's, is shown)
                    row[ix[sender_col]] = sid
            err = row[pi["error"]]
            if err is not None:
                kind = _error_kind(err)
                result.by_error[kind] += 1
                if len(result.error_examples) < 5:
                    rid = row[ix[id_col]] if id_col is not None else None
                    if rid is None or str(rid).strip() == "":  # named by where it is
                        rid = f"{row[n_in]}:{row[n_in + 1]}"
                    result.error_examples.append(f"{rid} {kind}")
            else:
                result.scored += 1
                result.by_verdict[row[pi["verdict"]]] += 1
                result.by_category.update(row[pi["categories"]] or ())
                result.review += bool(row[pi["review"]])
            if row[-1] is not None:
                if row[-1].endswith(_UNCOMPUTED_NOTE):
                    result.formula_warnings += 1
                else:
                    result.row_warnings += 1
            if aggregator is not None:
                row.insert(self.p0, sid)
        assert self.writer is not None
        self.writer.write(rows)
        self.chunks += 1

    def close(self) -> None:
        w, self.writer = self.writer, None
        if w is not None:
            w.close()

    def abort(self) -> None:
        """Close the file, whatever fails (closing flushes, and fails again on a full disk)."""
        w, self.writer = self.writer, None
        if w is not None:
            with contextlib.suppress(Exception):
                w.close()


#: What :class:`_Assembly` counts into the run's :class:`BatchResult`.
_ASSEMBLY_COUNTS = ("rows", "scored", "by_verdict", "by_category", "by_error", "error_examples", "review",
                    "row_warnings", "formula_warnings", "dates", "unparsed_dates")


def _score_and_assemble(sources: Sequence[_Source], scan: _Scan, *, out: Path, out_fmt: str, s_out: Path, s_fmt: str,
                        parts: Path, done: set[int], text_col: str, id_col: str | None, sender_col: str | None,
                        date_col: str | None, key: bytes | None, mask_sender_column: bool, model_dir: Path,
                        model_version: str, max_chars: int, with_evidence: bool, engine: str, scheduler: str | None,
                        scheduler_timeout: float, dask_blocksize: str | int | None, jobs: int, chunk_rows: int,
                        progress: bool | None, progress_stream: IO[str] | None) -> BatchResult:
    """Score the chunks not in ``done`` into ``parts``, then write the output (and the per-sender
    summary) from every checkpoint: both or neither, and no partial file is left.

    The local engine hands each chunk to the output (CSV, JSONL, xlsx) as soon as it is saved, in
    order, so that the output is written while the workers score, from the same checkpoints (the
    same bytes); should that fail, the output is written after the scoring, as the Dask engine's
    and Parquet outputs are (which then reports the failure)."""
    columns = scan.columns
    taken = set(columns)
    out_names = [(input_name(c, taken) if c in _RESERVED else c) for c in columns]
    out_cols = [_Col(n, "input", scan.arrow_types.get(c)) for c, n in zip(columns, out_names, strict=True)]
    out_cols += [_Col("source_file", "str"), _Col("source_record", "str")]
    if sender_col is not None:
        out_cols.append(_Col("sender_id", "str"))
        if mask_sender_column:  # (it then holds sender ids: text, whatever the input's type)
            i = columns.index(sender_col)
            out_cols[i] = _Col(out_cols[i].name, "input")
    kinds = {"categories": "strlist", "evidence": "evidence", "grievance": "bool", "review": "bool"}
    out_cols += [_Col(c, "float" if c in SCORE_COLUMNS else kinds.get(c, "str")) for c in PREDICTION_COLUMNS]
    out_cols.append(_Col(_WARNING_COLUMN, "str"))
    tmp_out = _partial(out)
    s_tmp = _partial(s_out)

    def assembly() -> _Assembly:
        return _Assembly(tmp_out, out_fmt, out_cols, columns=columns, text_col=text_col, id_col=id_col,
                         sender_col=sender_col, date_col=date_col, key=key, mask_sender_column=mask_sender_column)

    asm: _Assembly | None = None
    # (not Parquet: pyarrow's writer already keeps both cores busy after the scoring, and beside the
    # workers it only adds its memory; measured: the same wall time, +90 MB peak RSS at 100,000 rows)
    # (nor xlsx: abandoning a workbook saves it first, which grows with the rows written; nor with a
    # sender column: the per-sender summary would grow in the parent while the workers hold their
    # memory, and 1,000,000 rows must stay under 1.5 GB in all)
    streaming = engine == "local" and out_fmt in ("csv", "jsonl") and sender_col is None

    def drop_streamed() -> None:
        nonlocal asm
        if asm is not None:
            asm.abort()
            asm = None
        with contextlib.suppress(OSError):
            tmp_out.unlink(missing_ok=True)

    def emit(k: int) -> None:
        nonlocal asm, streaming
        if not streaming:
            return
        try:
            if asm is None:  # (opened once the pool is forked: the workers do not share the writer's memory)
                asm = assembly()
            asm.add(_read_part(parts, k))
        except Exception:  # (left to the assembly from the checkpoints after the scoring, which reports it)
            streaming = False
            drop_streamed()

    show = (sys.stderr.isatty() if progress is None else progress)
    bar = _Progress(scan.total, enabled=show, stream=progress_stream)
    try:
        try:
            if engine == "local":
                n_chunks = _local_engine(sources, scan, parts=parts, done=done, text_col=text_col,
                                         model_dir=model_dir, max_chars=max_chars, with_evidence=with_evidence,
                                         jobs=jobs, chunk_rows=chunk_rows, progress=bar, emit=emit)
            else:
                n_chunks = _dask_engine(sources, scan, parts=parts, done=done, text_col=text_col,
                                        model_dir=model_dir, max_chars=max_chars, with_evidence=with_evidence,
                                        jobs=jobs, scheduler=scheduler, blocksize=dask_blocksize,
                                        timeout=scheduler_timeout, progress=bar)
        except FileNotFoundError as e:  # (an input removed or renamed while the run read it)
            if not e.filename or str(e.filename).startswith(str(parts)):
                raise
            raise InputFormatError(
                f"input {e.filename} disappeared during the run ({e.strerror}); the finished chunks are kept in "
                f"{parts}: put the file back unchanged (e.g. move it back, keeping its modification time) and rerun "
                "the same command with --resume, or rerun without --resume") from e
        finally:
            bar.close()
    except BaseException:
        drop_streamed()
        raise

    # ---- assemble the output from the checkpoints (same bytes whether resumed or not)
    result = BatchResult(output=out, warnings=list(scan.warnings), resumed_chunks=len(done & set(range(n_chunks))),
                         chunks=n_chunks, model_version=model_version, date_column=date_col,
                         newly_scored_rows=bar.done - bar.base)
    for c, new in zip(columns, out_names, strict=True):
        if c != new:
            result.warnings.append(f"input column {c!r} renamed {new!r} in the output "
                                   "(the name is a prediction column)")
    if sender_col is not None and date_col is None:
        result.warnings.append(
            "no --date-column: the per-sender summary has no first/last dates or longest_run_7d (left empty), "
            "and repeats cannot be told from the same message sent twice within minutes; "
            "pass --date-column with the column holding when each record was received")
    writing = out
    try:
        if asm is None or asm.chunks != n_chunks:
            drop_streamed()
            asm = assembly()
            for k in range(n_chunks):
                asm.add(_read_part(parts, k))
        asm.close()
        for name in _ASSEMBLY_COUNTS:
            setattr(result, name, getattr(asm.counts, name))
        aggregator = asm.aggregator
        if aggregator is not None:  # (written before the output is renamed into place: both or neither)
            writing = s_out
            s_out.parent.mkdir(parents=True, exist_ok=True)
            s_rows = aggregator.rows()
            writer: _Writer | None = _open_writer(s_tmp, s_fmt, list(_SENDER_COLS))
            try:
                assert writer is not None
                writer.write([[r[c.name] for c in _SENDER_COLS] for r in s_rows])
                w, writer = writer, None
                w.close()
            finally:
                if writer is not None:
                    with contextlib.suppress(Exception):  # (closing flushes, and fails again on a full disk)
                        writer.close()
            result.sender_output, result.senders = s_out, len(s_rows)
            result.repetition_senders = sum(r["repetition"] for r in s_rows)
            result.no_sender = aggregator.no_sender
        writing = out
        replaced = [p for p in ((out, s_out) if aggregator is not None else (out,)) if p.exists()]
        os.replace(tmp_out, out)
        if aggregator is not None:
            os.replace(s_tmp, s_out)
        result.warnings.extend(f"{p} existed and was replaced" for p in replaced)
    except BaseException as e:
        if asm is not None:
            asm.abort()
        for tmp in (tmp_out, s_tmp) if sender_col is not None else (tmp_out,):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, ComplaintTriageError):
            raise OutputWriteError(
                f"cannot write {writing} ({e.strerror or type(e).__name__}); the scored chunks are kept in {parts}: "
                "fix the cause (e.g. free disk space) and rerun the same command with --resume") from e
        raise
    return result
