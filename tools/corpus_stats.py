"""Regenerate the count tables of the data card (data/README.md) from the corpus.

    python tools/corpus_stats.py          # rewrites the block between the STATS markers

The tables cover the hand-written corpus (and, separately, the augmentation): counts by
verdict, category, grievance, channel, topic, length, difficulty, kind and split.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- STATS:START -->", "<!-- STATS:END -->"


def table(counter: Counter, total: int, header: str) -> str:
    rows = [f"| {header} | items | share |", "|---|---:|---:|"]
    for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        rows.append(f"| {k} | {v} | {v / total:.1%} |")
    return "\n".join(rows)


def length_bucket(n: int) -> str:
    for lim, name in ((15, "< 15"), (50, "15–49"), (150, "50–149"), (400, "150–399"), (1000, "400–999")):
        if n < lim:
            return name
    return "≥ 1000"


def main() -> int:
    recs = [json.loads(x) for x in (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines()
            if x.strip()]
    aug = [json.loads(x) for x in (ROOT / "data/corpus/augmented.jsonl").read_text(encoding="utf-8").splitlines()
           if x.strip()]
    n = len(recs)
    h = [r for r in recs if r["verdict"] == "harassment"]
    parts = [
        f"Hand-written items: **{n}** (augmented, train only: {len(aug)}). "
        "Regenerate with `python tools/corpus_stats.py`.",
        "### Verdict\n" + table(Counter(r["verdict"] for r in recs), n, "verdict"),
        "### Categories (multi-label, harassment only)\n"
        + table(Counter(c for r in h for c in r["categories"]), len(h), "category"),
        "### Grievance among harassment\n"
        + table(Counter("with grievance" if r["grievance"] else "no grievance" for r in h), len(h), "grievance"),
        "### Hard negatives among complaints (`kind`)\n"
        + table(Counter(r["kind"] for r in recs if r["verdict"] == "complaint"),
                sum(r["verdict"] == "complaint" for r in recs), "kind"),
        "### Hard positives among harassment (`kind`)\n" + table(Counter(r["kind"] for r in h), len(h), "kind"),
        "### Channel\n" + table(Counter(r["channel"] for r in recs), n, "channel"),
        "### Topic (ward service)\n" + table(Counter(r["topic"] for r in recs), n, "topic"),
        "### Length (characters)\n" + table(Counter(length_bucket(len(r["text"])) for r in recs), n, "length"),
        "### Difficulty\n" + table(Counter(r["difficulty"] for r in recs), n, "difficulty"),
        "### Split\n" + table(Counter(r["split"] for r in recs), n, "split"),
        "### Verdict by split\n" + "\n".join(
            ["| split | harassment | complaint | inquiry |", "|---|---:|---:|---:|"]
            + [f"| {s} | "
               + " | ".join(str(sum(r['split'] == s and r['verdict'] == v for r in recs))
                            for v in ("harassment", "complaint", "inquiry"))
               + " |"
               for s in ("train", "dev", "test")]),
        "### Writer batch (each a different helper with its own voices)\n"
        + table(Counter(r["batch"] for r in recs), n, "batch"),
        "### Reviewer corrections applied\n"
        + table(Counter(r.get("reviewed", "accepted") for r in recs), n, "review"),
        "### Augmentation kinds (train only)\n"
        + table(Counter(a["augmentation"] for a in aug), len(aug), "augmentation"),
    ]
    block = START + "\n" + "\n\n".join(parts) + "\n" + END
    card = ROOT / "data" / "README.md"
    text = card.read_text(encoding="utf-8")
    if START not in text:
        print("data/README.md has no STATS markers", file=sys.stderr)
        return 1
    pre, rest = text.split(START, 1)
    _, post = rest.split(END, 1)
    card.write_text(pre + block + post, encoding="utf-8")
    print(f"updated {card.relative_to(ROOT)} ({n} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
