"""Model versions: hot reload, side-by-side comparison, guarded promotion, threshold variants, cards.

The registry layout is :mod:`complaint_triage.persist`'s (``<version>/{model.skops,
manifest.json, README.md}`` plus ``PROMOTED``).  This module adds what the retraining loop
needs on top of it:

* :class:`ModelHolder` keeps the served :class:`~complaint_triage.scoring.Triager` and
  swaps it for the promoted version on :meth:`ModelHolder.reload`, without blocking or
  disturbing requests that are already scoring.
* :func:`compare_models` and :func:`promote_if_not_worse` judge a new version against the
  promoted one on the frozen test split; promotion is refused when the complaint
  false-flag rate (legitimate complaints called harassment) gets worse.
* :func:`write_threshold_variant` saves the same model bytes with other thresholds as a new
  version, and :func:`model_card` writes the card (training data hash, test metrics,
  thresholds, diff against the previous version).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from complaint_triage.corpus import load_corpus
from complaint_triage.exceptions import ModelNotFoundError
from complaint_triage.labels import CATEGORIES
from complaint_triage.metrics import evaluate_decisions
from complaint_triage.model import BYSTANDER_RULES, bystander_rule, decide_all, with_bystander_rule
from complaint_triage.persist import (
    CARD_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    PROMOTED_FILE,
    LoadedModel,
    file_sha256,
    load_model,
    manifest_value,
    models_root,
    promote,
    promoted_version,
    seal_manifest,
)
from complaint_triage.scoring import Triager

__all__ = [
    "ModelHolder",
    "ReloadResult",
    "SUMMARY_METRICS",
    "compare_models",
    "copy_version",
    "evaluate_model",
    "frozen_test_split",
    "merge_thresholds",
    "model_card",
    "promote_if_not_worse",
    "write_card",
    "write_threshold_variant",
]

#: Headline metrics shown side by side (dotted names reach into nested dicts).
SUMMARY_METRICS: tuple[str, ...] = (
    "verdict_accuracy",
    "verdict_macro_f1",
    "harassment.precision",
    "harassment.recall",
    "harassment.f1",
    "complaint_false_flag_rate",
    "complaint_false_flags",
    "category_macro_f1",
    "harassment_grievance_accuracy",
)
_LOWER_IS_BETTER = {"complaint_false_flag_rate", "complaint_false_flags"}
_WARM_UP_TEXTS = ("住民票の写しはどこで取れますか。", "ゴミが回収されていません。対応してください。")


# -- hot reload -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReloadResult:
    """What :meth:`ModelHolder.reload` did."""

    previous_version: str | None
    version: str
    changed: bool
    path: Path

    def to_dict(self) -> dict[str, Any]:
        return {"previous_version": self.previous_version, "model_version": self.version,
                "changed": self.changed, "path": str(self.path)}


class ModelHolder:
    """Thread-safe holder of the model being served, reloadable while requests run.

    Parameters
    ----------
    path : path-like, default=None
        Serve this model directory (reloading re-reads it).  ``None`` serves the promoted
        version of ``root``, or ``$COMPLAINT_TRIAGE_MODEL`` when that is set and ``root``
        is not given (as :func:`complaint_triage.persist.load_model` does).
    root : path-like, default=None
        The registry whose ``PROMOTED`` version is served (default: ``models_root()``).
    warm_up : bool, default=True
        Score two short texts with a newly loaded model before it is swapped in, so a
        model that loads but cannot score is refused and the first request is not slow.
    **triager_kwargs
        Passed to :meth:`Triager.load` (e.g. ``max_chars``).

    Notes
    -----
    A request calls :meth:`get` once and keeps the returned :class:`Triager` until it
    finishes.  :meth:`reload` loads the new model completely (outside any lock that
    :meth:`get` takes) and then replaces the reference in one assignment, so in-flight
    requests finish on the old model and new ones get the new model.  If loading fails,
    the error is raised and the old model keeps serving.  Reloads are serialised.
    """

    def __init__(self, path: Path | str | None = None, *, root: Path | str | None = None, warm_up: bool = True,
                 **triager_kwargs: Any) -> None:
        self.path = None if path is None else Path(path)
        self.root = None if root is None else Path(root)
        self.warm_up = warm_up
        self.triager_kwargs = triager_kwargs
        self._current: Triager | None = None
        self._identity: tuple[str, str, str] | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def from_triager(cls, triager: Triager, **kwargs: Any) -> ModelHolder:
        """A holder already serving ``triager`` (reloads follow ``kwargs``: path, root...)."""
        holder = cls(**kwargs)
        holder._current = triager
        holder._identity = _identity(triager.model.manifest)
        return holder

    def target(self) -> Path:
        """The model directory a reload would load now."""
        if self.path is not None:
            return self.path
        if self.root is None and os.environ.get("COMPLAINT_TRIAGE_MODEL"):
            return Path(os.environ["COMPLAINT_TRIAGE_MODEL"])
        root = models_root() if self.root is None else self.root
        return root / promoted_version(root)

    def get(self) -> Triager:
        """The current model (loading it on first use).  Never waits for a reload in progress."""
        current = self._current
        if current is None:
            self.reload()
            current = self._current
            assert current is not None
        return current

    @property
    def version(self) -> str | None:
        """Version of the model being served, or ``None`` before the first load."""
        current = self._current
        return None if current is None else current.version

    def reload(self, *, force: bool = False) -> ReloadResult:
        """Load the promoted (or configured) version, then swap it in atomically.

        Does nothing when that version, its model file and its thresholds are the ones
        already served, unless ``force``.

        Raises
        ------
        ModelNotFoundError, ModelLoadError, UntrustedModelError, LabelSetMismatchError
            The new model could not be loaded; the old one keeps serving.
        """
        with self._reload_lock:
            target = self.target()
            old = self._current
            if old is not None and not force:
                try:
                    manifest = json.loads((target / MANIFEST_FILE).read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    manifest = None  # let load_model report the problem properly
                if manifest is not None and _identity(manifest) == self._identity:
                    return ReloadResult(old.version, old.version, False, target)
            new = Triager.load(target, **self.triager_kwargs)
            if self.warm_up:
                new.score_many(list(_WARM_UP_TEXTS))
            self._current = new  # one reference assignment: atomic for readers
            self._identity = _identity(new.model.manifest)
            return ReloadResult(None if old is None else old.version, new.version, True, target)


def _identity(manifest: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(manifest.get("model_version")), str(manifest.get("model_sha256")),
            json.dumps(manifest.get("thresholds"), sort_keys=True))


# -- evaluation and comparison ------------------------------------------------------------


def frozen_test_split(data_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """The hand-written test split of the corpus: the records every model is judged on."""
    return [r for r in load_corpus(None if data_dir is None else Path(data_dir))
            if r["split"] == "test" and r.get("source", "handwritten") == "handwritten"]


def _as_loaded(model: LoadedModel | Path | str) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


def evaluate_model(model: LoadedModel | Path | str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Metrics (:func:`~complaint_triage.metrics.evaluate_decisions`) of a model on labelled records."""
    m = _as_loaded(model)
    proba = m.classifier.predict_scores([r["text"] for r in records])
    return evaluate_decisions(records, decide_all(proba, m.thresholds))




