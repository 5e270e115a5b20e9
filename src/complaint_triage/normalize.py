"""Text normalisation: width, runs, whitespace and de-obfuscation, with an offset map.

:func:`normalize_text` is the fast path used for features.  :func:`normalize_with_map`
returns the same string plus, for every normalised character, the span of the original
text it came from, so that evidence found in normalised text can be shown in the
original.  Both are pure and idempotent: ``normalize_text(normalize_text(t)) ==
normalize_text(t)``.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["normalize_text", "normalize_with_map", "NormalizedText"]

_Repl = str | Callable[[re.Match[str]], str]

# Characters people put between the letters of an insult to dodge filters.
_SEP = r"[ \.・,_\-\*\+/|]"

# Canonical word -> spelled forms (after NFKC).  Letters may be split by separators.
_SPLIT_WORDS: dict[str, tuple[str, ...]] = {
    "死ね": ("死ね", "しね", "シネ"),
    "殺す": ("殺す", "ころす", "コロス"),
    "殺すぞ": ("殺すぞ", "ころすぞ", "コロスゾ"),
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

_RULES: list[tuple[re.Pattern[str], _Repl]] = [
    # whitespace (NFKC already turned the ideographic space into a plain one)
    # (a lone space is left alone: replacing it by itself would change neither text nor map)
    (re.compile(r"\s{2,}|[^\S ]"), " "),
    (re.compile(r"^ | $"), ""),
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
    # obfuscated 死ね / 死んで: 氏ね 市ね 4ね ﾀﾋね ○ね ｼﾈ shine
    (re.compile(rf"(?<![{_KANJI}0-9])(?:氏|市)ね(?![{_KANJI}])"), "死ね"),
    (re.compile(r"(?<![0-9])4ね(?![a-z0-9ぁ-ゖ])"), "死ね"),
    (re.compile(r"タヒ(?=[ねんぬにのでだ])"), "死"),
    (re.compile(r"(?<![^\s!?。、,.])[○〇◯●x×]ね(?![ぁ-ゖ])"), "死ね"),
    (re.compile(rf"(?<![{_KATA}])シネ(?![{_KATA}])"), "死ね"),
    (re.compile(r"(?<![a-z])shine(?![a-z])"), "死ね"),
    # obfuscated 殺す: コ○ス こ○す 殺○
    (re.compile(r"[コこ][○〇◯●x×\*][スす]"), "殺す"),
    (re.compile(rf"(?<![{_KATA}])キエロ(?![{_KATA}])"), "消えろ"),
    (re.compile(r"無脳"), "無能"),
    *_SPLIT_RULES,
]

# The fast path skips a group of rules when none of its patterns matches anywhere (a rule can
# only change the text, and so enable a later rule, by matching).
_N_WHITESPACE_RULES = 2
_N_RUN_RULES = 10
_RUN_RULES = _RULES[_N_WHITESPACE_RULES : _N_WHITESPACE_RULES + _N_RUN_RULES]
_OBFUSCATION_RULES = _RULES[_N_WHITESPACE_RULES + _N_RUN_RULES :]
# Prechecks: supersets of each group's patterns, without lookarounds so that the regex
# engine can skip quickly to their first characters.
_ANY_RUN = re.compile(r"ーー|[~〜]{2}|!!|\?\?|!\?!|\?!\?|。。|、、|\.{4}|www|笑笑")
_ANY_OBFUSCATION = re.compile(
    r"[氏市4○〇◯●x×]ね|タヒ|シネ|shine|[コこ][○〇◯●x×\*][スす]|キエロ|無脳|"
    + "|".join(p.pattern for p, _ in _SPLIT_RULES)
)

_ASCII_UPPER = {i: i + 32 for i in range(ord("A"), ord("Z") + 1)}


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A normalised string and, per character, the original span it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span ``[start, end)`` of :attr:`text` to a span of the original text."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) is outside the normalised text")
        return self.starts[start], self.ends[end - 1]


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

    NFKC (full/half width), ASCII lower case, whitespace collapsed, runs of ー ! ? 。
    shortened, and common disguises of insults and threats undone (氏ね, 4ね, ﾀﾋね, し ね,
    コ○ス, 殺.す …).

    >>> normalize_text("ﾀﾋね！！！　ｶｽ")
    '死ね! カス'
    """
    # str.split() and re's \s agree on what whitespace is: collapse runs, strip both ends
    s = " ".join(_nfkc(text).split())
    if _ANY_RUN.search(s):
        for pattern, repl in _RUN_RULES:
            s = pattern.sub(repl, s)
    if _ANY_OBFUSCATION.search(s):
        for pattern, repl in _OBFUSCATION_RULES:
            s = pattern.sub(repl, s)
    return s


