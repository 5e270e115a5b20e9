"""Scoring routes: one message, a batch, a raw e-mail, a web-form submission."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import TypeAdapter, ValidationError

from complaint_triage.api.deps import ApiError, ApiJSONResponse, Scorer, app_scorer, record_verdicts
from complaint_triage.api.errors import validation_summary
from complaint_triage.api.schemas import (
    EXAMPLE_EMAIL,
    EXAMPLE_TEXTS,
    BatchRequest,
    BatchResponse,
    EmailResponse,
    ErrorResponse,
    FormRequest,
    FormResponse,
    ScoreRequest,
    ScoreResult,
)
from complaint_triage.api.security import KeyedRoute
from complaint_triage.email import LOCAL_KEEPS_FIRST_FROM, ParsedEmail, parse_email
from complaint_triage.exceptions import InvalidTextError
from complaint_triage.results import Prediction, ScoringError, check_text, has_visible

__all__ = ["router", "EMAIL_MEDIA_TYPES", "compose_form_text", "mask_contact"]

# Every route needs an API key, and the JSON routes a JSON Content-Type (KeyedRoute). The
# handlers take the scorer and settings from the app (``app_scorer``) rather than through
# FastAPI dependencies: these are the hot routes, and each solved dependency costs time on
# every request (see complaint_triage.api.security).
router = APIRouter(prefix="/v1/score", tags=["score"], route_class=KeyedRoute)

#: Media types accepted by /v1/score/email (the first is the one to use).
EMAIL_MEDIA_TYPES = ("message/rfc822", "application/octet-stream", "text/plain")

_ITEM = TypeAdapter(ScoreRequest)


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("The body is not valid JSON or not valid UTF-8."),
    401: _err("Missing or invalid API key."),
    413: _err("The request body is larger than max_body_bytes."),
    415: _err("The Content-Type is not application/json."),
    422: _err("The body does not match the schema, or the text is empty or longer than max_text_chars."),
    503: _err("The service is at its concurrency limit (see Retry-After) or the model is not loaded."),
}


def _check_text(text: str, max_chars: int, what: str = "text") -> None:
    """422 (``text_too_long`` or ``invalid_text``) unless ``text`` can be scored."""
    try:
        check_text(text, max_chars)
    except InvalidTextError as e:
        code = "text_too_long" if len(text) > max_chars else "invalid_text"
        raise ApiError(422, code, str(e) if what == "text" else f"{what}: {e}") from e


def _result(pred: Prediction, id_: str | None) -> dict[str, Any]:
    return {"id": id_, **pred.to_dict()}


async def _score_one(scorer: Scorer, text: str, *, what: str = "text") -> Prediction:
    _check_text(text, scorer.max_chars, what)
    async with scorer.admit() as slot:
        [res] = await slot.score([text])
    if isinstance(res, ScoringError):  # pragma: no cover - check_text above refuses what score_many would
        raise ApiError(422, "invalid_text", res.error)
    return res


@router.post(
    "",
    response_model=ScoreResult,
    responses=_COMMON_ERRORS,
    summary="Score one message",
    description="Triage one message: harassment / complaint / inquiry, categories, grievance, scores, "
    "evidence spans and the recommended action. 例: 「今日中に折り返さないなら区役所まで行くからな」",
)
async def score_message(
    request: Request,
    req: Annotated[ScoreRequest, Body(openapi_examples={
        "harassment": {"summary": "脅迫・暴言を含むメール", "value": {"text": EXAMPLE_TEXTS["harassment"],
                                                                     "channel": "email", "id": "msg-2026-000123"}},
        "complaint": {"summary": "正当な苦情", "value": {"text": EXAMPLE_TEXTS["complaint"], "channel": "web_form"}},
        "inquiry": {"summary": "問い合わせ", "value": {"text": EXAMPLE_TEXTS["inquiry"]}},
    })],
) -> ApiJSONResponse:
    pred = await _score_one(app_scorer(request), req.text)
    record_verdicts(request, [pred.verdict])
    return ApiJSONResponse(_result(pred, req.id))


@router.post(
    "/batch",
    response_model=BatchResponse,
    responses=_COMMON_ERRORS,
    summary="Score many messages",
    description="Score up to max_batch_items messages (256 by default) in one call. Results come back in request "
    "order; an item that is invalid (wrong type, empty, too long) yields an error entry at its index and the "
    "other items are still scored.",
)
async def score_batch(
    request: Request,
    req: Annotated[BatchRequest, Body(openapi_examples={
        "mixed": {"summary": "苦情・ハラスメント・空の3件", "value": {"items": [
            {"text": EXAMPLE_TEXTS["complaint"], "id": "1"},
            {"text": EXAMPLE_TEXTS["harassment"], "id": "2", "channel": "web_form"},
            {"text": "   ", "id": "3"},
        ]}},
    })],
) -> ApiJSONResponse:
    scorer, settings = app_scorer(request), request.app.state.settings
    n = len(req.items)
    if n > settings.max_batch_items:
        raise ApiError(422, "batch_too_large", f"the batch has {n} items, over the limit of "
                       f"{settings.max_batch_items} (max_batch_items); split it into smaller batches")
    entries: list[dict[str, Any]] = [{}] * n
    ids: list[str | None] = [None] * n
    texts: list[object] = []
    where: list[int] = []
    for i, raw in enumerate(req.items):
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and len(raw["id"]) <= 128:
            ids[i] = raw["id"]
        try:
            item = _ITEM.validate_python(raw)
        except ValidationError as e:
            entries[i] = {"index": i, "id": ids[i], "error": _item_message(e), "model_version": scorer.version}
            continue
        texts.append(item.text)
        where.append(i)
    scored: list[Prediction | ScoringError] = []
    if texts:
        async with scorer.admit() as slot:
            scored = await slot.score(texts, with_evidence=req.evidence)
    verdicts: list[str] = []
    for i, res in zip(where, scored, strict=True):
        if isinstance(res, ScoringError):
            entries[i] = {"index": i, "id": ids[i], "error": res.error, "model_version": scorer.version}
        else:
            verdicts.append(res.verdict)
            entries[i] = {"index": i, **_result(res, ids[i])}
    n_errors = n - len(verdicts)
    record_verdicts(request, verdicts, errors=n_errors)
    return ApiJSONResponse({"model_version": scorer.version, "results": entries, "n_errors": n_errors})


def _item_message(e: ValidationError) -> str:
    """Why an item was not scored, naming no field or key of the item's own (api.errors)."""
    errors = e.errors(include_url=False, include_input=False)
    if any(not err["loc"] for err in errors):
        return "invalid item: an item must be an object with a \"text\" string"
    return "invalid item: " + validation_summary(errors, ScoreRequest)