def _metric_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    diff: dict[str, Any] = {}
    for name in SUMMARY_METRICS:
        a, b = manifest_value(old, name), manifest_value(new, name)
        if a is None or b is None:
            continue
        delta = round(b - a, 4)
        better = b < a if name in _LOWER_IS_BETTER else b > a
        diff[name] = {"old": a, "new": b, "delta": delta,
                      "change": "same" if delta == 0 else ("better" if better else "worse")}
    per_cat = {}
    for c in CATEGORIES:
        a, b = manifest_value(old, f"per_category.{c}.f1"), manifest_value(new, f"per_category.{c}.f1")
        if a is not None and b is not None:
            per_cat[c] = {"old": a, "new": b, "delta": round(b - a, 4)}
    if per_cat:
        diff["per_category_f1"] = per_cat
    return diff


def _thresholds_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    # thresholds without a bystander_rule were chosen (and are decided) under the legacy rule
    old, new = with_bystander_rule(old), with_bystander_rule(new)
    for k in sorted(set(old) | set(new)):
        if k == "categories":
            continue
        if old.get(k) != new.get(k):
            out[k] = {"old": old.get(k), "new": new.get(k)}
    oc, nc = old.get("categories", {}), new.get("categories", {})
    for c in CATEGORIES:
        if oc.get(c) != nc.get(c):
            out[f"categories.{c}"] = {"old": oc.get(c), "new": nc.get(c)}
    return out


