"""The scoring output's plain records: :class:`Prediction`, :class:`ScoringError`, :class:`Evidence`.

Kept apart from :mod:`complaint_triage.scoring` so that a process which only relays results
(the API's HTTP process when scoring runs in its own process, see
:mod:`complaint_triage.api.remote`) can unpickle and render them without importing numpy,
scikit-learn or MeCab.  :mod:`complaint_triage.scoring` re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from complaint_triage.exceptions import InvalidTextError

__all__ = ["DEFAULT_MAX_CHARS", "OUTPUT_FIELDS", "Evidence", "Prediction", "ScoringError", "check_text"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """A span of the original text supporting a category."""

    category: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"category": self.category, "start": self.start, "end": self.end, "text": self.text}


DEFAULT_MAX_CHARS = 20_000
OUTPUT_FIELDS = ("verdict", "categories", "grievance", "scores", "evidence", "action", "review", "model_version")


@dataclass(frozen=True)
class Prediction:
    """The result for one message."""

    verdict: str
    categories: list[str]
    grievance: bool
    scores: dict[str, float]
    evidence: list[Evidence]
    action: str
    review: bool
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "categories": list(self.categories),
            "grievance": self.grievance,
            "scores": dict(self.scores),
            "evidence": [e.to_dict() for e in self.evidence],
            "action": self.action,
            "review": self.review,
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class ScoringError:
    """Why one input could not be scored."""

    error: str
    model_version: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "model_version": self.model_version}


def check_text(value: object, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Return ``value`` if it is a scoreable text, else raise :class:`InvalidTextError`."""
    if not isinstance(value, str):
        kind = "missing (null)" if value is None else f"a {type(value).__name__}, not a string"
        raise InvalidTextError(f"text is {kind}; give the message text as a string")
    if not value.strip():
        raise InvalidTextError("text is empty or whitespace only; nothing to score")
    if len(value) > max_chars:
        raise InvalidTextError(
            f"text has {len(value):,} characters, over the limit of {max_chars:,}; "
            "split the message or raise the limit"
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone UTF-16 surrogate, e.g. from a "\ud800" JSON escape
            raise InvalidTextError(
                f"text contains an unpaired surrogate (U+{ord(value[e.start]):04X}) at character {e.start}; "
                "it is not valid Unicode text — fix the encoding of the source"
            ) from None
    return value
