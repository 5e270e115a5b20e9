"""Write docs/evaluation.md: the shipped model on the frozen test split, sliced, plus outside data.

    python tools/write_eval_report.py      (or: make eval)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from complaint_triage.metrics import evaluate_decisions, format_report
    from complaint_triage.persist import load_model
    from complaint_triage.training import predict_decisions

    m = load_model()
    recs = [json.loads(x) for x in (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    test = [r for r in recs if r["split"] == "test"]
    pred = predict_decisions(m.classifier, m.thresholds, [r["text"] for r in test])
    overall = evaluate_decisions(test, pred)
    th = m.thresholds
    missed = [p for r, p in zip(test, pred, strict=True) if r["verdict"] == "harassment" and p["verdict"] != "harassment"]
    flagged = [p for r, p in zip(test, pred, strict=True) if r["verdict"] != "harassment" and p["verdict"] == "harassment"]
    in_review = (f"Of the {len(missed)} missed harassment messages {sum(p['review'] for p in missed)} carry "
                 f"`review: true` (the uncertain band), and of the {len(flagged)} complaints and inquiries "
                 f"called harassment {sum(p['review'] for p in flagged)}; "
                 f"{sum(p['review'] for p in pred) / len(pred):.1%} of all test messages are in the band.")

    def slice_rows(key: str) -> list[str]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(test):
            groups[r[key]].append(i)
        rows = [f"| {key} | n | verdict acc. | harassment recall | complaint false-flag |", "|---|---:|---:|---:|---:|"]
        for g, idx in sorted(groups.items()):
            e = evaluate_decisions([test[i] for i in idx], [pred[i] for i in idx])
            rec = e["harassment"]["recall"] if e["harassment"]["support"] else float("nan")
            rows.append(f"| {g} | {len(idx)} | {e['verdict_accuracy']:.3f} | {rec:.3f} | "
                        f"{e['complaint_false_flags']}/{e['n_complaints']} |")
        return rows

    kind_rows = ["| kind (complaints) | n | called harassment |", "|---|---:|---:|"]
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(test):
        if r["verdict"] == "complaint":
            by_kind[r["kind"]].append(i)
    for k, idx in sorted(by_kind.items()):
        kind_rows.append(f"| {k} | {len(idx)} | {sum(pred[i]['verdict'] == 'harassment' for i in idx)} |")
    hp_rows = ["| kind (harassment) | n | recalled |", "|---|---:|---:|"]
    by_hkind: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(test):
        if r["verdict"] == "harassment":
            by_hkind[r["kind"]].append(i)
    for k, idx in sorted(by_hkind.items()):
        hp_rows.append(f"| {k} | {len(idx)} | {sum(pred[i]['verdict'] == 'harassment' for i in idx)} |")

    ext = ROOT / "build" / "external-toxic.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "eval_toxic.py"), "--json", str(ext)], check=False,
                   stdout=subprocess.DEVNULL)
    ext_rows: list[str] = []
    if ext.is_file():
        e = json.loads(ext.read_text(encoding="utf-8"))
        ext_rows = ["| annotators' majority | n | flagged as harassment | share |", "|---|---:|---:|---:|"]
        for name in ("toxic", "hard_to_say", "not_toxic"):
            x = e[name]
            ext_rows.append(f"| {name} | {x['n']} | {x['flagged_harassment']} | {x['share_flagged']:.1%} |")
    cv = m.manifest["metrics"]["cross_validation"]
    doc = f"""# Evaluation of the shipped model ({m.version})

Regenerate with `make eval` (runs `python tools/write_eval_report.py`). Frozen test split:
{overall['n']} hand-written messages that were never used for fitting or tuning (see *Threshold policy* below
for the one way the split informed the false-flag cap).

## Overall (test split)

```
{format_report(overall)}
```

Out-of-fold over train+dev with **whole writer batches held out** (how thresholds were chosen):
verdict macro-F1 {cv['verdict_macro_f1']:.3f}, harassment recall {cv['harassment']['recall']:.3f},
complaint false-flag rate {cv['complaint_false_flag_rate']:.2%}.

