"""Japanese word tokenizer: fugashi + unidic-lite, lemma forms, safe to pickle and share.

The tokenizer object holds parameters only.  The MeCab tagger (which cannot be pickled and
is not thread-safe) comes from a per-thread cache, so one tokenizer can be cloned, dumped
with skops, sent to worker processes and called from many threads at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from sklearn.base import BaseEstimator

__all__ = ["JapaneseTokenizer", "Token", "get_tagger"]

# One line per morpheme: surface, POS level 1, lemma.  Unknown words have no lemma field.
_NODE_FORMAT = r"-F%m\\t%f[0]\\t%f[7]\\n -U%m\\t%f[0]\\t\\n -E\\n"
_DROP_DEFAULT = ("補助記号", "空白")

_local = threading.local()


def get_tagger() -> Any:
    """Return this thread's fugashi tagger, creating it on first use.

    The tagger is keyed by process id too, so a forked worker never reuses its parent's.
    """
    key = os.getpid()
    cached = getattr(_local, "tagger", None)
    if cached is None or cached[0] != key:
        import fugashi
        import unidic_lite

        dicdir = unidic_lite.DICDIR
        rc = os.path.join(dicdir, "mecabrc")
        try:
            tagger = fugashi.GenericTagger(f'-r "{rc}" -d "{dicdir}" -O "" {_NODE_FORMAT}')
        except RuntimeError as e:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "Could not start MeCab with the unidic-lite dictionary. Reinstall the package "
                "dependencies (pip install -e .) so that fugashi and unidic-lite are present."
            ) from e
        cached = (key, tagger)
        _local.tagger = cached
    return cached[1]


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


def _parse(text: str) -> Iterator[Token]:
    if not text:
        return
    for line in get_tagger().parse(text).split("\n"):
        if not line:
            continue
        fields = line.split("\t")
        surface = fields[0]
        pos = fields[1] if len(fields) > 1 else ""
        lemma = fields[2] if len(fields) > 2 and fields[2] and fields[2] != "*" else surface
        yield Token((surface, pos, lemma))


class JapaneseTokenizer(BaseEstimator):
    """Split (normalised) Japanese text into lemma or surface forms.

    Parameters
    ----------
    use_lemma : bool, default=True
        Return dictionary forms (怒鳴っ → 怒鳴る); unknown words fall back to the surface.
    drop_pos : tuple of str, default=("補助記号", "空白")
        Level-1 parts of speech to leave out (punctuation, spaces).

    Examples
    --------
    >>> JapaneseTokenizer()("職員が怒鳴った")
    ['職員', 'が', '怒鳴る', 'た']
    """

    def __init__(self, *, use_lemma: bool = True, drop_pos: tuple[str, ...] = _DROP_DEFAULT) -> None:
        self.use_lemma = use_lemma
        self.drop_pos = drop_pos

    def __call__(self, text: str) -> list[str]:
        if not text:
            return []
        drop = self.drop_pos
        out: list[str] = []
        lemma = self.use_lemma
        for line in get_tagger().parse(text).split("\n"):
            f = line.split("\t")
            if len(f) < 2 or f[1] in drop:
                continue
            if lemma and len(f) > 2 and f[2] and f[2] != "*":
                out.append(f[2])
            else:
                out.append(f[0])
        return out

    def tokens(self, text: str) -> list[Token]:
        """Return every morpheme (including dropped ones) as :class:`Token`."""
        return list(_parse(text))

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Return ``(form, start, end)`` for kept morphemes, offsets into ``text``."""
        idx = 2 if self.use_lemma else 0
        out: list[tuple[str, int, int]] = []
        pos = 0
        for tok in _parse(text):
            start = text.find(tok[0], pos)
            if start < 0:  # MeCab never rewrites text, but stay safe
                continue
            end = start + len(tok[0])
            pos = end
            if tok[1] not in self.drop_pos:
                out.append((tok[idx], start, end))
        return out
