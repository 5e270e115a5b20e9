import warnings

import numpy as np
import pytest

from complaint_triage.features import SIGNALS, TextFeaturizer, signal_spans
from complaint_triage.normalize import normalize_text

DOCS = [
    "来庁者が「殺すぞ」と怒鳴り、約2時間居座った。",
    "ゴミが3回も回収されていません。対応してください。",
    "回答がなければ区議会議員に相談し、情報公開請求も行います。",
    "お前みたいな無能はクビにしろ",
    "図書館の開館時間を教えてください。",
]


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return TextFeaturizer(min_df=1).fit(DOCS)


def test_shapes_and_names(fitted):
    X = fitted.transform(DOCS)
    names = fitted.get_feature_names_out()
    assert X.shape == (len(DOCS), len(names))
    assert {n[:2] for n in names} == {"w:", "c:", "s:"}
    assert "w:怒鳴る" in fitted.vocabulary_
    assert "c:殺す" in fitted.vocabulary_


def test_ngram_blocks_are_unit_norm(fitted):
    X = fitted.transform(["ゴミが回収されていません"]).toarray()[0]
    names = fitted.get_feature_names_out()
    for prefix in ("w:", "c:"):
        block = np.array([v for v, n in zip(X, names, strict=True) if n.startswith(prefix)])
        assert np.isclose(np.linalg.norm(block), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("回答がなければ区議会議員に相談します", "lawful_escalation"),
        ("弁護士に相談します", "lawful_escalation"),
        ("情報公開請求を行います", "lawful_escalation"),
        ("来庁者が「帰らない」と発言", "quoted_speech"),
        ("架電者(男性・60代位)より", "staff_note"),
        ("約2時間にわたり", "duration"),
        ("本日10回目の架電", "repetition"),
        ("これで15通目です", "repetition"),
        ("慰謝料100万円を払え", "money"),
        ("お前の名前はネットに晒す", "second_person"),
        ("名前をネットに晒す", "exposure"),
        ("男性が怒鳴っていて怖かった", "bystander"),
    ],
)
def test_signals(text, signal):
    assert signal in {name for name, _, _ in signal_spans(normalize_text(text))}


def test_signal_features_count(fitted):
    X = fitted.transform(["本日10回目の架電。来庁者が「帰らない」と発言。"]).toarray()[0]
    v = fitted.vocabulary_
    assert X[v["s:repetition"]] > 0 and X[v["s:quoted_speech"]] > 0
    assert X[v["s:lawful_escalation"]] == 0


def test_signal_names_are_columns(fitted):
    for name in SIGNALS:
        assert f"s:{name}" in fitted.vocabulary_


def test_unfitted_and_bad_input():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TextFeaturizer().transform(["x"])
    with pytest.raises(ValueError, match="single string"):
        TextFeaturizer(min_df=1).fit("一つの文字列")
    with pytest.raises(TypeError, match="position 1"):
        TextFeaturizer(min_df=1).fit(["ok", 3])


def test_min_df_and_max_features():
    f = TextFeaturizer(min_df=2, use_signals=False).fit(DOCS)
    assert all(n.startswith(("w:", "c:")) for n in f.vocabulary_)
    small = TextFeaturizer(min_df=1, max_features=10, use_signals=False).fit(DOCS)
    assert len(small.vocabulary_) == 10
