"""CPU time of evidence spans per message explained, in one process.

    python bench/evidence_cost.py [--texts 6000] [--repeats 3]

Scores the hand-written corpus in chunks of 256 (as ``score_many`` does), keeps the messages
whose predicted categories get evidence, then times :func:`complaint_triage.explain.explain`
on them with their stored feature rows and warm tagging caches (as ``score_many`` calls it).
Reports the median over ``--repeats`` of CPU µs per explained message.  Run it from two
checkouts (``PYTHONPATH=<other checkout>/src``), alternating, to compare evidence code: the
host's load moves single runs by 10–20%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    from complaint_triage.explain import FeatureRow, explain
    from complaint_triage.model import decide_rows
    from complaint_triage.scoring import Triager

    lines = (ROOT / "data" / "corpus" / "handwritten.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(x)["text"] for x in lines[: a.texts]]
    tr = Triager.load()
    clf = tr.model.classifier
    chunks = []
    for i in range(0, len(texts), 256):
        chunk = texts[i : i + 256]
        F = clf.featurizer_.transform(chunk)
        jobs = []
        decisions = decide_rows(clf.scores_from_features(F), tr.model.thresholds)
        for k, (text, d) in enumerate(zip(chunk, decisions, strict=True)):
            if d.categories:
                jobs.append((text, d.categories, FeatureRow.of(F, k)))
        chunks.append((chunk, jobs))
    n = sum(len(j) for _, j in chunks)
    runs = []
    for _ in range(a.repeats):
        cpu = 0.0
        for chunk, jobs in chunks:
            clf.featurizer_.transform(chunk)  # the tagging caches are warm when score_many explains
            t0 = time.process_time()
            for text, cats, row in jobs:
                explain(clf, text, cats, features=row)
            cpu += time.process_time() - t0
        runs.append(cpu / n * 1e6)
    sys.stdout.write(f"{n} of {len(texts)} messages explained; evidence: {statistics.median(runs):.0f} µs CPU per "
                     f"explained message (median of {a.repeats}; runs: {', '.join(f'{r:.0f}' for r in runs)})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
