"""API-key authentication: ``Authorization: Bearer <key>`` checked against SHA-256 digests.

Only digests are configured (``COMPLAINT_TRIAGE_API_KEYS_SHA256``), so a leaked settings
file does not leak a usable key.  The digest of the presented key is compared with every
configured digest with :func:`hmac.compare_digest`, and every failure gets the same 401
answer, which says nothing about which keys exist.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from complaint_triage.api.deps import ApiError, SettingsDep

__all__ = ["UnauthorizedError", "key_digest", "key_matches", "require_admin_key", "require_api_key"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key issued by the office: `Authorization: Bearer <key>`.",
)


class UnauthorizedError(ApiError):
    """401 with a generic message."""

    def __init__(self) -> None:
        super().__init__(401, "unauthorized", "missing or invalid API key", {"WWW-Authenticate": "Bearer"})


def key_digest(key: str) -> str:
    """Hex SHA-256 of a key, as configured in ``api_keys_sha256``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(key: str, digests: Iterable[str]) -> bool:
    """Whether ``key`` hashes to one of ``digests`` (compares against all of them, in constant time each)."""
    presented = key_digest(key).encode("ascii")
    found = False
    for d in digests:
        found |= hmac.compare_digest(presented, d.encode("ascii"))
    return found


def _check(credentials: HTTPAuthorizationCredentials | None, digests: Iterable[str]) -> None:
    if credentials is None or not credentials.credentials or not key_matches(credentials.credentials, digests):
        raise UnauthorizedError()


async def require_api_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency of every /v1 route: a valid API key (or an admin key) is required."""
    _check(credentials, [*settings.api_keys_sha256, *settings.admin_keys_sha256])


async def require_admin_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency for administrative routes: an admin key is required."""
    _check(credentials, settings.admin_keys_sha256)
