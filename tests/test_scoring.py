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
