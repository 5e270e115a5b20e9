"""Tests for complaint_triage.email: decoding, MIME walking, reply/signature stripping.

Messages are built the way real Japanese clients send them (Outlook ISO-2022-JP with
Windows characters, Shift_JIS, Thunderbird format=flowed, Gmail base64 alternatives,
iPhone quoted-printable, EUC-JP) as raw bytes or with the stdlib message classes.
"""

from __future__ import annotations

import base64
import json
import mailbox
import quopri
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from complaint_triage.email import (
    Attachment,
    ParsedEmail,
    StrippedBlock,
    decode_japanese,
    html_to_text,
    iter_eml_dir,
    iter_mbox,
    mask_text,
    parse_email,
    split_reply,
)
from complaint_triage.exceptions import ComplaintTriageError, EmailParseError
from complaint_triage.results import has_visible

# ---------------------------------------------------------------------------
# Encoders that behave like the clients (Python has no CP50220/CP51932 encoder)
# ---------------------------------------------------------------------------


def _sjis_pair_to_jis(c1: int, c2: int) -> bytes:
    j1 = ((c1 - (0x70 if c1 < 0xA0 else 0xB0)) << 1) - (1 if c2 < 0x9F else 0)
    if c2 < 0x9F:
        j2 = c2 - (0x20 if c2 >= 0x80 else 0x1F)
    else:
        j2 = c2 - 0x7E
    return bytes((j1, j2))


def to_iso2022jp_outlook(text: str) -> bytes:
    """Encode like Outlook (CP50220): cp932 → JIS X 0208 codes with ESC $ B / ESC ( B."""
    out = bytearray()
    kanji = False
    for ch in text:
        if ord(ch) < 0x80:
            if kanji:
                out += b"\x1b(B"
                kanji = False
            out += ch.encode("ascii")
            continue
        sj = ch.encode("cp932")
        assert len(sj) == 2, ch
        if not kanji:
            out += b"\x1b$B"
            kanji = True
        out += _sjis_pair_to_jis(sj[0], sj[1])
    if kanji:
        out += b"\x1b(B"
    return bytes(out)


def to_eucjp_ms(text: str) -> bytes:
    """Encode like CP51932 / eucJP-ms (Windows characters in EUC-JP)."""
    out = bytearray()
    for ch in text:
        if ord(ch) < 0x80:
            out += ch.encode("ascii")
            continue
        sj = ch.encode("cp932")
        j = _sjis_pair_to_jis(sj[0], sj[1])
        out += bytes((j[0] | 0x80, j[1] | 0x80))
    return bytes(out)


def b_word(text: str, charset: str) -> str:
    """An RFC 2047 B encoded word."""
    data = to_iso2022jp_outlook(text) if charset.lower() == "iso-2022-jp" else text.encode(charset)
    return f"=?{charset}?B?{base64.b64encode(data).decode('ascii')}?="


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def assert_nothing_lost(p: ParsedEmail) -> None:
    """Every non-blank line of full_text is in body or in a stripped block."""
    kept = p.body.split("\n") + [ln for b in p.stripped for ln in b.text.split("\n")]
    kept_set = {ln.rstrip() for ln in kept}
    for line in p.full_text.split("\n"):
        if line.strip():
            assert line.rstrip() in kept_set, line


def kinds(p: ParsedEmail) -> list[str]:
    return [b.kind for b in p.stripped]


def stripped_text(p: ParsedEmail, kind: str | None = None) -> str:
    return "\n".join(b.text for b in p.stripped if kind is None or b.kind == kind)


# ---------------------------------------------------------------------------
# Charset decoding
# ---------------------------------------------------------------------------

WINDOWS_TEXTS = [
    "①番の窓口で㈱世田谷商事の件",
    "受付時間は9時～17時です",
    "第Ⅱ期工事について（№３）",
    "髙橋様の申請書が未処理です",
    "有限会社は㈲、代表は㈹と書きます。②の地区は㊤です",
    "㍉単位の段差ですが、㌢になると危険です",
    "全角マイナス－と全角チルダ～と∥",
]

PLAIN_TEXTS = [
    "保育園の入園申請について質問があります。",
    "道路の陥没が直っていません。早急に対応してください。",
    "職員の対応がひどかった。責任者と話したい。",
]


@pytest.mark.parametrize("text", WINDOWS_TEXTS + PLAIN_TEXTS)
def test_iso2022jp_outlook_windows_characters(text: str) -> None:
    data = to_iso2022jp_outlook(text)
    decoded, codec, defects = decode_japanese(data, "ISO-2022-JP")
    assert decoded == text
    assert codec == "iso2022_jp_ms"
    assert defects == []


@pytest.mark.parametrize("text", ["①", "㈱", "Ⅱ", "髙", "㍉"])
@pytest.mark.parametrize("codec", ["iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_2004"])
def test_stdlib_iso2022jp_codecs_reject_outlook_characters(text: str, codec: str) -> None:
    """The reason for the custom decoder: Python's codecs fail on NEC row 13 / IBM codes."""
    with pytest.raises(UnicodeDecodeError):
        to_iso2022jp_outlook(text).decode(codec)


@pytest.mark.parametrize("text", WINDOWS_TEXTS + PLAIN_TEXTS)
@pytest.mark.parametrize("declared", ["shift_jis", "Shift_JIS", "x-sjis", "windows-31j", "cp932"])
def test_shift_jis_is_decoded_as_cp932(text: str, declared: str) -> None:
    decoded, codec, defects = decode_japanese(text.encode("cp932"), declared)
    assert decoded == text
    assert codec == "cp932"
    assert defects == []


@pytest.mark.parametrize("text", PLAIN_TEXTS)
def test_euc_jp_standard(text: str) -> None:
    decoded, codec, _ = decode_japanese(text.encode("euc_jp"), "EUC-JP")
    assert decoded == text
    assert codec == "euc_jp"


@pytest.mark.parametrize("text", ["①番の窓口で㈱世田谷商事の件", "第Ⅱ期工事", "髙橋様"])
def test_euc_jp_windows_characters(text: str) -> None:
    decoded, codec, _ = decode_japanese(to_eucjp_ms(text), "euc-jp")
    assert decoded == text
    assert codec == "cp51932"


def test_iso2022jp_halfwidth_katakana_and_jis_roman() -> None:
    data = b"\x1b(I" + "ｱｲｳ".encode("cp932").translate(bytes((b - 0x80) & 0xFF for b in range(256))) + b"\x1b(B"
    data += b" \x1b(Jabc\x1b(B"
    decoded, codec, _ = decode_japanese(data, "iso-2022-jp")
    assert decoded == "ｱｲｳ abc"
    assert codec == "iso2022_jp_ms"


def test_iso2022jp_with_jisx0212_falls_back_to_stdlib_codec() -> None:
    data = "丂".encode("iso2022_jp_2")  # JIS X 0212 (ESC $ ( D): no CP932 mapping
    decoded, codec, _ = decode_japanese(data, "iso-2022-jp")
    assert decoded == "丂"
    assert codec in {"iso2022_jp_2004", "iso2022_jp_ext", "iso2022_jp_2"}


@pytest.mark.parametrize(
    ("data", "declared", "expected", "defect_prefix"),
    [
        ("ご担当者様".encode(), "iso-2022-jp", "ご担当者様", "CharsetMismatch"),
        ("ご担当者様".encode(), "us-ascii", "ご担当者様", "CharsetFallback"),
        ("公園の遊具".encode("cp932"), "utf-8", "公園の遊具", "CharsetMismatch"),
        ("公園の遊具".encode(), "x-no-such-charset", "公園の遊具", "UnknownCharset"),
    ],
)
def test_wrong_declared_charset_is_recovered_and_reported(
    data: bytes, declared: str, expected: str, defect_prefix: str
) -> None:
    decoded, _codec, defects = decode_japanese(data, declared)
    assert decoded == expected
    assert any(d.startswith(defect_prefix) for d in defects)


@pytest.mark.parametrize(
    ("data", "expected_codec"),
    [
        ("住民票の写しを請求したい".encode(), "utf-8"),
        ("住民票の写しを請求したい".encode("cp932"), "cp932"),
        ("住民票の写しを請求したい".encode("euc_jp"), "euc_jp"),
        (to_iso2022jp_outlook("住民票の写し①"), "iso2022_jp_ms"),
    ],
)
def test_undeclared_charset_is_guessed(data: bytes, expected_codec: str) -> None:
    decoded, codec, defects = decode_japanese(data, None)
    assert decoded.startswith("住民票の写し")
    assert codec == expected_codec
    assert defects == []


def test_undecodable_bytes_last_resort_replaces_and_records_defect() -> None:
    decoded, codec, defects = decode_japanese(b"\xff\xfe\xfd\x80abc", "iso-2022-jp")
    assert "abc" in decoded and "\ufffd" in decoded
    assert codec == "utf-8"
    assert any(d.startswith("UndecodableBytes") for d in defects)


# ---------------------------------------------------------------------------
# Outlook
# ---------------------------------------------------------------------------

OUTLOOK_BODY = """世田谷区 道路管理課 御中

いつもお世話になっております。㈱世田谷商事の山田です。
①三軒茶屋駅前の歩道の段差（約5cm～10cm）が直っていません。
②第Ⅱ期工事の説明会の日程を教えてください。

よろしくお願いいたします。

-----Original Message-----
From: 世田谷区 道路管理課 <doro@example.jp>
Sent: Sunday, November 1, 2026 10:00 AM
To: 山田 太郎 <taro@example.co.jp>
Subject: RE: 歩道の段差について

山田様
お問い合わせありがとうございます。確認いたします。
"""


def outlook_iso2022jp_raw() -> bytes:
    subject = "RE: ①歩道の段差について（㈱世田谷商事）～至急"
    headers = crlf(
        f"""From: {b_word("山田 太郎", "ISO-2022-JP")} <taro@example.co.jp>
To: {b_word("世田谷区 道路管理課", "ISO-2022-JP")} <doro@example.jp>
Cc: jimu@example.co.jp, {b_word("佐藤", "ISO-2022-JP")} <sato@example.co.jp>
Subject: {b_word(subject[:12], "ISO-2022-JP")}
 {b_word(subject[12:], "ISO-2022-JP")}
Date: Mon, 2 Nov 2026 09:15:00 +0900
Message-ID: <000001dc0a1b$abcdef$0100a8c0@PC01>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-2022-jp"
Content-Transfer-Encoding: 7bit
X-Mailer: Microsoft Outlook 16.0

"""
    ).encode("ascii")
    return headers + to_iso2022jp_outlook(crlf(OUTLOOK_BODY))


def test_outlook_iso2022jp_headers_and_body() -> None:
    p = parse_email(outlook_iso2022jp_raw())
    assert p.subject == "RE: ①歩道の段差について（㈱世田谷商事）～至急"
    assert p.from_ == "山田 太郎 <taro@example.co.jp>"
    assert p.to == ["世田谷区 道路管理課 <doro@example.jp>"]
    assert p.cc == ["jimu@example.co.jp", "佐藤 <sato@example.co.jp>"]
    assert p.date == "2026-11-02T09:15:00+09:00"
    assert p.message_id == "<000001dc0a1b$abcdef$0100a8c0@PC01>"
    assert p.charset == "iso-2022-jp"
    assert "①三軒茶屋駅前" in p.body and "㈱世田谷商事" in p.body
    assert "約5cm～10cm" in p.body and "第Ⅱ期工事" in p.body
    assert "お問い合わせありがとうございます" not in p.body
    assert "Original Message" not in p.body
    assert kinds(p) == ["quote_header", "quote"]
    assert "Subject: RE: 歩道の段差について" in stripped_text(p, "quote_header")
    assert "確認いたします" in stripped_text(p, "quote")
    assert p.defects == []
    assert_nothing_lost(p)


def outlook_sjis_raw(abuse: str = "") -> bytes:
    body = f"""ご担当者様

ごみの収集が今週も来ませんでした。①月曜 ②木曜 の両日です。
対応をお願いします。

鈴木 花子

差出人: 世田谷区 清掃事務所 <seiso@example.jp>
送信日時: 2026年11月1日 10:00
宛先: 鈴木 花子 <hanako@example.ne.jp>
件名: RE: ごみ収集について

鈴木様
収集漏れの件、承知しました。{abuse}
"""
    msg = EmailMessage()
    msg["From"] = Header("鈴木 花子", "shift_jis").encode() + " <hanako@example.ne.jp>"
    msg["To"] = "seiso@example.jp"
    msg["Subject"] = Header("RE: ごみ収集について", "shift_jis").encode()
    msg["Date"] = "Tue, 03 Nov 2026 08:00:00 +0900"
    msg.set_content(body.encode("cp932"), maintype="text", subtype="plain", cte="base64")
    msg.set_param("charset", "Shift_JIS")
    return msg.as_bytes()


def test_outlook_shift_jis_with_japanese_header_block() -> None:
    p = parse_email(outlook_sjis_raw())
    assert p.subject == "RE: ごみ収集について"
    assert p.from_ == "鈴木 花子 <hanako@example.ne.jp>"
    assert p.charset == "shift_jis"
    assert p.body.startswith("ご担当者様")
    assert "①月曜 ②木曜" in p.body
    assert "承知しました" not in p.body
    assert kinds(p)[-2:] == ["quote_header", "quote"]
    header = stripped_text(p, "quote_header")
    assert header.startswith("差出人:") and "件名: RE: ごみ収集について" in header
    assert_nothing_lost(p)


def test_abuse_in_outlook_quote_is_stripped_but_reported() -> None:
    p = parse_email(outlook_sjis_raw(abuse="\n死ね"))
    assert "死ね" not in p.body
    assert "死ね" in stripped_text(p, "quote")


