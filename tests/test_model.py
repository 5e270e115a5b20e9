import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from complaint_triage.labels import CATEGORIES, VERDICTS
from complaint_triage.model import (
    SCORE_NAMES,
    Targets,
    TriageClassifier,
    choose_thresholds,
    decide,
    decide_rows,
    harassment_score,
)

from .conftest import corpus_records


@pytest.fixture(scope="module")
def fitted():
    recs = [r for r in corpus_records() if r["split"] == "train"][:250]
    clf = TriageClassifier(cv=3)
    clf.fit([r["text"] for r in recs], recs)
    return clf, recs


def test_probabilities_are_calibrated_shapes(fitted):
    clf, recs = fitted
    P = clf.predict_scores([r["text"] for r in recs[:20]])
    assert P.shape == (20, len(SCORE_NAMES))
    assert np.allclose(P[:, : len(VERDICTS)].sum(axis=1), 1.0)
    assert ((P >= 0) & (P <= 1)).all()
    assert clf.temperature_ > 0
    assert clf.oof_proba_.shape == (len(recs), len(SCORE_NAMES))


def test_predict_returns_known_verdicts(fitted):
    clf, _ = fitted
    out = clf.predict(["ゴミの日を教えてください", "殺すぞ"])
    assert set(out) <= set(VERDICTS)


def test_learns_training_data(fitted):
    clf, recs = fitted
    pred = clf.predict([r["text"] for r in recs])
    acc = np.mean([p == r["verdict"] for p, r in zip(pred, recs, strict=True)])
    assert acc > 0.9


def test_clone_keeps_params_and_drops_state(fitted):
    clf, _ = fitted
    c = clone(clf)
    assert c.get_params()["cv"] == 3
    with pytest.raises(NotFittedError):
        c.predict_scores(["テスト"])


def test_label_length_mismatch():
    with pytest.raises(ValueError, match="label records"):
        TriageClassifier().fit(["a", "b"], [{"verdict": "inquiry", "categories": [], "grievance": False}])


def test_invalid_labels_are_refused():
    from complaint_triage.exceptions import LabelError

    with pytest.raises(LabelError, match="record 0"):
        Targets.from_records([{"verdict": "complaint", "categories": [], "grievance": False}])


def _row(ph, pc, pi, cats=None, g=0.5):
    cats = cats or {}
    return np.array([ph, pc, pi, *[cats.get(c, 0.0) for c in CATEGORIES], g])


TH = {"harassment": 0.6, "review_low": 0.3, "review_high": 0.8,
      "categories": {c: 0.5 for c in CATEGORIES}, "grievance": 0.5}


DECIDE_CASES = [
    # score = (p_harassment + strongest category) / 2
    (_row(0.7, 0.2, 0.1, {"threat": 0.9, "abusive_language": 0.6}, 0.7), "harassment", ("threat", "abusive_language"), True, False),
    (_row(0.9, 0.05, 0.05, {"threat": 0.2, "violence": 0.4}, 0.2), "harassment", ("violence",), False, True),
    (_row(0.4, 0.3, 0.3, {"threat": 0.9}, 0.2), "harassment", ("threat",), False, True),
    (_row(0.5, 0.3, 0.2), "complaint", (), True, False),
    (_row(0.1, 0.6, 0.3, {"threat": 0.7}), "complaint", (), True, True),
    (_row(0.1, 0.3, 0.6), "inquiry", (), False, False),
]


@pytest.mark.parametrize(("row", "verdict", "cats", "grievance", "review"), DECIDE_CASES)
def test_decide_policy(row, verdict, cats, grievance, review):
    d = decide(row, TH)
    assert (d.verdict, d.categories, d.grievance, d.review) == (verdict, cats, grievance, review)


