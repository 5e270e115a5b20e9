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
imports the valid rows and still reports the rejected ones.  Importing the same file twice,
or re-importing an export, adds nothing:

- a row with a ``correction_id`` that is already stored is a duplicate when its content is
  the same, and is rejected when it differs (an edited export: clear the row's
  ``correction_id`` and ``corrected_at`` to record it as a new correction);
- a row with ``corrected_at`` but no ``correction_id`` is a duplicate of a stored correction
  with the same content and time;
- a row with neither is a duplicate only when it repeats the message's current latest
  correction.  Re-asserting an earlier label after a different one is a new correction,
  recorded at the time of the import.  When a file corrects one message more than once
  with such rows, those rows are taken together: if the message's latest stored
  corrections already are that sequence (same contents, same order, rows that repeat the
  row just above them counted once), every one of them is a duplicate, so importing the
  file again does not record the sequence again.

A message is identified by its id or by its text (compared after NFKC and with whitespace
runs collapsed, see :func:`text_key`): corrections sharing either are corrections of one
message, and the latest of them (by ``corrected_at``, then recording order) is the one
that counts.

:meth:`FeedbackStore.to_training_records` turns the latest correction of each message into
labelled records (``source="correction"`` plus provenance) for
``complaint_triage.training.train(extra_records=...)``; ``training.train`` then drops the
corpus records those corrections replace.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
import unicodedata
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from complaint_triage.corpus import data_root
from complaint_triage.exceptions import ComplaintTriageError, InputFormatError, LabelError
from complaint_triage.labels import NO_WORDS, VERDICTS, YES_WORDS, Verdict, shown_value, validate_labels
from complaint_triage.normalize import fold_spaces
from complaint_triage.results import has_visible

__all__ = [
    "CORRECTIONS_BATCH",
    "FEEDBACK_DB_ENV",
    "FIELDS",
    "Correction",
    "CorrectionsDatabaseError",
    "FeedbackStore",
    "ImportResult",
    "MessageIdConflictError",
    "RejectedRow",
    "UnresolvedCorrectionsWarning",
    "default_db_path",
    "parse_row",
    "text_key",
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


class UnresolvedCorrectionsWarning(UserWarning):
    """Corrections left out of training because the text of their message is unknown."""


class CorrectionsDatabaseError(ComplaintTriageError, sqlite3.DatabaseError):
    """The file given as the corrections database is not an SQLite database."""


class MessageIdConflictError(InputFormatError):
    """One ``message_id`` names two different texts, so one message would silently replace the other."""


#: Start of the reason of a row rejected because it names no analyst.
MISSING_ANALYST = "corrected_by (who made the correction) is required"


def text_key(text: str) -> str:
    """What identifies a message by its text: SHA-256 of the text after NFKC, whitespace runs as one space.

    So the same message typed into a spreadsheet (CRLF line ends, a full-width space, a
    trailing blank) is still recognised as the corpus message or the earlier correction.
    """
    norm = fold_spaces(text)
    return hashlib.sha256(norm.encode()).hexdigest()


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
                f"corrected_at {shown_value(value)} is not an ISO 8601 time (e.g. 2025-10-01T09:30:00+09:00)"
            ) from e
    else:
        raise InputFormatError(f"corrected_at must be an ISO 8601 time string, got {shown_value(value)}")
    if dt.tzinfo is None:
        raise InputFormatError(f"corrected_at {shown_value(value)} has no time zone; add one (e.g. +09:00 or Z)")
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
            if not has_visible(self.text):  # (empty, whitespace, or only invisible characters: no text to train on)
                put("text", None)
            elif len(self.text) > MAX_TEXT_CHARS:
                raise InputFormatError(f"text has {len(self.text):,} characters, over the limit of {MAX_TEXT_CHARS:,}")
        if self.message_id is None and self.text is None:
            raise InputFormatError("a correction needs a message_id or the message text")
        who = _short("corrected_by", self.corrected_by)
        if who is None:
            raise InputFormatError(f"{MISSING_ANALYST}; add it to the row or give a default")
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
        """One name of the corrected message: its id, else the :func:`text_key` of its text."""
        return self.keys[0]

    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        """Every name of the corrected message: ``id:<message_id>`` and ``text:<text_key>``, those known.

        Corrections sharing any of these are corrections of the same message.  (Computed once
        per correction: the text key normalises and hashes the whole message, and grouping
        asks for it several times per stored correction.)
        """
        out = []
        if self.message_id is not None:
            out.append("id:" + self.message_id)
        if self.text is not None:
            out.append("text:" + text_key(self.text))
        return tuple(out)

    def same_content(self, other: Correction, *, with_time: bool = True) -> bool:
        """Whether ``other`` records the same correction: every field but the id (and the time unless ``with_time``)."""
        skip = {"correction_id"} if with_time else {"correction_id", "corrected_at"}
        a, b = self.to_dict(), other.to_dict()
        return all(a[k] == b[k] for k in FIELDS if k not in skip)


