"""HTTP API for real-time scoring (FastAPI): ``create_app`` builds it, ``serve`` runs it."""

from complaint_triage.api.app import create_app

__all__ = ["create_app"]