OUTLOOK_HTML = """<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-2022-jp">
<style><!-- p.MsoNormal {margin:0mm;} --></style>
<script>alert("x")</script></head>
<body lang="JA"><div class="WordSection1">
<p class="MsoNormal">児童手当の件でご連絡します。<o:p></o:p></p>
<p class="MsoNormal">申請書を&lt;郵送&gt;しましたが&amp;届いていますか？<br>ご確認ください。<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0mm 0mm 0mm">
<p class="MsoNormal"><b>差出人:</b> 世田谷区 子ども家庭課 &lt;kodomo@example.jp&gt;<br>
<b>送信日時:</b> 2026年11月1日 10:00<br>
<b>宛先:</b> 高橋 &lt;takahashi@example.jp&gt;<br>
<b>件名:</b> 児童手当について</p></div>
<p class="MsoNormal">高橋様　ふざけるな（区の職員の以前の返信の引用）</p>
</div></body></html>"""


def outlook_html_mixed_raw() -> bytes:
    """Outlook: mixed > (alternative > (plain, related > (html, image))), pdf."""
    plain_text = "児童手当の件でご連絡します。\n申請書を<郵送>しましたが&届いていますか？\nご確認ください。\n"
    outer = MIMEMultipart("mixed")
    outer["From"] = "takahashi@example.jp"
    outer["To"] = "kodomo@example.jp"
    outer["Subject"] = Header("児童手当について", "iso-2022-jp").encode()
    alt = MIMEMultipart("alternative")
    alt.attach(MIMEText(plain_text, "plain", "utf-8"))
    related = MIMEMultipart("related")
    related.attach(MIMEText(OUTLOOK_HTML, "html", "utf-8"))
    img = MIMEImage(b"\x89PNG\r\n\x1a\n" + b"\x00" * 92, "png")
    img.add_header("Content-ID", "<image001.png@01DC0A1B>")
    related.attach(img)
    alt.attach(related)
    outer.attach(alt)
    pdf = MIMEApplication(b"%PDF-1.4\n" + b"0" * 1000, "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "申請書①.pdf"))
    outer.attach(pdf)
    return outer.as_bytes()


def test_outlook_nested_multipart_prefers_plain_and_lists_attachments() -> None:
    p = parse_email(outlook_html_mixed_raw())
    assert p.body == "児童手当の件でご連絡します。\n申請書を<郵送>しましたが&届いていますか？\nご確認ください。"
    assert p.charset == "utf-8"
    assert p.subject == "児童手当について"
    types = sorted(a.content_type for a in p.attachments)
    assert types == ["application/pdf", "image/png"]
    pdf = next(a for a in p.attachments if a.content_type == "application/pdf")
    assert pdf.size == 9 + 1000
    assert pdf.filename == "申請書①.pdf"
    assert "%PDF" not in p.full_text


def test_outlook_html_only_is_converted_and_header_block_stripped() -> None:
    msg = MIMEMultipart("alternative")
    msg["From"] = "takahashi@example.jp"
    msg["Subject"] = "children"
    html = MIMEText("", "html", "utf-8")
    html.set_payload(to_iso2022jp_outlook(OUTLOOK_HTML).decode("ascii"))
    html.replace_header("Content-Type", 'text/html; charset="iso-2022-jp"')
    html.replace_header("Content-Transfer-Encoding", "7bit")
    empty_plain = MIMEText("", "plain", "utf-8")
    msg.attach(empty_plain)
    msg.attach(html)
    p = parse_email(msg.as_bytes())
    assert p.body == "児童手当の件でご連絡します。\n申請書を<郵送>しましたが&届いていますか？\nご確認ください。"
    assert "alert" not in p.full_text and "MsoNormal" not in p.full_text
    assert "ふざけるな" not in p.body
    assert "ふざけるな" in stripped_text(p, "quote")
    assert stripped_text(p, "quote_header").startswith("差出人:")
    assert_nothing_lost(p)


# ---------------------------------------------------------------------------
# Thunderbird
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quote_header",
    [
        "2026/11/01 10:00, 世田谷区 保育課 wrote:",
        "On 2026/11/01 10:00, 世田谷区 保育課 wrote:",
        "世田谷区 保育課 さんが書きました:",
        "2026/11/01 10:00 に 世田谷区 保育課 さんは書きました:",
    ],
)
def test_thunderbird_flowed_utf8(quote_header: str) -> None:
    body = (
        "保育課 ご担当者様\r\n\r\n"
        "入園申請の結果通知がまだ届きません。いつ頃になるか教えていただけますで \r\n"
        "しょうか。\r\n\r\n"
        f"{quote_header}\r\n"
        "> 申請は受け付けました。結果は12月中旬に \r\n"
        "> 郵送します。\r\n"
        ">\r\n"
        "> バカじゃないの（前の引用）\r\n\r\n"
        "-- \r\n"
        "田中 一郎\r\n"
        "〒154-0001 東京都世田谷区池尻1-2-3\r\n"
    )
    raw = crlf(
        """From: =?UTF-8?B?55Sw5LitIOS4gOmDjg==?= <ichiro@example.com>
To: hoiku@example.jp
Subject: =?UTF-8?B?UmU6IOWFpeWckueUs+iri+OBq+OBpOOBhOOBpg==?=
Date: Sun, 1 Nov 2026 21:03:10 +0900
User-Agent: Mozilla Thunderbird
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

"""
    ).encode() + body.encode("utf-8")
    p = parse_email(raw)
    assert p.from_ == "田中 一郎 <ichiro@example.com>"
    assert p.subject == "Re: 入園申請について"
    assert p.body == (
        "保育課 ご担当者様\n\n入園申請の結果通知がまだ届きません。いつ頃になるか教えていただけますで しょうか。"
    )
    assert kinds(p) == ["quote_header", "quote", "signature"]
    assert stripped_text(p, "quote_header") == quote_header
    assert "結果は12月中旬に 郵送します。" in stripped_text(p, "quote")
    assert "バカ" not in p.body
    assert stripped_text(p, "signature").startswith("-- \n田中 一郎\n〒154-0001")
    assert_nothing_lost(p)


def test_flowed_delsp_yes_joins_without_space() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=UTF-8; format=flowed; delsp=yes\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    ) + "区役所の窓口 \r\nの対応について\r\n".encode()
    assert parse_email(raw).body == "区役所の窓口の対応について"


# ---------------------------------------------------------------------------
# Gmail
# ---------------------------------------------------------------------------

GMAIL_QUOTE_HEADERS = [
    "2026年11月1日(日) 10:00 世田谷区 <koe@example.jp>:",
    "On Sun, Nov 1, 2026 at 10:00 AM 世田谷区 <koe@example.jp> wrote:",
    "On Sun, Nov 1, 2026 at 10:00 AM 世田谷区 区民の声担当 <\nkoe@example.jp> wrote:",
]


@pytest.mark.parametrize("quote_header", GMAIL_QUOTE_HEADERS)
def test_gmail_alternative_base64(quote_header: str) -> None:
    plain = (
        "区民の声 ご担当者様\n\n"
        "公園のトイレがまた壊れています。\n先月も連絡しましたが、まだ直っていません。\n\n"
        f"{quote_header}\n\n"
        "> ご連絡ありがとうございます。\n> 修理を手配します。\n> 死ね\n"
    )
    html = (
        '<div dir="ltr">区民の声 ご担当者様<br><br>公園のトイレがまた壊れています。<br>'
        "先月も連絡しましたが、まだ直っていません。</div><br>"
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f"{quote_header.replace(chr(10), '').replace('<', '&lt;').replace('>', '&gt;')}<br></div>"
        '<blockquote class="gmail_quote">ご連絡ありがとうございます。<br>修理を手配します。<br>死ね</blockquote></div>'
    )
    msg = MIMEMultipart("alternative")
    msg["From"] = "=?UTF-8?B?5bCP5p6XIOWSsg==?= <saki@gmail.com>"
    msg["To"] = "koe@example.jp"
    msg["Subject"] = "=?UTF-8?B?UmU6IOWFrOWckuOBruODiOOCpOODrA==?="
    msg["Date"] = "Sun, 1 Nov 2026 12:34:56 +0900"
    msg.attach(MIMEText(plain, "plain", "utf-8"))  # utf-8 → base64
    msg.attach(MIMEText(html, "html", "utf-8"))
    raw = msg.as_bytes()
    assert b"Content-Transfer-Encoding: base64" in raw
    p = parse_email(raw)
    assert p.subject == "Re: 公園のトイレ"
    assert p.from_ == "小林 咲 <saki@gmail.com>"
    assert p.body == (
        "区民の声 ご担当者様\n\n公園のトイレがまた壊れています。\n先月も連絡しましたが、まだ直っていません。"
    )
    assert kinds(p) == ["quote_header", "quote"]
    assert "死ね" not in p.body and "死ね" in stripped_text(p, "quote")
    assert_nothing_lost(p)


@pytest.mark.parametrize("quote_header", [h.replace("\n", "") for h in GMAIL_QUOTE_HEADERS])
def test_gmail_html_only_blockquote_is_quote(quote_header: str) -> None:
    html = (
        '<div dir="ltr">区民の声 ご担当者様<br><br>公園のトイレがまた壊れています。</div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f"{quote_header.replace('<', '&lt;').replace('>', '&gt;')}<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        "ご連絡ありがとうございます。<br>死ね</blockquote></div>"
    )
    msg = MIMEText(html, "html", "utf-8")
    msg["From"] = "saki@gmail.com"
    msg["Subject"] = "Re"
    p = parse_email(msg.as_bytes())
    assert p.body == "区民の声 ご担当者様\n\n公園のトイレがまた壊れています。"
    assert kinds(p) == ["quote_header", "quote"]
    assert "> 死ね" in stripped_text(p, "quote")


def test_gmail_forwarded_message_is_stripped() -> None:
    text = (
        "以下、区から届いたメールを転送します。確認をお願いします。\n\n"
        "---------- Forwarded message ---------\n"
        "From: 世田谷区 <koe@example.jp>\nDate: 2026年11月1日(日) 10:00\n"
        "Subject: ご意見について\nTo: <saki@gmail.com>\n\n本文（区の回答）\n"
    )
    body, blocks = split_reply(text)
    assert body == "以下、区から届いたメールを転送します。確認をお願いします。"
    assert [b.kind for b in blocks] == ["forwarded"]
    assert "本文（区の回答）" in blocks[0].text


@pytest.mark.parametrize(
    "marker",
    ["---------- Forwarded message ---------", "-------- 転送メッセージ --------", "Begin forwarded message:",
     "転送されたメッセージ:"],
)
def test_forward_markers(marker: str) -> None:
    body, blocks = split_reply(f"ご確認ください。\n\n{marker}\n\n差出人: 区\n件名: 通知\n\n古い本文\n")
    assert body == "ご確認ください。"
    assert [b.kind for b in blocks] == ["forwarded"]


# ---------------------------------------------------------------------------
# iPhone Mail
# ---------------------------------------------------------------------------


def iphone_raw(text: str) -> bytes:
    qp = quopri.encodestring(crlf(text).encode("utf-8")).decode("ascii")
    return crlf(
        """Content-Type: text/plain;
\tcharset=utf-8
Content-Transfer-Encoding: quoted-printable
From: =?utf-8?B?5LqV5LiKIOiKsQ==?= <hana.inoue@icloud.com>
Mime-Version: 1.0 (1.0)
Date: Sun, 1 Nov 2026 10:30:00 +0900
Subject: =?utf-8?Q?Re:_=E9=A7=90=E8=BC=AA=E5=A0=B4?=
Message-Id: <ABCDEF01-2345-6789@icloud.com>
To: churin@example.jp
X-Mailer: iPhone Mail (22A3354)

"""
    ).encode("ascii") + qp.encode("ascii")


def test_iphone_quoted_printable_signature_and_quote_header() -> None:
    text = (
        "駐輪場の件、了解しました。\n\nでも撤去の前に一言連絡がほしかったです。\n\n"
        "iPhoneから送信\n\n"
        "2026/11/01 10:00、世田谷区 駐輪対策係 <churin@example.jp>のメール:\n\n"
        "> 放置自転車として撤去しました。\n> 保管所は下記のとおりです。\n"
    )
    p = parse_email(iphone_raw(text))
    assert p.subject == "Re: 駐輪場"
    assert p.from_ == "井上 花 <hana.inoue@icloud.com>"
    assert p.body == "駐輪場の件、了解しました。\n\nでも撤去の前に一言連絡がほしかったです。"
    assert kinds(p) == ["signature", "quote_header", "quote"]
    assert stripped_text(p, "signature") == "iPhoneから送信"
    assert stripped_text(p, "quote_header").endswith("のメール:")
    assert_nothing_lost(p)


# ---------------------------------------------------------------------------
# EUC-JP, quoted-printable, attachments
# ---------------------------------------------------------------------------


def test_euc_jp_message_with_rfc2047_euc_subject() -> None:
    body = "図書館の返却ポストが壊れています。\n①正面入口 ②裏口\n"
    raw = crlf(
        f"""From: {b_word("中村", "EUC-JP")} <nakamura@example.org>
To: toshokan@example.jp
Subject: {b_word("返却ポストの故障", "EUC-JP")}
MIME-Version: 1.0
Content-Type: text/plain; charset=EUC-JP
Content-Transfer-Encoding: 8bit

"""
    ).encode("ascii") + to_eucjp_ms(crlf(body))
    p = parse_email(raw)
    assert p.subject == "返却ポストの故障"
    assert p.from_ == "中村 <nakamura@example.org>"
    assert p.charset == "euc-jp"
    assert p.body == "図書館の返却ポストが壊れています。\n①正面入口 ②裏口"


