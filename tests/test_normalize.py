import pytest
from hypothesis import example, given, settings
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
    ("氏んでください", "死んでください"),
    ("みんな氏んじまえ", "みんな死んじまえ"),
    ("すごーーーい！！！", "すごーい!"),
    ("なんで？？？", "なんで?"),
    ("ＡＢＣ１２３", "abc123"),
    ("ｻｰﾋﾞｽ", "サービス"),
    ("  前後の　空白\n\n改行  ", "前後の 空白 改行"),
    ("草wwwwww", "草ww"),
    # a whole message that is only the plain curse
    ("しね", "死ね"),
    ("しね！！😡", "死ね!😡"),
    ("　ころす。", "殺す。"),
    # しね in running text where only the curse fits (found by an acceptance tester: the unspaced
    # form is the commonest spelling, and only the spaced one was undone)
    ("区役所の職員全員しね", "区役所の職員全員死ね"),
    ("しね。区役所の職員全員しね。", "死ね。区役所の職員全員死ね。"),
    ("お前らみんなしねばいい", "お前らみんな死ねばいい"),
    ("しねしねしね", "死ね死ね死ね"),
    ("戸籍係のやつ しね!", "戸籍係のやつ 死ね!"),
    ("あいつらしねよ", "あいつら死ねよ"),
    # invisible characters between the letters (found by an acceptance tester: zero-width spaces
    # hid 殺すぞ and 死ね from every signal, while the same words split by spaces were caught)
    ("殺\u200bすぞ", "殺すぞ"),
    ("死\u200bね", "死ね"),
    ("窓口の\u200b職\u200b員はバ\u200bカ。殺\u200bす\u200bぞ。", "窓口の職員はバカ。殺すぞ。"),
    ("死\ufe0fね", "死ね"),
    ("バ\u0301カ", "バカ"),
    ("殺\u00adす\u2060ぞ", "殺すぞ"),
    ("殺\x00す\x00ぞ", "殺すぞ"),
    ("死\x1bね\x7f", "死ね"),
    ("\ufeff死ね", "死ね"),
    ("殺\u200b\u3000す", "殺す"),
    ("こ\u200bろ\u200bす", "殺す"),
    ("👨\u200d👩\u200d👧 ❤\ufe0f", "👨👩👧 ❤"),
    # the sender's contact details, one placeholder each (found by an acceptance tester: a phone
    # number and an address in front of 殺すぞ took its threat away)
    ("電話０９０－１２３４－５６７８まで。メール ｉｃｈｉｒｏ＠ｅｘａｍｐｌｅ．ｊｐ。殺すぞ",
     "電話☎まで。メール ✉。殺すぞ"),
    ("TEL 03-3412-1111(平日9時〜17時)", "tel ☎(平日9時〜17時)"),
    ("携帯09012345678 固定0334121111", "携帯☎ 固定☎"),
    ("+81-3-3412-1111 / 03(3412)1111", "☎ / ☎"),
    ("〒154-0004 世田谷区太子堂1-2-3", "⌂ 世田谷区太子堂1-2-3"),
    ("〒154 0004", "⌂"),
    ("連絡先 0**-****-**** t***@example.jp", "連絡先 ☎ ✉"),
    # the reviewer's other ways to write a phone number (session 25)
    ("(03)1234-5678 / 03 1234 5678 / 090ー1234ー5678 / 090ーー1234ーー5678", "☎ / ☎ / ☎ / ☎"),
    ("090–1234–5678 090―1234―5678 090.1234.5678 +81 90 1234 5678 +81(0)3-1234-5678", "☎ ☎ ☎ ☎ ☎"),
    # (numbers that are not telephone numbers stay)
    *((x, x) for x in ("受付番号0012345678", "01-02-2025", "09-12-1800", "0120-12-34")),
    ("2024-01-15に3,000円、受付番号12345、110番、平成4年", "2024-01-15に3,000円、受付番号12345、110番、平成4年"),
    # (not where the neighbours would then compose: the text stays NFKC)
    ("\u1100\u200b\u1161", "\u1100\u200b\u1161"),
    # the reviewer's other blanks and marks of other scripts (session 25)
    ("窓口の職員、殺\u2800す\u2800ぞ。", "窓口の職員、殺すぞ。"),
    ("殺\u3164す\u3164ぞ", "殺すぞ"),
    ("殺\U0001d173す\U0001d173ぞ", "殺すぞ"),
    ("殺\u064bす\u05b4ぞ\u0e49\u093c", "殺すぞ"),
    ("1\ufe0f\u20e3", "1\u20e3"),  # (the keycap stays)
]

