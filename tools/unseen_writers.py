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
import sys
from pathlib import Path
from typing import Any


def _row(name: str, m: dict[str, Any]) -> str:
    h = m["per_verdict"]["harassment"]
    return (f"{name:<14} n={m['n']:<5} accuracy={m['verdict_accuracy']:.3f}  complaint false flags="
            f"{m['complaint_false_flags']}/{m['n_complaints']}  harassment P={h['precision']:.3f} R={h['recall']:.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="model directories")
    ap.add_argument("--batches", required=True, help="comma-separated writer batches to report on, e.g. b22,b23,b24")
    a = ap.parse_args()
    from complaint_triage.corpus import load_corpus
    from complaint_triage.metrics import evaluate_decisions
    from complaint_triage.scoring import Triager

    test = [r for r in load_corpus() if r["split"] == "test" and r["source"] == "handwritten"]
    chosen = {b.strip() for b in a.batches.split(",") if b.strip()}
    for model in a.models:
        tr = Triager.load(model)
        pred = [p.to_dict() for p in tr.score_many([r["text"] for r in test], with_evidence=False)]
        sys.stdout.write(f"model {tr.version}\n")
        for name, keep in (("chosen batches", True), ("other batches", False)):
            idx = [i for i, r in enumerate(test) if (r["batch"] in chosen) == keep]
            if idx:
                m = evaluate_decisions([test[i] for i in idx], [pred[i] for i in idx])
                sys.stdout.write(f"  {_row(name, m)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
