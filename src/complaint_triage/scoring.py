"""Scoring façade: validate texts, apply the model and its thresholds, add evidence and action.

Every edge (CLI, API, batch) scores through :class:`Triager`, so they all emit the same
output schema::

    verdict, categories, grievance, scores, evidence, action, review, model_version
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from complaint_triage.exceptions import InvalidTextError
from complaint_triage.explain import FeatureRow, explain
from complaint_triage.model import SCORE_NAMES, decide_rows
from complaint_triage.persist import LoadedModel, load_model
from complaint_triage.results import (
    DEFAULT_MAX_CHARS,
    OUTPUT_FIELDS,
    Evidence,
    Prediction,
    ScoringError,
    check_text,
)
from complaint_triage.signals import served_action

__all__ = ["Prediction", "ScoringError", "Triager", "check_text", "DEFAULT_MAX_CHARS", "OUTPUT_FIELDS", "Evidence"]


#: Most messages featurised at once by :meth:`Triager.score_many` (larger calls go in slices):
#: at most half of the tokenizer's cache of morphemes, which evidence reads again.
SLICE = 256


class Triager:
    """Score messages with a loaded model.

    Parameters
    ----------
    model : LoadedModel
        From :func:`complaint_triage.persist.load_model`.
    max_chars : int
        Longer texts are refused with an error record.
    limit_option : str or None
        The option that sets ``max_chars`` (the CLI's ``--max-chars``), named in that error.
    """

    def __init__(self, model: LoadedModel, *, max_chars: int = DEFAULT_MAX_CHARS,
                 limit_option: str | None = None) -> None:
        self.model = model
        self.max_chars = max_chars
        self.limit_option = limit_option
        self._thresholds = model.thresholds

    @classmethod
    def load(cls, path: Path | str | None = None, **kwargs: Any) -> Triager:
        """Load a model directory (default: the promoted model) and wrap it."""
        return cls(load_model(path), **kwargs)

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, text: str) -> Prediction:
        """Score one message; raises :class:`InvalidTextError` for unscoreable text."""
        result = self.score_many([text])[0]
        if isinstance(result, ScoringError):
            raise InvalidTextError(result.error)
        return result

    def score_many(self, texts: Iterable[object], *, with_evidence: bool = True) -> list[Prediction | ScoringError]:
        """Score many messages, in order; each invalid one yields a :class:`ScoringError` in its place.

        ``texts``: a list, a tuple or any other iterable of texts in a fixed order (a generator, a
        pandas Series, ``dict.values()``), read once; the results are in the same order.

        Raises :class:`TypeError` for a single string (it would be scored character by character:
        pass a list of texts, or use :meth:`score`), for a mapping (iterating a dict gives its keys:
        pass ``list(d.values())``, and keep the keys to match the results), for a set (its order is
        arbitrary, so the results could not be matched to the texts: pass a list) and for what is
        not iterable.
        """
        if isinstance(texts, str | bytes):
            raise TypeError("score_many takes a sequence of texts, not one string; use score(text) for one "
                            "message, or score_many([text])")
        if isinstance(texts, Mapping):
            raise TypeError(f"score_many takes a sequence of texts, not a mapping ({type(texts).__name__}): it would "
                            "score the keys; pass list(d.values()) and keep list(d) to match the results to the keys")
        if isinstance(texts, set | frozenset):
            raise TypeError(f"score_many takes a sequence of texts, not a {type(texts).__name__}: a set has no order, "
                            "so the results could not be matched to the texts; pass a list (e.g. sorted(texts))")
        if not isinstance(texts, Sequence):
            if not isinstance(texts, Iterable):
                raise TypeError(f"score_many takes a sequence of texts (e.g. a list); got {type(texts).__name__}")
            texts = list(texts)  # (a generator, a Series, dict.values(): read once, in their order)
        if len(texts) > SLICE:
            # in slices, so that the evidence of a slice finds its texts' morphemes still in the
            # tokenizer's small cache (see complaint_triage.tokenizer._surfaces); every text is
            # scored on its own, so the slices change no result
            return [r for i in range(0, len(texts), SLICE)
                    for r in self.score_many(texts[i : i + SLICE], with_evidence=with_evidence)]
        out: list[Prediction | ScoringError | None] = [None] * len(texts)
        ok_idx: list[int] = []
        ok_txt: list[str] = []
        for i, t in enumerate(texts):
            try:
                ok_txt.append(check_text(t, self.max_chars, limit_option=self.limit_option))
                ok_idx.append(i)
            except InvalidTextError as e:
                out[i] = ScoringError(str(e), self.version)
        if ok_txt:
            clf = self.model.classifier
            F = clf.featurizer_.transform(ok_txt)
            P = clf.scores_from_features(F)
            decisions = decide_rows(P, self._thresholds)
            # scores rounded to 4 places for the whole batch at once (numpy scales, rounds and
            # scales back, so it can differ from round(v, 4) only for a value within rounding
            # error of a midpoint, where either neighbour is right; none of 2.2M random values did)
            rounded = np.round(P[:, : len(SCORE_NAMES)], 4).tolist()  # (a bystander column stays internal)
            for k, (i, text, d, p) in enumerate(zip(ok_idx, ok_txt, decisions, rounded, strict=True)):
                ev: list[Evidence] = []
                if with_evidence and d.categories:
                    ev = explain(clf, text, d.categories, features=FeatureRow.of(F, k))
                out[i] = Prediction(
                    verdict=d.verdict,
                    categories=list(d.categories),
                    grievance=d.grievance,
                    scores=dict(zip(SCORE_NAMES, p, strict=True)),
                    evidence=ev,
                    action=served_action(d.verdict, d.categories, text),
                    review=d.review,
                    model_version=self.version,
                )
        return [o for o in out if o is not None]


_default: Triager | None = None
_default_lock = threading.Lock()


def default_triager() -> Triager:
    """The promoted model, loaded once per process on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Triager.load()
        return _default
