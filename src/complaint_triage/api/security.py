"""API-key authentication: ``Authorization: Bearer <key>`` checked against SHA-256 digests.

Only digests are configured (``COMPLAINT_TRIAGE_API_KEYS_SHA256``), so a leaked settings
file does not leak a usable key.  The digest of the presented key is compared with every
configured digest with :func:`hmac.compare_digest`, and every failure gets the same 401
answer, which says nothing about which keys exist.

Routers whose routes need a key are built with ``route_class=KeyedRoute`` (or
:class:`AdminRoute`).  The route checks the key, and for routes with a JSON body the
``Content-Type``, before FastAPI reads the body.  These are plain calls in the route's
handler, not FastAPI dependencies: solving the five dependencies they replace cost about
400,000 CPU instructions per scoring request, a quarter of the app's own work on it
(``bench/api_instructions.py``; docs/benchmarks.md, session 9).  The OpenAPI document still
declares the ``ApiKey`` bearer scheme on every keyed operation (:data:`SECURITY_SCHEME`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.routing import APIRoute

from complaint_triage.api.deps import ApiError
from complaint_triage.api.errors import body_model, schema_names
from complaint_triage.io import NotPlainJSONError, loads_strict

__all__ = [
    "SECURITY_SCHEME",
    "SECURITY_SCHEME_NAME",
    "AdminRoute",
    "KeyedRoute",
    "UnauthorizedError",
    "bearer_key",
    "check_json_content_type",
    "key_digest",
    "key_matches",
]

SECURITY_SCHEME_NAME = "ApiKey"
#: The OpenAPI security scheme of keyed routes (``components.securitySchemes.ApiKey``).
SECURITY_SCHEME: dict[str, str] = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key issued by the office: `Authorization: Bearer <key>`.",
}


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


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header (scheme case-insensitive), else None."""
    if not authorization:
        return None
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if not key or scheme.lower() != "bearer":
        return None
    return key


def check_json_content_type(content_type: str | None) -> None:
    """415 unless the request declares a JSON body (checked before the body is validated)."""
    if content_type is None:
        raise ApiError(415, "unsupported_media_type", "missing Content-Type; send the body as application/json")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime != "application/json" and not (mime.startswith("application/") and mime.endswith("+json")):
        raise ApiError(415, "unsupported_media_type", f"Content-Type {mime or '(empty)'} is not supported; "
                       "send the body as application/json")


class StrictJSONRequest(Request):
    """A request whose JSON body is refused (400 ``invalid_json``) when it holds ``NaN``,
    ``Infinity``, a number beyond a float's range or a field named twice in one object.

    Python's ``json`` reads those, and then ``{"text": "…", "text": "…"}`` would be scored on
    the second text without a word.  Other faults (not JSON, not UTF-8) are left to FastAPI's
    own parsing, which answers them as before.
    """

    async def check_json(self, schema: frozenset[str] = frozenset()) -> None:
        """Read the body as strict JSON; ``schema``: the field names a message may repeat (a name
        given twice that is not one of them is not: it may be an address or a person's name)."""
        body = await self.body()
        if not body:
            return
        try:
            self._strict_json = loads_strict(body)
        except NotPlainJSONError as e:
            reason = str(e)
            if e.key is not None and e.key not in schema:
                reason = ("a field or key that is not one of the schema's fields (its name is not repeated) appears "
                          "twice in one object; keep one")
            raise ApiError(400, "invalid_json", f"the request body is not plain JSON: {reason}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):  # (answered by FastAPI's parsing, with its position)
            pass
        except RecursionError:
            raise ApiError(400, "invalid_json", "the request body's JSON nests arrays or objects too deeply to "
                           "read (about a thousand levels); send flatter metadata") from None
        except ValueError:  # an integer of more than 4,300 digits (Python's limit on reading them)
            raise ApiError(400, "invalid_json", "the request body holds a number too long to read (more than "
                           "4,300 digits); send it as a string") from None

    async def json(self) -> Any:
        if hasattr(self, "_strict_json"):
            return self._strict_json
        return await super().json()


class KeyedRoute(APIRoute):
    """A route that needs an API key (or an admin key); JSON-body routes also need a JSON ``Content-Type``.

    Both checks run, in that order, before FastAPI parses the request: a request without a
    valid key gets 401 whatever its body.  The accepted digests are read from the app's
    settings on every request.
    """

    admin_only: ClassVar[bool] = False

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        extra.setdefault("security", [{SECURITY_SCHEME_NAME: []}])
        super().__init__(path, endpoint, openapi_extra=extra, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        admin_only = self.admin_only
        json_body = self.body_field is not None
        schema = schema_names(body_model(self)) if json_body else frozenset()

        async def keyed(request: Request) -> Response:
            settings = request.app.state.settings
            digests: Sequence[str] = settings.admin_keys_sha256 if admin_only else (
                *settings.api_keys_sha256, *settings.admin_keys_sha256)
            key = bearer_key(request.headers.get("authorization"))
            if key is None or not key_matches(key, digests):
                raise UnauthorizedError()
            if json_body:
                check_json_content_type(request.headers.get("content-type"))
                request = StrictJSONRequest(request.scope, request.receive)
                await request.check_json(schema)
            return await handler(request)

        return keyed


class AdminRoute(KeyedRoute):
    """A route that needs an administrator key."""

    admin_only = True
