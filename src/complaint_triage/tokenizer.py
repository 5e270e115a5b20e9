"""Japanese word tokenizer: fugashi + unidic-lite, lemma forms, safe to pickle and share.

The tokenizer object holds parameters only.  The MeCab tagger (which cannot be pickled and
is not thread-safe) comes from a per-thread cache, so one tokenizer can be cloned, dumped
with skops, sent to worker processes and called from many threads at once.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from typing import Any

from sklearn.base import BaseEstimator

__all__ = ["JapaneseTokenizer", "Token", "get_tagger"]

# One line per morpheme: POS level 1, lemma, surface.  Unknown words use the surface as lemma.
_NODE_FORMAT = r"-F%f[0]\\t%f[7]\\t%m\\n -U%f[0]\\t%m\\t%m\\n -E\\n"
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


@functools.lru_cache(maxsize=2048)
def _tagged(text: str) -> str:
    # Cached: evidence spans re-read the morphemes of a text the featuriser just tagged.
    # UniDic lemmas of loanwords carry an English gloss with spaces (エアコン-air conditioner);
    # surfaces never contain spaces, so spaces are made underscores once for the whole output.
    return get_tagger().parse(text).replace(" ", "_")


_ALL_FIELDS = re.compile(r"^([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)$", re.M)


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
        pairs = _kept_pattern(tuple(self.drop_pos)).findall(_tagged(text))
        if self.use_lemma:
            return [s if (not lem or lem == "*") else lem for lem, s in pairs]
        return [s for _, s in pairs]

    def tokens(self, text: str) -> list[Token]:
        """Return every morpheme (including dropped ones) as :class:`Token`."""
        return list(_parse(text))

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Return ``(form, start, end)`` for kept morphemes, offsets into ``text``."""
        if not text:
            return []
        out: list[tuple[str, int, int]] = []
        pos = 0
        lemma = self.use_lemma
        drop = self.drop_pos
        for p, lem, surface in _ALL_FIELDS.findall(_tagged(text)):
            start = text.find(surface, pos)
            if start < 0:  # MeCab never rewrites text, but stay safe
                continue
            end = pos = start + len(surface)
            if p not in drop:
                out.append((lem if (lemma and lem and lem != "*") else surface, start, end))
        return out