@router.post(
    "/email",
    response_model=EmailResponse,
    responses={**_COMMON_ERRORS,
               400: _err("The body is empty."),
               415: _err("The Content-Type is not message/rfc822."),
               422: _err("The body is not an e-mail, or it has no new text to score after removing quotes "
                         "and signatures, or no text part it could read, or the text is longer than max_text_chars.")},
    summary="Score a raw e-mail",
    description="Send the message exactly as the mail gateway received it (RFC 5322 bytes, any Japanese charset) "
    "with `Content-Type: message/rfc822`. Quoted earlier replies (`>` lines, and lines quoted by hand with 「＞」 or "
    "「≫」 in a quote's setting), their header lines (「…のメール:」, 「…さんは書きました：」, \"On … wrote:\") and "
    "signatures are removed before scoring and reported in `email.stripped`; attachments are listed, not scored. "
    "Addresses and phone numbers in the answer are masked (a local part keeps its first character only when it has "
    "three or more: `t***@example.jp`, `***@example.jp`); in `email.body` every masked "
    "character is replaced one for one, so evidence `start`/`end` index `email.body` and evidence `text` is "
    "`email.body[start:end]`, masked the same way. A body that could not be decoded as declared (corrupt base64, "
    "bytes its charset rejects) is scored with `review` true, and `email.defects` says why (`UndecodedText`).",
    openapi_extra={"requestBody": {"required": True, "content": {
        "message/rfc822": {"schema": {"type": "string", "format": "binary"},
                           "examples": {"reply": {"summary": "引用つきの返信メール", "value": EXAMPLE_EMAIL}}},
    }}},
)
async def score_email(request: Request) -> ApiJSONResponse:
    scorer = app_scorer(request)
    ctype = request.headers.get("content-type", "")
    mime = ctype.split(";", 1)[0].strip().lower()
    if mime not in EMAIL_MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type", f"Content-Type {mime or '(missing)'} is not supported; send "
                       "the raw message as the request body with Content-Type: message/rfc822")
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "empty_body", "the request body is empty; send the raw e-mail message (RFC 5322)")
    async with scorer.admit() as slot:
        parsed, email = await slot.call(_parse_and_mask, raw)  # EmailParseError -> 422
        body = parsed.body
        empty = parsed.empty_reason()
        if empty is not None:
            raise ApiError(422, "empty_email_body", empty)
        _check_text(body, scorer.max_chars, "e-mail body")
        [res] = await slot.score([body])
    if isinstance(res, ScoringError):  # pragma: no cover - check_text above refuses what score_many would
        raise ApiError(422, "invalid_text", res.error)
    record_verdicts(request, [res.verdict])
    result = _result(res, None)
    if parsed.text_in_doubt:  # the body was not decoded as declared: email.defects says why (UndecodedText …)
        result["review"] = True
    masked = email["body"]
    result["evidence"] = [{**e, "text": masked[e["start"] : e["end"]]} for e in result["evidence"]]
    return ApiJSONResponse({"email": email, "result": result})


