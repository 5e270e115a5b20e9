"""Narrow exceptions raised by the library.

Each inherits from :class:`ComplaintTriageError` and from the built-in exception that
matches it, so callers can catch either.  Messages say what to do next.  The edges (CLI,
API, batch) translate them to exit codes and HTTP statuses; the library never does.
"""

from __future__ import annotations

__all__ = [
    "ComplaintTriageError",
    "InvalidTextError",
    "ModelNotFoundError",
    "ModelLoadError",
    "UntrustedModelError",
    "LabelSetMismatchError",
    "InputFormatError",
    "EmailParseError",
    "LabelError",
    "SignalsChangedWarning",
    "ScoringProcessError",
]


class ComplaintTriageError(Exception):
    """Base class for every error raised on purpose by complaint_triage."""


class InvalidTextError(ComplaintTriageError, ValueError):
    """A message text cannot be scored (empty, not a string, too long)."""


class ModelNotFoundError(ComplaintTriageError, FileNotFoundError):
    """The model file (or its manifest) does not exist."""


class ModelLoadError(ComplaintTriageError, ValueError):
    """The model file exists but is corrupt or unreadable."""


class UntrustedModelError(ComplaintTriageError, TypeError):
    """The model file contains types outside the trusted list."""


class LabelSetMismatchError(ComplaintTriageError, ValueError):
    """The model was built for another label set than this library's."""


class InputFormatError(ComplaintTriageError, ValueError):
    """An input file or record is malformed (bad JSON, missing column, bad encoding)."""


class EmailParseError(ComplaintTriageError, ValueError):
    """A byte string is not a parseable RFC 5322 message."""


class LabelError(ComplaintTriageError, ValueError):
    """A label (verdict, category, grievance) is not valid under the taxonomy."""


class ScoringProcessError(ComplaintTriageError, RuntimeError):
    """The separate scoring process of the API is not running (it failed to start, or exited)."""


class SignalsChangedWarning(UserWarning):
    """A saved model was trained with other signal patterns than this library's.

    It still loads and scores, but its signal features now match differently from when it
    was trained and measured, so its scores can differ from its recorded metrics.
    """
