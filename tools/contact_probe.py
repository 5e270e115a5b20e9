"""How much a sender's contact details move the verdicts: every held-out message scored as written
and with a contact block added (a name, a telephone number, an e-mail or postal address, before
or after the text; fictitious, the same blocks for every model).

    python tools/contact_probe.py [MODEL_DIR ...]      # default: the promoted model

Prints, per model: messages right as written → with contacts, harassment found, the threat
category, legitimate messages flagged, and the verdict changes (docs/evaluation.md, "Session 25").
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

BLOCKS = (
    "山田太郎\n電話 090-3412-{n}",
    "連絡先：03-5432-{n}（平日9時〜17時）\nメール yamada.t{m}@example.ne.jp",
    "氏名：佐藤花子\n住所：〒154-0017 世田谷区世田谷4-21-27\nTEL 080-1234-{n}",
    "返信先 hanako{m}@example.jp",
    "鈴木\n(03)5432-{n} / 携帯 090 1234 {n}",
)


def with_contacts(texts: list[str], seed: int = 7) -> list[str]:
    """``texts``, each with one contact block before (two in five) or after it."""
    rng = random.Random(seed)
    out = []
    for t in texts:
        block = rng.choice(BLOCKS).format(n=f"{rng.randrange(10_000):04d}", m=rng.randrange(100))
        out.append(f"{block}\n\n{t}" if rng.random() < 0.4 else f"{t}\n\n{block}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="model folders (default: the promoted model)")
    a = ap.parse_args()
    from build_corpus import read_batches

    from complaint_triage import load_triager

    with contextlib.redirect_stderr(io.StringIO()):  # (the reviews' notes)
        recs_by_id, _ = read_batches(ROOT / "data" / "holdout")
    recs = sorted(recs_by_id.values(), key=lambda r: r["id"])
    texts = [r["text"] for r in recs]
    varied = with_contacts(texts)
    harassment = [i for i, r in enumerate(recs) if r["verdict"] == "harassment"]
    legitimate = [i for i, r in enumerate(recs) if r["verdict"] != "harassment"]
    for model in a.models or [None]:
        tr = load_triager(model)
        plain = tr.score_many(texts, with_evidence=False)
        added = tr.score_many(varied, with_evidence=False)

        def count(preds, idx, test):
            return sum(1 for i in idx if test(preds[i]))

        right = [sum(p.verdict == r["verdict"] for p, r in zip(ps, recs, strict=True)) for ps in (plain, added)]
        found = [count(ps, harassment, lambda p: p.verdict == "harassment") for ps in (plain, added)]
        threat = [count(ps, harassment, lambda p: "threat" in p.categories) for ps in (plain, added)]
        flagged = [count(ps, legitimate, lambda p: p.verdict == "harassment") for ps in (plain, added)]
        flips = collections.Counter(f"{x.verdict}->{y.verdict}" for x, y in zip(plain, added, strict=True)
                                    if x.verdict != y.verdict)
        print(f"{tr.version}: right {right[0]} -> {right[1]} of {len(recs)}; harassment found {found[0]} -> "
              f"{found[1]} of {len(harassment)} (threat category {threat[0]} -> {threat[1]}); legitimate flagged "
              f"{flagged[0]} -> {flagged[1]} of {len(legitimate)}; changes {dict(sorted(flips.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