def _parse_and_mask(raw: bytes) -> tuple[ParsedEmail, dict[str, Any]]:
    """Parse an e-mail and mask the parts the answer returns (``full_text`` is not returned).

    Run on a scoring thread: both take time in proportion to the message, which must not
    hold up the event loop.  The body is masked one character for one, so it has the
    offsets of ``parsed.body`` (the scored text) and evidence spans index it.
    """
    parsed = parse_email(raw)
    return parsed, parsed.to_dict(mask_contacts=True, include_full_text=False)


_SUBJECT_HEAD = "件名："
_BODY_HEAD = "\n内容："


def compose_form_text(subject: str | None, body: str, max_chars: int | None = None) -> tuple[str, int]:
    """The text scored for a form and the offset of the body in it.

    ``件名：…\n内容：…`` as web forms arrive; the body alone when there is no subject.
    The limit on a form applies to the characters the client sent (subject + body), so
    when the labels would take the text over ``max_chars`` they are left out and the
    subject and body are joined by a line break (by nothing, if even that is one too many).
    """
    text, _subj_at, body_at = _compose_form(subject, body, max_chars)
    return text, body_at


def _compose_form(subject: str | None, body: str, max_chars: int | None) -> tuple[str, int, int]:
    """``(text, subject offset, body offset)``; the body offset is 0 when there is no subject."""
    if not (subject and subject.strip()):
        return body, 0, 0
    n = len(subject) + len(body)
    if max_chars is None or n + len(_SUBJECT_HEAD) + len(_BODY_HEAD) <= max_chars:
        head = f"{_SUBJECT_HEAD}{subject}{_BODY_HEAD}"
        return head + body, len(_SUBJECT_HEAD), len(head)
    sep = "\n" if n < max_chars else ""
    return subject + sep + body, 0, len(subject) + len(sep)


def _form_chars(subject: str | None, body: str) -> int:
    """Characters of the form that are scored: the body, and the subject when it is not blank."""
    return len(body) + (len(subject) if subject and subject.strip() else 0)


