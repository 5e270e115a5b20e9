"""Request and response models of the HTTP API, with limits and Japanese examples.

Limits that depend on the settings (text length, batch size) are enforced by the route
handlers from :class:`~complaint_triage.settings.Settings` and written into the OpenAPI
document by ``create_app``; the limits that never change live here.

Handlers answer with plain JSON built by :meth:`complaint_triage.scoring.Prediction.to_dict`
(the same object ``complaint-triage score`` writes); the response models below document
that object, and the API tests check every response against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from complaint_triage.labels import Action, Category, Verdict

__all__ = [
    "CHANNELS",
    "BatchItemError",
    "BatchItemResult",
    "BatchRequest",
    "BatchResponse",
    "ContactOut",
    "EmailOut",
    "EmailResponse",
    "ErrorDetail",
    "ErrorResponse",
    "Evidence",
    "FormRequest",
    "FormResponse",
    "Health",
    "Limits",
    "ModelInfo",
    "Readiness",
    "ScoreRequest",
    "ScoreResult",
    "EXAMPLE_TEXTS",
    "EXAMPLE_RESULT",
    "EXAMPLE_EMAIL",
]

#: Intake channels a caller may name (the corpus's channels plus ``other``).
CHANNELS = ("email", "web_form", "phone_note", "counter_note", "chat", "sns", "voicemail", "letter", "other")
Channel = Literal["email", "web_form", "phone_note", "counter_note", "chat", "sns", "voicemail", "letter", "other"]

# (pydantic already refuses strings holding unpaired surrogates, "\ud800" in JSON)
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Str32 = Annotated[str, StringConstraints(max_length=32)]
Str100 = Annotated[str, StringConstraints(max_length=100)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Str254 = Annotated[str, StringConstraints(max_length=254)]
Str1024 = Annotated[str, StringConstraints(max_length=1024)]
MetaValue = Str1024 | int | float | bool | None


# -- examples (Japanese, as the office receives them) ------------------------------------

EXAMPLE_TEXTS = {
    "harassment": "何度電話しても担当者が出ない。お前ら税金泥棒か。"
                  "今日中に折り返さないなら区役所まで行って責任者を土下座させるからな。",
    "complaint": "粗大ごみの収集が予定日に来ませんでした。これで3回目です。"
                 "いつ回収していただけるのか、ご回答をお願いします。",
    "inquiry": "住民票の写しをコンビニで取得したいのですが、"
               "マイナンバーカードの暗証番号を忘れた場合はどうすればよいですか。",
}

EXAMPLE_RESULT: dict[str, Any] = {
    "id": "msg-2026-000123",
    "verdict": "harassment",
    "categories": ["threat", "abusive_language"],
    "grievance": True,
    "scores": {
        "harassment": 0.9989, "complaint": 0.0009, "inquiry": 0.0001, "violence": 0.0085, "threat": 0.9518,
        "other_illegal": 0.0201, "excessive_demand": 0.1211, "abusive_language": 0.8992, "sns_harassment": 0.0258,
        "other_improper": 0.0032, "grievance": 0.5784,
    },
    "evidence": [
        {"category": "threat", "start": 51, "end": 58, "text": "させるからな。"},
        {"category": "abusive_language", "start": 15, "end": 22, "text": "お前ら税金泥棒"},
    ],
    "action": "police",
    "review": False,
    "model_version": "m-43b276026d",
}

EXAMPLE_INQUIRY_RESULT: dict[str, Any] = {
    "id": None,
    "verdict": "inquiry",
    "categories": [],
    "grievance": False,
    "scores": {
        "harassment": 0.0, "complaint": 0.0006, "inquiry": 0.9994, "violence": 0.0002, "threat": 0.0007,
        "other_illegal": 0.0053, "excessive_demand": 0.0053, "abusive_language": 0.0007, "sns_harassment": 0.0014,
        "other_improper": 0.0003, "grievance": 0.0067,
    },
    "evidence": [],
    "action": "normal_reply",
    "review": False,
    "model_version": "m-43b276026d",
}

EXAMPLE_EMAIL = (
    "From: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <taro.yamada@example.jp>\r\n"
    "To: seiso@city.example.lg.jp\r\n"
    "Subject: =?UTF-8?B?57KX5aSn44GU44G/44Gu5Y+O6ZuG44Gr44Gk44GE44Gm?=\r\n"
    "Date: Mon, 02 Nov 2026 09:15:00 +0900\r\n"
    "Message-ID: <20261102091500.1234@example.jp>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "粗大ごみの収集が予定日に来ませんでした。これで3回目です。\r\n"
    "いつ回収していただけるのか、ご回答をお願いします。\r\n"
    "\r\n"
    "2026年11月1日(日) 10:00 世田谷区 <seiso@city.example.lg.jp>:\r\n"
    "> お問い合わせありがとうございます。\r\n"
    "\r\n"
    "--\r\n"
    "山田 太郎\r\n"
    "TEL 03-1234-5678\r\n"
)

# -- errors ---------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """One validation problem: where (``loc``) and what (``msg``)."""

    loc: list[str | int] = Field(description="Path to the offending value, e.g. [\"body\", \"text\"]; a name that "
                                 "is not the schema's (an unexpected field, a metadata key) is given as what it is, "
                                 "e.g. [\"body\", \"(an unexpected field)\"], never repeated.")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    error: str = Field(description="Machine-readable code, e.g. invalid_json, validation_error, text_too_long, "
                       "body_too_large, unauthorized, overloaded.")
    message: str = Field(description="What was wrong and, where possible, how to fix it.")
    request_id: str | None = Field(default=None, description="Also sent as the X-Request-ID header.")
    details: list[ErrorDetail] | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "error": "validation_error",
        "message": "body.text: Input should be a valid string",
        "request_id": "5f2c1e0a9b7d4c3e8a1f6b2d0c9e7a41",
        "details": [{"loc": ["body", "text"], "msg": "Input should be a valid string", "type": "string_type"}],
    }]})


# -- requests -------------------------------------------------------------------------


class ScoreRequest(BaseModel):
    """One message to score."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": EXAMPLE_TEXTS["harassment"], "channel": "email", "id": "msg-2026-000123"},
        {"text": EXAMPLE_TEXTS["inquiry"]},
    ]})

    text: str = Field(
        min_length=1,
        description="The message text (Japanese). Its maximum length is the service's max_text_chars setting.",
        examples=[EXAMPLE_TEXTS["complaint"]],
    )
    channel: Channel | None = Field(default=None, description="Where the message came from (not used for scoring).")
    id: ShortId | None = Field(default=None, description="Caller's identifier, echoed back in the result.")
    metadata: dict[MetaKey, MetaValue] | None = Field(
        default=None,
        max_length=32,
        description="Caller's key/value annotations (at most 32). Accepted but neither stored, logged nor echoed.",
        examples=[{"受付番号": "2026-11-000123", "担当課": "清掃・リサイクル課"}],
    )


