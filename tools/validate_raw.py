"""Validate raw corpus part files and print running counts.

Usage: python3 tools/validate_raw.py data/raw/<batch> [more dirs or files...]
Exit status 1 when any record breaks the schema or the label contract.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

CHANNELS = {"email", "web_form", "phone_note", "counter_note", "letter", "chat", "sns", "voicemail"}
TOPICS = {
    "hoiku", "koseki", "kokuho_nenkin", "zei", "gomi", "doro", "koen", "fukushi", "kaigo",
    "kuei_jutaku", "toshokan", "shisetsu", "kenchiku", "bosai", "senkyo", "kosodate",
    "madoguchi", "hp", "dobutsu", "churin", "kenko", "gakko", "mynumber", "shogai", "kotsu",
}
CATEGORIES = {
    "violence", "threat", "other_illegal", "excessive_demand", "abusive_language",
    "sns_harassment", "other_improper",
}
VERDICTS = {"harassment", "complaint", "inquiry"}
DIFFICULTY = {"easy", "medium", "hard"}
KINDS = {
    "standard", "angry", "lawful_escalation", "own_experience_online", "compensation",
    "bystander", "staff_rudeness", "institution_criticism", "accommodation", "innocent_word",
    "hyperbole", "polite_excessive", "indirect_threat", "obfuscated", "exposure_threat",
    "sexual", "stalking", "obstruction", "coercion",
}
FIELDS = {"id", "channel", "topic", "text", "verdict", "categories", "grievance", "difficulty", "kind", "source"}


def check(rec: dict) -> list[str]:
    errs = []
    missing = FIELDS - rec.keys()
    if missing:
        errs.append(f"missing fields {sorted(missing)}")
        return errs
    if rec["channel"] not in CHANNELS:
        errs.append(f"bad channel {rec['channel']!r}")
    if rec["topic"] not in TOPICS:
        errs.append(f"bad topic {rec['topic']!r}")
    if rec["verdict"] not in VERDICTS:
        errs.append(f"bad verdict {rec['verdict']!r}")
    if rec["difficulty"] not in DIFFICULTY:
        errs.append(f"bad difficulty {rec['difficulty']!r}")
    if rec["kind"] not in KINDS:
        errs.append(f"bad kind {rec['kind']!r}")
    if not isinstance(rec["text"], str) or not rec["text"].strip():
        errs.append("empty text")
    cats = rec["categories"]
    if not isinstance(cats, list) or not set(cats) <= CATEGORIES or len(set(cats)) != len(cats):
        errs.append(f"bad categories {cats!r}")
    if rec["verdict"] == "harassment" and not cats:
        errs.append("harassment needs at least one category")
    if rec["verdict"] != "harassment" and cats:
        errs.append("categories only for harassment")
    if not isinstance(rec["grievance"], bool):
        errs.append("grievance must be true/false")
    elif rec["verdict"] == "complaint" and not rec["grievance"]:
        errs.append("complaint must have grievance true")
    elif rec["verdict"] == "inquiry" and rec["grievance"]:
        errs.append("inquiry must have grievance false")
    return errs


def main(argv: list[str]) -> int:
    files: list[Path] = []
    for a in argv:
        p = Path(a)
        files.extend(sorted(p.glob("part*.jsonl")) if p.is_dir() else [p])
    bad = 0
    ids: set[str] = set()
    recs = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{f}:{n}: invalid JSON: {e}")
                bad += 1
                continue
            errs = check(rec)
            if rec.get("id") in ids:
                errs.append(f"duplicate id {rec.get('id')}")
            ids.add(rec.get("id"))
            for e in errs:
                print(f"{f}:{n}: {e}")
            bad += bool(errs)
            recs.append(rec)
    c = collections.Counter
    print(f"records: {len(recs)}  invalid: {bad}")
    print("verdict:", dict(c(r.get("verdict") for r in recs)))
    print("categories:", dict(c(x for r in recs for x in r.get("categories", []))))
    h = [r for r in recs if r.get("verdict") == "harassment"]
    print("harassment grievance true/false:", sum(bool(r.get("grievance")) for r in h),
          sum(not r.get("grievance") for r in h))
    print("channel:", dict(c(r.get("channel") for r in recs)))
    print("kind:", dict(c(r.get("kind") for r in recs)))
    print("topics:", len({r.get("topic") for r in recs}))
    lens = [len(r.get("text", "")) for r in recs]
    if lens:
        print("length <20:", sum(x < 20 for x in lens), " >500:", sum(x > 500 for x in lens),
              " >1000:", sum(x > 1000 for x in lens))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
