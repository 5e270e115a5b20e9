"""The label contract: verdicts, the 7 harassment categories, actions and consistency rules.

This module is the single source of truth for every label used by the model, the corpus,
the CLI, the API and the notebooks (see docs/taxonomy.md).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum

from complaint_triage.exceptions import LabelError

__all__ = [
    "Verdict",
    "Category",
    "Action",
    "VERDICTS",
    "CATEGORIES",
    "ACTIONS",
    "CATEGORY_ACTIONS",
    "LABEL_SET_ID",
    "SCORE_NAMES",
    "action_for",
    "shown_value",
    "validate_labels",
    "YES_WORDS",
    "NO_WORDS",
]

#: How spreadsheets and staff write a yes/no label (the grievance flag), lower-cased: read the
#: same way by `complaint-triage evaluate` and by the corrections import.
YES_WORDS = frozenset({"true", "1", "yes", "y", "t", "はい", "○", "◯", "有"})
NO_WORDS = frozenset({"false", "0", "no", "n", "f", "いいえ", "×", "✕", "無"})


class Verdict(StrEnum):
    """One triage class per message."""

    HARASSMENT = "harassment"
    COMPLAINT = "complaint"
    INQUIRY = "inquiry"


class Category(StrEnum):
    """The policy's seven kinds of significant nuisance conduct (multi-label)."""

    VIOLENCE = "violence"
    THREAT = "threat"
    OTHER_ILLEGAL = "other_illegal"
    EXCESSIVE_DEMAND = "excessive_demand"
    ABUSIVE_LANGUAGE = "abusive_language"
    SNS_HARASSMENT = "sns_harassment"
    OTHER_IMPROPER = "other_improper"


class Action(StrEnum):
    """Recommended handling, ordered from mild to severe."""

    NORMAL_REPLY = "normal_reply"
    SUPERVISOR_REPORT = "supervisor_report"
    WARN_OR_END_CONTACT = "warn_or_end_contact"
    PRESERVE_ONLINE_EVIDENCE = "preserve_online_evidence"
    REMOVE_OR_BAN = "remove_or_ban"
    POLICE = "police"


VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)
#: Keys of the ``scores`` output object, and column order of a model's probability matrix.
SCORE_NAMES: tuple[str, ...] = (*VERDICTS, *CATEGORIES, "grievance")
ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)

#: Identifies the label set a model was trained for; stored in every manifest.
LABEL_SET_ID = "setagaya-2025-v1:" + ",".join(VERDICTS) + "|" + ",".join(CATEGORIES)

#: The action each category calls for (taxonomy table); any harassment at least reports.
CATEGORY_ACTIONS: dict[str, str] = {
    Category.VIOLENCE: Action.POLICE,
    Category.THREAT: Action.POLICE,
    Category.OTHER_ILLEGAL: Action.REMOVE_OR_BAN,
    Category.EXCESSIVE_DEMAND: Action.WARN_OR_END_CONTACT,
    Category.ABUSIVE_LANGUAGE: Action.WARN_OR_END_CONTACT,
    Category.SNS_HARASSMENT: Action.PRESERVE_ONLINE_EVIDENCE,
    Category.OTHER_IMPROPER: Action.WARN_OR_END_CONTACT,
}


def action_for(verdict: str, categories: Iterable[str], *, bodily_threat: bool = True) -> str:
    """Return the most severe recommended action for a verdict and its categories.

    The taxonomy calls the police for violence and for a threat *to life or body*.  With
    ``bodily_threat=False`` (the caller knows the threat is of another kind, such as posting a
    clerk's name to force a demand) ``threat`` calls for a report to the section head only, and
    the other categories decide.

    >>> action_for("complaint", [])
    'normal_reply'
    >>> action_for("harassment", ["abusive_language", "threat"])
    'police'
    >>> action_for("harassment", ["threat", "sns_harassment"], bodily_threat=False)
    'preserve_online_evidence'
    """
    if verdict != Verdict.HARASSMENT:
        return Action.NORMAL_REPLY.value
    best = ACTIONS.index(Action.SUPERVISOR_REPORT)
    for cat in categories:
        if cat not in CATEGORY_ACTIONS:
            raise LabelError(f"unknown category {cat!r}; expected one of {', '.join(CATEGORIES)}")
        action = Action.SUPERVISOR_REPORT if cat == Category.THREAT and not bodily_threat else CATEGORY_ACTIONS[cat]
        best = max(best, ACTIONS.index(action))
    return ACTIONS[best]


