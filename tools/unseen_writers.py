"""Score the frozen test split of some writer batches with one or more model directories.

    python tools/unseen_writers.py --batches b22,b23,b24 MODEL_DIR [MODEL_DIR ...]

Used to measure a model on writers it never saw: give a model that was frozen before those
batches were written (old models are in git history, e.g.
``git worktree add /tmp/old <commit>`` and pass ``/tmp/old/models/<version>``).  Prints, for
the chosen batches and for the rest of the test split, the verdict accuracy, the complaint
false-flag rate and harassment precision/recall.  No evidence spans; the test split only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _row(name: str, gold: list[str], pred: list[str]) -> str:
    n = len(gold)
    acc = sum(g == p for g, p in zip(gold, pred, strict=True)) / n
    comp = [p for g, p in zip(gold, pred, strict=True) if g == "complaint"]
    har = [p for g, p in zip(gold, pred, strict=True) if g == "harassment"]
    flagged = [g for g, p in zip(gold, pred, strict=True) if p == "harassment"]
    ff = sum(p == "harassment" for p in comp)
    rec = sum(p == "harassment" for p in har) / len(har) if har else float("nan")
    prec = sum(g == "harassment" for g in flagged) / len(flagged) if flagged else float("nan")
    return (f"{name:<14} n={n:<5} accuracy={acc:.3f}  complaint false flags={ff}/{len(comp)}"
            f"  harassment P={prec:.3f} R={rec:.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="model directories")
    ap.add_argument("--batches", required=True, help="comma-separated writer batches to report on, e.g. b22,b23,b24")
    a = ap.parse_args()
    from complaint_triage.scoring import Triager

    rows = [json.loads(x) for x in (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines() if x]
    test = [r for r in rows if r["split"] == "test"]
    chosen = {b.strip() for b in a.batches.split(",") if b.strip()}
    for model in a.models:
        tr = Triager.load(model)
        pred = [p.verdict for p in tr.score_many([r["text"] for r in test], with_evidence=False)]
        print(f"model {tr.version}")
        for name, keep in (("chosen batches", True), ("other batches", False)):
            idx = [i for i, r in enumerate(test) if (r["batch"] in chosen) == keep]
            if idx:
                print("  " + _row(name, [test[i]["verdict"] for i in idx], [pred[i] for i in idx]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