def _form_evidence(ev: list[dict[str, Any]], subject: str | None, subj_at: int, body_at: int) -> list[dict[str, Any]]:
    """Re-base evidence offsets onto the form field (subject or body) each span overlaps most."""
    subj = subject or ""
    fields = [("subject", subj_at, subj_at + len(subj))] if body_at else []
    fields.append(("body", body_at, 1 << 62))
    out = []
    for e in ev:
        s, t = e["start"], e["end"]
        name, lo, hi = max(fields, key=lambda f: min(t, f[2]) - max(s, f[1]))
        a, b = max(s, lo), min(t, hi)
        if a >= b:
            continue
        if (a, b) == (s, t):
            out.append({**e, "start": a - lo, "end": b - lo, "field": name})
        else:  # clipped at the subject/body seam: cut the text to match
            out.append({**e, "start": a - lo, "end": b - lo, "text": e["text"][a - s : b - s], "field": name})
    return out


def mask_contact(value: str, kind: str) -> str:
    """Mask a contact field whatever its shape.

    ``taro@example.jp`` → ``t***@example.jp`` (a local part of one or two characters: ``***@example.jp``);
    ``090-1234-5678`` → ``0**-****-****`` (a number of fewer than six digits loses its first one
    too); a name, or anything else, keeps only its spaces: ``世田谷 花子`` → ``*** **``.  A single
    kanji is a whole surname (林, 森), so no character of a name survives.
    """
    value = value.strip()
    if kind == "email" and value.count("@") == 1 and value.index("@") > 0:
        local, domain = value.split("@")
        return f"{local[0] if len(local) >= LOCAL_KEEPS_FIRST_FROM else ''}***@{domain}"
    if kind == "phone":
        keep_first = sum(c.isalnum() for c in value) >= 6
        return "".join(c if ((i == 0 and keep_first) or not c.isalnum()) else "*" for i, c in enumerate(value))
    return "".join(c if c.isspace() else "*" for c in value)


@router.post(
    "/form",
    response_model=FormResponse,
    responses=_COMMON_ERRORS,
    summary="Score a web-form submission",
    description="Score the subject and body of a web-form submission. Contact fields (name, email, phone) are "
    "never scored, logged nor echoed unmasked; the answer carries masked copies so the caller can check what "
    "was received. Evidence offsets refer to the field named in `evidence[].field`.",
)
async def score_form(
    request: Request,
    form: Annotated[FormRequest, Body(openapi_examples={
        "complaint": {"summary": "保育園の入園結果への苦情", "value": {
            "subject": "保育園の入園結果について",
            "body": "三回目の不承諾通知が届きました。点数の計算方法をホームページに載せてください。",
            "category": "子ども・子育て", "name": "北沢 みどり", "email": "midori.kitazawa@example.jp",
            "phone": "090-1234-5678"}},
        "abuse": {"summary": "暴言を含む投稿",
                  "value": {"body": "税金泥棒ども全員やめちまえ。担当者の名前をSNSにさらしてやる。"}},
    })],
) -> ApiJSONResponse:
    if not has_visible(form.body):  # (else the subject alone would be scored as the message)
        raise ApiError(422, "invalid_text", "body has no visible character (only control, zero-width or other "
                       "invisible characters); nothing to score" if form.body.strip()
                       else "body is empty or whitespace only; nothing to score")
    scorer = app_scorer(request)
    n = _form_chars(form.subject, form.body)
    if n > scorer.max_chars:
        raise ApiError(422, "text_too_long", f"subject and body have {n:,} characters together, over the limit of "
                       f"{scorer.max_chars:,}; shorten the message or split it")
    text, subj_at, body_at = _compose_form(form.subject, form.body, scorer.max_chars)
    pred = await _score_one(scorer, text, what="subject and body")
    record_verdicts(request, [pred.verdict])
    result = _result(pred, form.id)
    result["evidence"] = _form_evidence(result["evidence"], form.subject, subj_at, body_at)
    contact = {k: mask_contact(v, k) if v else None for k, v in
               (("name", form.name), ("email", form.email), ("phone", form.phone))}
    return ApiJSONResponse({"result": result, "category": form.category, "contact": contact})

