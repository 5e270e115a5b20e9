import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from complaint_triage.explain import explain

TEXTS = [
    "お前みたいな無能はクビにしろ、死ね",
    "ﾃﾒｴ　ｺ○ｽぞ！！　夜道に気をつけろよ",
    "来庁者が「土下座しろ」「謝罪文を書くまで帰らない」と発言し、約3時間居座った。",
    "担当者の名前と顔写真をSNSで晒してやる",
]


@pytest.mark.parametrize("text", TEXTS)
def test_evidence_indexes_original_text(small_triager, text):
    clf = small_triager.model.classifier
    from complaint_triage.labels import CATEGORIES

    ev = explain(clf, text, list(CATEGORIES))
    assert ev, "some category must have positive evidence"
    _check_spans(text, ev)


def _check_spans(text, ev):
    """Offsets index ``text``; at most 3 spans per category, none overlapping or touching another of it."""
    per_cat: dict[str, list[tuple[int, int]]] = {}
    for e in ev:
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end] == e.text
        per_cat.setdefault(e.category, []).append((e.start, e.end))
    for spans in per_cat.values():
        assert len(spans) <= 3
        spans.sort()
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))


_PHRASES = ["お前", "無能", "殺すぞ", "晒す", "税金泥棒", "土下座しろ", "、", "。", "\n", "！", "ｺ○ｽ", "　",
            "窓口の職員が", "書類を出したのに", "帰らない", "SNSに", "顔写真", "死ね", "クビにしろ", "電話した"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_PHRASES), min_size=1, max_size=25))
# found by this test: two spans of one category, apart in the normalised text, met in the original
@example(["窓口の職員が", "お前", "殺すぞ", "殺すぞ", "ｺ○ｽ", "税金泥棒", "お前", "お前", "窓口の職員が"])
def test_evidence_spans_hold_for_any_mix(small_triager, parts):
    from complaint_triage.labels import CATEGORIES

    text = "".join(parts)
    _check_spans(text, explain(small_triager.model.classifier, text, list(CATEGORIES)))


def test_no_categories_no_evidence(small_triager):
    assert explain(small_triager.model.classifier, "こんにちは", []) == []


def test_scored_evidence_matches_categories(small_triager):
    p = small_triager.score("お前みたいな無能はクビにしろ、死ね。殺すぞ")
    assert p.verdict == "harassment"
    assert {e.category for e in p.evidence} <= set(p.categories)


def test_feature_row_views_give_the_same_evidence_as_sparse_rows_and_fresh_features(small_triager):
    from complaint_triage.explain import FeatureRow
    from complaint_triage.labels import CATEGORIES

    clf = small_triager.model.classifier
    X = clf.featurizer_.transform(TEXTS)
    for i, text in enumerate(TEXTS):
        fresh = explain(clf, text, list(CATEGORIES))
        assert explain(clf, text, list(CATEGORIES), features=X[i]) == fresh
        assert explain(clf, text, list(CATEGORIES), features=FeatureRow.of(X, i)) == fresh


def _plain_trim(a, b, pieces, keep=0.25):
    """The definition of _trim, one character at a time."""
    score = [0.0] * (b - a)
    for pa, pb, c in pieces:
        lo, hi = max(pa, a), min(pb, b)
        for i in range(lo - a, hi - a):
            score[i] += c / (pb - pa)
    cut = keep * max(score)
    idx = [i for i, v in enumerate(score) if v >= cut]
    return a + idx[0], a + idx[-1] + 1


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.integers(0, 30), st.integers(1, 8), st.floats(0.01, 5.0)).map(lambda t: (t[0], t[0] + t[1], t[2])),
        min_size=1, max_size=12,
    ),
    data=st.data(),
)
def test_trim_equals_its_per_character_definition(pieces, data):
    from complaint_triage.explain import _trim

    a = data.draw(st.integers(0, 30))
    b = data.draw(st.integers(a + 1, 40))
    assert _trim(a, b, pieces) == _plain_trim(a, b, pieces)


