"""Evidence spans for predicted categories, read off the model's own weights.

For each predicted category, every feature present in the message contributes
``value × weight`` to that category's score.  The positive contributors are located in the
normalised text (lemma n-grams through the tokenizer's offsets, character n-grams and
signals directly), overlapping occurrences are merged, the strongest merged spans are trimmed
of weakly supported edges and grown to the clause around them (up to :data:`CLAUSE_REACH`
characters each way, never across 。、!?「」 or a line break) and then to the edges of the words
they cut (:data:`WORD_REACH`), and mapped back to the ORIGINAL input string through the
normaliser's offset map, never splitting a visible character (a flag, an emoji sequence, a
character and its combining marks).  A span of dashes, punctuation and spaces only is dropped.  A span is
at most :data:`MAX_SPAN_CHARS` characters long (and what completes a character cut at that length).

``tools/eval_evidence.py`` measures the spans against spans an annotator marked by hand.
"""

from __future__ import annotations

import unicodedata
import weakref
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from complaint_triage import features as _features
from complaint_triage.features import SIGNALS
from complaint_triage.labels import CATEGORIES, VERDICTS
from complaint_triage.model import TriageClassifier
from complaint_triage.normalize import normalize_with_map
from complaint_triage.results import Evidence
from complaint_triage.tokenizer import whole_words

__all__ = ["Evidence", "FeatureRow", "explain"]


class FeatureRow(NamedTuple):
    """One message's stored features (column indices and values), cheaper than a sparse row."""

    indices: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, X: Any, i: int) -> FeatureRow:
        """Row ``i`` of a CSR matrix, as views (no copy, no sparse-matrix construction)."""
        a, b = X.indptr[i], X.indptr[i + 1]
        return cls(X.indices[a:b], X.data[a:b])


