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
