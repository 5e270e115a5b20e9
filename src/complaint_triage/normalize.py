"""Text normalisation: width, invisible characters, whitespace, contact details, runs and
de-obfuscation, with an offset map.

:func:`normalize_text` is the fast path used for features.  :func:`normalize_with_map`
returns the same string plus, for every normalised character, the span of the original
text it came from, so that evidence found in normalised text can be shown in the
original.  Both are pure and idempotent: ``normalize_text(normalize_text(t)) ==
normalize_text(t)``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable

__all__ = ["COMBINING_MARKS", "INVISIBLE_RANGES", "NormalizedText", "class_of", "fold_spaces", "normalize_text",
           "normalize_with_map"]

_Repl = str | Callable[[re.Match[str]], str]

# Characters people put between the letters of an insult to dodge filters.
_SEP = r"[ \.・,_\-\*\+/|]"

# Canonical word -> spelled forms (after NFKC).  Letters may be split by separators.
_SPLIT_WORDS: dict[str, tuple[str, ...]] = {
    "死ね": ("死ね", "しね", "シネ"),
    "殺す": ("殺す", "ころす", "コロス"),
    "殺すぞ": ("殺すぞ", "ころすぞ", "コロスゾ"),
    "刺すぞ": ("刺すぞ", "さすぞ", "サスゾ"),
    "消えろ": ("消えろ", "きえろ", "キエロ"),
    "クズ": ("クズ", "くず"),
    "カス": ("カス",),
    "バカ": ("バカ", "ばか", "馬鹿"),
    "無能": ("無能",),
    "税金泥棒": ("税金泥棒", "税金ドロボー", "税金どろぼう", "税金ドロボウ"),
}


def _split_pattern(word: str) -> str:
    # at least one separator somewhere between the letters
    parts = [re.escape(ch) for ch in word]
    return parts[0] + "".join(f"{_SEP}{{0,2}}{p}" for p in parts[1:])


# Spellings that are themselves disguises and are rewritten even when not split.
_DISGUISES = frozenset({"税金ドロボー", "税金どろぼう", "税金ドロボウ"})


def _make_joiner(canon: str, form: str) -> Callable[[re.Match[str]], str]:
    def join(m: re.Match[str]) -> str:
        # Plain forms such as しね or くず are ordinary text (少しね); only split ones count.
        split = len(m.group(0)) > len(form)
        return canon if (split or form in _DISGUISES) else m.group(0)

    return join


_SPLIT_RULES: list[tuple[re.Pattern[str], _Repl]] = [
    (re.compile(_split_pattern(form)), _make_joiner(canon, form))
    for canon, forms in _SPLIT_WORDS.items()
    for form in forms
]

_KANJI = r"\u4e00-\u9fff\u3400-\u4dbf々"
_KATA = r"\u30a1-\u30fa\u30fc"

#: しね that can only be 死ね: after the start of the text, a separator or a word that names the
#: target of a curse (全員, お前ら, 職員 …), and before the end, a separator, ばいい, よ, や or another
#: しね.  The pattern starts with the literal and looks back from there: a pattern that starts with
#: look-behinds is tried at every position of every text (normalising took 3x as long).
_CURSE_BEFORE = ("全員", "みんな", "みな", "ども", "たち", "達", "お前", "おまえ", "前ら", "つら", "職員", "役人",
                 "公務員", "さっさと", "とっとと", "はよ", "早く", "まじで", "しね")
_CURSE_SHINE = (
    "しね(?:(?<=^しね)|(?<=[\\s、。!?,.w]しね)|"
    + "|".join(f"(?<={w}しね)" for w in _CURSE_BEFORE)
    + ")(?=[\\s、。!?,.w]|\\W*$|ばいい|ばええ|よ|や|しね)"
)

#: Code points that show nothing: controls, blanks, format characters (zero-width space and
#: joiners, word joiner, soft hyphen, byte-order mark, direction marks, tags), fillers (Hangul
#: fillers, the blank Braille pattern) and variation selectors.  The one list of them:
#: :func:`complaint_triage.results.has_visible` uses it too.
INVISIBLE_RANGES = (
    (0x00, 0x20), (0x7F, 0xA0), (0xAD, 0xAD), (0x34F, 0x34F), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
    (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x115F, 0x1160), (0x1680, 0x1680), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x206F), (0x2800, 0x2800),
    (0x3000, 0x3000), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)


def class_of(codes: list[int]) -> str:
    """A regex class body for ``codes`` (sorted), as ranges."""
    out, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        out.append(f"\\U{codes[i]:08x}" + (f"-\\U{codes[j]:08x}" if j > i else ""))
        i = j + 1
    return "".join(out)


#: the combining marks (Mn, Me) of the Basic Multilingual Plane (found once, at import: about 5 ms)
COMBINING_MARKS = tuple(c for c in range(0x300, 0x10000)
                        if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) in ("Mn", "Me"))
#: What the normaliser removes, put between the letters of a word to hide it from a filter
#: (「殺\u200bすぞ」, 「死\ufe0fね」, 「バ\u0301カ」, a NUL, which also ends MeCab's input): the invisible
#: characters above that are not whitespace (the whitespace rule has those), and the combining
#: marks of the Basic Multilingual Plane that NFKC left uncomposed (a mark has no base of its own
#: to show).  Not the enclosing keycap U+20E3 (1️⃣ stays 1⃣).  Intended side effects: emoji joined
#: by ZWJ come apart, and kaomoji lose their ﾟ (a combining mark once NFKC has made it one).
#: Removed, unless the characters on either side would then compose (Hangul jamo): the text stays
#: NFKC, and normalising stays idempotent.
_REMOVED_CODES = sorted(
    {c for lo, hi in INVISIBLE_RANGES for c in range(lo, hi + 1) if not chr(c).isspace()}
    | {c for c in COMBINING_MARKS if c != 0x20E3}
)
_INVISIBLE = re.compile(f"[{class_of(_REMOVED_CODES)}]+")
#: the precheck: the characters of the Basic Multilingual Plane, and one range for every astral
#: one from the first (a class of many astral ranges is scanned range by range, three times as long)
_ANY_INVISIBLE = re.compile(f"[{class_of([c for c in _REMOVED_CODES if c < 0x10000])}"
                            f"\\U{min(c for c in _REMOVED_CODES if c >= 0x10000):08x}-\\U{0xE0FFF:08x}]")


def _any_invisible(s: str) -> bool:
    return _ANY_INVISIBLE.search(s) is not None


def _drop_invisible(m: re.Match[str]) -> str:
    s, a, b = m.string, m.start(), m.end()
    if a and b < len(s) and not unicodedata.is_normalized("NFKC", s[a - 1] + s[b]):
        return m.group()  # the neighbours would compose: keep the text as NFKC made it
    return ""


#: The sender's contact details become one placeholder character each: a telephone number ☎, an
#: e-mail address ✉, a postcode ⌂ (a placeholder that shares no character with what it replaces,
#: so the map sends it back to the whole contact).  Their digits and letters are a dozen character
#: n-grams that say nothing about the message, yet they diluted everything else in it: an
#: acceptance tester found that a phone number and an address in front of 「殺すぞ」 lost its threat
#: (0.94 → 0.25).  Masked forms (0**-****-****, t***@example.jp, as the API and the form route mask
#: them) count.  The telephone and postcode patterns start with their literal (0, (, + or 〒), so the
#: regex engine skips to it; the e-mail rule runs only on a text with an @ in it.
_D = r"[\d*]"
#: separators people type in a phone number: hyphens and dashes, a dot, a space, and the long-vowel
#: mark an IME gives for a hyphen (any run of it: a run rule later shortens ーー, and a match that
#: needed the shorter run would make normalising not idempotent)
_TEL_SEP = "(?:[-‐−–—―. ]|ー+)"
_TEL = re.compile(
    rf"(?:\((?<!{_D}\()0{_D}{{1,4}}\) ?{_D}{{1,4}}{_TEL_SEP}{_D}{{3,4}}"
    rf"|0(?<!{_D}0){_D}{{1,4}}(?:{_TEL_SEP}|\(){_D}{{1,4}}(?:{_TEL_SEP}|\)){_D}{{3,4}}"
    rf"|0(?<!{_D}0){_D}{{9,10}}"
    rf"|\+(?<!{_D}\+)81{_TEL_SEP}?(?:\(0\))?{_D}{{1,4}}{_TEL_SEP}?{_D}{{1,4}}{_TEL_SEP}?{_D}{{3,4}})(?!{_D})"
)


def _telephone(m: re.Match[str]) -> str:
    """☎ for a Japanese telephone number: ten or eleven digits from a 0 (not 00, which begins no
    number here: 受付番号0012345678), or nine or ten after +81; else the text as it was (a date
    such as 01-02-2025 has the shape but eight digits)."""
    text = m.group()
    digits = sum(ch.isdigit() or ch == "*" for ch in text)
    if text.startswith("+"):
        national = digits - 2 - text.count("(0)")
        return "☎" if 9 <= national <= 10 else text
    first = text.lstrip("(")
    return "☎" if digits in (10, 11) and not first.startswith("00") else text


#: (the local part is taken whole and possessively, from its first character: a long run of
#: letters before an @ costs one pass, not one per position)
_MAIL = re.compile(r"(?<![a-z0-9._%+*-])[a-z0-9._%+*-]++@[a-z0-9*-]+(?:\.[a-z0-9*-]+)+")
_POSTCODE = re.compile(rf"〒 ?{_D}{{3}}(?:{_TEL_SEP})?{_D}{{4}}(?!{_D})")

#: The rules, in order, by group: each group is skipped when its precheck shows that none of its
#: rules can change the text (a rule can only change the text, and so enable a later rule, by
#: matching).
_INVISIBLE_RULES: list[tuple[re.Pattern[str], _Repl]] = [
    # invisible characters (before the whitespace rules: 「殺\u200b す」 is then 「殺 す」)
    (_INVISIBLE, _drop_invisible),
]
_WHITESPACE_RULES: list[tuple[re.Pattern[str], _Repl]] = [
    # whitespace (NFKC already turned the ideographic space into a plain one)
    # (a lone space is left alone: replacing it by itself would change neither text nor map)
    (re.compile(r"\s{2,}|[^\S ]"), " "),
    (re.compile(r"^ | $"), ""),
]
_CONTACT_RULES: list[tuple[re.Pattern[str], _Repl]] = [(_MAIL, "✉"), (_POSTCODE, "⌂"), (_TEL, _telephone)]
#: the e-mail and postcode rules run only when their literal is in the text (a substring test is
#: cheaper than their scans); the telephone rule always runs: its own scan is the cheapest test for
#: it, and a search before it would scan every text with a number twice
_CONTACT_PRECHECKS: tuple[Callable[[str], object], ...] = (
    lambda s: "@" in s, lambda s: "〒" in s, lambda s: True,
)
_RUN_RULES: list[tuple[re.Pattern[str], _Repl]] = [
    # runs of long-vowel marks and punctuation
    (re.compile(r"ー{2,}"), "ー"),
    (re.compile(r"[~〜]{2,}"), "~"),
    (re.compile(r"!{2,}"), "!"),
    (re.compile(r"\?{2,}"), "?"),
    (re.compile(r"(?:!\?|\?!){2,}"), "!?"),
    (re.compile(r"。{2,}"), "。"),
    (re.compile(r"、{2,}"), "、"),
    (re.compile(r"\.{4,}"), "..."),
    (re.compile(r"w{3,}"), "ww"),
    (re.compile(r"笑{2,}"), "笑"),
]
_OBFUSCATION_RULES: list[tuple[re.Pattern[str], _Repl]] = [
    # obfuscated 死ね / 死んで: 氏ね 市ね 氏んで 4ね ﾀﾋね ○ね ｼﾈ shine
    (re.compile(rf"(?<![{_KANJI}0-9])(?:氏|市)ね(?![{_KANJI}])"), "死ね"),
    # 氏んで / 氏んだら / 氏んじまえ (not 田中氏んち: a name before it)
    (re.compile(rf"(?<![{_KANJI}0-9])氏ん(?=で|だ|じ)"), "死ん"),
    (re.compile(r"(?<![0-9])4ね(?![a-z0-9ぁ-ゖ])"), "死ね"),
    (re.compile(r"タヒ(?=[ねんぬにのでだ])"), "死"),
    (re.compile(r"(?<![^\s!?。、,.])[○〇◯●x×]ね(?![ぁ-ゖ])"), "死ね"),
    (re.compile(rf"(?<![{_KATA}])シネ(?![{_KATA}])"), "死ね"),
    (re.compile(r"(?<![a-z])shine(?![a-z])"), "死ね"),
    # obfuscated 殺す: コ○ス こ○す 殺○
    (re.compile(r"[コこ][○〇◯●x×\*][スす]"), "殺す"),
    (re.compile(rf"(?<![{_KATA}])キエロ(?![{_KATA}])"), "消えろ"),
    (re.compile(r"無脳"), "無能"),
    # しね as the curse: a whole message (and punctuation or emoji), or in running text where only
    # the curse fits (「職員全員しね」「お前らみんなしねばいい」「しねしねしね」); elsewhere the plain form is
    # an ordinary word (少しね) or a dialect negative (そんなことしね, しねえ)
    (re.compile(_CURSE_SHINE), "死ね"),
    # a whole message that is only ころす: in running text it may be an ordinary word
    (re.compile(r"^ころす(?=\W*$)"), "殺す"),
    *_SPLIT_RULES,
]
_RULES = [*_INVISIBLE_RULES, *_WHITESPACE_RULES, *_CONTACT_RULES, *_RUN_RULES, *_OBFUSCATION_RULES]

# Prechecks: each group of rules is skipped when its precheck shows that no rule of the group
# can change the text (a rule can only change the text, and so enable a later rule, by matching).
#: (the run rules' precheck is plain substrings, which str's fast search finds much sooner
#: than the regex engine scans a text; a test checks that every run rule's match contains one)
_RUN_LITERALS = ("ーー", "~~", "~〜", "〜~", "〜〜", "!!", "??", "!?!", "?!?", "。。", "、、", "....", "www", "笑笑")


#: one search for any of them (an alternation of literals: the regex engine skips to their
#: first characters; 1.5 against 3.9 µs per corpus text for fourteen substring tests)
_ANY_RUN = re.compile("|".join(map(re.escape, _RUN_LITERALS)))


def _any_run(s: str) -> bool:
    return _ANY_RUN.search(s) is not None


# The obfuscation rules change a text only where a disguise is spelled out (氏ね, ｺ○ｽ, 無脳,
# 税金ドロボー) or where a letter of a split word is followed by a separator (死 ね, 殺.す): a
# split rule's match without a separator is the plain word, left as it is.  So the precheck
# looks for those, not for the plain words themselves (無能, バカ, 殺す are common in
# harassment and would send most of it through every rule for nothing).
_SPLIT_LETTERS = "".join(sorted({ch for forms in _SPLIT_WORDS.values() for form in forms for ch in form[:-1]}))
_ANY_OBFUSCATION = re.compile(
    r"[氏市4○〇◯●x×]ね|氏ん|タヒ|シネ|shine|[コこ][○〇◯●x×\*][スす]|キエロ|無脳|^ころす(?=\W*$)|"
    + _CURSE_SHINE + "|"
    + "|".join(map(re.escape, sorted(_DISGUISES)))
    + f"|[{re.escape(_SPLIT_LETTERS)}]{_SEP}"
)

_ASCII_UPPER = {i: i + 32 for i in range(ord("A"), ord("Z") + 1)}


#: One rewrite step of :func:`normalize_with_map`: for every match, in order,
#: ``(a, b, o, rep_len, pre, suf)``: the match ``[a, b)`` of the step's input became
#: ``rep_len`` characters at ``o`` of its output, of which the first ``pre`` and the last
#: ``suf`` are the match's own characters kept in place; plus the length of the input.
_Layer = tuple[list[int], list[tuple[int, int, int, int, int, int]], int]


class NormalizedText:
    """A normalised string and, per character, the original span it came from.

    The map is kept as the per-character NFKC map plus the edits of each later rewrite step,
    and an offset is traced back through them when asked (:meth:`to_original`), which is much
    cheaper than rewriting per-character lists at every step when only a few spans are shown.
    :attr:`starts` and :attr:`ends` give the whole map.
    """

    __slots__ = ("text", "_base", "_layers")

    def __init__(self, text: str, base: tuple[list[int], list[int]] | None, layers: list[_Layer]) -> None:
        # (set past the immutability guard below: its check costs ~5 µs per object, a tenth of the map)
        setattr_ = object.__setattr__
        setattr_(self, "text", text)
        setattr_(self, "_base", base)  # None: character i of the NFKC text is character i of the original
        setattr_(self, "_layers", layers)

    def _trace(self, i: int, end: bool) -> int:
        """Original offset of position ``i`` of :attr:`text`: its start, or (``end``) its end."""
        for outs, edits, n_in in reversed(self._layers):
            x = bisect.bisect_right(outs, i) - 1
            if x < 0:
                continue  # before the first edit: copied as it was
            a, b, o, rep_len, pre, suf = edits[x]
            r = i - o
            if r >= rep_len:  # between this edit and the next: copied
                i = b + r - rep_len
            elif r < pre:
                i = a + r
            elif r >= rep_len - suf:
                i = b - (rep_len - r)
            elif a + pre < b - suf:  # new characters span what is left of the match
                i = a + pre if not end else b - suf - 1
            elif a + pre < n_in:  # nothing left of the match: anchor on the next character's start
                i, end = a + pre, False
            elif a + pre:  # or on the previous character's end
                i, end = a + pre - 1, True
            else:
                return 0
        if self._base is None:
            return i + 1 if end else i
        return self._base[1][i] if end else self._base[0][i]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span ``[start, end)`` of :attr:`text` to a span of the original text."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) is outside the normalised text")
        return self._trace(start, False), self._trace(end - 1, True)

    @property
    def starts(self) -> tuple[int, ...]:
        """For every character of :attr:`text`, the start of its original span."""
        return tuple(self._trace(i, False) for i in range(len(self.text)))

    @property
    def ends(self) -> tuple[int, ...]:
        """For every character of :attr:`text`, the end of its original span."""
        return tuple(self._trace(i, True) for i in range(len(self.text)))

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, name):  # set once, in __init__
            raise AttributeError(f"NormalizedText is immutable: cannot set {name!r}")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalizedText):
            return NotImplemented
        return (self.text, self.starts, self.ends) == (other.text, other.starts, other.ends)

    def __hash__(self) -> int:
        return hash((self.text, self.starts, self.ends))

    def __repr__(self) -> str:
        return f"NormalizedText(text={self.text!r}, starts={self.starts!r}, ends={self.ends!r})"


def fold_spaces(text: str) -> str:
    """NFKC, and whitespace runs as one space with none at either end: the same message after a
    spreadsheet or a mail client has touched it (CRLF, a full-width space, a trailing blank).
    Not :func:`normalize_text`: no case folding and no undoing of disguises."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