# innocent text must come through unchanged (apart from width/space normalisation)
INNOCENT = [
    "少しねむいです",
    "シネマの割引",
    "田中氏ね、あの件は",
    "山田氏んちの前の道路",
    "鈴木氏んで話した件",
    "平成4年生まれ",
    "殺虫剤の散布",
    "死亡届を出したい",
    "燃えるゴミの日",
    "害虫駆除をお願いします",
    "くずかごが壊れている",
    "カステラ",
    "市役所ねえ",
    "まあ仕方ないしね",
    "しねんど(市年度)の確認",
    "もう少しね、待ってください",
    "そんなことしね",  # a dialect negative (しない)
    "もうしねえよ",
    "明日からしね。",
    "少しね。",
    "ころすけ",
    "ころすぞって言われた",
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

    from complaint_triage.normalize import _nfkc, _nfkc_with_map, _per_char

    def plain(ch):  # NFKC of one character, then ASCII lower case
        return "".join(c.lower() if "A" <= c <= "Z" else c for c in unicodedata.normalize("NFKC", ch))

    joined, base = _nfkc_with_map(text, _nfkc(text), _per_char(text))
    if len(joined) == len(text) and joined == "".join(plain(c) for c in text):
        # character i came from character i (None says so without the lists)
        assert base is None or base == (list(range(len(text))), list(range(1, len(text) + 1)))
    else:
        starts, ends = base  # characters that expand or compose: every output character maps inside the text
        assert len(starts) == len(ends) == len(joined)
        assert all(0 <= a < b <= len(text) for a, b in zip(starts, ends, strict=True))


# -- the offset map, traced back through the rewrite steps --------------------------------------

def _eager_map(text):
    """Reference: the map rewritten per character at every step (the definition the lazy map keeps),
    written independently of the library's helpers."""
    import os
    import unicodedata

    from complaint_triage.normalize import _RULES

    def nfkc_lower(x):
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in unicodedata.normalize("NFKC", x))

    whole = nfkc_lower(text)
    out, starts, ends = [], [], []
    for i, ch in enumerate(text):  # NFKC one character at a time, composing marks onto the previous one
        for c in unicodedata.normalize("NFKC", ch):
            if unicodedata.combining(c) and out and len(unicodedata.normalize("NFC", out[-1] + c)) == 1:
                out[-1] = unicodedata.normalize("NFC", out[-1] + c)
                ends[-1] = i + 1
            else:
                out.append(c)
                starts.append(i)
                ends.append(i + 1)
    s = "".join(out)
    s = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)  # lower case after NFKC, as whole is
    if s != whole:  # the coarse fallback: every character maps onto the whole text
        s, starts, ends = whole, [0] * len(whole), [len(text)] * len(whole)

    def kept_ends(old, rep):
        pre = len(os.path.commonprefix([old, rep]))
        return pre, len(os.path.commonprefix([old[pre:][::-1], rep[pre:][::-1]]))

    def sub(pattern, repl, s, starts, ends):
        out, ns, ne, pos = [], [], [], 0
        for m in pattern.finditer(s):
            a, b = m.span()
            rep = repl(m) if callable(repl) else repl
            pre, suf = kept_ends(s[a:b], rep)
            out += [s[pos:a], rep]
            ns += starts[pos : a + pre]
            ne += ends[pos : a + pre]
            mid = len(rep) - pre - suf
            if mid:
                ma, mb = a + pre, b - suf
                if ma < mb:
                    lo, hi = starts[ma], ends[mb - 1]
                else:
                    lo = hi = starts[ma] if ma < len(s) else (ends[ma - 1] if ma else 0)
                ns += [lo] * mid
                ne += [hi] * mid
            ns += starts[b - suf : b]
            ne += ends[b - suf : b]
            pos = b
        out.append(s[pos:])
        return "".join(out), ns + starts[pos:], ne + ends[pos:]

    for pattern, repl in _RULES:  # every rule, with no prechecks (the library skips groups that cannot match)
        s, starts, ends = sub(pattern, repl, s, starts, ends)
    return s, tuple(starts), tuple(ends)


_MAP_ALPHABET = list(
    "あいカｶﾞﾊﾟ　 \n\t！!？?ーー〜~。、.wｗ笑氏市4ね死タヒシネshine○コこス殺・*_-+/|ＡＢa①㈱ﬁ…"
    "e\u0301か\u3099税金ドロボークズバカ無脳キエロ"
    "ＩⅠI\u0307"  # Ｉ + U+0307 composes to İ only before lower-casing
    "\u200b\u200d\ufe0f\ufeff\u00ad\u0301\u1100\u1161\u3099"  # invisible characters, and what they may separate
    "0011-(@.〒ー ）"  # contact details
)


