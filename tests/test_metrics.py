"""Evaluation metrics: hand-computed tables of gold and predicted records."""

import pytest

from complaint_triage.metrics import evaluate_decisions, format_report


def rec(verdict, categories=(), grievance=None):
    return {"verdict": verdict, "categories": list(categories),
            "grievance": verdict == "complaint" if grievance is None else grievance}


GOLD = [
    rec("harassment", ["threat"], False),                  # 殺すぞ
    rec("harassment", ["abusive_language"], True),         # 税金泥棒 + a real missed pickup
    rec("complaint"),                                      # 収集漏れ、三回目です
    rec("complaint"),                                      # 職員の態度が悪い
    rec("inquiry"),                                        # 粗大ごみの出し方
]
PRED = [
    rec("harassment", ["threat"], False),                  # right: police both sides
    rec("harassment", ["abusive_language", "threat"], True),  # one category too many: police, not a warning
    rec("harassment", ["abusive_language"], True),         # a false flag
    rec("complaint"),
    rec("complaint"),                                      # inquiry called complaint: same action
]


def test_figures_of_a_small_table():
    m = evaluate_decisions(GOLD, PRED)
    assert m["n"] == 5 and m["verdict_accuracy"] == 0.6
    assert (m["complaint_false_flags"], m["n_complaints"], m["complaint_false_flag_rate"]) == (1, 2, 0.5)
    h = m["harassment"]
    assert (h["precision"], h["recall"], h["support"]) == (pytest.approx(2 / 3, abs=1e-4), 1.0, 2)
    assert m["per_category"]["threat"]["precision"] == 0.5 and m["per_category"]["threat"]["recall"] == 1.0
    assert m["harassment_grievance_accuracy"] == 1.0
    assert m["action"] == {"same": 0.6, "more_severe": 0.4, "less_severe": 0.0}
    assert m["confusion_matrix"]["rows_gold_cols_pred"] == [[2, 0, 0], [1, 1, 0], [0, 1, 0]]


def test_a_missed_harassment_message_gets_a_less_severe_action():
    m = evaluate_decisions([rec("harassment", ["violence"])], [rec("complaint")])
    assert m["action"] == {"same": 0.0, "more_severe": 0.0, "less_severe": 1.0}


def test_report_lists_the_action_agreement():
    text = format_report(evaluate_decisions(GOLD, PRED), "small")
    assert "recommended action           same 0.600, more severe 0.400, less severe 0.000" in text


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="1 gold records but 0 predictions"):
        evaluate_decisions([rec("inquiry")], [])


def test_a_file_of_complaints_only_has_no_harassment_figures():
    """Figures with nothing to divide by are undefined, not 0: 14 complaints all right is a
    macro-F1 of 1, and the report says n/a for harassment and the categories (acceptance defect)."""
    gold = [rec("complaint")] * 14  # 収集日の変更が周知されていない、など
    m = evaluate_decisions(gold, gold)
    assert m["verdict_accuracy"] == 1.0 and m["verdict_macro_f1"] == 1.0
    assert m["harassment"]["support"] == 0 and m["harassment"]["predicted"] == 0
    text = format_report(m)
    for line in ("harassment precision         n/a", "harassment recall            n/a",
                 "harassment F1                n/a", "grievance acc. (harassment)  n/a"):
        assert line in text
    assert "threat" in text and "n/a" in text.split("threat", 1)[1].splitlines()[0]
    assert "complaint false-flag rate    0.000%  (0 of 14" in text


@pytest.mark.parametrize(
    ("gold", "pred", "macro", "cat_macro"),
    [
        # two harassment messages right, one inquiry right: no complaint anywhere
        ([rec("harassment", ["threat"]), rec("harassment", ["threat"]), rec("inquiry")],
         [rec("harassment", ["threat"]), rec("harassment", ["threat"]), rec("inquiry")], 1.0, 1.0),
        # an inquiry called a complaint: complaint F1 0 counts (it was predicted), harassment absent
        ([rec("inquiry"), rec("inquiry")], [rec("inquiry"), rec("complaint")], round((2 / 3 + 0) / 2, 4), 0.0),
    ],
)
def test_macro_averages_cover_the_classes_that_occur(gold, pred, macro, cat_macro):
    m = evaluate_decisions(gold, pred)
    assert m["verdict_macro_f1"] == macro and m["category_macro_f1"] == cat_macro


def test_a_report_of_metrics_saved_before_predicted_counts_existed_still_prints():
    m = evaluate_decisions(GOLD, PRED)
    for row in [m["harassment"], *m["per_verdict"].values(), *m["per_category"].values()]:
        row.pop("predicted", None)  # (m["harassment"] is per_verdict["harassment"])
    assert "harassment precision         0.667" in format_report(m)


@pytest.mark.parametrize(("flagged", "complaints", "shown"), [
    pytest.param(4, 873, "0.458%", id="4-of-873-not-0.460"),     # the shipped model's test split
    pytest.param(2, 3, "66.667%", id="2-of-3-not-66.670"),
    pytest.param(26, 3526, "0.737%", id="26-of-3526-not-0.740"),  # its cross-validation
    pytest.param(1, 8, "12.500%", id="exact"),
])
def test_the_false_flag_rate_is_printed_from_its_counts_not_the_rounded_fraction(flagged, complaints, shown):
    """Finding 14 (acceptance 2): the fraction was rounded to 4 places, then printed with 3 decimals of a percent."""
    gold = [rec("complaint")] * complaints  # 窓口で長時間待たされた、など
    pred = [rec("harassment", ["excessive_demand"], True)] * flagged + [rec("complaint")] * (complaints - flagged)
    m = evaluate_decisions(gold, pred)
    assert m["complaint_false_flag_rate"] == round(flagged / complaints, 4)  # (the JSON figure stays as it was)
    assert f"complaint false-flag rate    {shown}  ({flagged} of {complaints} complaints" in format_report(m)