_WEIGHTS: weakref.WeakKeyDictionary[TriageClassifier, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()


def _category_weights(model: TriageClassifier) -> np.ndarray:
    """The category heads' weights, one contiguous row per category (made once per model).

    A message's few hundred features are scattered over the whole vocabulary; gathering them
    from one category's row touches far less memory than gathering whole rows of ``coef_``.
    """
    cached = _WEIGHTS.get(model)
    if cached is None or cached[0] is not model.coef_:
        start = len(VERDICTS)
        rows = np.ascontiguousarray(model.coef_[:, start : start + len(CATEGORIES)].T)
        cached = (model.coef_, rows)
        _WEIGHTS[model] = cached
    return cached[1]


#: A parsed feature name: kind (``"w:"``, ``"c:"`` or ``"s:"``), body, and the word forms of a word n-gram.
_Parsed = tuple[str, str, list[str] | None]

_NAMES: weakref.WeakKeyDictionary[Any, tuple[object, dict[int, _Parsed]]] = weakref.WeakKeyDictionary()


def _name_memo(feat: Any) -> dict[int, _Parsed]:
    """Column → ``(kind, body, word forms)`` of ``feat.feature_name(column)``, remembered per
    featuriser and vocabulary (refitting starts a new memo): evidence asks for the same strong
    features message after message.  ``word forms`` is the body split into forms for word
    n-grams (``w:``), ``None`` for the others.  (Cleared past 65,536 names.)"""
    source = feat._vocabulary_source()
    cached = _NAMES.get(feat)
    if cached is None or cached[0] is not source:
        cached = _NAMES[feat] = (source, {})
    return cached[1]


def _parsed_name(feat: Any, memo: dict[int, _Parsed], j: int) -> _Parsed:
    """Parse, remember and return column ``j``'s name (see :func:`_name_memo`)."""
    if len(memo) >= 65_536:
        memo.clear()
    name = feat.feature_name(j)
    kind, body = name[:2], name[2:]
    parsed = memo[j] = (kind, body, body.split(" ") if kind == "w:" else None)
    return parsed


def _occurrences(model: TriageClassifier, norm: str, wanted: set[int]) -> dict[int, list[tuple[int, int]]]:
    """Feature column -> list of (start, end) spans in the normalised text, for ``wanted`` columns."""
    feat = model.featurizer_
    memo = _name_memo(feat)
    occ: dict[int, list[tuple[int, int]]] = defaultdict(list)
    lo, hi = feat.word_ngram_range
    # wanted word n-grams by their first form: only positions that start one are compared
    by_first: dict[str, list[tuple[list[str], int]]] = {}
    signals: list[tuple[str, int]] = []
    for j in wanted:
        kind, body, toks = memo.get(j) or _parsed_name(feat, memo, j)
        if kind == "c:":
            start = norm.find(body)
            while start >= 0:
                occ[j].append((start, start + len(body)))
                start = norm.find(body, start + 1)
        elif kind == "w:":
            if toks is not None and lo <= len(toks) <= hi:
                by_first.setdefault(toks[0], []).append((toks, j))
        elif kind == "s:":
            signals.append((body, j))
    if by_first:
        forms, starts, ends = feat.tokenizer_.kept_spans(norm)
        for i in [i for i, form in enumerate(forms) if form in by_first]:
            for toks, j in by_first[forms[i]]:
                n = len(toks)
                if forms[i : i + n] == toks:
                    occ[j].append((starts[i], ends[i + n - 1]))
    if feat.use_signals:
        for body, j in signals:
            for m in SIGNALS[body].finditer(norm):
                occ[j].append(m.span())
    return occ


def _trim(a: int, b: int, pieces: list[tuple[int, int, float]], keep: float = 0.25) -> tuple[int, int]:
    """Shrink ``[a, b)`` by dropping edge characters with little support of their own.

    A character's support is the sum of ``contribution / length`` of the pieces covering it;
    edge characters below ``keep`` × the best support go.  Supports are summed per stretch
    between piece boundaries (every character of a stretch has the same covering pieces, added
    in the same order), not per character.
    """
    if len(pieces) == 1 and pieces[0][0] <= a and b <= pieces[0][1] and pieces[0][2] > 0:
        return a, b  # one supporting piece over the whole span: every character keeps it
    cover: list[tuple[int, int, float]] = []
    cuts = {a, b}
    for pa, pb, c in pieces:
        lo, hi = max(pa, a), min(pb, b)
        if lo < hi:
            cover.append((lo, hi, c / (pb - pa)))
            cuts.add(lo)
            cuts.add(hi)
    bounds = sorted(cuts)
    at = {x: i for i, x in enumerate(bounds)}
    score = [0.0] * (len(bounds) - 1)
    for lo, hi, share in cover:
        for i in range(at[lo], at[hi]):
            score[i] += share
    cut = keep * max(score)
    idx = [i for i, v in enumerate(score) if v >= cut]
    return bounds[idx[0]], bounds[idx[-1] + 1]


#: Characters that end a clause in normalised text (NFKC has made ！？（） ASCII and line breaks spaces).
_CLAUSE_END_CHARS = "。、!?「」『』()・ \n"
_CLAUSE_ENDS = frozenset(_CLAUSE_END_CHARS)
#: How far a span grows to each side, at most, to reach the ends of its clause.
CLAUSE_REACH = 10


def _clause(text: str, a: int, b: int, reach: int = CLAUSE_REACH) -> tuple[int, int]:
    """Grow ``[a, b)`` to the clause around it: up to ``reach`` characters each way, stopping
    at :data:`_CLAUSE_ENDS`.  The strongest features are often fragments (お前ら, 無能, 晒し);
    the clause around them is what a reader needs, and what annotators mark as evidence."""
    lo = a
    while lo > 0 and a - lo < reach and text[lo - 1] not in _CLAUSE_ENDS:
        lo -= 1
    hi = b
    while hi < len(text) and hi - b < reach and text[hi] not in _CLAUSE_ENDS:
        hi += 1
    return lo, hi


class _Compiled(NamedTuple):
    """What the C accelerator's ``evidence`` needs about a featuriser's columns (made once per vocabulary)."""

    kind: np.ndarray  # int8 per column: 1 word n-gram, 2 character n-gram, 3 signal, 0 other
    key: np.ndarray  # int64 n-gram key (see features._NgramTable)
    length: np.ndarray  # int8 n-gram length
    wbase: int
    cbase: int
    char_lut: np.ndarray
    patterns: dict[int, Any]  # signal column -> its regex


_COMPILED: weakref.WeakKeyDictionary[Any, tuple[object, _Compiled]] = weakref.WeakKeyDictionary()

#: longest n-gram the C accelerator locates
_MAX_N = 8


def _compiled_tables(feat: Any) -> _Compiled | None:
    """The column tables for the C path, or ``None`` when it cannot run (no accelerator, or a
    tokenizer that does not segment into surfaces: the C path locates surfaces in the text)."""
    if _features._speedups is None or not getattr(feat.tokenizer_, "lemma_lookup", False):
        return None
    if max(feat.word_ngram_range[1], feat.char_ngram_range[1]) > _MAX_N:
        return None  # (the C path locates n-grams of up to _MAX_N symbols)
    source = feat._vocabulary_source()
    cached = _COMPILED.get(feat)
    if cached is not None and cached[0] is source:
        return cached[1]
    idx = feat._index()
    n_feat = len(feat.idf_)
    kind = np.zeros(n_feat, dtype=np.int8)
    key = np.zeros(n_feat, dtype=np.int64)
    length = np.zeros(n_feat, dtype=np.int8)
    for code, table, (lo, hi) in ((1, idx.words, feat.word_ngram_range), (2, idx.chars, (1, _MAX_N))):
        if not len(table.keys):
            continue
        n = np.ones(len(table.keys), dtype=np.int64)  # key >= base**(n-1) for an n-gram (ids start at 1)
        power = table.base
        while power <= int(table.keys.max()):
            n += table.keys >= power
            power *= table.base
        ok = (n >= lo) & (n <= hi)  # (the Python path ignores word n-grams outside the range too)
        kind[table.cols[ok]] = code
        key[table.cols[ok]] = table.keys[ok]
        length[table.cols[ok]] = n[ok]
    patterns = {}
    if feat.use_signals:
        for col, name in zip(idx.signal_cols, idx.signal_names, strict=True):
            kind[col] = 3
            patterns[col] = SIGNALS[name]
    compiled = _Compiled(kind, key, length, idx.words.base, idx.chars.base,
                         np.ascontiguousarray(idx.char_lut, dtype=np.int32), patterns)
    _COMPILED[feat] = (source, compiled)
    return compiled


def _python_spans(model: TriageClassifier, norm: str, cols: np.ndarray, vals: np.ndarray, rows: list[int],
                  max_spans: int, top_features: int) -> list[tuple[int, int, int]]:
    """``(k, start, end)`` evidence spans in the normalised text ``norm``, for category
    ``CATEGORIES[rows[k]]``, strongest first within each category (the reference for the C path)."""
    by_category = _category_weights(model)
    # per category: (column, contribution) of its strongest features, as plain Python numbers
    # (one gather for all the categories: rows of the categories, columns of the message);
    # equal contributions keep the earlier column position first
    contrib = by_category[np.array(rows)[:, None], cols] * vals
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top_features]
    top_cols = cols[order].tolist()
    top_contrib = np.take_along_axis(contrib, order, axis=1).tolist()
    ranked: list[list[tuple[int, float]]] = []
    wanted: set[int] = set()
    for js, cs in zip(top_cols, top_contrib, strict=True):
        ranked.append(list(zip(js, cs, strict=True)))
        wanted.update(j for j, c in zip(js, cs, strict=True) if c > 0)
    occ = _occurrences(model, norm, wanted)
    out: list[tuple[int, int, int]] = []
    for k, ranked_k in enumerate(ranked):
        pieces: list[tuple[int, int, float]] = []
        for j, c in ranked_k:
            if c <= 0:
                break
            locs = occ.get(j, [])
            for a, b in locs:
                pieces.append((a, b, c / len(locs)))
        if not pieces:
            continue
        # merge overlapping or touching pieces, summing their contributions; each merged span
        # keeps the range of (sorted) pieces it was made of, the only pieces inside it
        pieces.sort()
        merged: list[list[Any]] = []  # [start, end, contribution, first piece, end piece]
        for i, (a, b, c) in enumerate(pieces):
            if merged and a <= merged[-1][1]:
                m = merged[-1]
                m[1] = max(m[1], b)
                m[2] += c
                m[4] = i + 1
            else:
                merged.append([a, b, c, i, i + 1])
        merged.sort(key=lambda m: -m[2])
        spans: list[tuple[int, int]] = []  # strongest first
        for a, b, _, p0, p1 in merged[:max_spans]:  # (filling up to max_spans after merges showed weaker spans)
            a, b = _clause(norm, *_trim(a, b, pieces[p0:p1]))
            # strong places whose clauses overlap or meet become one span, where the strongest was
            hits = [i for i, (sa, sb) in enumerate(spans) if a <= sb and sa <= b]
            if not hits:
                spans.append((a, b))
                continue
            spans[hits[0]] = (min(a, *(spans[i][0] for i in hits)), max(b, *(spans[i][1] for i in hits)))
            for i in reversed(hits[1:]):
                del spans[i]
        out.extend((k, a, b) for a, b in spans)
    return out


