"""Leave-one-batch-out comparison of model settings (a proxy for unseen writers).

    python tools/tune.py [--configs NAME ...]

Each corpus batch was written by a different writer with its own voices and channels, so
holding a whole batch out estimates how a setting generalises to messages written by
other people.  For each held-out batch it reports verdict macro-F1 (argmax) and the
harassment recall at the score where 2% of that batch's complaints would be flagged
(a ranking measure, independent of threshold choice).  Hand-written train+dev items only;
the test split is never used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = {
    "default": {},
    "C2": {"C": 2.0, "category_C": 2.0, "grievance_C": 2.0},
    "C4": {"C": 4.0, "category_C": 4.0, "grievance_C": 2.0},
    "C16": {"C": 16.0, "category_C": 16.0},
    "C32": {"C": 32.0, "category_C": 32.0},
    "char13": {"char_ngram_range": [1, 3]},
    "char25": {"char_ngram_range": [2, 5]},
    "word13": {"word_ngram_range": [1, 3]},
    "nosignals": {"signal_weight": 0.0},
    "signals1": {"signal_weight": 1.0},
    "mindf3": {"min_df": 3},
    "charw05": {"char_weight": 0.5},
    "nofunc": {"drop_pos": ["補助記号", "空白", "助詞", "助動詞"]},
    "nofunc_charw05": {"drop_pos": ["補助記号", "空白", "助詞", "助動詞"], "char_weight": 0.5},
    "C2b": {"C": 2.0},
    "C1b": {"C": 1.0},
    "signals01": {"signal_weight": 0.1},
    "char13_nosig": {"char_ngram_range": [1, 3], "signal_weight": 0.0},
    "char13_sig01": {"char_ngram_range": [1, 3], "signal_weight": 0.1},
    "char13_sig01_C16": {"char_ngram_range": [1, 3], "signal_weight": 0.1, "C": 16.0, "category_C": 16.0},
    "char14_sig01": {"char_ngram_range": [1, 4], "signal_weight": 0.1},
    "context_lemmas": {"lemma_lookup": False},
}


def run(name: str, params: dict, recs: list[dict], aug: list[dict]) -> dict:
    from complaint_triage.labels import VERDICTS
    from complaint_triage.training import DEFAULT_PARAMS

    p = {**DEFAULT_PARAMS, **params}
    from complaint_triage.training import build_classifier

    feat = build_classifier(p).featurizer.set_params(use_signals=p["signal_weight"] > 0)
    allr = recs + aug
    X = feat.fit(r["text"] for r in allr).transform([r["text"] for r in allr])
    y = np.array([VERDICTS.index(r["verdict"]) for r in allr])
    batches = sorted({r["batch"] for r in recs})
    out = {}
    for b in batches:
        test = np.array([i for i, r in enumerate(recs) if r["batch"] == b])
        train = np.array([i for i, r in enumerate(allr) if r.get("batch") != b and
                          (r["source"] == "handwritten" or r.get("aug_batch") != b)])
        lr = LogisticRegression(C=p["C"], class_weight="balanced", max_iter=3000).fit(X[train], y[train])
        P = lr.predict_proba(X[test])
        yt = y[test]
        pred = P.argmax(1)
        f1s = []
        for k in range(3):
            tp = ((pred == k) & (yt == k)).sum()
            f1s.append(2 * tp / ((pred == k).sum() + (yt == k).sum()) if tp else 0.0)
        ph = P[:, 0]
        comp = np.sort(ph[yt == 1])[::-1]
        t = comp[int(0.02 * len(comp))] if len(comp) else 1.0
        rec = float((ph[yt == 0] > t).mean())
        ffr_half = float((ph[yt == 1] >= 0.5).mean())
        out[b] = {"macro_f1": round(float(np.mean(f1s)), 4), "recall_at_2pct": round(rec, 4),
                  "ffr_at_0.5": round(ffr_half, 4)}
    mean = {k: round(float(np.mean([v[k] for v in out.values()])), 4)
            for k in ("macro_f1", "recall_at_2pct", "ffr_at_0.5")}
    # outside chatter (evaluation only, never trained on): share of majority-not-toxic sentences
    # whose harassment probability exceeds the 2%-false-flag threshold of our own complaints
    ext = ROOT.parent / "shared/external/japanese-toxic-subset/subset.csv"
    if ext.is_file():
        import csv

        rows = list(csv.DictReader(ext.open(encoding="utf-8")))
        chatter = [r["text"] for r in rows if int(r["Not Toxic"]) > int(r["Toxic"]) + int(r["Very Toxic"])]
        lr = LogisticRegression(C=p["C"], class_weight="balanced", max_iter=3000).fit(X, y)
        own = lr.predict_proba(X[: len(recs)])[:, 0]
        comp = np.sort(own[y[: len(recs)] == 1])[::-1]
        t = comp[int(0.02 * len(comp))]
        mean["chatter_flagged"] = round(float((lr.predict_proba(feat.transform(chatter))[:, 0] > t).mean()), 4)
    return {"name": name, "params": params, "mean": mean, "per_batch": out}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    lines = (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines()
    recs = [json.loads(x) for x in lines if x.strip()]
    recs = [r for r in recs if r["split"] in ("train", "dev")]
    by_id = {r["id"]: r for r in recs}
    aug = []
    for x in (ROOT / "data/corpus/augmented.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(x)
        if r["augmented_from"] in by_id:
            r["aug_batch"] = by_id[r["augmented_from"]]["batch"]
            aug.append(r)
    results = Parallel(n_jobs=a.jobs)(delayed(run)(n, CONFIGS[n], recs, aug) for n in a.configs)
    print(f"{'config':<18}{'macro-F1':>10}{'recall@2%':>11}{'FFR@0.5':>9}{'chatter':>9}")
    for r in sorted(results, key=lambda r: -r["mean"]["recall_at_2pct"]):
        m = r["mean"]
        print(f"{r['name']:<18}{m['macro_f1']:>10.3f}{m['recall_at_2pct']:>11.3f}{m['ffr_at_0.5']:>9.3f}"
              f"{m.get('chatter_flagged', float('nan')):>9.3f}")
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "tune.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
