"""Parse e-mails sent to the ward office into the text that should be scored.

Japanese mail clients still send ``ISO-2022-JP`` (often with Windows-only characters
such as ①, ㈱, ～ and Ⅱ that Python's own ISO-2022-JP codecs reject), ``Shift_JIS``
(really CP932), ``EUC-JP`` and ``UTF-8``, in base64 or quoted-printable, with RFC 2047
encoded headers.  This module decodes all of them, picks the text body of a
(possibly nested) multipart message, lists attachments without scoring them, and
separates the *new* text of a message from quoted earlier replies, forwarded
messages and signatures.  Everything that is removed from the scored text is
reported in :attr:`ParsedEmail.stripped`, so nothing is silently lost.

Only the standard library is used.  Nothing in this module logs message content.

Examples
--------
>>> raw = (b"From: a@example.jp\\r\\nSubject: test\\r\\n\\r\\n"
...        b"Hello\\r\\n\\r\\n> old text\\r\\n")
>>> parsed = parse_email(raw)
>>> parsed.body
'Hello'
>>> [block.kind for block in parsed.stripped]
['quote']
"""

from __future__ import annotations

import base64
import binascii
import codecs
import dataclasses
import datetime
import email.utils
import mailbox
import os
import quopri
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email import errors, policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from complaint_triage.exceptions import EmailParseError
from complaint_triage.normalize import fold_spaces, normalize_text
from complaint_triage.results import has_visible
from complaint_triage.signals import SIGNALS

__all__ = [
    "Attachment",
    "ParsedEmail",
    "StrippedBlock",
    "StrippedKind",
    "decode_japanese",
    "cut_inline_signature",
    "html_to_text",
    "iter_eml_dir",
    "iter_eml_files",
    "iter_addresses",
    "iter_mbox",
    "mask_text",
    "parse_email",
    "split_reply",
]

StrippedKind = Literal["quote", "signature", "quote_header", "forwarded"]


# ---------------------------------------------------------------------------
# Public data types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StrippedBlock:
    """A piece of the decoded text that was removed from the scored body.

    Attributes
    ----------
    kind : {"quote", "signature", "quote_header", "forwarded"}
        Why the block was removed.  ``quote_header`` is the line a client writes
        above a quotation (「…のメール:」, "On … wrote:", Outlook's
        「差出人: … 件名:」 block); ``quote`` is the quoted earlier message itself.
    text : str
        The removed text, lines joined with ``"\\n"``.
    """

    kind: StrippedKind
    text: str

    def to_dict(self) -> dict[str, str]:
        """Return ``{"kind": ..., "text": ...}``."""
        return {"kind": self.kind, "text": self.text}