class _Messages:
    """Union-find over message names (``id:…``, ``text:…``), with the latest correction of each message."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._latest: dict[str, tuple[tuple[str, int], Correction]] = {}

    def find(self, key: str) -> str:
        parent = self._parent
        root = parent.setdefault(key, key)
        while parent[root] != root:
            root = parent[root]
        while parent[key] != root:  # path compression
            parent[key], key = root, parent[key]
        return root

    def link(self, keys: Iterable[str]) -> str:
        """Declare ``keys`` names of one message; returns the message's root name."""
        roots = [self.find(k) for k in keys]
        root = roots[0]
        for r in roots[1:]:
            if r != root:
                self._parent[r] = root
                other = self._latest.pop(r, None)
                if other is not None:
                    cur = self._latest.get(root)
                    if cur is None or other[0] >= cur[0]:
                        self._latest[root] = other
        return root

    def add(self, c: Correction, seq: int) -> str:
        root = self.link(c.keys)
        rank = (c.corrected_at or "", seq)
        cur = self._latest.get(root)
        if cur is None or rank >= cur[0]:
            self._latest[root] = (rank, c)
        return root

    def latest_of(self, keys: Iterable[str]) -> Correction | None:
        """The latest correction of the message named by any of ``keys``, if there is one."""
        found = [self._latest[r] for r in {self.find(k) for k in keys if k in self._parent} if r in self._latest]
        return max(found, key=lambda v: v[0])[1] if found else None

    def latest(self, root: str) -> Correction:
        return self._latest[root][1]

    def link_corpus(self, corpus: Iterable[Mapping[str, Any]]) -> None:
        """Make each corpus record's id and text names of one message."""
        for r in corpus:
            self.link(("id:" + str(r["id"]), "text:" + text_key(str(r["text"]))))


# -- parsing rows from files ------------------------------------------------------------


def _parse_categories(value: object, name: str) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as e:
                raise InputFormatError(f"{name} {shown_value(value)} is not a valid JSON list ({e.msg})") from e
        for sep in (";", "|", "、", " "):
            text = text.replace(sep, ",")
        return [c.strip() for c in text.split(",") if c.strip()]
    return value


def _parse_bool(value: object, name: str, verdict: object = None) -> object:
    # the yes/no words of `complaint-triage evaluate` (true/false, 1/0, yes/no, y/n, はい/いいえ, ○/×), one list
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            value = None
        elif text in YES_WORDS:
            return True
        elif text in NO_WORDS:
            return False
        else:
            raise InputFormatError(f"{name} {shown_value(value)} is not true or false")
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


def _code(value: object) -> object:
    """A label code as typed in a spreadsheet: ``Complaint``, `` INQUIRY ``, full-width letters."""
    return unicodedata.normalize("NFKC", value).strip().lower() if isinstance(value, str) else value


def _codes(value: object) -> object:
    return [_code(v) for v in value] if isinstance(value, list | tuple) else value


def _verdict(value: object, name: str) -> object:
    code = _code(value)
    if code not in VERDICTS:
        # (a mistyped code is quoted; a message, a name or a phone number in the wrong column is not)
        shown = shown_value(value.strip() if isinstance(value, str) else value)
        raise LabelError(f"{name} {shown} is not one of {', '.join(VERDICTS)} "
                         "(write the code: 苦情 is complaint, 問い合わせ is inquiry, カスハラ is harassment)")
    return code