def _compare(old: LoadedModel, new: LoadedModel, records: Sequence[Mapping[str, Any]],
             old_pred: list[dict[str, Any]], new_pred: list[dict[str, Any]]) -> dict[str, Any]:
    om, nm = evaluate_decisions(records, old_pred), evaluate_decisions(records, new_pred)
    changed = [
        {"id": r.get("id", i), "gold": r["verdict"], "old": a["verdict"], "new": b["verdict"]}
        for i, (r, a, b) in enumerate(zip(records, old_pred, new_pred, strict=True)) if a["verdict"] != b["verdict"]
    ]
    return {
        "n": len(records),
        "old": {"model_version": old.version, "path": str(old.path), "metrics": om},
        "new": {"model_version": new.version, "path": str(new.path), "metrics": nm},
        "diff": _metric_diff(om, nm),
        "thresholds_diff": _thresholds_diff(old.thresholds, new.thresholds),
        "params_diff": {k: {"old": old.manifest.get("params", {}).get(k), "new": new.manifest.get("params", {}).get(k)}
                        for k in sorted(set(old.manifest.get("params", {})) | set(new.manifest.get("params", {})))
                        if old.manifest.get("params", {}).get(k) != new.manifest.get("params", {}).get(k)},
        "training_data": {"old": manifest_value(old.manifest, "training_data.sha256"),
                          "new": manifest_value(new.manifest, "training_data.sha256")},
        "changed_verdicts": changed,
    }


