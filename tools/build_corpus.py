"""Build data/corpus/handwritten.jsonl from the writers' batches and the reviewers' fixes.

    python tools/build_corpus.py

Reads data/raw/<batch>/part*.jsonl (hand-written items), applies data/raw/<batch>/review.jsonl
(reviewer corrections: {"id", "verdict"?, "categories"?, "grievance"?, "drop"?, "reason"}),
groups near-duplicates (character 5-gram Jaccard >= 0.8) so that a group never crosses
splits, and assigns a deterministic stratified train/dev/test split (65/15/20 by
verdict x channel).  Output is sorted by id and byte-for-byte reproducible.

Splits are frozen: data/corpus/splits.tsv records the split of every item ever assigned, and
a rebuild keeps it (a near-duplicate group takes the split of its earliest frozen member), so
adding a batch never moves an existing item in or out of the test split.  Groups with no
frozen member are assigned by a hash of their first id into the same 65/15/20 fractions.
When splits.tsv is absent the whole corpus is split by the stratified method and frozen.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from validate_raw import check  # noqa: E402

SPLIT_FRACTIONS = (("train", 0.65), ("dev", 0.15), ("test", 0.20))
JACCARD = 0.8


def grams(text: str, n: int = 5) -> set[str]:
    t = "".join(text.split())
    return {t[i : i + n] for i in range(max(1, len(t) - n + 1))}


def _posting_index(sets: list[set[str]]) -> dict[str, list[int]]:
    """5-gram -> positions of the sets that hold it."""
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            index[g].append(i)
    return index


def _similar(shared: int, a: set[str], b: set[str]) -> bool:
    """Jaccard of two 5-gram sets that share ``shared`` grams, against JACCARD."""
    return shared / (len(a) + len(b) - shared) >= JACCARD


def near_duplicate_groups(texts: list[str]) -> list[int]:
    """Union-find over pairs with character 5-gram Jaccard >= JACCARD."""
    sets = [grams(t) for t in texts]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    index = _posting_index(sets)
    for i, s in enumerate(sets):
        shared: Counter[int] = Counter()
        for g in s:
            post = index[g]
            if len(post) > 200:
                continue
            shared.update(j for j in post if j > i)
        for j, k in shared.items():
            if _similar(k, s, sets[j]):
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(texts))]


def near_copies(texts: list[str], reference: list[str]) -> list[bool]:
    """For each text, whether some reference text has character 5-gram Jaccard >= JACCARD with it."""
    ref = [grams(t) for t in reference]
    index = _posting_index(ref)
    out = []
    for t in texts:
        g = grams(t)
        shared: Counter[int] = Counter()
        for x in g:
            shared.update(index.get(x, ()))
        out.append(any(_similar(k, g, ref[i]) for i, k in shared.items()))
    return out


def h(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def split_at(frac: float) -> str:
    """The split whose share of SPLIT_FRACTIONS contains ``frac`` in [0, 1)."""
    acc = 0.0
    for name, f in SPLIT_FRACTIONS:
        acc += f
        if frac < acc:
            return name
    return SPLIT_FRACTIONS[-1][0]


def assign(members: list[dict], split: str) -> None:
    first_id = min(r["id"] for r in members)
    for r in members:
        r["split"] = split
        r["group"] = "g-" + first_id


def read_batches(raw: Path) -> tuple[dict[str, dict], int]:
    """Every batch directory under ``raw``: its part files, with its review.jsonl applied.

    Returns the records by id (each with its ``batch``) and the number of problems reported.
    """
    records: dict[str, dict] = {}
    problems = 0
    for batch in sorted(p for p in raw.iterdir() if p.is_dir()):
        for part in sorted(batch.glob("part*.jsonl")):
            for n, line in enumerate(part.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                errs = check(rec)
                if errs or rec["id"] in records:
                    print(f"skip {part}:{n}: {errs or 'duplicate id'}", file=sys.stderr)
                    problems += 1
                    continue
                rec["batch"] = batch.name
                records[rec["id"]] = rec
        review = batch / "review.jsonl"
        if review.is_file():
            for line in review.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                fix = json.loads(line)
                rec = records.get(fix["id"])
                if rec is None:
                    continue
                if fix.get("drop"):
                    del records[fix["id"]]
                    continue
                for k in ("verdict", "categories", "grievance", "kind", "difficulty", "topic", "channel", "text"):
                    if k in fix:
                        rec[k] = fix[k]
                rec["reviewed"] = "corrected"
                if check(rec):
                    print(f"review fix for {fix['id']} breaks the schema: {check(rec)}", file=sys.stderr)
                    problems += 1
                    del records[fix["id"]]
    return records, problems


def held_out_records(corpus: list[dict]) -> tuple[list[dict], list[dict]]:
    """data/holdout's reviewed records, by id: those to score, and those left out because they
    nearly copy a text of ``corpus`` (a score on them would measure memory, not generalisation).
    Raises ValueError when a held-out record breaks the schema (``read_batches`` lists them)."""
    records, problems = read_batches(ROOT / "data" / "holdout")
    if problems:
        raise ValueError(f"{problems} held-out records break the schema (listed above); "
                         "fix them in data/holdout before scoring, or every figure leaves them out")
    recs = sorted(records.values(), key=lambda r: r["id"])
    near = near_copies([r["text"] for r in recs], [r["text"] for r in corpus])
    return ([r for r, n in zip(recs, near, strict=True) if not n],
            [r for r, n in zip(recs, near, strict=True) if n])


def main() -> int:
    records, problems = read_batches(ROOT / "data" / "raw")
    recs = sorted(records.values(), key=lambda r: r["id"])
    # exact duplicates of text are dropped (keep the first id)
    seen: set[str] = set()
    uniq = []
    for r in recs:
        key = "".join(r["text"].split())
        if key in seen:
            continue
        seen.add(key)
        uniq.append(r)
    recs = uniq
    groups = near_duplicate_groups([r["text"] for r in recs])
    by_group: dict[int, list[dict]] = defaultdict(list)
    for r, g in zip(recs, groups, strict=True):
        by_group[g].append(r)
    lock_path = ROOT / "data" / "corpus" / "splits.tsv"
    frozen: dict[str, str] = {}
    if lock_path.is_file():
        for line in lock_path.read_text(encoding="utf-8").splitlines()[1:]:
            rid, split = line.split("\t")
            frozen[rid] = split
    # stratify groups by the verdict x channel of their first member
    strata: dict[tuple[str, str], list[list[dict]]] = defaultdict(list)
    for members in by_group.values():
        if frozen:
            known = sorted(r["id"] for r in members if r["id"] in frozen)
            # a new group: a hash of its first id placed into the fractions
            frac = int(h(min(r["id"] for r in members))[:12], 16) / 16**12
            assign(members, frozen[known[0]] if known else split_at(frac))
            continue
        first = min(members, key=lambda r: r["id"])
        strata[(first["verdict"], first["channel"])].append(members)
    for key in sorted(strata):
        groups_in = sorted(strata[key], key=lambda m: h(min(r["id"] for r in m)))
        total = sum(len(m) for m in groups_in)
        done = 0
        for members in groups_in:
            assign(members, split_at(done / total if total else 0))
            done += len(members)
    out = ROOT / "data" / "corpus" / "handwritten.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = ("id", "channel", "topic", "text", "verdict", "categories", "grievance", "difficulty", "kind",
              "source", "split", "group", "batch", "reviewed")
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for r in recs:
            r.setdefault("reviewed", "accepted")
            r["source"] = "handwritten"
            f.write(json.dumps({k: r[k] for k in fields}, ensure_ascii=False) + "\n")
    # freeze: keep every id ever assigned (dropped items stay recorded, harmlessly)
    for r in recs:
        frozen.setdefault(r["id"], r["split"])
    lock_path.write_text("id\tsplit\n" + "".join(f"{k}\t{v}\n" for k, v in sorted(frozen.items())),
                         encoding="utf-8", newline="\n")
    c = Counter(r["split"] for r in recs)
    print(f"wrote {len(recs)} records to {out.relative_to(ROOT)}: {dict(c)}; {problems} problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
