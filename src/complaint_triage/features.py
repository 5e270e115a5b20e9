"""Features: word (lemma) n-grams, character n-grams and the policy's signal features.

:class:`TextFeaturizer` turns raw texts into one sparse TF-IDF matrix whose columns are
named ``w:<lemma n-gram>``, ``c:<character n-gram>`` and ``s:<signal>``.  It is written by
hand rather than stacked from sklearn vectorizers so that a single message is featurised
without per-call validation overhead and so that every column can be traced back to the
spans of text that produced it (see :mod:`complaint_triage.explain`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from complaint_triage.normalize import normalize_text
from complaint_triage.tokenizer import JapaneseTokenizer

__all__ = ["TextFeaturizer", "SIGNALS", "signal_spans"]

_N = r"(?:\d+|[一二三四五六七八九十半数]+)"

#: Signals and counter-signals named by the policy.  Each is a regex over normalised text;
#: its feature value is log(1 + number of matches).
SIGNALS: dict[str, re.Pattern[str]] = {
    # counter-signals: lawful escalation is a complaint's right, not harassment
    "lawful_escalation": re.compile(
        r"情報公開|開示請求|監査請求|審査請求|不服申(?:し)?立|行政不服|議員|区議会|議会に|弁護士|法テラス|"
        r"オンブズ|報道機関|新聞社|マスコミ|行政相談|訴訟|裁判所|消費生活センター|人権擁護|法務局"
    ),
    # quoted speech (staff notes quoting customers, bystanders quoting others)
    "quoted_speech": re.compile(r"「[^「」]{1,120}」|『[^『』]{1,120}』"),
    # third-person incident records written by staff
    "staff_note": re.compile(
        r"来庁者|架電者|相談者|申出者|当該者|来所者|来訪者|対応者|所属長|係長同席|録音告知|"
        r"(?:男性|女性)\(\d0代|(?:男性|女性)\d0代|TEL|退去を求め|110番|警備員"
    ),
    # durations and counts: evidence of holding staff or repetition
    "duration": re.compile(rf"{_N}時間(?:以上|近く|超|半)?|{_N}分(?:以上|間)|閉庁(?:後|時間)"),
    "repetition": re.compile(rf"{_N}回目|{_N}通目|{_N}度目|{_N}回も|何度も|何回も|毎日|連日|繰り返し"),
    "money": re.compile(rf"{_N}万円|{_N}億|{_N}千万|慰謝料|賠償|補償|弁償|返金"),
    "second_person": re.compile(r"お前|おまえ|てめえ|てめー|テメー|貴様|きさま|あんた|おどれ|おどりゃ|われ(?=[はがもな])"),
    "personal_target": re.compile(r"クビ|懲戒|処分しろ|処分を求め|辞めさせ|辞めろ|異動させ|個人(?:の)?(?:携帯|電話|連絡先|住所)|自宅"),
    "bystander": re.compile(r"怖かった|見かけ|目撃|他の(?:来庁者|利用者|お客|人)|隣の(?:人|窓口|男性|女性)|別の(?:男性|女性|人|来庁者)|後ろの(?:人|男性|女性)"),
    "exposure": re.compile(r"晒|拡散|ネットに|SNS|sns|ツイッター|twitter|x\(旧|youtube|ユーチューブ|動画|撮影|写真|炎上|特定"),
    "exclamation": re.compile(r"!|\?!"),
}


def signal_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield ``(signal name, start, end)`` for every signal match in normalised ``text``."""
    for name, pattern in SIGNALS.items():
        for m in pattern.finditer(text):
            yield name, m.start(), m.end()


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
        texts = self._check_texts(raw_documents)
        tok = clone(self._tok())
        df: Counter[str] = Counter()
        for t in texts:
            words, chars = self._grams(normalize_text(t), tok)
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

    # -- compact persistence: the vocabulary travels as one string, not a dict ----------
    def __getstate__(self) -> dict[str, object]:
        state = dict(super().__getstate__())
        state.pop("_split_vocab_cache", None)
        vocab = state.pop("vocabulary_", None)
        if vocab is not None:
            names = sorted(vocab, key=vocab.__getitem__)
            state["feature_names_packed_"] = "\n".join(names)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        state = dict(state)
        packed = state.pop("feature_names_packed_", None)
        super().__setstate__(state)
        if packed is not None:
            names = str(packed).split("\n")
            self.vocabulary_ = {f: i for i, f in enumerate(names)}

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_", msg="The text featurizer is not fitted")
        names = np.empty(len(self.vocabulary_), dtype=object)
        for f, i in self.vocabulary_.items():
            names[i] = f
        return names

    def _split_vocab(self) -> tuple[dict[str, int], dict[str, int]]:
        """Word and character vocabularies without their prefixes (derived, not saved)."""
        cached = self.__dict__.get("_split_vocab_cache")
        if cached is None or cached[0] is not self.vocabulary_:
            w = {f[2:]: j for f, j in self.vocabulary_.items() if f.startswith("w:")}
            c = {f[2:]: j for f, j in self.vocabulary_.items() if f.startswith("c:")}
            cached = (self.vocabulary_, w, c)
            self.__dict__["_split_vocab_cache"] = cached
        return cached[1], cached[2]

    def _row(self, text: str) -> tuple[list[int], list[float]]:
        vocab = self.vocabulary_
        idf = self.idf_
        wv, cv = self._split_vocab()
        norm = normalize_text(text)
        toks = self.tokenizer_(norm)
        words: Counter[str] = Counter()
        lo, hi = self.word_ngram_range
        for n in range(lo, hi + 1):
            words.update(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
        chars: Counter[str] = Counter()
        lo, hi = self.char_ngram_range
        for n in range(lo, hi + 1):
            chars.update(norm[i : i + n] for i in range(len(norm) - n + 1))
        cols: list[int] = []
        vals: list[float] = []
        for block, bvocab, scale in ((words, wv, 1.0), (chars, cv, self.char_weight)):
            found = [(j, c) for j, c in zip(map(bvocab.get, block.keys()), block.values(), strict=True) if j is not None]
            if not found:
                continue
            js = np.fromiter((j for j, _ in found), dtype=np.int64, count=len(found))
            tf = np.fromiter((c for _, c in found), dtype=np.float64, count=len(found))
            if self.sublinear_tf:
                tf = 1.0 + np.log(tf)
            v = tf * idf[js]
            v *= scale / np.sqrt(v @ v)
            cols += js.tolist()
            vals += v.tolist()
        if self.use_signals:
            w = self.signal_weight
            for name, pattern in SIGNALS.items():
                n = len(pattern.findall(norm))
                if n:
                    cols.append(vocab["s:" + name])
                    vals.append(w * math.log1p(n))
        return cols, vals

    def transform(self, raw_documents: Iterable[str]) -> sp.csr_matrix:
        check_is_fitted(self, "vocabulary_", msg="The text featurizer is not fitted")
        texts = self._check_texts(raw_documents)
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for t in texts:
            cols, vals = self._row(t)
            indices += cols
            data += vals
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), len(self.vocabulary_)),
        )