_HAS_ASCII_UPPER = re.compile(r"[A-Z]")

# Characters that NFKC leaves as they are, one at a time (a test checks every one): ASCII,
# 、。「」『』, hiragana, katakana, the long-vowel mark and the CJK unified ideographs.  Most
# of a Japanese message is made of them; only the runs of other characters need NFKC.
_NFKC_STABLE = "\x00-\x7f\u3001\u3002\u300c-\u300f\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff"
_NFKC_MAY_CHANGE = re.compile(f"[^{_NFKC_STABLE}]+")


def _nfkc_run(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", m.group())


def _nfkc_exact(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, computed on the runs of characters that may change.

    NFKC(x + y) == NFKC(NFKC(x) + NFKC(y)) for any split, so when the pieces normalised one at
    a time join into a string that is already in NFKC (nothing composes or reorders across a
    seam, as with ｶ + ﾞ), that string is the NFKC of the whole; otherwise the whole is normalised.
    """
    if unicodedata.is_normalized("NFKC", text):  # (a quick check in C; true for many messages)
        return text
    pieces = _NFKC_MAY_CHANGE.sub(_nfkc_run, text)
    if unicodedata.is_normalized("NFKC", pieces):
        return pieces
    return unicodedata.normalize("NFKC", text)


def _lower_ascii(s: str) -> str:
    return s.translate(_ASCII_UPPER) if _HAS_ASCII_UPPER.search(s) else s


def _nfkc(text: str) -> str:
    return _lower_ascii(_nfkc_exact(text))


def normalize_text(text: str) -> str:
    """Return the normalised form of ``text`` used by every feature.

    NFKC (full/half width), ASCII lower case, invisible and control characters and stray
    combining marks removed (殺\u200bすぞ → 殺すぞ), whitespace collapsed, the sender's contact
    details made one placeholder each (a telephone number ☎, an e-mail address ✉, a postcode
    ⌂), runs of ー ! ? 。 shortened, and common disguises of insults and threats undone (氏ね,
    4ね, ﾀﾋね, し ね, コ○ス, 殺.す …).

    >>> normalize_text("ﾀﾋね！！！　ｶｽ")
    '死ね! カス'
    >>> normalize_text("TEL 03-1234-5678 殺\u200bすぞ")
    'tel ☎ 殺すぞ'
    """
    s = _nfkc(text)
    if _any_invisible(s):
        s = _INVISIBLE.sub(_drop_invisible, s)
    # str.split() and re's \s agree on what whitespace is: collapse runs, strip both ends
    s = " ".join(s.split())
    for precheck, (pattern, repl) in zip(_CONTACT_PRECHECKS, _CONTACT_RULES, strict=True):
        if precheck(s):
            s = pattern.sub(repl, s)
    if _any_run(s):
        for pattern, repl in _RUN_RULES:
            s = pattern.sub(repl, s)
    if _ANY_OBFUSCATION.search(s):
        for pattern, repl in _OBFUSCATION_RULES:
            s = pattern.sub(repl, s)
    return s


class _CharTable(dict):  # type: ignore[type-arg]
    """Code point → NFKC of that one character (not lower-cased: Ｉ + U+0307 must still compose
    to İ, as in the whole text's NFKC), computed on first use; a ``str.translate`` table, so a
    run of characters is normalised character by character in one C-level pass."""

    def __missing__(self, code: int) -> str:
        if len(self) > 65_536:  # bounded: arbitrary input cannot grow it forever
            self.clear()
        norm = self[code] = unicodedata.normalize("NFKC", chr(code))
        return norm


_CHAR_TABLE = _CharTable()


def _nfkc_char(ch: str) -> str:
    return _CHAR_TABLE[ord(ch)]


def _per_char_nfkc(m: re.Match[str]) -> str:
    return m.group().translate(_CHAR_TABLE)


def _per_char(text: str) -> str:
    """``text`` with every character normalised on its own (NFKC, not lower-cased)."""
    return _NFKC_MAY_CHANGE.sub(_per_char_nfkc, text)


def _whole_from_per_char(text: str, per_char: str) -> str:
    """``_nfkc(text)``, given ``_per_char(text)``: NFKC(text) is NFKC of the per-character forms
    joined, so when those already form an NFKC string they are NFKC(text), lower-cased here
    (lower-casing comes after NFKC, as in :func:`_nfkc`)."""
    if unicodedata.is_normalized("NFKC", per_char):
        return _lower_ascii(per_char)
    return _nfkc(text)


def _nfkc_with_map(text: str, whole: str, per_char: str) -> tuple[str, tuple[list[int], list[int]] | None]:
    """Per-character NFKC of ``text`` with its map (``None``: character i came from character i);
    ``whole`` is ``_nfkc(text)`` and ``per_char`` is ``_per_char(text)``."""
    # per character: stable characters are themselves (ASCII then lower-cased), others from the table
    joined = _lower_ascii(per_char)
    if joined == whole:
        if len(joined) == len(text):
            # every character normalised to exactly one character and nothing composed
            return joined, None
        # some characters expanded (… → ...); if none of the new characters is a combining
        # mark, nothing composes either and each character maps to its own output characters
        runs = [(m.start(), m.group()) for m in _NFKC_MAY_CHANGE.finditer(text)]
        if not any(unicodedata.combining(c) for _, run in runs for c in run.translate(_CHAR_TABLE)):
            starts = []
            ends = []
            pos = 0
            for a, run in runs:
                starts.extend(range(pos, a))
                ends.extend(range(pos + 1, a + 1))
                for i, ch in enumerate(run, a):
                    k = len(_nfkc_char(ch))
                    starts.extend([i] * k)
                    ends.extend([i + 1] * k)
                pos = a + len(run)
            starts.extend(range(pos, len(text)))
            ends.extend(range(pos + 1, len(text) + 1))
            return joined, (starts, ends)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        norm = _nfkc_char(ch)
        for c in norm:
            if unicodedata.combining(c) and out:
                composed = unicodedata.normalize("NFC", out[-1] + c)
                if len(composed) == 1:
                    out[-1] = composed
                    ends[-1] = i + 1
                    continue
            out.append(c)
            starts.append(i)
            ends.append(i + 1)
    return _lower_ascii("".join(out)), (starts, ends)  # (lower-casing is one to one)


def _kept_ends(old: str, rep: str) -> tuple[int, int]:
    """How many characters a replacement shares with the match at its start and at its end;
    those keep their own positions in the map (死 ね → 死ね keeps 死)."""
    n = min(len(rep), len(old))
    pre = 0
    while pre < n and rep[pre] == old[pre]:
        pre += 1
    suf = 0
    while suf < n - pre and rep[-1 - suf] == old[-1 - suf]:
        suf += 1
    return pre, suf


_kept_ends_cached = functools.lru_cache(maxsize=1024)(_kept_ends)


def _ends(old: str, rep: str) -> tuple[int, int]:
    """:func:`_kept_ends`, remembered for short matches (a line break, 死 ね recur); a long run
    is not kept as a cache key (20,000 characters of ーーー would stay in memory for nothing)."""
    return _kept_ends_cached(old, rep) if len(old) <= 8 else _kept_ends(old, rep)


def _sub_recording(pattern: re.Pattern[str], repl: _Repl, s: str) -> tuple[str, _Layer | None]:
    """``pattern.sub(repl, s)`` and its edits (``None`` when nothing matched)."""
    matches = pattern.finditer(s)
    first = next(matches, None)
    if first is None:  # most rules match nothing
        return s, None
    pieces: list[str] = []
    outs: list[int] = []
    edits: list[tuple[int, int, int, int, int, int]] = []
    pos = 0
    out_len = 0
    fixed = None if callable(repl) else repl  # (no rule's replacement has a group reference)
    for m in itertools.chain((first,), matches):
        a, b = m.span()
        rep = repl(m) if fixed is None else fixed
        pre, suf = _ends(s[a:b], rep)
        out_len += a - pos
        pieces.append(s[pos:a])
        pieces.append(rep)
        outs.append(out_len)
        edits.append((a, b, out_len, len(rep), pre, suf))
        out_len += len(rep)
        pos = b
    pieces.append(s[pos:])
    return "".join(pieces), (outs, edits, len(s))


_WS_RUN = re.compile(r"\s{2,}")


def _whitespace_recording(s: str) -> tuple[str, _Layer | None]:
    """The first whitespace rule (``_WHITESPACE_RULES[0]``: a run becomes one space, any other whitespace
    character a space) and its edits.  A single character made a space keeps its place in the
    map, so only the runs are recorded: the same map as recording every match, built without a
    Python step per line break."""
    if "  " not in s and s.isprintable():
        # no whitespace but single spaces (every other whitespace character is unprintable):
        # the rule matches nothing (the two tests are C scans, much cheaper than the regex's)
        return s, None
    out = _WHITESPACE_RULES[0][0].sub(" ", s)
    if len(out) == len(s):  # no run (a run always shortens the text)
        return out, None
    outs: list[int] = []
    edits: list[tuple[int, int, int, int, int, int]] = []
    removed = 0
    for m in _WS_RUN.finditer(s):
        a, b = m.span()
        pre, suf = _ends(s[a:b], " ")
        outs.append(a - removed)
        edits.append((a, b, a - removed, 1, pre, suf))
        removed += b - a - 1
    return out, (outs, edits, len(s))


def normalize_with_map(text: str) -> NormalizedText:
    """Normalise like :func:`normalize_text` and keep a map back to ``text``.

    >>> n = normalize_with_map("お前　ｺ○ｽぞ")
    >>> n.text
    'お前 殺すぞ'
    >>> n.to_original(3, 5)
    (3, 6)
    """
    if unicodedata.is_normalized("NFKC", text):
        # every character is its own NFKC (a character NFKC changes makes the text not normalised)
        s, base = _lower_ascii(text), None
    else:
        per_char = _per_char(text)
        whole = _whole_from_per_char(text, per_char)
        s, base = _nfkc_with_map(text, whole, per_char)
        if s != whole:
            # Exotic sequences where per-character NFKC differs: map every character of the
            # normalised text onto the whole original (coarse but never wrong).
            s = whole
            base = ([0] * len(s), [len(text)] * len(s))
    layers: list[_Layer] = []

    def step(pattern: re.Pattern[str], repl: _Repl) -> None:
        nonlocal s
        s, layer = _sub_recording(pattern, repl, s)
        if layer is not None:
            layers.append(layer)

    if _any_invisible(s):
        step(*_INVISIBLE_RULES[0])
    s, layer = _whitespace_recording(s)
    if layer is not None:
        layers.append(layer)
    for pattern, repl in _WHITESPACE_RULES[1:]:
        step(pattern, repl)
    for precheck, (pattern, repl) in zip(_CONTACT_PRECHECKS, _CONTACT_RULES, strict=True):
        if precheck(s):
            step(pattern, repl)
    for precheck, rules in ((_any_run, _RUN_RULES), (_ANY_OBFUSCATION.search, _OBFUSCATION_RULES)):
        if precheck(s):
            for pattern, repl in rules:
                step(pattern, repl)
    return NormalizedText(s, base, layers)