@dataclass(frozen=True)
class Attachment:
    """A non-body MIME part (listed, never scored).

    Attributes
    ----------
    filename : str or None
        Decoded file name (RFC 2231 and RFC 2047 forms are both decoded), or
        ``None`` when the part has none (e.g. an inline image).
    content_type : str
        Lower-case MIME type, e.g. ``"application/pdf"``.
    size : int
        Size in bytes after transfer decoding; for an attached message or a multipart, its
        raw header lines plus the sizes of its parts (never measured by re-serialising it).
    """

    filename: str | None
    content_type: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict of the three fields."""
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size}


#: Parser defects that mean the MIME structure could not be read, with what each one says.
_BROKEN_MIME_DEFECTS = {
    "StartBoundaryNotFoundDefect": "the boundary its Content-Type names never starts a part",
    "NoBoundaryInMultipartDefect": "a multipart Content-Type without a boundary",
    "CloseBoundaryNotFoundDefect": "a part that is never closed",
}


#: File extensions an ``empty_email_body`` message may name: common document, image and archive
#: types.  Any other "extension" can be part of a name (申請書.taro, yamada.hanako), so a file with
#: one is named by its MIME type.
_KNOWN_EXTENSIONS = frozenset({
    "pdf", "doc", "docx", "xls", "xlsx", "csv", "txt", "jpg", "jpeg", "png", "gif", "heic", "tif", "tiff",
    "zip", "eml", "msg", "ppt", "pptx", "html", "htm",
})


def _attachment_kind(a: Attachment) -> str:
    """A file's kind for a message: its extension when it is a known document, image or archive
    type (:data:`_KNOWN_EXTENSIONS`), else its MIME type."""
    ext = a.filename.rpartition(".")[2].strip().lower() if a.filename and "." in a.filename else ""
    return ext if ext in _KNOWN_EXTENSIONS else a.content_type


@dataclass(frozen=True)
class ParsedEmail:
    """The result of :func:`parse_email`.

    Attributes
    ----------
    from_ : str
        The ``From`` header, decoded, as ``"Name <addr>"`` or ``"addr"``;
        ``""`` when absent.
    to : list of str
        Decoded ``To`` recipients.
    cc : list of str
        Decoded ``Cc`` recipients.
    subject : str
        Decoded subject, ``""`` when absent.
    date : str or None
        ``Date`` header as ISO-8601, or ``None`` when absent or unparseable.
    message_id : str or None
        The ``Message-ID`` header as written (with angle brackets).
    body : str
        The new text of the message: the text to score.  May be ``""``.
    full_text : str
        The decoded text body before quotes and signatures were stripped.
    stripped : list of StrippedBlock
        Everything removed from ``full_text`` to obtain ``body``, in order.
    attachments : list of Attachment
        Parts that are not the text body.
    charset : str
        Charset of the chosen text part (declared, lower case; or the detected
        one when none was declared).
    defects : list of str
        Parser defects and decoding fallbacks (class names / short notes, never
        message content).  ``UndecodedText`` and ``UnreadableText`` say a text
        part could not be decoded as declared (see :attr:`text_in_doubt`).
    """

    from_: str
    to: list[str]
    cc: list[str]
    subject: str
    date: str | None
    message_id: str | None
    body: str
    full_text: str
    stripped: list[StrippedBlock]
    attachments: list[Attachment]
    charset: str
    defects: list[str]

    @property
    def text_in_doubt(self) -> bool:
        """Whether a text part could not be decoded as declared (an ``UndecodedText`` or
        ``UnreadableText`` defect: corrupt base64, or bytes its charset rejects), so that what was
        scored may be cut off or garbled, or left out: a person should read the message."""
        return any(d.startswith((f"{UNDECODED_TEXT}:", f"{UNREADABLE_TEXT}:")) for d in self.defects)

    @property
    def stripped_kinds(self) -> str:
        """The kinds of text removed before scoring, sorted and comma-separated
        (``"forwarded, quote, quote_header, signature"``); ``""`` when nothing was removed."""
        return ", ".join(sorted({b.kind for b in self.stripped}))

    def empty_reason(self) -> str | None:
        """Why :attr:`body` holds nothing to score, in words for the sender; ``None`` when it does.

        Tells apart a MIME structure the parser could not read (a boundary that is missing or
        never found), a text part it could not decode (corrupt base64 whose bytes are not valid in
        the declared charset), a message with attachments but no text part, one with no text at
        all, and new text that was all quotes, forwards or signatures.
        """
        if has_visible(self.body):
            return None
        if has_visible(self.full_text):
            return ("the e-mail has no new text after removing quoted replies, forwarded messages and signatures "
                    f"(stripped: {self.stripped_kinds or 'nothing'}); nothing to score")
        broken = [d for d in self.defects if d in _BROKEN_MIME_DEFECTS]
        if broken:
            return (f"the e-mail's MIME structure is broken ({', '.join(_BROKEN_MIME_DEFECTS[d] for d in broken)}), "
                    "so no text part could be read; check how the message was exported")
        if any(d.startswith(f"{UNREADABLE_TEXT}:") for d in self.defects):
            return ("the e-mail's text could not be decoded (its base64 transfer encoding is corrupt and the bytes "
                    "it gives are not text in its declared charset), so nothing readable is left to score; "
                    "have a person read the message in a mail client")
        if self.attachments:
            # by type only: a file name can hold a person's name (世田谷花子_申請書.pdf), and error
            # bodies are what gateways log
            kinds = list(dict.fromkeys(_attachment_kind(a) for a in self.attachments))
            listed = f" ({', '.join(kinds[:5])}{', …' if len(kinds) > 5 else ''})"
            return (f"the e-mail has no text part, only {len(self.attachments)} attachment(s){listed}, "
                    "which are listed, not scored; nothing to score")
        return "the e-mail has no text; nothing to score"

    def to_dict(self, mask_contacts: bool = True, *, include_full_text: bool = True) -> dict[str, Any]:
        """Return a JSON-serialisable dict.

        Parameters
        ----------
        mask_contacts : bool, default True
            Mask e-mail addresses and telephone numbers (see :func:`mask_text`)
            in every text field.  In the headers (``from``, ``to``, ``cc``,
            ``subject``) and the attachments' file names
            ``taro.yamada@example.jp`` becomes ``t***@example.jp`` (and
            ``ab@example.jp`` ``***@example.jp``: a local part of one or two
            characters keeps none of them);
            in ``body``, ``full_text`` and the stripped blocks every masked
            character is replaced one for one (``t**********@example.jp``,
            ``**@example.jp``, ``0**-****-****``), so the masked ``body`` has the length of
            :attr:`body` and offsets into the scored text (evidence spans) index
            it too.  ``message_id`` is never masked.
        include_full_text : bool, default True
            Include ``full_text``.  ``body`` and ``stripped`` hold the same text,
            so an answer that leaves it out saves masking (and sending) it twice.

        Returns
        -------
        dict
            Keys: ``from``, ``to``, ``cc``, ``subject``, ``date``,
            ``message_id``, ``body``, ``full_text`` (unless left out),
            ``stripped``, ``attachments``, ``charset``, ``defects``.
        """
        m = mask_text if mask_contacts else _identity
        mt = _length_preserving_mask if mask_contacts else _identity
        out: dict[str, Any] = {
            "from": m(self.from_),
            "to": [m(x) for x in self.to],
            "cc": [m(x) for x in self.cc],
            "subject": m(self.subject),
            "date": self.date,
            "message_id": self.message_id,
            "body": mt(self.body),
        }
        if include_full_text:
            out["full_text"] = mt(self.full_text)
        out.update({
            "stripped": [{"kind": b.kind, "text": mt(b.text)} for b in self.stripped],
            "attachments": [{**a.to_dict(), "filename": m(a.filename) if a.filename else a.filename}
                            for a in self.attachments],
            "charset": self.charset,
            "defects": list(self.defects),
        })
        return out


# ---------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------

_LOCAL_CHARS = r"[A-Za-z0-9._%+\-Ａ-Ｚａ-ｚ０-９．＿％＋－]"
_DOMAIN_LABEL = r"[A-Za-z0-9\-Ａ-Ｚａ-ｚ０-９－]+"
# An e-mail address is a run of local-part characters, ``@`` or full-width ``＠``, and a domain
# (labels joined by dots).  It is found from its ``@`` (see iter_addresses), never with one
# pattern ``local+@domain``: searched over a long run of letters, that pattern starts over at
# every letter and scans to the end of the run each time (quadratic).
_AT_RE = re.compile("[@＠]")
_LOCAL_RUN_RE = re.compile(rf"{_LOCAL_CHARS}+")  # matched on the reversed text before an @
_DOMAIN_RE = re.compile(rf"{_DOMAIN_LABEL}(?:[.．]{_DOMAIN_LABEL})+")
_DIGIT = "[0-9０-９]"
# Between digit groups: nothing, spaces, or one of - ‐ － ー ｰ − ― – — / . ． ( ) （ ） with spaces around it.
_PHONE_SEP = r"[ \u3000]*(?:[-‐－ーｰ−―–—/.．()（）][ \u3000]*)?"
#: A telephone number: domestic (0 and 5 to 12 more digits in three groups: 03-1234-5678,
#: 090.1234.5678, 080 - 1234 - 5678, 090ｰ1234ｰ5678, 090–1234–5678, 090/1234/5678, (03)1234-5678)
#: or international (+81-90-1234-5678, +81 (0)3 1234 5678, +819012345678).  Dates (2024-04-01,
#: 2026/11/27), times and amounts do not start with 0 or + after a non-digit, so they are left
#: alone; a match holding one of the separators ``/ – — ｰ`` needs the 10 or more digits of a
#: telephone number (every Japanese one has 10 or 11), so that a date written 04/01/2026 or a
#: range 2024/10/01–2025/03/31 is left alone too (see :func:`mask_text`).
_PHONE_RE = re.compile(
    rf"(?<![0-9０-９+＋])(?:[0０]|[+＋]{_DIGIT}{{1,3}}(?:{_PHONE_SEP}[(（][0０][)）])?{_PHONE_SEP})"
    rf"{_DIGIT}{{1,4}}{_PHONE_SEP}{_DIGIT}{{1,4}}{_PHONE_SEP}{_DIGIT}{{3,4}}(?!{_DIGIT})"
)
_DIGIT_RE = re.compile(_DIGIT)
#: Separators dates and ranges use too: a match holding one needs 10 or more digits.
_DATE_LIKE_SEP = re.compile("[/–—ｰ]")


#: A local part keeps its first character when masked only from this length on (the API's
#: documented rule, shared with the form route's e-mail field).
LOCAL_KEEPS_FIRST_FROM = 3


def _identity(text: str) -> str:
    return text


def _length_preserving_mask(text: str) -> str:
    return mask_text(text, keep_length=True)


def mask_text(text: str, *, keep_length: bool = False) -> str:
    """Mask e-mail addresses and telephone numbers in ``text``.

    Parameters
    ----------
    text : str
        Any text.
    keep_length : bool, default False
        Replace every masked character one for one, so that the result has
        the length of ``text`` and offsets into ``text`` (e.g. evidence spans)
        index the masked copy too.  By default the local part of an address
        becomes ``***`` whatever its length.

    Returns
    -------
    str
        ``taro@example.jp`` becomes ``t***@example.jp`` (full-width ``＠`` is
        recognised and kept): the domain survives, and the first character of the
        local part only when the local part has three characters or more, so
        ``ab@example.jp`` and ``a@example.jp`` become ``***@example.jp``
        (``**@example.jp`` and ``*@example.jp`` with ``keep_length``), as the API's
        form route masks its e-mail field.  ``03-1234-5678`` becomes
        ``0*-****-****`` and ``+81 90 1234 5678`` becomes ``+** ** **** ****``:
        the first character and the separators survive, every digit is masked.

    Examples
    --------
    >>> mask_text("山田 <taro@example.jp> TEL 03-1234-5678")
    '山田 <t***@example.jp> TEL 0*-****-****'
    >>> mask_text("taro.yamada＠example.jp", keep_length=True)
    't**********＠example.jp'
    >>> mask_text("x@example.jp か ab@example.jp", keep_length=True)
    '*@example.jp か **@example.jp'
    >>> mask_text("携帯 +81-90-1234-5678、受付 2024-04-01 10:30")
    '携帯 +**-**-****-****、受付 2024-04-01 10:30'
    """

    def phone(mo: re.Match[str]) -> str:
        number = mo.group(0)
        if _DATE_LIKE_SEP.search(number) and len(_DIGIT_RE.findall(number)) < 10:  # 04/01/2026, 10/01–2025
            return number
        return number[0] + _DIGIT_RE.sub("*", number[1:])

    pieces: list[str] = []
    pos = 0
    for start, at, _end in iter_addresses(text):
        kept = 1 if at - start >= LOCAL_KEEPS_FIRST_FROM else 0  # a or ab would be shown whole or half
        stars = "*" * (at - start - kept) if keep_length else "***"
        pieces += (text[pos : start + kept], stars)
        pos = at  # the @ and the domain are kept
    if pieces:
        text = "".join(pieces) + text[pos:]
    return _PHONE_RE.sub(phone, text)


def iter_addresses(text: str) -> Iterator[tuple[int, int, int]]:
    """Yield ``(start, at, end)`` for each e-mail address in ``text``, left to right.

    ``text[start:at]`` is the local part, ``text[at]`` the ``@`` or ``＠`` and
    ``text[at + 1:end]`` the domain.  The addresses are those a left-to-right search for
    ``local+[@＠]domain`` finds (the whole run of local-part characters before the ``@``,
    never reaching back into the previous address), but each ``@`` is found first and
    the local part grown leftwards from it, up to the previous ``@``: every character is
    looked at a bounded number of times, so the cost is linear in the length of the text.
    """
    floor = 0  # no local part reaches back past this (the last @ or the end of the last address)
    for mo in _AT_RE.finditer(text):
        at = mo.start()
        lo, floor = floor, at + 1
        if at == lo:
            continue  # nothing since the previous @ or address: no local part
        domain = _DOMAIN_RE.match(text, at + 1)
        if domain is None:
            continue
        local = _LOCAL_RUN_RE.match(text[lo:at][::-1])
        if local is None:
            continue
        yield at - local.end(), at, domain.end()
        floor = domain.end()


# ---------------------------------------------------------------------------
# Japanese decoding
# ---------------------------------------------------------------------------

_ISO2022_NAMES = {
    "iso-2022-jp", "iso2022-jp", "iso2022jp", "iso_2022_jp", "csiso2022jp", "iso-2022-jp-1",
    "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-jp-2004", "iso-2022-jp-ms", "cp50220",
    "cp50221", "cp50222", "jis", "iso-2022-jp-ext",
}
_SJIS_NAMES = {
    "shift_jis", "shift-jis", "sjis", "x-sjis", "s-jis", "ms_kanji", "csshiftjis", "cp932",
    "ms932", "windows-31j", "csWindows31J".lower(), "x-ms-cp932", "shift_jis-2004",
    "shift_jisx0213", "sjis-win", "sjis-open",
}
_EUC_NAMES = {
    "euc-jp", "eucjp", "euc_jp", "x-euc-jp", "x-euc", "cseucpkdfmtjapanese", "ujis", "euc-jp-ms",
    "eucjp-ms", "eucjp-win", "cp51932", "euc-jis-2004", "euc-jisx0213",
}
_UTF8_NAMES = {"utf-8", "utf8", "utf_8", "x-unicode20utf8", "unicode-1-1-utf-8"}


def _jis_pair_to_sjis(j1: int, j2: int) -> bytes:
    """Map one JIS X 0208 code (two bytes 0x21-0x7E) to its Shift_JIS bytes."""
    s1 = ((j1 + 1) >> 1) + (0x70 if j1 <= 0x5E else 0xB0)
    if j1 & 1:
        s2 = j2 + (0x20 if j2 >= 0x60 else 0x1F)
    else:
        s2 = j2 + 0x7E
    return bytes((s1, s2))


def _iso2022jp_to_cp932(data: bytes) -> str:
    """Decode ISO-2022-JP the way Windows does (CP50220/CP50221/CP50222).

    The escape sequences are interpreted here and every JIS X 0208 code is
    converted to Shift_JIS with the standard arithmetic, then the result is
    decoded as CP932.  This keeps the NEC row-13 characters (①, ㈱, Ⅱ), the
    NEC-selected IBM extensions (髙) and the Windows mappings (～ U+FF5E) that
    Outlook produces.  JIS X 0201 katakana (``ESC ( I`` or SO/SI) become
    half-width katakana.

    Raises
    ------
    UnicodeDecodeError
        On 8-bit bytes, JIS X 0212/0213 designations, malformed sequences or
        codes CP932 cannot map, so that a caller can try another codec.
    """

    def fail(pos: int, reason: str) -> UnicodeDecodeError:
        return UnicodeDecodeError("iso2022_jp_ms", data, pos, min(pos + 1, len(data)), reason)

    out = bytearray()
    mode = "ascii"  # ascii | kanji | kana
    shifted = False  # SO/SI katakana (CP50222)
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x1B:
            seq3 = data[i : i + 3]
            seq4 = data[i : i + 4]
            if seq3 in (b"\x1b(B", b"\x1b(J", b"\x1b(H"):
                mode, i = "ascii", i + 3
            elif seq3 in (b"\x1b$B", b"\x1b$@"):
                mode, i = "kanji", i + 3
            elif seq3 == b"\x1b(I":
                mode, i = "kana", i + 3
            elif seq3 == b"\x1b&@":  # JIS X 0208-1990 announcer, followed by ESC $ B
                i += 3
            elif seq4 == b"\x1b$(B" or seq4 == b"\x1b$(@":
                mode, i = "kanji", i + 4
            else:
                raise fail(i, "unsupported escape sequence")
            continue
        if b >= 0x80:
            raise fail(i, "8-bit byte in 7-bit ISO-2022-JP")
        if b == 0x0E:
            shifted, i = True, i + 1
            continue
        if b == 0x0F:
            shifted, i = False, i + 1
            continue
        if b in (0x0A, 0x0D):
            # Be lenient: a line end always returns to ASCII.
            out.append(b)
            mode, shifted, i = "ascii", False, i + 1
            continue
        if shifted or mode == "kana":
            if 0x21 <= b <= 0x5F:
                out.append(b + 0x80)
                i += 1
                continue
            if b < 0x21:
                out.append(b)
                i += 1
                continue
            raise fail(i, "byte outside JIS X 0201 katakana")
        if mode == "kanji":
            if b < 0x21:  # space, tab and controls pass through
                out.append(b)
                i += 1
                continue
            if i + 1 >= n:
                raise fail(i, "truncated double-byte sequence")
            b2 = data[i + 1]
            if not (0x21 <= b <= 0x7E and 0x21 <= b2 <= 0x7E):
                raise fail(i, "byte outside JIS X 0208")
            out += _jis_pair_to_sjis(b, b2)
            i += 2
            continue
        out.append(b)
        i += 1
    try:
        return bytes(out).decode("cp932")
    except UnicodeDecodeError as exc:
        raise fail(0, f"code not in CP932: {exc.reason}") from None


def _eucjp_to_cp932(data: bytes) -> str:
    """Decode EUC-JP the way Windows does (CP51932 / eucJP-ms).

    Raises
    ------
    UnicodeDecodeError
        On sequences that cannot be mapped (including JIS X 0212, ``0x8F``).
    """
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            out.append(b)
            i += 1
        elif b == 0x8E and i + 1 < n and 0xA1 <= data[i + 1] <= 0xDF:
            out.append(data[i + 1])
            i += 2
        elif 0xA1 <= b <= 0xFE and i + 1 < n and 0xA1 <= data[i + 1] <= 0xFE:
            j1, j2 = b & 0x7F, data[i + 1] & 0x7F
            if j1 > 0x7E or j2 > 0x7E:
                raise UnicodeDecodeError("cp51932", data, i, i + 2, "invalid EUC-JP")
            out += _jis_pair_to_sjis(j1, j2)
            i += 2
        else:
            raise UnicodeDecodeError("cp51932", data, i, i + 1, "invalid EUC-JP")
    try:
        return bytes(out).decode("cp932")
    except UnicodeDecodeError as exc:
        raise UnicodeDecodeError("cp51932", data, 0, len(data), exc.reason) from None


_Decoder = tuple[str, Any]  # (name, callable bytes -> str)


def _codec(name: str) -> _Decoder:
    return (name, lambda data, _n=name: data.decode(_n))


def _chain_for(charset: str) -> list[_Decoder]:
    """Return the ordered decoders to try for a declared charset."""
    cs = charset.lower().strip()
    if cs in _ISO2022_NAMES or cs.startswith("iso-2022-jp"):
        return [
            ("iso2022_jp_ms", _iso2022jp_to_cp932),
            _codec("iso2022_jp_2004"),
            _codec("iso2022_jp_ext"),
            _codec("iso2022_jp_2"),
            _codec("iso2022_jp"),
        ]
    if cs in _SJIS_NAMES:
        return [_codec("cp932"), _codec("shift_jis_2004"), _codec("shift_jis")]
    if cs in _EUC_NAMES:
        return [_codec("euc_jp"), ("cp51932", _eucjp_to_cp932), _codec("euc_jis_2004")]
    if cs in _UTF8_NAMES:
        return [_codec("utf-8")]
    try:
        real = codecs.lookup(cs).name
    except LookupError:
        return []
    return [_codec(real)]


_JA_CHAR = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\u3000-\u303f\uff01-\uff5e]")
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]")
_GARBAGE = re.compile(r"[\x80-\x9f\ue000-\uf8ff\ufffd]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_8BIT = re.compile(rb"[\x80-\xff]")


def _first_decoding(data: bytes, decoders: Sequence[_Decoder]) -> tuple[str, str] | None:
    """``(text, codec)`` from the first of ``decoders`` that takes ``data``, or None."""
    for name, fn in decoders:
        try:
            return fn(data), name
        except UnicodeDecodeError:
            continue
    return None


_ISO2022JP_CHAIN = _chain_for("iso-2022-jp")


def _iso2022jp(data: bytes) -> tuple[str, str] | None:
    """``(text, codec)`` from the first ISO-2022-JP decoder that takes ``data``, or None."""
    return _first_decoding(data, _ISO2022JP_CHAIN)


def _guess(data: bytes) -> tuple[str, str] | None:
    """Guess the encoding of undeclared bytes; return ``(text, codec)`` or None."""
    if b"\x1b$" in data or b"\x1b(" in data:
        decoded = _iso2022jp(data)
        if decoded is not None:
            return decoded
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best: tuple[int, str, str] | None = None
    for name, fn in (("cp932", lambda d: d.decode("cp932")), ("euc_jp", lambda d: d.decode("euc_jp")),
                     ("cp51932", _eucjp_to_cp932)):
        try:
            text = fn(data)
        except UnicodeDecodeError:
            continue
        if _GARBAGE.search(text):  # C1 controls / private use: not a plausible guess
            continue
        score = len(_JA_CHAR.findall(text)) - 2 * len(_HALFWIDTH_KANA.findall(text))
        if best is None or score > best[0]:
            best = (score, text, name)
    if best is None:
        return None
    return best[1], best[2]


#: An ISO-2022-JP escape sequence (JIS X 0208, JIS X 0212/0213, ASCII, JIS-Roman, katakana).
_ESC_DESIGNATION = re.compile(rb"\x1b(?:\$[@B]|\$\([@BDOPQ]|\([BJIH])")
#: Single-byte labels every byte string decodes under, so a wrong one never fails.
_LATIN1_CODECS = frozenset({"iso8859-1", "cp1252", "iso8859-15"})
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _relabel(data: bytes, name: str, declared: str) -> tuple[str, str] | None:
    """The evidently right decoding when ``data``, decoded by codec ``name`` for the label
    ``declared``, gave garbage.

    * ISO-2022-JP escape sequences left in the text of a non-ISO-2022-JP label (``us-ascii``,
      ``utf-8``): decoded as ISO-2022-JP (line by line, when 8-bit lines are mixed in);
    * a Latin-1 label (``iso-8859-1``, ``windows-1252``) on bytes that decode cleanly as UTF-8,
      CP932 or EUC-JP into Japanese text (four non-ASCII characters in five Japanese and, for
      CP932 / EUC-JP, at least two kana, which Japanese prose always has and Latin-1 text
      almost never produces: ``Não`` and ``ação`` decode as CP932 kanji, never kana): that decoding.
    """
    if _ESC_DESIGNATION.search(data) and not name.startswith("iso2022"):
        if _8BIT.search(data):
            return _decode_mixed(data, declared), "iso2022_jp_ms"
        return _iso2022jp(data)
    if name not in _LATIN1_CODECS or not _8BIT.search(data):
        return None
    guessed = _guess(data)
    if guessed is None:
        return None
    other, name = guessed
    non_ascii = _NON_ASCII.findall(other)
    japanese = sum(1 for ch in non_ascii if _JA_CHAR.match(ch) or _HALFWIDTH_KANA.match(ch))
    if name == "utf-8" and japanese:
        return other, name
    if japanese >= 2 and 5 * japanese >= 4 * len(non_ascii) and len(_KANA.findall(other)) >= 2:
        return other, name
    return None


def _decode_mixed(data: bytes, declared: str) -> str:
    """Decode line by line: ISO-2022-JP lines (a relay's UTF-8 footer under an ISO-2022-JP body)."""
    chain = [d for d in _chain_for(declared) if not d[0].startswith("iso2022")] if declared else []
    out: list[str] = []
    for line in data.splitlines(keepends=True):
        if _ESC_DESIGNATION.search(line):
            decoded = _iso2022jp(line)
            if decoded is not None:
                out.append(decoded[0])
                continue
        if not _8BIT.search(line):
            out.append(line.decode("ascii", "replace"))
            continue
        text = (_first_decoding(line, chain) or (None,))[0]
        if text is None:
            guessed = _guess(line)
            text = guessed[0] if guessed is not None else line.decode("utf-8", "replace")
        out.append(text)
    return "".join(out)


#: Multi-byte codecs whose last character a cut-off transfer can split (see :func:`_truncated`).
#: A single-byte label (``us-ascii``, ``iso-8859-1``) failing on the last bytes is a wrong label.
_MULTIBYTE_CODECS = frozenset({
    "utf-8", "cp932", "shift_jis", "shift_jis_2004", "euc_jp", "cp51932", "euc_jis_2004",
})


def _truncated(data: bytes, failed: list[tuple[_Decoder, UnicodeDecodeError]]) -> tuple[str, str] | None:
    """``(text, codec)`` when ``data`` failed in a multi-byte codec only on an incomplete
    character in its last three bytes (the end of a cut-off transfer); the character becomes U+FFFD.

    ``failed`` holds each decoder of the chain with the error it raised on ``data``.
    """
    for (name, fn), exc in failed:
        if name not in _MULTIBYTE_CODECS or not 0 < len(data) - exc.start <= 3:
            continue
        try:
            return fn(data[: exc.start]) + "\ufffd", name
        except UnicodeDecodeError:
            continue
    return None


def decode_japanese(data: bytes, charset: str | None) -> tuple[str, str, list[str]]:
    """Decode bytes from a Japanese mail part with a fallback chain.

    Parameters
    ----------
    data : bytes
        Transfer-decoded payload.
    charset : str or None
        The declared charset (``None`` or ``""`` when none was declared).

    Returns
    -------
    text : str
        Decoded text (a leading BOM is removed).
    codec : str
        Name of the decoder that succeeded (e.g. ``"iso2022_jp_ms"`` for the
        Windows-compatible ISO-2022-JP decoder, ``"cp932"``, ``"euc_jp"``).
    defects : list of str
        Notes when the declared charset was unknown or wrong, or when the last
        resort (UTF-8 with replacement characters) had to be used.

    Notes
    -----
    ISO-2022-JP is first decoded by mapping JIS X 0208 codes to CP932, so the
    Windows characters Outlook sends (①, ㈱, ～, Ⅱ, 髙) come out right; then
    ``iso2022_jp_2004``, ``iso2022_jp_ext``, ``iso2022_jp_2``, ``iso2022_jp``
    are tried.  Shift_JIS is decoded as CP932 first, EUC-JP as ``euc_jp``,
    then CP51932, then ``euc_jis_2004``.
    """
    defects: list[str] = []
    declared = (charset or "").strip().strip('"').lower()
    if declared:
        chain = _chain_for(declared)
        if not chain:
            defects.append(f"UnknownCharset: {declared[:40]}")
        failed: list[tuple[_Decoder, UnicodeDecodeError]] = []
        for name, fn in chain:
            try:
                text = fn(data)
            except UnicodeDecodeError as exc:
                failed.append(((name, fn), exc))
                continue
            relabelled = _relabel(data, name, declared)
            if relabelled is not None:
                text, name = relabelled
                defects.append(
                    f"CharsetMismatch: declared {declared[:40]}, but the bytes are {name}; decoded as {name}"
                )
            return text.lstrip("\ufeff"), name, defects
        truncated = _truncated(data, failed)
        if truncated is not None:  # a cut-off transfer (truncated base64) ends inside a character
            text, name = truncated
            defects.append(f"TruncatedText: the bytes end inside a {name} character; it is replaced by U+FFFD")
            return text.lstrip("\ufeff"), name, defects
        if chain:
            defects.append(f"CharsetMismatch: bytes are not valid {declared[:40]}")
    if _ESC_DESIGNATION.search(data) and _8BIT.search(data):
        text = _decode_mixed(data, declared)
        defects.append("MixedCharsets: ISO-2022-JP lines mixed with 8-bit lines; decoded line by line")
        return text.lstrip("\ufeff"), "iso2022_jp_ms", defects
    guessed = _guess(data)
    if guessed is not None:
        text, name = guessed
        if declared:
            defects.append(f"CharsetFallback: declared {declared[:40]}, decoded as {name}")
        return text.lstrip("\ufeff"), name, defects
    defects.append("UndecodableBytes: decoded as utf-8 with replacement characters")
    return data.decode("utf-8", errors="replace").lstrip("\ufeff"), "utf-8", defects


# ---------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=")
_SURROGATES = re.compile(r"[\udc80-\udcff]")


def _ew_bytes(enc: str, payload: str) -> bytes:
    if enc.upper() == "B":
        padded = payload + "=" * (-len(payload) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            return base64.b64decode(padded, validate=False)
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=False)


def _decode_header(value: str, defects: list[str]) -> str:
    """Decode a raw header value: unfold, raw 8-bit/JIS bytes, RFC 2047 words."""
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    if _SURROGATES.search(value) or "\x1b" in value:
        # raw 8-bit (Shift_JIS/UTF-8) or raw JIS escapes written without RFC 2047
        if _SURROGATES.search(value):
            raw = value.encode("ascii", "surrogateescape")
        else:
            raw = value.encode("latin-1", "replace")
        value, _codec_name, more = decode_japanese(raw, None)
        defects.extend(f"Header{d}" for d in more)
    parts: list[str] = []
    pos = 0
    pending: tuple[str, bytearray] | None = None  # adjacent words of one charset

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            text, _n, more = decode_japanese(bytes(pending[1]), pending[0])
            defects.extend(f"Header{d}" for d in more)
            parts.append(text)
            pending = None

    for mo in _ENCODED_WORD.finditer(value):
        between = value[pos : mo.start()]
        if pending is not None and between.strip(" \t") == "":
            pass  # whitespace between adjacent encoded words is dropped
        else:
            flush()
            parts.append(between)
        charset = mo.group(1).lower()
        try:
            data = _ew_bytes(mo.group(2), mo.group(3))
        except Exception:  # noqa: BLE001 - malformed encoded word: keep it as written
            flush()
            parts.append(mo.group(0))
            defects.append("HeaderInvalidEncodedWord")
            pos = mo.end()
            continue
        if pending is not None and pending[0] == charset:
            pending[1].extend(data)
        else:
            flush()
            pending = (charset, bytearray(data))
        pos = mo.end()
    flush()
    parts.append(value[pos:])
    return "".join(parts).strip()


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in msg.raw_items()] if hasattr(msg, "raw_items") else list(msg.items())


def _header(headers: list[tuple[str, str]], name: str) -> list[str]:
    lname = name.lower()
    return [v for k, v in headers if k.lower() == lname]


def _addresses(values: list[str], defects: list[str]) -> list[str]:
    out: list[str] = []
    for raw in values:
        raw = re.sub(r"\r?\n(?=[ \t])", "", raw)
        if _SURROGATES.search(raw) or "\x1b" in raw:
            raw = _decode_header(raw, defects)
        try:
            pairs = email.utils.getaddresses([raw])
        except Exception:  # noqa: BLE001 - the stdlib parser is not total
            pairs = []
        pairs = [(n, a) for n, a in pairs if n or a]
        if not pairs and raw.strip():
            decoded = _decode_header(raw, defects)
            if decoded:
                out.append(decoded)
                defects.append("InvalidAddressHeader")
            continue
        if any(addr and _ENCODED_WORD.search(addr) for _name, addr in pairs):
            # RFC 2047 forbids encoded words in an address, but some senders encode the whole
            # "name <address>" (so does the stdlib's compat32 policy for a non-ASCII From), folded
            # into several words when it is long: decode the whole value and read the addresses
            # from the decoded text, so that they are masked like any other
            defects.append("EncodedWordInAddress")
            decoded = _decode_header(raw, defects)
            try:
                inner = [(n, a) for n, a in email.utils.getaddresses([decoded]) if n or a]
            except Exception:  # noqa: BLE001 - the stdlib parser is not total
                inner = []
            if inner and all("@" in a for _n, a in inner):
                for n, a in inner:
                    n = n.strip().strip('"').strip()
                    out.append(f"{n} <{a}>" if n else a)
            elif decoded:
                out.append(decoded)
            continue
        for name, addr in pairs:
            name = _decode_header(name, defects).strip().strip('"').strip() if name else ""
            out.append(f"{name} <{addr}>" if name and addr else (addr or name))
    return out


#: The zone -0000 (RFC 2822: UTC, the place unknown), which parsedate_to_datetime leaves naive like no zone.
_MINUS_0000 = re.compile(r"\d:\d{2}(?::\d{2})?\s*-00:?00(?!\d)")


def mail_date(raw: str) -> datetime.datetime | None:
    """A date as mail headers write it, or None: aware for a known zone (+0900, GMT, UT, EST …)
    and for -0000 (UTC); naive for none, or one Python does not know such as JST (local time)."""
    try:
        dt = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is not None and dt.tzinfo is None and _MINUS_0000.search(raw):
        return dt.replace(tzinfo=datetime.UTC)
    return dt


def _iso_date(values: list[str], defects: list[str]) -> str | None:
    if not values:
        return None
    dt = mail_date(re.sub(r"\s+", " ", values[0]).strip())
    if dt is None:
        defects.append("InvalidDateHeader")
        return None
    return dt.isoformat()


# ---------------------------------------------------------------------------
# HTML → text
# ---------------------------------------------------------------------------

_BLOCK_TAGS = frozenset({
    "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "dt",
    "dd", "pre", "hr", "section", "article", "header", "footer", "address", "center", "form",
    "fieldset", "blockquote", "tbody", "thead", "caption", "nav", "aside", "main", "figure",
})
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "svg", "object"})
#: Elements that may stand in ``<head>``; any other tag ends a head left unclosed.
_HEAD_TAGS = frozenset({
    "title", "base", "link", "meta", "style", "script", "noscript", "template", "basefont", "bgsound",
})