@pytest.mark.parametrize("text", [c[0] for c in CASES] + INNOCENT + ["", " ", "…ｶﾞ①\n\nｺ○ｽ", "ーーー！！　ｼ ﾈ…",
                                  "Ｉ\u0307", "Ⅰ\u0307 死 ね", "aＩ\u0307b"])
def test_traced_map_equals_the_per_character_rewrite(text):
    n = normalize_with_map(text)
    assert (n.text, n.starts, n.ends) == _eager_map(text)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=50), st.text(alphabet=st.sampled_from(_MAP_ALPHABET), max_size=50), japanese))
def test_traced_map_equals_the_per_character_rewrite_on_any_text(text):
    n = normalize_with_map(text)
    assert (n.text, n.starts, n.ends) == _eager_map(text)
    for i in range(len(n.text)):
        assert n.to_original(i, i + 1) == (n.starts[i], n.ends[i])


def test_plain_replacements_are_literal():
    # _sub_recording uses a str replacement as it is: none may hold a group reference
    from complaint_triage.normalize import _RULES

    assert all("\\" not in repl for _, repl in _RULES if isinstance(repl, str))


def test_normalized_text_is_a_value():
    a, b = normalize_with_map("ｺ○ｽ！！"), normalize_with_map("ｺ○ｽ！！")
    assert a == b and hash(a) == hash(b) and a != normalize_with_map("殺す!")
    assert repr(a).startswith("NormalizedText(text='殺す!'")
    with pytest.raises(AttributeError, match="immutable"):
        a.text = "x"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(alphabet=st.sampled_from(_MAP_ALPHABET), max_size=50), japanese))
def test_prechecks_let_through_every_text_a_rule_would_change(text):
    # each group of rules is skipped when its precheck finds nothing: every match of every rule
    # must contain something the precheck finds
    from complaint_triage.normalize import _ANY_OBFUSCATION, _OBFUSCATION_RULES, _RUN_RULES, _any_run, _nfkc

    s = _nfkc(text)
    for pattern, _ in _RUN_RULES:
        for m in pattern.finditer(s):
            assert _any_run(m.group()), m.group()
    for pattern, repl in _OBFUSCATION_RULES:
        for m in pattern.finditer(s):
            if (repl(m) if callable(repl) else repl) != m.group():  # a match that changes the text
                assert _ANY_OBFUSCATION.search(m.group()), m.group()


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=50), st.text(alphabet=st.sampled_from(_MAP_ALPHABET), max_size=50), japanese))
@example("Ｉ\u0307")
@example("Ⅰ\u0307")
def test_whole_nfkc_from_the_per_character_forms(text):
    from complaint_triage.normalize import _nfkc, _per_char, _whole_from_per_char

    assert _whole_from_per_char(text, _per_char(text)) == _nfkc(text)


@pytest.mark.parametrize("text", ["Ｉ\u0307", "Ⅰ\u0307", "ｶﾞＩ\u0307！！"])
def test_mapped_text_is_the_normalised_text(text):
    assert normalize_with_map(text).text == normalize_text(text)


def test_long_runs_are_not_kept_as_cache_keys():
    from complaint_triage.normalize import _kept_ends_cached

    _kept_ends_cached.cache_clear()
    normalize_with_map("死ね" + "ー" * 5000 + "!" * 4000 + "  " + "\n" * 3000)
    assert _kept_ends_cached.cache_info().currsize == 1  # the trailing space dropped; no long run kept


def test_invisible_precheck_finds_every_character_the_rule_removes():
    from complaint_triage.normalize import _INVISIBLE, _any_invisible

    removed = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and _INVISIBLE.fullmatch(chr(c))]
    assert len(removed) > 500  # (the class is not empty by mistake)
    assert all(_any_invisible(f"あ{ch}い") for ch in removed)
    assert not _any_invisible("区役所の窓口で ３時間 待たされた。\n職員の方は親切でした")
    assert _any_invisible("😀")  # (every astral character goes on to the full search, which finds nothing)
    assert normalize_text("区役所の窓口で😀 ３時間") == "区役所の窓口で😀 3時間"


@pytest.mark.parametrize(("text", "contact"), [
    ("住所は〒154-0004です", "〒154-0004"), ("電話090-1234-5678まで", "090-1234-5678"),
    ("メール taro@example.jp へ", "taro@example.jp"), ("(03)1234-5678", "(03)1234-5678"),
])
def test_a_contact_placeholder_maps_back_to_the_whole_contact(text, contact):
    n = normalize_with_map(text)
    i = next(k for k, ch in enumerate(n.text) if ch in "☎✉⌂")
    a, b = n.to_original(i, i + 1)
    assert text[a:b] == contact