@pytest.mark.parametrize("charset", ["iso-2022-jp", "shift_jis", "euc-jp", "utf-8"])
def test_quoted_printable_in_each_charset(charset: str) -> None:
    text = "税の申告について質問です。\n控除の書類はどこに出せばよいですか。\n"
    if charset == "iso-2022-jp":
        data = to_iso2022jp_outlook(text)
    elif charset == "shift_jis":
        data = text.encode("cp932")
    else:
        data = text.encode(charset)
    raw = (
        b"From: q@example.com\r\nSubject: zei\r\nMIME-Version: 1.0\r\n"
        + f"Content-Type: text/plain; charset={charset}\r\n".encode()
        + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + quopri.encodestring(data)
    )
    p = parse_email(raw)
    assert p.body == text.strip()
    assert p.charset == charset


def test_pdf_attachment_listed_not_scored() -> None:
    msg = EmailMessage()
    msg["From"] = "kenchiku@example.com"
    msg["To"] = "kenchiku@example.jp"
    msg["Subject"] = "騒音の記録"
    msg.set_content("工事の騒音の記録を添付します。\n")
    pdf_bytes = b"%PDF-1.7\n" + "死ね 殺すぞ".encode() + b"\n%%EOF\n"
    msg.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename="騒音記録.pdf")
    msg.add_attachment("メモ: 死ね", subtype="plain", filename="memo.txt")
    p = parse_email(msg.as_bytes())
    assert p.body == "工事の騒音の記録を添付します。"
    assert p.attachments == [
        Attachment("騒音記録.pdf", "application/pdf", len(pdf_bytes)),
        Attachment("memo.txt", "text/plain", len("メモ: 死ね\n".encode())),
    ]
    assert "死ね" not in p.full_text


def test_rfc2047_filename_in_quotes_is_decoded() -> None:
    raw = crlf(
        f"""From: a@example.jp
Subject: x
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

本文
--b1
Content-Type: application/pdf; name="{b_word("①図面.pdf", "ISO-2022-JP")}"
Content-Disposition: attachment; filename="{b_word("①図面.pdf", "ISO-2022-JP")}"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1--
"""
    ).encode("utf-8")
    p = parse_email(raw)
    assert p.attachments == [Attachment("①図面.pdf", "application/pdf", 9)]
    assert p.body == "本文"


def test_forwarded_message_attachment_is_not_scored() -> None:
    inner = EmailMessage()
    inner["From"] = "x@example.jp"
    inner["Subject"] = "old"
    inner.set_content("古いメール 死ね\n")
    outer = EmailMessage()
    outer["From"] = "y@example.jp"
    outer["Subject"] = "fwd"
    outer.set_content("転送します。\n")
    outer.add_attachment(inner)
    p = parse_email(outer.as_bytes())
    assert p.body == "転送します。"
    assert [a.content_type for a in p.attachments] == ["message/rfc822"]
    assert p.attachments[0].size > 0
    assert "死ね" not in p.full_text


# ---------------------------------------------------------------------------
# Signatures and rule lines
# ---------------------------------------------------------------------------

SIGNATURES = [
    "──────────────\n山田 太郎\n〒154-0017 東京都世田谷区世田谷4-21-27\nTEL: 03-1234-5678",
    "━━━━━━━━━━━━━━━\n株式会社サンプル 総務部\n佐藤 次郎\nMail: jiro@example.co.jp\n━━━━━━━━━━━━━━━",
    "＝＝＝＝＝＝＝＝＝＝\n世田谷 花子\n電話 090-1234-5678",
    "*****************\n伊藤 三郎\n*****************",
    "-----------\n木村\nkimura@example.ne.jp",
    "-- \n高橋 四郎\n住所：世田谷区太子堂",
    "Sent from my iPhone",
    "Androidから送信",
    "--\n世田谷区民 山田 太郎\nTEL：090-1234-5678",
    "━━━━━━━━━━━━━━━\nNPO法人 せたがやの森\n理事長 北沢 みどり\n〒154-0004 東京都世田谷区太子堂1-2-3\n"
    "https://example.org\n━━━━━━━━━━━━━━━",
    "-- \n株式会社サンプル不動産 管理部\n担当：佐藤 花子\nTEL 03-1234-5678 / FAX 03-1234-5679\n"
    "Mail: hanako.sato@example.co.jp",
    "＝＝＝＝＝＝＝＝＝＝\n世田谷 花子（せたがや はなこ）\n携帯 ０８０－１２３４－５６７８\n＝＝＝＝＝＝＝＝＝＝",
    "--\nTaro Yamada\nSetagaya, Tokyo\n+81-90-1234-5678",
    "――――――――――\n山田太郎\ntaro＠example.jp\n――――――――――\niPhoneから送信",
]


SIGNATURES += [
    "--\n山田 太郎\nTaro Yamada\n〒154-0017 東京都世田谷区世田谷4丁目21番27号 サンプルビル2F",
    "━━━━━━━━━━\n世田谷区 道路管理課\n担当 佐藤\n電話：03-5432-1111（内線 1234）",
    "-----\nSample Trading Co., Ltd.\nJiro Sato\nMobile: 090-1234-5678\nURL: https://example.co.jp",
    "-- \nサンプル 株式会社\n代表取締役 佐藤 次郎",
    "--\n世田谷 花子",
    "━━━━━━━━━━\n株式会社サンプル\n営業部 佐藤\nTel: 03-1234-5678  Fax: 03-1234-5679",
    "--\n北沢 花子\n〒155-0031 世田谷区北沢2-8-18 ハイツ北沢 203\nE-mail: hanako@example.jp",
]

#: Business signatures with a department-and-title line, an organisation before the name on one
#: line, a name with its address, a number with (代表) or 内線, less common contact labels and
#: business hours.
SIGNATURES += [
    "--\n株式会社サンプル\n総務部 部長\n山田 太郎\nTEL: 03-1234-5678",
    "--\n世田谷区 町会長\n山田 太郎",
    "--\n(株)サンプル\n総務部 総務課 係長\n鈴木 一郎\nTEL：03-1234-5678（直通）\nE-mail：ichiro@example.co.jp",
    "━━━━━━━━━━\n㈱サンプル\n営業部 部長代理\n佐藤 次郎\n電話 03-1234-5678 内線123",
    "--\n世田谷区 道路管理課\n総務課 主任\n高橋 四郎",
    "--\n山田 太郎\nEメール：taro@example.jp",
    "--\n株式会社サンプル\n山田 太郎\nTEL 03-1234-5678(代表)",
    "--\n山田 太郎 <taro@example.jp>",
    "--\n山田太郎 ＜taro@example.jp＞",
    "══════════\n株式会社サンプル 世田谷営業所\n佐藤 花子\n営業時間 9:00-18:00\n"
    "受付時間：平日 8:30〜17:15（土日祝休み）\n══════════",
]


@pytest.mark.parametrize("signature", SIGNATURES)
def test_signature_blocks_are_stripped(signature: str) -> None:
    text = "区営住宅の修繕の件です。\n浴室の換気扇が動きません。\n見に来てください。\n\n" + signature + "\n"
    body, blocks = split_reply(text)
    assert body == "区営住宅の修繕の件です。\n浴室の換気扇が動きません。\n見に来てください。"
    assert [(b.kind, b.text) for b in blocks] == [("signature", signature)]


RULE_IN_TEXT = [
    # a rule between sections of the real text, far from the end
    "ご意見です。\n==========\n"
    + "".join(f"{i}. 騒音が毎晩続いています。\n" for i in range(1, 15))
    + "以上です。",
    # a rule near the end but followed by sentences, not contacts
    "要望をまとめました。\n--------------------\n駐輪場を増やしてください。\n照明も暗いです。",
    "要望は以下の通りです\n*****\n早急に対応してください\nお願いします",
    # e-mail-ish words inside sentences are not contact lines
    "問い合わせました。\n-----\nメールで回答をください。",
]


@pytest.mark.parametrize("text", RULE_IN_TEXT)
def test_rule_line_in_the_middle_is_not_a_signature(text: str) -> None:
    body, blocks = split_reply(text)
    assert body == text
    assert blocks == []


NEW_TEXT_AFTER_SEPARATOR = [
    # what the sender writes below a separator is new text unless it looks like a signature
    "先日の件について。\n\n要望は以下のとおりです\n--\n担当者を今すぐクビにしろ\nできないなら区役所に火をつける",
    "ごみの収集について何度もお願いしています。\n\n==========\n担当者をぶっ殺すぞ\n家も知ってるからな\n夜道に気をつけろ",
    "ごみの収集について。\n--\n担当者をぶっ殺すぞ",
    "以下、要求です。\n*****\n土下座しろ\n念書を書け",
    "回答を待っています。\n-- \n山田 太郎\n返事がなければ区役所に乗り込むからな",
    "―――――――――\n窓口の佐藤、お前の家は分かってる\nTEL 090-1234-5678",
    "説明会の件です。\n━━━━━━━━━━\n税金泥棒\n山田",
]


@pytest.mark.parametrize("text", NEW_TEXT_AFTER_SEPARATOR)
def test_new_text_below_a_separator_is_not_a_signature(text: str) -> None:
    body, blocks = split_reply(text)
    assert blocks == []
    assert body == text.replace("-- \n", "--\n")  # body lines lose trailing spaces


#: Lines a signature never contains: below a separator and a name they are new text.
THREATS_BELOW_A_NAME = [
    # organisation or titles, then two ordinary words in a name's place (a third reviewer's lines)
    "総務部 部長 自宅 特定",
    "清掃課 課長 住所 特定済",
    "区役所 担当者 自宅 突撃",
    "総務課 課長 顔写真 入手",
    "世田谷区役所 課長 自宅 放送",
    "担当者の自宅住所 把握済",
    "明日10時 窓口 包丁",
    "ガソリン持参",
    "次は実力行使",
    "I will kill you",
    "灯油缶用意済",
    "職員 全員 血祭",
    "ナイフ持参で窓口へ",
    "担当者 鈴木 許さない",
    "総務部 全員 覚悟",
    "区役所 いくぞ",
    "世田谷区役所 10時",
    "I Will Kill You",
    "実力行使",
]


@pytest.mark.parametrize("line", THREATS_BELOW_A_NAME)
@pytest.mark.parametrize(
    "signature",
    [
        "-----\n山田太郎",
        "--\n山田 太郎\nTEL 03-1234-5678",
        "━━━━━━━━━━\n株式会社サンプル 総務部\n佐藤 次郎",
        "--\n株式会社サンプル\n総務部 部長\n山田 太郎",
        "--\n営業部 課長\n山田 太郎\nTEL 03-1234-5678(代表)",
        "--\n山田 太郎 <taro@example.jp>\n営業時間 9:00-18:00",
    ],
)
def test_a_line_that_is_not_a_signature_line_keeps_the_block_in_the_body(signature: str, line: str) -> None:
    head = f"窓口の対応に抗議します。\n{signature}\n{line}"
    for text in (head, head + "\n山田"):
        body, blocks = split_reply(text)
        assert blocks == []
        assert body == text


#: Lines shaped like the signature lines accepted above (hours, name and address, titles) that
#: carry new text: below a separator they keep the block in the body.
NEAR_SIGNATURE_LINES = [
    "受付時間 明日 乗り込む",
    "営業時間 包丁持参",
    "営業時間に窓口へ行きます",
    "山田 太郎 <taro@example.jp> 返事をください",
    "山田 部長",
    "総務部 部長 出てこい",
    "課長 山田 太郎 拝",
]


@pytest.mark.parametrize("line", NEAR_SIGNATURE_LINES)
def test_lines_near_the_new_signature_shapes_are_new_text(line: str) -> None:
    text = f"窓口の対応に抗議します。\n--\n株式会社サンプル\n総務部 部長\n山田 太郎\n{line}"
    body, blocks = split_reply(text)
    assert blocks == []
    assert body == text


#: Signatures Outlook and webmail insert with no separator line: the last paragraph, all
#: signature lines, with a contact or an address and a name or an organisation.
SIGNATURES_WITHOUT_SEPARATOR = [
    "山田 太郎\nTEL 090-1234-5678",
    "山田 太郎\n〒154-0001 東京都世田谷区池尻1-2-3",
    "株式会社サンプル 総務部\n山田 太郎\n〒154-0001 東京都世田谷区池尻1-2-3\nTEL 03-1234-5678\nMail: taro@example.jp",
    "NPO法人 せたがやの森\n理事長 北沢 みどり\nmidori@example.org",
    "Taro Yamada\ntaro.yamada@example.com",
]


@pytest.mark.parametrize("signature", SIGNATURES_WITHOUT_SEPARATOR)
def test_a_last_paragraph_of_signature_lines_is_a_signature_without_a_separator(signature: str) -> None:
    new = "粗大ごみの収集がまだ来ません。\nいつ来るのですか。"
    body, blocks = split_reply(f"{new}\n\n{signature}\n")
    assert body == new
    assert [(b.kind, b.text) for b in blocks] == [("signature", signature)]


@pytest.mark.parametrize("text", [
    "粗大ごみの収集がまだ来ません。\n\n山田 太郎",  # the writer signing: no contact
    "折り返しお願いします。\n\n090-1234-5678",  # a contact alone: no name
    "山田 太郎\nTEL 090-1234-5678",  # nothing before it
    "ふざけるな。\n\n家は知ってるぞ\nTEL 090-1234-5678",  # a threat in the paragraph
    "ふざけるな。\n\n山田 太郎\nTEL 090-1234-5678\n明日窓口に行くからな",
    "回答を待っています。\n\n山田 太郎\n鈴木 花子\nTEL 090-1234-5678",  # two names: not one signer
    "いい加減にしろ。\n\n家族 誘拐\nTEL 090-1234-5678",  # two kanji words that are no name
    "いい加減にしろ。\n\n天罰 覿面\n山田商事株式会社\nTEL 090-1234-5678",
    "ふざけるな。\n\nお前 無能\nTEL 090-1234-5678",  # what the threat and insult signals see
    "回答をください。\n\n山田太郎\nTEL 090-1234-5678",  # a kanji-only name is not enough without a separator
    "回答をください。\n\n山田 太郎\n株式会社サンプル 総務部",  # a name and an organisation, but no contact
    "回答をください。\n\nTEL 090-1234-5678\nMail: taro@example.jp",  # contacts, but no one signing
])
def test_a_last_paragraph_that_is_not_one_signature_stays_in_the_body(text: str) -> None:
    body, blocks = split_reply(text)
    assert blocks == []
    assert body == text


