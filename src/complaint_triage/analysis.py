"""Analysis helpers behind the notebooks: corpus tables, scored sets, curves, slices, error lists.

Every computation a notebook shows lives here (or in the modules it calls), so the
notebooks only call functions and draw; plots are in :mod:`complaint_triage.plots`.
Nothing here writes outside the folder it is given.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from complaint_triage.corpus import load_corpus
from complaint_triage.explain import Evidence, explain
from complaint_triage.labels import CATEGORIES, VERDICTS, Verdict
from complaint_triage.metrics import evaluate_decisions
from complaint_triage.model import (
    SCORE_NAMES,
    Targets,
    TriageClassifier,
    choose_thresholds,
    decide_all,
    harassment_score_for,
    with_bystander_rule,
)
from complaint_triage.persist import LoadedModel, load_model

__all__ = [
    "HARD_NEGATIVE_KINDS",
    "Scored",
    "apply_thresholds",
    "category_examples",
    "confusion_frame",
    "corpus_frame",
    "corpus_tables",
    "error_items",
    "evidence_html",
    "hard_negative_examples",
    "hard_negatives",
    "hardest_hard_negatives",
    "items_html",
    "labelled_split",
    "metrics_frame",
    "comparison_frame",
    "per_category_frame",
    "pr_curves",
    "reliability_curves",
    "sample_data_dir",
    "score_records",
    "slice_metrics",
    "thresholds_for_cap",
    "thresholds_frame",
    "tradeoff_curve",
    "unfitted_copy",
    "validation_scores",
]

#: ``kind`` values of non-harassment items written to look like harassment (corpus brief).
HARD_NEGATIVE_KINDS: tuple[str, ...] = (
    "angry", "lawful_escalation", "own_experience_online", "compensation", "bystander",
    "staff_rudeness", "institution_criticism", "accommodation", "innocent_word", "hyperbole",
)
_H = VERDICTS.index(Verdict.HARASSMENT)
_NV = len(VERDICTS)


# -- the corpus -----------------------------------------------------------------------------


def corpus_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per record: id, split, source, channel, topic, verdict, categories, grievance, kind, length."""
    rows = []
    for r in records:
        rows.append({
            "id": r["id"], "split": r.get("split"), "source": r.get("source"), "channel": r.get("channel"),
            "topic": r.get("topic"), "verdict": r["verdict"], "categories": list(r["categories"]),
            "grievance": bool(r["grievance"]), "difficulty": r.get("difficulty"), "kind": r.get("kind"),
            "length": len(r["text"]),
        })
    return pd.DataFrame(rows)


def corpus_tables(records: Sequence[Mapping[str, Any]]) -> dict[str, pd.DataFrame]:
    """Count tables: ``verdict_by_split``, ``category``, ``channel``, ``topic``, ``kind``, ``length``."""
    df = corpus_frame(records)
    cats = Counter(c for cs in df["categories"] for c in cs)
    return {
        "verdict_by_split": pd.crosstab(df["verdict"], df["split"], margins=True),
        "category": pd.DataFrame({"messages": [cats.get(c, 0) for c in CATEGORIES]}, index=list(CATEGORIES)),
        "channel": pd.crosstab(df["channel"], df["verdict"], margins=True),
        "topic": pd.crosstab(df["topic"], df["verdict"], margins=True),
        "kind": pd.crosstab(df["kind"], df["verdict"]),
        "length": df.groupby("verdict")["length"].describe(percentiles=[0.1, 0.5, 0.9]).round(0),
    }


def category_examples(records: Sequence[Mapping[str, Any]], n: int = 2, width: int = 120) -> pd.DataFrame:
    """``n`` short examples per category (the shortest distinct ones of each, to read quickly)."""
    rows = []
    for c in CATEGORIES:
        items = sorted((r for r in records if c in r["categories"]), key=lambda r: (len(r["text"]), r["id"]))
        for r in items[:n]:
            rows.append({"category": c, "id": r["id"], "channel": r.get("channel"),
                         "categories": ", ".join(r["categories"]), "text": _excerpt(r["text"], width)})
    return pd.DataFrame(rows)