def compare_models(old_dir: LoadedModel | Path | str, new_dir: LoadedModel | Path | str,
                   records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Evaluate two models on the same labelled records (the frozen test split) side by side.

    Returns
    -------
    dict
        ``n``; ``old`` and ``new`` (model_version, path, full metrics); ``diff`` (each of
        :data:`SUMMARY_METRICS` with old, new, delta and better/worse/same, plus
        ``per_category_f1``); ``thresholds_diff``; ``params_diff``; ``training_data``
        (both data hashes); ``changed_verdicts`` (id, gold, old and new verdict of every
        message whose verdict changed).
    """
    if not records:
        raise ValueError("compare_models needs at least one labelled record")
    old, new = _as_loaded(old_dir), _as_loaded(new_dir)
    texts = [r["text"] for r in records]
    old_p = old.classifier.predict_scores(texts)
    new_p = old_p if old.manifest.get("model_sha256") == new.manifest.get("model_sha256") and old.path == new.path \
        else new.classifier.predict_scores(texts)
    return _compare(old, new, records, decide_all(old_p, old.thresholds), decide_all(new_p, new.thresholds))


def promote_if_not_worse(
    new_version: str,
    root: Path | str | None = None,
    test_records: Sequence[Mapping[str, Any]] | None = None,
    max_false_flag_increase: float = 0.0,
    *,
    max_recall_drop: float | None = None,
    update_card: bool = True,
) -> tuple[bool, dict[str, Any]]:
    """Promote ``new_version`` unless it flags more legitimate complaints than the promoted model.

    Both models are scored on ``test_records`` (default: :func:`frozen_test_split` of the
    default data folder).  The new version is promoted when its complaint false-flag rate
    is at most the promoted model's plus ``max_false_flag_increase`` (and, if
    ``max_recall_drop`` is given, its harassment recall is at most that much lower); when
    nothing is promoted yet it is promoted outright.  With ``update_card`` the new
    version's card is rewritten to show the comparison.

    Returns
    -------
    (promoted, comparison)
        ``comparison`` is :func:`compare_models`'s dict (``old`` is ``None`` when there was no
        promoted model) plus ``decision``: ``{"promoted", "reason"}``.
    """
    root = models_root() if root is None else Path(root)
    records = frozen_test_split() if test_records is None else list(test_records)
    new = load_model(root / new_version)
    try:
        current: str | None = promoted_version(root)
    except FileNotFoundError:
        current = None
    if current is not None and not (root / current / MANIFEST_FILE).is_file():
        # PROMOTED names a version that is gone: there is nothing to compare against, and
        # promoting outright would skip the very check that was asked for
        raise ModelNotFoundError(
            f"the promoted version {current} named in {root / PROMOTED_FILE} has no {MANIFEST_FILE} in "
            f"{root / current}, so {new_version} cannot be compared with it: restore {current}, or promote "
            f"{new_version} without --if-not-worse to replace it deliberately"
        )
    if current is None:
        metrics = evaluate_model(new, records)
        comparison: dict[str, Any] = {"n": len(records), "old": None,
                                      "new": {"model_version": new.version, "path": str(new.path), "metrics": metrics}}
        promote(new_version, root)
        comparison["decision"] = {"promoted": True, "reason": "no model was promoted before"}
        if update_card:
            write_card(new.path)
        return True, comparison
    comparison = compare_models(root / current, new, records)
    old_rate = comparison["old"]["metrics"]["complaint_false_flag_rate"]
    new_rate = comparison["new"]["metrics"]["complaint_false_flag_rate"]
    limit = old_rate + max_false_flag_increase
    if current == new_version:
        ok, reason = True, f"{new_version} is already the promoted version"
    elif new_rate > limit + 1e-12:
        ok, reason = False, (f"complaint false-flag rate {new_rate:.2%} is worse than {old_rate:.2%} "
                             f"of {current} (allowed increase {max_false_flag_increase:.2%}); {current} stays promoted")
    elif max_recall_drop is not None and (
            comparison["new"]["metrics"]["harassment"]["recall"]
            < comparison["old"]["metrics"]["harassment"]["recall"] - max_recall_drop - 1e-12):
        ok, reason = False, (f"harassment recall {comparison['new']['metrics']['harassment']['recall']:.2%} dropped "
                             f"more than {max_recall_drop:.2%} below {current}'s "
                             f"{comparison['old']['metrics']['harassment']['recall']:.2%}; {current} stays promoted")
    else:
        ok, reason = True, (f"complaint false-flag rate {new_rate:.2%} is not worse than {old_rate:.2%} "
                            f"of {current} (allowed increase {max_false_flag_increase:.2%})")
    comparison["decision"] = {"promoted": ok, "reason": reason}
    if update_card and current != new_version:
        write_card(new.path, previous=root / current, comparison=comparison)
    if ok and current != new_version:
        promote(new_version, root)
    return ok, comparison


# -- threshold variants ---------------------------------------------------------------------

_THRESHOLD_KEYS = {"harassment", "review_low", "review_high", "categories", "category_relative", "grievance",
                   "max_false_flag_rate", "review_false_flag_rate", "bystander_discount", "bystander_rule"}


def merge_thresholds(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` thresholds with ``changes`` applied (``categories`` may be partial).

    When the harassment threshold changes and the review band is not given, the band is
    re-derived as :func:`~complaint_triage.model.choose_thresholds` does: it ends halfway
    between the threshold and 1 and starts no higher than the threshold.  A harassment
    threshold set without ``max_false_flag_rate`` records that cap as ``None`` (set by hand).

    Raises
    ------
    ValueError
        Unknown keys or categories, values outside [0, 1], an unknown ``bystander_rule``, or a
        review band that does not contain the harassment threshold.
    """
    unknown = set(changes) - _THRESHOLD_KEYS
    if unknown:
        raise ValueError(f"unknown threshold(s) {sorted(unknown)}; expected some of {sorted(_THRESHOLD_KEYS)}")
    cats = dict(changes.get("categories") or {})
    bad = set(cats) - set(CATEGORIES)
    if bad:
        raise ValueError(f"unknown categories {sorted(bad)}; expected some of {', '.join(CATEGORIES)}")
    out = deepcopy(dict(base))
    out["categories"] = {**base["categories"], **{c: float(v) for c, v in cats.items()}}
    for k, v in changes.items():
        if k == "bystander_rule":  # how the discount applies (complaint_triage.model.harassment_score)
            if v not in BYSTANDER_RULES:
                raise ValueError(f"bystander_rule {v!r} is not one of {', '.join(BYSTANDER_RULES)}")
            out[k] = v
        elif k != "categories":
            out[k] = None if v is None else float(v)
    moved_score = (bystander_rule(out) != bystander_rule(base)
                   or out.get("bystander_discount", 0.0) != base.get("bystander_discount", 0.0))
    if moved_score and "harassment" not in changes and "max_false_flag_rate" not in changes:
        # the score the threshold applies to changed under it: the threshold no longer keeps the
        # validation cap it was chosen for (as when the threshold itself is set by hand)
        out["max_false_flag_rate"] = None
    if "harassment" in changes and changes["harassment"] != base["harassment"]:
        h = float(changes["harassment"])
        if "review_high" not in changes:
            out["review_high"] = round(h + (1.0 - h) / 2, 6)
        if "review_low" not in changes:
            out["review_low"] = min(float(base["review_low"]), h)
        if "max_false_flag_rate" not in changes:
            out["max_false_flag_rate"] = None
    for name in ("harassment", "review_low", "review_high", "grievance"):
        if not 0.0 <= out[name] <= 1.0:
            raise ValueError(f"threshold {name}={out[name]} is outside [0, 1]")
    for c, v in out["categories"].items():
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"threshold categories.{c}={v} is outside [0, 1]")
    if not out["review_low"] <= out["harassment"] <= out["review_high"]:
        raise ValueError(
            f"the review band [{out['review_low']}, {out['review_high']}) must contain the harassment "
            f"threshold {out['harassment']}"
        )
    return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _publish(tmp: Path, final: Path) -> Path:
    try:
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if (final / MANIFEST_FILE).is_file():  # written meanwhile by someone else
            return final
        raise
    return final


