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
    harassment_score_for,
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
      "categories": dict.fromkeys(CATEGORIES, 0.5), "grievance": 0.5}


DECIDE_CASES = [
    # score = (p_harassment + strongest category) / 2
    (_row(0.7, 0.2, 0.1, {"threat": 0.9, "abusive_language": 0.6}, 0.7), "harassment", ("threat", "abusive_language"),
     True, False),
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


# -- the bystander-report head (session 12) --------------------------------------------------

from complaint_triage.model import BYSTANDER_COLUMN, BYSTANDER_DISCOUNT_GRID  # noqa: E402


def test_bystander_target_is_a_public_report_not_a_staff_note():
    base = {"verdict": "complaint", "categories": [], "grievance": True}
    recs = [
        {**base, "kind": "bystander", "channel": "web_form"},
        {**base, "kind": "bystander", "channel": "phone_note"},  # staff took it down: not a target
        {**base, "kind": "bystander", "channel": "counter_note"},
        {**base, "kind": "angry", "channel": "sns"},
        {**base, "channel": "email"},  # no kind (an analyst's correction)
    ]
    t = Targets.from_records(recs)
    assert t.bystander.tolist() == [1, 0, 0, 0, 0]
    assert t.subset([0, 3]).bystander.tolist() == [1, 0]
    assert t.subset(np.array([True, False, False, False, True])).verdict.tolist() == [1, 1]


@settings(max_examples=300, deadline=None)
@given(p=st.lists(st.floats(0, 1), min_size=len(SCORE_NAMES) + 1, max_size=len(SCORE_NAMES) + 1),
       discount=st.sampled_from([*BYSTANDER_DISCOUNT_GRID, 0.25, 0.75]))
def test_bystander_discount_only_lowers_the_score_by_the_report_probability(p, discount):
    row = np.array(p)
    plain = harassment_score(row[: len(SCORE_NAMES)])
    assert harassment_score(row[: len(SCORE_NAMES)], discount) == plain  # no column: no discount
    got = harassment_score(row, discount, rule="flat")
    assert got == pytest.approx(plain - discount * row[BYSTANDER_COLUMN])
    assert got <= plain + 1e-12
    # the legacy rule (manifests without bystander_rule) also scales by the verdict head's doubt,
    # so it never lowers the score more than the current one and spares what that head is sure of
    legacy = harassment_score(row, discount, rule="doubt")
    assert legacy == pytest.approx(plain - discount * row[BYSTANDER_COLUMN] * (1 - row[0]))
    assert got - 1e-12 <= legacy <= plain + 1e-12
    sure = row.copy()
    sure[0] = 1.0
    assert harassment_score(sure, discount, rule="doubt") == pytest.approx(harassment_score(sure[: len(SCORE_NAMES)]))
    # the matrix form agrees with the row form
    assert harassment_score(np.stack([row, row]), discount, rule="flat") == pytest.approx([got, got])
    assert harassment_score(np.stack([row, row]), discount, rule="doubt") == pytest.approx([legacy, legacy])


def test_a_discount_without_its_rule_is_refused_and_the_thresholds_give_both():
    row = np.full(len(SCORE_NAMES) + 1, 0.5)
    with pytest.raises(ValueError, match="needs its rule"):
        harassment_score(row, 0.5)
    assert harassment_score(row, 0.0) == harassment_score(row[: len(SCORE_NAMES)])  # no discount, no rule needed
    assert harassment_score_for(row, {"bystander_discount": 0.5}) == harassment_score(row, 0.5, rule="doubt")
    assert harassment_score_for(row, {"bystander_discount": 0.5, "bystander_rule": "flat"}) == pytest.approx(0.25)


def test_the_discount_is_chosen_from_none_or_half():
    # (1 lost a relayed threat of the regression table; see BYSTANDER_DISCOUNT_GRID)
    assert BYSTANDER_DISCOUNT_GRID == (0.0, 0.5)


def test_harassment_score_refuses_a_rule_it_does_not_know():
    with pytest.raises(ValueError, match="unknown bystander_rule 'gated'"):
        harassment_score(np.full(len(SCORE_NAMES) + 1, 0.5), 1.0, rule="gated")


def test_decide_rows_applies_the_rule_the_thresholds_were_chosen_under():
    # a report the verdict head is sure of: the current rule discounts it, a manifest written
    # before bystander_rule existed (the legacy rule) does not
    row = np.zeros(len(SCORE_NAMES) + 1)
    row[0], row[1] = 0.95, 0.05
    row[len(VERDICTS)] = 0.9  # violence
    row[BYSTANDER_COLUMN] = 0.9
    th = {"harassment": 0.6, "review_low": 0.1, "review_high": 0.8, "category_relative": 0.0, "grievance": 0.5,
          "categories": dict.fromkeys(CATEGORIES, 0.5), "bystander_discount": 1.0}
    assert decide_rows(row[None, :], th)[0].verdict == "harassment"
    assert decide_rows(row[None, :], {**th, "bystander_rule": "doubt"})[0].verdict == "harassment"
    assert decide_rows(row[None, :], {**th, "bystander_rule": "flat"})[0].verdict == "complaint"


def test_choose_thresholds_takes_the_discount_that_recovers_the_most_harassment():
    # complaints that quote abuse (high category scores) are bystander reports; a discount lets
    # the threshold come down to the harassment they were hiding
    rng = np.random.default_rng(1)
    n = 600
    verdict = np.repeat([0, 1], n // 2)
    quoting = (verdict == 1) & (rng.uniform(size=n) < 0.3)
    P = np.zeros((n, len(SCORE_NAMES) + 1))
    P[:, 0] = np.where(verdict == 0, rng.uniform(0.2, 0.6, n), rng.uniform(0.05, 0.4, n))
    P[:, 1] = 1 - P[:, 0]
    P[:, 3] = np.where((verdict == 0) | quoting, 0.95, 0.05)
    P[:, BYSTANDER_COLUMN] = np.where(quoting, 0.95, 0.02)
    cats = np.zeros((n, len(CATEGORIES)), dtype=int)
    cats[verdict == 0, 0] = 1
    t = Targets(verdict, cats, (verdict == 1).astype(int))
    th = choose_thresholds(P, t, max_false_flag_rate=0.01)
    assert th["bystander_discount"] > 0
    assert th["bystander_rule"] == "flat"
    plain = choose_thresholds(P[:, : len(SCORE_NAMES)], t, max_false_flag_rate=0.01)
    assert plain["bystander_discount"] == 0.0
    recall = lambda th_, Q: np.mean(np.asarray(harassment_score_for(Q, th_))[verdict == 0]  # noqa: E731
                                    >= th_["harassment"])
    assert recall(th, P) > recall(plain, P[:, : len(SCORE_NAMES)])
    # the discounted rule still keeps the complaints under the cap
    assert np.mean(np.asarray(harassment_score_for(P, th))[verdict == 1] >= th["harassment"]) <= 0.01
    # and decide_rows applies the same score
    flagged = [d.verdict == "harassment" for d in decide_rows(P, th)]
    assert np.mean(np.array(flagged)[verdict == 1]) <= 0.01


def test_a_classifier_with_the_bystander_head_keeps_the_public_columns():
    recs = [r for r in corpus_records() if r["split"] == "train"][:300]
    assert sum(r.get("kind") == "bystander" and r["channel"] not in ("phone_note", "counter_note") for r in recs) >= 3
    clf = TriageClassifier(cv=3, bystander_head=True).fit([r["text"] for r in recs], recs)
    P = clf.predict_scores(["窓口で男性が職員に「殺すぞ」と怒鳴っていました。職員さんが心配です。", "ゴミの日はいつ？"])
    assert P.shape == (2, len(SCORE_NAMES) + 1)
    assert clf.oof_proba_.shape == (len(recs), len(SCORE_NAMES) + 1)
    assert np.allclose(P[:, : len(VERDICTS)].sum(axis=1), 1.0)
    assert ((P >= 0) & (P <= 1)).all()
    assert clf.get_params()["bystander_head"] is True


def test_the_fit_does_not_depend_on_n_jobs_or_blas_threads(monkeypatch):
    """Folds fitted in this process (n_jobs=1, BLAS on every core) and in joblib's workers (one
    thread each) once gave other thresholds under the same model version: the solver's sums
    depend on the thread count.  Every fit now runs with one BLAS thread."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    # on 500 sparse records the sums happen to agree whatever the thread count, so also check the
    # limit itself: every solver call in this process runs with one BLAS thread
    blas_threads: list[int] = []
    real_fit = LogisticRegression.fit

    def fit(self, *args, **kwargs):
        blas_threads.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", fit)  # (joblib's worker processes keep the real one)
    recs = [r for r in corpus_records() if r["split"] == "train"][:500]
    texts = [r["text"] for r in recs]
    fits = []
    for n_jobs, threads in ((1, 2), (2, 2), (1, 1)):
        with threadpool_limits(limits=threads):  # as a machine with that many cores would run it
            fits.append(TriageClassifier(cv=3, n_jobs=n_jobs, bystander_head=True).fit(texts, recs))
    for other in fits[1:]:
        assert np.array_equal(fits[0].coef_, other.coef_)
        assert np.array_equal(fits[0].platt_, other.platt_)
        assert fits[0].temperature_ == other.temperature_
        assert np.array_equal(fits[0].oof_proba_, other.oof_proba_)
    assert blas_threads and set(blas_threads) == {1}


def test_a_model_saved_before_a_parameter_existed_keeps_its_default():
    """A loaded model carries the attributes it was saved with: one saved before
    grievance_others_weight (or bystander_head) existed still answers get_params and clone."""
    old = TriageClassifier()
    del old.grievance_others_weight, old.bystander_head
    assert old.get_params()["grievance_others_weight"] == 1.0 and old.get_params()["bystander_head"] is False
    assert clone(old)._head_params()["grievance_others_weight"] == 1.0


def test_grievance_others_weight_refits_the_grievance_head_alone():
    """The grievance flag is decided for harassment only: a weight below 1 for the other messages
    changes the grievance head and nothing else."""
    recs = [r for r in corpus_records() if r["split"] == "train"][:300]
    texts = [r["text"] for r in recs]
    full = TriageClassifier(cv=3).fit(texts, recs)
    lean = TriageClassifier(cv=3, grievance_others_weight=0.2).fit(texts, recs)
    g = SCORE_NAMES.index("grievance")
    others = [k for k in range(len(SCORE_NAMES)) if k != g]
    assert np.array_equal(full.coef_[:, others], lean.coef_[:, others])
    assert not np.allclose(full.coef_[:, g], lean.coef_[:, g])
    # the out-of-fold fits (calibration, thresholds) take the weight too
    assert np.array_equal(full.oof_proba_[:, others], lean.oof_proba_[:, others])
    assert not np.allclose(full.oof_proba_[:, g], lean.oof_proba_[:, g])
    assert clone(lean).get_params()["grievance_others_weight"] == 0.2
    # the score still tells complaints (always a grievance) from inquiries (never one)
    p = lean.oof_proba_[:, g]
    verdicts = np.array([r["verdict"] for r in recs])
    assert p[verdicts == "complaint"].mean() > p[verdicts == "inquiry"].mean() + 0.3


def _fold_sets(folds, grp):
    return [frozenset(grp[te]) for _, te in folds]


def test_folds_are_decided_by_the_split_mask_and_copies_follow_their_group():
    """Copies (split_mask False) neither vote in the split nor move a group: the hand-written
    texts' folds are the same with any set of copies, and each copy lands with its group."""
    rng = np.random.default_rng(0)
    n = 400
    grp = np.asarray([f"b{i % 40}" for i in range(n)])
    strat = rng.integers(0, 6, n)
    clf = TriageClassifier(cv=5)
    alone = clf._folds(strat, grp, [True] * n)
    # a mask marking every text is the plain stratified group split
    assert _fold_sets(alone, grp) == _fold_sets(clf._folds(strat, grp, None), grp)
    # and it is stratified: each fold holds each label in about its overall share
    for _, te in alone:
        for label in range(6):
            assert abs((strat[te] == label).mean() - (strat == label).mean()) < 0.06
    for extra in (30, 300):
        copy_groups = grp[rng.integers(0, n, extra)]  # copies of random hand-written texts, in their groups
        copy_strat = rng.integers(0, 6, extra)  # with labels of their own (an inserted threat)
        all_groups = np.concatenate([grp, copy_groups])
        folds = clf._folds(np.concatenate([strat, copy_strat]), all_groups, [True] * n + [False] * extra)
        assert [sorted(te[te < n]) for _, te in folds] == [sorted(te) for _, te in alone]
        assert _fold_sets(folds, all_groups) == _fold_sets(alone, grp)
        # without the mask the copies vote and the groups move (the behaviour this replaced)
        voted = clf._folds(np.concatenate([strat, copy_strat]), all_groups, None)
        assert _fold_sets(voted, all_groups) != _fold_sets(alone, grp)


def test_a_group_without_marked_texts_goes_to_the_fold_of_its_name():
    import zlib

    clf = TriageClassifier(cv=5)
    grp = np.asarray([f"b{i % 10}" for i in range(40)] + ["orphan", "stray", "x-1", "x-2", "x-3"])
    strat = np.asarray([0, 1, 2, 3] * 10 + [0] * 5)
    folds = clf._folds(strat, grp, [True] * 40 + [False] * 5)
    names = grp[40:]
    got = {name: k for k, (_, te) in enumerate(folds) for i in te if i >= 40 for name in [grp[i]]}
    assert got == {name: zlib.crc32(name.encode()) % 5 for name in names}
    assert len(set(got.values())) > 1  # the names land in more than one fold


@pytest.mark.parametrize(("mask", "groups", "message"), [
    ([True] * 5, None, "split_mask needs groups"),
    ([True] * 4, list("abcde"), "split_mask must be 5 booleans"),
    ([[True]] * 5, list("abcde"), r"got shape \(5, 1\)"),
    ([True] * 5, list("abcd"), "and 4 groups"),
    (["True"] * 5, list("abcde"), "split_mask must be 5 booleans"),
    ([False] * 5, list("abcde"), "marks no text"),
    ([True, True, False, False, False], list("abcde"), "fall in 2 groups, fewer than cv=3"),
])
def test_a_bad_split_mask_is_refused_before_any_fit(mask, groups, message):
    texts = ["ゴミが回収されていません。", "窓口の対応が悪い。", "殺すぞ。", "開庁時間を教えて。",
             "ありがとうございました。"]
    labels = [{"verdict": v, "categories": c, "grievance": g} for v, c, g in (
        ("complaint", [], True), ("complaint", [], True), ("harassment", ["threat"], True),
        ("inquiry", [], False), ("inquiry", [], False))]
    clf = TriageClassifier(cv=3)
    with pytest.raises(ValueError, match=message):
        clf.fit(texts, labels, groups=groups, split_mask=mask)
    assert not hasattr(clf, "featurizer_")  # refused before anything was fitted