def _batch_items_schema() -> dict[str, Any]:
    item = ScoreRequest.model_json_schema()
    item.pop("examples", None)
    return {
        "type": "array",
        "minItems": 1,
        "items": item,
        "description": "Messages to score, at most max_batch_items. Each item is validated on its own: an invalid "
        "item yields an error entry at its index instead of failing the batch.",
    }


class BatchRequest(BaseModel):
    """Many messages at once; results come back in the same order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "items": [
            {"text": EXAMPLE_TEXTS["complaint"], "id": "1"},
            {"text": EXAMPLE_TEXTS["harassment"], "id": "2", "channel": "web_form"},
            {"text": "   ", "id": "3"},
        ],
    }]})

    # Items are checked one by one in the handler (see _batch_items_schema), so one bad
    # item cannot fail the whole batch; the JSON schema still documents their shape.
    items: Annotated[list[Any], Field(min_length=1), WithJsonSchema(_batch_items_schema())]
    evidence: bool = Field(default=True, description="Add evidence spans for harassment (slower).")


class FormRequest(BaseModel):
    """A web-form submission. Only ``body`` is required; contact fields are never scored nor echoed unmasked."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "subject": "保育園の入園結果について",
        "body": "三回目の不承諾通知が届きました。点数の計算方法をホームページに載せてください。",
        "category": "子ども・子育て",
        "name": "北沢 みどり",
        "email": "midori.kitazawa@example.jp",
        "phone": "090-1234-5678",
    }]})

    body: str = Field(min_length=1, description="The message body; its maximum length is max_text_chars "
                      "(together with the subject).", examples=["ゴミの収集が遅れています。対応してください。"])
    subject: Str200 | None = Field(default=None, examples=["ごみ収集について"])
    category: Str100 | None = Field(
        default=None, description="The form's topic selector (not scored).", examples=["ごみ・リサイクル"])
    name: Str100 | None = Field(default=None, examples=["世田谷 花子"])
    email: Str254 | None = Field(default=None, examples=["hanako@example.jp"])
    phone: Str32 | None = Field(default=None, examples=["03-1234-5678"])
    id: ShortId | None = Field(default=None, description="Caller's identifier, echoed back in the result.")