def write_threshold_variant(
    base_dir: Path | str,
    thresholds: Mapping[str, Any],
    root: Path | str | None = None,
    *,
    test_records: Sequence[Mapping[str, Any]] | None = None,
    note: str | None = None,
) -> Path:
    """Save the model of ``base_dir`` with other thresholds as a new version in ``root``.

    The model file is copied byte for byte; the manifest gets the merged thresholds
    (:func:`merge_thresholds`), test metrics recomputed on ``test_records`` (default: the
    frozen test split), ``derived_from`` the base version; the card shows the diff against
    the base.  The version name is derived from the base version and the thresholds, so
    writing the same variant twice returns the existing directory.  Nothing is promoted.

    Returns
    -------
    Path
        The new version directory.
    """
    base = load_model(base_dir)
    root = models_root() if root is None else Path(root)
    new_th = merge_thresholds(base.thresholds, thresholds)
    version = "m-" + hashlib.sha256(
        (base.version + "|" + json.dumps(new_th, sort_keys=True)).encode()).hexdigest()[:10]
    final = root / version
    if (final / MANIFEST_FILE).is_file():
        return final
    records = frozen_test_split() if test_records is None else list(test_records)
    proba = base.classifier.predict_scores([r["text"] for r in records]) if records else np.zeros((0, 0))
    old_pred, new_pred = decide_all(proba, base.thresholds), decide_all(proba, new_th)
    manifest = {k: v for k, v in deepcopy(base.manifest).items() if not k.startswith("_")}
    manifest.update({
        "model_version": version,
        "created": _now(),
        "thresholds": new_th,
        "derived_from": {"model_version": base.version, "change": "thresholds", **({"note": note} if note else {})},
        "metrics": {"test": evaluate_decisions(records, new_pred) if records else {}},
    })
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{version}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        shutil.copyfile(base.path / MODEL_FILE, tmp / MODEL_FILE)
        if file_sha256(tmp / MODEL_FILE) != base.manifest["model_sha256"]:
            raise OSError(f"copy of {base.path / MODEL_FILE} does not match its checksum")
        new_model = LoadedModel(base.classifier, manifest, final)
        comparison = _compare(base, new_model, records, old_pred, new_pred) if records else None
        (tmp / CARD_FILE).write_text(model_card(manifest, previous=base.manifest, comparison=comparison),
                                     encoding="utf-8")
        (tmp / MANIFEST_FILE).write_text(json.dumps(seal_manifest(manifest), ensure_ascii=False, indent=2) + "\n",
                                         encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, final)


def copy_version(src_dir: Path | str, root: Path | str, *, make_promoted: bool = False) -> Path:
    """Copy a model version directory into another registry (e.g. a scratch registry)."""
    src = Path(src_dir)
    manifest = json.loads((src / MANIFEST_FILE).read_text(encoding="utf-8"))
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / str(manifest["model_version"])
    if not (final / MANIFEST_FILE).is_file():
        tmp = root / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
        shutil.copytree(src, tmp)
        _publish(tmp, final)
    if make_promoted:
        promote(final.name, root)
    return final


