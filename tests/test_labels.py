import pytest

from complaint_triage.exceptions import LabelError
from complaint_triage.labels import ACTIONS, CATEGORIES, LABEL_SET_ID, VERDICTS, action_for, validate_labels

ACTION_TABLE = [
    ("inquiry", [], "normal_reply"),
    ("complaint", [], "normal_reply"),
    ("harassment", ["abusive_language"], "warn_or_end_contact"),
    ("harassment", ["excessive_demand"], "warn_or_end_contact"),
    ("harassment", ["other_improper"], "warn_or_end_contact"),
    ("harassment", ["sns_harassment"], "preserve_online_evidence"),
    ("harassment", ["other_illegal"], "remove_or_ban"),
    ("harassment", ["violence"], "police"),
    ("harassment", ["threat", "abusive_language"], "police"),
    ("harassment", ["abusive_language", "sns_harassment"], "preserve_online_evidence"),
    ("harassment", ["other_illegal", "sns_harassment", "excessive_demand"], "remove_or_ban"),
]


@pytest.mark.parametrize(("verdict", "cats", "action"), ACTION_TABLE)
def test_action_is_most_severe(verdict, cats, action):
    assert action_for(verdict, cats) == action


#: A threat of another kind than to life or body (the caller says so) no longer calls the police.
OTHER_THREAT_TABLE = [
    (["threat"], "supervisor_report"),
    (["threat", "sns_harassment"], "preserve_online_evidence"),
    (["threat", "excessive_demand"], "warn_or_end_contact"),
    (["threat", "violence"], "police"),
    (["threat", "other_illegal"], "remove_or_ban"),
]


@pytest.mark.parametrize(("cats", "action"), OTHER_THREAT_TABLE)
def test_a_threat_not_to_life_or_body_calls_for_what_the_other_categories_call_for(cats, action):
    assert action_for("harassment", cats, bodily_threat=False) == action
    assert action_for("harassment", cats) == "police"


def test_actions_are_ordered_mild_to_severe():
    assert ACTIONS[0] == "normal_reply" and ACTIONS[-1] == "police"


def test_label_set_id_names_every_label():
    for lab in (*VERDICTS, *CATEGORIES):
        assert lab in LABEL_SET_ID


@pytest.mark.parametrize(
    ("verdict", "cats", "grievance", "message"),
    [
        ("spam", [], False, "verdict"),
        ("harassment", [], True, "at least one category"),
        ("complaint", ["threat"], True, "must be empty"),
        ("complaint", [], False, "true for a complaint"),
        ("inquiry", [], True, "false for an inquiry"),
        ("harassment", ["threat", "threat"], True, "repeat"),
        ("harassment", ["shouting"], True, "must be a list"),
        ("harassment", ["threat"], "yes", "true or false"),
    ],
)
def test_validate_labels_rejects(verdict, cats, grievance, message):
    with pytest.raises(LabelError, match=message):
        validate_labels(verdict, cats, grievance)


@pytest.mark.parametrize(
    ("verdict", "cats", "grievance"),
    [
        ("harassment", ["threat"], True),
        ("harassment", ["other_improper"], False),
        ("complaint", [], True),
        ("inquiry", [], False),
    ],
)
def test_validate_labels_accepts(verdict, cats, grievance):
    validate_labels(verdict, cats, grievance)


def test_unknown_category_in_action():
    with pytest.raises(LabelError):
        action_for("harassment", ["shouting"])