class _CharTable(dict):  # type: ignore[type-arg]
    """Code point → ``_nfkc`` of that one character, computed on first use; a ``str.translate``
    table, so a run of characters is normalised character by character in one C-level pass."""

    def __missing__(self, code: int) -> str:
        if len(self) > 65_536:  # bounded: arbitrary input cannot grow it forever
            self.clear()
        norm = self[code] = _nfkc(chr(code))
        return norm


_CHAR_TABLE = _CharTable()


def _nfkc_char(ch: str) -> str:
    return _CHAR_TABLE[ord(ch)]


def _per_char_nfkc(m: re.Match[str]) -> str:
    return m.group().translate(_CHAR_TABLE)


def _nfkc_with_map(text: str, whole: str) -> tuple[str, list[int], list[int]]:
    """Per-character NFKC of ``text`` with its map; ``whole`` is ``_nfkc(text)``."""
    # per character: stable characters are themselves (ASCII then lower-cased), others from the table
    joined = _lower_ascii(_NFKC_MAY_CHANGE.sub(_per_char_nfkc, text))
    if len(joined) == len(text) and joined == whole:
        # every character normalised to exactly one character and nothing composed
        return joined, list(range(len(text))), list(range(1, len(text) + 1))
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
    return "".join(out), starts, ends


def _sub_with_map(
    pattern: re.Pattern[str], repl: _Repl, s: str, starts: list[int], ends: list[int]
) -> tuple[str, list[int], list[int]]:
    matches = pattern.finditer(s)
    first = next(matches, None)
    if first is None:  # most rules match nothing: keep the lists as they are
        return s, starts, ends
    pieces: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for m in itertools.chain((first,), matches):
        a, b = m.span()
        pieces.append(s[pos:a])
        new_starts.extend(starts[pos:a])
        new_ends.extend(ends[pos:a])
        rep = repl(m) if callable(repl) else m.expand(repl)
        old = s[a:b]
        # characters shared at both ends keep their own positions (死 ね → 死ね keeps 死)
        pre = 0
        while pre < min(len(rep), len(old)) and rep[pre] == old[pre]:
            pre += 1
        suf = 0
        while suf < min(len(rep), len(old)) - pre and rep[-1 - suf] == old[-1 - suf]:
            suf += 1
        pieces.append(rep)
        new_starts.extend(starts[a : a + pre])
        new_ends.extend(ends[a : a + pre])
        mid = len(rep) - pre - suf
        if mid:
            ma, mb = a + pre, b - suf
            if ma < mb:
                lo, hi = starts[ma], ends[mb - 1]
            else:  # nothing left of the match: anchor on a neighbour
                lo = hi = starts[ma] if ma < len(s) else (ends[ma - 1] if ma else 0)
            new_starts.extend([lo] * mid)
            new_ends.extend([hi] * mid)
        new_starts.extend(starts[b - suf : b])
        new_ends.extend(ends[b - suf : b])
        pos = b
    pieces.append(s[pos:])
    new_starts.extend(starts[pos:])
    new_ends.extend(ends[pos:])
    return "".join(pieces), new_starts, new_ends


def normalize_with_map(text: str) -> NormalizedText:
    """Normalise like :func:`normalize_text` and keep a map back to ``text``.

    >>> n = normalize_with_map("お前　ｺ○ｽぞ")
    >>> n.text
    'お前 殺すぞ'
    >>> n.to_original(3, 5)
    (3, 6)
    """
    whole = _nfkc(text)
    s, starts, ends = _nfkc_with_map(text, whole)
    if s != whole:
        # Exotic sequences where per-character NFKC differs: map every character of the
        # normalised text onto the whole original (coarse but never wrong).
        s = whole
        starts, ends = [0] * len(s), [len(text)] * len(s)
    for pattern, repl in _RULES[:_N_WHITESPACE_RULES]:
        s, starts, ends = _sub_with_map(pattern, repl, s, starts, ends)
    for precheck, rules in ((_ANY_RUN, _RUN_RULES), (_ANY_OBFUSCATION, _OBFUSCATION_RULES)):
        if precheck.search(s):
            for pattern, repl in rules:
                s, starts, ends = _sub_with_map(pattern, repl, s, starts, ends)
    return NormalizedText(s, tuple(starts), tuple(ends))
