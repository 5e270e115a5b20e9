"""Scoring against bare wakati in ONE process, timed back to back: a ratio that host drift hardly moves.

    python bench/paired_ratio.py [--docs 3072] [--rounds 3]

``throughput.py`` times each pipeline in its own pool, one after another; on a shared host
whose speed drifts by 10-30% within a minute that ratio moves by as much.  Here one process
times, per round, bare ``Tagger('-Owakati').parse`` over the texts, ``score_many`` with and
without evidence (chunks of 256, tagging caches cleared per chunk), and wakati again; the mean
of the two wakati times is divided by each scoring time (so 0.5 means scoring takes twice as long).  CPU time
(``process_time``), corpus texts from the 257th (the first 256 warm up).  Prints the median
over rounds of each ratio as JSON.  To compare two checkouts, run it from each alternately
(``PYTHONPATH=<other checkout>/src``) and compare the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 256


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3072)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    import fugashi

    from complaint_triage.scoring import Triager
    from complaint_triage.tokenizer import _surfaces, _tagged

    lines = (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines()
    texts_all = [json.loads(x)["text"] for x in lines if x.strip()]
    texts = texts_all[CHUNK : CHUNK + a.docs]
    tr = Triager.load()
    tr.score_many(texts_all[:CHUNK])
    wakati = fugashi.Tagger("-Owakati")
    wakati.parse(texts[0])
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]

    def run_wakati() -> float:
        t0 = time.process_time()
        for t in texts:
            wakati.parse(t)
        return time.process_time() - t0

    def run_score(evidence: bool) -> float:
        t0 = time.process_time()
        for c in chunks:
            _surfaces.cache_clear()
            _tagged.cache_clear()
            tr.score_many(c, with_evidence=evidence)
        return time.process_time() - t0

    score, no_ev = [], []
    for _ in range(a.rounds):
        w0 = run_wakati()
        s = run_score(True)
        n = run_score(False)
        w1 = run_wakati()
        w = (w0 + w1) / 2
        score.append(w / s)
        no_ev.append(w / n)
    out = {"docs": len(texts), "rounds": a.rounds, "model": tr.version,
           "score_vs_wakati": round(statistics.median(score), 3),
           "score_no_evidence_vs_wakati": round(statistics.median(no_ev), 3),
           "rounds_score": [round(x, 3) for x in score], "rounds_no_evidence": [round(x, 3) for x in no_ev]}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