def test_category_weights_follow_the_model_coefficients(small_triager):
    import copy

    import numpy as np

    from complaint_triage.explain import _category_weights
    from complaint_triage.labels import CATEGORIES, VERDICTS

    model = copy.deepcopy(small_triager.model.classifier)
    rows = _category_weights(model)
    assert rows.flags["C_CONTIGUOUS"] and rows.shape == (len(CATEGORIES), model.coef_.shape[0])
    np.testing.assert_array_equal(rows.T, model.coef_[:, len(VERDICTS) : len(VERDICTS) + len(CATEGORIES)])
    assert _category_weights(model) is rows  # made once per model
    model.coef_ = model.coef_ * 2  # a refit replaces the array: the rows follow it
    np.testing.assert_array_equal(_category_weights(model), rows * 2)


@pytest.mark.parametrize(
    ("text", "span", "grown"),
    [
        # a fragment grows to its clause, never across 、。!? or a line break (a space once normalised)
        ("窓口の職員は本当に無能だ。早く直して", (9, 11), (0, 12)),
        ("お前ら、覚えとけよ!", (0, 3), (0, 3)),
        ("住所を教えろ 教えないなら家まで行く", (12, 14), (7, 18)),
        # at most CLAUSE_REACH characters each way
        ("あ" * 30 + "殺す" + "い" * 30, (30, 32), (20, 42)),
    ],
)
def test_spans_grow_to_their_clause(text, span, grown):
    from complaint_triage.explain import _clause

    assert _clause(text, *span) == grown


def test_evidence_figures_of_the_evaluation_tool():
    from .conftest import load_tool

    tool = load_tool("eval_evidence")
    assert tool.gold_spans("殺すぞ、殺すぞ", ["殺す"]) == [(0, 2), (4, 6)]
    # pair 1: two spans shown, the second on gold; pair 2: one span shown, off gold
    pairs = [([(0, 2), (10, 14)], [(12, 16)]), ([(0, 4)], [(5, 7), (8, 9)])]
    r = tool.score_pairs(pairs)
    assert (r["pairs"], r["hit@3"], r["hit@1"], r["spans_shown"]) == (2, 0.5, 0.0, 3)
    assert r["span_precision"] == round(1 / 3, 3) and r["gold_recall"] == round(1 / 3, 3)
    assert r["char_precision"] == round(2 / 10, 3) and r["char_recall"] == round(2 / 7, 3)


def test_feature_name_memo_follows_a_refit():
    from complaint_triage.explain import _name_memo, _parsed_name
    from complaint_triage.features import TextFeaturizer

    def _feature_name(f, j):  # as the occurrence search reads a name: memo first, else parse
        memo = _name_memo(f)
        kind, body, _ = memo.get(j) or _parsed_name(f, memo, j)
        return kind + body

    f = TextFeaturizer(min_df=1, use_signals=False).fit(["職員の態度が悪い", "窓口で怒鳴られた"])
    assert _feature_name(f, 3) == f.feature_name(3)
    f.fit(["ごみの収集日を教えてください", "保育園の申込はいつからですか"])
    assert _feature_name(f, 3) == f.feature_name(3)


# -- the C accelerator's spans against the Python reference --------------------------------

needs_speedups = pytest.mark.skipif(
    not __import__("complaint_triage.features", fromlist=["x"]).speedups_available(),
    reason="the C accelerator is not built",
)

_HARD = [
    "課長に「殺すぞ」と言われたと来庁者が話していた。職員への暴言ではない。",
    "ﾃﾒｴ　ｺ○ｽぞ！！　夜道に気をつけろよ。　お前の家も知ってるからな",
    "エアコンが壊れたまま３週間。何回電話させるの？　担当の○○さん、いい加減にしてください！！",
    "市役所のHPに殺虫剤の案内がなかった。死ぬほど探した",
    "窓口で２時間待たされた上に、たらい回し。　10回目の問い合わせです。議員にも相談します。",
    "あ",
    "　　　",
    "ＳＮＳで晒すぞ、税金泥棒。土下座しろ　土下座しろ　土下座しろ",
]


def _both(clf, text, rows, **kw):
    from complaint_triage.explain import _spans
    from complaint_triage.normalize import normalize_with_map

    norm = normalize_with_map(text).text
    x = clf.featurizer_.transform([text])
    return (_spans(clf, norm, x.indices, x.data, rows, compiled=True, **kw),
            _spans(clf, norm, x.indices, x.data, rows, compiled=False, **kw))