#: The shape of a label value an error may quote, when it is also near a known code (see
#: :func:`_near_code`): a short word in ASCII, not a sentence, a name in kanji, a phone number or an address.
_CODE_LIKE = re.compile(r"[a-z][a-z0-9_\-]{0,23}")

#: The codes a label value is compared with: a value near one is a mistyped code.
_KNOWN_CODES: tuple[str, ...] = (*VERDICTS, *CATEGORIES, *ACTIONS)


def _near_code(value: str) -> bool:
    """Whether ``value`` is a code typed otherwise: the same but for case, width and spacing
    (``Complaint``, ``abusive language``), or a lower-case word close to one (``complain``,
    ``threats``, ``abusive-language``).  Never a name (``Tanaka``, ``yamada-taro``), a sentence or
    a number, which may be personal data."""
    key = re.sub(r"[\s\-]+", "_", unicodedata.normalize("NFKC", value).strip().lower())
    if key in _KNOWN_CODES:
        return True
    # (0.75: a typo or a plural of a code; no romanised name of the usual ones comes near one)
    return _CODE_LIKE.fullmatch(value) is not None and bool(difflib.get_close_matches(value, _KNOWN_CODES, 1, 0.75))

#: How many items of a list :func:`shown_value` shows before "…".
_SHOWN_ITEMS = 8


def shown_value(value: object) -> str:
    """A value from a labelled file as an error message may show it: a mistyped code (close to a
    verdict, category or action code: :func:`_near_code`), a bool or None as written, anything else
    by its kind and length only (a column shifted in a spreadsheet puts a resident's message,
    name or phone number in the label's place, and error lines end up in job logs).

    >>> shown_value("complain"), shown_value("Tanaka"), shown_value("山田花子 090-1234-5678")
    ("'complain'", '(a text of 6 characters)', '(a text of 18 characters)')
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        if _near_code(value):
            return repr(value)
        if not value:
            return "(an empty text)"
        return f"(a text of {len(value):,} character{'s' if len(value) > 1 else ''})"
    if isinstance(value, int | float):
        return "(a number)"
    if isinstance(value, list | tuple):
        items = [shown_value(v) for v in value[:_SHOWN_ITEMS]]
        return "[" + ", ".join(items + (["…"] if len(value) > _SHOWN_ITEMS else [])) + "]"
    if isinstance(value, dict):
        return f"(an object of {len(value):,} field{'s' if len(value) != 1 else ''})"
    return f"(a {type(value).__name__})"


def validate_labels(verdict: object, categories: object, grievance: object) -> None:
    """Check one message's labels against the contract; raise :class:`LabelError` if broken.

    Rules: verdict is one of :data:`VERDICTS`; categories are known codes without repeats
    and non-empty exactly when the verdict is harassment; grievance is a bool, true for
    every complaint and false for every inquiry.  A message shows a value only as
    :func:`shown_value` does (never a text that may be a message or personal data).
    """
    if verdict is None or (isinstance(verdict, str) and not verdict.strip()):
        raise LabelError(f"the verdict is missing; give one of {', '.join(VERDICTS)}")
    if verdict not in VERDICTS:
        raise LabelError(f"verdict {shown_value(verdict)} is not one of {', '.join(VERDICTS)}")
    if not isinstance(categories, list | tuple) or any(c not in CATEGORIES for c in categories):
        raise LabelError(f"categories {shown_value(categories)} must be a list of: {', '.join(CATEGORIES)}")
    if len(set(categories)) != len(categories):
        raise LabelError(f"categories {shown_value(categories)} contain a repeat")
    if verdict == Verdict.HARASSMENT and not categories:
        raise LabelError("a harassment verdict needs at least one category")
    if verdict != Verdict.HARASSMENT and categories:
        raise LabelError(f"categories must be empty for verdict {verdict!r}")
    if not isinstance(grievance, bool):
        raise LabelError(f"grievance must be true or false, got {shown_value(grievance)}")
    if verdict == Verdict.COMPLAINT and not grievance:
        raise LabelError("grievance must be true for a complaint")
    if verdict == Verdict.INQUIRY and grievance:
        raise LabelError("grievance must be false for an inquiry")
