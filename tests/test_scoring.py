import pytest

from complaint_triage import tokenizer
from complaint_triage.scoring import SLICE

from .conftest import corpus_records


def test_a_large_call_is_scored_in_slices_with_the_same_results_and_no_second_tagging(small_triager):
    texts = [r["text"] for r in corpus_records()[: 2 * SLICE + 37]]
    texts[SLICE] = "   "  # an error record at a slice boundary keeps its place
    tokenizer._surfaces.cache_clear()
    together = small_triager.score_many(texts)
    info = tokenizer._surfaces.cache_info()
    # every text was segmented once: evidence found its morphemes still cached
    assert info.misses == len(set(texts) - {"   "})
    one_by_one = [small_triager.score_many([t])[0] for t in texts]
    assert [r.to_dict() for r in together] == [r.to_dict() for r in one_by_one]
    assert together[SLICE].to_dict()["error"].startswith("text is empty")
    assert sum(bool(r.to_dict().get("evidence")) for r in together) > 0


def test_the_morpheme_cache_holds_at_least_two_slices():
    assert tokenizer._surfaces.cache_info().maxsize >= 2 * SLICE


#: (text, predicted categories, whether its threat calls the police): only a threat with
#: sns_harassment and no threat phrase is taken as not to life or body.
BODILY = [
    ("返金に応じないなら、担当者の名前と顔写真をSNSに晒します。", ["threat", "sns_harassment"], False),
    ("窓口の職員の顔写真をネットに晒してやる。夜道に気をつけろよ", ["threat", "sns_harassment"], True),
    ("窓口の職員、ネットに晒す。家も知ってるからな", ["threat", "sns_harassment"], True),
    ("区の対応がひどすぎる。ツイッターで拡散してやる。", ["threat"], True),
    ("担当者の名前をSNSに晒す。ぶっ殺すぞ", ["threat", "sns_harassment"], True),
    ("職員の名前をネットに書く", ["sns_harassment"], True),
]


@pytest.mark.parametrize(("text", "cats", "bodily"), BODILY)
def test_a_threat_calls_the_police_unless_it_is_a_posting_threat_without_menace(text, cats, bodily):
    from complaint_triage.scoring import _bodily

    assert _bodily(text, cats) is bodily


def test_score_many_refuses_a_single_string(small_triager):
    """score_many("abc") scored each character as a message."""
    with pytest.raises(TypeError, match="score_many"):
        small_triager.score_many("図書館はどこですか")