def parse_row(row: Mapping[str, Any], *, corrected_by: str | None = None, deterministic_id: bool = True) -> Correction:
    """Build a :class:`Correction` from one CSV or JSONL row.

    Accepted keys are those of :data:`FIELDS` (``id`` is read as ``message_id``; a nested
    ``predicted`` object with verdict/categories/grievance/model_version is also accepted).
    In CSV, categories may be separated by ``,``, ``;`` or ``|`` (or be a JSON list) and
    booleans may be true/false, 1/0, yes/no, y/n, はい/いいえ or ○/× (as ``evaluate`` reads
    them); an empty grievance means true for a complaint and false for an inquiry.
    ``corrected_by`` fills rows that do not name an analyst.

    Verdict and category codes may differ in case, width and surrounding blanks
    (``Complaint``, ``ＩＮＱＵＩＲＹ``); the verdict is checked first.

    A row without ``correction_id`` gets one derived from its content when
    ``deterministic_id`` is true (see :meth:`FeedbackStore.import_rows` for when an import
    stores it), else a random one (each call records a new correction).

    Raises
    ------
    LabelError, InputFormatError
        With a message saying what is wrong with the row.
    """
    return _parse(row, corrected_by=corrected_by, deterministic_id=deterministic_id)[0]


def _parse(row: Mapping[str, Any], *, corrected_by: str | None,
           deterministic_id: bool) -> tuple[Correction, bool, bool]:
    """:func:`parse_row`, plus whether the row gave its ``correction_id`` and its ``corrected_at``."""
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
    r["verdict"] = _verdict(r["verdict"], "verdict")
    cats = _codes(_parse_categories(r.get("categories") if r.get("categories") is not None else [], "categories"))
    grievance = _parse_bool(r.get("grievance"), "grievance", r["verdict"])
    pv = r.get("predicted_verdict")
    pv = _verdict(pv, "predicted_verdict") if pv is not None else None
    pc = r.get("predicted_categories")
    if pv is not None and pc is None:
        pc = []
    pc = _codes(_parse_categories(pc, "predicted_categories")) if pc is not None else None
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
    given_id = cid is not None
    if cid is None and deterministic_id:
        # derived from the row itself (with its time, when it gives one)
        content = {**fields, "corrected_by": r.get("corrected_by")}
        blob = json.dumps(content, ensure_ascii=False, sort_keys=True, default=str).encode()
        cid = "r-" + hashlib.sha256(blob).hexdigest()[:32]
    try:
        c = Correction(**fields, correction_id=None if cid is None else str(cid))
    except TypeError as e:  # pragma: no cover - defensive: a field of the wrong shape
        raise InputFormatError(str(e)) from e
    return c, given_id, r.get("corrected_at") is not None


def _conflict(correction_id: str) -> str:
    return (f"correction_id {correction_id!r} is already stored with a different correction; to record this "
            "as a new correction, clear its correction_id and corrected_at cells (an edited export keeps them)")


def _id_conflict(message_id: str, named_by: str) -> str:
    return (f"message_id {message_id!r} already names another message with a different text ({named_by}); "
            "if this is another message, give it a new message_id; if it is the same message, use the same "
            "text (or leave the text cell empty)")


def _texts_by_id(corpus: Iterable[Mapping[str, Any]], corrections: Iterable[Correction]
                 ) -> dict[str, tuple[str, str]]:
    """message_id -> (:func:`text_key` of its text, what gave it): corpus records first, then corrections."""
    out: dict[str, tuple[str, str]] = {}
    for r in corpus:
        out.setdefault(str(r["id"]), (text_key(str(r["text"])), f"corpus record {r['id']}"))
    for c in corrections:
        if c.message_id is not None and c.text is not None:
            out.setdefault(c.message_id, (text_key(c.text), f"stored correction {c.correction_id}"))
    return out


def _labels_of(c: Correction) -> tuple[str, tuple[str, ...], bool]:
    return c.verdict, tuple(sorted(c.categories)), c.grievance


