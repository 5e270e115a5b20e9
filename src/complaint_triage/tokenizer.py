"""Japanese word tokenizer: fugashi + unidic-lite, lemma forms, safe to pickle and share.

The tokenizer object holds parameters (and, in lookup mode, a fitted lemma table) only.  The
MeCab taggers (which cannot be pickled and are not thread-safe) come from a per-thread cache,
so one tokenizer can be cloned, dumped with skops, sent to worker processes and called from
many threads at once.

Two ways to get lemmas:

* **context** (``lemma_lookup=False``): MeCab prints each morpheme's lemma, read from the
  dictionary's feature strings.  Exact, but formatting the feature field makes the parse
  about 1.5x slower than bare segmentation and pulls some 130 MB of dictionary pages into
  memory over a long run.
* **lookup** (``lemma_lookup=True``): MeCab only segments (``-Owakati``, the same lattice and
  so the same morphemes) and each surface form is mapped to a lemma through a table learned
  by :meth:`JapaneseTokenizer.fit` (the surface's most frequent part of speech and lemma in
  the fitting texts).  A surface not in the table is tagged on its own, once per process.
  Lemmas then depend on the surface only, never on the neighbouring words; on the corpus they
  agree with the context lemmas for 97.6% of morphemes, nearly all the disagreements being
  particles and auxiliaries (で: だ/で, ん: の/ず).
"""

from __future__ import annotations

import bisect
import csv
import functools
import itertools
import operator
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

__all__ = ["JapaneseTokenizer", "Token", "get_formatted_tagger", "get_tagger", "get_wakati_tagger",
           "parse_in_pieces", "whole_words", "word_bounds"]

# One line per morpheme: POS level 1, lemma, surface.  Unknown words use the surface as lemma.
_NODE_FORMAT = r"-F%f[0]\\t%f[7]\\t%m\\n -U%f[0]\\t%m\\t%m\\n -E\\n"
_DROP_DEFAULT = ("補助記号", "空白")

_local = threading.local()


def _thread_tagger(slot: str, output: str) -> Any:
    key = os.getpid()
    cached = getattr(_local, slot, None)
    if cached is None or cached[0] != key:
        import fugashi
        import unidic_lite

        dicdir = unidic_lite.DICDIR
        rc = os.path.join(dicdir, "mecabrc")
        try:
            tagger = fugashi.GenericTagger(f'-r "{rc}" -d "{dicdir}" {output}')
        except RuntimeError as e:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "Could not start MeCab with the unidic-lite dictionary. Reinstall the package "
                "dependencies (pip install -e .) so that fugashi and unidic-lite are present."
            ) from e
        cached = (key, tagger)
        setattr(_local, slot, cached)
    return cached[1]


def get_tagger() -> Any:
    """Return this thread's fugashi tagger printing POS, lemma and surface, creating it on first use.

    The tagger is keyed by process id too, so a forked worker never reuses its parent's.
    """
    return _thread_tagger("tagger", f'-O "" {_NODE_FORMAT}')


def get_wakati_tagger() -> Any:
    """Return this thread's segmenting-only (``-Owakati``) fugashi tagger."""
    return _thread_tagger("wakati", "-Owakati")


def get_formatted_tagger(output: str) -> Any:
    """Return this thread's fugashi tagger with MeCab output options ``output`` (e.g.
    ``'-O "" -F%m\\t%f[3]\\n'``), one per distinct ``output``, made on first use."""
    return _thread_tagger("formatted:" + output, output)


class Token(tuple[str, str, str]):
    """A morpheme: ``(surface, pos, lemma)``; lemma falls back to surface."""

    __slots__ = ()

    @property
    def surface(self) -> str:
        return self[0]

    @property
    def pos(self) -> str:
        return self[1]

    @property
    def lemma(self) -> str:
        return self[2]


#: Texts whose morphemes are cached: evidence spans re-read those of a text the featuriser just
#: tagged, and Triager.score_many featurises at most 256 at a time.  (2,048 held up to 18 MiB
#: of a long-running server's memory.)
_CACHED_TEXTS = 512


