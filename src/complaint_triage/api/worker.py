"""The module uvicorn imports in a server process: ``complaint_triage.api.worker:create_app``.

``complaint-triage serve`` always starts a fresh uvicorn process with this factory path
(one worker or several).  Importing this module changes one thing before the app is built:
it keeps three optional libraries that nothing in the API uses out of the process:

- pandas (with pyarrow, about 60 MB), which scikit-learn imports whenever it is installed
  (``sklearn.utils.fixes``);
- dask and pytest (about 15 MB together), which scikit-learn's estimator discovery imports
  when skops builds its list of trusted scikit-learn types (it imports every scikit-learn
  module, among them an array-API shim for dask and the test helpers).

Putting ``None`` in ``sys.modules`` makes ``import pandas`` fail with ImportError, which those
imports treat as "not installed".

It also switches off what ``logging`` gathers for every record and the service's JSON lines
never show (the caller's file and line, thread, process and multiprocessing names), as the
"Optimization" section of Python's logging HOWTO describes: 3% of the app's own instructions
per scoring request (``bench/api_instructions.py``).

And it holds SIGHUP back until the app can reload (:func:`complaint_triage.api.reload_signal.hold`):
a SIGHUP that arrives while the model is still loading is recorded and acted on once it is
loaded, instead of killing the process.

These are process-wide side effects, so the module is meant only as a server entry point:
import :func:`complaint_triage.api.create_app` everywhere else (tests, embedding the app).
A library that was already imported when this module is imported is left alone.
"""

from __future__ import annotations

import logging
import sys

from complaint_triage.api import reload_signal

NOT_NEEDED = ("pandas", "dask", "pytest")

logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False
logging._srcfile = None  # no caller lookup (findCaller) per record

reload_signal.hold()

for _name in NOT_NEEDED:
    if _name not in sys.modules:
        sys.modules[_name] = None  # type: ignore[assignment]

from complaint_triage.api.app import create_app  # noqa: E402  (must follow the lines above)

__all__ = ["NOT_NEEDED", "create_app"]