def test_threats_above_a_real_signature_are_kept_and_the_signature_stripped() -> None:
    text = "ごみの収集について何度もお願いしています。\n担当者をぶっ殺すぞ\n\n──────────\n山田 太郎\nTEL 03-1234-5678"
    body, blocks = split_reply(text)
    assert body == "ごみの収集について何度もお願いしています。\n担当者をぶっ殺すぞ"
    assert [(b.kind, b.text) for b in blocks] == [("signature", "──────────\n山田 太郎\nTEL 03-1234-5678")]


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("ご回答ください。\nSent from my iPhone\n死ね", "ご回答ください。\n死ね"),
        ("説明してください。\n\niPhoneから送信\n\nお前ら全員クビだ", "説明してください。\n\nお前ら全員クビだ"),
    ],
)
def test_mobile_footer_removes_only_itself(text: str, body: str) -> None:
    got, blocks = split_reply(text)
    assert got == body
    assert [b.kind for b in blocks] == ["signature"]


def test_mobile_like_sentence_in_body_is_kept() -> None:
    text = "何度もフォームから送信しましたが返事がありません。"
    assert split_reply(text) == (text, [])


def test_signature_in_message_with_quote_and_nothing_lost() -> None:
    raw = crlf(
        """From: a@example.jp
To: b@example.jp
Subject: =?UTF-8?B?44GU44G/?=
Content-Type: text/plain; charset=utf-8

収集日を変えてほしいです。

────────────
世田谷 太郎
〒154-0001
TEL 03-0000-0000
────────────

2026年11月1日(日) 10:00 世田谷区 <koe@example.jp>:
> お問い合わせの件
> ぶっ殺すぞ（引用）
"""
    ).encode("utf-8")
    p = parse_email(raw)
    assert p.body == "収集日を変えてほしいです。"
    assert kinds(p) == ["signature", "quote_header", "quote"]
    assert "TEL 03-0000-0000" in stripped_text(p, "signature")
    assert "ぶっ殺すぞ" in stripped_text(p, "quote") and "ぶっ殺すぞ" not in p.body
    assert_nothing_lost(p)


def test_interleaved_reply_keeps_all_new_text() -> None:
    text = (
        "2026年11月1日(日) 10:00 世田谷区 <koe@example.jp>:\n"
        "> ご住所を教えてください。\n"
        "世田谷区桜丘1丁目です。\n"
        "> 日時の希望はありますか。\n"
        "平日の午前中でお願いします。\n"
    )
    body, blocks = split_reply(text)
    assert body == "世田谷区桜丘1丁目です。\n平日の午前中でお願いします。"
    assert [b.kind for b in blocks] == ["quote_header", "quote", "quote"]


def test_quote_header_line_without_quotes_mid_text_is_kept() -> None:
    text = "山田さんが書きました:\nという記事を読みましたが、本当ですか。"
    assert split_reply(text) == (text, [])


def test_from_line_alone_is_not_an_outlook_header() -> None:
    text = "From: 世田谷区民より\n公園の草刈りをお願いします。"
    assert split_reply(text) == (text, [])


LETTER_OPENINGS = [
    "差出人：山田太郎\n宛先：世田谷区長 殿\n件名：職員の対応について\n\n"
    "窓口の佐藤という職員の態度が最悪だった。次に会ったらぶっ殺すぞ。家も調べてある。",
    "From: 世田谷区民 山田\nTo: 区長\nSubject: 公園の件\n\n公園の遊具を直してください。",
    "差出人：山田太郎 <taro@example.jp>\n宛先：世田谷区 保育課\n件名：入園の件\n\n点数の計算方法を教えてください。",
]


@pytest.mark.parametrize("text", LETTER_OPENINGS)
def test_header_block_opening_the_message_is_the_senders_own_text(text: str) -> None:
    assert split_reply(text) == (text, [])


@pytest.mark.parametrize(
    "text",
    [
        "________________________________\nFrom: 区 <k@example.jp>\nSent: Sunday, November 1, 2026 10:00\n"
        "To: me\nSubject: x\n\n前の文",
        "差出人: 世田谷区 清掃課 <seiso@example.jp>\n送信日時: 2026年11月20日 10:15\n宛先: 山田 太郎\n"
        "件名: RE: 粗大ごみ\n\n前の文",
        "差出人: 世田谷区 清掃課\n宛先: 山田 太郎\n件名: RE: 粗大ごみ\n\n> 前の文",
    ],
)
def test_quoted_message_at_the_top_is_still_a_quote(text: str) -> None:
    body, blocks = split_reply(text)
    assert body == ""
    assert [b.kind for b in blocks] == ["quote_header", "quote"]


def test_letter_opening_then_a_quoted_outlook_reply() -> None:
    text = (
        "差出人：山田太郎\n宛先：世田谷区長 殿\n件名：再度の苦情\n\n回答に納得できません。\n\n"
        "差出人: 世田谷区 <koe@example.jp>\n送信日時: 2026年11月1日 10:00\n宛先: 山田\n件名: RE: 苦情\n\n"
        "ご意見ありがとうございました。"
    )
    body, blocks = split_reply(text)
    assert body == "差出人：山田太郎\n宛先：世田谷区長 殿\n件名：再度の苦情\n\n回答に納得できません。"
    assert [b.kind for b in blocks] == ["quote_header", "quote"]


@pytest.mark.parametrize(
    "marker",
    ["-----Original Message-----", "-----元のメッセージ-----", "----- Original Message -----"],
)
def test_original_message_markers(marker: str) -> None:
    body, blocks = split_reply(
        f"了解です。\n\n{marker}\nFrom: 区 <k@example.jp>\nSent: 2026/11/01\nSubject: x\n\n前の文\n"
    )
    assert body == "了解です。"
    assert [b.kind for b in blocks] == ["quote_header", "quote"]
    assert blocks[0].text.startswith(marker) and blocks[0].text.endswith("Subject: x")
    assert blocks[1].text == "前の文"


def test_outlook_web_rule_above_header_block() -> None:
    body, blocks = split_reply(
        "確認しました。\n\n________________________________\n"
        "From: 区 <k@example.jp>\nSent: Sunday, November 1, 2026 10:00\nTo: me\nSubject: x\n\n前の文"
    )
    assert body == "確認しました。"
    assert blocks[0] == StrippedBlock(
        "quote_header",
        "________________________________\nFrom: 区 <k@example.jp>\nSent: Sunday, November 1, 2026 10:00\n"
        "To: me\nSubject: x",
    )


# ---------------------------------------------------------------------------
# HTML conversion
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>一行目</p><p>二行目</p>", "一行目\n二行目"),
        ("a<br>b<br/><br>c", "a\nb\n\nc"),
        ("<div>&lt;要望&gt; &amp; &#x6728;&#26408;</div>", "<要望> & 木木"),
        ("<style>p{color:red}</style><script>var x=1;</script><p>本文</p>", "本文"),
        ("<ul><li>ごみ</li><li>道路</li></ul>", "ごみ\n道路"),
        ("<p>前</p><blockquote><p>引用</p><blockquote>二重</blockquote></blockquote><p>後</p>",
         "前\n> 引用\n>> 二重\n後"),
        ("<table><tr><td>氏名</td><td>山田</td></tr></table>", "氏名 山田"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


# ---------------------------------------------------------------------------
# Invalid input and edge cases
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01" + bytes(range(256)),
        "今日は区役所に行きました。\n窓口が混んでいました。\n".encode(),
        b"just some text without any header\n\nmore text\n",
        b"hello: world\n\nthis has a colon but no e-mail header\n",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    ],
)
def test_not_an_email_raises(raw: bytes) -> None:
    with pytest.raises(EmailParseError) as info:
        parse_email(raw)
    assert isinstance(info.value, ComplaintTriageError) and isinstance(info.value, ValueError)
    assert "cannot parse e-mail" in str(info.value)


def test_error_message_does_not_echo_content() -> None:
    with pytest.raises(EmailParseError) as info:
        parse_email("秘密の内容です".encode())
    assert "秘密" not in str(info.value)


@pytest.mark.parametrize("bad", [None, 123, ["From: a"], {"raw": b""}])
def test_wrong_type_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        parse_email(bad)  # type: ignore[arg-type]


def test_str_input_is_accepted() -> None:
    p = parse_email("From: a@example.jp\nSubject: お願い\n\n本文です。\n")
    assert p.subject == "お願い"
    assert p.body == "本文です。"
    assert p.charset == "us-ascii" or p.charset == "utf-8"


def test_headers_only_message_has_empty_body() -> None:
    p = parse_email(b"From: a@example.jp\r\nSubject: empty\r\n\r\n")
    assert p.body == "" and p.full_text == "" and p.stripped == []
    p2 = parse_email(b"From: a@example.jp\r\nSubject: no separator\r\n")
    assert p2.body == ""


def test_missing_headers_default_values() -> None:
    p = parse_email(b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n")
    assert (p.from_, p.to, p.cc, p.subject, p.date, p.message_id) == ("", [], [], "", None, None)


def test_invalid_date_is_none_and_reported() -> None:
    p = parse_email(b"From: a@example.jp\r\nDate: someday soon\r\n\r\nx\r\n")
    assert p.date is None
    assert "InvalidDateHeader" in p.defects


def test_mbox_from_line_and_raw_8bit_sjis_subject() -> None:
    raw = b"From a@example.jp Sun Nov  1 10:00:00 2026\n" + b"From: a@example.jp\nSubject: " + "騒音".encode(
        "cp932"
    ) + b"\nContent-Type: text/plain; charset=shift_jis\n\n" + "うるさい".encode("cp932") + b"\n"
    p = parse_email(raw)
    assert p.subject == "騒音"
    assert p.body == "うるさい"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b_word("【至急】①住民票の写しについて", "ISO-2022-JP"), "【至急】①住民票の写しについて"),
        (b_word("㈱世田谷の件～再送", "ISO-2022-JP"), "㈱世田谷の件～再送"),
        (b_word("介護保険料の通知", "Shift_JIS"), "介護保険料の通知"),
        (b_word("マイナンバーカード", "EUC-JP"), "マイナンバーカード"),
        ("=?UTF-8?Q?=E5=85=90=E7=AB=A5=E6=89=8B=E5=BD=93?=", "児童手当"),
        ("Re: " + b_word("予防接種", "UTF-8") + " (2nd)", "Re: 予防接種 (2nd)"),
        # a UTF-8 character split across two encoded words
        ("=?UTF-8?B?5L+d6IKy?= =?UTF-8?B?5ZyS?=", "保育園"),
        ("=?UTF-8?B?5L+d?=\r\n =?UTF-8?B?6IKy5ZyS?=", "保育園"),
        ("plain ascii subject", "plain ascii subject"),
    ],
)
def test_rfc2047_subjects(header: str, expected: str) -> None:
    raw = f"From: a@example.jp\r\nSubject: {header}\r\n\r\nbody\r\n".encode("ascii")
    assert parse_email(raw).subject == expected


# ---------------------------------------------------------------------------
# to_dict and masking
# ---------------------------------------------------------------------------


def test_to_dict_masks_contacts_and_is_json() -> None:
    p = parse_email(outlook_iso2022jp_raw())
    d = p.to_dict()
    json.dumps(d, ensure_ascii=False)
    assert d["from"] == "山田 太郎 <t***@example.co.jp>"
    assert d["to"] == ["世田谷区 道路管理課 <d***@example.jp>"]
    assert "taro@example.co.jp" not in json.dumps(d, ensure_ascii=False)
    assert d["message_id"] == p.message_id
    assert d["stripped"][0]["kind"] == "quote_header"
    raw = p.to_dict(mask_contacts=False)
    assert raw["from"] == p.from_ and raw["body"] == p.body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("taro.yamada@example.jp", "t***@example.jp"),
        ("連絡先 03-1234-5678 まで", "連絡先 0*-****-**** まで"),
        ("携帯 090-1234-5678", "携帯 0**-****-****"),
        ("2026-11-01 に申請", "2026-11-01 に申請"),
        ("連絡は taro＠example.jp へ", "連絡は t***＠example.jp へ"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "ｔ***＠ｅｘａｍｐｌｅ．ｊｐ"),
        ("携帯 +81-90-1234-5678", "携帯 +**-**-****-****"),
        ("+81 90 1234 5678 まで", "+** ** **** **** まで"),
        ("tel:+819012345678", "tel:+************"),
        ("+81(0)3-1234-5678", "+**(*)*-****-****"),
        ("電話 090.1234.5678", "電話 0**.****.****"),
        ("080 - 1234 - 5678 に折り返せ", "0** - **** - **** に折り返せ"),
        ("(03)1234-5678", "(0*)****-****"),
        ("０３－１２３４－５６７８", "０*－****－****"),
    ],
)
def test_mask_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


ORDINARY_NUMBERS = [
    "申請日は2024-04-01です",
    "令和6年4月1日に提出しました",
    "12,000円を払いました",
    "10:30に窓口へ行きます",
    "3回目の連絡です。待ち時間は45分、番号札は128番でした",
    "受付期間 2026.04.01〜2026.05.31、11:00-12:30",
]


