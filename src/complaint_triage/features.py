"""Features: word (lemma) n-grams, character n-grams and the policy's signal features.

:class:`TextFeaturizer` turns raw texts into one sparse TF-IDF matrix whose columns are
named ``w:<lemma n-gram>``, ``c:<character n-gram>`` and ``s:<signal>``.  It is written by
hand rather than stacked from sklearn vectorizers so that a single message is featurised
without per-call validation overhead and so that every column can be traced back to the
spans of text that produced it (see :mod:`complaint_triage.explain`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from complaint_triage.normalize import normalize_text
from complaint_triage.signals import (  # the signals' public names are re-exported
    _GATED,
    SIGNAL_GATES,
    SIGNALS,
    _counts,
    signal_counts,
    signal_spans,
    signals_digest,
)
from complaint_triage.tokenizer import JapaneseTokenizer

__all__ = ["TextFeaturizer", "SIGNALS", "SIGNAL_GATES", "signal_counts", "signal_spans", "signals_digest",
           "speedups_available"]

try:  # the optional C accelerator (built at install time when a C compiler is present)
    from complaint_triage import _speedups
except ImportError:  # pragma: no cover - depends on the installation
    _speedups = None
else:
    if getattr(_speedups, "ABI_VERSION", None) != 3:  # pragma: no cover - a stale build
        _speedups = None


def speedups_available() -> bool:
    """Whether the compiled n-gram counter is in use (else the numpy path, same results)."""
    return _speedups is not None



def _word_ngrams(tokens: Sequence[str], lo: int, hi: int) -> Iterator[str]:
    n_tok = len(tokens)
    for n in range(lo, hi + 1):
        for i in range(n_tok - n + 1):
            yield "w:" + " ".join(tokens[i : i + n])


def _char_ngrams(text: str, lo: int, hi: int) -> Iterator[str]:
    t = text
    for n in range(lo, hi + 1):
        for i in range(len(t) - n + 1):
            yield "c:" + t[i : i + n]


@dataclass(frozen=True, eq=False)
class _NgramTable:
    """Sorted integer keys of n-grams over small integer ids (0 = not in any feature).

    An n-gram of ids ``a b c`` has key ``(a * base + b) * base + c``; ids start at 1, so keys
    of different lengths never collide, and an n-gram that contains a 0 anywhere but at its
    start has a key no feature has (so documents can be laid end to end with a 0 between them).
    """

    base: int
    keys: np.ndarray
    cols: np.ndarray
    #: every feature longer than the shortest n-gram counted has its prefix one symbol shorter
    #: as a feature too (true of every vocabulary :meth:`TextFeaturizer.fit` keeps: a prefix is
    #: in at least as many documents and sorts first), so a missing n-gram ends longer ones
    prefix_closed: bool = False
    #: the same keys in the C accelerator's hash table: (slots, bits)
    hashed: tuple[bytes, int] | None = None

    @classmethod
    def build(cls, grams: Sequence[tuple[Sequence[int], int]], base: int, max_n: int, min_n: int = 1) -> _NgramTable:
        if max_n >= 1 and base ** max_n >= 2**63:
            raise ValueError(
                f"{base - 1} distinct symbols are too many for {max_n}-gram integer keys; "
                "lower max_features or the n-gram range"
            )
        keys = np.empty(len(grams), dtype=np.int64)
        cols = np.empty(len(grams), dtype=np.int32)
        longer = np.zeros(len(grams), dtype=bool)
        for i, (ids, col) in enumerate(grams):
            k = 0
            for x in ids:
                k = k * base + x
            keys[i] = k
            cols[i] = col
            longer[i] = len(ids) > min_n
        order = np.argsort(keys, kind="stable")
        keys, cols = keys[order], cols[order]
        prefixes = keys[longer[order]] // base
        closed = bool(len(keys)) and bool(np.isin(prefixes, keys).all())
        hashed = _speedups.build_table(keys, cols) if _speedups is not None else None
        return cls(base, keys, cols, closed, hashed)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``keys`` of the keys that are features, and their columns."""
        if not len(keys) or not len(self.keys):
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int32)
        # searching sorted needles is several times faster than random ones
        order = np.argsort(keys)
        k = keys[order]
        pos = np.searchsorted(self.keys, k)
        pos[pos == len(self.keys)] = 0
        hit = self.keys[pos] == k
        return order[hit], self.cols[pos[hit]]

    def lookup(self, ids: np.ndarray, starts: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of every known ``lo..hi``-gram in documents laid end to end.

        ``ids`` holds the symbols of all documents with one 0 after each document;
        ``starts[d]`` is the position where document d begins.  N-grams never cross a
        document boundary (they would contain the 0).
        """
        total = len(ids)
        nothing = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        if total == 0 or not len(self.keys):
            return nothing
        # an n-gram starting on a 0 would share its key with the (n-1)-gram after the 0
        starts_ok = ids != 0
        key = np.zeros(total, dtype=np.int64)
        needles: list[np.ndarray] = []
        where: list[np.ndarray] = []
        for n in range(1, hi + 1):
            m = total - n + 1
            if m <= 0:
                break
            key = key[:m] * self.base + ids[n - 1 :]
            if n < lo:
                continue
            sel = np.flatnonzero(starts_ok[:m])
            needles.append(key[sel])
            where.append(sel)
        if not needles:
            return nothing
        k = np.concatenate(needles) if len(needles) > 1 else needles[0]
        pos, cols = self.find(k)
        at = (np.concatenate(where) if len(where) > 1 else where[0])[pos]
        rows = np.searchsorted(starts, at, side="right") - 1 if len(starts) > 1 else np.zeros(len(at), dtype=np.int64)
        return rows, cols


@dataclass(frozen=True, eq=False)
class _FastIndex:
    """Integer lookup tables for :meth:`TextFeaturizer.transform`, derived from the vocabulary."""

    lemma_ids: dict[str, int]
    words: _NgramTable
    char_lut: np.ndarray  # code point -> alphabet id (1-based); 0 beyond the table or not in it
    chars: _NgramTable
    signal_cols: tuple[int, ...]
    signal_names: tuple[str, ...]

    @classmethod
    def build(cls, vocabulary: dict[str, int], word_range: tuple[int, int], char_range: tuple[int, int]) -> _FastIndex:
        word_feats = [(f[2:].split(" "), j) for f, j in vocabulary.items() if f.startswith("w:")]
        char_feats = [(f[2:], j) for f, j in vocabulary.items() if f.startswith("c:")]
        lemmas = sorted({t for toks, _ in word_feats for t in toks})
        lemma_ids = {t: i + 1 for i, t in enumerate(lemmas)}
        words = _NgramTable.build([([lemma_ids[t] for t in toks], j) for toks, j in word_feats],
                                  len(lemmas) + 1, word_range[1], word_range[0])
        alphabet = sorted({ch for body, _ in char_feats for ch in body})
        char_id = {ch: i + 1 for i, ch in enumerate(alphabet)}
        chars = _NgramTable.build([([char_id[ch] for ch in body], j) for body, j in char_feats],
                                  len(alphabet) + 1, char_range[1], char_range[0])
        codes = np.asarray([ord(c) for c in alphabet], dtype=np.int64)
        lut = np.zeros(int(codes.max()) + 2 if len(codes) else 1, dtype=np.int32)
        lut[codes] = np.arange(1, len(codes) + 1, dtype=np.int32)
        # the signals the featuriser was fitted with (a model fitted before a signal was added
        # goes on without it)
        signal_names = tuple(s for s in SIGNALS if f"s:{s}" in vocabulary)
        signal_cols = tuple(vocabulary[f"s:{s}"] for s in signal_names)
        return cls(lemma_ids, words, lut, chars, signal_cols, signal_names)

    def char_ids(self, codepoints: np.ndarray) -> np.ndarray:
        """Alphabet id (1-based) of each code point; 0 for characters in no feature."""
        return self.char_lut[np.minimum(codepoints, len(self.char_lut) - 1)].astype(np.int64)


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Raw text → sparse TF-IDF features (word lemma n-grams, char n-grams, signals).

    Parameters
    ----------
    tokenizer : JapaneseTokenizer, default=None
        Word splitter; ``None`` means ``JapaneseTokenizer()``.
    word_ngram_range : tuple of int, default=(1, 2)
    char_ngram_range : tuple of int, default=(2, 4)
        Character n-grams over the normalised text (spaces included).
    min_df : int, default=2
        Keep only n-grams seen in at least this many training documents.
    max_features : int or None, default=200_000
        Keep the most frequent n-grams (by document frequency) up to this number.
    sublinear_tf : bool, default=True
        Use ``1 + log(tf)`` term frequencies.
    use_signals : bool, default=True
        Append the :data:`SIGNALS` features.
    signal_weight : float, default=0.3
        Scale of the signal block relative to the unit-norm n-gram blocks.
    signal_scales : mapping of str to float, default=None
        Extra factor for single signals (name → factor, 1 for the others): a signal that pools
        many rare words (``threat_phrase``) needs a larger value than the regularised weights
        of the common ones.
    char_weight : float, default=1.0
        Scale of the character n-gram block (the word block has norm 1).
    """

    def __init__(
        self,
        *,
        tokenizer: JapaneseTokenizer | None = None,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 4),
        min_df: int = 2,
        max_features: int | None = 200_000,
        sublinear_tf: bool = True,
        use_signals: bool = True,
        signal_weight: float = 0.3,
        signal_scales: dict[str, float] | None = None,
        char_weight: float = 1.0,
    ) -> None:
        self.tokenizer = tokenizer
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.use_signals = use_signals
        self.signal_weight = signal_weight
        self.signal_scales = signal_scales
        self.char_weight = char_weight

    # -- helpers ---------------------------------------------------------------
    def _tok(self) -> JapaneseTokenizer:
        return self.tokenizer if self.tokenizer is not None else JapaneseTokenizer()

    def _grams(self, norm: str, tok: JapaneseTokenizer) -> tuple[Counter[str], Counter[str]]:
        words = Counter(_word_ngrams(tok(norm), *self.word_ngram_range))
        chars = Counter(_char_ngrams(norm, *self.char_ngram_range))
        return words, chars

    @staticmethod
    def _check_texts(raw: object) -> list[str]:
        if isinstance(raw, str):
            raise ValueError("expected an iterable of texts, got a single string; wrap it in a list")
        texts = list(raw)  # type: ignore[call-overload]
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text at position {i} is {type(t).__name__}, expected str")
        return texts

    # -- sklearn API -----------------------------------------------------------
    def fit(self, raw_documents: Iterable[str], y: object = None) -> TextFeaturizer:
        unknown = sorted(set(self.signal_scales or {}) - set(SIGNALS))
        if unknown:
            raise ValueError(f"signal_scales names unknown signals {unknown}; the signals are {sorted(SIGNALS)}")
        texts = self._check_texts(raw_documents)
        norms = [normalize_text(t) for t in texts]
        tok = clone(self._tok()).fit(norms)  # learns the lemma table in lookup mode
        df: Counter[str] = Counter()
        for t in norms:
            words, chars = self._grams(t, tok)
            df.update(words.keys())
            df.update(chars.keys())
        kept = [(f, c) for f, c in df.items() if c >= self.min_df]
        kept.sort(key=lambda fc: (-fc[1], fc[0]))
        if self.max_features is not None:
            kept = kept[: self.max_features]
        kept.sort(key=lambda fc: fc[0])
        names = [f for f, _ in kept]
        n_docs = len(texts)
        idf = [math.log((1 + n_docs) / (1 + c)) + 1.0 for _, c in kept]
        if self.use_signals:
            names += [f"s:{s}" for s in SIGNALS]
            idf += [1.0] * len(SIGNALS)
        self.vocabulary_ = {f: i for i, f in enumerate(names)}
        self.idf_ = np.asarray(idf, dtype=np.float64)
        self.n_ngram_features_ = len(kept)
        self.tokenizer_ = tok
        return self

    # -- the vocabulary: a dict after fit; one packed string after loading ---------------
    # A loaded model keeps its 200,000 feature names as one string ("name\nname\n…") and
    # never holds them as a dict of Python strings (about 28 MB of a server's memory):
    # ``vocabulary_`` is then rebuilt on each access, the lookup tables are built from it
    # once, and evidence spans read single names through :meth:`feature_name`.
    @property
    def vocabulary_(self) -> dict[str, int]:
        """Feature name → column.  On a loaded featuriser this builds a new dict on every
        access (about 0.1 s): keep it off per-message paths (use :meth:`feature_name`)."""
        vocab = self.__dict__.get("_vocabulary")
        if vocab is not None:
            return vocab
        packed = self.__dict__.get("_names_packed")
        if packed is None:
            raise AttributeError("'TextFeaturizer' object has no attribute 'vocabulary_' (not fitted)")
        return {f: i for i, f in enumerate(packed.split("\n"))}

    @vocabulary_.setter
    def vocabulary_(self, value: dict[str, int]) -> None:
        for key in ("_names_packed", "_index_cache", "_name_offsets"):
            self.__dict__.pop(key, None)
        self.__dict__["_vocabulary"] = value

    def _vocabulary_source(self) -> object:
        """The object the vocabulary lives in (dict or packed string): the key of derived caches."""
        src = self.__dict__.get("_vocabulary")
        return src if src is not None else self.__dict__.get("_names_packed")

    def feature_name(self, j: int) -> str:
        """Name of feature column ``j`` (``w:…``, ``c:…`` or ``s:…``)."""
        packed = self.__dict__.get("_names_packed")
        if packed is None:
            cached = self.__dict__.get("_name_list")
            if cached is None or cached[0] is not self.vocabulary_:
                cached = (self.vocabulary_, list(self.get_feature_names_out()))
                self.__dict__["_name_list"] = cached
            return str(cached[1][j])
        off = self.__dict__.get("_name_offsets")
        if off is None:
            breaks = np.flatnonzero(np.frombuffer(packed.encode("utf-32-le"), dtype=np.uint32) == 10)
            off = np.concatenate(([0], breaks + 1, [len(packed) + 1]))
            self.__dict__["_name_offsets"] = off
        return packed[int(off[j]) : int(off[j + 1]) - 1]

    # -- compact persistence: the vocabulary travels as one string, not a dict ----------
    def __getstate__(self) -> dict[str, object]:
        state = dict(super().__getstate__())
        for cache in ("_index_cache", "_name_list", "_name_offsets"):
            state.pop(cache, None)
        vocab = state.pop("_vocabulary", None)
        packed = state.pop("_names_packed", None)
        if vocab is not None:
            packed = "\n".join(sorted(vocab, key=vocab.__getitem__))
        if packed is not None:
            state["feature_names_packed_"] = packed
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        state = dict(state)
        packed = state.pop("feature_names_packed_", None)
        super().__setstate__(state)
        if packed is not None:
            self.__dict__["_names_packed"] = str(packed)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "idf_", msg="The text featurizer is not fitted")
        packed = self.__dict__.get("_names_packed")
        if packed is not None:
            return np.asarray(packed.split("\n"), dtype=object)
        vocab = self.vocabulary_
        names = np.empty(len(vocab), dtype=object)
        for f, i in vocab.items():
            names[i] = f
        return names

    def _index(self) -> _FastIndex:
        """Integer lookup tables derived from the vocabulary (not saved; built on first use)."""
        cached = self.__dict__.get("_index_cache")
        src = self._vocabulary_source()
        if cached is None or cached[0] is not src:
            index = _FastIndex.build(self.vocabulary_, tuple(self.word_ngram_range), tuple(self.char_ngram_range))
            cached = (src, index)
            self.__dict__["_index_cache"] = cached
        return cached[1]

    def _block(self, rows: np.ndarray, cols: np.ndarray, n_docs: int, scale: float) -> tuple[np.ndarray, ...]:
        """Count (row, col) pairs into TF-IDF values, L2-normalised per row to ``scale``."""
        if not len(cols):
            return rows, cols, np.zeros(0)
        n_cols = np.int64(len(self.idf_))
        key, tf = np.unique(rows * n_cols + cols, return_counts=True)
        r, c = np.divmod(key, n_cols)
        v = (1.0 + np.log(tf)) if self.sublinear_tf else tf.astype(np.float64)
        v = v * self.idf_[c]
        norm = np.sqrt(np.bincount(r, weights=v * v, minlength=n_docs))
        v *= scale / norm[r]
        return r, c, v

    def _signal_triples(self, norms: Sequence[str], idx: _FastIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every signal feature, sorted by row then column."""
        srows: list[int] = []
        scols: list[int] = []
        svals: list[float] = []
        if self.use_signals:
            scales = getattr(self, "signal_scales", None) or {}  # (models saved before it existed)
            ws = [self.signal_weight * float(scales.get(n, 1.0)) for n in idx.signal_names]
            gated = [_GATED[n] for n in idx.signal_names]  # the signals it was fitted with
            for i, t in enumerate(norms):
                for j, w, k in zip(idx.signal_cols, ws, _counts(t, gated), strict=True):
                    if k:
                        srows.append(i)
                        scols.append(j)
                        svals.append(w * math.log1p(k))
        return (np.asarray(srows, dtype=np.int64), np.asarray(scols, dtype=np.int64),
                np.asarray(svals, dtype=np.float64))

    def _transform_compiled(self, norms: Sequence[str], idx: _FastIndex) -> sp.csr_matrix:
        """The C accelerator's path: the same matrix as :meth:`_transform_numpy`."""
        tok = self.tokenizer_
        pieces = tok.pieces
        words, chars = idx.words, idx.chars
        assert words.hashed is not None and chars.hashed is not None and _speedups is not None
        indptr, indices, data = _speedups.featurize(
            [pieces(t) for t in norms], tok.piece_ids(idx.lemma_ids), norms, idx.char_lut,
            *words.hashed, words.base, *self.word_ngram_range, words.prefix_closed,
            *chars.hashed, chars.base, *self.char_ngram_range, chars.prefix_closed,
            self.idf_, 1.0, float(self.char_weight), bool(self.sublinear_tf),
            *self._signal_triples(norms, idx),
        )
        ptr = np.frombuffer(indptr, dtype=np.int64)
        if ptr[-1] < np.iinfo(np.int32).max:  # what scipy would convert it to, without its checks' cost
            ptr = ptr.astype(np.int32)
        return sp.csr_matrix(
            (np.frombuffer(data, dtype=np.float32), np.frombuffer(indices, dtype=np.int32), ptr),
            shape=(len(norms), len(self.idf_)),
        )

    def _transform_normalised(self, norms: Sequence[str], *, compiled: bool = True) -> sp.csr_matrix:
        idx = self._index()
        # the tables are hashed exactly when the accelerator was importable as they were built
        if compiled and idx.words.hashed is not None and idx.chars.hashed is not None:
            return self._transform_compiled(norms, idx)
        return self._transform_numpy(norms, idx)

    def _transform_numpy(self, norms: Sequence[str], idx: _FastIndex) -> sp.csr_matrix:
        n = len(norms)
        tok = self.tokenizer_
        # word block: lemma ids per document (a 0 after each), n-grams as integer keys
        lemma_ids = idx.lemma_ids
        wl: list[int] = []
        wstarts = np.empty(n, dtype=np.int64)
        for i, t in enumerate(norms):
            wstarts[i] = len(wl)
            wl.extend([lemma_ids.get(x, 0) for x in tok(t)])
            wl.append(0)
        wr, wc = idx.words.lookup(np.asarray(wl, dtype=np.int64), wstarts, *self.word_ngram_range)
        # char block: code points mapped to alphabet ids, a 0 after each document
        cstarts = np.zeros(n, dtype=np.int64)
        if n > 1:
            np.cumsum(np.fromiter(map(len, norms[:-1]), dtype=np.int64, count=n - 1) + 1, out=cstarts[1:])
        cp = np.frombuffer(("\0".join(norms) + "\0").encode("utf-32-le"), dtype=np.uint32)
        cids = idx.char_ids(cp)
        cids[cstarts[1:] - 1] = 0  # the separators, even if "\0" were a feature's character
        cids[-1] = 0
        cr, cc = idx.chars.lookup(cids, cstarts, *self.char_ngram_range)
        parts = [self._block(wr, wc, n, 1.0), self._block(cr, cc, n, self.char_weight)]
        if self.use_signals:
            parts.append(self._signal_triples(norms, idx))
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts]).astype(np.float32)
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return sp.csr_matrix((vals, cols.astype(np.int32), indptr), shape=(n, len(self.idf_)))

    def transform(self, raw_documents: Iterable[str]) -> sp.csr_matrix:
        check_is_fitted(self, "idf_", msg="The text featurizer is not fitted")
        texts = self._check_texts(raw_documents)
        return self._transform_normalised([normalize_text(t) for t in texts])
