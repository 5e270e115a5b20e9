"""A self-contained HTML report of a scored batch, for the head of section.

:func:`write_report` reads a file written by ``complaint-triage batch`` (Parquet, CSV,
JSONL or .xlsx; also the JSONL of ``complaint-triage score``) in one streaming pass and
writes one HTML file with no external resources (charts are inline SVG, styles inline,
and a Content-Security-Policy forbids any network access):

* counts by month (stacked by verdict), channel, topic/department and harassment category;
* the share of complaints and of harassment per month;
* the review queue (messages flagged ``review``, most severe first: action, harassment score, oldest
  date; the cut keeps the most severe), a "most severe" list of harassment calling for the police or a
  removal/ban whether flagged or not, the top evidence phrases per category (leaving out those
  with no word left once masked: 「＊」, 「＊だな。」);
* the per-sender table (pseudonymised ids, 7-day runs, repetition flags).

Personal data is masked by patterns (see :func:`mask_personal` for exactly what is and is
not) in every message text shown: excerpts in the review queue and evidence phrases, which
are masked from their whole message so that a number cut by the phrase's edge is still
found; and in every channel and topic/department value shown (chart labels and their
tooltips, the review tables), since such a cell may name a staff member or hold a phone
number (「保育課 鈴木 090-…」); values that read alike once masked are one group.  Sender ids
are shown as keyed-hash pseudonyms (see :mod:`complaint_triage.batch`).
Record ids are the office's own reference numbers and are shown as they are, unless the id
column is the sender column (shown as the pseudonym) or a value looks like an e-mail address
or a telephone number (masked).

A file that was never scored (no ``verdict`` column), one that holds no records (empty, or a
header only), or the per-sender summary written next to a batch output, is refused with
:class:`UnscoredFileError`.  :func:`write_report` refuses, before reading anything, an output
that is the scored file itself (or its temporary ``.partial`` file) or a folder
(:class:`ReportOutputError`), and never leaves a partial file behind.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import html
import math
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from complaint_triage.batch import (
    NEAR_ADDED,
    NEAR_CHANGED,
    NEAR_CHANGED_MIN,
    REPEAT_MIN,
    RESUBMIT_MINUTES,
    SenderAggregator,
    _check_regular,
    _partial,
    _same_file,
    iter_scored,
    load_sender_key,
    parse_date,
)
from complaint_triage.email import iter_addresses
from complaint_triage.exceptions import InputFormatError
from complaint_triage.labels import ACTIONS, CATEGORIES, VERDICTS

__all__ = ["ReportOutputError", "ReportStats", "UnscoredFileError", "build_report", "mask_personal", "write_report",
           "COLOURS"]

#: Chart colours by series.
COLOURS = {"harassment": "#c0392b", "complaint": "#e67e22", "inquiry": "#2e86c1", "error": "#95a5a6",
           "category": "#8e44ad"}
_SERIES = (*VERDICTS, "error")
_VERDICT_JA = {"harassment": "カスハラ", "complaint": "苦情", "inquiry": "問合せ", "error": "エラー"}
_CATEGORY_JA = {
    "violence": "暴力", "threat": "脅迫", "other_illegal": "その他違法", "excessive_demand": "過剰要求",
    "abusive_language": "暴言", "sns_harassment": "SNS", "other_improper": "その他不当",
}


class UnscoredFileError(InputFormatError):
    """The file given to the report holds no scores (raw input, no records, or the per-sender summary)."""


class ReportOutputError(InputFormatError):
    """The report cannot be written where asked: the output is the scored file, or a folder."""


_SENDER_SUMMARY_COLUMNS = frozenset(SenderAggregator.COLUMNS)
#: The sender table's note on repetition, written from the rule's constants (batch.near_duplicates).
_REPETITION_NOTE = (
    f"7日内最多 = 任意の7日間の最多件数。繰返し = 同じ内容の苦情を再び送った回数 (近似重複: 文字と数字だけで比べ、"
    f"短い方が長い方に順に現れ、違う・欠ける文字が{NEAR_CHANGED_MIN}文字か短い方の{NEAR_CHANGED:.0%}の多い方まで、"
    f"長い方で増える文字が短い方の{NEAR_ADDED:.0%}まで。{RESUBMIT_MINUTES:g}分以内の再送信は除く); "
    f"{REPEAT_MIN}回以上でフラグ。"
)

_CANDIDATES = {
    "date": ("date", "received", "received_at", "created_at", "datetime", "timestamp",
             "受付日", "受付日時", "日付", "日時"),
    "channel": ("channel", "チャネル", "受付方法", "媒体", "経路"),
    "topic": ("topic", "department", "dept", "section", "担当課", "所管課", "部署", "課", "分類"),
    "sender": ("sender_id", "sender", "from", "customer_id", "phone", "email", "送信者", "顧客ID"),
    # the office's own reference numbers before the Message-ID of mail mixed into the same archive
    "id": ("id", "record_id", "受付番号", "番号", "message_id"),
    "text": ("text", "body", "本文", "内容"),
}

# -- masking -----------------------------------------------------------------
#
# Every rule finds spans in the *original* text; earlier rules win where spans overlap. Working
# on spans (not on successive substitutions) lets an evidence phrase, a fragment of its
# message, be masked from the whole message: a telephone number cut in two by the phrase's
# boundary is still recognised as one.

_D = "0-9０-９"
_HY = "\\-‐‑‒–—―－ー−"
_KANJI = "\u4e00-\u9fff々〆ヶ"
_KATA = "\u30a1-\u30fa"
_KNUM = f"(?:[{_D}]+|[一二三四五六七八九十〇]+)"
#: a number where it starts, never from inside a run of digits (from every position of a long run
#: the patterns below scanned to its end: quadratic; a match inside a run is one at its start)
_KNUM_START = f"(?:(?<![{_D}])[{_D}]+|(?<![一二三四五六七八九十〇])[一二三四五六七八九十〇]+)"

_POSTAL = re.compile(rf"(?<![{_D}{_HY}*])〒?\s?[{_D}]{{3}}[{_HY}][{_D}]{{4}}(?![{_D}{_HY}])")
# digit groups joined by hyphens, dots, brackets or spaces: telephone numbers (+81, dotted,
# spaced, full-width), My Number and card numbers written in groups, long unbroken runs
_NUMBER = re.compile(rf"(?<![{_D}])(?:[+＋][ \u3000]?)?[{_D}]+"
                     rf"(?:(?:[ \u3000]*[{_HY}.．()（）][ \u3000]*|[ \u3000]+)[{_D}]+)*"
                     rf"(?![{_D}:：時分秒])")
_LONG_RUN = re.compile(f"[{_D}]{{5,}}")
_CHOME = re.compile(rf"{_KNUM_START}丁目[ \u3000]?{_KNUM}(?:(?:番地?|[{_HY}]|の){_KNUM})*(?:番地?|号)?")
_BANCHI = re.compile(rf"(?<![{_D}])[{_D}]+番地(?:の?[{_D}]+号?)?|{_KNUM_START}番{_KNUM}号")
# 北沢2-8-18, 若林4-22-13: digit groups right after a place name (not times, counts or dates)
_BLOCK = re.compile(rf"(?<=[{_KANJI}{_KATA}])[ \u3000]?[{_D}]{{1,4}}(?:[{_HY}][{_D}]{{1,4}}){{1,3}}"
                    rf"(?![{_D}{_HY}]|[時分秒円回件人歳日月年%％])")
_ROOM = re.compile(rf"[{_D}]{{1,5}}号(?:室|棟)")
_BIRTH = re.compile(rf"((?:生年月日|誕生日)[ \u3000]*[:：は]?[ \u3000]*)"
                    rf"((?:[{_D}]{{2,4}}|[明大昭平令][治正和成]?[{_D}元]{{1,2}})年[{_D}]{{1,2}}月[{_D}]{{1,2}}日"
                    rf"|[{_D}]{{4}}[/／{_HY}.．][{_D}]{{1,2}}[/／{_HY}.．][{_D}]{{1,2}})")

_NOT_NAMES = ("お客", "皆", "みな", "客", "担当者", "担当", "職員", "区長", "市長", "課長", "係長", "部長", "窓口",
              "区民", "市民", "住民", "相手", "皆さ", "みなさ", "先方", "役所", "区役所", "業者", "上司", "同僚", "隣",
              "近所",
              # words before さん/様/氏/ちゃん that are not names: 同様, 彼氏, おかげさま, たくさん …
              "同", "模", "仕", "異", "彼", "両", "某", "貴", "おかげ", "お陰", "疲れ", "つかれ", "苦労", "たく",
              # roles and relations (管理人さん, 保健師さん, お母さん, 所長様)
              "長", "員", "管理人", "代理人", "本人", "主人", "婦人", "老人", "住人", "隣人", "友人", "知人", "他人",
              "師", "育士", "護士", "理士", "書士", "手", "者", "葬儀屋", "所", "館", "課", "会", "局", "係", "司書",
              "飼い主", "ヘルパー", "ワーカー", "オペレーター", "ボランティア", "マネージャー", "ドライバー", "オペ",
              "お母", "お父", "お子", "息子", "奥", "娘", "お姉", "お兄", "おじ", "おば", "じい", "ばあ", "おっ", "赤",
              "自分", "私", "嬢", "生徒", "団体", "旦那", "親御", "スタッフ", "ケアマネ", "センター", "大家",
              "不動産屋", "店", "園", "組", "互い", "施主", "パパ", "ママ", "あんた")
_KIN = frozenset(("自分", "本人", "家族", "両親", "父親", "母親", "義母", "義父", "祖母", "祖父", "叔父", "叔母",
                  "伯父", "伯母", "兄弟", "姉妹", "息子", "親戚", "実家", "職場", "会社", "学校", "施設", "当方",
                  "我々", "彼女", "彼氏", "主人", "夫婦", "近隣", "隣家", "東京", "世田谷",
                  "子", "母", "父", "兄", "姉", "弟", "妹", "嫁", "婿", "孫", "神", "仏", "王", "親父", "お袋"))
_PLACE_END = ("所", "課", "園", "校", "店", "局", "署", "館", "院", "社", "庁", "区", "市", "都", "県", "府", "内")
# a family name followed by these is a place named after it (北原公園, 池尻駅, 北沢総合支所, 池尻出張所)
_PLACE_NEXT = ("公園", "駅", "通り", "区", "町", "丁目", "小学校", "中学校", "図書館", "住宅", "団地", "商店街", "地区",
               "出張所", "総合支所", "支所", "まちづくりセンター", "区民センター", "会館", "橋")
_HIRA = "\u3040-\u309f"
# a kanji or katakana name with an optional kana tail (山田ひなた), a kana-only name, or a romanised one
_HONORIFIC = re.compile(rf"((?:[{_KANJI}]{{1,6}}|[{_KATA}][{_KATA}ー]{{1,9}})[{_HIRA}]{{0,4}}"
                        rf"|(?<![{_HIRA}])[{_HIRA}]{{2,5}}|[A-Za-z][A-Za-z.\-]{{1,20}})"
                        r"\s?(様(?![子式相変])|さま|さん|氏(?!名)|殿|くん(?![なでだ])|君|ちゃん(?!と))")
# 鈴木一郎の自宅 / の家: a kanji name owning a home
_POSSESSIVE = re.compile(rf"([{_KANJI}]{{2,6}})(?=の(?:自宅|家(?![{_KANJI}])))")
_LABELLED = re.compile(rf"((?:氏名|名前)(?:[ \u3000]*[:：は][ \u3000]*|[ \u3000]+))"
                       rf"([{_KANJI}]{{2,6}}(?:(?!です|でした|と申|とい|と言|[はがをにのでもや])[{_HIRA}]{{1,4}}(?![{_HIRA}]))?"
                       rf"|[{_KATA}][{_KATA}ー・]{{1,15}})")
_SELF_INTRO = re.compile(rf"([{_KANJI}]{{2,6}}|[{_KATA}][{_KATA}ー・]{{1,15}})(?=と(?:申し|いいます|言います))")
_HAS_KANJI = re.compile(rf"[{_KANJI}]")
_HAS_KANJI_OR_KATA = re.compile(rf"[{_KANJI}{_KATA}]")
_ALL_KATA = re.compile(rf"^[{_KATA}ー・]{{2,}}$")
_MASK = "＊＊"
_DIGITS_ONLY = re.compile(f"[{_D}]+")


def _not_name(name: str) -> bool:
    return name in _KIN or name.endswith(_NOT_NAMES)


def _star_digits(s: str, keep_zero: bool) -> str:
    out = re.sub(f"[{_D}]", "*", s)
    return s[0] + out[1:] if keep_zero and s[:1] in "0０" else out


def _phone_length(s: str, digits: int) -> bool:
    """Whether a run of ``digits`` digits starting ``s`` reads as a telephone number: a 0, and ten or eleven digits."""
    return s[:1] in "0０" and 10 <= digits <= 11


def _number(m: re.Match[str]) -> str | None:
    s = m.group(0)
    digits = sum(ch.isdigit() for ch in s)
    groups = len(re.findall(f"[{_D}]+", s))
    phone_like = s[:1] in "0０+＋"
    if groups == 1:
        if digits < 5:
            return None
        return _star_digits(s, True) if _phone_length(s, digits) else "＊＊＊"
    if digits >= 10 or (phone_like and digits >= 9):
        return _star_digits(s, True)
    masked = _LONG_RUN.sub("＊＊＊", s)  # R6-00001: only the long run
    return masked if masked != s else None


def _name(m: re.Match[str], rest: str = "") -> str | None:
    return None if _not_name(m.group(1)) else _MASK + rest


# One line per morpheme: surface, part of speech, then 姓 or 名 for a person name (blank
# otherwise).  One format serves both name checks: each MeCab output format is a tagger of its
# own, which maps the dictionary once more (about 50 MB of resident pages).
_MORPH_FORMAT = r'-O "" -F%m\\t%f[0]\\t%f[3]\\n -U%m\\t\\t\\n -E\\n'


def _verb_before(text: str, at: int) -> bool:
    """Whether the dictionary reads ``text[at]`` (the さ of さん) as the end of a verb: the dialect negative
    許さん, 帰さん, 逃がさん, 済まさん, 出さん, 渡さん (``Vさ`` + ``ん``), not a name and its honorific."""
    from complaint_triage.tokenizer import get_formatted_tagger

    lo = max(0, at - 8)
    window = text[lo:at + 4]
    pos = 0
    for line in get_formatted_tagger(_MORPH_FORMAT).parse(window).splitlines():
        surface, _, rest = line.partition("\t")
        kind = rest.partition("\t")[0]
        start = window.find(surface, pos) if surface else -1
        if start < 0:
            continue
        pos = start + len(surface)
        if start <= at - lo < pos:
            return kind == "動詞" and pos == at - lo + 1
    return False


#: Verb stems whose dialect negative (帰さん, 済まさん) the dictionary may read as a surname and さん at the start of a
#: sentence; with a sentence ending after them (ぞ, から, 。 …) they are not names.
_NEGATIVE_STEMS = frozenset(("帰", "逃が", "済ま", "返", "離", "逃", "貸", "殺", "放", "戻", "残"))
#: Such stems that are family names too: 「担当の渡さんから電話」「担当は渡さん。」 are names.
_SURNAME_STEMS = frozenset(("許", "渡", "出", "通"))
#: What may follow a verb's dialect negative: a sentence ending (許さんぞ, 帰さんからな, 済まさんよ, 逃がさん。).
_SENTENCE_END = re.compile(r"(?:ぞ|ぜ|から|わ|よ|な|で|[。、！!？?…]|\s|$)")
#: What follows it and never a name: a threat's ending.  A family-name stem needs one, or an object
#: particle before it (お前を許さん, 絶対に許さん): a name shown costs more than a threat's wording masked.
_THREAT_END = re.compile(r"(?:ぞ|ぜ|からな|[！!])")


#: Words a name follows that the honorific pattern takes for a name's kanji (名前はゆいちゃん): shown.
_NAME_LABELS = ("氏名", "名前")
#: Particles after which the kana before an honorific are a name of their own (娘はゆいちゃん, 名前はゆいちゃん).
_PARTICLES = "はがをにのでもとへや"
_LEADING_KANJI = re.compile(f"[{_KANJI}]+")


def _shown_before_name(candidate: str) -> int:
    """How many leading characters of an honorific's name ``candidate`` are no part of the name: a label
    (名前, 氏名) with its particle, or a word that is no name and its particle (娘は of 娘はゆい); else 0."""
    kanji = _LEADING_KANJI.match(candidate)
    if kanji is None or kanji.end() == len(candidate):
        return 0
    k = kanji.end()
    if candidate[:k].endswith(_NAME_LABELS):
        return k + (candidate[k] in _PARTICLES)
    if candidate[k] in _PARTICLES and _not_name(candidate[:k]):
        return k + 1
    return 0


def _honorific(m: re.Match[str]) -> str | tuple[int, str] | None:
    """A name before an honorific, unless the さん is the negative ん after a verb (許さんぞ, 帰さんからな).
    A label or a word that is no name before a particle stays readable: 名前は＊＊ちゃん, 娘は＊＊ちゃん."""
    if m.group(2) == "さん" and _SENTENCE_END.match(m.string, m.end()):
        stem, text, at = m.group(1), m.string, m.start(1)
        if stem in _SURNAME_STEMS:
            verb = _THREAT_END.match(text, m.end()) or (at > 0 and text[at - 1] in "をもに")
        else:
            verb = stem in _NEGATIVE_STEMS or _verb_before(text, m.start(2))
        if verb:
            return None
    if shown := _shown_before_name(m.group(1)):
        name = m.group(1)[shown:]
        return None if not name or _not_name(name) else (m.start(1) + shown, _MASK + m.group(2))
    return _name(m, m.group(2))


def _possessive(m: re.Match[str]) -> str | None:
    name = m.group(1)
    return None if _not_name(name) or name.endswith(_PLACE_END) else _MASK


#: Each rule's pattern and what replaces a match: a string, ``(start, string)`` when the match's
#: beginning before ``start`` is a label left as it is (生年月日, 氏名は, 名前は), or None (no personal data).
_RULES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (_POSTAL, lambda m: re.sub(f"[{_D}]", "*", m.group(0))),
    (_BIRTH, lambda m: (m.start(2), "＊＊＊＊年＊月＊日")),
    (_NUMBER, _number),
    (_CHOME, lambda m: "＊丁目＊"),
    (_BANCHI, lambda m: "＊番地＊" if "番地" in m.group(0) else "＊番＊号"),
    (_BLOCK, lambda m: re.sub(f"[{_D}]+", "＊", m.group(0))),
    (_ROOM, lambda m: "＊" + m.group(0)[-2:]),
    (_HONORIFIC, _honorific),
    (_POSSESSIVE, _possessive),
    (_LABELLED, lambda m: (m.start(2), _MASK)),
    (_SELF_INTRO, lambda m: _name(m)),
)


def _dictionary_names(text: str) -> list[tuple[int, int]]:
    """Spans of person names the UniDic dictionary knows (姓, and 名 right after a 姓)."""
    from complaint_triage.tokenizer import get_formatted_tagger, parse_in_pieces

    spans: list[tuple[int, int]] = []
    pos = 0
    placed: list[tuple[int, int, str, str]] = []  # start, end, surface, 姓/名/""
    for line in parse_in_pieces(get_formatted_tagger(_MORPH_FORMAT), text).splitlines():
        surface, _, rest = line.partition("\t")
        kind = rest.partition("\t")[2]
        start = text.find(surface, pos)
        if not surface or start < 0:
            continue
        pos = start + len(surface)
        placed.append((start, pos, surface, kind))
    i = 0
    while i < len(placed):
        start, end, surface, kind = placed[i]
        j = i + 1
        while j < len(placed) and placed[j][3] == "名" and text[end:placed[j][0]].strip() == "":
            end = placed[j][1]
            j += 1
        family_ok = kind == "姓" and not text.startswith(_PLACE_NEXT, end) and bool(
            (_HAS_KANJI.search(surface) and (len(surface) > 1 or j > i + 1)) or _ALL_KATA.match(surface))
        if family_ok:
            spans.append((start, end))
        i = j if family_ok else i + 1
    return spans


def _pii_spans(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, replacement)`` of the personal data in ``text``, in order."""
    taken = bytearray(len(text))
    spans: list[tuple[int, int, str]] = []

    def claim(start: int, end: int, rep: str) -> None:
        if end > start and taken.find(1, start, end) < 0:
            taken[start:end] = b"\x01" * (end - start)
            spans.append((start, end, rep))

    def claim_rest(start: int, end: int) -> None:  # a name: mask what no other rule took
        while start < end:
            while start < end and taken[start]:
                start += 1
            stop = taken.find(1, start, end)
            stop = end if stop < 0 else stop
            claim(start, stop, _MASK)
            start = stop

    for start, at, end in iter_addresses(text):  # (first: e-mail addresses, x***@domain)
        claim(start, end, text[start] + "***" + text[at:end])
    for pattern, replace in _RULES:
        for m in pattern.finditer(text):
            rep = replace(m)
            if isinstance(rep, tuple):
                claim(rep[0], m.end(), rep[1])
            elif rep is not None:
                claim(m.start(), m.end(), rep)
    if _HAS_KANJI_OR_KATA.search(text):
        for start, end in _dictionary_names(text):
            claim_rest(start, end)
    spans.sort()
    return spans