@pytest.mark.parametrize("text", ORDINARY_NUMBERS)
def test_mask_text_leaves_ordinary_numbers(text: str) -> None:
    assert mask_text(text) == text
    assert mask_text(text, keep_length=True) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("taro.yamada@example.jp に返信しろ", "t**********@example.jp に返信しろ"),
        ("今すぐ090-1234-5678に電話しろ", "今すぐ0**-****-****に電話しろ"),
        ("sato＠city.example.lg.jp と +81 3 1234 5678", "s***＠city.example.lg.jp と +** * **** ****"),
    ],
)
def test_mask_text_keep_length(text: str, expected: str) -> None:
    masked = mask_text(text, keep_length=True)
    assert masked == expected
    assert len(masked) == len(text)


def test_to_dict_masks_body_one_character_for_one() -> None:
    raw = crlf(
        """From: taro.yamada@example.jp
Subject: x
Content-Type: text/plain; charset=utf-8

連絡先は taro.yamada.setagaya@example.jp と 090-1234-5678 です。

2026年11月1日(日) 10:00 世田谷区 <koe@example.jp>:
> 前の文 koe.setagaya@example.jp
"""
    ).encode("utf-8")
    p = parse_email(raw)
    d = p.to_dict()
    assert d["body"] == "連絡先は t*******************@example.jp と 0**-****-**** です。"
    assert len(d["body"]) == len(p.body)
    assert [len(b["text"]) for b in d["stripped"]] == [len(b.text) for b in p.stripped]
    assert d["from"] == "t***@example.jp"


def test_to_dict_without_full_text_does_not_mask_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import complaint_triage.email as email_module

    p = parse_email(outlook_iso2022jp_raw())
    masked: list[str] = []
    real = email_module.mask_text
    monkeypatch.setattr(email_module, "mask_text", lambda text, **kw: masked.append(text) or real(text, **kw))
    d = p.to_dict(include_full_text=False)
    assert "full_text" not in d
    assert p.full_text not in masked
    assert d == {k: v for k, v in p.to_dict().items() if k != "full_text"}


def _best_time(fn, arg: str, repeats: int = 3) -> float:
    import time

    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best