def hard_negatives(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Complaints and inquiries of a hard-negative ``kind`` (angry, lawful escalation, ...)."""
    return [r for r in records if r["verdict"] != Verdict.HARASSMENT and r.get("kind") in HARD_NEGATIVE_KINDS]


def hard_negative_examples(records: Sequence[Mapping[str, Any]], per_kind: int = 1, width: int = 120) -> pd.DataFrame:
    """The shortest ``per_kind`` hard negatives of each kind."""
    rows = []
    negatives = hard_negatives(records)
    for kind in HARD_NEGATIVE_KINDS:
        items = sorted((r for r in negatives if r.get("kind") == kind), key=lambda r: (len(r["text"]), r["id"]))
        for r in items[:per_kind]:
            rows.append({"kind": kind, "id": r["id"], "verdict": r["verdict"], "text": _excerpt(r["text"], width)})
    return pd.DataFrame(rows)


def labelled_split(split: str, data_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """The hand-written records of one corpus split (``train``, ``dev`` or ``test``)."""
    return [r for r in load_corpus(None if data_dir is None else Path(data_dir))
            if r["split"] == split and r.get("source", "handwritten") == "handwritten"]


def _excerpt(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def sample_data_dir(dest: Path | str, size: int, *, data_dir: Path | str | None = None,
                    min_positives: int = 8) -> Path:
    """Write a small, deterministic, stratified sample of the hand-written corpus to ``dest``.

    About ``size`` records keep the corpus's split proportions; every category keeps at
    least ``min_positives`` positives in train+dev so that training works.  Returns
    ``dest``, a data folder for ``train(data_dir=...)``.
    """
    recs: list[Mapping[str, Any]] = [r for r in load_corpus(None if data_dir is None else Path(data_dir))
                                     if r["source"] == "handwritten"]
    dest = Path(dest)
    chosen: list[Mapping[str, Any]] = []
    if size >= len(recs):
        chosen = recs
    else:
        def rank(r: Mapping[str, Any]) -> str:
            return hashlib.sha256(str(r["id"]).encode()).hexdigest()

        frac = size / len(recs)
        # stratify by split and verdict so every stratum keeps its share
        strata: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for r in sorted(recs, key=rank):
            strata.setdefault((r["split"], r["verdict"]), []).append(r)
        for items in strata.values():
            chosen.extend(items[: max(1, round(len(items) * frac))])
        have = {r["id"] for r in chosen}
        for c in CATEGORIES:
            pos = [r for r in chosen if c in r["categories"] and r["split"] != "test"]
            extra = [r for r in sorted(recs, key=rank)
                     if c in r["categories"] and r["split"] != "test" and r["id"] not in have]
            for r in extra[: max(0, min_positives - len(pos))]:
                chosen.append(r)
                have.add(r["id"])
        order = {r["id"]: i for i, r in enumerate(recs)}
        chosen.sort(key=lambda r: order[r["id"]])
    (dest / "corpus").mkdir(parents=True, exist_ok=True)
    with (dest / "corpus" / "handwritten.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for r in chosen:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return dest


# -- scoring a labelled set -----------------------------------------------------------------


@dataclass
class Scored:
    """Labelled records with a model's probabilities and decisions.

    ``classifier`` is ``None`` for out-of-fold (validation) scores, which come from several
    fold models rather than one.
    """

    records: Sequence[Mapping[str, Any]]
    proba: np.ndarray
    thresholds: dict[str, Any]
    decisions: list[dict[str, Any]]
    model_version: str
    classifier: TriageClassifier | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> Targets:
        return Targets.from_records(self.records)

    def frame(self) -> pd.DataFrame:
        """One row per record: id, channel, topic, kind, gold and predicted labels, review, p(harassment)."""
        rows = []
        for r, d, p in zip(self.records, self.decisions, self.proba, strict=True):
            rows.append({
                "id": r.get("id"), "channel": r.get("channel"), "topic": r.get("topic"), "kind": r.get("kind"),
                "gold": r["verdict"], "pred": d["verdict"], "correct": r["verdict"] == d["verdict"],
                "gold_categories": ", ".join(r["categories"]), "pred_categories": ", ".join(d["categories"]),
                "review": d["review"], "p_harassment": round(float(p[_H]), 4),
            })
        return pd.DataFrame(rows)


def score_records(model: LoadedModel | Path | str | None, records: Sequence[Mapping[str, Any]],
                  thresholds: Mapping[str, Any] | None = None) -> Scored:
    """Score labelled records with a model (default: the promoted one) and its (or given) thresholds."""
    m = model if isinstance(model, LoadedModel) else load_model(model)
    th = dict(m.thresholds if thresholds is None else thresholds)
    recs = list(records)
    proba = m.classifier.predict_scores([r["text"] for r in recs])
    dec = decide_all(proba, th)
    return Scored(recs, proba, th, dec, m.version, m.classifier, evaluate_decisions(recs, dec))


def validation_scores(model: LoadedModel | Path | str | None = None, *, data_dir: Path | str | None = None,
                      extra_records: Sequence[Mapping[str, Any]] = (), n_jobs: int = 1) -> Scored:
    """Out-of-fold probabilities on train+dev, for choosing thresholds without touching the test split.

    Refits a classifier with the model's parameters on the same data as
    :func:`complaint_triage.training.train` (train+dev, augmentation, ``extra_records``),
    which is deterministic, and returns the out-of-fold probabilities of the hand-written
    items with the model's thresholds applied: the data the model's thresholds were chosen on.
    """
    m = model if isinstance(model, LoadedModel) else load_model(model)
    records = load_corpus(None if data_dir is None else Path(data_dir))
    fit = [r for r in records if r["split"] in ("train", "dev")] + [dict(r) for r in extra_records]
    groups = _cv_groups(fit, records)
    clf = unfitted_copy(m, n_jobs=n_jobs)
    clf.fit([r["text"] for r in fit], Targets.from_records(fit), groups=groups)
    hand = np.asarray([r.get("source") != "augmented" for r in fit])
    proba = clf.oof_proba_[hand]
    recs = [r for r, keep in zip(fit, hand, strict=True) if keep]
    dec = decide_all(proba, m.thresholds)
    return Scored(recs, proba, dict(m.thresholds), dec, m.version + " (out-of-fold)", None,
                  evaluate_decisions(recs, dec))


def unfitted_copy(model: LoadedModel, *, n_jobs: int = 1) -> TriageClassifier:
    """The model's classifier with the parameters it was fitted with, not fitted.

    Cloned from the loaded classifier rather than rebuilt from the manifest's ``params`` with
    today's defaults: a model saved before a parameter existed keeps the value it was fitted
    with (e.g. ``grievance_others_weight`` 1.0, not the 0.2 that training uses now).
    """
    return clone(model.classifier).set_params(n_jobs=n_jobs)


def _cv_groups(fit: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]) -> list[Any]:
    # The cross-validation groups of complaint_triage.training.train (keep in step with it):
    # whole writer batches, or near-duplicate groups when there are fewer than 5 batches.
    batch_of = {r["id"]: r.get("batch") for r in records}
    groups = [r.get("batch") or batch_of.get(r.get("augmented_from", "")) or r.get("group") or r["id"] for r in fit]
    if len(set(groups)) < 5:
        groups = [r.get("group") or r["id"] for r in fit]
    return groups


def thresholds_for_cap(validation: Scored, max_false_flag_rate: float,
                       category_overrides: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Thresholds chosen on validation scores under a complaint false-flag cap, then overridden by hand.

    ``category_overrides`` replaces chosen category thresholds (e.g. ``{"threat": 0.3}``).
    """
    bad = set(category_overrides or {}) - set(CATEGORIES)
    if bad:
        raise ValueError(f"unknown categories {sorted(bad)}; expected some of {', '.join(CATEGORIES)}")
    th = choose_thresholds(validation.proba, validation.targets, max_false_flag_rate=max_false_flag_rate)
    th["categories"].update({c: float(v) for c, v in (category_overrides or {}).items()})
    return th


def thresholds_frame(current: Mapping[str, Any], chosen: Mapping[str, Any]) -> pd.DataFrame:
    """Two sets of thresholds side by side (harassment, review band, grievance, each category)."""
    names = ["harassment", "review_low", "review_high", "grievance", "max_false_flag_rate", "bystander_discount",
             "bystander_rule"]
    # thresholds without a bystander_rule were chosen (and are decided) under the legacy rule
    current, chosen = with_bystander_rule(current), with_bystander_rule(chosen)
    rows = {n: {"current": current.get(n), "chosen": chosen.get(n)} for n in names}
    rows.update({f"category {c}": {"current": current["categories"][c], "chosen": chosen["categories"][c]}
                 for c in CATEGORIES})
    df = pd.DataFrame(rows).T
    df["changed"] = df["current"] != df["chosen"]
    return df


def apply_thresholds(scored: Scored, thresholds: Mapping[str, Any]) -> Scored:
    """The same probabilities decided with other thresholds."""
    dec = decide_all(scored.proba, thresholds)
    return Scored(scored.records, scored.proba, dict(thresholds), dec, scored.model_version, scored.classifier,
                  evaluate_decisions(scored.records, dec))


# -- metric tables --------------------------------------------------------------------------


def metrics_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Headline metrics as a one-column table."""
    h = metrics["harassment"]
    return pd.DataFrame({"value": {
        "messages": metrics["n"],
        "verdict accuracy": metrics["verdict_accuracy"],
        "verdict macro-F1": metrics["verdict_macro_f1"],
        "harassment precision": h["precision"],
        "harassment recall": h["recall"],
        "harassment F1": h["f1"],
        "complaint false-flag rate": metrics["complaint_false_flag_rate"],
        "complaints called harassment": metrics["complaint_false_flags"],
        "category macro-F1": metrics["category_macro_f1"],
        "grievance accuracy (harassment)": metrics["harassment_grievance_accuracy"],
    }})


def confusion_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The verdict confusion matrix (rows gold, columns predicted)."""
    cm = metrics["confusion_matrix"]
    return pd.DataFrame(cm["rows_gold_cols_pred"], index=pd.Index(cm["labels"], name="gold"),
                        columns=pd.Index(cm["labels"], name="predicted"))


def per_category_frame(metrics: Mapping[str, Any], thresholds: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Per-category precision, recall, F1 and support (and threshold when given)."""
    df = pd.DataFrame(metrics["per_category"]).T[["precision", "recall", "f1", "support"]]
    if thresholds is not None:
        df["threshold"] = [thresholds["categories"][c] for c in df.index]
    return df


def comparison_frame(comparison: Mapping[str, Any]) -> pd.DataFrame:
    """The headline diff of :func:`complaint_triage.versions.compare_models` as a table."""
    old, new = comparison["old"]["model_version"], comparison["new"]["model_version"]
    rows = {k: v for k, v in comparison["diff"].items() if k != "per_category_f1"}
    rows.update({f"F1 {c}": {**d, "change": ""} for c, d in comparison["diff"].get("per_category_f1", {}).items()})
    df = pd.DataFrame(rows).T[["old", "new", "delta", "change"]]
    return df.rename(columns={"old": f"old ({old})", "new": f"new ({new})"})


# -- curves ---------------------------------------------------------------------------------


def _binary_targets(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    t = Targets.from_records(records)
    out = {"harassment": (t.verdict == _H).astype(int)}
    for k, c in enumerate(CATEGORIES):
        out[c] = t.categories[:, k]
    out["grievance"] = t.grievance
    return out


def pr_curves(scored: Scored, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Precision-recall curve per score (default: harassment and the 7 categories).

    Categories are judged over all messages (a category is positive only on harassment
    carrying it).  Each value has ``precision``, ``recall``, ``thresholds``,
    ``average_precision``, ``positives`` and ``threshold`` (the one in use).
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y = _binary_targets(scored.records)
    names = ["harassment", *CATEGORIES] if names is None else list(names)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        yt = y[name]
        # harassment: the decision score its threshold applies to (the verdict head's probability
        # averaged with the strongest category, less the bystander discount), not the head alone
        p = (np.asarray(harassment_score_for(scored.proba, scored.thresholds)) if name == "harassment"
             else scored.proba[:, SCORE_NAMES.index(name)])
        if yt.sum() == 0:
            continue
        prec, rec, th = precision_recall_curve(yt, p)
        used = scored.thresholds["categories"][name] if name in CATEGORIES else scored.thresholds.get(name)
        out[name] = {"precision": prec, "recall": rec, "thresholds": th, "positives": int(yt.sum()),
                     "average_precision": float(average_precision_score(yt, p)), "threshold": used}
    return out


def reliability_curves(scored: Scored, names: Sequence[str] | None = None, n_bins: int = 10) -> pd.DataFrame:
    """Reliability (calibration) data: per score and probability bin, mean predicted vs observed frequency."""
    y = _binary_targets(scored.records)
    names = ["harassment", *CATEGORIES, "grievance"] if names is None else list(names)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for name in names:
        p = scored.proba[:, SCORE_NAMES.index(name)]
        b = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
        for k in range(n_bins):
            mask = b == k
            if mask.any():
                rows.append({"score": name, "bin": k, "mean_predicted": float(p[mask].mean()),
                             "observed": float(y[name][mask].mean()), "count": int(mask.sum())})
    return pd.DataFrame(rows)


def tradeoff_curve(scored: Scored, n_points: int = 101) -> pd.DataFrame:
    """For harassment thresholds from 0 to 1: complaint false-flag rate, harassment recall and precision.

    The thresholds apply to the decision score (:func:`~complaint_triage.model.harassment_score_for`
    with the model's own discount and rule), as the verdicts do: at the model's threshold the curve
    gives the model's own figures.
    """
    t = Targets.from_records(scored.records)
    ph = np.asarray(harassment_score_for(scored.proba, scored.thresholds))
    is_c = t.verdict == VERDICTS.index(Verdict.COMPLAINT)
    is_h = t.verdict == _H
    rows = []
    for thr in np.unique(np.concatenate([np.linspace(0.0, 1.0, n_points), [scored.thresholds["harassment"]]])):
        flag = ph >= thr
        rows.append({
            "threshold": float(thr),
            "complaint_false_flag_rate": float(flag[is_c].mean()) if is_c.any() else 0.0,
            "harassment_recall": float(flag[is_h].mean()) if is_h.any() else 0.0,
            "harassment_precision": float((flag & is_h).sum() / flag.sum()) if flag.any() else 1.0,
            "flagged": int(flag.sum()),
        })
    return pd.DataFrame(rows)


# -- slices and errors ----------------------------------------------------------------------


def slice_metrics(scored: Scored, by: str = "channel") -> pd.DataFrame:
    """Metrics per value of a record field (``channel``, ``topic``, ``kind``...), largest slices first."""
    groups: dict[Any, list[int]] = {}
    for i, r in enumerate(scored.records):
        groups.setdefault(r.get(by), []).append(i)
    rows = []
    for key, idx in groups.items():
        m = evaluate_decisions([scored.records[i] for i in idx], [scored.decisions[i] for i in idx])
        rows.append({by: key, "messages": m["n"], "verdict accuracy": m["verdict_accuracy"],
                     "harassment recall": m["harassment"]["recall"] if m["harassment"]["support"] else np.nan,
                     "harassment precision": m["harassment"]["precision"],
                     "complaints": m["n_complaints"], "complaints flagged": m["complaint_false_flags"],
                     "complaint false-flag rate": m["complaint_false_flag_rate"] if m["n_complaints"] else np.nan,
                     "errors": m["n"] - round(m["verdict_accuracy"] * m["n"])})
    return pd.DataFrame(rows).sort_values(["messages", by], ascending=[False, True]).reset_index(drop=True)


def error_items(scored: Scored, *, include_review: bool = True, limit: int | None = None) -> list[dict[str, Any]]:
    """Misclassified (wrong verdict) and ``review`` items with evidence spans, worst first.

    Evidence shows what drove the predicted categories; when the model predicted none,
    it shows what the model weighted for the gold categories.  Ordered: complaints called
    harassment, then missed harassment, then other errors, then review items; within each,
    by how confident the model was.
    """
    items: list[tuple[int, str, Mapping[str, Any], dict[str, Any], float]] = []
    for r, d, p in zip(scored.records, scored.decisions, scored.proba, strict=True):
        wrong = r["verdict"] != d["verdict"]
        if not wrong and not (include_review and d["review"]):
            continue
        if wrong and r["verdict"] == Verdict.COMPLAINT and d["verdict"] == Verdict.HARASSMENT:
            kind, rank = "complaint flagged as harassment", 0
        elif wrong and r["verdict"] == Verdict.HARASSMENT:
            kind, rank = "missed harassment", 1
        elif wrong:
            kind, rank = "wrong verdict", 2
        else:
            kind, rank = "for review", 3
        items.append((rank, kind, r, d, float(p[_H])))
    items.sort(key=lambda x: (x[0], -abs(x[4] - 0.5), str(x[2].get("id"))))
    items = items[:limit] if limit is not None else items
    out = []
    for _, kind, r, d, ph in items:
        cats = d["categories"] or list(r["categories"])
        ev = explain(scored.classifier, r["text"], cats) if (scored.classifier is not None and cats) else []
        out.append({"id": r.get("id"), "kind": kind, "channel": r.get("channel"), "topic": r.get("topic"),
                    "gold": r["verdict"], "gold_categories": list(r["categories"]), "pred": d["verdict"],
                    "pred_categories": d["categories"], "p_harassment": round(ph, 4),
                    "evidence_for": "predicted" if d["categories"] else "gold", "evidence": ev, "text": r["text"]})
    return out


def hardest_hard_negatives(scored: Scored, k: int = 10) -> pd.DataFrame:
    """The hard negatives the model found most harassment-like (highest p(harassment))."""
    rows = []
    for r, d, p in zip(scored.records, scored.decisions, scored.proba, strict=True):
        if r["verdict"] != Verdict.HARASSMENT and r.get("kind") in HARD_NEGATIVE_KINDS:
            rows.append({"id": r.get("id"), "kind": r.get("kind"), "gold": r["verdict"], "pred": d["verdict"],
                         "p_harassment": round(float(p[_H]), 4), "text": _excerpt(r["text"], 100)})
    df = pd.DataFrame(rows, columns=["id", "kind", "gold", "pred", "p_harassment", "text"])
    return df.sort_values("p_harassment", ascending=False).head(k).reset_index(drop=True)


# -- HTML ------------------------------------------------------------------------------------

_COLOURS = {
    "violence": "#f4a6a6", "threat": "#f7c59f", "other_illegal": "#f9e79f", "excessive_demand": "#c5e1a5",
    "abusive_language": "#b3d9f2", "sns_harassment": "#d7bde2", "other_improper": "#f5b7d5",
}


def evidence_html(text: str, evidence: Sequence[Evidence | Mapping[str, Any]]) -> str:
    """The text as HTML with evidence spans highlighted (colour per category, category on hover)."""
    spans = []
    for e in evidence:
        d: Mapping[str, Any] = e.to_dict() if isinstance(e, Evidence) else e
        spans.append((int(d["start"]), int(d["end"]), str(d["category"])))
    spans.sort()
    out, pos = [], 0
    for start, end, cat in spans:
        if start < pos:  # overlaps an earlier span: extend nothing, keep the first
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f'<mark title="{html.escape(cat)}" style="background:{_COLOURS.get(cat, "#ddd")}">'
                   f"{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def items_html(items: Sequence[Mapping[str, Any]]) -> str:
    """Error items (from :func:`error_items`) as an HTML table with highlighted evidence."""
    legend = " ".join(f'<mark style="background:{col}">{c}</mark>' for c, col in _COLOURS.items())
    rows = []
    for it in items:
        rows.append(
            "<tr>"
            f"<td>{html.escape(str(it['id']))}<br><small>{html.escape(str(it['channel']))} / "
            f"{html.escape(str(it['topic']))}</small></td>"
            f"<td>{html.escape(it['kind'])}</td>"
            f"<td>{html.escape(it['gold'])}<br><small>{html.escape(', '.join(it['gold_categories']))}</small></td>"
            f"<td>{html.escape(it['pred'])}<br><small>{html.escape(', '.join(it['pred_categories']))}</small></td>"
            f"<td>{it['p_harassment']:.3f}</td>"
            f"<td style='text-align:left'>{evidence_html(it['text'], it['evidence'])}"
            f"<br><small>evidence for {it['evidence_for']} categories</small></td>"
            "</tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("id", "error", "gold", "predicted", "p(harassment)", "message"))
    return (f"<div>{legend}</div><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