class _HTMLToText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._cur: list[str] = []
        self._skip: list[str] = []  # open elements whose content is dropped (script, head, …)
        self._quote = 0
        self._pre = 0

    def _newline(self, force: bool = False) -> None:
        text = "".join(self._cur)
        self._cur = []
        if not force and not text.strip(" \t\r\n\f"):
            return  # only inter-tag whitespace (a lone &nbsp; still makes a blank line)
        text = text.replace("\xa0", " ")
        if self._pre:
            for piece in text.split("\n"):
                self.lines.append((self._quote, piece.rstrip()))
        else:
            self.lines.append((self._quote, text.strip()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip.append(tag)
            return
        self._leave_unclosed_head(tag)
        if tag == "br":
            self._newline(force=True)
        elif tag in _BLOCK_TAGS:
            self._newline()
            if tag == "blockquote":
                self._quote += 1
            elif tag == "pre":
                self._pre += 1
        elif tag in ("td", "th") and self._cur:
            self._cur.append(" ")

    def _leave_unclosed_head(self, tag: str | None) -> None:
        """End a ``<head>`` left open at the first tag (``<body>``, ``<p>``…) or text that
        cannot stand in a head, as browsers do (HTML5 "in head" insertion mode)."""
        if self._skip and self._skip[-1] == "head" and tag not in _HEAD_TAGS:
            self._skip.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            if tag in self._skip:  # close it and whatever was left open inside it
                del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag) :]
            return
        if tag in _BLOCK_TAGS:
            self._newline()
            if tag == "blockquote":
                self._quote = max(0, self._quote - 1)
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            return  # <title/>, <script src="…"/>: empty, nothing to skip
        self.handle_starttag(tag, attrs)
        if tag != "br":
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if data.strip(" \t\r\n\f"):
            self._leave_unclosed_head(None)
        if self._skip:
            return
        if not self._pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
        self._cur.append(data)

    def result(self) -> str:
        self._newline()
        out: list[str] = []
        for depth, text in self.lines:
            out.append((">" * depth + " " + text).rstrip() if depth else text)
        joined = "\n".join(out)
        return re.sub(r"\n{3,}", "\n\n", joined).strip("\n")