def _apply(text: str, spans: list[tuple[int, int, str]], start: int = 0, end: int | None = None) -> str:
    """``text[start:end]`` with ``spans`` replaced; a span cut by the slice becomes ``＊``."""
    end = len(text) if end is None else end
    out, pos = [], start
    for s, e, rep in spans:
        if e <= pos or s >= end:
            continue
        out.append(text[pos:max(s, pos)])
        out.append(rep if s >= start and e <= end else "＊")
        pos = min(e, end)
    out.append(text[pos:end])
    return "".join(out)


def _code_label(label: str) -> bool:
    """Whether a channel or department label is a numeric code shown as written (部署コード 10101): only
    digits, and not what reads as a telephone number (a 0 then 10 or 11 digits in all)."""
    return bool(_DIGITS_ONLY.fullmatch(label)) and not _phone_length(label, len(label))


def mask_personal(text: str) -> str:
    """Mask personal data in a text shown in the report.

    Masked: e-mail addresses (also with ``＠``), telephone numbers (``+81``, dots, spaces,
    brackets, full-width digits), postal codes, numbers of 5 digits or more and numbers of 10
    digits or more written in groups (My Number ``1234 5678 9012``), street numbers
    (``2-8-18`` after a place name, ``二丁目8番18号``, ``8番地``, ``203号室``), birth dates after
    生年月日/誕生日, and person names: before an honorific (``山田様``, ``鈴木さん``, ``佐藤氏``),
    before の自宅/の家, after 氏名/名前, before と申します, and family names (with the
    given name that follows) that the UniDic dictionary knows.  A label or a word that names
    no one before a name and its particle stays readable (娘の名前は＊＊ちゃん, 担当の＊＊さん).
    Not masked: names written in hiragana or unknown to the dictionary without such a marker,
    ages, dates other than birth dates, and anything the patterns above do not describe.

    >>> mask_personal("山田様 taro@example.jp 03-1234-5678 〒154-0001 番号123456")
    '＊＊様 t***@example.jp 0*-****-**** 〒***-**** 番号＊＊＊'
    """
    return _apply(text, _pii_spans(text))


