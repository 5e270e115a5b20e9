"""Which false-flag cap keeps complaints from an UNSEEN writer below the goal? (no test data)

    python tools/threshold_policy.py [--caps 0.005 0.0075 0.01 0.015]

Fits the classifier once on train+dev (out-of-fold predictions with whole writer batches held
out, as `complaint-triage train` does), then for every writer batch B: chooses the harassment
threshold on the out-of-fold scores of all other batches with the given cap, and applies it
to B.  Reports, pooled over batches, the complaint false-flag rate and harassment recall an
unseen writer would see, and the worst single batch.  The test split is never read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--caps", type=float, nargs="+", default=[0.005, 0.0075, 0.01, 0.015])
    a = ap.parse_args()
    from complaint_triage.corpus import load_corpus
    from complaint_triage.model import Targets, choose_thresholds, harassment_score_for, harassment_threshold
    from complaint_triage.training import DEFAULT_PARAMS, build_classifier

    recs = load_corpus(None)
    batch_of = {r["id"]: r.get("batch") for r in recs}
    fit = [r for r in recs if r["split"] in ("train", "dev")]
    groups = [r.get("batch") or batch_of.get(r.get("augmented_from", "")) or r["id"] for r in fit]
    clf = build_classifier(dict(DEFAULT_PARAMS), n_jobs=2)
    clf.fit([r["text"] for r in fit], Targets.from_records(fit), groups=groups)
    hand = np.array([r["source"] != "augmented" for r in fit])
    kept = [r for r, k in zip(fit, hand, strict=True) if k]
    # the bystander discount `train` would choose on these scores (0 without that head)
    chosen = choose_thresholds(clf.oof_proba_[hand], Targets.from_records(kept))
    s = harassment_score_for(clf.oof_proba_[hand], chosen)
    verdict = np.array([r["verdict"] for r in kept])
    batch = np.array([r.get("batch") or "?" for r in kept])
    is_c, is_h = verdict == "complaint", verdict == "harassment"

    print("| cap | held-out-writer false-flag rate | harassment recall | worst batch false-flag rate |")
    print("|---:|---:|---:|---:|")
    for cap in a.caps:
        ff = nc = hit = nh = 0
        worst = 0.0
        for b in sorted(set(batch)):
            rest = batch != b
            t = harassment_threshold(s[rest], is_c[rest], cap)  # the rule `train` uses
            m = batch == b
            f = int((s[m & is_c] >= t).sum())
            ff, nc = ff + f, nc + int((m & is_c).sum())
            hit, nh = hit + int((s[m & is_h] >= t).sum()), nh + int((m & is_h).sum())
            if (m & is_c).any():
                worst = max(worst, f / (m & is_c).sum())
        print(f"| {cap:.2%} | {ff / nc:.2%} ({ff}/{nc}) | {hit / nh:.3f} | {worst:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