def html_to_text(html: str) -> str:
    """Convert an HTML mail body to plain text.

    ``script``/``style``/``head`` are dropped (a ``<head>`` left open ends at ``<body>``;
    a self-closed ``<title/>`` or ``<script …/>`` drops nothing), ``<br>``, ``<p>``, ``<div>`` and
    other block elements become line breaks, entities are unescaped and the
    content of ``<blockquote>`` is prefixed with ``"> "`` (one ``>`` per level) so
    quoted replies can be stripped like plain-text quotes.

    Parameters
    ----------
    html : str
        The HTML source.

    Returns
    -------
    str
        Plain text with ``"\\n"`` line ends and at most one blank line in a row.

    Examples
    --------
    >>> html_to_text("<p>a&amp;b<br>c</p><blockquote>old</blockquote>")
    'a&b\\nc\\n> old'
    """
    parser = _HTMLToText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient; never fail on markup
        pass
    return parser.result()


# ---------------------------------------------------------------------------
# Reply / signature splitting
# ---------------------------------------------------------------------------

_QUOTE_LINE = re.compile(r"^[ \t]*>")
#: A line quoted by hand with a full-width mark (＞ …, ＞＞ …, ≫ …), as Japanese writers often
#: quote.  Unlike a ``>`` line, such a line is a quote only in a quote's setting (see
#: :func:`_wide_runs_quoted`): in running text 「＞」 can be an arrow or a bullet.
_WIDE_QUOTE_LINE = re.compile(r"^[ \t\u3000]*[＞≫]")
_COLON = r"[:：]"
_QUOTE_HEADER_RES = (
    re.compile(r"^On\s.+\b(?:wrote|writes|said)\s*" + _COLON + r"\s*$", re.I),
    re.compile(r"^.{0,200}\b(?:wrote|writes)\s*" + _COLON + r"\s*$", re.I),
    re.compile(r"^.{0,200}(?:書きました|書かれました|書き込みました)\s*" + _COLON + r"\s*$"),
    re.compile(r"^.{0,200}のメール\s*" + _COLON + r"\s*$"),
    re.compile(r"^.{0,200}からのメッセージ\s*" + _COLON + r"\s*$"),
    re.compile(
        r"^[(（]?\d{4}\s*[年/.\-]\s*\d{1,2}\s*[月/.\-]\s*\d{1,2}.{0,200}[@＠<＜].{0,200}" + _COLON + r"\s*$"
    ),
)
_ORIGINAL_MARKER = re.compile(
    r"^[ \t]*[-=＝─━_－]{2,}\s*(?:Original Message|元のメッセージ|オリジナル\s*メッセージ|"
    r"Original\s+Nachricht|Message d'origine)\s*[-=＝─━_－]{2,}[ \t]*$",
    re.I,
)
_FORWARD_MARKER = re.compile(
    r"^[ \t]*(?:[-=＝─━_－]{2,}\s*(?:Forwarded message|Forwarded Message|転送メッセージ|"
    r"転送されたメッセージ|転送メール)\s*[-=＝─━_－]{2,}|(?:Begin forwarded message|"
    r"転送されたメッセージ|以下転送)\s*[:：])[ \t]*$",
    re.I,
)
# (``[ \t]*(?:\*+[ \t]*)?`` and not ``[ \t]*\**[ \t]*``: two runs of blanks with nothing
# required between them can split a long run of spaces in quadratically many ways.)
_HF = r"^[ \t]*(?:\*+[ \t]*)?(?:{names})[ \t]*(?:\*+[ \t]*)?[:：]"
_HDR_FROM = re.compile(_HF.format(names="From|差出人|送信者|Von|De"), re.I)
_HDR_SENT = re.compile(_HF.format(names="Sent|Date|送信日時|送信日|日付|日時|Gesendet|Envoyé"), re.I)
_HDR_TO = re.compile(_HF.format(names="To|宛先|受信者|An|À"), re.I)
_HDR_CC = re.compile(_HF.format(names="Cc|Bcc|CC"), re.I)
_HDR_SUBJ = re.compile(_HF.format(names="Subject|件名|Betreff|Objet"), re.I)
_OUTLOOK_RULE = re.compile(r"^[ \t]*[_\-─━]{10,}[ \t]*$")

#: Characters a signature's separator rule is drawn with; a line of 5 or more opens a signature.
_RULE_CHARS = "─━\\-=＝*＊_＿~～〜―－═┅┉+"
_RULE_LINE = re.compile(rf"^[ \t]*[{_RULE_CHARS}ー…・]{{5,}}[ \t]*$")
#: A rule inside a one-line cell (not ー … ・: five of those are an ordinary long vowel or ellipsis
#: in Japanese prose).
_INLINE_RULE = re.compile(rf"[{_RULE_CHARS}]{{5,}}")
_INLINE_RULES_TRIED = 4  # only the last few rules of a cell can open its signature
_MOBILE_SIG = re.compile(
    r"^[ \t]*(?:(?:iPhone|iPad|iPod|Android|Galaxy|Xperia|AQUOS|arrows|Pixel|Mac|Outlook|"
    r"Yahoo!?\s*メール|Gmail|au|docomo|ドコモ|ソフトバンク|SoftBank|Y!mobile|楽天モバイル|"
    r"スマートフォン|スマホ|携帯)[^\n。]{0,20}から送信(?:しました)?[。.]?|"
    r"Sent from (?:my )?\S.{0,40}|Get Outlook for (?:iOS|Android).*)[ \t]*$",
    re.I,
)
_SIG_WINDOW = 12  # a signature separator must lie in the last 12 lines of the new text
_SIG_MAX_LINES = 10  # and at most 10 non-blank lines may follow it

# The line tests below run on the NFKC form of a line (full-width letters, digits, ＠, ：, （）
# and half-width katakana folded), with runs of white space made one space.  A line below a
# separator belongs to a signature only when the WHOLE line has the shape of a signature line
# (a name, an organisation or department, an address, a contact); anything else is new text,
# and keeps the block in the body.  Every pattern is anchored at the start and tried on a line
# of at most 100 characters.
_KANJI_CHARS = "\u3400-\u4dbf\u4e00-\u9fff々〆ヶ"
_KANJI = f"[{_KANJI_CHARS}]"
_KATAKANA = "[ァ-ヺー]"
_NUM = "[0-9一二三四五六七八九十〇]"
# The hiragana of a given name (北沢 みどり): no small っ, and not ending the way a verb or a
# sentence-final particle does (区役所 いくぞ, 職員 しばく, 担当 やる).
_HIRA_BODY = "[" + "".join(chr(c) for c in range(0x3041, 0x3097) if chr(c) != "っ") + "]"
#: Last kana of a verb or a sentence-final particle (言ってろ, 行くぞ): a name never ends in them.
_VERB_ENDINGS = "っぞぜろけくすだぬつるよわ"
_HIRA_END = "[" + "".join(chr(c) for c in range(0x3041, 0x3097) if chr(c) not in _VERB_ENDINGS) + "]"
#: A title or role (理事長, 総務部長, 部長代理, 担当, 世田谷区民, 弁護士, 町会長): never a name itself.
_RANK = (
    rf"(?:{_KANJI}{{0,6}}(?:区民|市民|都民|町民|村民|住民)|代表取締役(?:社長)?|代表(?:理事|者)?|副?理事長|理事|"
    rf"副?会長|社長|専務|常務|{_KANJI}{{0,4}}(?:部長|課長|係長|所長|院長|園長|校長|店長|室長|局長|次長|支配人)"
    rf"(?:代理|補佐)?|主任|主事|担当者?|{_KANJI}{{0,4}}(?:弁護士|書士|税理士|会計士|医師|議員)|管理人|"
    rf"{_KANJI}{{0,3}}(?:自治会|町会)長)"
)
_RANK_RE = re.compile(_RANK)
#: A title, role or department written before a name (理事長, 総務部長, 担当, 世田谷区民, 弁護士, 営業部).
_TITLE = rf"(?:{_RANK}|{_KANJI}{{1,8}}(?:課|部|係|室|班|センター))"
_TITLE_RE = re.compile(_TITLE)
_READING = r"\([ぁ-ゖァ-ヺーA-Za-z .・\-]{1,30}\)"
#: A Japanese name, optionally after a title and with a reading in brackets: 山田 太郎, 山田太郎,
#: 木村, 北沢 みどり, ヤマダ タロウ, 理事長 北沢 みどり, 世田谷 花子(せたがや はなこ).
_NAME_LINE = re.compile(
    rf"^(?:(?P<title>{_TITLE}) ?)?"
    rf"(?P<name>{_KANJI}{{1,4}} (?:{_KANJI}{{1,4}}|{_HIRA_BODY}{{1,4}}{_HIRA_END})"
    rf"|{_KANJI}{{2,6}}|{_KATAKANA}{{2,8}} {_KATAKANA}{{2,8}})"
    rf"(?: ?(?P<reading>{_READING}))?$"
)
_LATIN_WORD = r"(?:[A-Z][a-z'\-]+|[A-Z]{2,}|[A-Z]\.)"
#: A name in Latin letters, two to four capitalised words: Taro Yamada, YAMADA Taro, Dr. Jiro Sato.
_LATIN_NAME = re.compile(rf"^(?:(?:Mr|Ms|Mrs|Dr)\.? )?{_LATIN_WORD}(?: {_LATIN_WORD}){{1,3}}(?: {_READING})?$")
#: The end of an organisation or department name (世田谷区 道路管理課, 株式会社サンプル 総務部).
_ORG_SUFFIX = re.compile(
    r"(?:会社|法人|協会|組合|委員会|事務所|事業所|研究所|出張所|役所|役場|支所|大学|学校|学園|高校|保育園|幼稚園|病院|"
    r"医院|クリニック|町会|自治会|商店会|商店街|本社|支社|支店|本店|営業所|センター|グループ|財団|機構|(?<=\S\S)[課部係室局科班])$"
)
#: A municipality as a word of an organisation line (世田谷区 清掃課); alone, 木村 and 中村 are names.
_MUNICIPALITY_WORD = re.compile(rf"^{_KANJI}{{1,6}}[都道府県市区町村]$")
#: A legal form, before (or after) the organisation's own name: 株式会社サンプル, NPO法人 せたがやの森.
_LEGAL_FORM = re.compile(
    r"^(?:株式会社|有限会社|合同会社|合資会社|(?:一般|公益)(?:社団|財団)法人|NPO法人|特定非営利活動法人|"
    r"社会福祉法人|医療法人|学校法人|宗教法人|\((?:株|有)\))"
)
_LATIN_ORG = re.compile(
    r"^[A-Z][A-Za-z0-9&'\-]*(?: [A-Z0-9&][A-Za-z0-9&'\-]*){0,5},? (?:Inc|Corp|LLC|Ltd|Co\.?,? Ltd|K\.K)\.?$"
)
_VERB_END = re.compile(f"[{_VERB_ENDINGS}]$")
_POSTAL = r"〒 ?[0-9]{3}-?[0-9]{4}"
_PREFECTURE = rf"(?:東京都|北海道|(?:京都|大阪)府|{_KANJI}{{2,3}}県)"
_MUNICIPALITY = rf"(?:{_KANJI}{{1,5}}[市郡] ?)?{_KANJI}{{1,6}}[市区町村]"
_TOWN = f"[{_KANJI_CHARS}ァ-ヺー]{{0,8}}"
_BLOCK_NUMBER = rf"{_NUM}{{1,4}}(?:(?:丁目|番地|番|号|-|の){_NUM}{{1,4}}){{0,3}}(?:丁目|番地|番|号)?"
_BUILDING = (
    rf"[{_KANJI_CHARS}ァ-ヺーA-Za-z0-9\-・]{{0,16}}?"
    r"(?: ?[0-9]{1,4}(?:F|階|号室|号)?|ビル|マンション|ハイツ|コーポ|荘|棟|館|タワー|レジデンス|ハウス)"
)
#: A postal address: 〒154-0017 東京都世田谷区世田谷4-21-27, 世田谷区太子堂1丁目2番3号 サンプルビル2F, 〒154-0001.
_ADDRESS_LINE = re.compile(
    rf"^(?:{_POSTAL}|(?:{_POSTAL} ?)?(?:{_PREFECTURE} ?)?{_MUNICIPALITY} ?{_TOWN} ?{_BLOCK_NUMBER}(?: ?{_BUILDING})?)$"
)
#: After 住所: an address may stop at the town (住所：世田谷区太子堂).
_ADDRESS_VALUE = re.compile(rf"^(?:{_POSTAL} ?)?(?:{_PREFECTURE} ?)?{_MUNICIPALITY}{_TOWN}$")
#: An address in Latin letters: capitalised words and numbers, naming Tokyo, Japan, a -ku or a postcode.
_LATIN_ADDRESS = re.compile(
    r"^(?=.*(?:\bTokyo\b|\bJapan\b|-ku\b|-shi\b|-cho\b|-machi\b|[0-9]{3}-[0-9]{4}))"
    r"(?:[0-9][0-9\-]*|[A-Z][A-Za-z\-]*)(?:,? (?:[0-9][0-9\-]*|[A-Z][A-Za-z\-]*)){0,7}$"
)
_CONTACT_WORD = (
    r"(?:TEL|Tel|tel|Phone|phone|電話(?:番号)?|携帯(?:電話)?|自宅|直通|FAX|Fax|fax|Mobile|mobile|Mob|Cell|"
    r"E-?mail|e-?mail|Mail|mail|E-?メール|メール(?:アドレス)?|連絡先|URL|Web|HP|ホームページ|内線)"
)
#: A contact label (Tel:, TEL/FAX, Mobile:, URL:, 携帯, メール：).
_CONTACT_LABEL = re.compile(rf"^{_CONTACT_WORD}(?: ?/ ?{_CONTACT_WORD})?\.? ?:? ?")
#: A telephone number, optionally followed by what it reaches: 03-1234-5678(代表), (直通), 内線123, (内線 123).
_PHONE_VALUE = re.compile(
    r"^(?:\+|\(?0)[0-9()\- .]{5,18}[0-9]"
    r"(?: ?(?:\((?:代表|直通|(?:内線|ext\.?) ?[0-9]{1,6})\)|(?:内線|ext\.?) ?[0-9]{1,6}))?$"
)
_EXTENSION_VALUE = re.compile(r"^[0-9]{2,6}$")
_EMAIL_VALUE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+$")
_URL_VALUE = re.compile(r"^(?:https?://|www\.)[\x21-\x7e]+$")
# Several contacts on one line: "TEL 03-1234-5678 / FAX 03-1234-5679", "… | Mail: …".
_CONTACT_SPLIT = re.compile(rf" / | ?\| ?|(?<=[0-9])/(?=[^0-9 ])|(?<=[0-9]) (?={_CONTACT_WORD})")
#: A labelled field whose value is a name, an organisation or an address (担当：佐藤 花子, 住所：…).
_FIELD_LABEL = re.compile(r"^(?:担当者?|氏名|名前|Name|所属|住所|所在地|Address)\.? ?(?:: ?| )")
_PUNCTUATION = re.compile(r"[。、!?]")
#: A name followed by its address in angle brackets: 山田 太郎 <taro@example.jp>.
_NAME_ADDRESS = re.compile(r"^(?P<name>[^<>]{1,40}?) ?<(?P<address>[^<> ]{3,80})>$")
#: Business or reception hours: 営業時間 9:00-18:00, 受付時間：平日 8:30〜17:15(土日祝休み).
_HOURS_LINE = re.compile(
    r"^(?:営業|受付|診療|業務|窓口|開庁|開館)時間 ?:? ?"
    r"(?=[^0-9]{0,20}[0-9])[0-9:~〜\-– ()/・,、月火水木金土日祝平休除定曜時分半午前後年末始くみまでからは]{3,60}$"
)
#: Threats, abuse and demands never belong to a signature, whatever their shape.
_NOT_SIGNATURE = re.compile(
    r"殺|死|しね|シネ|タヒ|ころす|コロス|放火|火を|火つけ|火付|燃や|爆破|爆弾|刺す|刺し|潰す|潰し|天誅|呪|襲|殴|"
    r"晒|さらす|さらし|拡散|炎上|夜道|覚えて|覚悟|土下座|念書|クビ|くび|辞め|辞職|辞任|処分|懲戒|解雇|免職|"
    r"謝罪|謝れ|泥棒|馬鹿|バカ|ばか|アホ|あほ|クズ(?![ァ-ヺー])|くず|カス(?![ァ-ヺー])|ボケ|無能|許さ|ゆるさ|ふざけ|"
    r"てめ|お前|おまえ|貴様|ぶっ|ぶち|包丁|刃物|ナイフ|ガソリン|灯油|硫酸|銃|血祭|実力行使|報復|復讐|仕返|待ち伏|"
    r"押しかけ|押し掛け|乗り込|思い知|痛い目|容赦|後悔|誘拐|拉致|監禁|天罰|制裁|粛清|地獄|"
    r"(?i:\b(?:kill|die|dead|death|murder|shoot|bomb|burn|knife|gun|stab|hurt|revenge)\b)"
)
_TIME = re.compile(r"[0-9０-９]{1,2}\s*[:：]\s*[0-9０-９]{2}")


