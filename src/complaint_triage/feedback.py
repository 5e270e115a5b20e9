"""Analysts' corrections: a SQLite store that many processes and threads can write at once.

A correction records what the model said about a message and what an analyst says it
should have been::

    message id and/or text, predicted verdict/categories/grievance, model version,
    corrected verdict/categories/grievance (checked by validate_labels), who, when (UTC), note

The store is one SQLite file (default ``$COMPLAINT_TRIAGE_FEEDBACK_DB``, else
``<data root>/feedback/corrections.sqlite3``).  The schema is created on first use.  Every
connection uses WAL journaling and a busy timeout, and every write is one short
``BEGIN IMMEDIATE`` transaction, so concurrent writers (API workers, CLI imports) wait for
each other instead of failing or losing rows.

Imports (CSV or JSONL from a spreadsheet review) are **all or nothing** by default: if any
row is invalid, nothing is imported and every rejected row is reported with its row number
and reason, so the analyst fixes the file and imports it again.  ``skip_invalid=True``
imports the valid rows and still reports the rejected ones.  Rows carry a
``correction_id`` (generated from the row's content when absent), so importing the same
file twice, or re-importing an export, adds nothing.

:meth:`FeedbackStore.to_training_records` turns the latest correction of each message into
labelled records (``source="correction"`` plus provenance) for
``complaint_triage.training.train(extra_records=...)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from complaint_triage.corpus import data_root
from complaint_triage.exceptions import ComplaintTriageError, InputFormatError, LabelError
from complaint_triage.labels import Verdict, validate_labels

__all__ = [
    "CORRECTIONS_BATCH",
    "FEEDBACK_DB_ENV",
    "FIELDS",
    "Correction",
    "FeedbackStore",
    "ImportResult",
    "RejectedRow",
    "default_db_path",
    "parse_row",
]

#: ``batch`` of training records made from corrections of messages outside the corpus.
CORRECTIONS_BATCH = "corrections"
#: Environment variable naming the SQLite file.
FEEDBACK_DB_ENV = "COMPLAINT_TRIAGE_FEEDBACK_DB"
SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 20_000
MAX_FIELD_CHARS = 200
MAX_NOTE_CHARS = 2_000

#: Field order of exported records (and the accepted columns of imported files).
FIELDS: tuple[str, ...] = (
    "correction_id",
    "message_id",
    "text",
    "verdict",
    "categories",
    "grievance",
    "predicted_verdict",
    "predicted_categories",
    "predicted_grievance",
    "model_version",
    "corrected_by",
    "corrected_at",
    "note",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    correction_id        TEXT NOT NULL UNIQUE,
    message_id           TEXT,
    text                 TEXT,
    verdict              TEXT NOT NULL,
    categories           TEXT NOT NULL,
    grievance            INTEGER NOT NULL,
    predicted_verdict    TEXT,
    predicted_categories TEXT,
    predicted_grievance  INTEGER,
    model_version        TEXT,
    corrected_by         TEXT NOT NULL,
    corrected_at         TEXT NOT NULL,
    note                 TEXT,
    CHECK (message_id IS NOT NULL OR text IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS corrections_message_id ON corrections (message_id);
"""
_COLUMNS = ", ".join(FIELDS)