# -- model cards ------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        text = f"{v:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return str(v)


def _percent(rate: float) -> str:
    """A rate as a percentage with the digits it was set with (0.0075 -> "0.75%", not "0.8%")."""
    return f"{round(rate * 100, 6):g}%"


def model_card(manifest: Mapping[str, Any], *, previous: Mapping[str, Any] | None = None,
               comparison: Mapping[str, Any] | None = None) -> str:
    """The model card (Markdown): data hash, test metrics, thresholds, diff against ``previous``.

    ``comparison`` (from :func:`compare_models`) gives the diff measured on the same test
    records; without it the diff compares the metrics recorded in the two manifests.
    """
    v = manifest["model_version"]
    td = manifest.get("training_data", {})
    th = manifest["thresholds"]
    test = manifest_value(manifest, "metrics.test") or {}
    lines = [f"# Model card: complaint-triage {v}", ""]
    derived = manifest.get("derived_from")
    if derived:
        note = f" Note: {derived['note']}" if derived.get("note") else ""
        lines += [f"Derived from `{derived['model_version']}` ({derived.get('change', 'changed')}); "
                  f"the model file is byte for byte the same.{note}", ""]
    lines += [
        "Classifies Japanese messages to the ward office as harassment / complaint / inquiry, with the",
        "7 harassment categories of the Setagaya policy and a grievance flag (calibrated probabilities).",
        "",
        "## Intended use and limits",
        "- Triage support: flag possible customer harassment for a supervisor and route legitimate",
        "  complaints, which are valuable, to the department. A human decides; never refuse service",
        "  or end contact on a verdict alone.",
        "- Trained on synthetic hand-written messages (plus analysts' corrections when listed below);",
        "  a single-message model cannot see repetition across messages.",
        "",
        "## Training data",
        *([f"- sha256 of the corpus files and the corrections together: `{td.get('sha256', '?')}` "
           f"(corpus files alone: `{td['corpus_sha256']}`; the {td.get('n_corrections', '?')} corrections: "
           f"`{td.get('extra_records_sha256', '?')}`, up to {td.get('corrections_up_to', '?')}); "
           "`complaint-triage train` alone cannot reproduce this model: retrain with the same corrections "
           "database (`complaint-triage train --feedback-db DB`, notebooks/05, or "
           "`complaint_triage.training.train(extra_records=...)`)"]
          if td.get("corpus_sha256") else [f"- sha256: `{td.get('sha256', '?')}`"]),
        f"- files: {', '.join(td.get('files', [])) or '?'}",
        f"- items used for fitting: {td.get('n_fit', '?')}, of which analysts' corrections: "
        f"{td.get('n_extra_records', 0)}; test split held out: {td.get('n_test', '?')}",
        f"- created: {manifest.get('created', '?')}",
        "",
        "## Thresholds",
        f"- harassment: {_fmt(th['harassment'])} (cap on complaints flagged in validation: "
        f"{'set by hand' if th.get('max_false_flag_rate') is None else _percent(th['max_false_flag_rate'])})",
        f"- review band: [{_fmt(th['review_low'])}, {_fmt(th['review_high'])})",
        f"- grievance (within harassment): {_fmt(th['grievance'])}",
        "",
        "| category | threshold |",
        "|---|---|",
        *[f"| {c} | {_fmt(th['categories'][c])} |" for c in CATEGORIES],
        "",
    ]
    if test:
        lines += [
            f"## Metrics on the frozen test split ({test['n']} hand-written messages)",
            "| metric | value |",
            "|---|---|",
            f"| verdict accuracy | {test['verdict_accuracy']:.3f} |",
            f"| verdict macro-F1 | {test['verdict_macro_f1']:.3f} |",
            f"| harassment precision | {test['harassment']['precision']:.3f} |",
            f"| harassment recall | {test['harassment']['recall']:.3f} |",
            f"| harassment F1 | {test['harassment']['f1']:.3f} |",
            f"| complaint false-flag rate | {test['complaint_false_flag_rate']:.2%} "
            f"({test['complaint_false_flags']} of {test['n_complaints']}) |",
            f"| category macro-F1 | {test['category_macro_f1']:.3f} |",
            "",
            "| category | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
            *[f"| {c} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
              for c, s in test["per_category"].items()],
            "",
        ]
    cv = manifest_value(manifest, "metrics.cross_validation")
    if cv:
        lines += [f"Cross-validated (out-of-fold, train+dev): verdict macro-F1 {cv['verdict_macro_f1']:.3f}, "
                  f"harassment recall {cv['harassment']['recall']:.3f}, complaint false-flag rate "
                  f"{cv['complaint_false_flag_rate']:.2%}.", ""]
    lines += _diff_section(manifest, previous, comparison)
    return "\n".join(lines).rstrip() + "\n"