def _is_quoted(line: str) -> bool:
    """Whether ``line`` starts with a quote mark: ``>``, or a full-width ``＞`` or ``≫``."""
    return _QUOTE_LINE.match(line) is not None or _WIDE_QUOTE_LINE.match(line) is not None


def _is_quote_header(lines: list[str], i: int) -> int:
    """Return how many lines (1 or 2) starting at ``i`` form a quote header, else 0."""
    line = lines[i].strip()
    if not line or _is_quoted(lines[i]) or len(line) > 300:
        return 0
    if any(r.match(line) for r in _QUOTE_HEADER_RES):
        return 1
    if i + 1 < len(lines):
        nxt = lines[i + 1].strip()
        if nxt and not _is_quoted(lines[i + 1]):
            for joiner in (" ", ""):
                joined = line + joiner + nxt
                if len(joined) <= 300 and any(r.match(joined) for r in _QUOTE_HEADER_RES):
                    return 2
    return 0


def _outlook_header_end(lines: list[str], i: int) -> int | None:
    """If an Outlook "From/Sent/To/Subject" block starts at ``i``, return its last index.

    The block needs a From/差出人 line followed (without blank lines) by at least
    two of Sent/Date/送信日時, To/宛先 and Subject/件名.
    """
    if not _HDR_FROM.match(lines[i]):
        return None
    seen: set[str] = set()
    last = i
    for j in range(i + 1, min(len(lines), i + 12)):
        ln = lines[j]
        if not ln.strip():
            break
        last = j
        if _HDR_SENT.match(ln):
            seen.add("sent")
        elif _HDR_TO.match(ln):
            seen.add("to")
        elif _HDR_SUBJ.match(ln):
            seen.add("subject")
            break
        elif _HDR_CC.match(ln):
            continue
        elif not seen:
            return None  # "From:" followed by ordinary text
        # otherwise: continuation of a wrapped To:/Cc: field
    return last if len(seen) >= 2 else None


def _header_run_end(lines: list[str], i: int) -> int:
    """Extend a marker line over the header-like lines that directly follow it."""
    last = i
    for j in range(i + 1, min(len(lines), i + 12)):
        ln = lines[j]
        if any(r.match(ln) for r in (_HDR_FROM, _HDR_SENT, _HDR_TO, _HDR_CC, _HDR_SUBJ)):
            last = j
        elif ln.strip() == "" and last == i:
            continue
        else:
            break
    return last




def _opens_quoted_message(lines: list[str], first: int, i: int, last: int) -> bool:
    """Whether the Outlook header block ``lines[first:last + 1]`` (From line at ``i``) starts a quoted message.

    It does when new text precedes it.  At the very top of the text the block is the
    sender's own letter-style opening (差出人：山田太郎 / 宛先：世田谷区長 殿 / 件名：…) unless it
    has the shape of a quoted earlier message: Outlook's rule line above it, a From line
    with an address and a Sent/送信日時 line with a time, or ``>`` lines below it.
    """
    if any(ln.strip() for ln in lines[:first]):
        return True
    if first < i:  # _OUTLOOK_RULE above the From line
        return True
    block = lines[i : last + 1]
    if "@" in fold_spaces(lines[i]) and any(_HDR_SENT.match(ln) and _TIME.search(ln) for ln in block):
        return True
    below = next((ln for ln in lines[last + 1 :] if ln.strip()), "")
    return _is_quoted(below)


def _header_above(lines: list[str], label: list[str | None], i: int) -> range | None:
    """The quote header (1 or 2 unlabelled lines) right above line ``i``, blank lines between
    skipped, or None."""
    h = i - 1
    while h >= 0 and label[h] is None and not lines[h].strip():
        h -= 1
    for start in (h - 1, h):
        if (
            start >= 0
            and label[start] is None
            and label[h] is None
            and _is_quote_header(lines, start) == h - start + 1
        ):
            return range(start, h + 1)
    return None