def default_db_path() -> Path:
    """``$COMPLAINT_TRIAGE_FEEDBACK_DB``, else ``<data root>/feedback/corrections.sqlite3``."""
    env = os.environ.get(FEEDBACK_DB_ENV)
    return Path(env) if env else data_root() / "feedback" / "corrections.sqlite3"


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_timestamp(value: object) -> str:
    """An ISO 8601 time with a zone (or a datetime) as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as e:
            raise InputFormatError(
                f"corrected_at {value!r} is not an ISO 8601 time (e.g. 2025-10-01T09:30:00+09:00)"
            ) from e
    else:
        raise InputFormatError(f"corrected_at must be an ISO 8601 time string, got {value!r}")
    if dt.tzinfo is None:
        raise InputFormatError(f"corrected_at {value!r} has no time zone; add one (e.g. +09:00 or Z)")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(name: str, value: object, limit: int = MAX_FIELD_CHARS) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputFormatError(f"{name} must be a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise InputFormatError(f"{name} has {len(value)} characters, over the limit of {limit}")
    return value or None


@dataclass(frozen=True)
class Correction:
    """One analyst's correction of one message.

    Construction validates every field: :class:`LabelError` for labels that break the
    taxonomy, :class:`InputFormatError` for anything else (no message id and no text, no
    analyst name, a time without a zone...).  ``corrected_at`` defaults to now (UTC).
    """

    verdict: str
    categories: tuple[str, ...]
    grievance: bool
    corrected_by: str
    message_id: str | None = None
    text: str | None = None
    predicted_verdict: str | None = None
    predicted_categories: tuple[str, ...] | None = None
    predicted_grievance: bool | None = None
    model_version: str | None = None
    corrected_at: str | None = None
    note: str | None = None
    correction_id: str | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        cats = self.categories
        validate_labels(self.verdict, list(cats) if isinstance(cats, tuple) else cats, self.grievance)
        put("categories", tuple(cats))
        put("message_id", _short("message_id", self.message_id))
        if self.text is not None:
            if not isinstance(self.text, str):
                raise InputFormatError(f"text must be a string, got {type(self.text).__name__}")
            if not self.text.strip():
                put("text", None)
            elif len(self.text) > MAX_TEXT_CHARS:
                raise InputFormatError(f"text has {len(self.text):,} characters, over the limit of {MAX_TEXT_CHARS:,}")
        if self.message_id is None and self.text is None:
            raise InputFormatError("a correction needs a message_id or the message text")
        who = _short("corrected_by", self.corrected_by)
        if who is None:
            raise InputFormatError(
                "corrected_by (who made the correction) is required; add it to the row or give a default"
            )
        put("corrected_by", who)
        predicted = (self.predicted_verdict, self.predicted_categories, self.predicted_grievance)
        if any(p is not None for p in predicted):
            if any(p is None for p in predicted):
                raise InputFormatError(
                    "the predicted result needs predicted_verdict, predicted_categories and "
                    "predicted_grievance together"
                )
            pcats = self.predicted_categories
            try:
                validate_labels(self.predicted_verdict, list(pcats) if isinstance(pcats, tuple) else pcats,
                                self.predicted_grievance)
            except LabelError as e:
                raise LabelError(f"predicted result: {e}") from e
            put("predicted_categories", tuple(pcats or ()))
        put("model_version", _short("model_version", self.model_version))
        put("note", _short("note", self.note, MAX_NOTE_CHARS))
        put("corrected_at", _utc_now() if self.corrected_at is None else _utc_timestamp(self.corrected_at))
        cid = _short("correction_id", self.correction_id)
        put("correction_id", cid or uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the keys of :data:`FIELDS`, in that order."""
        d = asdict(self)
        d["categories"] = list(self.categories)
        if self.predicted_categories is not None:
            d["predicted_categories"] = list(self.predicted_categories)
        return {k: d[k] for k in FIELDS}

    @property
    def key(self) -> str:
        """What identifies the corrected message: its id, else a hash of its text."""
        if self.message_id is not None:
            return "id:" + self.message_id
        return "text:" + hashlib.sha256((self.text or "").encode()).hexdigest()


# -- parsing rows from files ------------------------------------------------------------


def _parse_categories(value: object, name: str) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as e:
                raise InputFormatError(f"{name} {value!r} is not a valid JSON list ({e.msg})") from e
        for sep in (";", "|", "、", " "):
            text = text.replace(sep, ",")
        return [c.strip() for c in text.split(",") if c.strip()]
    return value


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _parse_bool(value: object, name: str, verdict: object = None) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            value = None
        elif text in _TRUE:
            return True
        elif text in _FALSE:
            return False
        else:
            raise InputFormatError(f"{name} {value!r} is not true or false")
    if value is None and name == "grievance":
        # the taxonomy fixes the grievance of complaints (true) and inquiries (false)
        if verdict == Verdict.COMPLAINT:
            return True
        if verdict == Verdict.INQUIRY:
            return False
        raise LabelError("grievance (true or false) is required for a harassment verdict")
    return value


