"""Evidence spans for predicted categories, read off the model's own weights.

For each predicted category, every feature present in the message contributes
``value × weight`` to that category's score.  The positive contributors are located in the
normalised text (lemma n-grams through the tokenizer's offsets, character n-grams and
signals directly), overlapping occurrences are merged, and the strongest merged spans are
mapped back to the ORIGINAL input string through the normaliser's offset map.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from complaint_triage.features import signal_spans
from complaint_triage.labels import CATEGORIES, VERDICTS
from complaint_triage.model import TriageClassifier
from complaint_triage.normalize import normalize_with_map

__all__ = ["Evidence", "explain"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """A span of the original text supporting a category."""

    category: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"category": self.category, "start": self.start, "end": self.end, "text": self.text}


def _occurrences(model: TriageClassifier, norm: str) -> dict[int, list[tuple[int, int]]]:
    """Feature column -> list of (start, end) spans in the normalised text."""
    feat = model.featurizer_
    vocab = feat.vocabulary_
    occ: dict[int, list[tuple[int, int]]] = defaultdict(list)
    spans = feat.tokenizer_.spans(norm)
    lo, hi = feat.word_ngram_range
    for n in range(lo, hi + 1):
        for i in range(len(spans) - n + 1):
            j = vocab.get("w:" + " ".join(s[0] for s in spans[i : i + n]))
            if j is not None:
                occ[j].append((spans[i][1], spans[i + n - 1][2]))
    lo, hi = feat.char_ngram_range
    for n in range(lo, hi + 1):
        for i in range(len(norm) - n + 1):
            j = vocab.get("c:" + norm[i : i + n])
            if j is not None:
                occ[j].append((i, i + n))
    if feat.use_signals:
        for name, a, b in signal_spans(norm):
            occ[vocab["s:" + name]].append((a, b))
    return occ


def _trim(a: int, b: int, pieces: list[tuple[int, int, float]], keep: float = 0.25) -> tuple[int, int]:
    """Shrink ``[a, b)`` by dropping edge characters with little support of their own."""
    score = np.zeros(b - a)
    for pa, pb, c in pieces:
        lo, hi = max(pa, a), min(pb, b)
        if lo < hi:
            score[lo - a : hi - a] += c / (pb - pa)
    cut = keep * score.max()
    idx = np.nonzero(score >= cut)[0]
    return (a + int(idx[0]), a + int(idx[-1]) + 1) if len(idx) else (a, b)


def explain(model: TriageClassifier, text: str, categories: Sequence[str], *, max_spans: int = 3,
            top_features: int = 12) -> list[Evidence]:
    """Return up to ``max_spans`` evidence spans per category in ``categories``.

    Offsets index the original ``text``; ``text[start:end] == evidence.text``.
    """
    if not categories:
        return []
    nt = normalize_with_map(text)
    if not nt.text:
        return []
    x = model.featurizer_.transform([text])
    cols, vals = x.indices, x.data.astype(np.float64)
    occ = _occurrences(model, nt.text)
    out: list[Evidence] = []
    for cat in categories:
        k = len(VERDICTS) + CATEGORIES.index(cat)
        contrib = vals * model.coef_[cols, k]
        order = np.argsort(-contrib)[:top_features]
        pieces: list[tuple[int, int, float]] = []
        for idx in order:
            c = float(contrib[idx])
            if c <= 0:
                break
            locs = occ.get(int(cols[idx]), [])
            for a, b in locs:
                pieces.append((a, b, c / len(locs)))
        if not pieces:
            continue
        # merge overlapping or touching pieces, summing their contributions
        pieces.sort()
        merged: list[list[float]] = []
        for a, b, c in pieces:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
                merged[-1][2] += c
            else:
                merged.append([a, b, c])
        merged.sort(key=lambda m: -m[2])
        for a, b, _ in merged[:max_spans]:
            a, b = _trim(int(a), int(b), pieces)
            s, e = nt.to_original(a, b)
            out.append(Evidence(cat, s, e, text[s:e]))
    return out