#: Long runs that once made a pattern start over at every position (quadratic time): an
#: address pattern over letters and digits, the header-line patterns over spaces, and the
#: rest of the line and signature patterns over their own characters.
LONG_RUNS = {
    "letters": lambda n: "a" * n,
    "digits": lambda n: "1" * n,
    "zeros": lambda n: "0" * n,
    "full-width letters": lambda n: "ａ" * n,
    "dotted letters": lambda n: "a." * (n // 2),
    "at signs": lambda n: "@" * n,
    "letters then @": lambda n: "a" * n + "@",
    "@ then letters": lambda n: "a@" + "a" * n,
    "short local parts": lambda n: "abcdefghi@" * (n // 10),
    "addresses": lambda n: "a@b.jp " * (n // 7),
    "failed domains": lambda n: "a@b!" * (n // 4),
    "full-width at": lambda n: "ａ＠ａ" * (n // 3),
    "spaces": lambda n: " " * n,
    "spaces then x": lambda n: "苦情です\n" + " " * n + "x",
    "header name then spaces": lambda n: "苦情です\n差出人" + " " * n + "x",
    "stars and spaces": lambda n: "苦情です\n" + " *" * (n // 2) + "x",
    "separators": lambda n: "0-" * (n // 2),
    "digits and spaces": lambda n: "0 " * (n // 2),
    "phone start then spaces": lambda n: "+1" + " " * n + "x",
    "phone groups and spaces": lambda n: ("01" + " " * 40) * (n // 42),
    "dashes": lambda n: "苦情です\n" + "-" * n + "x",
    "rule then a long line": lambda n: "苦情です\n-----\n山田 太郎\n" + "a" * n,
    "mobile footer then spaces": lambda n: "苦情です\nSent from my " + " " * n + "x",
    "quote header shape": lambda n: "苦情です\n2024年4月1日 " + "<" * n + ":",
    "full-width quotes between lines": lambda n: "苦\n＞引\n" * (n // 6),
    "quotes between lines": lambda n: "苦\n> 引\n" * (n // 6),
    "a long quote, then one-line ones": lambda n: "＞引\n" * (n // 8) + "苦\n＞引\n" * (n // 12),
}


@pytest.mark.parametrize("name", list(LONG_RUNS))
@pytest.mark.parametrize(
    "fn", [mask_text, split_reply, lambda t: mask_text(t, keep_length=True)], ids=["mask", "split", "mask_keep"]
)
def test_cost_grows_linearly_with_a_long_run(fn, name: str) -> None:
    """A 20,000-character run once cost seconds (and a 50,000-space line a minute).  A ratio in
    one run, not a time: 8x the text must cost well under 64x (quadratic); linear is about 8x."""
    make = LONG_RUNS[name]
    # best of 7, short and long calls alternating so that a burst of load slows both: a run of
    # this suite beside two busy benchmark processes once timed all three long calls of a
    # linear case 10x slow (53x for 8x the text)
    short, long = make(2_500), make(20_000)
    times = [(_best_time(fn, short, repeats=1), _best_time(fn, long, repeats=1)) for _ in range(7)]
    t_short = max(min(t for t, _ in times), 2e-5)
    t_long = min(t for _, t in times)
    assert t_long / t_short < 30, f"{name}: {t_long / t_short:.0f}x for 8x the text"


# ---------------------------------------------------------------------------
# mbox and .eml directories
# ---------------------------------------------------------------------------


def _simple(subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "resident@example.jp"
    msg["To"] = "koe@example.jp"
    msg["Subject"] = subject
    msg.set_content(body)
    return msg.as_bytes()


def test_iter_mbox_yields_results_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(path))
    box.add(_simple("一通目", "公園の件です。\n"))
    box.add(outlook_iso2022jp_raw())
    box.flush()
    box.close()
    with path.open("ab") as fh:  # a third "message" that is binary junk without headers
        fh.write(b"\nFrom MAILER-DAEMON Mon Nov  2 09:00:00 2026\n\xff\xd8\xff\xe0 binary junk\n\n")
    results = list(iter_mbox(path))
    assert [k for k, _ in results] == ["0", "1", "2"]
    assert isinstance(results[0][1], ParsedEmail) and results[0][1].subject == "一通目"
    assert isinstance(results[1][1], ParsedEmail) and "①三軒茶屋駅前" in results[1][1].body
    assert isinstance(results[2][1], EmailParseError)


def test_iter_mbox_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(iter_mbox(tmp_path / "nope.mbox"))


def test_iter_eml_dir_sorted_with_broken_file(tmp_path: Path) -> None:
    (tmp_path / "b.eml").write_bytes(_simple("二通目", "道路の件です。\n"))
    (tmp_path / "a.eml").write_bytes(outlook_sjis_raw())
    (tmp_path / "c.EML").write_bytes(b"\x89PNG\r\n\x1a\n not a mail")
    (tmp_path / "notes.txt").write_bytes(_simple("ignored", "x\n"))
    (tmp_path / "sub.eml").mkdir()
    results = list(iter_eml_dir(tmp_path))
    assert [k for k, _ in results] == ["a.eml", "b.eml", "c.EML"]
    assert isinstance(results[0][1], ParsedEmail) and results[0][1].subject == "RE: ごみ収集について"
    assert isinstance(results[1][1], ParsedEmail) and results[1][1].body == "道路の件です。"
    assert isinstance(results[2][1], EmailParseError)


def test_iter_eml_dir_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        list(iter_eml_dir(tmp_path / "missing"))


def test_public_api() -> None:
    import complaint_triage.email as mod

    for name in mod.__all__:
        assert hasattr(mod, name)
    p = parse_email(_simple("x", "y\n"))
    with pytest.raises(AttributeError):
        p.body = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "signature",
    [
        "--\n株式会社サンプル\n総務部 部長 山田 太郎\nTEL: 03-1234-5678",
        "--\n株式会社サンプル 総務部 山田 太郎\nTEL: 03-1234-5678",
        "-----\n営業部 課長 山田 太郎\n連絡先：090-1234-5678",
    ],
)
def test_a_name_after_an_organisation_on_one_line_keeps_the_block(signature: str) -> None:
    """Chosen: any two kanji words can stand where the name stands on such a line (総務部 部長
    自宅 特定), so it is not read as a signature line and the block stays new text (the cheap
    direction); on separate lines the same signature is stripped."""
    text = f"窓口の対応に抗議します。\n{signature}"
    body, blocks = split_reply(text)
    assert blocks == [] and body == text


# ---------------------------------------------------------------------------
# Crafted headers: bounded time, never a hang
# ---------------------------------------------------------------------------


def _parse_within(raw: bytes, seconds: float = 5.0) -> ParsedEmail | EmailParseError:
    """Parse on a daemon thread; fail (instead of hanging the suite) if it does not return."""
    import threading

    out: list[ParsedEmail | EmailParseError] = []

    def run() -> None:
        try:
            out.append(parse_email(raw))
        except EmailParseError as exc:
            out.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"parse_email did not return within {seconds} s"
    return out[0]


def _forward_with_inner_header(inner_header: str) -> bytes:
    inner = (inner_header + "\r\nFrom: anon@example.jp\r\nSubject: 転送\r\n\r\nお前ら殺すぞ\r\n").encode()
    return (
        b"From: staff@example.jp\r\nTo: koe@city.setagaya.example.jp\r\nSubject: Fw\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "転送します。".encode() + b"\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )


@pytest.mark.parametrize("name_len", [5, 70, 80])
def test_attached_message_with_a_long_parameter_name_does_not_hang(name_len: int) -> None:
    """Measuring the attached message with ``as_bytes()`` refolded its Content-Type, and a long
    parameter name before a non-ASCII value sent the stdlib folder into an endless loop."""
    header = 'Content-Type: text/plain; charset="utf-8"; ' + "x" * name_len + '="日本"'
    result = _parse_within(_forward_with_inner_header(header))
    assert isinstance(result, ParsedEmail)
    assert result.body == "転送します。"
    [att] = result.attachments
    assert att.content_type == "message/rfc822" and att.size > len("お前ら殺すぞ".encode())


def _with_header(field: str) -> bytes:
    return ("From: resident@example.jp\r\nSubject: 苦情\r\n" + field + "\r\n\r\n公園の件です。\r\n").encode()


def _nested(field: str) -> bytes:
    return (
        "From: resident@example.jp\r\nSubject: 苦情\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n公園の件です。\r\n"
        f"--b\r\n{field}\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    ).encode()


CRAFTED_HEADERS = {
    "16 KB of quotes in charset": (_with_header('Content-Type: text/plain; charset="' + '"' * 16_000), "over 8192"),
    "quotes in charset": (_with_header('Content-Type: text/plain; charset="' + '"' * 1_500), "delimiters"),
    "quotes in a nested part": (_nested('Content-Type: application/pdf; name="' + '"' * 1_500), "delimiters"),
    "semicolons in a disposition": (_nested("Content-Disposition: attachment;" + ";" * 1_500), "delimiters"),
    "long unfolded Content-Type line": (_nested("Content-Type: application/pdf; name=" + "a" * 3_000), "line over"),
    "huge folded Content-Type": (_nested("Content-Type: application/pdf;" + "\r\n a=b;" * 2_000), "over 8192"),
    "huge Subject": (_with_header("X-Note: " + "あ" * 400_000), "X-Note is over"),
    "huge header section": (_with_header("\r\n".join(f"Received: from relay{i}.example.jp" for i in range(40_000))),
                            "header section is over"),
}


@pytest.mark.parametrize("name", list(CRAFTED_HEADERS))
def test_oversized_or_crafted_headers_are_refused_promptly(name: str) -> None:
    import time

    raw, expected = CRAFTED_HEADERS[name]
    t0 = time.perf_counter()
    result = _parse_within(raw)
    assert time.perf_counter() - t0 < 1.0
    assert isinstance(result, EmailParseError)
    message = str(result)
    assert expected in message and "mail client" in message  # says what is wrong and what to do
    assert "公園" not in message and "resident" not in message


def _recipients(n: int) -> str:
    name = "=?ISO-2022-JP?B?" + base64.b64encode("山田太郎".encode("iso2022_jp")).decode() + "?="
    return "To: " + ",\r\n ".join(f"{name} <user{i:04d}@example.co.jp>" for i in range(n))


@pytest.mark.parametrize(
    ("raw", "expected_to"),
    [
        (_with_header(_recipients(300)), 300),  # about 20 KB in one field
        (_with_header(_recipients(300).replace("To:", "Cc:", 1) + "\r\n" + _recipients(300)), 300),
        (_with_header("References: " + "\r\n ".join(f"<{i:020d}@mail.gmail.com>" for i in range(2_000))), 0),
    ],
    ids=["300-to", "300-to-and-cc", "2000-references"],
)
def test_large_real_address_and_reference_fields_are_read(raw: bytes, expected_to: int) -> None:
    p = parse_email(raw)
    assert p.body == "公園の件です。"
    assert len(p.to) == expected_to
    assert all(t.startswith("山田太郎 <user") for t in p.to)


def _html_mail(css: str) -> bytes:
    html = f"<html><head><style>\n{css}\n</style></head><body><p>公園の件です。</p></body></html>\n"
    return (
        "From: resident@example.jp\r\nSubject: 苦情\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + html
    ).encode()


_MINIFIED_CSS = ".a{color:red;margin:0 auto;font:12px/1.5 sans-serif}" * 60  # about 3 KB on one line


@pytest.mark.parametrize(
    "css",
    [
        f"  .card {{\ncontent-visibility: auto;\n  {_MINIFIED_CSS}",  # the indented line continues it
        f"content-visibility:auto;{_MINIFIED_CSS}",
        f"Content-Language: ja;\n{_MINIFIED_CSS}",
        f"content-box-sizing: x; {'(;)' * 400}",
    ],
    ids=["content-visibility", "one-line", "content-language", "delimiters"],
)
def test_css_lines_starting_with_content_are_not_header_fields(css: str) -> None:
    assert parse_email(_html_mail(css)).body == "公園の件です。"


def test_long_japanese_file_name_in_rfc2231_pieces_is_still_read() -> None:
    """A real long file name folded the way Thunderbird does it stays far below the limits."""
    name = "令和8年度 世田谷区北沢地区 公園遊具点検結果の報告書（第2回 修正版）" * 3
    encoded = "".join(f"%{b:02X}" for b in name.encode())
    pieces = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
    disposition = "Content-Disposition: attachment;" + "".join(
        f"\r\n filename*{i}*={'UTF-8' + chr(39) * 2 if i == 0 else ''}{piece};" for i, piece in enumerate(pieces)
    )
    p = parse_email(_nested("Content-Type: application/pdf\r\n" + disposition.rstrip(";")))
    assert p.body == "公園の件です。"
    assert [a.filename for a in p.attachments] == [name]


# ---------------------------------------------------------------------------
# Wrong charset labels
# ---------------------------------------------------------------------------

THREAT = "お前ら税金泥棒だな。今日中に担当者を出せ。出さないなら窓口に乗り込んで殴ってやるからな。"
COMPLAINT = "①北沢公園の遊具が壊れたままです。㈱世田谷造園に早く直させてください。"

WRONG_LABELS = [
    (THREAT.encode("iso2022_jp"), "us-ascii", THREAT, "iso2022_jp_ms"),
    (THREAT.encode("iso2022_jp"), "utf-8", THREAT, "iso2022_jp_ms"),
    (to_iso2022jp_outlook(COMPLAINT), "US-ASCII", COMPLAINT, "iso2022_jp_ms"),
    (THREAT.encode(), "iso-8859-1", THREAT, "utf-8"),
    (COMPLAINT.encode(), "latin1", COMPLAINT, "utf-8"),
    (THREAT.encode("cp932"), "iso-8859-1", THREAT, "cp932"),
    (COMPLAINT.encode("cp932"), "iso-8859-1", COMPLAINT, "cp932"),
    (THREAT.encode("euc_jp"), "iso-8859-1", THREAT, "euc_jp"),
]


@pytest.mark.parametrize(
    ("data", "declared", "expected", "codec"), WRONG_LABELS, ids=[f"{w[3]}-as-{w[1]}" for w in WRONG_LABELS]
)
def test_evidently_wrong_label_is_corrected_and_reported(data: bytes, declared: str, expected: str, codec: str) -> None:
    decoded, used, defects = decode_japanese(data, declared)
    assert decoded == expected
    assert used == codec
    assert any(d.startswith("CharsetMismatch") and declared.lower() in d and codec in d for d in defects)


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        ("Café crème, Müller straße".encode("latin-1"), "iso-8859-1"),
        ("Prix: 12 € TTC".encode("cp1252"), "windows-1252"),
        (b"plain ascii text", "us-ascii"),
        ("公園の件です。".encode(), "utf-8"),
        # Latin-1 bytes that also decode as CP932 / EUC-JP kanji (no kana): not Japanese
        ("Não recebi a minha encomenda, ação urgente.".encode("latin-1"), "iso-8859-1"),
        ("Não recebi a minha encomenda, ação urgente.".encode("cp1252"), "windows-1252"),
        ("Très élève".encode("latin-1"), "iso-8859-1"),
        ("Très élève".encode("cp1252"), "windows-1252"),
        ("Je suis très déçu de votre été.".encode("latin-1"), "iso-8859-1"),
        ("Bonjour, j'ai reçu un colis abîmé.".encode("cp1252"), "windows-1252"),
    ],
    ids=["latin-1", "cp1252", "ascii", "utf-8", "pt-latin-1", "pt-cp1252", "fr-latin-1", "fr-cp1252",
         "fr-ete", "fr-abime"],
)
def test_right_labels_are_left_alone(data: bytes, declared: str) -> None:
    decoded, _codec, defects = decode_japanese(data, declared)
    assert decoded == data.decode(declared)
    assert defects == []


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        ("Total 100€".encode(), "us-ascii", "Total 100€"),
        ("Regards よ".encode(), "us-ascii", "Regards よ"),
        ("Prix 100€".encode(), "ascii", "Prix 100€"),
    ],
    ids=["euro-as-ascii", "kana-as-ascii", "euro-as-ascii-alias"],
)
def test_utf8_ending_under_a_single_byte_label_is_not_a_truncated_transfer(
    data: bytes, declared: str, expected: str
) -> None:
    """A character that fails a single-byte label in the last three bytes is a wrong label, not a
    cut-off transfer: the bytes are decoded whole (as UTF-8), not cut and ended with U+FFFD."""
    decoded, _codec, defects = decode_japanese(data, declared)
    assert decoded == expected
    assert not any(d.startswith("TruncatedText") for d in defects)


@pytest.mark.parametrize(
    ("data", "declared", "codec"),
    [
        (COMPLAINT.encode()[:-1], "utf-8", "utf-8"),
        (COMPLAINT.encode("cp932")[:-1], "shift_jis", "cp932"),
        (THREAT.encode("euc_jp")[:-1], "euc-jp", "euc_jp"),
    ],
    ids=["utf-8", "shift_jis", "euc-jp"],
)
def test_multibyte_text_cut_inside_its_last_character_is_truncated_text(
    data: bytes, declared: str, codec: str
) -> None:
    decoded, used, defects = decode_japanese(data, declared)
    assert decoded.endswith("\ufffd") and used == codec
    assert any(d.startswith("TruncatedText") for d in defects)


@pytest.mark.parametrize(
    "footer", ["※このメールはウイルスチェック済みです。", "--\n世田谷区メールゲートウェイ"], ids=["notice", "signature"]
)
def test_iso2022jp_body_with_a_utf8_footer_from_a_relay(footer: str) -> None:
    raw = (
        b"From: r@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
        + to_iso2022jp_outlook(COMPLAINT) + b"\r\n" + THREAT.encode("iso2022_jp") + b"\r\n\r\n"
        + footer.replace("\n", "\r\n").encode() + b"\r\n"
    )
    p = parse_email(raw)
    assert p.full_text.split("\n")[:2] == [COMPLAINT, THREAT]
    assert footer in p.full_text
    assert "\x1b" not in p.full_text
    assert any(d.startswith("MixedCharsets") for d in p.defects)


@pytest.mark.parametrize("label", ["us-ascii", "utf-8", "iso-8859-1"])
def test_wrongly_labelled_message_is_scored_as_japanese(label: str) -> None:
    body = THREAT.encode("iso2022_jp") if label != "iso-8859-1" else THREAT.encode()
    raw = f"From: r@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset={label}\r\n\r\n".encode() + body
    p = parse_email(raw)
    assert p.body == THREAT
    assert any(d.startswith("CharsetMismatch") for d in p.defects)


# ---------------------------------------------------------------------------
# HTML: self-closed skipped elements, unclosed <head>
# ---------------------------------------------------------------------------

HTML_LOSING_TEXT = [
    '<html><head><title/></head><body><p>{t}</p></body></html>',
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title /><meta charset="utf-8"/></head>'
    "<body><p>{t}</p></body></html>",
    '<html><head><script src="https://example.jp/a.js"/></head><body><div>{t}</div></body></html>',
    '<html><body><style/><p>{t}</p></body></html>',
    '<html><head><meta charset=utf-8><body><p>{t}</p></body></html>',
    '<html><head><meta charset=utf-8><title>区への意見</title><body><p>{t}</p></body></html>',
    '<html><head><meta charset=utf-8><p>{t}</p></html>',
    '<head><meta charset=utf-8>{t}',
]


@pytest.mark.parametrize("html", HTML_LOSING_TEXT, ids=[f"html{i}" for i in range(len(HTML_LOSING_TEXT))])
def test_html_self_closed_or_unclosed_skipped_elements_keep_the_text(html: str) -> None:
    assert html_to_text(html.format(t=THREAT)) == THREAT
    raw = b"From: r@example.jp\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    assert parse_email(raw + html.format(t=THREAT).encode()).body == THREAT


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>件名</title><style>p {{color: red}}</style></head><body><p>{t}</p></body></html>",
        "<p>{t}</p><script>var x = '隠し文字';</script>",
        "<head><title>件名<body>",  # an unclosed title is not text
    ],
)
def test_html_skipped_content_is_still_dropped(html: str) -> None:
    text = html_to_text(html.format(t=THREAT))
    assert "件名" not in text and "隠し文字" not in text and "color" not in text


# ---------------------------------------------------------------------------
# Masked view: attachment file names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "masked"),
    [
        ("山田太郎_090-1234-5678.pdf", "山田太郎_0**-****-****.pdf"),
        ("taro.yamada@example.jp_写真.jpg", "t***@example.jp_写真.jpg"),
        ("連絡先（03-1234-5678）.docx", "連絡先（0*-****-****）.docx"),
        ("現場写真_2026-11-01.jpg", "現場写真_2026-11-01.jpg"),
    ],
)
def test_to_dict_masks_attachment_file_names(filename: str, masked: str) -> None:
    msg = EmailMessage()
    msg["From"] = "resident@example.jp"
    msg["Subject"] = "写真を送ります"
    msg.set_content("公園の遊具の写真です。\n")
    msg.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf", filename=filename)
    p = parse_email(msg.as_bytes())
    assert [a.filename for a in p.attachments] == [filename]  # the parsed value stays as sent
    assert [a["filename"] for a in p.to_dict()["attachments"]] == [masked]
    assert [a["filename"] for a in p.to_dict(mask_contacts=False)["attachments"]] == [filename]
    assert [a["size"] for a in p.to_dict()["attachments"]] == [9]


# ---------------------------------------------------------------------------
# Broken base64 and decoding defects
# ---------------------------------------------------------------------------


def _base64_mail(b64: str, charset: str = "utf-8") -> bytes:
    return (
        f"From: r@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + "\r\n".join(b64[i : i + 76] for i in range(0, len(b64), 76)).encode() + b"\r\n"


@pytest.mark.parametrize("text", [THREAT, COMPLAINT, "①" + THREAT], ids=["threat", "complaint", "circled"])
@pytest.mark.parametrize("cut", [3, 7, 11])
def test_truncated_base64_body_is_decoded_as_far_as_it_goes(text: str, cut: int) -> None:
    full = base64.b64encode(text.encode()).decode()
    truncated = full[: len(full) - cut]
    truncated = truncated[:-1] if len(truncated) % 4 != 1 else truncated
    truncated = truncated if len(truncated) % 4 == 1 else truncated[: len(truncated) // 4 * 4 + 1]
    assert len(truncated) % 4 == 1  # no padding can fix it: the stdlib returns the base64 text
    p = parse_email(_base64_mail(truncated))
    assert len(p.body) > len(text) // 2
    assert text.startswith(p.body.rstrip("\ufffd"))
    assert "InvalidBase64LengthDefect" in p.defects


@pytest.mark.parametrize(
    ("b64", "defect"),
    [
        (base64.b64encode(THREAT.encode()).decode().rstrip("=")[:-2] + "x", "InvalidBase64PaddingDefect"),
        (base64.b64encode(THREAT.encode()).decode().replace("4", "4!", 1), "InvalidBase64CharactersDefect"),
    ],
    ids=["padding", "characters"],
)
def test_base64_decoding_defects_are_reported(b64: str, defect: str) -> None:
    p = parse_email(_base64_mail(b64))
    assert defect in p.defects


def test_truncated_base64_in_shift_jis_is_not_scored_as_base64() -> None:
    full = base64.b64encode(COMPLAINT.encode("cp932")).decode()
    truncated = full[: len(full) // 4 * 4 - 4] + "A"
    p = parse_email(_base64_mail(truncated, "shift_jis"))
    assert p.body and COMPLAINT.startswith(p.body[:10])
    assert "InvalidBase64LengthDefect" in p.defects


# ---------------------------------------------------------------------------
# Telephone numbers with other separators
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("携帯 090ｰ1234ｰ5678 まで", "携帯 0**ｰ****ｰ**** まで"),
        ("携帯 090–1234–5678 まで", "携帯 0**–****–**** まで"),
        ("携帯 090—1234—5678 まで", "携帯 0**—****—**** まで"),
        ("携帯 090/1234/5678 まで", "携帯 0**/****/**** まで"),
        ("自宅 03/1234/5678 に電話しろ", "自宅 0*/****/**** に電話しろ"),
        ("フリーダイヤル 0120–123–456", "フリーダイヤル 0***–***–***"),
        ("今すぐ090ｰ1234ｰ5678に折り返せ", "今すぐ0**ｰ****ｰ****に折り返せ"),
    ],
)
def test_mask_text_other_separators(text: str, expected: str) -> None:
    assert mask_text(text) == expected
    assert mask_text(text, keep_length=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026/11/27に申請しました",
        "受付は04/01/2026から",
        "期間 2026–2027年度、金額 10,000–20,000円",
        "0/100/2000円の内訳",
        "営業時間 08:30—17:15",
        "第1/2/3回の説明会",
        "期間：2024/10/01–2025/03/31",
        "期間: 2024/04/01–2024/05/31",
        "期間 2024/04/01—2024/05/31",
        "2024.10.01–2025.03.31",
        "10/01—2025/3/31",
        "2024.10.01ｰ2025.03.31",
    ],
)
def test_mask_text_leaves_dates_and_amounts_with_the_new_separators(text: str) -> None:
    assert mask_text(text) == text
    assert mask_text(text, keep_length=True) == text


# ---------------------------------------------------------------------------
# mbox: From escaping and text before the first From line
# ---------------------------------------------------------------------------

ENVELOPE = b"From resident@example.jp Mon Nov  2 09:00:00 2026\n"


def _mbox_message(body: str) -> bytes:
    return ENVELOPE + b"From: resident@example.jp\nSubject: x\nContent-Type: text/plain; charset=utf-8\n\n" + (
        body.encode() + b"\n\n"
    )


@pytest.mark.parametrize(
    ("escaped", "original"),
    [
        (">From now on I will call every day.", "From now on I will call every day."),
        (">>From the quoted line", ">From the quoted line"),
        (">From 来週から毎日窓口に行きます。", "From 来週から毎日窓口に行きます。"),
    ],
)
def test_iter_mbox_undoes_from_escaping(tmp_path: Path, escaped: str, original: str) -> None:
    path = tmp_path / "inbox.mbox"
    path.write_bytes(_mbox_message(f"{COMPLAINT}\n{escaped}\n{THREAT}"))
    [(key, p)] = list(iter_mbox(path))
    assert key == "0" and isinstance(p, ParsedEmail)
    assert p.full_text == f"{COMPLAINT}\n{original}\n{THREAT}"
    if not original.startswith(">"):
        assert p.body == p.full_text and p.stripped == []


def test_iter_mbox_keeps_a_quote_that_is_not_an_escaped_from(tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    path.write_bytes(_mbox_message(f"{COMPLAINT}\n\n> From: koe@example.jp\n> 前回の回答"))
    [(_key, p)] = list(iter_mbox(path))
    assert isinstance(p, ParsedEmail) and p.body == COMPLAINT
    assert [b.kind for b in p.stripped] == ["quote"]


def test_iter_mbox_yields_a_message_before_the_first_from_line(tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    first = f"From: a@example.jp\nSubject: 一通目\nContent-Type: text/plain; charset=utf-8\n\n{THREAT}\n\n".encode()
    path.write_bytes(first + _mbox_message(COMPLAINT))
    results = list(iter_mbox(path))
    assert [k for k, _ in results] == ["preamble", "0"]
    pre = results[0][1]
    assert isinstance(pre, ParsedEmail) and pre.body == THREAT and pre.subject == "一通目"
    assert any(d.startswith("MboxPreamble") for d in pre.defects)
    assert isinstance(results[1][1], ParsedEmail) and results[1][1].body == COMPLAINT


@pytest.mark.parametrize("junk", [f"{THREAT}\n".encode(), b"\x89PNG\r\n\x1a\n binary\n"])
def test_iter_mbox_reports_text_before_the_first_from_line(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "inbox.mbox"
    path.write_bytes(junk + _mbox_message(COMPLAINT))
    results = list(iter_mbox(path))
    assert [k for k, _ in results] == ["preamble", "0"]
    err = results[0][1]
    assert isinstance(err, EmailParseError)
    assert "does not start with a 'From ' line" in str(err) and f"{len(junk)} bytes" in str(err)
    assert "税金" not in str(err)


@pytest.mark.parametrize("lead", [b"", b"\n", b"\r\n\r\n"])
def test_iter_mbox_without_a_preamble_yields_only_the_messages(tmp_path: Path, lead: bytes) -> None:
    path = tmp_path / "inbox.mbox"
    path.write_bytes(lead + _mbox_message(COMPLAINT))
    assert [k for k, _ in iter_mbox(path)] == ["0"]


@pytest.mark.parametrize(("header", "unmasked", "masked"), [
    # the whole "name <address>" in one B-encoded word (Python's compat32 writes a non-ASCII From so)
    ("=?UTF-8?B?" + base64.b64encode("山田 太郎 <taro.yamada@example.jp>".encode()).decode() + "?=",
     "山田 太郎 <taro.yamada@example.jp>", "山田 太郎 <t***@example.jp>"),
    # a Q-encoded address, its @ written =40
    ("=?ISO-2022-JP?Q?taro.yamada=40example.jp?=", "taro.yamada@example.jp", "t***@example.jp"),
])
def test_an_address_inside_an_encoded_word_is_decoded_and_masked(header: str, unmasked: str, masked: str) -> None:
    raw = (f"From: {header}\r\nTo: kuyakusho@example.jp\r\nSubject: x\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + "粗大ごみの件です。".encode()
    p = parse_email(raw)
    assert p.from_ == unmasked
    assert p.to_dict()["from"] == masked
    assert "EncodedWordInAddress" in p.defects


@pytest.mark.parametrize("charset", ["iso-2022-jp", "utf-8"])
@pytest.mark.parametrize(("value", "masked"), [
    ("世田谷区 清掃課 担当 山田 太郎 様 <taro.yamada.longaddress@example.jp>",
     "世田谷区 清掃課 担当 山田 太郎 様 <t***@example.jp>"),
    ("世田谷区清掃課担当山田太郎様 <taro.yamada@example.jp>", "世田谷区清掃課担当山田太郎様 <t***@example.jp>"),
])
def test_a_long_encoded_address_folded_into_several_words_is_read_whole(charset: str, value: str, masked: str) -> None:
    from email.header import Header

    raw = (f"From: {Header(value, charset).encode()}\r\nSubject: x\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + "粗大ごみの件です。".encode()
    p = parse_email(raw)
    assert p.from_ == value and p.to_dict()["from"] == masked


def test_an_empty_mail_names_its_attachments_by_type_and_counts_invisible_new_text_as_nothing() -> None:
    raw = (b'From: a@example.jp\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
           b'Content-Type: application/pdf\r\n'
           b'Content-Disposition: attachment; filename="taro.yamada@example.jp_090-1234-5678.pdf"\r\n\r\nJVBERi0=\r\n'
           b"--B--\r\n")
    reason = parse_email(raw).empty_reason()
    assert reason is not None and "taro.yamada" not in reason and "1234" not in reason
    assert "(pdf)" in reason
    zwsp = b"From: a@example.jp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n> quoted\r\n" + "\u200b".encode()
    assert "no new text" in (parse_email(zwsp).empty_reason() or "")


def test_a_long_last_paragraph_is_read_without_error() -> None:
    lines = "\n".join(f"{i}行目の説明です" for i in range(20))
    text = f"回答をください。\n\n{lines}\n山田 太郎\nTEL 090-1234-5678"
    body, blocks = split_reply(text)
    assert body == text and blocks == []


@pytest.mark.parametrize(("header", "iso"), [
    ("Mon, 1 Apr 2024 01:00:00 -0000", "2024-04-01T01:00:00+00:00"),  # UTC, the place unknown
    ("Mon, 1 Apr 2024 01:00:00 -00:00", "2024-04-01T01:00:00+00:00"),
    ("Mon, 1 Apr 2024 10:00:00 +0900", "2024-04-01T10:00:00+09:00"),
    ("Mon, 1 Apr 2024 10:00:00", "2024-04-01T10:00:00"),  # no zone: local time
])
def test_the_date_header_keeps_its_zone_and_minus_0000_is_utc(header, iso):
    """Re-read finding: -0000 came out naive, and batch then read it as Japan time (9 hours off the
    same string in a CSV column)."""
    msg = f"From: a@example.jp\nTo: b@example.jp\nSubject: test\nDate: {header}\n\n粗大ごみの収集日を教えてください。\n"
    assert parse_email(msg.encode()).date == iso


# ---------------------------------------------------------------------------
# Replies quoted by hand with a full-width ＞ or ≫
# ---------------------------------------------------------------------------

REPLY = "そのような発言はしていません。一方的に対応を打ち切るのは納得できません。当日の記録の開示を求めます。"
WARD_LETTER = [
    "先日の窓口において「殺すぞ」「税金泥棒」などの発言がありましたので、",
    "今後のご対応は書面のみとさせていただきます。",
    "世田谷区 区民の声係",
]


def _quoted_reply(mark: str, header: str = "", letter: list[str] = WARD_LETTER) -> str:
    head = f"{header}\n" if header else ""
    return f"{REPLY}\n\n{head}" + "".join(f"{mark}{line}\n" for line in letter)


@pytest.mark.parametrize(
    ("mark", "header"),
    [
        ("＞ ", ""),
        ("＞", ""),
        ("＞＞ ", ""),
        ("　＞ ", ""),
        ("＞", "2026/11/20 10:00、世田谷区 区民の声係 さんは書きました："),
        ("＞ ", "2025年6月1日(日) 10:00 区民の声係 <koe@city.example.lg.jp> さんは書きました："),
        ("＞ ", "2025年6月1日(日) 10:00 区民の声係 <koe@city.example.lg.jp>:"),
        ("≫ ", "2025/06/01 10:00、区民の声係 <koe@city.example.lg.jp>のメール："),
        ("＞ ", "On Sun, Jun 1, 2025 at 10:00 AM 区民の声係 <koe@city.example.lg.jp> wrote:"),
        ("＞ ", "区民の声係 wrote:"),
    ],
    ids=["fw-space", "fw", "fw-double", "ideographic-space", "kakimashita", "kakimashita-address",
         "gmail-ja", "no-mail", "on-wrote", "wrote"],
)
def test_a_reply_quoted_with_a_full_width_mark_is_stripped_like_a_gt_quote(mark: str, header: str) -> None:
    """Acceptance finding: 「＞」 quotes stayed in the body, and the ward's own letter (quoting the
    「殺すぞ」「税金泥棒」 it attributed to the writer) was scored as the writer's words."""
    body, blocks = split_reply(_quoted_reply(mark, header))
    assert body == REPLY
    gt_body, gt_blocks = split_reply(_quoted_reply("> ", header))
    assert (body, [b.kind for b in blocks]) == (gt_body, [b.kind for b in gt_blocks])
    assert [b.kind for b in blocks] == (["quote_header", "quote"] if header else ["quote"])
    assert blocks[-1].text == "\n".join(mark + line for line in WARD_LETTER)


def test_a_full_width_quote_in_a_parsed_mail_is_reported_and_masked() -> None:
    raw = ("From: resident@example.jp\r\nTo: koe@city.example.lg.jp\r\nSubject: Re: ご回答\r\n"
           "Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n").encode() + to_iso2022jp_outlook(crlf(
               _quoted_reply("＞", "2025年6月1日(日) 10:00 区民の声係 <koe@city.example.lg.jp> さんは書きました：")))
    d = parse_email(raw).to_dict()
    assert d["body"] == REPLY
    assert [b["kind"] for b in d["stripped"]] == ["quote_header", "quote"]
    assert "koe@" not in d["stripped"][0]["text"] and "k**@city.example.lg.jp" in d["stripped"][0]["text"]


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        # an inline reply: once a ＞ block is a quote, a single ＞ line above is one too
        ("＞ 収集日は来週の水曜日です。\n来週では遅すぎます。\n\n"
         "＞ ご理解のほどお願いいたします。\n＞ 世田谷区 清掃課\n理解できません。",
         ["＞ 収集日は来週の水曜日です。", "＞ ご理解のほどお願いいたします。\n＞ 世田谷区 清掃課"]),
        # one quoted line at the end of the reply, under a quote header (without one it is the
        # writer's own: see test_a_last_full_width_line_of_ones_own_is_kept)
        ("納得できません。再回答を求めます。\n\n2025年6月1日(日) 10:00 区民の声係 <koe@city.example.lg.jp>:\n"
         "＞ 今後は書面のみで対応いたします。",
         ["＞ 今後は書面のみで対応いたします。"]),
        # 「≫」 under a quote header, in an inline reply: the 「≫」 lines after the first quote too
        ("2025/06/01 10:00、区民の声係 <koe@city.example.lg.jp>のメール：\n"
         "≫ 収集日は来週の水曜日です。\n来週では遅すぎます。\n\n"
         "≫ ご理解のほどお願いいたします。\n理解できません。",
         ["≫ 収集日は来週の水曜日です。", "≫ ご理解のほどお願いいたします。"]),
        # nested: the ward's quote of the writer's earlier mail
        ("事実と違います。\n\n＞＞ 殺すぞと言われたとの件\n＞ 確認いたしました",
         ["＞＞ 殺すぞと言われたとの件\n＞ 確認いたしました"]),
        # a > quote and a ＞ quote in one block
        ("納得できません。\n\n>> 以前のメール\n＞ 区からの回答", [">> 以前のメール\n＞ 区からの回答"]),
    ],
    ids=["inline", "one-line-under-a-header", "much-greater-inline", "nested", "mixed"],
)
def test_full_width_quotes_in_a_quote_setting(text: str, quoted: list[str]) -> None:
    body, blocks = split_reply(text)
    assert [b.text for b in blocks if b.kind == "quote"] == quoted
    assert "＞" not in body and ">" not in body and "≫" not in body


@pytest.mark.parametrize(
    "text",
    [
        "区のホームページ＞くらし＞ごみ・リサイクル を見ましたが、粗大ごみの出し方が分かりません。",
        "≫ 件名：北沢公園の遊具について\nブランコの鎖が切れています。早く直してください。",
        "ブランコの鎖が切れています。\n≫詳しくは添付の写真をご覧ください。",
        "＞ 収集日は来週の水曜日です、とのことですが、\n来週では遅すぎます。",
        "＞窓口の職員の対応が悪すぎる。改善しろ。",
        "窓口の待ち時間について。\n＞ 予約制にしてほしい\nご検討をお願いします。",
    ],
    ids=["breadcrumb", "heading-on-top", "last-line-no-blank", "quote-then-answer", "whole-mail", "bullet-in-text"],
)
def test_a_lone_full_width_mark_in_running_text_is_kept(text: str) -> None:
    """A single 「＞」/「≫」 line with no quote setting (no block, no header, not set apart at the end)
    is the writer's own text: an arrow, a bullet, a heading."""
    assert split_reply(text) == (text, [])


DEMANDS = ["≫ 担当職員からの謝罪", "≫ 当日の対応記録の開示", "≫ 再発防止策の書面での回答"]


@pytest.mark.parametrize(
    "text",
    [
        # demands as 「≫」 bullets between the writer's own lines
        "区民の声係 御中\n\n先日の窓口での対応について、以下を求めます。\n" + "\n".join(DEMANDS)
        + "\n以上、2週間以内に書面でご回答ください。",
        # the same bullets closing the mail, set apart by a blank line
        "窓口で「税金泥棒」と言ったとされた件、事実と違います。以下を求めます。\n\n" + "\n".join(DEMANDS),
        # 「≫」 headings over the writer's own paragraphs, two of them together
        "≫ 騒音について\n≫ 北沢2丁目の工事現場\n毎晩22時を過ぎても重機の音がします。\n\n"
        "≫ お願い\n≫ 作業時間の順守\n区から業者に指導してください。",
    ],
    ids=["demands-between-lines", "demands-at-the-end", "headings"],
)
def test_much_greater_bullets_without_a_quote_header_are_the_writers_own(text: str) -> None:
    """Review finding: 「≫」 is a quote mark only under a quote header; without one, two 「≫」 lines
    together are bullets or headings, and were stripped as a quote (the demands never scored)."""
    assert split_reply(text) == (text, [])


def test_much_greater_bullets_above_a_quoted_letter_stay_and_the_letter_goes() -> None:
    bullets = "ご回答の件、納得できません。以下を求めます。\n" + "\n".join(DEMANDS)
    header = "2025/06/01 10:00、区民の声係 <koe@city.example.lg.jp>のメール："
    letter = "\n".join(f"≫ {line}" for line in WARD_LETTER)
    body, blocks = split_reply(f"{bullets}\n\n{header}\n{letter}")
    assert body == bullets
    assert [(b.kind, b.text) for b in blocks] == [("quote_header", header), ("quote", letter)]


@pytest.mark.parametrize(
    "text",
    [
        # 「≫」 bullets alone
        "\n".join(DEMANDS),
        "≫ 粗大ごみの申し込み方法\n≫ 手数料の支払い方法\n≫ 収集日の変更方法\nを教えてください。",
        # 「＞」 bullets alone: two of them together are a quote's setting, but nothing would be left
        "＞ 担当職員の謝罪を求めます。\n＞ 当日の記録を開示してください。",
        "＞＞ 至急回答しろ。\n＞＞ 回答がなければ区役所に乗り込むからな。",
        # a letter under a quote header with nothing new: the reply is the quote, scored as it is
        "2025/06/01 10:00、区民の声係 <koe@city.example.lg.jp>のメール：\n" + "\n".join(DEMANDS),
        "区民の声係 さんは書きました：\n＞ 担当職員の謝罪を求めます。\n＞ 当日の記録を開示してください。",
    ],
    ids=["much-greater-bullets", "much-greater-then-a-line", "fw-bullets", "fw-double-threat",
         "much-greater-under-a-header", "fw-under-a-header"],
)
def test_lines_quoted_by_hand_are_kept_when_stripping_them_leaves_nothing(text: str) -> None:
    """Review finding: a body of 「≫」 bullets was stripped to nothing, so the API answered 422
    empty_email_body and the message was never scored.  A quote by hand is read from its setting,
    never certain: when nothing else is left, it is kept and scored."""
    assert split_reply(text) == (text, [])
    raw = ("From: resident@example.jp\r\nTo: koe@city.example.lg.jp\r\nSubject: 窓口の対応について\r\n"
           "Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n").encode() + to_iso2022jp_outlook(crlf(text))
    p = parse_email(raw)
    assert p.body == text and p.stripped == [] and p.empty_reason() is None


def test_lines_quoted_by_hand_are_kept_whole_with_a_signature_and_a_gt_quote() -> None:
    """Kept, too, when the 「≫」 lines join a ``>`` quote below them (blank lines between make one
    run) and only that quote and a signature would be left; those two are still stripped."""
    text = "\n".join(DEMANDS) + "\n\n> 以前のメールです。\n\n--\n山田 太郎\nTEL 090-1234-5678"
    body, blocks = split_reply(text)
    assert body == "\n".join(DEMANDS)
    assert [b.kind for b in blocks] == ["quote", "signature"]


@pytest.mark.parametrize(
    "text",
    [
        "粗大ごみの収集について、手数料が分かりません。\n\n＞ 申請書はどこで入手できますか？",
        "先日お送りした件の続きです。公園のベンチが壊れたままです。\n\n＞ 回答は書面でお願いします。",
        "何度電話してもつながらない。いい加減にしろ。\n\n＞＞ 今週中に必ず連絡しろ！",
        "保育園の入園申請について質問です。\n\n　＞ 点数の計算方法を教えてください。",
    ],
    ids=["question", "request", "fw-double-demand", "ideographic-space"],
)
def test_a_last_full_width_line_of_ones_own_is_kept(text: str) -> None:
    """Review finding: a final own question 「＞ 申請書はどこで入手できますか？」 after a blank line was
    stripped because it ended the mail.  The end of the mail needs a quote header above a single
    「＞」 line (or a second line) to be a quote's setting."""
    assert split_reply(text) == (text, [])


# ---------------------------------------------------------------------------
# Short local parts: masked whole, as docs/api.md says and the form route does
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked", "masked_keep_length"),
    [
        ("連絡は x@example.jp まで", "連絡は ***@example.jp まで", "連絡は *@example.jp まで"),
        ("連絡は ab@example.jp まで", "連絡は ***@example.jp まで", "連絡は **@example.jp まで"),
        ("連絡は abc@example.jp まで", "連絡は a***@example.jp まで", "連絡は a**@example.jp まで"),
        ("ｘ＠ｅｘａｍｐｌｅ．ｊｐ へ", "***＠ｅｘａｍｐｌｅ．ｊｐ へ", "*＠ｅｘａｍｐｌｅ．ｊｐ へ"),
        ("区民 <a@example.jp>, 係 <bc@city.example.lg.jp>", "区民 <***@example.jp>, 係 <***@city.example.lg.jp>",
         "区民 <*@example.jp>, 係 <**@city.example.lg.jp>"),
    ],
    ids=["one", "two", "three", "full-width", "two-addresses"],
)
def test_a_local_part_shorter_than_three_characters_keeps_none_of_them(
    text: str, masked: str, masked_keep_length: str
) -> None:
    """Acceptance finding: x@example.jp came back unmasked in the body, From a@… as a***@…"""
    assert mask_text(text) == masked
    assert mask_text(text, keep_length=True) == masked_keep_length


def test_short_addresses_are_masked_in_the_headers_body_and_stripped_blocks() -> None:
    raw = ("From: a@example.jp\r\nTo: ab@city.example.lg.jp\r\nCc: 山田 <y@example.jp>\r\n"
           "Subject: 連絡先 q@example.jp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "連絡は x@example.jp か ab@example.jp まで。窓口の対応を改善してください。\r\n\r\n"
           "> 返信先 z@city.example.lg.jp\r\n").encode()
    p = parse_email(raw)
    d = p.to_dict()
    assert (d["from"], d["to"], d["cc"], d["subject"]) == (
        "***@example.jp", ["***@city.example.lg.jp"], ["山田 <***@example.jp>"], "連絡先 ***@example.jp")
    assert d["body"] == "連絡は *@example.jp か **@example.jp まで。窓口の対応を改善してください。"
    assert len(d["body"]) == len(p.body)
    assert d["stripped"] == [{"kind": "quote", "text": "> 返信先 *@city.example.lg.jp"}]


# ---------------------------------------------------------------------------
# A text part that could not be decoded as declared
# ---------------------------------------------------------------------------


def test_corrupt_base64_that_gives_no_valid_text_is_unreadable_not_scored() -> None:
    """Acceptance finding: a body of "!!!!not base64@@@@" (base64, UTF-8) was decoded by a CP932 guess
    into '梛[jﾇｺ' and scored as a confident inquiry."""
    p = parse_email(_base64_mail("!!!!not base64@@@@"))
    assert p.body == p.full_text == ""
    assert p.text_in_doubt
    assert any(d.startswith("UnreadableText:") for d in p.defects)
    assert not any(d.startswith("CharsetFallback") for d in p.defects)  # that guess is not kept
    reason = p.empty_reason()
    assert reason is not None and "could not be decoded" in reason and "base64" in reason


def test_corrupt_base64_keeps_only_the_start_its_charset_takes() -> None:
    good = base64.b64encode(COMPLAINT.encode()).decode()
    p = parse_email(_base64_mail(good[:40] + "A!" + good[40:]))  # one stray base64 letter: the rest is shifted
    assert p.body[:10] == COMPLAINT[:10] and len(p.body) < len(COMPLAINT) // 2  # the 30 bytes before it, and a
    # byte or two of the shifted rest that happen to be valid
    assert any(d.startswith("UndecodedText:") and "are valid utf-8" in d for d in p.defects)
    assert p.text_in_doubt and p.empty_reason() is None


@pytest.mark.parametrize(
    ("raw", "defect"),
    [
        # base64 cut off in transfer: decoded as far as it goes
        (_base64_mail(base64.b64encode(COMPLAINT.encode()).decode()[:45]), "InvalidBase64LengthDefect"),
        # a stray character in base64: skipped
        (_base64_mail(base64.b64encode(THREAT.encode()).decode().replace("4", "4!", 1)),
         "InvalidBase64CharactersDefect"),
        # Shift_JIS labelled ISO-2022-JP: decoded by a guess
        (b"From: r@example.jp\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n" + COMPLAINT.encode("cp932"),
         "CharsetFallback"),
        # bytes no charset takes: replacement characters
        (b"From: r@example.jp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
         + "職員の対応を".encode() + b"\xff\xfe" + "改善してください".encode(), "UndecodableBytes"),
    ],
    ids=["truncated-base64", "stray-character", "wrong-label-guessed", "replacement-characters"],
)
def test_a_text_not_decoded_as_declared_is_in_doubt(raw: bytes, defect: str) -> None:
    p = parse_email(raw)
    assert has_visible(p.body)
    assert any(d.startswith(defect) for d in p.defects)
    assert p.text_in_doubt
    assert any(d.startswith("UndecodedText:") and "a person should read the message" in d for d in p.defects)


@pytest.mark.parametrize(
    "raw",
    [
        _base64_mail(base64.b64encode(COMPLAINT.encode()).decode()),
        _base64_mail(base64.b64encode(THREAT.encode()).decode().rstrip("=")),  # padding only: decoded whole
        b"From: r@example.jp\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
        + to_iso2022jp_outlook(COMPLAINT),
        # ISO-2022-JP under a us-ascii label: relabelled on evidence (its escape sequences), not guessed
        b"From: r@example.jp\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + THREAT.encode("iso2022_jp"),
        "From: r@example.jp\r\n\r\n粗大ごみの収集日を教えてください。".encode(),  # no charset declared
    ],
    ids=["base64", "base64-no-padding", "iso-2022-jp", "relabelled", "undeclared"],
)
def test_a_text_decoded_as_declared_is_not_in_doubt(raw: bytes) -> None:
    p = parse_email(raw)
    assert has_visible(p.body)
    assert not p.text_in_doubt
    assert not any(d.startswith(("UndecodedText", "UnreadableText")) for d in p.defects)


def test_an_attachment_with_corrupt_base64_leaves_the_text_alone() -> None:
    raw = (b'From: r@example.jp\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + COMPLAINT.encode() + b"\r\n--B\r\n"
           b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n!!!!not base64@@@@\r\n--B--\r\n")
    p = parse_email(raw)
    assert p.body == COMPLAINT and not p.text_in_doubt


def test_an_attachments_only_mail_is_refused_naming_the_files_by_type_never_by_name():
    # a file name can hold a person's name, and error bodies are what gateways log (acceptance test 4b #8)
    raw = (b'From: a@example.jp\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
           b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="yamada_hanako.pdf"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--B\r\n"
           b'Content-Type: image/png\r\n'
           b'Content-Disposition: attachment; filename="setagaya_taro.\xe5\x86\x99\xe7\x9c\x9f"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0=\r\n--B--\r\n")
    why = parse_email(raw).empty_reason()
    assert "only 2 attachment(s) (pdf, image/png)" in why
    assert "yamada" not in why and "setagaya" not in why


@pytest.mark.parametrize(
    ("filename", "content_type", "kind"),
    [
        ("申請書.taro", "application/octet-stream", "application/octet-stream"),
        ("意見書.Kenji", "application/msword", "application/msword"),
        ("世田谷花子.hana", "image/jpeg", "image/jpeg"),
        ("録音.m4a", "audio/mp4", "audio/mp4"),
        ("苦情の記録.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
        ("見積書.PDF", "application/pdf", "pdf"),
        ("現場写真.HEIC", "image/heic", "heic"),
        ("区への転送.eml", "message/rfc822", "eml"),
        ("資料一式.zip", "application/zip", "zip"),
    ],
    ids=["taro", "kenji", "hana", "m4a", "docx", "pdf-upper", "heic", "eml", "zip"],
)
def test_an_attachments_only_mail_names_an_extension_only_from_a_known_list(
    filename: str, content_type: str, kind: str
) -> None:
    """Review finding: any short ASCII extension was shown, and 申請書.taro put "taro", which can be a
    name, into the message.  Only known document, image and archive extensions are shown."""
    encoded = Header(filename, "utf-8").encode()
    raw = (b'From: a@example.jp\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
           + f'Content-Type: {content_type}\r\nContent-Disposition: attachment; filename="{encoded}"\r\n'.encode()
           + b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--B--\r\n")
    p = parse_email(raw)
    assert [a.filename for a in p.attachments] == [filename]
    why = p.empty_reason()
    assert why is not None and f"only 1 attachment(s) ({kind})" in why
    stem, _, ext = filename.rpartition(".")
    assert stem not in why and (ext.lower() == kind or ext not in why)