# -- charts ------------------------------------------------------------------


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _empty_svg(msg: str = "データなし (no data)") -> str:
    return (f'<svg class="chart" viewBox="0 0 600 60" role="img"><text x="10" y="35" font-size="14" '
            f'fill="#666">{_e(msg)}</text></svg>')


def _legend(series: list[str], x: float, y: float) -> str:
    out = []
    for i, s in enumerate(series):
        xx = x + i * 120
        out.append(f'<rect x="{xx}" y="{y}" width="12" height="12" fill="{COLOURS.get(s, "#555")}"/>'
                   f'<text x="{xx + 16}" y="{y + 11}" font-size="12">{_e(_VERDICT_JA.get(s, s))} ({_e(s)})</text>')
    return "".join(out)


def _tick_step(peak: int) -> int:
    """The gridline spacing of a count axis: 1, 2 or 5 times a power of ten, at most 4 steps to ``peak``.

    >>> [_tick_step(p) for p in (0, 1, 3, 4, 7, 10, 45, 1234)]
    [1, 1, 1, 1, 2, 5, 20, 500]
    """
    scale = 1
    while True:
        for m in (1, 2, 5):
            if 4 * m * scale >= peak:
                return m * scale
        scale *= 10


def svg_stacked_columns(labels: list[str], data: dict[str, list[int]], *, title: str) -> str:
    """Vertical stacked bars: one column per label, one colour per series.

    The count axis has gridlines at whole numbers (every 1, 2 or 5 times a power of ten), its
    top at the first gridline at or above the tallest column.
    """
    if not labels:
        return _empty_svg()
    series = [s for s in data if any(data[s])]
    w, h, left, top, bottom = 900, 320, 50, 30, 60
    n = len(labels)
    tallest = max(sum(data[s][i] for s in series) for i in range(n))
    tick = _tick_step(tallest)
    ticks = -(-tallest // tick) or 1
    peak = tick * ticks  # the axis' top, a gridline
    step = (w - left - 10) / n
    bw = max(2.0, step * 0.75)
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">']
    for t in range(ticks + 1):
        y = top + (h - top - bottom) * (1 - t / ticks)
        parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{t * tick:,}</text>')
    for i, lab in enumerate(labels):
        x = left + i * step + (step - bw) / 2
        y0 = h - bottom
        for s in series:
            v = data[s][i]
            if not v:
                continue
            bh = (h - top - bottom) * v / peak
            y0 -= bh
            parts.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                         f'fill="{COLOURS.get(s, "#555")}">'
                         f'<title>{_e(lab)} {_e(s)}: {v:,}</title></rect>')
        if n <= 24 or i % max(1, n // 24) == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 14}" font-size="10" text-anchor="end" '
                         f'transform="rotate(-45 {x + bw / 2:.1f} {h - bottom + 14})">{_e(lab)}</text>')
    parts.append(_legend(series, left, 6))
    parts.append("</svg>")
    return "".join(parts)