@needs_speedups
@pytest.mark.parametrize("text", TEXTS + _HARD)
@pytest.mark.parametrize(("max_spans", "top_features"), [(3, 12), (1, 1), (5, 40), (0, 12)])
def test_compiled_spans_equal_the_python_spans(small_triager, text, max_spans, top_features):
    from complaint_triage.explain import _compiled_tables

    clf = small_triager.model.classifier
    assert _compiled_tables(clf.featurizer_) is not None  # the C path does run here
    fast, slow = _both(clf, text, list(range(7)), max_spans=max_spans, top_features=top_features)
    assert fast == slow


@needs_speedups
@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(_PHRASES + ["「", "」", "晒", "殺", "ｼﾈ", "死 ね", "2時間"]), min_size=0, max_size=30),
       st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True))
def test_compiled_spans_equal_the_python_spans_for_any_mix(small_triager, parts, rows):
    fast, slow = _both(small_triager.model.classifier, "".join(parts) or "。", rows)
    assert fast == slow


def test_python_spans_are_used_without_the_accelerator(small_triager, monkeypatch):
    from complaint_triage import features
    from complaint_triage.labels import CATEGORIES

    clf = small_triager.model.classifier
    text = TEXTS[0]
    x = clf.featurizer_.transform([text])
    expected = explain(clf, text, list(CATEGORIES), features=x)
    assert expected
    monkeypatch.setattr(features, "_speedups", None)  # (the featuriser's own tables keep their compiled form)
    assert explain(clf, text, list(CATEGORIES), features=x) == expected


@needs_speedups
def test_compiled_spans_equal_the_python_spans_for_a_row_that_repeats_columns(small_triager):
    # explain(features=...) accepts any indices/data; a row listing a column twice must give
    # the Python path's spans (and not overrun the C path's piece buffer: found in review)
    import numpy as np

    from complaint_triage.explain import _spans
    from complaint_triage.normalize import normalize_with_map

    clf = small_triager.model.classifier
    text = TEXTS[2]
    x = clf.featurizer_.transform([text])
    cols, vals = np.repeat(x.indices, 3), np.repeat(x.data, 3)
    norm = normalize_with_map(text).text
    fast = _spans(clf, norm, cols, vals, list(range(7)), compiled=True)
    assert fast and fast == _spans(clf, norm, cols, vals, list(range(7)), compiled=False)


def test_span_limits_are_checked_and_huge_ones_are_harmless(small_triager):
    from complaint_triage.labels import CATEGORIES

    clf = small_triager.model.classifier
    with pytest.raises(ValueError, match="max_spans"):
        explain(clf, TEXTS[0], list(CATEGORIES), max_spans=-1)
    with pytest.raises(ValueError, match="top_features"):
        explain(clf, TEXTS[0], list(CATEGORIES), top_features=0)
    assert explain(clf, TEXTS[0], list(CATEGORIES), max_spans=2**40, top_features=2**40)


