"""POST /v1/score/email (raw RFC 5322 bytes) and /v1/score/form (contact fields masked)."""

from __future__ import annotations

import asyncio
import base64
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from complaint_triage.api.routes.score import compose_form_text, mask_contact
from complaint_triage.api.schemas import EXAMPLE_EMAIL, EmailResponse, ErrorResponse, FormResponse, ScoreResult

from .conftest import AUTH

RFC822 = {**AUTH, "Content-Type": "message/rfc822"}
NEW_TEXT = "粗大ごみの収集が予定日に来ませんでした。これで3回目です。いつ回収していただけるのか回答してください。"
OLD_ABUSE = "ふざけるな税金泥棒。殺すぞ。"


def iso2022jp_reply() -> bytes:
    """An Outlook-style ISO-2022-JP reply quoting an old abusive message, with a signature."""
    body = (
        f"{NEW_TEXT}\r\n\r\n"
        "2026年11月1日(日) 10:00 世田谷区 <seiso@city.example.lg.jp>:\r\n"
        f"> {OLD_ABUSE}\r\n\r\n"
        "--\r\n山田 太郎\r\nTEL 03-1234-5678\r\n"
    )
    subject = base64.b64encode("粗大ごみについて".encode("iso2022_jp")).decode()
    head = (
        "From: taro.yamada@example.jp\r\nTo: seiso@city.example.lg.jp\r\n"
        f"Subject: =?ISO-2022-JP?B?{subject}?=\r\n"
        "Date: Mon, 02 Nov 2026 09:15:00 +0900\r\nMessage-ID: <abc.123@example.jp>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    )
    return head.encode("ascii") + body.encode("iso2022_jp")


def gmail_with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = "花子 <hanako@example.jp>"
    msg["To"] = "kucho@city.example.lg.jp"
    msg["Subject"] = "公園の遊具"
    msg.set_content("ブランコが半年以上使用中止のままです。修理の予定を教えてください。", charset="utf-8")
    msg.add_alternative("<p>ブランコが半年以上使用中止のままです。修理の予定を教えてください。</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="写真.pdf")
    return msg.as_bytes()


class TestEmail:
    def test_example_email_from_the_docs(self, client: TestClient) -> None:
        r = client.post("/v1/score/email", content=EXAMPLE_EMAIL.encode(), headers=RFC822)
        assert r.status_code == 200, r.text
        body = EmailResponse.model_validate(r.json())
        assert body.email.subject == "粗大ごみの収集について"
        assert body.email.message_id == "<20261102091500.1234@example.jp>"
        assert {b.kind for b in body.email.stripped} >= {"quote", "signature"}
        assert "taro.yamada@example.jp" not in r.text and "03-1234-5678" not in r.text
        assert "full_text" not in r.json()["email"]

    def test_quoted_abuse_is_stripped_not_scored(self, client: TestClient, small_triager) -> None:
        r = client.post("/v1/score/email", content=iso2022jp_reply(), headers=RFC822)
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["email"]["subject"] == "粗大ごみについて"
        assert data["email"]["body"] == NEW_TEXT
        assert any(OLD_ABUSE in b["text"] for b in data["email"]["stripped"] if b["kind"] == "quote")
        assert data["result"]["verdict"] == small_triager.score(NEW_TEXT).verdict
        assert data["email"]["from"] == "t***@example.jp"

    def test_multipart_with_attachment(self, client: TestClient) -> None:
        r = client.post("/v1/score/email", content=gmail_with_attachment(), headers=RFC822)
        assert r.status_code == 200, r.text
        email = r.json()["email"]
        assert email["body"].startswith("ブランコが")
        assert [a["filename"] for a in email["attachments"]] == ["写真.pdf"]

    @pytest.mark.parametrize(
        "raw",
        [b"just some text without headers", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "本文だけです".encode(),
         b"\xff" * 64],
    )
    def test_non_email_bodies_get_422(self, client: TestClient, raw: bytes) -> None:
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 422, r.text
        err = ErrorResponse.model_validate(r.json())
        assert err.error == "invalid_email" and "e-mail" in err.message

    def test_nothing_new_after_stripping_gets_422(self, client: TestClient) -> None:
        raw = (b"From: a@example.jp\r\nSubject: Re: test\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               + "> 以前のメッセージです。\r\n> よろしくお願いします。\r\n".encode())
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 422
        err = ErrorResponse.model_validate(r.json())
        assert err.error == "empty_email_body" and "no new text" in err.message and "quote" in err.message

    @pytest.mark.parametrize(("raw", "says"), [
        # the boundary in Content-Type never starts a part; a multipart type without a boundary
        (b'From: a@example.jp\r\nContent-Type: multipart/alternative; boundary="BB"\r\n\r\n--CC\r\n'
         b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "粗大ごみが来ません。".encode() + b"\r\n--CC--\r\n",
         "MIME structure is broken (the boundary"),
        (b"From: a@example.jp\r\nContent-Type: multipart/mixed\r\n\r\n--CC\r\nContent-Type: text/plain\r\n\r\n"
         b"hello\r\n--CC--\r\n", "MIME structure is broken (a multipart Content-Type without a boundary)"),
        # attachments only
        (b'From: a@example.jp\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
         b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="shinsei.pdf"\r\n'
         b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--B--\r\n", "only 1 attachment(s) (pdf)"),
    ])
    def test_a_mail_without_a_readable_text_part_says_why(self, client: TestClient, raw: bytes, says: str) -> None:
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 422, r.text
        err = ErrorResponse.model_validate(r.json())
        assert err.error == "empty_email_body" and says in err.message
        assert "removing quoted replies" not in err.message

    def test_empty_request_and_wrong_media_type(self, client: TestClient) -> None:
        r = client.post("/v1/score/email", content=b"", headers=RFC822)
        assert r.status_code == 400 and r.json()["error"] == "empty_body"
        r = client.post("/v1/score/email", json={"raw": "From: a"}, headers=AUTH)
        assert r.status_code == 415 and "message/rfc822" in r.json()["message"]
        r = client.post("/v1/score/email", content=EXAMPLE_EMAIL.encode(),
                        headers={**AUTH, "Content-Type": "application/octet-stream"})
        assert r.status_code == 200

    @pytest.mark.parametrize(
        ("body", "hidden"),
        [
            ("今すぐ090-1234-5678に電話しろ殺すぞ。", ["090-1234-5678", "1234-5678"]),
            ("taro.yamada.setagaya@example.jp に今すぐ返信しろ。返事がなければ担当者をぶっ殺すぞ。",
             ["taro.yamada", "yamada.setagaya"]),
            ("担当の佐藤 (sato.kazuhiko@city.setagaya.example.lg.jp) に伝えろ。"
             "今日中に 090-1234-5678 まで折り返さないなら区役所まで行って責任者を土下座させるからな。"
             "ぶっ殺すぞ。お前ら税金泥棒だ。", ["sato.kazuhiko", "1234-5678"]),
        ],
    )
    def test_evidence_indexes_the_masked_body(self, client: TestClient, body: str, hidden: list[str]) -> None:
        raw = ("From: a@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 200, r.text
        masked = r.json()["email"]["body"]
        evidence = r.json()["result"]["evidence"]
        assert len(masked) == len(body) and masked != body
        assert evidence
        for ev in evidence:
            assert masked[ev["start"] : ev["end"]] == ev["text"]
        for value in hidden:
            assert value not in r.text

    @pytest.mark.parametrize(
        ("text", "kept"),
        [
            ("先日の件について。\n\n要望は以下のとおりです\n--\n担当者を今すぐクビにしろ\nできないなら区役所に火をつける\n",
             "できないなら区役所に火をつける"),
            ("ごみの収集について何度もお願いしています。\n\n==========\n担当者をぶっ殺すぞ\n家も知ってるからな\n夜道に気をつけろ\n",
             "担当者をぶっ殺すぞ\n家も知ってるからな\n夜道に気をつけろ"),
            ("ご回答ください。\nSent from my iPhone\n死ね\n", "死ね"),
            ("差出人：山田太郎\n宛先：世田谷区長 殿\n件名：職員の対応について\n\n"
             "窓口の佐藤という職員の態度が最悪だった。次に会ったらぶっ殺すぞ。家も調べてある。\n",
             "次に会ったらぶっ殺すぞ"),
        ],
    )
    def test_new_text_after_a_separator_or_header_is_scored(
        self, client: TestClient, small_triager, text: str, kept: str
    ) -> None:
        raw = ("From: a@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 200, r.text
        email = r.json()["email"]
        assert kept in email["body"]
        assert all(kept not in b["text"] for b in email["stripped"])
        assert r.json()["result"]["scores"] == small_triager.score(email["body"]).scores

    def test_parsing_and_masking_run_off_the_event_loop(self, client: TestClient, monkeypatch) -> None:
        """Masking a long e-mail on the event loop once stalled every other request (and /healthz)
        for seconds; the full text, which the answer leaves out, was masked too."""
        import complaint_triage.email as email_module

        masked: list[tuple[str, bool]] = []
        real = email_module.mask_text

        def spy(text: str, **kwargs: object) -> str:
            try:
                asyncio.get_running_loop()
                on_loop = True
            except RuntimeError:
                on_loop = False
            masked.append((text, on_loop))
            return real(text, **kwargs)

        monkeypatch.setattr(email_module, "mask_text", spy)
        raw = iso2022jp_reply()
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 200, r.text
        assert masked
        assert not [text for text, on_loop in masked if on_loop]
        assert email_module.parse_email(raw).full_text not in [text for text, _ in masked]

    def test_body_over_the_text_limit(self, client: TestClient) -> None:
        head = b"From: a@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        raw = head + ("苦情" * 10_001).encode()
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 422 and r.json()["error"] == "text_too_long"
        assert "e-mail body" in r.json()["message"]


REPLY = "そのような発言はしていません。一方的に対応を打ち切るのは納得できません。当日の記録の開示を求めます。"
WARD_LETTER = ("先日の窓口において「殺すぞ」「税金泥棒」などの発言がありましたので、\n"
               "今後のご対応は書面のみとさせていただきます。")


def _mail(body: bytes, head: str = "", charset: str = "utf-8", sender: str = "resident@example.jp") -> bytes:
    return (f"From: {sender}\r\nTo: koe@city.example.lg.jp\r\nSubject: Re: ご回答\r\n{head}"
            f"Content-Type: text/plain; charset={charset}\r\n").encode() + b"\r\n" + body


class TestEmailFullWidthQuotes:
    @pytest.mark.parametrize(("mark", "header"), [
        ("＞ ", ""),
        ("＞", "2026/11/20 10:00、世田谷区 区民の声係 さんは書きました："),
        ("≫ ", "2025年6月1日(日) 10:00 区民の声係 <koe@city.example.lg.jp>:"),
    ], ids=["fw", "kakimashita", "gmail-ja"])
    def test_the_wards_quoted_letter_is_stripped_not_scored(
        self, client: TestClient, small_triager, mark: str, header: str
    ) -> None:
        """Acceptance finding: with 「＞」 quotes the ward's letter stayed in the body and the reply was
        scored harassment on the ward's own words (税金泥棒, 区民の声係 as evidence)."""
        quote = "".join(f"{mark}{line}\r\n" for line in WARD_LETTER.split("\n"))
        text = f"{REPLY}\r\n\r\n" + (f"{header}\r\n" if header else "") + quote
        r = client.post("/v1/score/email", content=_mail(text.encode()), headers=RFC822)
        assert r.status_code == 200, r.text
        email, result = r.json()["email"], r.json()["result"]
        assert email["body"] == REPLY
        assert [b["kind"] for b in email["stripped"]] == (["quote_header", "quote"] if header else ["quote"])
        assert result["scores"] == small_triager.score(REPLY).scores
        assert all(REPLY[ev["start"] : ev["end"]] == ev["text"] for ev in result["evidence"])

    @pytest.mark.parametrize("text", [
        "≫ 担当職員からの謝罪\n≫ 当日の対応記録の開示\n≫ 再発防止策の書面での回答",
        "＞ 担当職員の謝罪を求めます。\n＞ 当日の記録を開示してください。",
        "窓口で「税金泥棒」と言ったとされた件、事実と違います。以下を求めます。\n\n"
        "≫ 担当職員からの謝罪\n≫ 当日の対応記録の開示",
        "粗大ごみの収集について、手数料が分かりません。\n\n＞ 申請書はどこで入手できますか？",
    ], ids=["much-greater-bullets-only", "fw-bullets-only", "much-greater-demands-at-the-end", "own-last-question"])
    def test_the_writers_own_full_width_lines_are_scored(self, client: TestClient, small_triager, text: str) -> None:
        """Review finding: a body of 「≫」 bullets was stripped to nothing and answered 422
        empty_email_body, never scored; 「≫」 demands and a last 「＞」 question were stripped as quotes."""
        r = client.post("/v1/score/email", content=_mail(text.replace("\n", "\r\n").encode()), headers=RFC822)
        assert r.status_code == 200, r.text
        email, result = r.json()["email"], r.json()["result"]
        assert email["body"] == text and email["stripped"] == []
        assert result["scores"] == small_triager.score(text).scores

    @pytest.mark.parametrize(("filename", "kind"), [
        ("申請書.taro", "application/octet-stream"),
        ("申請書.pdf", "pdf"),
    ], ids=["name-like-extension", "pdf"])
    def test_an_attachments_only_mail_names_only_known_extensions(
        self, client: TestClient, filename: str, kind: str
    ) -> None:
        """Review finding: 申請書.taro put "taro", which can be a name, into the 422 message."""
        raw = (b'From: a@example.jp\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
               b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''"
               + quote(filename).encode() + b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--B--\r\n")
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 422, r.text
        err = ErrorResponse.model_validate(r.json())
        assert err.error == "empty_email_body" and f"only 1 attachment(s) ({kind})" in err.message
        assert "taro" not in err.message


class TestEmailShortAddresses:
    @pytest.mark.parametrize("address", ["a@example.jp", "ab@example.jp", "abc@example.jp", "taro.yamada@example.jp"])
    def test_addresses_are_masked_by_the_form_routes_rule(self, client: TestClient, address: str) -> None:
        """Acceptance finding: x@example.jp came back unmasked in the body and From a@… as a***@…; the
        documented rule keeps the first character only of a local part of three characters or more."""
        text = f"連絡は {address} まで。窓口の対応を改善してください。"
        r = client.post("/v1/score/email", content=_mail(text.encode(), sender=address), headers=RFC822)
        assert r.status_code == 200, r.text
        email = r.json()["email"]
        masked = mask_contact(address, "email")
        assert email["from"] == masked
        local, domain = address.split("@")
        kept = masked[0] if masked[0] != "*" else ""
        assert email["body"] == text.replace(address, f"{kept}{'*' * (len(local) - len(kept))}@{domain}")
        assert address not in r.text


class TestEmailUndecodable:
    def test_corrupt_base64_with_nothing_readable_is_refused(self, client: TestClient) -> None:
        """Acceptance finding: a body of "!!!!not base64@@@@" was decoded by a guess into '梛[jﾇｺ' and
        scored a confident inquiry (review false)."""
        raw = _mail(b"!!!!not base64@@@@\r\n", head="Content-Transfer-Encoding: base64\r\n")
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 422, r.text
        err = ErrorResponse.model_validate(r.json())
        assert err.error == "empty_email_body" and "could not be decoded" in err.message
        assert "removing quoted replies" not in err.message and "not base64" not in err.message

    @pytest.mark.parametrize(("body", "head", "charset", "defect"), [
        (base64.b64encode("粗大ごみの収集日を教えてください。来週の月曜日でしょうか。".encode()).decode()[:45].encode(),
         "Content-Transfer-Encoding: base64\r\n", "utf-8", "InvalidBase64LengthDefect"),
        ("窓口で職員に怒鳴られました。改善してください。".encode("cp932"), "", "ISO-2022-JP", "CharsetFallback"),
        ("窓口で職員に怒鳴られました。".encode() + b"\xff\xfe" + "改善してください。".encode(), "", "utf-8",
         "UndecodableBytes"),
    ], ids=["truncated-base64", "wrong-label", "invalid-utf-8"])
    def test_a_body_not_decoded_as_declared_is_marked_for_review(
        self, client: TestClient, small_triager, body: bytes, head: str, charset: str, defect: str
    ) -> None:
        r = client.post("/v1/score/email", content=_mail(body, head, charset), headers=RFC822)
        assert r.status_code == 200, r.text
        email, result = r.json()["email"], r.json()["result"]
        assert small_triager.score(email["body"]).review is False  # the model alone would not ask for a person
        assert result["review"] is True
        assert any(d.startswith(defect) for d in email["defects"])
        assert any(d.startswith("UndecodedText:") for d in email["defects"])
        assert set(r.json()) == {"email", "result"} and set(result) == set(ScoreResult.model_fields)  # no new fields

    def test_a_body_decoded_as_declared_keeps_the_models_review(self, client: TestClient, small_triager) -> None:
        text = "粗大ごみの収集日を教えてください。来週の月曜日でしょうか。"
        raw = _mail(base64.b64encode(text.encode()), "Content-Transfer-Encoding: base64\r\n")
        r = client.post("/v1/score/email", content=raw, headers=RFC822)
        assert r.status_code == 200, r.text
        assert r.json()["result"]["review"] is small_triager.score(text).review is False
        assert r.json()["email"]["defects"] == []


CONTACT = {"name": "北沢 みどり", "email": "midori.kitazawa@example.jp", "phone": "090-1234-5678"}


class TestForm:
    def test_contact_fields_are_masked_everywhere(self, client: TestClient) -> None:
        form = {"subject": "保育園の入園結果について",
                "body": "三回目の不承諾通知が届きました。点数の計算方法を公開してください。",
                "category": "子ども・子育て", "id": "form-9", **CONTACT}
        r = client.post("/v1/score/form", json=form, headers=AUTH)
        assert r.status_code == 200, r.text
        body = FormResponse.model_validate(r.json())
        for value in (*CONTACT.values(), "midori", "kitazawa", "1234-5678", "みどり"):
            assert value not in r.text
        assert r.json()["contact"] == {"name": "** ***", "email": "m***@example.jp", "phone": "0**-****-****"}
        assert body.result.id == "form-9" and body.category == "子ども・子育て"

    def test_contact_fields_are_not_scored(self, client: TestClient) -> None:
        plain = client.post("/v1/score/form", json={"body": NEW_TEXT}, headers=AUTH).json()["result"]
        rude_name = client.post("/v1/score/form", json={"body": NEW_TEXT, "name": "殺すぞ税金泥棒"}, headers=AUTH)
        assert rude_name.json()["result"]["scores"] == plain["scores"]

    def test_evidence_offsets_point_into_the_named_field(self, client: TestClient) -> None:
        form = {"subject": "ふざけるな税金泥棒",
                "body": "お前ら全員クビにしろ。今日中に返事がなければ殴り込みに行くぞ。覚えとけよ。"}
        r = client.post("/v1/score/form", json=form, headers=AUTH)
        assert r.status_code == 200
        result = r.json()["result"]
        for ev in result["evidence"]:
            assert form[ev["field"]][ev["start"] : ev["end"]] == ev["text"]

    def test_score_matches_the_composed_text(self, client: TestClient, small_triager) -> None:
        form = {"subject": "駐輪場", "body": "駐輪場の料金の支払い方法を教えてください。"}
        text, at = compose_form_text(form["subject"], form["body"])
        assert text == "件名：駐輪場\n内容：駐輪場の料金の支払い方法を教えてください。" and text[at:] == form["body"]
        r = client.post("/v1/score/form", json=form, headers=AUTH)
        assert r.json()["result"]["scores"] == small_triager.score(text).scores

    @pytest.mark.parametrize(
        ("form", "code"),
        [({}, "validation_error"), ({"body": ""}, "validation_error"), ({"body": " \n"}, "invalid_text"),
         ({"body": 1}, "validation_error"), ({"body": "a", "phone": "0" * 33}, "validation_error"),
         ({"body": "a", "address": "世田谷区"}, "validation_error"), ({"body": "あ" * 20_001}, "text_too_long")],
    )
    def test_bad_forms(self, client: TestClient, form: dict, code: str) -> None:
        r = client.post("/v1/score/form", json=form, headers=AUTH)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == code
        assert "世田谷区" not in r.text

    @pytest.mark.parametrize("body", ["\u0000\u200b", "\u200b", "\ufeff\u2060 \u00ad", "\x00"])
    def test_a_body_of_only_invisible_characters_is_refused_as_a_blank_one(self, client: TestClient,
                                                                           body: str) -> None:
        """acc4b finding 10: the subject alone was scored (200, complaint) as if it were the message."""
        r = client.post("/v1/score/form", json={"subject": "件名", "body": body}, headers=AUTH)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_text"
        assert r.json()["message"] == ("body has no visible character (only control, zero-width or other invisible "
                                       "characters); nothing to score")


class TestFormLimit:
    """The limit counts the characters the client sent (subject + body), not the 件名：/内容： labels."""

    @pytest.mark.parametrize("body_chars", [19_995, 19_999])
    def test_subject_and_body_up_to_the_limit_are_scored(self, client: TestClient, body_chars: int) -> None:
        r = client.post("/v1/score/form", json={"subject": "ご", "body": "あ" * body_chars}, headers=AUTH)
        assert r.status_code == 200, r.text

    def test_over_the_limit_says_subject_and_body(self, client: TestClient) -> None:
        r = client.post("/v1/score/form", json={"subject": "ご", "body": "あ" * 20_000}, headers=AUTH)
        assert r.status_code == 422 and r.json()["error"] == "text_too_long"
        assert "subject and body have 20,001 characters together, over the limit of 20,000" in r.json()["message"]

    def test_evidence_offsets_at_the_limit(self, client: TestClient) -> None:
        body = "担当者をぶっ殺すぞ。" * 1_999 + "ぶっ殺すぞ。"
        form = {"subject": "ぶっ殺す", "body": body}
        assert len(form["subject"]) + len(body) == 20_000
        r = client.post("/v1/score/form", json=form, headers=AUTH)
        assert r.status_code == 200, r.text
        evidence = r.json()["result"]["evidence"]
        assert evidence
        for ev in evidence:
            assert form[ev["field"]][ev["start"] : ev["end"]] == ev["text"]


@pytest.mark.parametrize(
    ("subject", "body", "max_chars", "text", "body_at"),
    [
        ("駐輪場", "料金は？", None, "件名：駐輪場\n内容：料金は？", 10),
        ("駐輪場", "料金は？", 14, "件名：駐輪場\n内容：料金は？", 10),
        ("駐輪場", "料金は？", 13, "駐輪場\n料金は？", 4),
        ("駐輪場", "料金は？", 7, "駐輪場料金は？", 3),
        ("  ", "料金は？", 4, "料金は？", 0),
        (None, "料金は？", None, "料金は？", 0),
    ],
)
def test_compose_form_text_fits_the_limit(
    subject: str | None, body: str, max_chars: int | None, text: str, body_at: int
) -> None:
    assert compose_form_text(subject, body, max_chars) == (text, body_at)
    assert text[body_at:] == body


@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [("taro@example.jp", "email", "t***@example.jp"), ("ab@example.jp", "email", "***@example.jp"),
     ("not-an-address", "email", "**************"), ("@example.jp", "email", "***********"),
     ("03-1234-5678", "phone", "0*-****-****"), ("+81 90 1234 5678", "phone", "+** ** **** ****"),
     ("1", "phone", "*"), ("110", "phone", "***"), ("12-34", "phone", "**-**"),
     ("山田 太郎", "name", "** **"), ("山", "name", "*"), ("林 花子", "name", "* **"), ("A", "name", "*")],
)
def test_mask_contact(value: str, kind: str, masked: str) -> None:
    assert mask_contact(value, kind) == masked
