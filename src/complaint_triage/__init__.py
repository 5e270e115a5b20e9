"""complaint-triage: separate legitimate complaints from customer harassment of staff.

Reads Japanese messages sent to a ward office and gives each a verdict (harassment /
complaint / inquiry), the harassment categories of the Setagaya policy, a grievance flag,
calibrated scores, evidence spans and a recommended action.

>>> from complaint_triage import load_triager  # doctest: +SKIP
>>> load_triager().score("ゴミが3回も回収されていません。対応してください。").verdict  # doctest: +SKIP
'complaint'
"""

from importlib.metadata import PackageNotFoundError, version

from complaint_triage.exceptions import ComplaintTriageError, InvalidTextError
from complaint_triage.labels import Action, Category, Verdict
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


def load_triager(path: str | None = None) -> Triager:
    """Load a model directory (default: the shipped, promoted model) ready to score."""
    return Triager.load(path)
