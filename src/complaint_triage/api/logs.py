"""The service's log format: one JSON object per line (used by the app and by the supervisor).

A light module (standard library only), so that the supervisor, which never loads the model,
logs in the same format as the workers without importing the app.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonLineFormatter"]


class JsonLineFormatter(logging.Formatter):
    """Access records carry a dict in ``record.fields``; other records become ``{"message": …}``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
        return json.dumps(out, ensure_ascii=False)
