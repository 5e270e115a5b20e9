import re

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


def test_score_many_refuses_a_single_string(small_triager):
    """score_many("abc") scored each character as a message."""
    with pytest.raises(TypeError, match="score_many"):
        small_triager.score_many("図書館はどこですか")


@pytest.mark.parametrize(("texts", "says"), [
    pytest.param({"r1": "図書館はどこですか"}, "not a mapping (dict): it would score the keys; pass list(d.values())",
                 id="dict"),
    pytest.param({"図書館はどこですか", "死ね"}, "not a set: a set has no order", id="set"),
    pytest.param(frozenset({"図書館はどこですか"}), "not a frozenset", id="frozenset"),
    pytest.param(42, "a sequence of texts (e.g. a list); got int", id="not-iterable"),
])
def test_score_many_refuses_what_would_score_the_wrong_texts_or_lose_their_order(small_triager, texts, says):
    """Finding 18 (acceptance 2): a dict's keys were scored, a set in hash order."""
    with pytest.raises(TypeError, match=re.escape(says)):
        small_triager.score_many(texts)


@pytest.mark.parametrize("make", [
    pytest.param(lambda ts: (t for t in ts), id="generator"),
    pytest.param(lambda ts: iter(ts), id="iterator"),
    pytest.param(lambda ts: dict(enumerate(ts)).values(), id="dict-values"),
    pytest.param(lambda ts: dict.fromkeys(ts).keys(), id="dict-keys-in-insertion-order"),
    pytest.param(tuple, id="tuple"),
    pytest.param(lambda ts: __import__("pandas").Series(ts), id="pandas-series"),
    pytest.param(lambda ts: __import__("numpy").array(ts, dtype=object), id="numpy-array"),
])
def test_score_many_takes_any_ordered_iterable(small_triager, make):
    texts = ["図書館の開館時間を教えてください。", "お前みたいな無能はクビにしろ、死ね。", "   "]
    want = [r.to_dict() for r in small_triager.score_many(texts)]
    assert [r.to_dict() for r in small_triager.score_many(make(texts))] == want
