"""The labelled corpus: loading, validation and the data hash recorded in manifests."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from complaint_triage.exceptions import InputFormatError, LabelError
from complaint_triage.labels import validate_labels

__all__ = ["CORPUS_FILES", "data_root", "corpus_files", "load_corpus", "data_hash", "REQUIRED_FIELDS", "SPLITS"]

#: Files read by training, relative to the data folder, in this order.
CORPUS_FILES = ("corpus/handwritten.jsonl", "corpus/augmented.jsonl")
REQUIRED_FIELDS = ("id", "channel", "topic", "text", "verdict", "categories", "grievance", "difficulty", "source",
                   "split")
SPLITS = ("train", "dev", "test")


def data_root() -> Path:
    """``$COMPLAINT_TRIAGE_DATA_DIR`` or the repository's ``data/`` folder."""
    env = os.environ.get("COMPLAINT_TRIAGE_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


def corpus_files(root: Path | None = None) -> list[Path]:
    root = data_root() if root is None else Path(root)
    files = [root / f for f in CORPUS_FILES if (root / f).is_file()]
    if not files:
        raise FileNotFoundError(
            f"no corpus under {root} (expected {', '.join(CORPUS_FILES)}); "
            "run `make corpus` or set COMPLAINT_TRIAGE_DATA_DIR"
        )
    return files


def data_hash(files: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of the corpus files (line endings as stored)."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).name.encode() + b"\0")
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def load_corpus(root: Path | None = None) -> list[dict[str, Any]]:
    """Read and validate every corpus record.

    Raises :class:`InputFormatError` (with file and line) for malformed lines and
    :class:`LabelError` for records that break the label contract.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for f in corpus_files(root):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputFormatError(f"{f}:{n}: not valid JSON ({e.msg})") from e
            missing = [k for k in REQUIRED_FIELDS if k not in rec]
            if missing:
                raise InputFormatError(f"{f}:{n}: missing fields {missing}")
            try:
                validate_labels(rec["verdict"], rec["categories"], rec["grievance"])
            except LabelError as e:
                raise LabelError(f"{f}:{n} ({rec['id']}): {e}") from e
            if rec["split"] not in SPLITS:
                raise InputFormatError(f"{f}:{n}: split {rec['split']!r} is not one of {SPLITS}")
            if rec["id"] in seen:
                raise InputFormatError(f"{f}:{n}: duplicate id {rec['id']!r}")
            seen.add(rec["id"])
            out.append(rec)
    return out
