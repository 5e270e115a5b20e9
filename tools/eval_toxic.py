"""Evaluate the default model on the public Japanese toxicity subset (evaluation only).

    python tools/eval_toxic.py [--csv PATH] [--model DIR]

The subset (inspection-ai/japanese-toxic-dataset, Apache-2.0) is general SNS chatter with
annotator votes, not messages to a ward office; it is never used for training and is not
copied into this repository.  Two questions:

- is abuse recognised outside our corpus?  share of majority-toxic sentences flagged as
  harassment, and flagged with `abusive_language`;
- is ordinary chatter left alone?  share of majority-not-toxic sentences flagged.

Majority = the level with most votes (Toxic and Very Toxic pooled as toxic).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "external" / "japanese-toxic-subset" / "subset.csv"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    a = ap.parse_args()
    if not a.csv.is_file():
        print(f"no external subset at {a.csv}", file=sys.stderr)
        return 2
    from complaint_triage.scoring import Triager

    t = Triager.load(a.model)
    rows = list(csv.DictReader(a.csv.open(encoding="utf-8")))
    groups: dict[str, list[dict]] = {"toxic": [], "not_toxic": [], "hard_to_say": []}
    for r in rows:
        votes = {"not_toxic": int(r["Not Toxic"]), "hard_to_say": int(r["Hard to Say"]),
                 "toxic": int(r["Toxic"]) + int(r["Very Toxic"])}
        top = max(votes.values())
        label = "toxic" if votes["toxic"] == top else ("not_toxic" if votes["not_toxic"] == top else "hard_to_say")
        r["_cats"] = [k.removeprefix("category_") for k in r if k.startswith("category_") and int(r[k] or 0) > 0]
        groups[label].append(r)
    out: dict[str, dict] = {}
    for name, items in groups.items():
        preds = t.score_many([r["text"] for r in items], with_evidence=False)
        flagged = [p for p in preds if getattr(p, "verdict", None) == "harassment"]
        out[name] = {
            "n": len(items),
            "flagged_harassment": len(flagged),
            "share_flagged": round(len(flagged) / len(items), 3) if items else 0.0,
            "with_abusive_language": sum("abusive_language" in p.categories for p in flagged),
            "verdicts": dict(Counter(getattr(p, "verdict", "error") for p in preds)),
        }
        if name == "toxic":
            by_cat: dict[str, list[int]] = {}
            for r, p in zip(items, preds, strict=True):
                for c in r["_cats"]:
                    by_cat.setdefault(c, []).append(int(getattr(p, "verdict", "") == "harassment"))
            out[name]["share_flagged_by_toxicity_category"] = {c: round(sum(v) / len(v), 3) for c, v in by_cat.items()}
    print(f"model {t.version} on {a.csv.name} ({len(rows)} sentences)")
    for name, m in out.items():
        print(f"{name:<12} n={m['n']:<4} flagged as harassment {m['flagged_harassment']:>4} "
              f"({m['share_flagged']:.1%}), "
              f"with abusive_language {m['with_abusive_language']}")
    if "share_flagged_by_toxicity_category" in out["toxic"]:
        print("toxic, share flagged by annotators' category:", out["toxic"]["share_flagged_by_toxicity_category"])
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"model_version": t.version, **out}, ensure_ascii=False, indent=2),
                          encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