def _diff_section(manifest: Mapping[str, Any], previous: Mapping[str, Any] | None,
                  comparison: Mapping[str, Any] | None) -> list[str]:
    if previous is None:
        return ["## Changes from the previous version", "No previous version to compare with."]
    pv = previous["model_version"]
    out = [f"## Changes from the previous version (`{pv}`)"]
    if comparison is not None and comparison.get("old") is not None:
        diff, th_diff = comparison["diff"], comparison["thresholds_diff"]
        out.append(f"Measured on the same {comparison['n']} test messages.")
    else:
        diff = _metric_diff(manifest_value(previous, "metrics.test") or {},
                            manifest_value(manifest, "metrics.test") or {})
        th_diff = _thresholds_diff(previous["thresholds"], manifest["thresholds"])
        out.append("From the metrics recorded in the two manifests (their test splits may differ).")
    old_hash = manifest_value(previous, "training_data.sha256")
    new_hash = manifest_value(manifest, "training_data.sha256")
    out += ["", f"- training data: {'unchanged' if old_hash == new_hash else f'`{old_hash}` → `{new_hash}`'}"]
    params = {k for k in set(previous.get("params", {})) | set(manifest.get("params", {}))
              if previous.get("params", {}).get(k) != manifest.get("params", {}).get(k)}
    out.append("- parameters: " + (", ".join(f"{k} {_fmt(previous.get('params', {}).get(k))} → "
                                              f"{_fmt(manifest.get('params', {}).get(k))}" for k in sorted(params))
                                   if params else "unchanged"))
    out.append("- thresholds: " + (", ".join(f"{k} {_fmt(d['old'])} → {_fmt(d['new'])}" for k, d in th_diff.items())
                                   if th_diff else "unchanged"))
    if diff:
        out += ["", "| metric | previous | this | change |", "|---|---|---|---|"]
        for name in SUMMARY_METRICS:
            if name in diff:
                d = diff[name]
                out.append(f"| {name} | {_fmt(d['old'])} | {_fmt(d['new'])} | {d['delta']:+g} ({d['change']}) |")
        for c, d in diff.get("per_category_f1", {}).items():
            if d["delta"]:
                out.append(f"| F1 {c} | {_fmt(d['old'])} | {_fmt(d['new'])} | {d['delta']:+g} |")
    if comparison is not None and comparison.get("decision"):
        out += ["", f"Promotion check: {'promoted' if comparison['decision']['promoted'] else 'not promoted'} — "
                    f"{comparison['decision']['reason']}."]
    return out


def write_card(version_dir: Path | str, *, previous: Path | str | None = None,
               comparison: Mapping[str, Any] | None = None) -> Path:
    """(Re)write a version's ``README.md`` with :func:`model_card`; returns the card's path."""
    d = Path(version_dir)
    manifest = json.loads((d / MANIFEST_FILE).read_text(encoding="utf-8"))
    prev = None if previous is None else json.loads((Path(previous) / MANIFEST_FILE).read_text(encoding="utf-8"))
    card = d / CARD_FILE
    text = model_card(manifest, previous=prev, comparison=comparison)
    # the card `train` wrote says how to rebuild the model (with or without analysts' corrections);
    # only the training run knows that, so a rewritten card keeps that section as it was
    old = card.read_text(encoding="utf-8") if card.is_file() else ""
    start = old.find(_REPRODUCE)
    if start >= 0:  # (model_card writes no such section of its own)
        nxt = old.find("\n## ", start + len(_REPRODUCE))
        text = text.rstrip("\n") + "\n\n" + (old[start + 1:] if nxt < 0 else old[start + 1:nxt + 1]).rstrip("\n") + "\n"
    tmp = d / (CARD_FILE + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, card)
    return card


_REPRODUCE = "\n## Reproduce\n"