def _compiled_spans(model: TriageClassifier, tables: _Compiled, weights: np.ndarray, norm: str, cols: np.ndarray,
                    vals: np.ndarray, rows: list[int], max_spans: int, top_features: int) -> list[tuple[int, int, int]]:
    """:func:`_python_spans` by the C accelerator (the same spans; tests compare the two);
    ``weights`` is ``_category_weights(model)``."""
    feat = model.featurizer_
    patterns = tables.patterns

    def signal_spans(col: int) -> list[tuple[int, int]]:
        return [m.span() for m in patterns[col].finditer(norm)]

    return _features._speedups.evidence(
        norm, feat.tokenizer_.pieces(norm), feat.tokenizer_.piece_ids(feat._index().lemma_ids),
        np.ascontiguousarray(cols, dtype=np.int32), np.ascontiguousarray(vals, dtype=np.float64),
        weights, weights.dtype == np.float32, weights.shape[1], rows,
        tables.kind, tables.key, tables.length, tables.wbase, tables.char_lut, tables.cbase, signal_spans,
        min(top_features, 1 << 30), min(max_spans, 1 << 30), 0.25, CLAUSE_REACH, _CLAUSE_END_CHARS,
    )


def _spans(model: TriageClassifier, norm: str, cols: np.ndarray, vals: np.ndarray, rows: list[int], *,
           max_spans: int = 3, top_features: int = 12, compiled: bool = True) -> list[tuple[int, int, int]]:
    """Evidence spans ``(k, start, end)`` in ``norm``: by the C accelerator when it is built
    (and ``compiled``), else in Python."""
    if top_features < 1 or max_spans < 0:
        raise ValueError("top_features must be at least 1 and max_spans at least 0")
    tables = _compiled_tables(model.featurizer_) if compiled else None
    weights = _category_weights(model)
    if tables is not None and weights.dtype in (np.float32, np.float64):  # (contiguous: _category_weights)
        return _compiled_spans(model, tables, weights, norm, cols, vals, rows, max_spans, top_features)
    return _python_spans(model, norm, cols, vals.astype(np.float64), rows, max_spans, top_features)