# -- responses ------------------------------------------------------------------------


class Evidence(BaseModel):
    """A span of the scored text supporting a category; ``text == scored_text[start:end]``."""

    category: Category
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    field: Literal["subject", "body"] | None = Field(
        default=None, description="Form route only: which form field the offsets refer to.")


class ScoreResult(BaseModel):
    """The triage of one message (the same fields as ``complaint-triage score`` output)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_RESULT]})

    id: str | None = Field(default=None, description="The request's id, if one was given.")
    verdict: Verdict
    categories: list[Category] = Field(description="Harassment categories; empty unless verdict is harassment.")
    grievance: bool = Field(description="Whether the message carries a legitimate grievance.")
    scores: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        description="Calibrated probabilities: the 3 verdicts, the 7 categories and grievance.")
    evidence: list[Evidence]
    action: Action = Field(description="Recommended handling.")
    review: bool = Field(description="True when a person should confirm the verdict.")
    model_version: str


class BatchItemResult(ScoreResult):
    """A scored batch item."""

    index: int = Field(ge=0, description="Position of the item in the request.")


class BatchItemError(BaseModel):
    """A batch item that could not be scored."""

    index: int = Field(ge=0)
    id: str | None = None
    error: str = Field(description="Why the item was not scored.")
    model_version: str


class BatchResponse(BaseModel):
    """Results in request order: a result or an error entry per item."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model_version": "m-43b276026d",
        "results": [
            {**EXAMPLE_INQUIRY_RESULT, "index": 0, "id": "1"},
            {**EXAMPLE_RESULT, "index": 1, "id": "2"},
            {"index": 2, "id": "3", "error": "text is empty or whitespace only; nothing to score",
             "model_version": "m-43b276026d"},
        ],
        "n_errors": 1,
    }]})

    model_version: str
    results: list[BatchItemResult | BatchItemError]
    n_errors: int = Field(ge=0)


class StrippedOut(BaseModel):
    kind: Literal["quote", "signature", "quote_header", "forwarded"]
    text: str


class AttachmentOut(BaseModel):
    filename: str | None
    content_type: str
    size: int = Field(ge=0)


