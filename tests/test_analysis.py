"""complaint_triage.analysis: the analysts' helpers behind the notebooks (most are exercised by
running the notebooks themselves, tests/test_notebooks.py)."""

from __future__ import annotations

from complaint_triage.analysis import unfitted_copy
from complaint_triage.persist import load_model
from complaint_triage.training import build_classifier


def test_the_refit_copy_has_the_parameters_the_manifest_records(small_model_dir):
    model = load_model(small_model_dir)
    copy = unfitted_copy(model, n_jobs=2)
    want = build_classifier(model.manifest["params"], n_jobs=2).get_params(deep=False)
    got = copy.get_params(deep=False)
    assert {k: v for k, v in got.items() if k != "featurizer"} == {k: v for k, v in want.items() if k != "featurizer"}
    assert copy.featurizer.get_params(deep=False).keys() == want["featurizer"].get_params(deep=False).keys()
    assert not hasattr(copy, "coef_") and hasattr(model.classifier, "coef_")


def test_a_model_saved_before_a_parameter_existed_is_refitted_with_the_value_it_had(small_model_dir):
    """A model saved before grievance_others_weight existed was fitted with weight 1.0; its
    out-of-fold refit must not take the 0.2 that training uses today."""
    model = load_model(small_model_dir)
    assert model.manifest["params"].get("grievance_others_weight") == 0.2
    del model.classifier.grievance_others_weight  # as loaded from a file saved before it existed
    assert unfitted_copy(model).get_params()["grievance_others_weight"] == 1.0


def test_the_tradeoff_curve_and_the_pr_curve_at_the_models_threshold_give_its_own_figures(small_model_dir):
    # the harassment threshold applies to the decision score (with the bystander discount), not to
    # the verdict head's probability: at the threshold the curves must agree with the verdicts
    import numpy as np
    from tests.conftest import corpus_records

    from complaint_triage.analysis import pr_curves, score_records, tradeoff_curve

    recs = [r for r in corpus_records() if r["split"] == "test"][:600]
    scored = score_records(load_model(small_model_dir), recs)
    th = scored.thresholds["harassment"]
    row = tradeoff_curve(scored).set_index("threshold").loc[th]
    flagged = np.array([d["verdict"] == "harassment" for d in scored.decisions])
    gold = np.array([r["verdict"] for r in recs])
    assert row["flagged"] == flagged.sum()
    assert row["complaint_false_flag_rate"] == flagged[gold == "complaint"].mean()
    assert row["harassment_recall"] == flagged[gold == "harassment"].mean()
    pr = pr_curves(scored, ["harassment"])["harassment"]
    k = np.searchsorted(pr["thresholds"], th)  # the first curve point at or above the threshold
    assert pr["recall"][k] == flagged[gold == "harassment"].mean()


def test_the_thresholds_frame_shows_the_bystander_rule_a_legacy_manifest_was_decided_under(small_model_dir):
    from complaint_triage.analysis import thresholds_frame

    chosen = load_model(small_model_dir).thresholds
    legacy = {k: v for k, v in chosen.items() if k != "bystander_rule"}
    df = thresholds_frame(legacy, chosen)
    assert df.loc["bystander_rule", "current"] == "doubt" and df.loc["bystander_rule", "chosen"] == "flat"
    assert bool(df.loc["bystander_rule", "changed"])