# -- import results ---------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedRow:
    """A row that was not imported, with why."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"

    @property
    def missing_analyst(self) -> bool:
        """Whether the row was rejected for naming no analyst (no ``corrected_by`` and no default)."""
        return self.reason.startswith(MISSING_ANALYST)


@dataclass(frozen=True)
class ImportResult:
    """What an import did.  ``imported`` is 0 when rows were rejected and ``skip_invalid`` was false.

    ``warnings`` say what was imported but deserves a look (rows of one message that
    disagree, and which of them counts); they name row numbers and message ids only.
    """

    imported: int
    duplicates: int
    rejected: list[RejectedRow] = field(default_factory=list)
    rows: int = 0
    warnings: list[str] = field(default_factory=list)

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
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if not self._ready:
                with self._ready_lock:
                    if not self._ready:
                        self._init_schema(conn)
                        self._ready = True
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as e:
            conn.close()
            self._raise_if_not_a_database(e)
            raise
        return conn

    def _raise_if_not_a_database(self, e: sqlite3.DatabaseError) -> None:
        """A file that is not SQLite, or is corrupt, says so plainly (:class:`CorrectionsDatabaseError`)."""
        if getattr(e, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise self._not_a_database() from e

    def _not_a_database(self) -> CorrectionsDatabaseError:
        return CorrectionsDatabaseError(
            f"{self.path} is not a corrections database (not an SQLite file); give the file that "
            "`complaint-triage feedback import --db` writes, or restore it from a backup or an export"
        )

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
        except sqlite3.DatabaseError as e:
            self._raise_if_not_a_database(e)
            raise
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

    def _stored(self, conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Correction]:
        out: dict[str, Correction] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = conn.execute(f"SELECT {_COLUMNS} FROM corrections WHERE correction_id IN "
                                f"({', '.join('?' * len(chunk))})", chunk)
            for r in rows:
                c = self._from_db(r)
                out[str(c.correction_id)] = c
        return out

    def _named_texts(self, conn: sqlite3.Connection, message_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """:func:`_texts_by_id` of the stored corrections of these message ids (only those are read)."""
        ids = sorted(set(message_ids))
        stored: list[Correction] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            stored += [self._from_db(r) for r in conn.execute(
                f"SELECT {_COLUMNS} FROM corrections WHERE message_id IN ({', '.join('?' * len(chunk))}) ORDER BY seq",
                chunk)]
        return _texts_by_id((), stored)

    def _insert(self, conn: sqlite3.Connection, corrections: Iterable[Correction]) -> int:
        """Insert the corrections not stored yet; raises on a stored ``correction_id`` with other content,
        and (:class:`MessageIdConflictError`) on a ``message_id`` that already names another text, which
        training would refuse (the check import makes per row, for ``add`` and the API)."""
        items = list(corrections)
        named = self._named_texts(conn, (c.message_id for c in items if c.message_id is not None))
        for c in items:
            if c.message_id is not None and c.text is not None:
                key = text_key(c.text)
                if named.setdefault(c.message_id, (key, "an earlier correction of this call"))[0] != key:
                    raise MessageIdConflictError(_id_conflict(c.message_id, named[c.message_id][1]))
        known = self._stored(conn, [str(c.correction_id) for c in items])
        new = []
        for c in items:
            old = known.get(str(c.correction_id))
            if old is not None:
                if old.same_content(c, with_time=False):
                    continue
                raise InputFormatError(_conflict(str(c.correction_id)))
            known[str(c.correction_id)] = c
            new.append(c)
        return self._insert_new(conn, new)

    def _insert_new(self, conn: sqlite3.Connection, new: Sequence[Correction]) -> int:
        """Insert corrections known to be new (checked by :meth:`_insert`, or planned by :meth:`_plan`)."""
        conn.executemany(
            f"INSERT INTO corrections ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})",
            [self._row(c) for c in new],
        )
        return len(new)

    def add(self, correction: Correction | Mapping[str, Any]) -> Correction:
        """Record one correction (a :class:`Correction` or a mapping for :func:`parse_row`).

        Returns the stored correction, with its ``correction_id`` and ``corrected_at``.
        Adding a correction whose ``correction_id`` is already stored with the same content
        changes nothing; with other content it raises :class:`InputFormatError`.
        """
        c = correction if isinstance(correction, Correction) else parse_row(correction, deterministic_id=False)
        with self._write() as conn:
            self._insert(conn, [c])
        return c

    def add_many(self, corrections: Iterable[Correction]) -> int:
        """Record several corrections in one transaction; returns how many were new.

        Raises :class:`InputFormatError` (and records nothing) when one reuses a stored
        ``correction_id`` with other content.
        """
        items = list(corrections)
        with self._write() as conn:
            return self._insert(conn, items)

    def import_rows(self, rows: Iterable[tuple[int, Mapping[str, Any] | Exception | str]], *,
                    corrected_by: str | None = None, skip_invalid: bool = False,
                    corpus: Iterable[Mapping[str, Any]] = ()) -> ImportResult:
        """Import ``(row_number, row)`` pairs; a row may be an error (string or exception) already.

        All or nothing unless ``skip_invalid``; which rows are duplicates and which are
        rejected for reusing a stored ``correction_id``: see the module docstring.  Rows are
        taken in order, so a file may correct a message more than once.

        A row whose ``message_id`` already names a different text (a record of ``corpus``,
        a stored correction or an earlier row of the same rows) is rejected: the two
        messages would otherwise count as one, and one of them would be lost in training.
        Rows of one message (other than rows with a ``correction_id``) that disagree on the
        labels are imported with an entry in :attr:`ImportResult.warnings` naming them and the
        one that counts: the latest ``corrected_at`` (a row without one is dated at the import,
        so of such rows the last one), of equal times the later row, as for every correction.
        """
        parsed: list[tuple[int, Correction, bool, bool]] = []
        rejected: list[RejectedRow] = []
        n = 0
        for number, row in rows:
            n += 1
            if isinstance(row, Mapping):
                try:
                    parsed.append((number, *_parse(row, corrected_by=corrected_by, deterministic_id=True)))
                except ComplaintTriageError as e:
                    rejected.append(RejectedRow(number, str(e)))
            else:
                rejected.append(RejectedRow(number, str(getattr(row, "error", row))))
        if not parsed:  # nothing to store: leave the database as it is (or absent)
            return ImportResult(0, 0, rejected, n)
        with self._write() as conn:
            new, duplicates, conflicts, notes = self._plan(conn, parsed, corpus)
            rejected = sorted(rejected + conflicts, key=lambda r: r.row)
            if rejected and not skip_invalid:
                return ImportResult(0, 0, rejected, n, notes)
            inserted = self._insert_new(conn, new)
        return ImportResult(inserted, duplicates, rejected, n, notes)

    @staticmethod
    def _disagreements(parsed: Sequence[tuple[int, Correction, bool, bool]],
                       stored: Sequence[Correction] = ()) -> list[str]:
        """One line per message that rows of the file label differently, naming the row that counts.

        Rows with a ``correction_id`` (an export's: a message's recorded history) are left out.  The
        row that counts is the one :meth:`latest` takes: the latest ``corrected_at`` (a row without one
        is dated at the import, so of such rows the last one), of equal times the later row; a
        correction already ``stored`` with a later ``corrected_at`` counts over all of them (said so).
        """
        names = _Messages()
        rows: dict[str, list[tuple[int, int, Correction, bool]]] = {}
        own = [(i, number, c, given_time) for i, (number, c, given_id, given_time) in enumerate(parsed)
               if not given_id]
        for c in stored:
            names.link(c.keys)
        for _, _, c, _ in own:
            names.link(c.keys)
        for row in own:
            rows.setdefault(names.find(row[2].key), []).append(row)
        out = []
        for root, group in rows.items():
            if len({_labels_of(c) for _, _, c, _ in group}) < 2:
                continue
            mid = next((c.message_id for _, _, c, _ in group if c.message_id is not None), None)
            what = f"message {mid!r}" if mid is not None else "one message (the same text)"
            _, winner, best, _ = max(group, key=lambda r: (r[2].corrected_at or "", r[0]))
            if any(given_time for *_, given_time in group):
                counts = (f"row {winner} counts (the latest corrected_at counts, a row without one dated at the "
                          "import; of equal times the later row)")
            else:
                counts = f"the last one, row {winner}, counts"
            ids = {c.correction_id for _, _, c, _ in group}
            if any(s.correction_id not in ids and (s.corrected_at or "") > (best.corrected_at or "")
                   and names.find(s.key) == root for s in stored):
                counts += ", but a stored correction with a later corrected_at counts over them all"
            out.append(f"rows {', '.join(str(number) for _, number, _, _ in group)} correct {what} with different "
                       f"labels ({', '.join(c.verdict for _, _, c, _ in group)}); {counts}")
        return out

    def _plan(self, conn: sqlite3.Connection, parsed: Sequence[tuple[int, Correction, bool, bool]],
              corpus: Iterable[Mapping[str, Any]] = ()
              ) -> tuple[list[Correction], int, list[RejectedRow], list[str]]:
        """Which parsed rows are new, how many are duplicates, which are rejected (a stored correction_id with
        other content, a message_id that names another text), and warnings about rows that disagree."""
        stored = [self._from_db(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM corrections ORDER BY seq")]
        ids = {c.message_id for _, c, _, _ in parsed if c.message_id is not None}
        # (only the corpus records the rows name are hashed: the corpus has ~10,000 texts)
        named = _texts_by_id([r for r in corpus if str(r["id"]) in ids], [c for c in stored if c.message_id in ids])
        conflicts: list[RejectedRow] = []
        kept = []
        for number, c, given_id, given_time in parsed:
            if c.message_id is not None and c.text is not None:
                own = text_key(c.text)
                key, source = named.setdefault(c.message_id, (own, f"row {number}"))
                if key != own:
                    conflicts.append(RejectedRow(number, _id_conflict(c.message_id, source)))
                    continue
            kept.append((number, c, given_id, given_time))
        parsed = kept
        notes = self._disagreements(parsed, stored)
        by_id = {str(c.correction_id): c for c in stored}
        messages = _Messages()
        for seq, c in enumerate(stored):
            messages.add(c, seq)
        repeated = self._repeated_sequences(stored, parsed)
        new: list[Correction] = []
        duplicates = 0
        for i, (number, c, given_id, given_time) in enumerate(parsed):
            cid = str(c.correction_id)
            known = by_id.get(cid)
            if given_id:
                if known is not None:
                    if known.same_content(c, with_time=given_time):
                        duplicates += 1
                    else:
                        conflicts.append(RejectedRow(number, _conflict(cid)))
                    continue
            elif given_time:
                if known is not None:  # the id is derived from the content and the time
                    duplicates += 1
                    continue
            else:
                if i in repeated:
                    duplicates += 1
                    continue
                latest = messages.latest_of(c.keys)
                if latest is not None and latest.same_content(c, with_time=False):
                    duplicates += 1
                    continue
                if known is not None:  # an earlier label asserted again: a new correction of its own
                    c = replace(c, correction_id=f"{cid}-{uuid.uuid4().hex[:12]}")
            new.append(c)
            by_id[str(c.correction_id)] = c
            messages.add(c, len(stored) + len(new))
        return new, duplicates, conflicts, notes

    @staticmethod
    def _repeated_sequences(stored: Sequence[Correction], parsed: Sequence[tuple[int, Correction, bool, bool]]
                            ) -> set[int]:
        """Indexes in ``parsed`` of rows that repeat a sequence of corrections already stored.

        Only rows without ``correction_id`` and ``corrected_at`` count, of messages the file
        corrects with no such row.  A message's such rows,
        in file order and with a row equal to the one above it counted once, are a repeat
        when there are at least two of them and they equal the message's last stored
        corrections (by ``corrected_at``, then recording order): the same file imported
        again.  A single row is left to the per-row rule, which says the same.
        """
        names = _Messages()
        for seq, c in enumerate(stored):
            names.add(c, seq)
        for _, c, _, _ in parsed:
            names.link(c.keys)
        rows: dict[str, list[int]] = {}
        timed: set[str] = set()  # messages the file also corrects with a given id or time
        for i, (_, c, given_id, given_time) in enumerate(parsed):
            if not given_id and not given_time:
                rows.setdefault(names.find(c.key), []).append(i)
            else:
                timed.add(names.find(c.key))
        # (a message the file also corrects with an id or a time is left to the per-row rule:
        # those rows change the stored sequence this check compares against)
        rows = {root: idx for root, idx in rows.items() if root not in timed}
        if all(len(idx) < 2 for idx in rows.values()):
            return set()
        history: dict[str, list[tuple[tuple[str, int], Correction]]] = {}
        for seq, c in enumerate(stored):
            root = names.find(c.key)
            if root in rows:
                history.setdefault(root, []).append(((c.corrected_at or "", seq), c))
        out: set[int] = set()
        for root, idx in rows.items():
            sequence: list[Correction] = []
            for i in idx:
                c = parsed[i][1]
                if not sequence or not sequence[-1].same_content(c, with_time=False):
                    sequence.append(c)
            if len(sequence) < 2:
                continue
            past = [c for _, c in sorted(history.get(root, []), key=lambda v: v[0])][-len(sequence):]
            if len(past) == len(sequence) and all(
                    p.same_content(c, with_time=False) for p, c in zip(past, sequence, strict=True)):
                out.update(idx)
        return out

    def import_file(self, path: Path | str, *, format: str | None = None, corrected_by: str | None = None,
                    skip_invalid: bool = False, encoding: str = "utf-8-sig",
                    corpus: Iterable[Mapping[str, Any]] = ()) -> ImportResult:
        """Import a CSV, TSV or JSONL file of corrections (format from the file name unless given).

        Row numbers are spreadsheet rows for CSV (the header is row 1) and line numbers for
        JSONL.  With ``corpus``, a row whose ``message_id`` is a corpus record id with a
        different text is rejected (see :meth:`import_rows`).  Raises
        :class:`InputFormatError` when the file as a whole is unreadable (no such file, no
        ``verdict`` column).
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
                try:
                    rows = list(read_csv(f, text_column="verdict", delimiter=delimiter, encoding=encoding,
                                         numbering="row"))
                except InputFormatError as e:
                    # the reader's hint names the scoring option --text-column; a corrections file has fixed columns
                    head, sep, _ = str(e).rpartition("; choose one with --text-column")
                    if not sep:
                        raise
                    raise InputFormatError(
                        f"{head}; a corrections file needs a 'verdict' column holding harassment, complaint or "
                        f"inquiry (rename the column of corrected verdicts to verdict; accepted columns: "
                        f"{', '.join(FIELDS)})"
                    ) from e
        return self.import_rows(rows, corrected_by=corrected_by, skip_invalid=skip_invalid, corpus=corpus)

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

    def _messages(self, corpus: Sequence[Mapping[str, Any]], items: Sequence[Correction] | None = None
                  ) -> tuple[_Messages, dict[str, list[Correction]]]:
        """The corrections (``items``, else all stored) grouped by message: root name -> its
        corrections in recording order.

        The groups are in the order their latest correction was recorded.
        """
        messages = _Messages()
        messages.link_corpus(corpus)
        if items is None:
            items = self.corrections()
        for seq, c in enumerate(items):
            messages.add(c, seq)
        groups: dict[str, list[Correction]] = {}
        for c in items:
            groups.setdefault(messages.find(c.key), []).append(c)
        order = {c.correction_id: seq for seq, c in enumerate(items)}
        ranked = sorted(groups, key=lambda root: order[messages.latest(root).correction_id])
        return messages, {root: groups[root] for root in ranked}

    def latest(self, corpus: Sequence[Mapping[str, Any]] = ()) -> list[Correction]:
        """The latest correction of each message (by ``corrected_at``, then recording order).

        Corrections are of the same message when they share its id or its text (see
        :func:`text_key`); with ``corpus``, a corpus record's id and text also name one
        message, so a correction by id and one by text of the same corpus message are
        grouped.  In the order the winning corrections were recorded.
        """
        messages, groups = self._messages(corpus)
        return [messages.latest(root) for root in groups]

    def is_database_file(self, path: Path | str) -> bool:
        """Whether ``path`` is this database or one of its SQLite side files (``-wal``, ``-shm``, ``-journal``).

        Compared as the files they lead to, so another spelling of the path or a link to
        the database counts.
        """
        target = Path(path)
        for name in (self.path, *(Path(f"{self.path}{s}") for s in ("-wal", "-shm", "-journal"))):
            try:
                if os.path.samefile(target, name):
                    return True
            except OSError:  # one of them does not exist: compare the resolved paths instead
                if target.resolve() == name.resolve():
                    return True
        return False

    @staticmethod
    def _check_message_ids(corpus: Sequence[Mapping[str, Any]], items: Sequence[Correction]) -> None:
        """Raise :class:`MessageIdConflictError` when a message_id names two different texts."""
        texts: dict[str, set[str]] = {}
        named = [c for c in items if c.message_id is not None and c.text is not None]
        ids = {c.message_id for c in named}
        for r in corpus:  # (only the records a correction names: the corpus has ~10,000 texts)
            if str(r["id"]) in ids:
                texts.setdefault(str(r["id"]), set()).add(text_key(str(r["text"])))
        for c in named:
            texts.setdefault(str(c.message_id), set()).add(text_key(str(c.text)))
        bad = [mid for mid, keys in texts.items() if len(keys) > 1]
        if bad:
            raise MessageIdConflictError(
                f"message_id {', '.join(map(repr, bad[:5]))}{'…' if len(bad) > 5 else ''} name(s) more than one "
                "text (in the corrections, or a correction and the corpus record of that id), so one message "
                "would replace the other in training; export the corrections (`complaint-triage feedback "
                "export`), give the rows of the other message a new message_id and clear their correction_id "
                "and corrected_at, and import the file into a new database"
            )

    def export_jsonl(self, out: Path | str | IO[str]) -> int:
        """Write every correction as one JSON object per line (the import format); returns the count.

        Raises :class:`InputFormatError` when ``out`` is the database itself (or one of its
        side files), also through another path or a link: the export would replace it.
        """
        if isinstance(out, str | Path) and self.is_database_file(out):
            raise InputFormatError(f"the export file {out} is the corrections database {self.path}; "
                                   "give another file name for the export")
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
        skip_missing: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Labelled records for ``train(extra_records=...)``: one per message, from its latest correction.

        A message's corrections are grouped by its id or its text (see :meth:`latest`), so a
        correction by text replaces one by id and the reverse; a correction of a corpus
        message, by id or by text, names that record in ``original_id`` so that training
        drops the corpus label.

        Parameters
        ----------
        corpus : sequence of corpus records, default=()
            Used to match corrections to corpus messages (by id or by text), to find the
            text of corrections that only give a message id, to put a correction in the
            cross-validation group of the corpus message it corrects, and to leave out
            corrections of messages in ``exclude_splits``.
        exclude_splits : iterable of str, default=("test",)
            Corrections of messages in these corpus splits (matched by id or by text) are
            left out, so the frozen test split never leaks into training.
        skip_missing : bool, default=True
            Leave out corrections whose text can be found neither in the correction, in
            the message's other corrections nor in ``corpus``, with one line (or an
            :class:`UnresolvedCorrectionsWarning` when no ``log`` is given) that counts
            them; ``False`` raises instead.
        log : callable, default=None
            Receives one line per correction left out.

        Returns
        -------
        list of dict
            ``id`` (``correction:<correction_id>``), ``text``, ``verdict``, ``categories``,
            ``grievance``, ``split`` ("train"), ``batch`` and ``group`` (for cross-validation
            folds: those of the corrected corpus message, else :data:`CORRECTIONS_BATCH` and a
            group of its own), and provenance: ``source`` ("correction"), ``corrected_by``,
            ``corrected_at``, ``original_id`` (the corpus id of the corrected message, else
            its message id), ``message_id``, ``correction_id``, ``model_version``,
            ``predicted_verdict``.

        Raises
        ------
        MessageIdConflictError
            A ``message_id`` names two different texts (two corrections, or a correction and
            the corpus record of that id): one message would replace the other in training.
        InputFormatError
            With ``skip_missing=False``: some corrections give only a message id whose text
            is unknown.
        """
        excluded = set(exclude_splits)
        items = self.corrections()  # (read once: both steps see the same corrections)
        self._check_message_ids(corpus, items)
        messages, groups = self._messages(corpus, items)
        in_corpus: dict[str, list[Mapping[str, Any]]] = {}
        for r in corpus:
            root = messages.find("id:" + str(r["id"]))
            if root in groups:
                in_corpus.setdefault(root, []).append(r)
        out: list[dict[str, Any]] = []
        missing: list[str] = []
        for root, members in groups.items():
            c = messages.latest(root)
            recs = in_corpus.get(root, [])
            orig = _corpus_match(c, recs)
            text = c.text if c.text is not None else (
                str(orig["text"]) if orig is not None
                else next((m.text for m in reversed(members) if m.text is not None), None))
            message_id = c.message_id or next((m.message_id for m in reversed(members) if m.message_id), None)
            if text is None:
                missing.append(str(message_id))
                continue
            if any(r.get("split") in excluded for r in recs):
                if log is not None:
                    log(f"left out correction {c.correction_id} of {message_id or 'a message'}: "
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
                "original_id": str(orig["id"]) if orig is not None else message_id,
                "message_id": message_id,
                "correction_id": c.correction_id,
                "model_version": c.model_version,
                "predicted_verdict": c.predicted_verdict,
            })
        if missing:
            msg = (f"{len(missing)} correction(s) give only a message id whose text is unknown "
                   f"({', '.join(missing[:5])}{'…' if len(missing) > 5 else ''})")
            if not skip_missing:
                raise InputFormatError(msg + "; pass the corpus that holds them, or record a correction of each "
                                             "with the message text")
            msg += ("; left out of training (pass the corpus that holds them, or record a correction of each "
                    "with the message text)")
            if log is not None:
                log(msg)
            else:
                warnings.warn(msg, UnresolvedCorrectionsWarning, stacklevel=2)
        return out


def _corpus_match(c: Correction, records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The corpus record ``c`` corrects, among those of its message: by id, else by text, else the first."""
    if not records:
        return None
    if c.message_id is not None:
        for r in records:
            if str(r["id"]) == c.message_id:
                return r
    if c.text is not None:
        key = text_key(c.text)
        for r in records:
            if text_key(str(r["text"])) == key:
                return r
    return records[0]
