"""Do the evidence spans point at the right words?  Measured against hand-marked gold spans.

    python tools/eval_evidence.py [MODEL_DIR] [--json build/evidence.json]

``data/evidence/items.jsonl`` holds harassment messages of the test split (never trained on)
and ``data/evidence/gold.jsonl`` the spans an annotator marked for each of their categories,
without seeing any model output (exact substrings; every occurrence counts).  For every
(message, gold category) pair the model explains that category, with the settings `score`
uses, and the script reports:

- hit@3: at least one of the (up to 3) spans overlaps a gold span of the category;
- hit@1: the first span does;
- span precision: the share of all spans shown that overlap a gold span of their category;
- gold recall: the share of gold spans that some shown span overlaps.

Explaining the gold categories separates the quality of the spans from the category
decisions.  The same figures for the categories the model predicts (what a user sees) follow.
Pairs are also split by a hash of the message id into two halves, A and B, so that a change to
the evidence method can be chosen on one half and checked on the other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "evidence"


def half(message_id: str) -> str:
    """``"A"`` or ``"B"``: a fixed split of the messages by a hash of their id."""
    return "A" if hashlib.sha256(message_id.encode()).digest()[0] % 2 == 0 else "B"


def gold_spans(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    """Every occurrence of every gold phrase, as (start, end) offsets of ``text``."""
    out = []
    for p in phrases:
        if not p or p not in text:
            raise ValueError(f"gold span {p!r} is not in its message: fix data/evidence/gold.jsonl")
        start = text.find(p)
        while start >= 0:
            out.append((start, start + len(p)))
            start = text.find(p, start + 1)
    return out


def _overlaps(a: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(a[0] < e and s < a[1] for s, e in spans)


def _chars(spans: Sequence[tuple[int, int]]) -> set[int]:
    return {i for s, e in spans for i in range(s, e)}


def score_pairs(pairs: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]]) -> dict[str, float | int]:
    """Figures over (shown spans, gold spans) pairs; shown spans in the model's order."""
    shown = [s for spans, _ in pairs for s in spans]
    golds = [(g, spans) for spans, gold in pairs for g in gold]
    n = len(pairs)
    both = sum(len(_chars(sp) & _chars(g)) for sp, g in pairs)
    return {
        "pairs": n,
        "hit@3": round(sum(any(_overlaps(s, gold) for s in spans) for spans, gold in pairs) / n, 3) if n else 0.0,
        "hit@1": round(sum(bool(spans) and _overlaps(spans[0], gold) for spans, gold in pairs) / n, 3) if n else 0.0,
        "span_precision": round(sum(_overlaps(s, gold) for spans, gold in pairs for s in spans) / len(shown), 3)
        if shown else 0.0,
        "gold_recall": round(sum(_overlaps(g, spans) for g, spans in golds) / len(golds), 3) if golds else 0.0,
        # by characters: the share of shown characters inside a gold span, and of gold characters shown
        "char_precision": round(both / max(1, sum(len(_chars(sp)) for sp, _ in pairs)), 3),
        "char_recall": round(both / max(1, sum(len(_chars(g)) for _, g in pairs)), 3),
        "spans_shown": len(shown),
        "mean_span_chars": round(sum(e - s for s, e in shown) / len(shown), 1) if shown else 0.0,
    }


def evaluate(triager) -> dict:
    """The figures for ``triager`` (a :class:`~complaint_triage.scoring.Triager`)."""
    from complaint_triage.explain import explain

    items = {r["id"]: r for r in map(json.loads, (DATA / "items.jsonl").read_text(encoding="utf-8").splitlines())}
    gold: dict[tuple[str, str], list[str]] = {}
    for line in (DATA / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            g = json.loads(line)
            gold[(g["id"], g["category"])] = g["spans"]
    clf = triager.model.classifier
    ids = sorted({i for i, _ in gold})
    preds = dict(zip(ids, triager.score_many([items[i]["text"] for i in ids]), strict=True))

    given: dict[str, list] = {"A": [], "B": [], "all": []}
    seen: list = []
    missing_category = 0
    for (mid, cat), phrases in sorted(gold.items()):
        text = items[mid]["text"]
        g = gold_spans(text, phrases)
        ev = [(e.start, e.end) for e in explain(clf, text, [cat])]
        for key in (half(mid), "all"):
            given[key].append((ev, g))
        p = preds[mid]
        if cat in getattr(p, "categories", ()):
            seen.append(([(e.start, e.end) for e in p.evidence if e.category == cat], g))
        else:
            missing_category += 1
    return {
        "model": triager.version,
        "messages": len(ids),
        "gold_pairs": len(gold),
        "gold_mean_span_chars": round(sum(len(x) for v in gold.values() for x in v)
                                      / sum(len(v) for v in gold.values()), 1),
        "explaining the gold categories": {k: score_pairs(v) for k, v in given.items()},
        "as scored (predicted categories that are gold)": score_pairs(seen),
        "gold categories not predicted": missing_category,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", type=Path, default=None, help="model directory (default: the promoted one)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args(argv)

    from complaint_triage.scoring import Triager

    report = evaluate(Triager.load(a.model))
    sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
