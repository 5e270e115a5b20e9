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