def _blank(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def parse_row(row: Mapping[str, Any], *, corrected_by: str | None = None, deterministic_id: bool = True) -> Correction:
    """Build a :class:`Correction` from one CSV or JSONL row.

    Accepted keys are those of :data:`FIELDS` (``id`` is read as ``message_id``; a nested
    ``predicted`` object with verdict/categories/grievance/model_version is also accepted).
    In CSV, categories may be separated by ``,``, ``;`` or ``|`` (or be a JSON list) and
    booleans may be true/false/1/0/yes/no; an empty grievance means true for a complaint and
    false for an inquiry.  ``corrected_by`` fills rows that do not name an analyst.

    A row without ``correction_id`` gets one derived from its content when
    ``deterministic_id`` is true (imports: the same row imported twice is stored once), else
    a random one (each call records a new correction).

    Raises
    ------
    LabelError, InputFormatError
        With a message saying what is wrong with the row.
    """
    known = set(FIELDS) | {"id", "predicted"}
    extra = sorted(k for k in row if k not in known)
    if extra:
        raise InputFormatError(f"unknown field(s) {', '.join(map(repr, extra))}; accepted: {', '.join(FIELDS)}")
    r = {k: _blank(v) for k, v in row.items()}
    if r.get("message_id") is None and r.get("id") is not None:
        r["message_id"] = r["id"]
    pred = r.get("predicted")
    if pred is not None:
        if not isinstance(pred, Mapping):
            raise InputFormatError("predicted must be an object with verdict, categories, grievance, model_version")
        for k in ("verdict", "categories", "grievance", "model_version"):
            name = k if k == "model_version" else "predicted_" + k
            if r.get(name) is None and pred.get(k) is not None:
                r[name] = pred[k]
    if r.get("verdict") is None:
        raise LabelError("verdict is required")
    if isinstance(r["verdict"], str):
        r["verdict"] = r["verdict"].strip()
    cats = _parse_categories(r.get("categories") if r.get("categories") is not None else [], "categories")
    grievance = _parse_bool(r.get("grievance"), "grievance", r["verdict"])
    pv = r.get("predicted_verdict")
    pv = pv.strip() if isinstance(pv, str) else pv
    pc = r.get("predicted_categories")
    if pv is not None and pc is None:
        pc = []
    pc = _parse_categories(pc, "predicted_categories") if pc is not None else None
    pg = r.get("predicted_grievance")
    pg = _parse_bool(pg, "predicted_grievance") if pg is not None else None
    if pv is not None and pg is None and pv in (Verdict.COMPLAINT, Verdict.INQUIRY):
        pg = pv == Verdict.COMPLAINT
    mid = r.get("message_id")
    if isinstance(mid, int | float) and not isinstance(mid, bool):
        mid = str(mid)
    fields: dict[str, Any] = {
        "verdict": r["verdict"],
        "categories": cats,
        "grievance": grievance,
        "corrected_by": r.get("corrected_by") or corrected_by,
        "message_id": mid,
        "text": r.get("text"),
        "predicted_verdict": pv,
        "predicted_categories": pc,
        "predicted_grievance": pg,
        "model_version": r.get("model_version"),
        "corrected_at": r.get("corrected_at"),
        "note": r.get("note"),
    }
    cid = r.get("correction_id")
    if cid is None and deterministic_id:
        # derived from the row itself, so importing the same file twice adds nothing
        content = {**fields, "corrected_by": r.get("corrected_by")}
        blob = json.dumps(content, ensure_ascii=False, sort_keys=True, default=str).encode()
        cid = "r-" + hashlib.sha256(blob).hexdigest()[:32]
    try:
        return Correction(**fields, correction_id=None if cid is None else str(cid))
    except TypeError as e:  # pragma: no cover - defensive: a field of the wrong shape
        raise InputFormatError(str(e)) from e


# -- import results ---------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedRow:
    """A row that was not imported, with why."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    """What an import did.  ``imported`` is 0 when rows were rejected and ``skip_invalid`` was false."""

    imported: int
    duplicates: int
    rejected: list[RejectedRow] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "imported": self.imported, "duplicates": self.duplicates,
                "rejected": [{"row": r.row, "reason": r.reason} for r in self.rejected]}


# -- the store --------------------------------------------------------------------------


class FeedbackStore:
    """The corrections database.

    Parameters
    ----------
    path : path-like, default=None
        The SQLite file; ``None`` means :func:`default_db_path`.  Its folder and the schema
        are created on first use, not here.
    timeout : float, default=30.0
        Seconds a writer waits for another writer's lock before giving up.

    One instance may be shared by threads: each operation opens its own connection.
    """

    def __init__(self, path: Path | str | None = None, *, timeout: float = 30.0) -> None:
        self.path = default_db_path() if path is None else Path(path)
        self.timeout = timeout
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.path)!r})"

    # connections ----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    self._init_schema(conn)
                    self._ready = True
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self.timeout
        while True:  # switching to WAL needs a moment alone with the file
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        if str(mode).lower() != "wal":
            raise ComplaintTriageError(
                f"could not switch {self.path} to WAL journaling (got {mode!r}); "
                "put the database on a local file system"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                raise ComplaintTriageError(
                    f"{self.path} has schema version {version}, newer than this library's {SCHEMA_VERSION}; "
                    "upgrade complaint-triage"
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._open()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    # writing --------------------------------------------------------------------------

    @staticmethod
    def _row(c: Correction) -> tuple[Any, ...]:
        d = c.to_dict()
        d["categories"] = json.dumps(d["categories"], ensure_ascii=False)
        if d["predicted_categories"] is not None:
            d["predicted_categories"] = json.dumps(d["predicted_categories"], ensure_ascii=False)
        for k in ("grievance", "predicted_grievance"):
            d[k] = None if d[k] is None else int(d[k])
        return tuple(d[k] for k in FIELDS)

    def _insert(self, conn: sqlite3.Connection, corrections: Iterable[Correction]) -> int:
        before = conn.total_changes
        conn.executemany(
            f"INSERT OR IGNORE INTO corrections ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})",
            [self._row(c) for c in corrections],
        )
        return conn.total_changes - before

    def add(self, correction: Correction | Mapping[str, Any]) -> Correction:
        """Record one correction (a :class:`Correction` or a mapping for :func:`parse_row`).

        Returns the stored correction, with its ``correction_id`` and ``corrected_at``.
        Adding a correction whose ``correction_id`` is already stored changes nothing.
        """
        c = correction if isinstance(correction, Correction) else parse_row(correction, deterministic_id=False)
        with self._write() as conn:
            self._insert(conn, [c])
        return c

    def add_many(self, corrections: Iterable[Correction]) -> int:
        """Record several corrections in one transaction; returns how many were new."""
        items = list(corrections)
        with self._write() as conn:
            return self._insert(conn, items)

    def import_rows(self, rows: Iterable[tuple[int, Mapping[str, Any] | Exception | str]], *,
                    corrected_by: str | None = None, skip_invalid: bool = False) -> ImportResult:
        """Import ``(row_number, row)`` pairs; a row may be an error (string or exception) already.

        All or nothing unless ``skip_invalid``: see the module docstring.
        """
        good: list[Correction] = []
        rejected: list[RejectedRow] = []
        n = 0
        for number, row in rows:
            n += 1
            if isinstance(row, Mapping):
                try:
                    good.append(parse_row(row, corrected_by=corrected_by))
                except ComplaintTriageError as e:
                    rejected.append(RejectedRow(number, str(e)))
            else:
                rejected.append(RejectedRow(number, str(getattr(row, "error", row))))
        if rejected and not skip_invalid:
            return ImportResult(0, 0, rejected, n)
        inserted = self.add_many(good) if good else 0
        return ImportResult(inserted, len(good) - inserted, rejected, n)

    def import_file(self, path: Path | str, *, format: str | None = None, corrected_by: str | None = None,
                    skip_invalid: bool = False, encoding: str = "utf-8-sig") -> ImportResult:
        """Import a CSV, TSV or JSONL file of corrections (format from the file name unless given).

        Row numbers are spreadsheet rows for CSV (the header is row 1) and line numbers for
        JSONL.  Raises :class:`InputFormatError` when the file as a whole is unreadable (no
        such file, no ``verdict`` column).
        """
        from complaint_triage.io import detect_format, read_csv, read_jsonl

        p = Path(path)
        if not p.is_file():
            raise InputFormatError(f"corrections file {p} does not exist")
        fmt = detect_format(p.name, format)
        with p.open("rb") as f:
            if fmt == "jsonl":
                rows: Iterable[tuple[int, Any]] = list(read_jsonl(f))
            else:
                delimiter = "," if fmt == "csv" else "\t"
                rows = list(read_csv(f, text_column="verdict", delimiter=delimiter, encoding=encoding,
                                     numbering="row"))
        return self.import_rows(rows, corrected_by=corrected_by, skip_invalid=skip_invalid)

    # reading --------------------------------------------------------------------------

    @staticmethod
    def _from_db(row: Sequence[Any]) -> Correction:
        d = dict(zip(FIELDS, row, strict=True))
        d["categories"] = tuple(json.loads(d["categories"]))
        if d["predicted_categories"] is not None:
            d["predicted_categories"] = tuple(json.loads(d["predicted_categories"]))
        d["grievance"] = bool(d["grievance"])
        if d["predicted_grievance"] is not None:
            d["predicted_grievance"] = bool(d["predicted_grievance"])
        return Correction(**d)

    def __len__(self) -> int:
        with self._read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM corrections").fetchone()[0])

    def corrections(self) -> list[Correction]:
        """Every stored correction, oldest first (in the order they were recorded)."""
        with self._read() as conn:
            return [self._from_db(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM corrections ORDER BY seq")]

    def latest(self) -> list[Correction]:
        """The latest correction of each message (by ``corrected_at``, then recording order)."""
        best: dict[str, tuple[str, int, Correction]] = {}
        for seq, c in enumerate(self.corrections()):
            assert c.corrected_at is not None
            cur = best.get(c.key)
            if cur is None or (c.corrected_at, seq) >= cur[:2]:
                best[c.key] = (c.corrected_at, seq, c)
        return [v[2] for v in sorted(best.values(), key=lambda v: v[1])]

    def export_jsonl(self, out: Path | str | IO[str]) -> int:
        """Write every correction as one JSON object per line (the import format); returns the count."""
        items = self.corrections()
        if isinstance(out, str | Path):
            tmp = Path(str(out) + ".tmp")
            with tmp.open("w", encoding="utf-8", newline="\n") as f:
                self._dump(items, f)
            os.replace(tmp, out)
        else:
            self._dump(items, out)
        return len(items)

    @staticmethod
    def _dump(items: Iterable[Correction], f: IO[str]) -> None:
        for c in items:
            f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")

    def to_training_records(
        self,
        corpus: Sequence[Mapping[str, Any]] = (),
        *,
        exclude_splits: Iterable[str] = ("test",),
        skip_missing: bool = False,
        log: Callable[[str], None] = lambda s: None,
    ) -> list[dict[str, Any]]:
        """Labelled records for ``train(extra_records=...)`` from the latest correction of each message.

        Parameters
        ----------
        corpus : sequence of corpus records, default=()
            Used to find the text of corrections that only give a message id, to put a
            correction in the cross-validation group of the corpus message it corrects, and
            to leave out corrections of messages in ``exclude_splits``.
        exclude_splits : iterable of str, default=("test",)
            Corrections of messages in these corpus splits (matched by id or by identical
            text) are left out, so the frozen test split never leaks into training.
        skip_missing : bool, default=False
            Leave out corrections whose text cannot be found instead of raising.
        log : callable
            Receives one line per correction left out.

        Returns
        -------
        list of dict
            ``id`` (``correction:<correction_id>``), ``text``, ``verdict``, ``categories``,
            ``grievance``, ``split`` ("train"), ``batch`` and ``group`` (for cross-validation
            folds: those of the corrected corpus message, else :data:`CORRECTIONS_BATCH` and a
            group of its own), and provenance: ``source``
            ("correction"), ``corrected_by``, ``corrected_at``, ``original_id``,
            ``correction_id``, ``model_version``, ``predicted_verdict``.

        Raises
        ------
        InputFormatError
            Some corrections give only a message id that is not in ``corpus``.
        """
        by_id = {str(r["id"]): r for r in corpus}
        excluded = set(exclude_splits)
        held_out_texts = {r["text"] for r in corpus if r.get("split") in excluded}
        out: list[dict[str, Any]] = []
        missing: list[str] = []
        for c in self.latest():
            orig = by_id.get(c.message_id) if c.message_id is not None else None
            text = c.text if c.text is not None else (orig["text"] if orig is not None else None)
            if text is None:
                missing.append(str(c.message_id))
                continue
            if (orig is not None and orig.get("split") in excluded) or text in held_out_texts:
                log(f"left out correction {c.correction_id} of {c.message_id or 'a message'}: "
                    f"the message is in a held-out split ({', '.join(sorted(excluded))})")
                continue
            out.append({
                "id": f"correction:{c.correction_id}",
                "text": text,
                "verdict": c.verdict,
                "categories": list(c.categories),
                "grievance": c.grievance,
                "split": "train",
                # cross-validation keeps a correction with the corpus message it corrects (same writer
                # batch, same near-duplicate group); other corrections form a batch of their own
                "batch": orig.get("batch") if orig is not None else CORRECTIONS_BATCH,
                "group": (orig.get("group") or orig["id"]) if orig is not None else f"correction:{c.key}",
                "channel": orig.get("channel") if orig is not None else None,
                "topic": orig.get("topic") if orig is not None else None,
                "source": "correction",
                "corrected_by": c.corrected_by,
                "corrected_at": c.corrected_at,
                "original_id": c.message_id,
                "correction_id": c.correction_id,
                "model_version": c.model_version,
                "predicted_verdict": c.predicted_verdict,
            })
        if missing:
            msg = (f"{len(missing)} correction(s) give only a message id whose text is unknown "
                   f"({', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}); pass the corpus that holds them "
                   "or record the text with the correction")
            if not skip_missing:
                raise InputFormatError(msg)
            log(msg + "; left out")
        return out