def explain(model: TriageClassifier, text: str, categories: Sequence[str], *, max_spans: int = 3,
            top_features: int = 12, features: Any = None) -> list[Evidence]:
    """Return up to ``max_spans`` evidence spans per category in ``categories``.

    Offsets index the original ``text``; ``text[start:end] == evidence.text``.
    ``features`` may pass the message's already computed feature row: a 1 × n sparse row,
    or anything with that row's ``indices`` and ``data`` (see :class:`FeatureRow`).
    """
    if not categories:
        return []
    nt = normalize_with_map(text)
    if not nt.text:
        return []
    x = features if features is not None else model.featurizer_.transform([text])
    rows = [CATEGORIES.index(c) for c in categories]
    placed: list[tuple[int, int, int]] = []  # (k, start, end) in the original text
    for k, a, b in _spans(model, nt.text, x.indices, x.data, rows, max_spans=max_spans, top_features=top_features):
        if not (_at_clause_edge(nt.text, a) and _at_clause_edge(nt.text, b)):
            a, b = whole_words(nt.text, a, b, WORD_REACH)  # (one that stopped at CLAUSE_REACH)
        s, e = _whole_characters(text, *nt.to_original(a, b))
        if not _readable(text[s:e]):
            continue  # only dashes, spaces or punctuation: nothing a reader can check
        # spans apart in the normalised text can meet in the original, where the normaliser
        # rewrote the characters between them (an undone obfuscation such as ｺ○ｽ, a collapsed
        # run): spans of one category that meet become one, where the first of them was
        hits = [i for i, (pk, ps, pe) in enumerate(placed) if pk == k and s <= pe and ps <= e]
        if not hits:
            placed.append((k, s, e))
            continue
        placed[hits[0]] = (k, min(s, *(placed[i][1] for i in hits)), max(e, *(placed[i][2] for i in hits)))
        for i in reversed(hits[1:]):
            del placed[i]
    out = []
    for k, s, e in placed:
        s, e = _capped(text, s, e)
        out.append(Evidence(categories[k], s, e, text[s:e]))
    return out


