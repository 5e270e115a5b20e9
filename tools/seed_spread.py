"""How much a retrained model moves with the augmentation draw alone: train with several seeds.

    python tools/seed_spread.py [--seeds 3] [--drop b96,b97] [--test-without b96,b97]

The augmented copies (tools/augment.py) are a random draw from the train split.  Retraining
on the same hand-written corpus with another draw moves the harassment threshold, the test
figures and the held-out errors; a change to the data or the model is evidence only when it
moves them by more than that.  For each seed (tools/augment.py's ``SEED``, then 1, 2, …)
this writes the corpus and that draw to a temporary folder, trains a model there (nothing
under data/ or models/ changes), and scores the test split and data/holdout (as ``make eval``
does: near-copies of corpus texts left out).  It prints one row per seed and the mean and
spread (max - min) of each column.

Since session 21 the cross-validation folds are decided by the hand-written items alone (before,
the copies voted in the stratified split and each draw moved most writer batches to another
fold); what is left is what the copies themselves change.

``--drop`` leaves whole writer batches out of the corpus (every split), to compare a corpus
with and without them; ``--test-without`` leaves their test messages out of the test figures
only, so that both runs are scored on the same test messages.  Compare the means of two runs
with the spreads in mind.  Each model takes about a minute and a half on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

COLUMNS = ("threshold", "accuracy", "precision", "recall", "false_flags", "category_f1", "held_out_errors",
           "held_out_false_flags")


def _batches(arg: str) -> set[str]:
    return {b.strip() for b in arg.split(",") if b.strip()}


def one_seed(seed: int, hand: list[dict[str, Any]], drop: set[str], test_without: set[str],
             held: list[dict[str, Any]]) -> dict[str, float]:
    """Train on ``hand`` (minus ``drop``) plus the augmentation draw ``seed``; score test and held-out."""
    import augment

    from complaint_triage.metrics import evaluate_decisions
    from complaint_triage.persist import load_model
    from complaint_triage.training import predict_decisions, train

    kept = [r for r in hand if r.get("batch") not in drop]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "data" / "corpus"
        corpus.mkdir(parents=True)
        for name, recs in (("handwritten.jsonl", kept), ("augmented.jsonl", augment.augment(kept, seed=seed))):
            with (corpus / name).open("w", encoding="utf-8", newline="\n") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)
        result = train(data_dir=corpus.parent, models_dir=Path(tmp) / "models", do_promote=False)
        model = load_model(result.directory)
    test = [r for r in kept if r["split"] == "test" and r.get("batch") not in test_without]
    t = evaluate_decisions(test, predict_decisions(model.classifier, model.thresholds, [r["text"] for r in test]))
    pred = predict_decisions(model.classifier, model.thresholds, [r["text"] for r in held])
    h = evaluate_decisions(held, pred)
    return {
        "threshold": model.thresholds["harassment"],
        "accuracy": t["verdict_accuracy"],
        "precision": t["harassment"]["precision"],
        "recall": t["harassment"]["recall"],
        "false_flags": t["complaint_false_flags"],
        "category_f1": t["category_macro_f1"],
        "held_out_errors": sum(p["verdict"] != r["verdict"] for r, p in zip(held, pred, strict=True)),
        "held_out_false_flags": h["complaint_false_flags"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="how many draws (the default seed first)")
    ap.add_argument("--drop", default="", help="comma-separated writer batches left out of the corpus")
    ap.add_argument("--test-without", default="", help="comma-separated batches left out of the test figures")
    a = ap.parse_args()
    if a.seeds < 1:
        ap.error("--seeds must be at least 1")
    import augment

    from complaint_triage.corpus import load_corpus

    hand = [r for r in load_corpus() if r["source"] == "handwritten"]
    drop, test_without = _batches(a.drop), _batches(a.test_without)
    unknown = (drop | test_without) - {r.get("batch") for r in hand}
    if unknown:
        ap.error(f"no such batch in the corpus: {', '.join(sorted(unknown))}")
    from build_corpus import held_out_records

    held, copies = held_out_records(hand)
    if copies:
        print(f"{len(copies)} held-out near-copies of corpus texts left out", file=sys.stderr)
    seeds = [augment.SEED, *range(1, a.seeds)]
    rows = []
    print("| seed | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for s in seeds:
        print(f"training with seed {s} …", file=sys.stderr, flush=True)
        r = one_seed(s, hand, drop, test_without, held)
        rows.append(r)
        print(f"| {s} | " + " | ".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS)
              + " |", flush=True)
    mean = {c: statistics.fmean(r[c] for r in rows) for c in COLUMNS}
    spread = {c: max(r[c] for r in rows) - min(r[c] for r in rows) for c in COLUMNS}
    print("| mean | " + " | ".join(f"{mean[c]:.4f}" for c in COLUMNS) + " |")
    print("| spread | " + " | ".join(f"{spread[c]:.4f}" for c in COLUMNS) + " |")
    print(f"{len(held)} held-out messages; test split"
          + (f" without {', '.join(sorted(test_without))}" if test_without else "")
          + (f"; corpus without {', '.join(sorted(drop))}" if drop else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
