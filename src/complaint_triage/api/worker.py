"""The module uvicorn imports in a server process: ``complaint_triage.api.worker:create_app``.

``complaint-triage serve`` always starts a fresh uvicorn process with this factory path
(one worker or several).  Importing this module changes one thing before the app is built:
it keeps pandas out of the process.  scikit-learn imports pandas opportunistically when it
is installed (``sklearn.utils.fixes``), but nothing the API runs needs it, and pandas with
pyarrow adds about 60 MB to every worker's memory.  Putting ``None`` in ``sys.modules``
makes ``import pandas`` fail with ImportError, which scikit-learn treats as "pandas is not
installed".

This is a process-wide side effect, so the module is meant only as a server entry point:
import :func:`complaint_triage.api.create_app` everywhere else (tests, embedding the app).
If pandas was already imported when this module is imported, nothing is changed.
"""

from __future__ import annotations

import sys

if "pandas" not in sys.modules:
    sys.modules["pandas"] = None  # type: ignore[assignment]

from complaint_triage.api.app import create_app  # noqa: E402  (must follow the line above)

__all__ = ["create_app"]
