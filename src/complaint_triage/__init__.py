"""complaint-triage: separate legitimate complaints from customer harassment of staff.

Reads Japanese messages sent to a ward office and gives each a verdict (harassment /
complaint / inquiry), the harassment categories of the Setagaya policy, a grievance flag,
calibrated scores, evidence spans and a recommended action.

>>> from complaint_triage import load_triager  # doctest: +SKIP
>>> load_triager().score("ゴミが3回も回収されていません。対応してください。").verdict  # doctest: +SKIP
'complaint'
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from complaint_triage.exceptions import ComplaintTriageError, InvalidTextError
from complaint_triage.labels import Action, Category, Verdict

if TYPE_CHECKING:
    from complaint_triage.scoring import Prediction, ScoringError, Triager

try:
    __version__ = version("complaint-triage")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Action",
    "Category",
    "ComplaintTriageError",
    "InvalidTextError",
    "Prediction",
    "ScoringError",
    "Triager",
    "Verdict",
    "load_triager",
    "__version__",
]


# The scoring names pull in scikit-learn and MeCab; they are imported on first use, so that
# importing the package (or a light module such as ``complaint_triage.labels``) stays cheap
# and leaves the choice of what to load to the caller (see ``complaint_triage.api.worker``).
_LAZY = {"Prediction", "ScoringError", "Triager"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from complaint_triage import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 'complaint_triage' has no attribute {name!r}")


def load_triager(path: str | None = None) -> Triager:
    """Load a model directory (default: the shipped, promoted model) ready to score."""
    from complaint_triage.scoring import Triager

    return Triager.load(path)
