"""Evaluation metrics for triage decisions (pure functions over label records)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from complaint_triage.labels import ACTIONS, CATEGORIES, VERDICTS, Verdict, action_for
from complaint_triage.signals import served_action

__all__ = ["evaluate_decisions", "false_flag_percent", "format_report"]


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    # 0 where a ratio has no denominator (no message predicted, or none in the gold labels):
    # ``support`` and ``predicted`` say when that is so, and format_report shows "n/a" there
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn,
            "predicted": tp + fp}


def _macro_f1(rows: Sequence[Mapping[str, Any]]) -> float:
    """Mean F1 over the classes that occur in the gold labels or the predictions (a class that
    occurs in neither has no F1; counting it as 0 would mark a file without harassment down)."""
    seen = [m["f1"] for m in rows if m["support"] or m["predicted"]]
    return round(sum(seen) / len(seen), 4) if seen else 0.0


def evaluate_decisions(gold: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Compare predicted records (verdict, categories, grievance) with gold ones.

    Returns verdict accuracy and macro-F1, per-verdict P/R/F1, the complaint false-flag
    rate (true complaints called harassment), per-category P/R/F1 over all messages, the
    grievance accuracy among true harassment, the shares of messages whose recommended action
    (:func:`~complaint_triage.signals.served_action`, from the gold record's ``text`` when it has
    one) is the same as, more severe or less severe
    than the one the gold labels call for, and the confusion matrix (rows gold, columns
    predicted, in :data:`VERDICTS` order).  Categories must be known codes (validate gold
    records with :func:`~complaint_triage.labels.validate_labels` first).
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold records but {len(pred)} predictions")
    n = len(gold)
    cm = [[0] * len(VERDICTS) for _ in VERDICTS]
    for g, p in zip(gold, pred, strict=True):
        cm[VERDICTS.index(g["verdict"])][VERDICTS.index(p["verdict"])] += 1
    per_verdict = {}
    for k, v in enumerate(VERDICTS):
        tp = cm[k][k]
        fp = sum(cm[r][k] for r in range(len(VERDICTS))) - tp
        fn = sum(cm[k]) - tp
        per_verdict[v] = _prf(tp, fp, fn)
    acc = sum(cm[k][k] for k in range(len(VERDICTS))) / n if n else 0.0
    macro = _macro_f1(list(per_verdict.values()))
    ci, hi = VERDICTS.index(Verdict.COMPLAINT), VERDICTS.index(Verdict.HARASSMENT)
    n_comp = sum(cm[ci])
    per_cat = {}
    for c in CATEGORIES:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if c in g["categories"] and c in p["categories"])
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if c not in g["categories"] and c in p["categories"])
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if c in g["categories"] and c not in p["categories"])
        per_cat[c] = _prf(tp, fp, fn)
    # the recommended action of the prediction against the one the gold labels call for
    # (as served: with the message's text, a threat to post a clerk's face is not sent to the police)
    def served(r: Mapping[str, Any], text: object) -> int:
        if isinstance(text, str):
            return ACTIONS.index(served_action(r["verdict"], r["categories"], text))
        return ACTIONS.index(action_for(r["verdict"], r["categories"]))

    steps = [served(p, g.get("text")) - served(g, g.get("text")) for g, p in zip(gold, pred, strict=True)]
    def share(count: int) -> float:
        return round(count / n, 4) if n else 0.0

    action = {"same": share(sum(d == 0 for d in steps)), "more_severe": share(sum(d > 0 for d in steps)),
              "less_severe": share(sum(d < 0 for d in steps))}
    h_pairs = [(g, p) for g, p in zip(gold, pred, strict=True) if g["verdict"] == Verdict.HARASSMENT]
    g_acc = sum(bool(g["grievance"]) == bool(p["grievance"]) for g, p in h_pairs) / len(h_pairs) if h_pairs else 0.0
    return {
        "n": n,
        "verdict_accuracy": round(acc, 4),
        "verdict_macro_f1": macro,
        "per_verdict": per_verdict,
        "harassment": per_verdict[Verdict.HARASSMENT],
        "complaint_false_flag_rate": round(cm[ci][hi] / n_comp, 4) if n_comp else 0.0,
        "complaint_false_flags": cm[ci][hi],
        "n_complaints": n_comp,
        "per_category": per_cat,
        "category_macro_f1": _macro_f1(list(per_cat.values())),
        "harassment_grievance_accuracy": round(g_acc, 4),
        "action": action,
        "confusion_matrix": {"labels": list(VERDICTS), "rows_gold_cols_pred": cm},
    }


def _num(value: float, denominator: int) -> str:
    """``value`` with 3 decimals, or "n/a" when the ratio had nothing to divide by."""
    return f"{value:.3f}" if denominator else "n/a"


def false_flag_percent(m: Mapping[str, Any]) -> str:
    """The complaint false-flag rate of metrics ``m`` as a percentage with 3 decimals, from its
    counts (``complaint_false_flag_rate`` is rounded to 4 places, one too few for 3 decimals of a
    percentage: 4 of 873 is 0.458%, not 0.460%); "n/a" without complaints."""
    n = m["n_complaints"]
    return f"{m['complaint_false_flags'] / n:.3%}" if n else "n/a"


def format_report(m: Mapping[str, Any], title: str = "") -> str:
    """A plain-text metrics table ("n/a" where a figure is undefined: no harassment in the gold
    labels has no recall, none predicted has no precision, no complaints no false-flag rate)."""
    lines = []
    if title:
        lines += [title, "=" * len(title)]
    h = m["harassment"]
    a = m["action"]
    n_h = h["support"]
    lines += [
        f"messages                     {m['n']}",
        f"verdict accuracy             {_num(m['verdict_accuracy'], m['n'])}",
        f"verdict macro-F1             {_num(m['verdict_macro_f1'], m['n'])}",
        f"harassment precision         {_num(h['precision'], h.get('predicted', 1))}",
        f"harassment recall            {_num(h['recall'], n_h)}",
        f"harassment F1                {_num(h['f1'], n_h or h.get('predicted', 1))}",
        f"complaint false-flag rate    {false_flag_percent(m)}  "
        f"({m['complaint_false_flags']} of {m['n_complaints']} complaints called harassment)",
        f"grievance acc. (harassment)  {_num(m['harassment_grievance_accuracy'], n_h)}",
        f"recommended action           same {a['same']:.3f}, more severe {a['more_severe']:.3f}, "
        f"less severe {a['less_severe']:.3f}",
        "",
        f"{'category':<20}{'precision':>10}{'recall':>10}{'F1':>8}{'support':>9}",
    ]
    for c, s in m["per_category"].items():
        pred = s.get("predicted", 1)
        lines.append(f"{c:<20}{_num(s['precision'], pred):>10}{_num(s['recall'], s['support']):>10}"
                     f"{_num(s['f1'], s['support'] or pred):>8}{s['support']:>9}")
    labels = m["confusion_matrix"]["labels"]
    lines += ["", "confusion matrix (rows: gold, columns: predicted)", " " * 12 + "".join(f"{x:>12}" for x in labels)]
    for lab, row in zip(labels, m["confusion_matrix"]["rows_gold_cols_pred"], strict=True):
        lines.append(f"{lab:<12}" + "".join(f"{v:>12}" for v in row))
    return "\n".join(lines)
