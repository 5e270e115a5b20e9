"""The restart back-off shared by the worker supervisor and the scoring-process relay."""

from __future__ import annotations

__all__ = ["MAX_BACKOFF_S", "backoff_s"]

#: Longest wait before the next start of something that keeps failing (doubling from 1 s).
MAX_BACKOFF_S = 30.0


def backoff_s(failures: int) -> float:
    """Seconds to wait before the next start after ``failures`` failures in a row: 1, 2, 4 … up
    to :data:`MAX_BACKOFF_S`."""
    return min(MAX_BACKOFF_S, 2.0 ** (failures - 1))