def test_decide_rows_decides_each_row_as_alone():
    # the table above, stacked (and reversed, so harassment rows are not only at the start)
    table = DECIDE_CASES[::-1]
    got = decide_rows(np.stack([row for row, *_ in table]), TH)
    assert [(d.verdict, d.categories, d.grievance, d.review) for d in got] == [tuple(exp) for _, *exp in table]
    assert decide_rows(np.zeros((0, len(SCORE_NAMES))), TH) == []
    # float32 rows are compared in float32, as decide always compared a row: 0.7 reaches 0.7
    row = _row(0.9, 0.05, 0.05, {"threat": 1.0, "violence": 0.7}, 0.7).astype(np.float32)
    th = {**TH, "category_relative": 0.7, "grievance": 0.7}
    d = decide(row, th)
    assert (d.categories, d.grievance) == (("violence", "threat"), True)
    assert decide_rows(np.stack([row, row]), th) == [d, d]
    with pytest.raises(ValueError, match="2-D"):
        decide_rows(np.zeros(len(SCORE_NAMES)), TH)


def test_choose_thresholds_respects_cap():
    rng = np.random.default_rng(0)
    n = 400
    verdict = rng.integers(0, 3, n)
    ph = np.where(verdict == 0, rng.uniform(0.3, 1, n), rng.uniform(0, 0.7, n))
    P = np.zeros((n, len(SCORE_NAMES)))
    P[:, 0] = ph
    P[:, 1] = (1 - ph) / 2
    P[:, 2] = (1 - ph) / 2
    cats = np.zeros((n, len(CATEGORIES)), dtype=int)
    cats[verdict == 0, 0] = 1
    P[:, 3] = cats[:, 0] * 0.8 + 0.1
    t = Targets(verdict, cats, (verdict == 1).astype(int))
    th = choose_thresholds(P, t, max_false_flag_rate=0.02)
    comp = harassment_score(P)[verdict == 1]
    assert (comp >= th["harassment"]).mean() <= 0.02
    assert th["review_low"] <= th["harassment"] < th["review_high"] <= 1


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.floats(-80, 80), min_size=3, max_size=3), min_size=1, max_size=5))
def test_row_softmax_is_scipys_exactly(rows):
    from scipy.special import softmax

    from complaint_triage.model import _softmax_rows

    x = np.asarray(rows, dtype=np.float64)
    np.testing.assert_array_equal(_softmax_rows(x), softmax(x, axis=1))


def test_categories_must_also_reach_a_share_of_the_strongest():
    import numpy as np

    from complaint_triage.labels import CATEGORIES
    from complaint_triage.model import decide

    th = {"harassment": 0.5, "review_low": 0.2, "review_high": 0.8, "grievance": 0.5,
          "categories": dict.fromkeys(CATEGORIES, 0.3)}
    p = np.zeros(3 + len(CATEGORIES) + 1)
    p[0] = 0.95  # harassment
    p[3 + CATEGORIES.index("threat")] = 0.9
    p[3 + CATEGORIES.index("abusive_language")] = 0.4
    assert decide(p, th).categories == ("threat", "abusive_language")  # no relative rule: both pass 0.3
    assert decide(p, {**th, "category_relative": 0.5}).categories == ("threat",)  # 0.4 < 0.5 × 0.9
    assert decide(p, {**th, "category_relative": 0.4}).categories == ("threat", "abusive_language")


def test_relative_share_is_chosen_on_validation_data():
    import numpy as np

    from complaint_triage.labels import CATEGORIES
    from complaint_triage.model import CATEGORY_RELATIVE_GRID, Targets, choose_thresholds

    rng = np.random.default_rng(0)
    n, k = 400, len(CATEGORIES)
    verdict = np.r_[np.zeros(200, int), np.ones(200, int)]
    cats = np.zeros((n, k), int)
    cats[np.arange(200), rng.integers(0, k, 200)] = 1  # one category per harassment message
    proba = np.zeros((n, 3 + k + 1))
    proba[:200, 0], proba[200:, 1] = 0.9, 0.9
    # the message's own category scores 0.3–1.0, every other one up to 0.45 of that: no single
    # threshold per category separates them, a share of the strongest does
    main = rng.uniform(0.3, 1.0, n)
    proba[:, 3 : 3 + k] = rng.uniform(0.0, 0.45, (n, k)) * main[:, None]
    proba[np.arange(200), 3 + cats[:200].argmax(1)] = main[:200]
    th = choose_thresholds(proba, Targets(verdict, cats, (verdict == 1).astype(int)))
    assert th["category_relative"] in CATEGORY_RELATIVE_GRID and th["category_relative"] >= 0.5
