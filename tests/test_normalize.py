import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaint_triage.normalize import normalize_text, normalize_with_map

# (input, expected normalised form)
CASES = [
    ("ﾀﾋね", "死ね"),
    ("タヒね", "死ね"),
    ("氏ね", "死ね"),
    ("市ね", "死ね"),
    ("4ね", "死ね"),
    ("し ね", "死ね"),
    ("死 ね", "死ね"),
    ("し・ね", "死ね"),
    ("ｼﾈ", "死ね"),
    ("○ね", "死ね"),
    ("コ○ス", "殺す"),
    ("殺.す", "殺す"),
    ("こ ろ す", "殺す"),
    ("ｺﾛｽｿﾞ", "コロスゾ"),
    ("ｷｴﾛ", "消えろ"),
    ("無脳", "無能"),
    ("税金ドロボー", "税金泥棒"),
    ("ク ズ", "クズ"),
    ("バ カ", "バカ"),
    ("ＳＨＩＮＥ", "死ね"),
    ("すごーーーい！！！", "すごーい!"),
    ("なんで？？？", "なんで?"),
    ("ＡＢＣ１２３", "abc123"),
    ("ｻｰﾋﾞｽ", "サービス"),
    ("  前後の　空白\n\n改行  ", "前後の 空白 改行"),
    ("草wwwwww", "草ww"),
]

# innocent text must come through unchanged (apart from width/space normalisation)
INNOCENT = [
    "少しねむいです",
    "シネマの割引",
    "田中氏ね、あの件は",
    "平成4年生まれ",
    "殺虫剤の散布",
    "死亡届を出したい",
    "燃えるゴミの日",
    "害虫駆除をお願いします",
    "くずかごが壊れている",
    "カステラ",
    "市役所ねえ",
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_normalize_cases(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize("raw", INNOCENT)
def test_innocent_text_unchanged(raw):
    assert normalize_text(raw) == raw


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_map_version_agrees(raw, expected):
    assert normalize_with_map(raw).text == expected


def test_map_points_to_original():
    raw = "お前　ｺ○ｽぞ！！"
    n = normalize_with_map(raw)
    i = n.text.index("殺す")
    s, e = n.to_original(i, i + 2)
    assert raw[s:e] == "ｺ○ｽ"


def test_map_rejects_bad_span():
    with pytest.raises(ValueError):
        normalize_with_map("abc").to_original(2, 9)


japanese = st.text(
    alphabet=st.sampled_from(list(
        "死ねしシネ氏市4ﾀﾋコ○ス殺.す ・　！!?？ーｰwwｶﾞ①㈱～〜ABCａｂｃ\n\tころ消えろクズ税金ドロボー無脳 「」0"
        "〇◯●x×*キエロshine笑。、…くずカスばか馬鹿バカ_-+/|,"
    )),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), japanese))
def test_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), japanese))
def test_map_is_consistent(text):
    n = normalize_with_map(text)
    assert n.text == normalize_text(text)
    assert len(n.starts) == len(n.ends) == len(n.text)
    for a, b in zip(n.starts, n.ends, strict=True):
        assert 0 <= a <= b <= len(text)
    assert list(n.starts) == sorted(n.starts)


# -- NFKC on the runs that may change (normalize._nfkc_exact) ---------------------------------

def test_every_character_called_stable_is_left_alone_by_nfkc():
    import re
    import unicodedata

    from complaint_triage.normalize import _NFKC_STABLE

    ranges = re.findall(r"(.)(?:-(.))?", _NFKC_STABLE, re.S)
    assert sum(ord(hi or lo) - ord(lo) + 1 for lo, hi in ranges) > 20_000
    for lo, hi in ranges:
        for cp in range(ord(lo), ord(hi or lo) + 1):
            assert unicodedata.normalize("NFKC", chr(cp)) == chr(cp), hex(cp)


# characters whose NFKC composes, reorders or expands across neighbours
_TRICKY = (
    "かがカガｶﾞﾊﾟﾟ\u3099\u309a\u309b\u309c゛゜ｱｲｳ"  # kana, combining and spacing sound marks
    "e\u0301\u0327\u0300A\u030aIi\u0307ﬁ①㈱㌔ｱＡ１！　"  # Latin marks, ligature, enclosed, squared
    "\u1100\u1161\u11a8가\uac00\u0b47\u0b3e\u0dd9\u0dcf\u1025\u102e"  # Hangul jamo, Indic composites
    "𝐀𝟏\U0002f800\ufa10\uf900丽 a\n"  # math letters, compatibility ideographs
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=st.sampled_from(list(_TRICKY)), max_size=30), japanese))
def test_runwise_nfkc_equals_unicodedata(text):
    import unicodedata

    from complaint_triage.normalize import _nfkc_exact

    assert _nfkc_exact(text) == unicodedata.normalize("NFKC", text)


@pytest.mark.parametrize(
    "text", ["ｶﾞｲｺｸｼﾞﾝ", "か\u3099", "\u1100\u1161\u11a8", "①㈱ﬁ", "A\u030a e\u0301", "普通の文章。"]
)
def test_runwise_nfkc_on_seams(text):
    import unicodedata

    from complaint_triage.normalize import _nfkc_exact

    assert _nfkc_exact(text) == unicodedata.normalize("NFKC", text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=st.sampled_from(list(_TRICKY)), max_size=30), japanese))
def test_per_character_nfkc_map_equals_its_plain_definition(text):
    import unicodedata

    from complaint_triage.normalize import _nfkc, _nfkc_with_map

    def plain(ch):  # NFKC of one character, then ASCII lower case
        return "".join(c.lower() if "A" <= c <= "Z" else c for c in unicodedata.normalize("NFKC", ch))

    joined, starts, ends = _nfkc_with_map(text, _nfkc(text))
    if len(starts) == len(text) and joined == "".join(plain(c) for c in text):
        assert (starts, ends) == (list(range(len(text))), list(range(1, len(text) + 1)))
    else:  # characters that expand or compose: every output character maps inside the text
        assert len(starts) == len(ends) == len(joined)
        assert all(0 <= a < b <= len(text) for a, b in zip(starts, ends, strict=True))
