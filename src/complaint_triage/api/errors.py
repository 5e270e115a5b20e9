"""Validation errors as the API answers them: which schema field, and what was wrong with it,
never a name that only the request contains.

The names a request makes up can be personal data: a web-form backend that forwards a field
the schema does not have (``"hanako.yamada@example.jp": …``), or a caller who puts a person in
a ``metadata`` key (``"山田花子 090-1234-5678": …``).  pydantic's error locations repeat them,
and error bodies are what gateways and clients log.  So a location keeps the schema's own field
names, list positions and pydantic's markers, and anything else is replaced by what it is:
``(an unexpected field)``, ``(a metadata key)``, or ``(a name)`` where the schema is not known.
The message still says which field, what limit and how many: ``body: 2 unexpected fields …
(accepted: text, channel, id, metadata)``, ``body.metadata.(a metadata key).[key]: String
should have at most 64 characters``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

__all__ = [
    "A_NAME",
    "UNEXPECTED_FIELD",
    "body_model",
    "key_of",
    "safe_details",
    "safe_loc",
    "schema_names",
    "validation_summary",
]

#: What an unknown field's name is replaced by in an error location.
UNEXPECTED_FIELD = "(an unexpected field)"
#: What any other name that is not the schema's is replaced by (where the schema is not known).
A_NAME = "(a name)"
#: Markers pydantic puts after a mapping key: the key itself, or the member of a union the value
#: was tried as (``MetaValue`` of schemas.py).  Only these are kept after a key.
_AFTER_KEY = frozenset({"[key]", "constrained-str", "str", "int", "float", "bool", "none"})
#: Where a request's part comes from (``loc[0]`` of FastAPI's errors).
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def key_of(field: str) -> str:
    """What a key of the mapping field ``field`` is replaced by: ``(a metadata key)``."""
    return f"(a {field} key)"


def _args(annotation: Any) -> tuple[Any, ...]:
    """The types inside ``annotation`` (``X | None``, ``list[X]``, ``Annotated[X, …]``), itself included."""
    out: list[Any] = []
    todo = [annotation]
    while todo:
        a = todo.pop()
        out.append(a)
        origin = typing.get_origin(a)
        if origin is typing.Annotated:
            todo.append(typing.get_args(a)[0])
        elif origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
            todo.extend(typing.get_args(a))
    return tuple(out)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (alone, optional or in a list), else None."""
    return next((a for a in _args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _is_mapping(annotation: Any) -> bool:
    """Whether a field holds a mapping (its keys are the caller's names)."""
    return any(typing.get_origin(a) in (dict, Mapping) or a is dict for a in _args(annotation))


def _field(model: type[BaseModel], name: str) -> Any:
    """The field of ``model`` called ``name`` (or aliased so), else None."""
    fields = model.model_fields
    if name in fields:
        return fields[name]
    return next((f for f in fields.values() if f.alias == name), None)


def body_model(route: Any) -> type[BaseModel] | None:
    """The model of a FastAPI route's JSON body (what its 422 locations after ``body`` name), else None."""
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    return None if annotation is None else _model_in(annotation)


def schema_names(model: type[BaseModel] | None) -> frozenset[str]:
    """Every field name (and alias) of ``model`` and of the models inside it."""
    names: set[str] = set()
    todo = [model] if model is not None else []
    seen: set[type[BaseModel]] = set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for name, f in m.model_fields.items():
            names.add(name)
            if f.alias:
                names.add(f.alias)
            inner = _model_in(f.annotation)
            if inner is not None:
                todo.append(inner)
    return frozenset(names)


def _walk(loc: Sequence[str | int], error_type: str, model: type[BaseModel] | None
          ) -> tuple[list[str | int], type[BaseModel] | None]:
    """:func:`safe_loc`, and the model the last name is a field of (None when unknown)."""
    loc = [x if isinstance(x, int) else str(x) for x in loc]  # (pydantic's parts: names and list positions)
    out: list[str | int] = []
    current = model  # the model whose fields the next name may be
    parent: type[BaseModel] | None = None
    mapping: str | None = None  # the mapping field whose key comes next
    after_key = False
    start = 1 if loc and loc[0] in _SOURCES else 0
    out.extend(loc[:start])
    last = len(loc) - 1
    for i in range(start, len(loc)):
        part = loc[i]
        if isinstance(part, int):  # a position in a list: the list's model goes on
            out.append(part)
            continue
        parent = current
        if mapping is not None:  # the caller's own key
            out.append(key_of(mapping))
            mapping, current, after_key = None, None, True
            continue
        if after_key:
            out.append(part if part in _AFTER_KEY else A_NAME)
            continue
        if error_type == "extra_forbidden" and i == last:
            out.append(UNEXPECTED_FIELD)
            continue
        field = _field(current, part) if current is not None else None
        if field is None:
            out.append(A_NAME)
            current = None
            continue
        out.append(part)
        if _is_mapping(field.annotation):
            mapping, current = part, None
        else:
            current = _model_in(field.annotation)
    return out, parent


def safe_loc(loc: Sequence[str | int], error_type: str, model: type[BaseModel] | None) -> list[str | int]:
    """``loc`` of a pydantic error of type ``error_type``, validated against ``model``, with every
    name that is not one of the schema's replaced by what it is (see the module docstring).

    >>> from complaint_triage.api.schemas import ScoreRequest
    >>> safe_loc(("body", "hanako@example.jp"), "extra_forbidden", ScoreRequest)
    ['body', '(an unexpected field)']
    >>> safe_loc(("body", "metadata", "山田花子", "[key]"), "string_too_long", ScoreRequest)
    ['body', 'metadata', '(a metadata key)', '[key]']
    """
    return _walk(loc, error_type, model)[0]


def safe_details(errors: Iterable[Mapping[str, Any]], model: type[BaseModel] | None,
                 limit: int = 20) -> list[dict[str, Any]]:
    """The ``details`` of a 422 answer: location (:func:`safe_loc`), message and type of each error,
    never the input (it may be message text) nor a name of the request's own."""
    out = []
    for e in list(errors)[:limit]:
        out.append({"loc": safe_loc(e.get("loc", ()), str(e.get("type", "")), model), "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out


def validation_summary(errors: Iterable[Mapping[str, Any]], model: type[BaseModel] | None, limit: int = 5) -> str:
    """One line for a list of pydantic errors: ``loc: msg`` each (locations as :func:`safe_loc`
    gives them); the unexpected fields of one object counted together, with the fields it accepts;
    a repeated part counted; at most ``limit`` parts, then how many more."""
    parts: dict[str, int] = {}  # what is said -> how many errors say it
    unexpected: dict[str, str] = {}  # (the part of an object's unexpected fields) -> the fields it accepts
    for e in errors:
        etype = str(e.get("type", ""))
        loc, parent = _walk(e.get("loc", ()), etype, model)
        if etype == "extra_forbidden" and loc and loc[-1] == UNEXPECTED_FIELD:
            key = ".".join(str(x) for x in loc[:-1])
            unexpected[key] = ", ".join(parent.model_fields) if parent is not None else ""
        else:
            where = ".".join(str(x) for x in loc)
            key = f"{where}: {e.get('msg', '')}" if where else str(e.get("msg", ""))
        parts[key] = parts.get(key, 0) + 1
    shown = []
    for key, n in list(parts.items())[:limit]:
        if key in unexpected:
            what = ("an unexpected field (its name is not repeated" if n == 1
                    else f"{n} unexpected fields (their names are not repeated")
            what += f"; accepted: {unexpected[key]})" if unexpected[key] else ")"
            shown.append(f"{key}: {what}" if key else what)
        else:
            shown.append(key + (f" ({n} times)" if n > 1 else ""))
    text = "; ".join(shown)
    if len(parts) > limit:
        text += f"; and {len(parts) - limit} more"
    return text
