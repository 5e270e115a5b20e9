"""The scoring output's plain records: :class:`Prediction`, :class:`ScoringError`, :class:`Evidence`.

Kept apart from :mod:`complaint_triage.scoring` so that a process which only relays results
(the API's HTTP process when scoring runs in its own process, see
:mod:`complaint_triage.api.remote`) can unpickle and render them without importing numpy,
scikit-learn or MeCab.  :mod:`complaint_triage.scoring` re-exports everything here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from complaint_triage.exceptions import InvalidTextError
from complaint_triage.normalize import COMBINING_MARKS, INVISIBLE_RANGES, class_of

__all__ = ["DEFAULT_MAX_CHARS", "INVISIBLE_CHARS", "OUTPUT_FIELDS", "Evidence", "Prediction", "ScoringError",
           "check_text", "has_visible", "unpaired_surrogate"]


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

#: Characters that show nothing: every white-space character, the control characters (Cc), the
#: format characters (Cf: zero-width space and joiners, direction marks, the BOM, soft hyphen,
#: invisible operators, tags), Unicode's other default-ignorable code points (variation selectors,
#: the Hangul fillers chat apps use for "blank" messages, the combining grapheme joiner), the
#: blank Braille pattern U+2800 (:data:`complaint_triage.normalize.INVISIBLE_RANGES`, the one list
#: the normaliser removes them by), and the combining marks, which show nothing without a base
#: character (「\u0301\u0301」).  A text made of these alone is as empty as a blank one (tests check
#: the list against :mod:`unicodedata`).
_HIDDEN = sorted({c for lo, hi in INVISIBLE_RANGES for c in range(lo, hi + 1)} | set(COMBINING_MARKS))
INVISIBLE_CHARS = "".join(map(chr, _HIDDEN))
#: A character that shows something.  (A regex class of ranges: ``str.strip(INVISIBLE_CHARS)`` builds
#: a filter over all 5,000 characters on every call, 5% of scoring's instructions per message.)
_VISIBLE = re.compile(f"[^{class_of(_HIDDEN)}]")


def has_visible(text: str) -> bool:
    """Whether ``text`` has a character outside :data:`INVISIBLE_CHARS` (stops at the first one)."""
    return _VISIBLE.search(text) is not None


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


def check_text(value: object, max_chars: int = DEFAULT_MAX_CHARS, *, limit_option: str | None = None) -> str:
    """Return ``value`` if it is a scoreable text, else raise :class:`InvalidTextError`.

    ``limit_option``: the option that sets ``max_chars`` (the CLI's ``--max-chars``), named in the
    error of a text over the limit."""
    if not isinstance(value, str):
        name = type(value).__name__
        kind = "missing (null)" if value is None else f"{'an' if name[:1] in 'aeiou' else 'a'} {name}, not a string"
        raise InvalidTextError(f"text is {kind}; give the message text as a string")
    if not has_visible(value):
        if value.strip():
            raise InvalidTextError(
                "text has no visible character (only control, zero-width or other invisible characters); "
                "nothing to score"
            )
        raise InvalidTextError("text is empty or whitespace only; nothing to score")
    if len(value) > max_chars:
        raise InvalidTextError(
            f"text has {len(value):,} characters, over the limit of {max_chars:,}; "
            "split the message or raise the limit" + (f" with {limit_option}" if limit_option else "")
        )
    problem = unpaired_surrogate(value)
    if problem is not None:
        raise InvalidTextError(problem)
    return value


def unpaired_surrogate(text: str) -> str | None:
    """Why ``text`` is not valid Unicode text when it holds a lone UTF-16 surrogate (e.g. from a
    ``"\\ud800"`` JSON escape), naming the code point and where it is (never the text); else None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return (f"text contains an unpaired surrogate (U+{ord(text[e.start]):04X}) at character {e.start}; "
                "it is not valid Unicode text — fix the encoding of the source")
    return None
