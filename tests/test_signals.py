"""The policy's signals (signals): the action served for a threat."""

import pytest

#: (text, predicted categories, action served): only a threat with sns_harassment and neither a threat
#: phrase nor an announced visit is taken as not to life or body.
SERVED = [
    ("返金に応じないなら、担当者の名前と顔写真をSNSに晒します。", ["threat", "sns_harassment"],
     "preserve_online_evidence"),
    ("窓口の職員の顔写真をネットに晒してやる。夜道に気をつけろよ", ["threat", "sns_harassment"], "police"),
    ("担当者の名前をSNSに晒す。ぶっ殺すぞ", ["threat", "sns_harassment"], "police"),
    ("住所は特定した。今から行くからな。晒してやる", ["threat", "sns_harassment"], "police"),
    ("職員の家まで押しかけて、動画をネットに上げる", ["threat", "sns_harassment"], "police"),
    ("これから行くからな。担当をSNSで晒す", ["threat", "sns_harassment"], "police"),
    ("職場まで行ってやる、顔はSNSに晒す", ["threat", "sns_harassment"], "police"),
    ("区役所に乗り込んで、担当の顔をネットに晒す", ["threat", "sns_harassment"], "police"),
    ("担当者の自宅の住所をネットに書き込んでやる", ["threat", "sns_harassment"], "police"),
    # (not a visit: 家にいても, 専門家にいう)
    ("家にいても腹が立つ。担当の名前をSNSに晒す", ["threat", "sns_harassment"], "preserve_online_evidence"),
    ("専門家にいうし、担当者の名前もネットに出す", ["threat", "sns_harassment"], "preserve_online_evidence"),
    ("区の対応がひどすぎる。ツイッターで拡散してやる。", ["threat"], "police"),
    ("職員の名前をネットに書く", ["sns_harassment"], "preserve_online_evidence"),
    ("職員の名前をネットに書く", [], "normal_reply"),
]


@pytest.mark.parametrize(("text", "cats", "action"), SERVED)
def test_a_threat_calls_the_police_unless_it_is_a_posting_threat_without_menace(text, cats, action):
    from complaint_triage.signals import served_action

    assert served_action("harassment" if cats else "complaint", cats, text) == action


def test_the_action_metric_compares_served_actions_when_the_gold_has_its_text():
    from complaint_triage.metrics import evaluate_decisions

    text = "返金に応じないなら、担当者の名前と顔写真をSNSに晒します。"
    gold = [{"text": text, "verdict": "harassment", "categories": ["threat", "sns_harassment"], "grievance": True}]
    pred = [{"verdict": "harassment", "categories": ["sns_harassment"], "grievance": True}]
    assert evaluate_decisions(gold, pred)["action"]["same"] == 1.0  # both preserve_online_evidence
    no_text = [{k: v for k, v in gold[0].items() if k != "text"}]
    assert evaluate_decisions(no_text, pred)["action"]["less_severe"] == 1.0  # police by categories alone