def _quote_runs(lines: list[str], cut: int) -> list[tuple[int, int]]:
    """``(first, last)`` of each run of quoted lines before ``cut`` (blank lines between quoted
    lines join one run; the run starts and ends on a quoted line)."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < cut:
        if not _is_quoted(lines[i]):
            i += 1
            continue
        j = last = i
        while j < cut and (_is_quoted(lines[j]) or not lines[j].strip()):
            if _is_quoted(lines[j]):
                last = j
            j += 1
        runs.append((i, last))
        i = last + 1
    return runs


def _wide_runs_quoted(lines: list[str], runs: list[tuple[int, int]], headers: list[range | None]) -> list[bool]:
    """Which ``runs`` (:func:`_quote_runs`) are quotes.

    A run with a ``>`` line always is.  A run of lines marked only by hand, with a full-width mark,
    is one in a quote's setting, as a reply quotes by hand:

    * 「＞」 (「＞＞」): two or more such lines (a block), or a quote header right above the run
      (「…さんは書きました：」, 「2026年11月1日(日) 10:00 区民の声係 <…>:」, "On … wrote:").  Once a
      run with a 「＞」 line is a quote, the writer quotes with 「＞」, so every run with one is (a
      single quoted line in an inline reply).
    * 「≫」, which writers also use for bullets and headings (「≫ 担当職員の謝罪」 between their own
      lines), only under a quote header: the run right below one, and the 「≫」 runs after that
      run (an inline reply).

    The end of the mail is not a quote's setting by itself: a single 「＞」 line there (「＞
    申請書はどこで入手できますか？」 after a blank line) is the writer's own unless a header stands
    above it or a second 「＞」 line joins it.  A lone 「＞」 or 「≫」 line inside running text, an
    arrow or a bullet, stays in the body.  (:func:`split_reply` keeps every hand-quoted run when
    stripping them would leave no new text.)
    """
    quoted: list[bool] = []
    with_gt: list[bool] = []
    with_much: list[bool] = []
    for (a, b), header in zip(runs, headers, strict=True):
        marks = [mo.group()[-1] for k in range(a, b + 1) if (mo := _WIDE_QUOTE_LINE.match(lines[k]))]
        ascii_quote = any(_QUOTE_LINE.match(lines[k]) for k in range(a, b + 1))
        with_gt.append("＞" in marks)
        with_much.append("≫" in marks)
        quoted.append(ascii_quote or header is not None or marks.count("＞") >= 2)
    gt_quotes = any(q and g for q, g in zip(quoted, with_gt, strict=True))
    much_from = next((a for (a, _b), header, m in zip(runs, headers, with_much, strict=True)
                      if header is not None and m), None)
    return [
        q or (gt_quotes and g) or (much_from is not None and a >= much_from and m)
        for (a, _b), q, g, m in zip(runs, quoted, with_gt, with_much, strict=True)
    ]


def _contact_line(s: str) -> bool:
    """Whether ``s`` is nothing but contacts: telephone/fax numbers, e-mail addresses, URLs, each
    optionally after a label (``TEL 03-1234-5678 / FAX 03-1234-5679``, ``Mail: a@example.jp``)."""
    for item in _CONTACT_SPLIT.split(s):
        label = _CONTACT_LABEL.match(item)
        value = item[label.end() :] if label else item
        if not (
            _PHONE_VALUE.match(value)
            or _EMAIL_VALUE.match(value)
            or _URL_VALUE.match(value)
            or (label is not None and label.group().startswith("内線") and _EXTENSION_VALUE.match(value))
        ):
            return False
    return True


def _org_line(s: str) -> bool:
    """Whether ``s`` names an organisation or department and nothing else.

    Every word must end like an organisation (…株式会社, …課, …センター, 世田谷区), carry a
    legal form (株式会社サンプル) or be a title (部長); only the organisation's own name may stand
    beside a bare legal form (NPO法人 せたがやの森, サンプル 株式会社).
    """
    if _LATIN_ORG.match(s):
        return True
    words = s.split(" ")
    if len(words) > 5:
        return False
    kinds: list[str] = []
    for w in words:
        legal = _LEGAL_FORM.match(w)
        if legal is not None and legal.end() == len(w):
            kinds.append("legal")
        elif legal is not None or _ORG_SUFFIX.search(w) or (len(words) > 1 and _MUNICIPALITY_WORD.match(w)):
            kinds.append("org")
        elif _TITLE_RE.fullmatch(w):
            kinds.append("title")
        else:
            kinds.append("")
    for i, (w, kind) in enumerate(zip(words, kinds, strict=True)):
        if kind == "" and ("legal" not in kinds[max(0, i - 1) : i + 2] or _VERB_END.search(w)):
            return False
    return "org" in kinds or "legal" in kinds


def _person_kind(s: str) -> str | None:
    """``"name"`` or ``"bare_name"`` when ``s`` is a name, optionally after one title (see :func:`_name_kind`).

    A "name" whose last word is an organisation (総務部 総務課) or a title (総務部 部長,
    世田谷区 町会長, 営業部 部長代理) is a department-and-title line, not a name.
    """
    mo = _NAME_LINE.match(s)
    if mo is None:
        return None
    # The last word of the name, and of the line (部長代理 also reads as title 部長 + name 代理).
    for last in (mo.group("name").rsplit(" ", 1)[-1], s[: mo.end("name")].rsplit(" ", 1)[-1]):
        if _ORG_SUFFIX.search(last) or _RANK_RE.fullmatch(last):
            return None
    strong = mo.group("title") or mo.group("reading") or " " in mo.group("name")
    return "name" if strong else "bare_name"


def _name_kind(s: str) -> str | None:
    """``"name"``, ``"bare_name"`` (kanji only: 山田太郎, 木村), ``"latin_name"`` or None.

    A name may follow one title (理事長 北沢 みどり).  An organisation or department and titles
    before a name on the same line (営業部 課長 山田 太郎) is NOT read as a name: any two kanji
    words take the name's place there (総務部 部長 自宅 特定), so such a line keeps its block in
    the body; put on their own lines, as signatures usually are, they are stripped.
    """
    kind = _person_kind(s)
    if kind is not None:
        return kind
    if _LATIN_NAME.match(s):
        return "latin_name"
    return None


def _signature_line(line: str) -> str | None:
    """Classify one line below a signature separator by its shape as a whole.

    Returns ``"contact"`` (telephone, fax, e-mail, URL, with or without a label, or business
    hours: 営業時間 9:00-18:00), ``"address"``, ``"org"`` (an organisation or department,
    with or without titles: 総務部 部長, 世田谷区 町会長), ``"name"`` (a name with a space, a
    reading, a title, a label or an address after it: 山田 太郎, 担当：佐藤,
    山田 太郎 <taro@example.jp>), ``"bare_name"`` (kanji
    only: 山田太郎), ``"latin_name"`` or ``"title"`` (titles alone: 代表取締役社長); None for
    anything else (a sentence, a demand, a threat, abuse, an unknown label, a long line),
    which a signature does not contain.
    """
    s = fold_spaces(line)
    if not s or len(s) > 100 or _NOT_SIGNATURE.search(s):
        return None
    if _contact_line(s) or _HOURS_LINE.match(s):
        return "contact"
    named = _NAME_ADDRESS.match(s)
    if named is not None and _EMAIL_VALUE.match(named.group("address")):
        kind = _name_kind(named.group("name"))
        return "name" if kind == "bare_name" else kind  # the address makes a kanji-only name enough
    if _PUNCTUATION.search(s):
        return None
    field = _FIELD_LABEL.match(s)
    if field is not None:
        value = s[field.end() :]
        if _name_kind(value) is not None:
            return "name"
        if _ADDRESS_LINE.match(value) or _ADDRESS_VALUE.match(value) or _LATIN_ADDRESS.match(value):
            return "address"
        return "org" if _org_line(value) else None
    kind = _name_kind(s)
    if kind is not None:
        return kind
    if _ADDRESS_LINE.match(s) or _LATIN_ADDRESS.match(s):
        return "address"
    if _org_line(s):
        return "org"
    return "title" if all(_RANK_RE.fullmatch(w) for w in s.split(" ")) else None


def _is_signature(kinds: list[str | None]) -> bool:
    """Whether lines of these kinds (:func:`_signature_line`) make a signature.

    Every line must be a signature line; one person signs, so at most one name (and one name in
    Latin letters beside it); and a kanji-only name (山田太郎) or a title alone (代表取締役社長)
    is not enough.
    """
    if None in kinds:
        return False
    if sum(k in ("name", "bare_name") for k in kinds) > 1 or kinds.count("latin_name") > 1:
        return False
    return any(k not in ("bare_name", "title") for k in kinds)


def _is_mobile_footer(line: str) -> bool:
    s = line.rstrip()
    return len(s) <= 120 and _MOBILE_SIG.match(s) is not None


def _carries_a_signal(text: str) -> bool:
    """Whether the scoring features would see a threat, an insult, a target or exposure in ``text``:
    such lines are never taken for a signature without a separator line above them."""
    norm = normalize_text(text)
    return any(SIGNALS[name].search(norm) for name in _GUARD_SIGNALS)


_GUARD_SIGNALS = ("threat_phrase", "quoted_threat", "insult", "quoted_insult", "personal_target", "exposure",
                  "second_person")


def _signature_spans(lines: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """Find the signature lines inside ``lines[start:end]`` (new text only), as ``(from, to)`` ranges.

    A signature is a separator (``-- ``, ``--`` or a rule line) in the last
    :data:`_SIG_WINDOW` lines followed, up to the end, by at most :data:`_SIG_MAX_LINES`
    lines that are all signature lines (:func:`_signature_line`, :func:`_is_signature`).
    A mobile footer (「iPhoneから送信」) in the last four lines is a signature on its own:
    it never takes the text below it along.  Each line is classified once.
    """
    while end > start and not lines[end - 1].strip():
        end -= 1
    if end <= start:
        return []
    first = max(start, end - _SIG_WINDOW)
    rule = {k: _RULE_LINE.match(lines[k]) is not None for k in range(first, end)}
    mobile = {k: _is_mobile_footer(lines[k]) for k in range(first, end)}
    kinds: dict[int, str | None] = {}
    for k in range(first, end):
        if not (rule[k] or lines[k].rstrip() == "--"):
            continue
        below = [j for j in range(k + 1, end) if lines[j].strip() and not rule[j] and not mobile[j]]
        if not below or len(below) > _SIG_MAX_LINES:
            continue
        for j in below:
            if j not in kinds:
                kinds[j] = _signature_line(lines[j])
        if _is_signature([kinds[j] for j in below]):
            return [(k, end)]
    # No separator (Outlook, and many webmail settings, insert the signature as plain lines): the
    # last paragraph, when new text comes before it and it is all signature lines, among them a
    # contact or an address and a name or an organisation (a name alone at the end of a letter
    # stays: it is the writer signing, and nothing in it is a contact).
    para = end
    while para > start and lines[para - 1].strip():
        para -= 1
    if para >= first and any(ln.strip() for ln in lines[start:para]):
        block = [j for j in range(para, end) if not rule[j] and not mobile[j]]
        if 2 <= len(block) <= _SIG_MAX_LINES:
            for j in block:
                if j not in kinds:
                    kinds[j] = _signature_line(lines[j])
            found = [kinds[j] for j in block]
            if (_is_signature(found) and "bare_name" not in found
                    and any(k in ("contact", "address") for k in found)
                    and any(k in ("name", "latin_name", "org") for k in found)
                    and not _carries_a_signal("\n".join(lines[j] for j in block))):
                return [(para, end)]
    return [(k, k + 1) for k in range(max(start, end - 4), end) if mobile[k]]


def _quoted_from(label: list[str | None], first: int, hdr_end: int) -> int:
    """Label lines ``first``..``hdr_end`` a quote header and every line after them a quote; return ``first``."""
    for k in range(first, len(label)):
        label[k] = "quote_header" if k <= hdr_end else "quote"
    return first


def _label_lines(lines: list[str], *, hand_quotes: bool) -> tuple[list[str | None], bool]:
    """Label each line of :func:`split_reply`'s text with the kind of block it is stripped in, or
    ``None`` when it is new text; with ``hand_quotes`` false, lines quoted by hand with a
    full-width mark stay new text.  Also return whether such a line was labelled a quote."""
    n = len(lines)
    label: list[str | None] = [None] * n

    # 1. The first point after which everything is an earlier/forwarded message.
    cut = n
    for i in range(n):
        ln = lines[i]
        if _QUOTE_LINE.match(ln):
            continue
        if _ORIGINAL_MARKER.match(ln):
            cut = _quoted_from(label, i, _header_run_end(lines, i))
            break
        if _FORWARD_MARKER.match(ln):
            for k in range(i, n):
                label[k] = "forwarded"
            cut = i
            break
        hdr_end = _outlook_header_end(lines, i)
        if hdr_end is not None:
            first = i
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            if k >= 0 and _OUTLOOK_RULE.match(lines[k]):
                first = k
            if not _opens_quoted_message(lines, first, i, hdr_end):
                continue  # the sender's own letter-style opening
            cut = _quoted_from(label, first, hdr_end)
            break

    # 2. '>' quotes (and '＞', '≫' quotes in a quote's setting) and the header line above each.
    runs = _quote_runs(lines, cut)
    headers = [_header_above(lines, label, first) for first, _last in runs]
    by_hand = False
    for (first, last), header, quoted in zip(runs, headers, _wide_runs_quoted(lines, runs, headers), strict=True):
        if not quoted:
            continue
        quoted_lines: Sequence[int] = range(first, last + 1)
        if not hand_quotes:  # only the '>' lines of a run
            quoted_lines = [k for k in quoted_lines if _QUOTE_LINE.match(lines[k])]
            if not quoted_lines:
                continue
        elif any(_WIDE_QUOTE_LINE.match(lines[k]) for k in quoted_lines):
            by_hand = True
        for k in quoted_lines:
            label[k] = "quote"
        for k in header or ():
            label[k] = "quote_header"
    # A quote header right before the cut (or the end) with no '>' lines left.
    for k in _header_above(lines, label, cut) or ():
        label[k] = "quote_header"

    # 3. Signatures, in every run of unlabelled lines.
    i = 0
    while i < n:
        if label[i] is not None:
            i += 1
            continue
        j = i
        while j < n and label[j] is None:
            j += 1
        for first, end in _signature_spans(lines, i, j):
            for k in range(first, end):
                label[k] = "signature"
        i = j
    return label, by_hand


def split_reply(text: str) -> tuple[str, list[StrippedBlock]]:
    """Separate the new text of a message from quotes, forwards and signatures.

    Parameters
    ----------
    text : str
        Decoded plain text of a message.

    Returns
    -------
    body : str
        The remaining new text, stripped of leading/trailing blank lines and
        with runs of blank lines collapsed to one.
    stripped : list of StrippedBlock
        The removed blocks in document order.  Every non-blank line of
        ``text`` is either in ``body`` or in exactly one block.

    Notes
    -----
    Removed, in this order of precedence:

    * Outlook's 「-----Original Message-----」/「-----元のメッセージ-----」 and
      "From: … Sent: … To: … Subject:" / 「差出人: … 送信日時: … 宛先: … 件名:」
      blocks (``quote_header``), and everything after them (``quote``).  A
      header block that opens the text, with nothing above it, is the sender's
      own letter-style opening and is kept, unless it has the shape of a quoted
      message (Outlook's rule line above it, a From line with an address and a
      Sent line with a time, or ``>`` lines below it);
    * forwarded messages (「---------- Forwarded message ---------」,
      「-------- 転送メッセージ --------」, "Begin forwarded message:") and
      everything after them (``forwarded``);
    * ``>`` lines (``quote``) and the header line above them
      (「2026年11月1日(日) 10:00 世田谷区 <koe@example.jp>:」,
      「2026/11/01 10:00、山田 太郎 <…>のメール:」, "On … wrote:",
      「… さんが書きました:」) (``quote_header``); lines quoted by hand with a
      full-width mark likewise, when they stand in a quote's setting: 「＞」
      (「＞＞」) lines when two or more stand together or a quote header is
      above them, and once one is a quote, every 「＞」 line is; 「≫」 lines,
      also a bullet, only under a quote header (the lines right below it, and
      the 「≫」 lines after those) (see :func:`_wide_runs_quoted`).  A lone
      「＞」 line in running text, or at the end of the mail, stays, and so do
      all the lines quoted by hand when stripping them would leave no new
      text (the message is scored on them rather than not at all);
    * signatures (``signature``): a ``-- `` or ``--`` line or a rule line
      (─━-=＝*＊, 5 or more) in the last 12 lines and everything below it, when
      what is below is short (at most 10 lines) and every line of it, as a
      whole, is a signature line: a name (alone, or with a title, reading or
      label, after an organisation or department, or before its address:
      山田 太郎, 理事長 北沢 みどり, 担当：佐藤, 営業部 課長 山田 太郎,
      山田 太郎 <taro@example.jp>), an organisation or department, with or
      without titles (株式会社…, …課, …部, …係, …事務所, …協会, …大学, …病院,
      総務部 部長, 世田谷区 町会長), an address (〒, or a municipality and a
      block number), telephone/fax numbers (with (代表), (直通) or 内線123
      after them), e-mail addresses and URLs (optionally after a label such as
      ``Tel:``, ``Mobile:``, ``URL:``, 携帯, 直通, 連絡先, Eメール), or business
      hours (営業時間 9:00-18:00, 受付時間 …).  At most one name (and one in Latin
      letters), and a kanji-only name (山田太郎) or a title alone (代表取締役社長)
      is not enough on its own.  A line
      of any other shape (a sentence, a demand, a threat, an unknown label) is
      new text and keeps the whole block in the body, and so does a threat or
      insult in any line.  A mobile footer (「iPhoneから送信」, "Sent from my
      iPhone") in the last four lines is a signature too, and removes only itself.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    n = len(lines)
    label, by_hand = _label_lines(lines, hand_quotes=True)
    if by_hand and not any(kind is None and has_visible(ln) for ln, kind in zip(lines, label, strict=True)):
        # quotes by hand are read from their setting, never certain: rather than leave nothing to
        # score, keep them (a mail of 「≫」 bullets under a quote header, a letter quoted whole)
        label, _ = _label_lines(lines, hand_quotes=False)

    # 4. Assemble blocks (blank lines between two lines of one block join it).
    blocks: list[StrippedBlock] = []
    body_lines: list[str] = []
    cur_kind: str | None = None
    cur: list[str] = []
    pending_blank: list[str] = []

    def close() -> None:
        nonlocal cur_kind, cur
        if cur_kind is not None and cur:
            blocks.append(StrippedBlock(cur_kind, "\n".join(cur).strip("\n")))  # type: ignore[arg-type]
        cur_kind, cur = None, []

    for k in range(n):
        ln, kind = lines[k], label[k]
        if kind is None and not ln.strip():
            if cur_kind is not None:
                pending_blank.append(ln)
            else:
                body_lines.append(ln)
            continue
        if kind is None:
            close()
            body_lines.extend(pending_blank)
            pending_blank = []
            body_lines.append(ln)
            continue
        if kind == cur_kind:
            cur.extend(pending_blank)
        else:
            close()
            body_lines.extend(pending_blank)
            cur_kind = kind
        pending_blank = []
        cur.append(ln)
    close()
    body_lines.extend(pending_blank)

    body = "\n".join(ln.rstrip() for ln in body_lines)
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")
    return body, blocks


# ---------------------------------------------------------------------------
# MIME structure
# ---------------------------------------------------------------------------


def _unflow(text: str, delsp: bool) -> str:
    """Undo RFC 3676 ``format=flowed`` soft line breaks."""
    out: list[str] = []
    buf: str | None = None
    buf_depth = 0

    def prefix(depth: int) -> str:
        return ">" * depth + " " if depth else ""

    for line in text.split("\n"):
        mo = re.match(r"^(>+)", line)
        depth = len(mo.group(1)) if mo else 0
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        is_sig = content == "-- "
        if buf is not None and depth != buf_depth:
            out.append(prefix(buf_depth) + buf)
            buf = None
        if content.endswith(" ") and not is_sig:
            piece = content[:-1] if delsp else content
            buf = (buf or "") + piece
            buf_depth = depth
        else:
            out.append(prefix(depth) + (buf or "") + content)
            buf = None
    if buf is not None:
        out.append(prefix(buf_depth) + buf)
    return "\n".join(out)


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:  # noqa: BLE001
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return str(value)


def _filename(part: Message, defects: list[str]) -> str | None:
    """Decode a part's file name from raw headers (RFC 2231 and RFC 2047)."""
    raw = _raw_headers(part)
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        values = _header(raw, header)
        if not values:
            continue
        compat = Message()
        compat[header] = re.sub(r"\r?\n(?=[ \t])", "", values[0])
        try:
            value = compat.get_param(param, header=header)
        except Exception:  # noqa: BLE001
            value = None
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, latin-1 text)
            charset, _lang, text = value
            data = text.encode("latin-1", "replace") if isinstance(text, str) else bytes(text)
            name, _c, more = decode_japanese(data, charset or "utf-8")
            defects.extend(f"Filename{d}" for d in more)
        else:
            name = email.utils.unquote(str(value))
            name = _decode_header(name, defects)
        name = name.strip()
        if name:
            return name
    return None