#: How far a span grows, at most, to reach the edge of the word it cuts.
WORD_REACH = 6
#: Characters that show nothing a reader can check a span by: punctuation, spaces, controls and
#: format characters (by Unicode category), and dashes and long-vowel marks (ーーーー).  A symbol
#: such as 🔪 is evidence (the threat signal counts it).
_MARKS = frozenset("ー―－‐-〜～_")


def _readable(text: str) -> bool:
    """Whether ``text`` has a character other than :data:`_MARKS`, punctuation, spaces and controls."""
    return any(ch not in _MARKS and unicodedata.category(ch)[0] not in "PZC" for ch in text)


def _at_clause_edge(text: str, i: int) -> bool:
    """Whether offset ``i`` of ``text`` is a text end or next to a clause end (taken as a word edge:
    MeCab seldom joins a clause end to a word, 三、四 being one of the few places it does)."""
    return i <= 0 or i >= len(text) or text[i - 1] in _CLAUSE_ENDS or text[i] in _CLAUSE_ENDS


def _joins_previous(ch: str) -> bool:
    """Whether ``ch`` belongs to the character before it (a combining mark, a variation selector,
    a skin-tone modifier, a tag or keycap character, a zero-width joiner)."""
    o = ord(ch)
    return (unicodedata.category(ch) in ("Mn", "Me") or o == 0x200D or 0xFE00 <= o <= 0xFE0F
            or 0x1F3FB <= o <= 0x1F3FF or 0xE0020 <= o <= 0xE007F or 0xE0100 <= o <= 0xE01EF)


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _whole_characters(text: str, s: int, e: int) -> tuple[int, int]:
    """``[s, e)`` grown so that it splits no user-perceived character of ``text``: not a flag (a
    pair of regional indicators), not an emoji sequence joined by U+200D, not a character from
    its combining marks or variation selector."""
    n = len(text)
    while True:  # (until nothing moves: a flag completed may be followed by a joiner)
        before = (s, e)
        while 0 < s < n and (_joins_previous(text[s]) or text[s - 1] == "\u200d"):
            s -= 1
        if s < n and _regional(text[s]):
            run = s
            while run > 0 and _regional(text[run - 1]):
                run -= 1
            s -= (s - run) % 2  # an odd number of indicators before: this one closes a flag
        while 0 < e < n and (_joins_previous(text[e]) or text[e - 1] == "\u200d"):
            e += 1
        if 0 < e < n and _regional(text[e - 1]) and _regional(text[e]):
            run = e - 1
            while run > 0 and _regional(text[run - 1]):
                run -= 1
            e += (e - run) % 2  # an odd number in the span's run: the next one completes its flag
        if (s, e) == before:
            return s, e


#: Longest evidence span, in characters of the original text.  Spans are a clause or a few
#: (the longest over the 10,378 corpus texts is 119 characters); only a text that repeats one
#: phrase, where every occurrence touches the next, merges into one span that may cover the
#: whole message, which helps no reader and makes the answer large.
MAX_SPAN_CHARS = 200
_SENTENCE_ENDS = "。!?！？\n"


def _capped(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` cut to :data:`MAX_SPAN_CHARS` (:func:`_capped_end`), a character the cut
    splits made whole again."""
    cut = _capped_end(text, start, end)
    return (start, end) if cut == end else _whole_characters(text, start, cut)


def _capped_end(text: str, start: int, end: int) -> int:
    """``end``, or for a span longer than :data:`MAX_SPAN_CHARS` the end of its last whole
    sentence within that many characters (else exactly that many)."""
    if end - start <= MAX_SPAN_CHARS:
        return end
    cut = start + MAX_SPAN_CHARS
    last = max(text.rfind(ch, start + 1, cut) for ch in _SENTENCE_ENDS)
    return last if last > start else cut
