"""HTTP API for real-time scoring (FastAPI): ``create_app`` builds it, ``serve`` runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from complaint_triage.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that ``complaint_triage.api.worker`` runs before the app's
    # libraries are loaded.
    if name == "create_app":
        from complaint_triage.api.app import create_app

        return create_app
    raise AttributeError(f"module 'complaint_triage.api' has no attribute {name!r}")