_NON_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def _base64_prefix(payload: str) -> bytes:
    """Decode the complete base64 of a truncated payload (its length is 1 more than a multiple
    of 4, which no padding can fix): white space and stray characters are skipped, and the
    last, incomplete character is dropped."""
    chars = _NON_BASE64.sub("", payload)
    if len(chars) % 4 == 1:
        chars = chars[:-1]
    return base64.b64decode(chars + "=" * (-len(chars) % 4))


def _payload_bytes(part: Message) -> bytes:
    """The transfer-decoded payload.  A base64 payload the standard library cannot decode (it
    then returns the base64 text itself) is decoded as far as it goes: its defect
    (``InvalidBase64LengthDefect``) is on ``part.defects``, and base64 text is never scored."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if isinstance(data, bytes):
        if any(isinstance(d, errors.InvalidBase64LengthDefect) for d in part.defects):
            payload = part.get_payload()
            if isinstance(payload, str):
                try:
                    return _base64_prefix(payload)
                except (binascii.Error, ValueError):
                    return b""
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    return b""


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    if _filename(part, []) is not None:
        return True
    return part.get_content_type() not in ("text/plain", "text/html")


def _part_size(part: Message) -> int:
    """Size of a part without re-serialising it: the decoded payload of a leaf part; for a
    multipart or an attached message, its raw header lines plus the sizes of its parts.

    (Serialising a parsed message with ``as_bytes()`` refolds its headers, and a crafted
    parameter sends the standard library's folding code into an endless loop.)
    """
    size = 0
    stack = [part]
    while stack:
        current = stack.pop()
        inner = current.get_payload()
        if isinstance(inner, list):
            for sub in inner:
                if isinstance(sub, Message):
                    size += sum(len(k) + len(v) + 4 for k, v in _raw_headers(sub)) + 2
                    stack.append(sub)
        else:
            size += len(_payload_bytes(current))
    return size


def _attachment(part: Message, defects: list[str]) -> Attachment:
    ctype = part.get_content_type()
    try:
        size = _part_size(part)
    except Exception:  # noqa: BLE001 - a size is informative only
        size = 0
    return Attachment(_filename(part, defects), ctype, size)


def _rank(part: Message) -> int:
    """Preference of an alternative: 3 non-empty text/plain, 2 html, 1 empty plain."""
    best = 0
    for sub in part.walk():
        if sub.is_multipart() or (sub.get_content_disposition() or "") == "attachment":
            continue
        ctype = sub.get_content_type()
        if ctype == "text/plain":
            best = max(best, 3 if _payload_bytes(sub).strip() else 1)
        elif ctype == "text/html":
            best = max(best, 2)
    return best


def _collect(part: Message, texts: list[Message], attachments: list[Attachment], defects: list[str]) -> None:
    ctype = part.get_content_type()
    if part.get_content_maintype() == "message":
        attachments.append(_attachment(part, defects))
        return
    if part.is_multipart():
        subparts = part.get_payload()
        if not isinstance(subparts, list):  # pragma: no cover - defensive
            return
        if ctype == "multipart/alternative" and subparts:
            chosen = max(subparts, key=_rank)  # first of the best rank
            _collect(chosen, texts, attachments, defects)
            for sp in subparts:  # inline images of the other renderings are still listed
                if sp is not chosen and sp.is_multipart():
                    _collect(sp, [], attachments, defects)
            return
        if ctype == "multipart/related" and subparts:
            start = _param(part, "start")
            root = subparts[0]
            if start:
                for sp in subparts:
                    if (sp.get("Content-ID") or "").strip() == start.strip():
                        root = sp
                        break
            _collect(root, texts, attachments, defects)
            for sp in subparts:
                if sp is not root:
                    if sp.is_multipart():
                        _collect(sp, [], attachments, defects)
                    else:
                        attachments.append(_attachment(sp, defects))
            return
        for sp in subparts:
            _collect(sp, texts, attachments, defects)
        return
    if _is_attachment(part):
        attachments.append(_attachment(part, defects))
        return
    texts.append(part)


#: Transfer-decoding defects after which the bytes are not those that were sent (a padding defect
#: alone is not one of them: the standard library decodes such base64 whole).
_CORRUPT_TRANSFER = (errors.InvalidBase64CharactersDefect, errors.InvalidBase64LengthDefect)
#: :func:`decode_japanese` defects saying the declared charset did not take the bytes, so a guess
#: or replacement characters did.
_GUESSED = ("CharsetFallback:", "UndecodableBytes:")
#: Defects (their names) of a text part that could not be decoded as declared: what was scored may
#: be cut off or garbled (``UndecodedText``), or nothing of it could be read (``UnreadableText``).
UNDECODED_TEXT = "UndecodedText"
UNREADABLE_TEXT = "UnreadableText"


def _declared_prefix(data: bytes, declared: str) -> tuple[str, int]:
    """``(text, bytes)``: the longest start of ``data`` that a decoder of the ``declared`` charset's
    chain decodes, for bytes the whole chain rejects."""
    best = ("", 0)
    for _name, fn in _chain_for(declared):
        try:
            return fn(data), len(data)
        except UnicodeDecodeError as exc:
            end = exc.start
        try:
            text = fn(data[:end])
        except UnicodeDecodeError:
            continue
        if end > best[1]:
            best = (text, end)
    return best


def _undecoded_notes(data: bytes, declared: str | None, corrupt: bool, text: str,
                     more: list[str]) -> tuple[str, list[str]]:
    """The text of a part and its decoding defects, with a note when it was not decoded as declared.

    * base64 that is corrupt and gives bytes the declared charset rejects: what was decoded by a
      guess is not the text that was sent, so only the start the declared charset takes is kept
      (``UndecodedText``), and nothing when that start has no visible character (``UnreadableText``);
    * other corrupt base64 (cut off, stray characters): the text may be cut off or garbled;
    * bytes the declared charset rejects, decoded by a guess or with replacement characters: the
      text may be garbled.
    """
    guessed = any(d.startswith(_GUESSED) for d in more)
    cs = (declared or "").strip().strip('"').lower()[:40]
    if corrupt and guessed and cs and _chain_for(cs):
        kept = [d for d in more if not d.startswith(_GUESSED)]
        prefix, n = _declared_prefix(data, cs)
        if not has_visible(prefix):
            return "", [*kept, f"{UNREADABLE_TEXT}: the text part's base64 transfer encoding is corrupt and the "
                                f"bytes it gives are not valid {cs}; nothing of it could be read"]
        return prefix, [*kept, f"{UNDECODED_TEXT}: the text part's base64 transfer encoding is corrupt and only "
                               f"its first {n:,} of {len(data):,} bytes are valid {cs}; the rest was left out, "
                               "so a person should read the message"]
    if corrupt:
        return text, [*more, f"{UNDECODED_TEXT}: the text part's base64 transfer encoding is corrupt, so its text "
                             "may be cut off or garbled; a person should read the message"]
    if guessed:
        return text, [*more, f"{UNDECODED_TEXT}: the text part could not be decoded as "
                             f"{cs or 'its charset'}, so its text may be garbled; a person should read the message"]
    return text, more


def _decode_text_part(part: Message, defects: list[str]) -> tuple[str, str]:
    """Return ``(plain text, charset)`` of a text/plain or text/html part.

    A part that could not be decoded as declared gets an ``UndecodedText`` or ``UnreadableText``
    defect (see :func:`_undecoded_notes`); an unreadable one's text is ``""``.
    """
    data = _payload_bytes(part)
    corrupt = any(isinstance(d, _CORRUPT_TRANSFER) for d in part.defects)
    declared = None
    try:
        declared = part.get_content_charset()
    except Exception:  # noqa: BLE001
        declared = _param(part, "charset")
    is_html = part.get_content_type() == "text/html"
    if not declared and is_html:
        mo = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", data[:4096], re.I)
        if mo:
            declared = mo.group(1).decode("ascii").lower()
    text, codec_name, more = decode_japanese(data, declared)
    text, more = _undecoded_notes(data, declared, corrupt, text, more)
    defects.extend(more)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not is_html and (_param(part, "format") or "").lower() == "flowed":
        text = _unflow(text, (_param(part, "delsp") or "").lower() == "yes")
    if is_html:
        text = html_to_text(text)
    return text, (declared or codec_name).lower()


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")  # (used with .match: at a position)
_KNOWN_HEADERS = frozenset({
    "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
    "content-transfer-encoding", "received", "return-path", "reply-to", "sender", "x-mailer",
    "user-agent", "delivered-to", "in-reply-to", "references", "x-original-to", "envelope-to",
    "dkim-signature", "authentication-results", "thread-topic", "thread-index",
})


#: Largest header section accepted, in bytes (folded lines included).  Only a bound on memory
#: and time: the standard library reads address, Subject and References fields in linear time
#: (a 200 KB To field in about 0.1 s), and real mail (300 recipients with Japanese display
#: names take 20 KB) stays far below.
MAX_HEADER_BYTES = 1024 * 1024
#: Largest single field of the header section, in bytes, with its folded continuation lines
#: (a crafted 1 MB field of @ took the standard library 2.7 s, 256 KiB about 0.8 s; 2,000
#: References take 80 KB).
MAX_HEADER_FIELD_BYTES = 256 * 1024
#: Limits on each Content-Type and Content-Disposition field anywhere in the message (the header
#: section, nested parts, attached messages): the standard library parses their parameters
#: again on every look-up, in time that grows with the number of delimiters times the length of
#: a line.  Real fields (charset, boundary, a long file name folded in RFC 2231 pieces) stay far
#: below all four.
MAX_MIME_FIELD_BYTES = 8 * 1024
MAX_MIME_LINE_BYTES = 2048  # twice RFC 5322's 998 characters
MAX_MIME_FIELD_DELIMITERS = 128  # of the bytes " ( ) ; , \ < > @ [ ] :
MAX_MIME_HEADER_BYTES = 128 * 1024  # all those fields together

#: The MIME fields whose parameters the standard library parses (not ``Content-Transfer-Encoding``
#: or ``Content-ID``, nor a CSS ``content-visibility:`` line of an HTML body).
_CONTENT_FIELD = re.compile(rb"^content-(?:type|disposition)[ \t]*:", re.I | re.M)
_FIELD_END = re.compile(rb"\n(?![ \t])")
_LONG_LINE = re.compile(rb"[^\n]{%d}" % (MAX_MIME_LINE_BYTES + 1))
_MIME_DELIMITERS = re.compile(rb'["();,\\<>@\[\]:]')
_TOO_LARGE_ADVICE = "real mail clients stay far below this; have a person read the message in a mail client"


def _field_end(data: bytes, start: int) -> int:
    """End of the header field starting at ``start``: its last line end, continuation lines included."""
    mo = _FIELD_END.search(data, start)
    return mo.start() if mo else len(data)


def _too_large(what: str) -> EmailParseError:
    return EmailParseError(f"cannot parse e-mail: {what}; {_TOO_LARGE_ADVICE}")


def _check_header_limits(data: bytes) -> None:
    """Refuse a message whose headers are too large for the parser to read in bounded time.

    Checked on the raw bytes, in linear time, before the standard library parser sees them:
    the top-level header section (:data:`MAX_HEADER_BYTES`) and each of its fields
    (:data:`MAX_HEADER_FIELD_BYTES`); every ``Content-Type`` and ``Content-Disposition`` field
    anywhere in the message, in nested parts and attached messages too
    (:data:`MAX_MIME_FIELD_BYTES`, :data:`MAX_MIME_LINE_BYTES`, :data:`MAX_MIME_FIELD_DELIMITERS`),
    and all of them together (:data:`MAX_MIME_HEADER_BYTES`).  A body line starting
    ``Content-Type:`` or ``Content-Disposition:`` is counted too: harmless, as a body line of
    that shape is never that long.

    Raises
    ------
    EmailParseError
        Naming the limit exceeded (never the content).
    """
    pos, n = 0, len(data)
    while pos < n:  # the top-level header section: header lines and their continuations
        mo = _HEADER_LINE.match(data, pos)
        if mo is None:
            break
        end = _field_end(data, pos)
        if end - pos > MAX_HEADER_FIELD_BYTES:
            name = data[pos : mo.end() - 1].strip().decode("ascii", "replace")[:40]
            raise _too_large(f"the header field {name} is over {MAX_HEADER_FIELD_BYTES} bytes (folded lines included)")
        pos = end + 1
        if pos > MAX_HEADER_BYTES:
            raise _too_large(f"the header section is over {MAX_HEADER_BYTES} bytes")
    total = 0
    for mo in _CONTENT_FIELD.finditer(data):
        start, end = mo.start(), _field_end(data, mo.start())
        name = mo.group().rstrip(b": \t").decode("ascii")[:40]
        total += end - start
        if end - start > MAX_MIME_FIELD_BYTES:
            raise _too_large(f"a {name} field is over {MAX_MIME_FIELD_BYTES} bytes (folded lines included)")
        if _LONG_LINE.search(data, start, end):
            raise _too_large(f"a {name} field has a line over {MAX_MIME_LINE_BYTES} bytes")
        if len(_MIME_DELIMITERS.findall(data, start, end)) > MAX_MIME_FIELD_DELIMITERS:
            raise _too_large(f"a {name} field holds over {MAX_MIME_FIELD_DELIMITERS} delimiters (quotes, semicolons…)")
        if total > MAX_MIME_HEADER_BYTES:
            raise _too_large(f"the Content-Type/Content-Disposition fields together are over "
                             f"{MAX_MIME_HEADER_BYTES} bytes")


def _check_raw(raw: object) -> bytes:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    elif isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise TypeError(f"parse_email expects bytes or str, not {type(raw).__name__}")
    data = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    data = data.lstrip(b"\r\n")
    if not data.strip():
        raise EmailParseError(
            "cannot parse e-mail: the input is empty; expected an RFC 5322 message (headers, blank line, body)"
        )
    first = data.split(b"\n", 1)[0]
    first_is_envelope = first.startswith(b"From ")
    rest = data
    if first_is_envelope:  # mbox envelope line
        rest = data.split(b"\n", 1)[1] if b"\n" in data else b""
        first = rest.split(b"\n", 1)[0]
    if not _HEADER_LINE.match(first):
        raise EmailParseError(
            "cannot parse e-mail: the input does not start with a header line ('Name: value'); "
            "it is not an RFC 5322 message (binary file or plain text?)"
        )
    header_block = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]
    if b"\x00" in header_block:
        raise EmailParseError("cannot parse e-mail: NUL bytes in the header section (binary data?)")
    _check_header_limits(rest)
    return data


def parse_email(raw: bytes | str) -> ParsedEmail:
    """Parse one e-mail message into headers, scored body and stripped parts.

    Parameters
    ----------
    raw : bytes or str
        The whole message as received (RFC 5322, optionally preceded by an mbox
        ``From `` line).  ``str`` input is encoded as UTF-8.

    Returns
    -------
    ParsedEmail
        Decoded headers, the new text in ``body`` (``""`` when the message has
        no text), the decoded text before stripping in ``full_text``, the
        stripped blocks, attachments, charset and defects.

    Raises
    ------
    TypeError
        If ``raw`` is neither bytes nor str.
    EmailParseError
        If the input is empty or is not an e-mail message (no header lines,
        e.g. a JPEG or plain text), its headers are larger than the parser can read
        in bounded time (:data:`MAX_HEADER_BYTES`, :data:`MAX_HEADER_FIELD_BYTES`
        and the ``MAX_MIME_*`` limits on ``Content-Type`` and ``Content-Disposition``
        fields, nested parts included), or the parser fails on it.

    Examples
    --------
    >>> p = parse_email("Subject: =?UTF-8?B?44GK6aGY44GE?=\\n\\n本文です。\\n")
    >>> p.subject, p.body
    ('お願い', '本文です。')
    """
    data = _check_raw(raw)
    try:
        msg = BytesParser(policy=policy.default).parsebytes(data)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser should not raise, but be safe
        raise EmailParseError(f"cannot parse e-mail: parser failed ({type(exc).__name__})") from exc
    headers = _raw_headers(msg)
    if not any(k.lower() in _KNOWN_HEADERS for k, _v in headers):
        raise EmailParseError(
            "cannot parse e-mail: no standard header (From, To, Subject, Date, Content-Type…) found; "
            "the input is not an RFC 5322 message"
        )
    try:
        return _build(msg, headers)
    except EmailParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - turn internal failures into a record-level error
        raise EmailParseError(f"cannot parse e-mail: {type(exc).__name__} while reading the message") from exc


def _build(msg: EmailMessage, headers: list[tuple[str, str]]) -> ParsedEmail:
    defects: list[str] = []
    subject_values = _header(headers, "subject")
    subject = _decode_header(subject_values[0], defects) if subject_values else ""
    from_list = _addresses(_header(headers, "from"), defects)
    to = _addresses(_header(headers, "to"), defects)
    cc = _addresses(_header(headers, "cc"), defects)
    date = _iso_date(_header(headers, "date"), defects)
    mid_values = _header(headers, "message-id")
    message_id = re.sub(r"\s+", "", mid_values[0]) if mid_values else None

    texts: list[Message] = []
    attachments: list[Attachment] = []
    _collect(msg, texts, attachments, defects)
    pieces: list[str] = []
    charset = ""
    for part in texts:
        text, cs = _decode_text_part(part, defects)
        if not charset:
            charset = cs
        pieces.append(text)
    if not charset:
        charset = (msg.get_content_charset() or "us-ascii").lower()
    # Parser defects, read after the payloads were decoded: decoding records its own
    # (InvalidBase64PaddingDefect, InvalidBase64LengthDefect…) on the part.
    defects[:0] = [type(d).__name__ for part in msg.walk() for d in part.defects]
    full_text = "\n\n".join(p.strip("\n") for p in pieces if p.strip())
    full_text = "\n".join(ln if ln == "-- " else ln.rstrip() for ln in full_text.split("\n")).strip("\n")
    body, stripped = split_reply(full_text)
    unique_defects = list(dict.fromkeys(defects))
    return ParsedEmail(
        from_=", ".join(from_list),
        to=to,
        cc=cc,
        subject=subject,
        date=date,
        message_id=message_id,
        body=body,
        full_text=full_text,
        stripped=stripped,
        attachments=attachments,
        charset=charset,
        defects=unique_defects,
    )


_MBOX_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.M)
#: Most bytes read before an mbox file's first ``From `` line (that text is yielded as a record).
MAX_MBOX_PREAMBLE_BYTES = 32 * 1024 * 1024


def _unescape_mbox_from(raw: bytes) -> bytes:
    """Undo mbox ``From `` escaping: ``>From `` → ``From ``, ``>>From `` → ``>From `` (mboxrd;
    for mboxo, which escapes ``From `` alone, this is right for every line but an original
    ``>From `` line, which mboxo cannot tell apart)."""
    return _MBOX_ESCAPED_FROM.sub(rb"\1", raw)


def _mbox_preamble(path: Path) -> bytes | None:
    """The bytes of an mbox file before its first ``From `` line (None when there are none but
    blank lines); at most :data:`MAX_MBOX_PREAMBLE_BYTES` + 1 of them."""
    out = bytearray()
    with path.open("rb") as fh:
        for line in fh:
            if line.startswith(b"From "):
                break
            out += line
            if len(out) > MAX_MBOX_PREAMBLE_BYTES:
                break
    return bytes(out) if out.strip() else None


def has_mbox_preamble(path: Path | str) -> bool:
    """Whether :func:`iter_mbox` yields a ``"preamble"`` record for ``path`` before its messages
    (text before the first ``From `` line), so that a count of the mailbox's messages is one short."""
    return _mbox_preamble(Path(path)) is not None


def _preamble_result(preamble: bytes) -> ParsedEmail | EmailParseError:
    head = "the mbox file does not start with a 'From ' line:"
    if len(preamble) > MAX_MBOX_PREAMBLE_BYTES:
        return EmailParseError(f"{head} the over {MAX_MBOX_PREAMBLE_BYTES} bytes before its first message were not "
                               "read; check that the file is an mbox export")
    where = f"{head} the {len(preamble)} bytes before its first message"
    try:
        parsed = parse_email(_unescape_mbox_from(preamble))
    except EmailParseError as exc:
        return EmailParseError(f"{where} are not an e-mail ({exc}); check that the file is an mbox export")
    note = "MboxPreamble: read from before the mbox file's first 'From ' line"
    return dataclasses.replace(parsed, defects=[*parsed.defects, note])


def iter_mbox(path: str | os.PathLike[str]) -> Iterator[tuple[str, ParsedEmail | EmailParseError]]:
    """Parse every message of an mbox file, yielding errors instead of raising.

    ``>From `` lines are unescaped (mboxrd: one ``>`` is removed from ``>From ``,
    ``>>From ``…), so a resident's own line starting with "From " is read as written, not as a
    quote.  Text before the file's first ``From `` line is not dropped: it comes first, under
    the key ``"preamble"``, parsed as a message (with an ``MboxPreamble`` defect) or as the
    error saying the file does not start with a ``From `` line.

    Parameters
    ----------
    path : str or path-like
        The mbox file.

    Yields
    ------
    key : str
        ``"preamble"`` (see above), then the message's key in the mailbox (``"0"``, ``"1"``, …).
    result : ParsedEmail or EmailParseError
        The parsed message, or the error for a message that could not be parsed.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (a whole-file problem, not a message one).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mbox file not found: {p}")
    preamble = _mbox_preamble(p)
    if preamble is not None:
        yield "preamble", _preamble_result(preamble)
    box = mailbox.mbox(str(p), create=False)
    try:
        for key in box.iterkeys():
            try:
                raw = box.get_bytes(key)
            except Exception as exc:  # noqa: BLE001
                yield str(key), EmailParseError(f"cannot read message {key} ({type(exc).__name__})")
                continue
            try:
                yield str(key), parse_email(_unescape_mbox_from(raw))
            except EmailParseError as exc:
                yield str(key), exc
    finally:
        box.close()


def iter_eml_dir(path: str | os.PathLike[str]) -> Iterator[tuple[str, ParsedEmail | EmailParseError]]:
    """Parse every ``*.eml`` file of a directory (sorted by name), yielding errors.

    Parameters
    ----------
    path : str or path-like
        A directory; files whose name ends in ``.eml`` (any case) are read,
        sub-directories are not descended into.

    Yields
    ------
    key : str
        The file name.
    result : ParsedEmail or EmailParseError
        The parsed message, or the error for a file that could not be read or
        parsed.

    Raises
    ------
    NotADirectoryError
        If ``path`` is not a directory.
    """
    d = Path(path)
    if not d.is_dir():
        raise NotADirectoryError(f"not a directory: {d}")
    files = sorted(f for f in d.iterdir() if f.suffix.lower() == ".eml" and f.is_file())
    yield from iter_eml_files((f.name, f) for f in files)


def iter_eml_files(
    files: Iterable[tuple[str, Path]],
) -> Iterator[tuple[str, ParsedEmail | EmailParseError]]:
    """Parse each ``(key, path)`` e-mail file in order, yielding ``(key, message or error)``:
    a file that cannot be read or parsed yields its :class:`EmailParseError`."""
    for key, f in files:
        try:
            raw = f.read_bytes()
        except OSError as exc:
            yield key, EmailParseError(f"cannot read {f.name}: {exc.strerror or type(exc).__name__}")
            continue
        try:
            yield key, parse_email(raw)
        except EmailParseError as exc:
            yield key, exc


_INLINE_SIG_WORDS = 40  # a one-line cell's signature is at most this many words
#: Line kinds that make words after a rule somebody's signature: offices or titles alone
#: (公園緑地課 清掃事務所, 総務課 部長) can be what the complaint is about.
_PERSONAL_KINDS = frozenset({"name", "latin_name", "contact"})


def cut_inline_signature(body: str) -> str:
    """``body`` without a signature that follows a rule on one line (a CSV or spreadsheet cell holding
    ``本文 ――― 住所 氏名 電話 … ―――``): everything from the first of the last few rules whose
    following words are all signature lines (:func:`_inline_signature`).  A body of more than one line,
    or one with nothing before the rule, is returned as it is.

    >>> cut_inline_signature("ベンチが壊れています。 ――――― 山田 太郎 電話 03-5432-1098 ―――――")
    'ベンチが壊れています。'
    """
    if "\n" in body.strip():
        return body
    for m in list(_INLINE_RULE.finditer(body))[-_INLINE_RULES_TRIED:]:  # (bounded work per row)
        head = body[: m.start()].strip()
        words = [w for w in body[m.end():].split() if not _INLINE_RULE.fullmatch(w)]
        if head and _inline_signature(words):
            return head
    return body


def _inline_signature(words: Sequence[str]) -> bool:
    """Whether ``words`` (a one-line cell's words after a rule) can be read as signature lines.

    The words are grouped into at most ``_SIG_MAX_LINES`` lines, each classified as
    :func:`split_reply` classifies the lines of a signature, and the
    lines together must make one (a single name, not only a kanji name or a title).
    """
    n = len(words)
    if not n or n > _INLINE_SIG_WORDS:
        return False
    kind: dict[tuple[int, int], str | None] = {}
    failed: set[tuple[int, int, int, int, bool]] = set()  # (what _is_signature depends on)

    def fits(i: int, kinds: list[str]) -> bool:
        if i == n:
            return _is_signature(list(kinds)) and not _PERSONAL_KINDS.isdisjoint(kinds)
        names = sum(k in ("name", "bare_name") for k in kinds)
        state = (i, len(kinds), names, kinds.count("latin_name"), any(k not in ("bare_name", "title") for k in kinds))
        if len(kinds) == _SIG_MAX_LINES or names > 1 or state[3] > 1 or state in failed:
            return False
        for j in range(min(n, i + 6), i, -1):  # longest lines first
            if (i, j) not in kind:
                kind[i, j] = _signature_line(" ".join(words[i:j]))
            k = kind[i, j]
            if k is not None and fits(j, [*kinds, k]):
                return True
        failed.add(state)
        return False

    return fits(0, [])