#: Longest text given to MeCab in one call.  MeCab crashes the process (a segmentation fault,
#: no exception) on a long enough input: 300,000 ASCII letters or 1,000,000 characters of
#: Japanese did on this machine, 160,000 and 600,000 did not.  A longer text is cut into pieces
#: of at most this many characters, at a line break (else a sentence end, else a space) in the
#: second half of a piece: a text within the default length limit (20,000) is parsed whole.
_PARSE_PIECE = 20_000
_PIECE_ENDS = (("\n", "\r"), ("。", "！", "？", "!", "?", "．"), (" ", "\u3000", "\t"))


def _parse_pieces(text: str, limit: int = _PARSE_PIECE) -> list[str]:
    """``text`` cut into consecutive pieces of at most ``limit`` characters (one piece when it fits)."""
    pieces, start, n = [], 0, len(text)
    while n - start > limit:
        end = start + limit
        cut = -1
        for ends in _PIECE_ENDS:
            cut = max(text.rfind(c, start + limit // 2, end) for c in ends)
            if cut >= 0:
                break
        end = cut + 1 if cut >= 0 else end
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces


def parse_in_pieces(tagger: Any, text: str) -> str:
    """``tagger.parse(text)``, in pieces of at most :data:`_PARSE_PIECE` characters when the text is
    longer (MeCab crashes the process on a long enough input)."""
    if len(text) <= _PARSE_PIECE:
        return tagger.parse(text)
    # (a line break between the pieces: the output of one need not end with one)
    return "\n".join(tagger.parse(piece) for piece in _parse_pieces(text))


@functools.lru_cache(maxsize=_CACHED_TEXTS)
def _tagged(text: str) -> str:
    # Cached: evidence spans re-read the morphemes of a text the featuriser just tagged.
    # UniDic lemmas of loanwords carry an English gloss with spaces (エアコン-air conditioner);
    # surfaces never contain spaces, so spaces are made underscores once for the whole output.
    return parse_in_pieces(get_tagger(), text).replace(" ", "_")


#: ``Node.stat`` of a word not in the dictionary (MeCab's MECAB_UNK_NODE)
_UNKNOWN_NODE = 1

_ALL_FIELDS = re.compile(r"^([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)$", re.M)


@functools.lru_cache(maxsize=_CACHED_TEXTS)
def _surfaces(text: str) -> tuple[str, ...]:
    # Cached for the same reason as _tagged.  Surfaces never contain whitespace: MeCab splits
    # on it (a full-width space is its own 空白 morpheme, dropped here with the separators).
    return tuple(parse_in_pieces(get_wakati_tagger(), text).split())


@functools.lru_cache(maxsize=65_536)
def _isolated(surface: str) -> tuple[str, str]:
    """``(POS level 1, lemma)`` of a surface tagged on its own (for surfaces not in a table).

    A surface MeCab splits when it stands alone keeps itself as lemma, with no POS; an
    unknown word keeps itself as lemma, with the POS MeCab guessed.  The fields are read from
    the segmenting tagger's own node, so a process that only scores (lookup mode) never
    starts the lemma-printing tagger: each tagger maps the dictionary on its own, and the
    second mapping cost an API worker about 50 MB of resident pages.  Same answers as
    reading ``_tagged(surface)`` (checked on every surface of the shipped lemma table and
    about 26,000 random substrings of the corpus).
    """
    nodes = get_wakati_tagger().parseToNodeList(surface) if surface else ()
    if len(nodes) != 1:
        return "", surface
    node = nodes[0]
    if node.stat == _UNKNOWN_NODE:
        return node.feature[0], surface
    fields = next(csv.reader([node.feature_raw]))  # CSV: a symbol's lemma field can be a quoted ","
    lemma = fields[7].replace(" ", "_") if len(fields) > 7 else ""
    return fields[0], lemma if lemma and lemma != "*" else surface


def _parse(text: str) -> Iterator[Token]:
    if not text:
        return
    for pos, lemma, surface in _ALL_FIELDS.findall(_tagged(text)):
        yield Token((surface, pos, lemma if lemma and lemma != "*" else surface))


@functools.lru_cache(maxsize=32)
def _kept_pattern(drop_pos: tuple[str, ...]) -> re.Pattern[str]:
    """Regex picking (lemma, surface) of every kept morpheme out of the tagger's output."""
    skip = f"(?!(?:{'|'.join(map(re.escape, drop_pos))})\\t)" if drop_pos else ""
    return re.compile(rf"^{skip}[^\t\n]*\t([^\t\n]*)\t([^\t\n]*)$", re.M)


def _isolated_form(drop: frozenset[str], use_lemma: bool, surface: str) -> str:
    """Output form of a surface not in a lemma table (``""`` = dropped POS)."""
    pos, lem = _isolated(surface)
    return "" if pos in drop else (lem if use_lemma else surface)


class _Forms(dict):  # type: ignore[type-arg]
    """Surface → output form for the lemma table; a surface outside the table is answered by
    ``fallback(surface)`` (tagged on its own, cached per process by :func:`_isolated`) and not
    stored, so arbitrary input cannot grow the table.  Lookups of known surfaces stay dict-fast."""

    __slots__ = ("fallback",)

    def __init__(self, fallback: Callable[[str], str]) -> None:
        super().__init__()
        self.fallback = fallback

    def __missing__(self, surface: str) -> str:
        return self.fallback(surface)


class _PieceIds(dict):  # type: ignore[type-arg]
    """Surface → symbol id (-1 = dropped POS); a surface outside the lemma table is answered
    from its isolated form and not stored (see :meth:`JapaneseTokenizer.piece_ids`)."""

    __slots__ = ("forms", "ids")

    def __init__(self, forms: _Forms, ids: dict[str, int]) -> None:
        super().__init__()
        self.forms = forms
        self.ids = ids

    def id_of(self, form: str) -> int:
        """Symbol id of an output form: -1 for ``""`` (dropped POS), 0 for a form not in ``ids``."""
        return self.ids.get(form, 0) if form else -1

    def __missing__(self, surface: str) -> int:
        return self.id_of(self.forms[surface])


class JapaneseTokenizer(BaseEstimator):
    """Split (normalised) Japanese text into lemma or surface forms.

    Parameters
    ----------
    use_lemma : bool, default=True
        Return dictionary forms (怒鳴っ → 怒鳴る); unknown words fall back to the surface.
    drop_pos : tuple of str, default=("補助記号", "空白")
        Level-1 parts of speech to leave out (punctuation, spaces).
    lemma_lookup : bool, default=False
        Segment only and map surfaces to lemmas through the table learned by :meth:`fit`
        (faster, and lemmas depend on the surface alone; see the module docstring).  The
        tokenizer must then be fitted before use.

    Attributes
    ----------
    lemma_table_ : dict of str to tuple of (str, str)
        Lookup mode only: surface → (POS level 1, lemma), learned by :meth:`fit`.

    Examples
    --------
    >>> JapaneseTokenizer()("職員が怒鳴った")
    ['職員', 'が', '怒鳴る', 'た']
    """

    def __init__(self, *, use_lemma: bool = True, drop_pos: tuple[str, ...] = _DROP_DEFAULT,
                 lemma_lookup: bool = False) -> None:
        self.use_lemma = use_lemma
        self.drop_pos = drop_pos
        self.lemma_lookup = lemma_lookup

    # -- lookup mode -------------------------------------------------------------
    def fit(self, texts: Iterable[str], y: object = None) -> JapaneseTokenizer:
        """Learn the surface → (POS, lemma) table from ``texts`` (lookup mode; a no-op otherwise).

        Each surface gets the pair MeCab gave it most often in context (ties broken by the
        pair itself, so the table does not depend on the order of the texts).
        """
        if not self.lemma_lookup:
            return self
        seen: dict[str, Counter[tuple[str, str]]] = {}
        for text in texts:
            if not isinstance(text, str) or not text:
                continue
            for pos, lemma, surface in _ALL_FIELDS.findall(parse_in_pieces(get_tagger(), text).replace(" ", "_")):
                seen.setdefault(surface, Counter())[(pos, lemma if lemma and lemma != "*" else surface)] += 1
        self.lemma_table_ = {
            s: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for s, c in sorted(seen.items())
        }
        return self

    def _forms(self) -> _Forms:
        """Surface → output form (``""`` = dropped POS) for the table, built once per object;
        ``forms[surface]`` answers for surfaces outside the table too (see :class:`_Forms`)."""
        table = self.__dict__.get("lemma_table_")
        if table is None:
            raise NotFittedError(
                "This JapaneseTokenizer has lemma_lookup=True but no lemma table: call fit(texts) "
                "first (TextFeaturizer.fit does it for its own copy)."
            )
        cached = self.__dict__.get("_forms_cache")
        key = (tuple(self.drop_pos), self.use_lemma)
        if cached is None or cached[0] is not table or cached[1] != key:
            drop = frozenset(self.drop_pos)
            lemma = self.use_lemma
            forms = _Forms(functools.partial(_isolated_form, drop, lemma))
            forms.update((s, "" if p in drop else (lem if lemma else s)) for s, (p, lem) in table.items())
            cached = (table, key, forms)
            self.__dict__["_forms_cache"] = cached
        return cached[2]

    # -- ids for the featuriser's compiled path ---------------------------------------------
    def pieces(self, text: str) -> Sequence[str]:
        """What :meth:`piece_ids` maps: the surfaces in lookup mode (cached per process),
        the kept forms (``self(text)``) otherwise."""
        if not text:
            return ()
        if getattr(self, "lemma_lookup", False):
            return _surfaces(text)
        return self(text)

    def piece_ids(self, ids: dict[str, int]) -> dict[str, int]:
        """A mapping from :meth:`pieces` to ``ids[form]``: 0 for a form not in ``ids`` and, in
        lookup mode, -1 for a surface whose part of speech is dropped.

        In lookup mode the result is built from the lemma table (once per ``ids``) and answers
        surfaces outside the table through ``__missing__``; otherwise it is ``ids`` itself, and
        a form missing from it counts as 0.
        """
        if not getattr(self, "lemma_lookup", False):
            return ids
        forms = self._forms()
        cached = self.__dict__.get("_piece_ids_cache")
        if cached is None or cached[0] is not forms or cached[1] is not ids:
            table = _PieceIds(forms, ids)
            table.update((s, table.id_of(f)) for s, f in forms.items())
            cached = (forms, ids, table)
            self.__dict__["_piece_ids_cache"] = cached
        return cached[2]

    # -- persistence: the table travels as one string, not a dict of tuples --------------
    def __getstate__(self) -> dict[str, object]:
        state = dict(super().__getstate__())
        state.pop("_forms_cache", None)
        state.pop("_piece_ids_cache", None)
        table = state.pop("lemma_table_", None)
        if table is not None:
            state["lemma_table_packed_"] = "\n".join(f"{s}\t{p}\t{lem}" for s, (p, lem) in table.items())
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        state = dict(state)
        packed = state.pop("lemma_table_packed_", None)
        super().__setstate__(state)
        if packed is not None:
            table: dict[str, tuple[str, str]] = {}
            for line in str(packed).split("\n") if packed else ():
                s, p, lem = line.split("\t")
                table[s] = (p, lem)
            self.lemma_table_ = table

    def __call__(self, text: str) -> list[str]:
        if not text:
            return []
        if getattr(self, "lemma_lookup", False):
            return [f for f in map(self._forms().__getitem__, _surfaces(text)) if f]
        pairs = _kept_pattern(tuple(self.drop_pos)).findall(_tagged(text))
        if self.use_lemma:
            return [s if (not lem or lem == "*") else lem for lem, s in pairs]
        return [s for _, s in pairs]

    def tokens(self, text: str) -> list[Token]:
        """Return every morpheme (including dropped ones) as :class:`Token`, lemmas in context."""
        return list(_parse(text))

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Return ``(form, start, end)`` for kept morphemes, offsets into ``text``."""
        return list(zip(*self.kept_spans(text), strict=True))

    def kept_spans(self, text: str) -> tuple[list[str], list[int], list[int]]:
        """:meth:`spans` as three lists: the kept morphemes' forms, starts and ends."""
        if not text:
            return [], [], []
        if getattr(self, "lemma_lookup", False):
            surfaces: Sequence[str] = _surfaces(text)
            forms = list(map(self._forms().__getitem__, surfaces))  # "" = dropped part of speech
        else:
            fields = _ALL_FIELDS.findall(_tagged(text))
            surfaces = [surface for _, _, surface in fields]
            drop, lemma = self.drop_pos, self.use_lemma
            forms = ["" if p in drop else (lem if (lemma and lem and lem != "*") else surface)
                     for p, lem, surface in fields]
        return _offsets(text, surfaces, forms)


def word_bounds(text: str) -> list[int]:
    """Sorted offsets in ``text`` where a morpheme starts or ends (0 and ``len(text)`` included):
    where a span may begin or end without cutting a word.  Reads the cached segmentation."""
    surfaces = _surfaces(text) if text else ()
    _, starts, ends = _offsets(text, surfaces, list(surfaces))
    return sorted({0, len(text), *starts, *ends})


def whole_words(text: str, a: int, b: int, reach: int) -> tuple[int, int]:
    """``[a, b)`` of ``text`` (a normalised text, as the featuriser segments it; others fall back to
    :func:`word_bounds`) grown to the morpheme edges around it, each end by at most ``reach``
    characters (what :func:`word_bounds` gives, found by bisection over the morphemes' lengths
    instead of listing every offset: a few µs instead of about 20 for a message of 90 morphemes)."""
    surfaces = _surfaces(text) if text else ()
    if "".join(surfaces) != text.replace(" ", ""):  # (MeCab skipped something other than a plain space)
        return _grown(word_bounds(text), a, b, reach)
    q = _space_shifts(text)
    # morpheme edges counted without the spaces; an edge k is at k + (spaces before it) in the text,
    # before the spaces there as an end (e) or after them as a start (s): word_bounds lists both
    edges = [0, *itertools.accumulate(map(len, surfaces))]
    k = edges[bisect.bisect_right(edges, a - text.count(" ", 0, a)) - 1]
    e, s = k + bisect.bisect_left(q, k), k + bisect.bisect_right(q, k)
    start = s if s <= a else e
    if a - start <= reach:
        a = start
    j = bisect.bisect_left(edges, b - text.count(" ", 0, b))
    if j < len(edges):  # (the first edge at or after b's stripped offset: its start side is at or after b)
        k = edges[j]
        e, s = k + bisect.bisect_left(q, k), k + bisect.bisect_right(q, k)
        end = e if e >= b else s
    else:
        end = len(text)
    if end - b <= reach:
        b = end
    return a, b


def _space_shifts(text: str) -> list[int]:
    """For each plain space of ``text``, how many other characters come before it (the offset
    MeCab's morphemes, which skip spaces, give the place where it was)."""
    q: list[int] = []
    p = text.find(" ")
    while p >= 0:
        q.append(p - len(q))
        p = text.find(" ", p + 1)
    return q


def _grown(bounds: Sequence[int], a: int, b: int, reach: int) -> tuple[int, int]:
    i = bisect.bisect_right(bounds, a) - 1
    if i >= 0 and a - bounds[i] <= reach:
        a = bounds[i]
    j = bisect.bisect_left(bounds, b)
    if j < len(bounds) and bounds[j] - b <= reach:
        b = bounds[j]
    return a, b


def _offsets(text: str, surfaces: Sequence[str], forms: list[str]) -> tuple[list[str], list[int], list[int]]:
    """Forms, starts and ends in ``text`` of the morphemes with a form (``""``: dropped)."""
    joined = "".join(surfaces)
    if joined == text or (" " in text and joined == text.replace(" ", "")):
        # the morphemes tile the text, or the text without its plain spaces: offsets are
        # accumulated lengths, shifted past the spaces (a morpheme never holds one)
        ends = list(itertools.compress(itertools.accumulate(map(len, surfaces)), forms))
        starts = list(map(operator.sub, ends, map(len, itertools.compress(surfaces, forms))))
        if joined != text:
            q = _space_shifts(text)
            # a morpheme starting at stripped offset a starts after the spaces with q <= a;
            # one ending at b (exclusive) ends after those with q < b
            before = functools.partial(bisect.bisect_right, q)
            before_end = functools.partial(bisect.bisect_left, q)
            starts = list(map(operator.add, starts, map(before, starts)))
            ends = list(map(operator.add, ends, map(before_end, ends)))
        return list(itertools.compress(forms, forms)), starts, ends
    out_forms: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    pos = 0
    for surface, form in zip(surfaces, forms, strict=True):  # MeCab only skips whitespace
        start = text.find(surface, pos)
        if start < 0:  # pragma: no cover - MeCab never rewrites text, but stay safe
            continue
        pos = start + len(surface)
        if form:
            out_forms.append(form)
            out_starts.append(start)
            out_ends.append(pos)
    return out_forms, out_starts, out_ends