@pytest.mark.parametrize("unit", ["ぶっ殺すぞ。", "覚えとけ", "お前無能"])
def test_a_repeated_phrase_gives_bounded_spans(small_triager, unit):
    """Every occurrence of a repeated phrase touches the next, so they merge into one piece that
    covered the whole 20,000-character message (three categories: a 180 kB answer)."""
    from complaint_triage.explain import MAX_SPAN_CHARS
    from complaint_triage.labels import CATEGORIES

    text = (unit * (20_000 // len(unit) + 1))[:20_000]
    ev = explain(small_triager.model.classifier, text, list(CATEGORIES))
    assert ev
    _check_spans(text, ev)
    assert all(e.end - e.start <= MAX_SPAN_CHARS for e in ev)


def test_capped_span_ends_at_a_sentence_end():
    from complaint_triage.explain import MAX_SPAN_CHARS, _capped_end

    text = "殺すぞ。" * 100
    end = _capped_end(text, 0, len(text))
    assert end <= MAX_SPAN_CHARS and text[end] == "。"
    assert _capped_end(text, 0, 10) == 10
    assert _capped_end("あ" * 500, 0, 500) == MAX_SPAN_CHARS


# -- spans end at word and character boundaries ------------------------------------------------

from complaint_triage.explain import _readable, _whole_characters  # noqa: E402
from complaint_triage.tokenizer import _grown  # noqa: E402


@pytest.mark.parametrize(("bounds", "span", "grown"), [
    ([0, 2, 4, 7, 9], (3, 8), (2, 9)),   # both ends inside a word: out to its edges
    ([0, 2, 4, 7, 9], (2, 7), (2, 7)),   # already on boundaries
    ([0, 20], (8, 12), (8, 12)),         # the word's edges are too far away: left as it is
    ([0, 3, 30], (2, 10), (0, 10)),
])
def test_a_span_grows_to_the_words_it_cuts(bounds, span, grown):
    assert _grown(bounds, *span, 6) == grown


FLAG, FAMILY, THUMB = "\U0001F1EF\U0001F1F5", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F44D\U0001F3FD"


@pytest.mark.parametrize(("text", "span", "grown"), [
    (f"あ{FLAG}い", (1, 2), (1, 3)),          # half a flag: the whole flag
    (f"あ{FLAG}い", (2, 4), (1, 4)),
    (f"{FLAG}{FLAG}", (1, 3), (0, 4)),        # across two flags: both whole
    (f"{FLAG}{FLAG}", (2, 4), (2, 4)),        # the second flag exactly
    (f"死ね{FAMILY}", (0, 3), (0, 7)),        # cut at a joiner: the whole family
    (f"{FAMILY}死ね", (2, 7), (0, 7)),
    (f"最高{THUMB}", (0, 3), (0, 4)),         # skin-tone modifier stays with its hand
    ("か\u3099き", (0, 1), (0, 2)),           # combining voiced mark
    ("殺すぞ", (0, 3), (0, 3)),
])
def test_a_span_never_splits_a_visible_character(text, span, grown):
    assert _whole_characters(text, *span) == grown


@given(st.text(alphabet=st.sampled_from(["あ", "\U0001F1EF", "\U0001F1F5", "\u200d", "\U0001F468", "\ufe0f", "\u3099",
                                          "\U0001F3FD", " "]), max_size=30), st.data())
def test_whole_characters_only_grows_and_stays_in_the_text(text, data):
    s = data.draw(st.integers(0, len(text)))
    e = data.draw(st.integers(s, len(text)))
    a, b = _whole_characters(text, s, e)
    assert 0 <= a <= s <= e <= b <= len(text)
    assert _whole_characters(text, a, b) == (a, b)  # idempotent


@pytest.mark.parametrize(("text", "readable"), [
    ("ーーーー　", False), ("。、！？", False), ("\u200b\n", False), ("―－〜", False),
    ("🔪🔪🔪", True), ("殺すぞ", True), ("ＡＢＣ", True), ("7", True),
])
def test_a_span_of_dashes_and_punctuation_is_not_shown_but_a_symbol_is(text, readable):
    assert _readable(text) is readable


def test_a_span_cut_at_the_length_cap_keeps_its_characters_whole():
    from complaint_triage.explain import MAX_SPAN_CHARS, _capped

    text = "あ" * (MAX_SPAN_CHARS - 1) + FLAG + "い"
    assert _capped(text, 0, len(text)) == (0, MAX_SPAN_CHARS + 1)  # the flag whole, one past the cap
    assert _capped(text, 0, 10) == (0, 10)


def test_explained_spans_are_readable_and_cut_no_word(small_triager):
    text = f"{FLAG}ーーーー　受付の対応で精神的苦痛を受けたので慰謝料100万円払え{FAMILY}。払わないなら毎日行くぞ"
    p = small_triager.score(text)
    assert p.verdict == "harassment" and p.evidence
    for ev in p.evidence:
        assert text[ev.start:ev.end] == ev.text and _readable(ev.text)
        assert "神的苦痛" not in ev.text or "精神的苦痛" in ev.text
        assert _whole_characters(text, ev.start, ev.end) == (ev.start, ev.end)