class EmailOut(BaseModel):
    """The parsed message; e-mail addresses and phone numbers are masked (t***@example.jp, 0*-****-****)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: list[str]
    cc: list[str]
    subject: str
    date: str | None = Field(description="ISO-8601, or null when absent or unparseable.")
    message_id: str | None
    body: str = Field(description="The new text of the message: what was scored.")
    stripped: list[StrippedOut] = Field(
        description="Quoted replies, quote headers and signatures removed before scoring.")
    attachments: list[AttachmentOut] = Field(description="Listed, never scored.")
    charset: str
    defects: list[str] = Field(description="Parser defects and decoding notes (never message content). "
                               "`UndecodedText`: the body was not decoded as declared, and `result.review` is true.")


class EmailResponse(BaseModel):
    """The parsed e-mail and the triage of its new text."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "email": {
            "from": "山田 太郎 <t***@example.jp>", "to": ["s***@city.example.lg.jp"], "cc": [],
            "subject": "粗大ごみの収集について", "date": "2026-11-02T09:15:00+09:00",
            "message_id": "<20261102091500.1234@example.jp>",
            "body": "粗大ごみの収集が予定日に来ませんでした。これで3回目です。\n"
                    "いつ回収していただけるのか、ご回答をお願いします。",
            "stripped": [
                {"kind": "quote_header", "text": "2026年11月1日(日) 10:00 世田谷区 <s***@city.example.lg.jp>:"},
                {"kind": "quote", "text": "> お問い合わせありがとうございます。"},
                {"kind": "signature", "text": "--\n山田 太郎\nTEL 0*-****-****"},
            ],
            "attachments": [], "charset": "utf-8", "defects": [],
        },
        "result": {**EXAMPLE_INQUIRY_RESULT, "verdict": "complaint", "grievance": True},
    }]})

    email: EmailOut
    result: ScoreResult


class ContactOut(BaseModel):
    """Contact fields of a form, masked; null when not given."""

    name: str | None = Field(default=None, examples=["** **"])
    email: str | None = Field(default=None, examples=["m***@example.jp"])
    phone: str | None = Field(default=None, examples=["0**-****-****"])


class FormResponse(BaseModel):
    """The triage of a form submission. Evidence offsets refer to the field named in ``evidence[].field``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "result": {**EXAMPLE_INQUIRY_RESULT, "verdict": "complaint", "grievance": True},
        "category": "子ども・子育て",
        "contact": {"name": "** ***", "email": "m***@example.jp", "phone": "0**-****-****"},
    }]})

    result: ScoreResult
    category: str | None = Field(default=None, description="The form's topic selector, as sent.")
    contact: ContactOut


class Limits(BaseModel):
    max_body_bytes: int
    max_text_chars: int
    max_batch_items: int


class ModelInfo(BaseModel):
    """The served model: version, labels, decision thresholds and training metrics."""

    model_config = ConfigDict(protected_namespaces=(), json_schema_extra={"examples": [{
        "model_version": "m-43b276026d",
        "created": "2026-11-25T15:07:22Z",
        "label_set": "setagaya-2025-v1:harassment,complaint,inquiry|violence,threat,…",
        "verdicts": ["harassment", "complaint", "inquiry"],
        "categories": ["violence", "threat", "other_illegal", "excessive_demand", "abusive_language",
                       "sns_harassment", "other_improper"],
        "actions": ["normal_reply", "supervisor_report", "warn_or_end_contact", "preserve_online_evidence",
                    "remove_or_ban", "police"],
        "score_names": ["harassment", "complaint", "inquiry", "violence", "threat", "other_illegal",
                        "excessive_demand", "abusive_language", "sns_harassment", "other_improper", "grievance"],
        "thresholds": {"harassment": 0.577614, "review_low": 0.182602, "review_high": 0.788807,
                       "categories": {"threat": 0.3098}, "grievance": 0.3501},
        "metrics": {"test": {"n": 117, "verdict_accuracy": 0.906, "verdict_macro_f1": 0.9073}},
        "training_data": {"n_fit": 523, "n_test": 117},
        "limits": {"max_body_bytes": 1048576, "max_text_chars": 20000, "max_batch_items": 256},
    }]})

    model_version: str
    created: str | None = None
    label_set: str
    verdicts: list[str]
    categories: list[str]
    actions: list[str]
    score_names: list[str]
    thresholds: dict[str, Any] = Field(
        description="Decision thresholds chosen on validation data: harassment, the review band, per-category "
                    "thresholds, category_relative, grievance and, for a model with a bystander-report head, "
                    "bystander_discount and bystander_rule (how the discount applies; absent: the rule of models "
                    "trained before it was recorded; see the model card).")
    metrics: dict[str, Any] = Field(
        description="Evaluation recorded at training time (held-out test, cross-validation).")
    training_data: dict[str, Any] | None = None
    limits: Limits


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    model_version: str | None = None