def svg_stacked_bars(rows: list[tuple[str, dict[str, int]]], series: list[str], *, title: str) -> str:
    """Horizontal stacked bars: one bar per row label."""
    if not rows:
        return _empty_svg()
    series = [s for s in series if any(r[1].get(s) for r in rows)]
    label_w, w, bar_h, gap, top = 190, 900, 18, 6, 30
    h = top + len(rows) * (bar_h + gap) + 10
    peak = max(sum(r[1].values()) for r in rows) or 1
    span = w - label_w - 70
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">']
    for i, (lab, counts) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">{_e(lab)}</text>')
        x = float(label_w)
        for s in series:
            v = counts.get(s, 0)
            if not v:
                continue
            bw = span * v / peak
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{bw:.1f}" height="{bar_h}" fill="{COLOURS.get(s, "#555")}">'
                         f'<title>{_e(lab)} {_e(s)}: {v:,}</title></rect>')
            x += bw
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="11">{sum(counts.values()):,}</text>')
    if len(series) > 1:
        parts.append(_legend(series, label_w, 6))
    parts.append("</svg>")
    return "".join(parts)


def svg_lines(labels: list[str], data: dict[str, list[float | None]], *, title: str) -> str:
    """Line chart of shares (0–1) per label."""
    if not labels:
        return _empty_svg()
    w, h, left, top, bottom = 900, 280, 50, 30, 60
    n = len(labels)
    step = (w - left - 20) / max(1, n - 1)
    ph = h - top - bottom
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">']
    for t in range(5):
        y = top + ph * (1 - t / 4)
        parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{t * 25}%</text>')
    for s, vals in data.items():
        pts = [(left + i * step, top + ph * (1 - v)) for i, v in enumerate(vals) if v is not None]
        if not pts:
            continue
        colour = COLOURS.get(s, "#555")
        if len(pts) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="3" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>' for x, y in pts)
    for i, lab in enumerate(labels):
        if n <= 24 or i % max(1, n // 24) == 0:
            x = left + i * step
            parts.append(f'<text x="{x:.1f}" y="{h - bottom + 14}" font-size="10" text-anchor="end" '
                         f'transform="rotate(-45 {x:.1f} {h - bottom + 14})">{_e(lab)}</text>')
    parts.append(_legend(list(data), left, 6))
    parts.append("</svg>")
    return "".join(parts)


# -- aggregation ---------------------------------------------------------------


@dataclass
class ReportStats:
    """What went into a report."""

    rows: int
    scored: int
    errors: int
    review: int
    months: int
    senders: int
    columns: dict[str, str | None]
    #: senders flagged for repetition (all of them are in the table)
    repetition_senders: int = 0
    #: what the reader should know (a sender key generated, a value that cannot be computed), one line each
    warnings: list[str] = field(default_factory=list)


#: How the charts name the group of records whose channel or department cell is empty.
_NO_GROUP = "(なし)"


def _blank_value(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _group_label(value: object) -> str:
    """A channel or department as the charts name it (before masking): ``(なし)`` only for a missing or
    blank cell.

    >>> [_group_label(v) for v in (0, 101.0, 102.5, "窓口", None, float("nan"), " ")]
    ['0', '101', '102.5', '窓口', '(なし)', '(なし)', '(なし)']
    """
    if _blank_value(value):
        return _NO_GROUP
    if isinstance(value, float) and value.is_integer():  # a code read as a float (101.0)
        return str(int(value))
    return str(value)


#: The month chart fills months without records when the dates span at most this many months
#: (a stray date centuries away would otherwise draw thousands of empty columns).
_MAX_FILLED_MONTHS = 240


def _months(present: set[str]) -> tuple[list[str], bool]:
    """Every month (``YYYY-MM``) from the first to the last of ``present``, and whether gaps were filled.

    >>> _months({"2025-11", "2026-02"})
    (['2025-11', '2025-12', '2026-01', '2026-02'], True)
    """
    if not present:
        return [], True
    first, last = min(present), max(present)
    lo, hi = int(first[:4]) * 12 + int(first[5:7]) - 1, int(last[:4]) * 12 + int(last[5:7]) - 1
    if hi - lo >= _MAX_FILLED_MONTHS:
        return sorted(present), False
    return [f"{k // 12:04d}-{k % 12 + 1:02d}" for k in range(lo, hi + 1)], True


def _shown_senders(rows: list[dict[str, Any]], limit: int, flagged: int) -> list[dict[str, Any]]:
    """The senders the table shows: every repetition-flagged one (``flagged`` of ``rows``), then
    the first others up to ``limit``.

    The order stays that of ``rows`` (most harassment first); the flagged senders may take the
    table past ``limit``.
    """
    room = max(0, limit - flagged)
    shown = []
    for r in rows:
        if r["repetition"]:
            shown.append(r)
        elif room:
            shown.append(r)
            room -= 1
    return shown


#: A column whose name ends with one of these (the first of them first) is taken for the date column when none has
#: a usual name (受付年月日, 申出日時, 相談日付), unless it is a birth date.
_DATE_ENDINGS = ("受付年月日", "受付日時", "日付", "日時", "年月日", "受付日")
#: Then a column with one of these as a whole word of its name (received_date, Date Received, receivedDate), not as
#: part of one (updated_by, candidate_no, response_time_min are not dates).
_DATE_TOKENS = frozenset({"date", "datetime", "timestamp"})
_NOT_DATE_WORDS = ("生年月日", "誕生日", "birth")
#: Records read ahead to check that a date column holds dates.
_DATE_SAMPLE = 100


def _date_candidates(keys: list[str]) -> list[str]:
    """Columns that may hold the records' dates, by name, the likeliest first (see :data:`_DATE_ENDINGS`)."""
    lower = {k.lower(): k for k in keys}
    usual = [lower[c.lower()] for c in _CANDIDATES["date"] if c.lower() in lower]
    endings = [k for e in _DATE_ENDINGS for k in keys if k.strip().endswith(e)]
    words = [k for k in keys
             if _DATE_TOKENS & set(re.split(r"[\s_\-.]+", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", k).strip().lower()))]
    out: list[str] = []
    for k in usual + endings + words:
        if k not in out and not any(w in k.lower() for w in _NOT_DATE_WORDS):
            out.append(k)
    return out


def _reads_as_dates(sample: list[dict[str, Any]], col: str) -> bool:
    """Whether a non-empty value of ``col`` in ``sample`` reads as a date
    (:func:`~complaint_triage.batch.parse_date`), or none is non-empty (nothing to judge by: a
    date column may start with blank rows)."""
    filled = [v for v in (r.get(col) for r in sample) if v is not None and str(v).strip() not in ("", "nan", "NaT")]
    return not filled or any(parse_date(v) is not None for v in filled)


def _pick_date(keys: list[str], given: str | None, sample: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """The date column and a warning (or None): the given one, else the first candidate whose sampled values
    hold a date (:func:`_date_candidates`); columns named like dates that hold none are passed over."""
    n = len(sample)
    if given is not None:
        col = _pick(keys, given, "date")
        if col is not None and not _reads_as_dates(sample, col):
            return col, (f"none of the values in the first {n:,} rows of the date column {col!r} reads as a date: "
                         "the sender table has no 7-day runs or first/last dates; check --date-column")
        return col, None
    names = _date_candidates(keys)
    for col in names:
        if _reads_as_dates(sample, col):
            return col, None
    if names:
        which = f"column {names[0]!r} looks" if len(names) == 1 else f"columns {', '.join(map(repr, names))} look"
        return None, (f"{which} like a date by name but none of the first {n:,} values reads as a date, so no "
                      "date column is used; pass --date-column with the column that holds the dates")
    return None, None


def _pick(keys: list[str], given: str | None, kind: str) -> str | None:
    if given is not None:
        if given not in keys:
            raise InputFormatError(f"no {kind} column {given!r} in the scored file (columns: {', '.join(keys)})")
        return given
    lower = {k.lower(): k for k in keys}
    for c in _CANDIDATES[kind]:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


#: How severe a recommended action is (the order of :data:`complaint_triage.labels.ACTIONS`).
_SEVERITY = {a: i for i, a in enumerate(ACTIONS)}
#: Actions of the "most severe" list, shown whether or not the record is flagged for review.
_GRAVE_ACTIONS = ("police", "remove_or_ban")


def _severity(action: object, p: object, when: datetime | None) -> tuple[int, float, float]:
    """Sort key of a queued record, most severe greatest: action, then harassment score, then the earlier date
    (a queue: the longest waiting first; undated records after dated ones)."""
    return (_SEVERITY.get(str(action), -1), float(p) if isinstance(p, int | float) and p == p else -1.0,
            -(when - datetime.min).total_seconds() if when is not None else -math.inf)


def _check_scored(path: Path, row: dict[str, Any]) -> None:
    """Refuse a file whose first record has neither a verdict nor an error."""
    if "verdict" in row or row.get("error"):
        return
    if _SENDER_SUMMARY_COLUMNS <= set(row):
        raise UnscoredFileError(
            f"{path.name} is the per-sender summary that `complaint-triage batch` writes next to its output, "
            "not the scored records: pass the scored records file (the file given to batch -o) to report")
    raise UnscoredFileError(
        f"{path.name} has no verdict column: it looks unscored. Score it first with "
        f"`complaint-triage batch {path.name} -o scored.csv` (add --text-column if the text is not in a "
        "column named text), then run report on the scored file")


#: characters of context around an evidence phrase or an excerpt searched for personal data
_MARGIN = 64


def _excerpt(text: object, n: int = 120) -> str:
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    upto = min(len(flat), n + _MARGIN)
    masked = _apply(flat, _pii_spans(flat[:upto + _MARGIN]), 0, upto)
    return masked[:n] + ("…" if len(masked) > n or upto < len(flat) else "")


#: Parts of speech that are no word of their own (particles, endings, honorifics, marks).
_FUNCTION_POS = frozenset(("助詞", "助動詞", "接尾辞", "接頭辞", "補助記号", "記号", "空白"))


@functools.lru_cache(maxsize=4096)
def _has_word(text: str) -> bool:
    """Whether ``text`` holds a word with a letter that is not a particle, an ending, an honorific or
    a mark, by the dictionary: 「の家に行くぞ」 does, 「だな。」「さん」「-」 do not."""
    if not any(unicodedata.category(ch)[0] == "L" for ch in text):
        return False
    from complaint_triage.tokenizer import get_formatted_tagger, parse_in_pieces

    for line in parse_in_pieces(get_formatted_tagger(_MORPH_FORMAT), text).splitlines():
        surface, _, rest = line.partition("\t")
        if rest.partition("\t")[0] not in _FUNCTION_POS and any(unicodedata.category(ch)[0] == "L" for ch in surface):
            return True
    return False


def _blanked(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """``spans`` replaced by a space: :func:`_apply` then gives what masking leaves of a text."""
    return [(s, e, " ") for s, e, _rep in spans]


def _evidence_phrases(evidence: list[dict[str, Any]], text: object) -> list[tuple[str, str]]:
    """``(category, masked phrase)`` per evidence span that keeps a word once masked (:func:`_has_word`):
    one that was all a name, an address or a number, with at most a particle or an ending left
    (「＊」, 「＊だな。」), says nothing and is left out.  A phrase no mask touches is always kept
    (the dictionary is asked only about a masked one).

    A span that indexes ``text`` is masked from its context in the whole message; one that
    does not (no text column, edited text) is masked on its own.
    """
    located = [ev for ev in evidence
               if isinstance(text, str) and type(ev.get("start")) is int and type(ev.get("end")) is int
               and 0 <= ev["start"] < ev["end"] <= len(text) and text[ev["start"]:ev["end"]] == ev["text"]]
    spans: list[tuple[int, int, str]] = []
    if located:
        windows: list[list[int]] = []
        for ev in sorted(located, key=lambda ev: ev["start"]):
            lo, hi = max(0, ev["start"] - _MARGIN), min(len(text), ev["end"] + _MARGIN)
            if windows and lo <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], hi)
            else:
                windows.append([lo, hi])
        for lo, hi in windows:
            spans.extend((a + lo, b + lo, r) for a, b, r in _pii_spans(text[lo:hi]))
    out = []
    for ev in evidence:
        if any(ev is x for x in located):
            source, own, lo, hi = text, spans, ev["start"], ev["end"]
        else:
            source = str(ev["text"])
            own, lo, hi = _pii_spans(source), 0, len(source)
        if not any(s < hi and e > lo for s, e, _rep in own) or _has_word(_apply(source, _blanked(own), lo, hi)):
            out.append((ev["category"], " ".join(_apply(source, own, lo, hi).split())))
    return out


_PHONE_ID = re.compile(r"^(?:\+|0[1-9])[0-9()\-‐－ー−. ]+$")


def _record_id(value: object, *, is_sender: bool, agg: SenderAggregator | None) -> str:
    """A record id as shown in the review queue: as it is, unless it identifies the sender."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    shown = str(value).strip()
    if not shown:
        return ""
    if is_sender:
        return (agg.sender_id(value) if agg is not None else None) or mask_personal(shown)
    plain = unicodedata.normalize("NFKC", shown)
    digits = sum(ch.isdigit() for ch in plain)
    if "@" in plain or (_PHONE_ID.match(plain) and 9 <= digits <= 13):
        masked = mask_personal(shown)
        return masked if masked != shown else "＊＊＊"
    return shown


_CSS = """
body{font-family:"Noto Sans CJK JP","Hiragino Sans","Yu Gothic",Meiryo,sans-serif;margin:24px;color:#222;
background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #eee;padding-bottom:4px}
.meta{color:#555;font-size:13px} .kpis{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.kpi b{display:block;font-size:20px} .kpi span{font-size:12px;color:#555}
.chart{width:100%;max-width:900px;height:auto;display:block}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5} td.n{text-align:right} .flag{color:#c0392b;font-weight:bold}
.note{font-size:12px;color:#666}
"""


def build_report(
    scored: str | os.PathLike[str],
    *,
    date_col: str | None = None,
    channel_col: str | None = None,
    topic_col: str | None = None,
    sender_col: str | None = None,
    id_col: str | None = None,
    text_col: str | None = None,
    title: str = "苦情・カスタマーハラスメント 集計レポート",
    max_review: int = 200,
    max_grave: int = 20,
    top_phrases: int = 8,
    max_senders: int = 50,
    max_topics: int = 20,
    sender_key_file: str | os.PathLike[str] | None = None,
    generated: datetime | None = None,
) -> tuple[str, ReportStats]:
    """Build the HTML report of a scored file; return ``(html, stats)``.

    Columns not given are looked for under usual names (``date``, ``channel``,
    ``topic``/``department``, ``sender_id``/``sender``/``from``, ``id``/``受付番号``
    before ``message_id``, ``text``); sections whose column is absent say so.

    Raises
    ------
    UnscoredFileError
        The file has no ``verdict`` (a raw input, or the per-sender summary of a batch run).
        Also a file that holds no records (empty, or a header only).
    InputFormatError
        A column given by name is not in the file, or the file cannot be read, or it is a pipe,
        a device or a socket (read at once from a file instead).
    """
    from itertools import chain, islice

    path = Path(scored)
    _check_regular(path, str(path), reader="report")  # (a pipe would wait for ever at its second opening)
    rows = iter_scored(path)
    first = next(rows, None)
    if first is not None:
        _check_scored(path, first)
    sample = [first, *islice(rows, _DATE_SAMPLE - 1)] if first is not None else []  # (to check the date column)
    notes: list[str] = []
    cols: dict[str, str | None] = {}
    month_v: Counter[tuple[str, str]] = Counter()
    chan_v: Counter[tuple[str, str]] = Counter()
    topic_v: Counter[tuple[str, str]] = Counter()
    cats: Counter[str] = Counter()
    phrases: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    review: list[tuple[Any, ...]] = []  # a heap of the most severe max_review: (severity, -n, entry)
    grave: list[tuple[Any, ...]] = []  # likewise for the max_grave most severe police / remove_or_ban records
    n_grave = 0
    n = n_scored = n_err = n_review = 0
    undated = 0
    versions: Counter[str] = Counter()
    agg: SenderAggregator | None = None
    first_date: datetime | None = None
    last_date: datetime | None = None
    masked_labels: dict[str, str] = {}  # a channel or department as written -> as shown (masked), each once

    def label(value: object) -> str:
        """A channel or department as the charts and tables show it: :func:`_group_label`, masked as an
        excerpt is (a cell may name the staff member or hold a phone number: 「保育課 鈴木 090-…」)."""
        raw = _group_label(value)
        shown = masked_labels.get(raw)
        if shown is None:
            shown = masked_labels[raw] = raw if raw == _NO_GROUP or _code_label(raw) else mask_personal(raw)
        return shown

    def cell_label(value: object) -> str:
        """:func:`label` for a table cell, empty for an empty cell."""
        return "" if _blank_value(value) else label(value)

    for row in chain(sample, rows):
        if not cols:
            keys = list(row)
            cols = {k: _pick(keys, g, k) for k, g in (("channel", channel_col), ("topic", topic_col),
                                                     ("sender", sender_col), ("id", id_col), ("text", text_col))}
            cols["date"], date_note = _pick_date(keys, date_col, sample)
            if date_note:
                notes.append(date_note)
            if cols["sender"] is not None:
                agg = SenderAggregator(key=load_sender_key(sender_key_file, notes=notes),
                                       dated=cols["date"] is not None)
                if cols["date"] is None:
                    notes.append("no date column found: the sender table has no 7-day runs or first/last dates (shown "
                                 "as —); pass --date-column with the column batch was given as --date-column")
        n += 1
        err = row.get("error")
        verdict = "error" if err else (row.get("verdict") or "error")
        if err:
            n_err += 1
        else:
            n_scored += 1
        if row.get("model_version"):
            versions[row["model_version"]] += 1
        when = parse_date(row.get(cols["date"])) if cols["date"] else None
        if when is not None:
            month_v[(when.strftime("%Y-%m"), verdict)] += 1
            first_date = when if first_date is None or when < first_date else first_date
            last_date = when if last_date is None or when > last_date else last_date
        else:
            undated += 1
        if cols["channel"]:
            chan_v[(label(row.get(cols["channel"])), verdict)] += 1
        if cols["topic"]:
            topic_v[(label(row.get(cols["topic"])), verdict)] += 1
        if verdict == "harassment":
            cats.update(row.get("categories") or [])
        evidence = [ev for ev in row.get("evidence") or []
                    if isinstance(ev, dict) and ev.get("category") in phrases and ev.get("text")]
        if evidence:
            for cat, phrase in _evidence_phrases(evidence, row.get(cols["text"]) if cols["text"] else None):
                phrases[cat][phrase] += 1
        queued = bool(row.get("review")) and not err
        is_grave = verdict == "harassment" and row.get("action") in _GRAVE_ACTIONS
        n_review += queued
        n_grave += is_grave
        if queued or is_grave:
            p = (row.get("scores") or {}).get("harassment")
            key = (_severity(row.get("action"), p, when), -n)  # (ties: the earlier record first)
            for heap, limit, wanted in ((review, max_review, queued), (grave, max_grave, is_grave)):
                if wanted and limit and (len(heap) < limit or key > heap[0][:2]):
                    entry = (*key, {
                        "id": (_record_id(row.get(cols["id"]), is_sender=cols["id"] == cols["sender"], agg=agg)
                               if cols["id"] else str(n)),
                        "date": when.strftime("%Y-%m-%d %H:%M") if when else "",
                        "channel": cell_label(row.get(cols["channel"])) if cols["channel"] else "",
                        "topic": cell_label(row.get(cols["topic"])) if cols["topic"] else "",
                        "verdict": verdict,
                        "p": p,
                        "categories": row.get("categories") or [],
                        "action": row.get("action") or "",
                        "excerpt": _excerpt(row.get(cols["text"])) if cols["text"] else "",
                    })
                    (heapq.heappush if len(heap) < limit else heapq.heapreplace)(heap, entry)
        if agg is not None:
            agg.add(row.get(cols["sender"]), when=when, text=row.get(cols["text"]) if cols["text"] else None,
                    verdict=None if err else verdict, categories=row.get("categories") or (),
                    grievance=row.get("grievance"), quotes_reply=row.get("quotes_reply", False))

    if n == 0:
        raise UnscoredFileError(
            f"{path.name} holds no records (it is empty or has only a header row): nothing to report. Pass the "
            "scored records file that `complaint-triage batch -o` or `score -o` wrote")

    # ---- charts
    months, filled = _months({m for m, _ in month_v})  # (months without records: zeros)
    month_chart = svg_stacked_columns(months, {s: [month_v[(m, s)] for m in months] for s in _SERIES},
                                      title="月別件数")
    shares: dict[str, list[float | None]] = {"complaint": [], "harassment": []}
    for m in months:
        tot = sum(month_v[(m, s)] for s in VERDICTS)
        for s in shares:
            shares[s].append(month_v[(m, s)] / tot if tot else None)
    share_chart = svg_lines(months, shares, title="苦情とカスハラの割合")

    def grouped(counter: Counter[tuple[str, str]], limit: int) -> list[tuple[str, dict[str, int]]]:
        per: dict[str, dict[str, int]] = {}
        for (k, s), v in counter.items():
            per.setdefault(k, {})[s] = per.setdefault(k, {}).get(s, 0) + v
        ordered = sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        if len(ordered) > limit:
            rest: dict[str, int] = {}
            for _, d in ordered[limit:]:
                for s, v in d.items():
                    rest[s] = rest.get(s, 0) + v
            ordered = ordered[:limit] + [(f"その他 ({len(ordered) - limit})", rest)]
        return ordered

    chan_chart = (svg_stacked_bars(grouped(chan_v, 15), list(_SERIES), title="チャネル別")
                  if cols.get("channel") else _empty_svg("チャネル列なし (no channel column)"))
    topic_chart = (svg_stacked_bars(grouped(topic_v, max_topics), list(_SERIES), title="所管・分野別")
                   if cols.get("topic") else _empty_svg("所管・分野列なし (no topic/department column)"))
    cat_rows = [(f"{_CATEGORY_JA[c]} ({c})", {"category": cats[c]}) for c in sorted(CATEGORIES, key=lambda c: -cats[c])
                if cats[c]]
    cat_chart = svg_stacked_bars(cat_rows, ["category"], title="カスハラ類型別")

    # ---- tables
    def table(head: list[str], body: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
        if not body:
            return '<p class="note">該当なし (none)</p>'
        th = "".join(f"<th>{_e(h)}</th>" for h in head)
        trs = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>' for i, c in enumerate(r))
                      + "</tr>" for r in body)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"

    def queue_table(heap: list[tuple[Any, ...]]) -> str:
        entries = [e[-1] for e in sorted(heap, reverse=True)]  # most severe first
        return table(
            ["ID", "日時", "チャネル", "所管", "判定", "p(カスハラ)", "類型", "対応", "本文 (抜粋・自動マスク)"],
            [[_e(r["id"]), _e(r["date"]), _e(r["channel"]), _e(r["topic"]),
              _e(_VERDICT_JA.get(r["verdict"], r["verdict"])), f'{r["p"]:.2f}' if isinstance(r["p"], float) else "",
              _e(", ".join(r["categories"])), _e(r["action"]), _e(r["excerpt"])] for r in entries],
            frozenset({5}),
        )

    review_tbl = queue_table(review)
    grave_tbl = queue_table(grave)
    phrase_blocks = []
    for c in CATEGORIES:
        top = phrases[c].most_common(top_phrases)
        if not top:
            continue
        items = "".join(f"<li>「{_e(p)}」 <span class=note>×{k:,}</span></li>" for p, k in top)
        phrase_blocks.append(f"<div><h3 style='font-size:14px'>{_e(_CATEGORY_JA[c])} ({_e(c)})</h3>"
                             f"<ol>{items}</ol></div>")
    sender_rows = agg.rows() if agg is not None else []
    flagged = sum(s["repetition"] for s in sender_rows)
    shown_senders = _shown_senders(sender_rows, max_senders, flagged)
    sender_tbl = table(
        ["送信者 (仮名ID)", "件数", "初回", "最終", "カスハラ", "類型", "7日内最多", "繰返し", "繰返しフラグ"],
        [[_e(s["sender_id"]), f'{s["contacts"]:,}', _e((s["first_date"] or "—")[:10]), _e((s["last_date"] or "—")[:10]),
          f'{s["harassment_count"]:,}', _e(", ".join(s["harassment_categories"])),
          "—" if s["longest_run_7d"] is None else f'{s["longest_run_7d"]:,}',
          f'{s["repeat_count"]:,}', '<span class="flag">⚑ 繰返し</span>' if s["repetition"] else ""]
         for s in shown_senders],
        frozenset({1, 4, 6, 7}),
    ) if agg is not None else '<p class="note">送信者列なし (no sender column)</p>'

    gen = (generated or datetime.now()).strftime("%Y-%m-%d %H:%M")
    period = (f"{first_date:%Y-%m-%d} – {last_date:%Y-%m-%d}" if first_date and last_date else "—")
    kpi = [("件数 messages", f"{n:,}"), ("判定済 scored", f"{n_scored:,}"), ("エラー errors", f"{n_err:,}"),
           ("要確認 review", f"{n_review:,}"), ("期間 period", period)]
    no_month = _empty_svg("日付列なし (no date column)" if not cols.get("date") else "日付なし (no dates)")
    shown = f", 重大な順に先頭 {len(review):,} 件を表示" if n_review > len(review) else ""
    grave_shown = f", 先頭 {len(grave):,} 件を表示" if n_grave > len(grave) else ""
    no_sender = agg.no_sender if agg is not None else 0
    top_senders = f": {len(shown_senders):,} / {len(sender_rows):,}" if sender_rows else ""
    left_out = len(sender_rows) - len(shown_senders)
    sender_count = (
        f'<p class="meta">送信者 {len(sender_rows):,} 人 (繰返しフラグ {flagged:,} 人)。'
        + (f"表はカスハラ件数の多い順に {len(shown_senders):,} 人を表示し、{left_out:,} 人を省略 "
           "(フラグのある送信者は常に表示)。" if left_out else "")
        + f" ({len(sender_rows):,} senders ({flagged:,} with repetition)"
        + (f"; the table leaves out {left_out:,}, never a flagged one" if left_out else "") + ")"
        + (f" 送信者のない記録 {no_sender:,} 件 (空欄・非通知・匿名など) は表に含みません "
           f"({no_sender:,} records without a sender are not in the table)." if no_sender else "")
        + (f" 日付列 {cols['date']}。" if cols.get("date") else " 日付列がないため7日内最多・初回・最終は — です。")
        + "</p>"
    ) if sender_rows else ""
    kpis = "".join(f"<div class=kpi><b>{_e(v)}</b><span>{_e(k)}</span></div>" for k, v in kpi)
    doc = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">ファイル {_e(path.name)} ・ 作成 {_e(gen)} ・ モデル {_e(", ".join(versions) or "—")}
 ・ 個人情報は自動マスク (personal data masked by pattern; sender ids are pseudonyms)</p>
<p class="note">マスク対象: 本文の抜粋・根拠表現・チャネル名・所管名の
メールアドレス・電話番号・郵便番号・番地・部屋番号・5桁以上の番号とマイナンバー等の番号・生年月日、
敬称 (様・さん・氏など) や「の自宅」「の家」が付いた氏名、「氏名」「名前」の後や「と申します」の前の氏名、
辞書にある姓 (と続く名)。
ひらがな書きや辞書にない氏名で目印のないもの、年齢、生年月日以外の日付などは残ることがあります。
受付番号などの記録IDはそのまま表示します。
(Masked in excerpts, evidence, and channel and department names: e-mail addresses, phone numbers, postal codes,
street and room numbers, numbers of 5+ digits and grouped numbers such as My Number, birth dates, names marked by
an honorific, の自宅/の家, 氏名/名前 or と申します, and family names the dictionary knows. Unmarked names in hiragana
or unknown to the dictionary, ages and other dates may remain. Record ids are shown as they are.)</p>
<div class="kpis">{kpis}</div>
<h2>月別件数 (messages per month, by verdict)</h2>
{month_chart if months else no_month}
{f'<p class="note">日付のない {undated:,} 件は月別に含まれません。</p>' if undated and months else ''}
{'' if filled else '<p class="note">日付の範囲が広いため、件数のない月は省略しています。</p>'}
<h2>苦情とカスハラの割合の推移 (share of complaints and harassment per month)</h2>
{share_chart if months else _empty_svg()}
<div class="grid">
<div><h2>チャネル別 (by channel)</h2>{chan_chart}</div>
<div><h2>所管・分野別 (by topic / department)</h2>{topic_chart}</div>
</div>
<h2>カスハラ類型別 (harassment by category)</h2>
{cat_chart}
<h2>最重大: 警察対応・削除/出入禁止が推奨されるカスハラ (most severe: harassment calling for the police or a
removal/ban: {n_grave:,} 件{grave_shown})</h2>
<p class="note">要確認フラグの有無にかかわらず表示。対応の重さ、カスハラ確率、日付の古い順。</p>
{grave_tbl}
<h2>要確認キュー (review queue: {n_review:,} 件{shown})</h2>
<p class="note">対応の重さ (警察対応が最上位)、カスハラ確率、日付の古い順
(most severe first; the cut keeps the most severe).</p>
{review_tbl}
<h2>類型別の主な根拠表現 (top evidence phrases per category)</h2>
<div class="grid">{"".join(phrase_blocks) or '<p class="note">該当なし (none)</p>'}</div>
<h2>送信者別 (per sender{top_senders})</h2>
{sender_count}
<p class="note">{html.escape(_REPETITION_NOTE)}</p>
{sender_tbl}
</body></html>
"""
    stats = ReportStats(rows=n, scored=n_scored, errors=n_err, review=n_review, months=len(months),
                        senders=len(sender_rows), columns=cols, repetition_senders=flagged, warnings=notes)
    return doc, stats


def _check_output(scored: Path, out: Path) -> Path:
    """Refuse an output that would overwrite the scored file or is a folder; return the temporary file."""
    tmp = _partial(out)
    if _same_file(scored, out):
        raise ReportOutputError(
            f"the output {out} is the scored file {scored}: writing the report would overwrite the scored records; "
            "give another output with -o, e.g. -o report.html")
    if _same_file(scored, tmp):
        raise ReportOutputError(
            f"the scored file {scored} is the temporary file the report is first written to ({tmp}), which would "
            "overwrite it; give another output with -o, e.g. -o report.html")
    if out.is_dir():
        raise ReportOutputError(
            f"the output {out} is a folder: give the report a file name with -o, e.g. -o {out / 'report.html'}")
    if tmp.is_dir():
        raise ReportOutputError(
            f"{tmp} is a folder, where the report is first written before it is renamed to {out}: "
            "remove or rename that folder, or give another output with -o")
    return tmp


def write_report(scored: str | os.PathLike[str], output: str | os.PathLike[str], **kwargs: Any) -> ReportStats:
    """Write the report of ``scored`` to ``output`` (atomically); see :func:`build_report`.

    The output is written to ``<output>.partial`` and renamed into place; on any failure
    that file is removed, so ``output`` is either the whole report or as it was.

    Raises
    ------
    ReportOutputError
        Before anything is read: ``output`` (or ``<output>.partial``) is ``scored`` itself
        (also through a symbolic or hard link), or is a folder.
    UnscoredFileError, InputFormatError
        As :func:`build_report`.
    """
    src, out = Path(scored), Path(output)
    tmp = _check_output(src, out)
    doc, stats = build_report(src, **kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.write_text(doc, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return stats