**Threshold policy.** The harassment threshold is the lowest that keeps the share of
out-of-fold complaints called harassment at or below the cap in the manifest
(`thresholds.max_false_flag_rate`, {th.get('max_false_flag_rate', float('nan')):.2%}). The
writer-held-out rate has understated the test-split rate by a factor of 1.6–3.0 across
model versions, so the cap is 2% / 2.5. That factor was read off this test split, so the
test false-flag rate above is not an untouched estimate for the threshold. A nested check
that uses no test data (choose the threshold without one writer batch, apply it to that
batch, for every batch; `python tools/threshold_policy.py`) gave, on the corpus with b1–b29:
cap 0.5% → held-out-writer false-flag rate 0.55%, harassment recall 0.890; 0.75% → 0.76%,
0.922; 1% → 1.02%, 0.933; 1.5% → 1.49%, 0.949. Pooled over all batches that hides a wide
spread between writers: the worst single batch reaches 11.5% at the 0.75% cap (13.5% at 1.5%).

**Writers a frozen model never saw.** Session 3 added writers in two rounds, which gives two
tests on genuinely unseen writers. (1) b19–b21 came after m-4064264130 (trained on b1–b18):
on their 93 test messages it scored verdict accuracy 0.946, harassment recall 0.886 and 0
false flags among 35 complaints. (2) b22–b24 came after m-b09a96a6b2 (trained on b1–b21):
on their 96 test messages it scored 0.927, 0.929 and 1 false flag among 33 complaints (a
bystander-type report). The shipped model, trained on all 24 batches, scores 0.917 / 0.905 / 1
of 33 on those 96 and 0.942 / 0.922 / 1 of 68 on all 189 test messages of b19–b24. Adding
b22–b24 changed the test split little (1,315 messages: accuracy 0.948 → 0.946, false flags
7 → 8 of 556, harassment recall 0.944 either way) and the writer-held-out out-of-fold figures
slightly for the better (accuracy 0.9269 → 0.9276, harassment recall 0.897 → 0.905 at the
same 0.74% complaint false-flag rate); the test differences are one or two messages.
Reproduce with `python tools/unseen_writers.py --batches b22,b23,b24 OLD_MODEL_DIR models/<version>`
(old models are in git history: commit 0eca91e holds m-b09a96a6b2, d738d97 holds m-4064264130).
(3) b25–b26 were commissioned after reading this test split's errors (chat harassment of the
operator, long texts where surface features mislead; the writers never saw a test text). On
their 36 test messages m-fc10b26398 (b1–b24) scored 0.806 / 0.706 / 1 false flag of 13; the
shipped model 0.861 / 0.824 / 1 of 13, and on the other 1,315 test messages 0.951 / 0.944 /
4 of 556 (m-fc10b26398: 0.946 / 0.944 / 8 of 556). Because those briefs followed test
errors, the test figures for those error types are somewhat optimistic (data/README.md).
(4) b27–b29 were chosen from the corpus's own counts (public posts, dialect speech, an
ordinary week of intake). On their 75 test messages m-0458ac1824 (b1–b26) scored 0.933 /
0.938 / 1 false flag of 35; the shipped model (b1–b29) 0.947 / 0.938 / 1 of 35. On the other
1,351 test messages the shipped model scores 0.953 / 0.958 / 9 of 569 against m-0458ac1824's
0.948 / 0.939 / 5 of 569: b29's ordinary week added many easy complaints to the validation
pool, so the same 0.75% cap now allows a lower harassment threshold (0.640 → 0.564), which
buys recall and costs four false flags on the hard complaints of the test split. The cap is
a share of all validation complaints, so it moves with their mix of difficulty; a cap on the
hard-negative kinds alone would not, and is the next step for the threshold policy.

**Whole batches held out.** Holding out four whole writer batches in turn (corpus b1–b17, training
without them, the 0.75% cap chosen on the rest) gave false flags b3 1/163, b7 0/151, b12 9/52 (the
bystander and quoted-speech batch), b16 2/41: a writer whose complaints mostly quote other
people's abuse sees far more false flags than the average. (Averaging the fold models
instead of refitting on all data gave the same decisions, so the gap is the writers, not a
change of score scale.) {in_review}

## By channel (test split)

{chr(10).join(slice_rows('channel'))}

## By writer batch (test split)

{chr(10).join(slice_rows('batch'))}

## Hard negatives: complaints by kind (test split)

{chr(10).join(kind_rows)}

## Hard positives: harassment by kind (test split)

{chr(10).join(hp_rows)}

## Outside data: Japanese toxicity subset (evaluation only)

General SNS sentences with annotators' toxicity votes (inspection-ai/japanese-toxic-dataset
subset, Apache-2.0; ../shared/external). Not messages to an office, never trained on. Abuse
should be recognised; ordinary chatter should be left alone.
Command: `python tools/eval_toxic.py`.

{chr(10).join(ext_rows) if ext_rows else '(subset not found on this machine)'}
"""
    out = ROOT / "docs" / "evaluation.md"
    out.write_text(doc, encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
