import re

import pytest

from complaint_triage.exceptions import LabelError
from complaint_triage.labels import (
    ACTIONS,
    CATEGORIES,
    LABEL_SET_ID,
    VERDICTS,
    action_for,
    shown_value,
    validate_labels,
)

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


PII = "世田谷区桜1-2-3 山田花子 090-1234-5678 窓口の対応が遅い"

#: Label cells holding a message, a name or a phone number (a shifted column): the error names the
#: field and the kind of value, never the value.  (verdict, categories, grievance, the error)
PERSONAL_VALUES = [
    pytest.param(PII, [], True, "verdict (a text of 38 characters) is not one of", id="message-as-verdict"),
    pytest.param("山田", [], True, "verdict (a text of 2 characters) is not one of", id="name-as-verdict"),
    pytest.param("090-1234-5678", [], True, "verdict (a text of 13 characters)", id="phone-as-verdict"),
    pytest.param(9012345678, [], True, "verdict (a number) is not one of", id="phone-number-as-verdict"),
    pytest.param("harassment", ["threat", "山田太郎 090-1234-5678"], True,
                 "categories ['threat', (a text of 18 characters)] must be a list of", id="name-as-category"),
    pytest.param("harassment", ["threat", PII, "threat"], True, "must be a list of", id="message-among-repeats"),
    pytest.param("harassment", PII, True, "categories (a text of 38 characters) must be",
                 id="categories-a-string"),
    pytest.param("harassment", ["threat"], PII, "got (a text of 38 characters)", id="message-as-grievance"),
    pytest.param("harassment", ["threat"], {"name": "山田花子"}, "got (an object of 1 field)",
                 id="object-as-grievance"),
]


@pytest.mark.parametrize(("verdict", "cats", "grievance", "message"), PERSONAL_VALUES)
def test_validate_labels_never_repeats_a_value_that_may_be_personal_data(verdict, cats, grievance, message):
    """Finding 16 (acceptance 2): evaluate's errors printed a resident's address and phone number."""
    with pytest.raises(LabelError, match=re.escape(message)) as e:
        validate_labels(verdict, cats, grievance)
    assert not any(piece in str(e.value) for piece in ("山田", "090", "1234", "世田谷", "窓口"))


@pytest.mark.parametrize(("value", "shown"), [
    # a mistyped code: quoted
    ("complain", "'complain'"), ("abusive-language", "'abusive-language'"), ("threats", "'threats'"),
    ("harrasment", "'harrasment'"), ("Complaint", "'Complaint'"), ("Abusive Language", "'Abusive Language'"),
    ("ＰＯＬＩＣＥ", "'ＰＯＬＩＣＥ'"), (None, "None"), (False, "False"),
    # anything else by its kind and length: romanised names too (reread #7)
    ("Tanaka", "(a text of 6 characters)"), ("yamada-taro", "(a text of 11 characters)"),
    ("hanako", "(a text of 6 characters)"), ("b102", "(a text of 4 characters)"),
    ("", "(an empty text)"), ("苦情", "(a text of 2 characters)"),
    ("山田花子 090-1234-5678", "(a text of 18 characters)"),
    ("a b", "(a text of 3 characters)"), ("taro@example.jp", "(a text of 15 characters)"), (1.5, "(a number)"),
    (["threat"] * 10, "[" + ", ".join(["'threat'"] * 8) + ", …]"),
    (["threat", "Sato"], "['threat', (a text of 4 characters)]"),
])
def test_shown_value_quotes_only_values_near_a_code(value, shown):
    assert shown_value(value) == shown


def test_unknown_category_in_action():
    with pytest.raises(LabelError):
        action_for("harassment", ["shouting"])
