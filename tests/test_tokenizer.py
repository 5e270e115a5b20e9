import pickle
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
import skops.io as sio
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from complaint_triage.tokenizer import JapaneseTokenizer

# golden tokenisation (lemma forms, punctuation dropped) with unidic-lite 1.0.8
GOLDEN = [
    ("職員が怒鳴った", ["職員", "が", "怒鳴る", "た"]),
    ("来庁者が「殺すぞ」と言った。", ["来庁", "者", "が", "殺す", "ぞ", "と", "言う", "た"]),
    ("ゴミが回収されていません", ["塵", "が", "回収", "為る", "れる", "て", "居る", "ます", "ず"]),
    ("情報公開請求を行います", ["情報", "公開", "請求", "を", "行う", "ます"]),
    ("土下座しろ", ["土", "下座", "為る"]),  # unidic-lite splits 土下座; char n-grams keep it whole
    ("ころすぞ", ["殺す", "ぞ"]),
    ("ｻｰﾋﾞｽ", ["ｻｰﾋﾞｽ"]),  # unknown word: lemma falls back to the surface
]

SURFACE = [
    ("職員が怒鳴った", ["職員", "が", "怒鳴っ", "た"]),
    ("区役所に行きました。", ["区", "役所", "に", "行き", "まし", "た"]),
]


@pytest.mark.parametrize(("text", "tokens"), GOLDEN)
def test_golden_lemmas(text, tokens):
    assert JapaneseTokenizer()(text) == tokens


@pytest.mark.parametrize(("text", "tokens"), SURFACE)
def test_surface_forms(text, tokens):
    assert JapaneseTokenizer(use_lemma=False)(text) == tokens


def test_spans_index_the_text():
    text = "窓口で「税金泥棒」と言われた"
    for form, a, b in JapaneseTokenizer(use_lemma=False).spans(text):
        assert text[a:b] == form


def test_empty_text():
    assert JapaneseTokenizer()("") == []


def test_pickle_clone_and_params():
    tok = JapaneseTokenizer(use_lemma=False)
    for copy in (pickle.loads(pickle.dumps(tok)), clone(tok)):
        assert type(copy) is JapaneseTokenizer
        assert copy.get_params() == tok.get_params()
        assert copy("職員が怒鳴った") == tok("職員が怒鳴った")
    tok.set_params(use_lemma=True)
    assert tok("怒鳴った") == ["怒鳴る", "た"]


def test_skops_round_trip():
    tok = JapaneseTokenizer(drop_pos=("補助記号",))
    data = sio.dumps(tok)
    assert sio.get_untrusted_types(data=data) == ["complaint_triage.tokenizer.JapaneseTokenizer"]
    loaded = sio.loads(data, trusted=["complaint_triage.tokenizer.JapaneseTokenizer"])
    assert loaded.get_params() == tok.get_params()


TEXTS = [
    f"{i}回目の電話です。担当者が説明した内容と違います。区役所の窓口で待たされた。" * (1 + i % 3) for i in range(200)
]


def test_thread_safety():
    tok = JapaneseTokenizer()
    expected = [tok(t) for t in TEXTS]
    barrier = threading.Barrier(8)

    def work(t: str) -> list[str]:
        return tok(t)

    def run(chunk: list[str]) -> list[list[str]]:
        barrier.wait()
        return [work(t) for t in chunk]

    with ThreadPoolExecutor(8) as ex:
        chunks = [TEXTS[i::8] for i in range(8)]
        results = list(ex.map(run, chunks))
    for i, chunk_res in enumerate(results):
        assert chunk_res == expected[i::8]


def _tokenize_all(args):
    tok, texts = args
    return [tok(t) for t in texts]


def test_process_safety():
    tok = JapaneseTokenizer()
    expected = [tok(t) for t in TEXTS[:40]]  # the parent has a tagger before forking
    with ProcessPoolExecutor(2) as ex:
        parts = list(ex.map(_tokenize_all, [(tok, TEXTS[:20]), (tok, TEXTS[20:40])]))
    assert parts[0] + parts[1] == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_never_raises(text):
    out = JapaneseTokenizer()(text)
    assert all(isinstance(t, str) and t for t in out)


# -- lookup mode: segment with -Owakati, lemmas from a fitted surface table ----------------

FIT_TEXTS = [text for text, _ in GOLDEN] + [
    "窓口の職員に怒鳴られました。録音しています。",
    "ゴミの回収日を教えてください",
    "来庁者が机を叩いて「殺すぞ」と怒鳴った",
]


def _lookup(**kw):
    return JapaneseTokenizer(lemma_lookup=True, **kw).fit(FIT_TEXTS)


@pytest.mark.parametrize(("text", "tokens"), GOLDEN)
def test_lookup_mode_matches_context_lemmas_on_seen_texts(text, tokens):
    assert _lookup()(text) == tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("殴られた", ["殴る", "れる", "た"]),  # 殴ら never seen in fitting: tagged on its own
        ("税金泥棒", ["税金", "泥棒"]),
    ],
)
def test_lookup_mode_unseen_surfaces(text, expected):
    assert _lookup()(text) == expected


def _isolated_from_lemma_tagger(surface):
    # the reference definition: the lemma-printing tagger's reading of the surface alone
    from complaint_triage.tokenizer import _ALL_FIELDS, _tagged

    found = _ALL_FIELDS.findall(_tagged(surface))
    if len(found) == 1:
        pos, lemma, _ = found[0]
        return pos, lemma if lemma and lemma != "*" else surface
    return "", surface


@pytest.mark.parametrize(
    "surface",
    ["殴ら", "怒鳴っ", "税金", "ｻｰﾋﾞｽ", "ｗ", "😊", "、", "，", ",", "「", "エアコン", "ＴＥＬ", "xyzzy",
     "１２３", "〜", "…", "税金泥棒", "ころす", "氏ね", "まじ", "ぞ", ""],
)
def test_isolated_surface_reads_the_same_fields_as_the_lemma_tagger(surface):
    from complaint_triage.tokenizer import _isolated

    assert _isolated(surface) == _isolated_from_lemma_tagger(surface)


def test_lookup_mode_scoring_never_starts_the_lemma_tagger():
    # each tagger maps the dictionary on its own: a scoring thread (lookup mode) keeps to the
    # segmenting one, even for surfaces outside the table, which are read from its nodes
    from complaint_triage import tokenizer as tk

    tok = _lookup()
    tk._isolated.cache_clear()  # else surfaces read by earlier tests would never reach a tagger
    seen = {}

    def run():
        tok("見たことのない言葉だらけのﾒｯｾｰｼﾞ、ｗｗ😊 xyzzy")
        tok.spans("ｻｰﾋﾞｽ残業させんな")
        seen["lemma"] = getattr(tk._local, "tagger", None)
        seen["wakati"] = getattr(tk._local, "wakati", None)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen["wakati"] is not None
    assert seen["lemma"] is None


def test_lookup_mode_spans_and_dropped_pos():
    tok = _lookup(drop_pos=("補助記号", "空白", "助詞", "助動詞"))
    text = "職員が怒鳴った。殴られた"
    assert tok(text) == ["職員", "怒鳴る", "殴る"]
    spans = tok.spans(text)
    assert [s[0] for s in spans] == tok(text)
    assert [text[a:b] for _, a, b in spans] == ["職員", "怒鳴っ", "殴ら"]
    # with whitespace the morphemes no longer tile the text: offsets still index it
    spaced = " 職員が  怒鳴った。\n殴られた "
    expected = [("職員", "職員"), ("怒鳴る", "怒鳴っ"), ("殴る", "殴ら")]
    assert [(f, spaced[a:b]) for f, a, b in tok.spans(spaced)] == expected


def test_lookup_mode_needs_fit():
    with pytest.raises(NotFittedError, match="call fit"):
        JapaneseTokenizer(lemma_lookup=True)("職員が怒鳴った")


def test_lookup_table_does_not_depend_on_text_order():
    a = JapaneseTokenizer(lemma_lookup=True).fit(FIT_TEXTS)
    b = JapaneseTokenizer(lemma_lookup=True).fit(list(reversed(FIT_TEXTS)))
    assert a.lemma_table_ == b.lemma_table_


def test_lookup_mode_pickle_and_skops_keep_the_table():
    tok = _lookup()
    data = sio.dumps(tok)
    assert sio.get_untrusted_types(data=data) == ["complaint_triage.tokenizer.JapaneseTokenizer"]
    trusted = ["complaint_triage.tokenizer.JapaneseTokenizer"]
    for copy in (pickle.loads(pickle.dumps(tok)), sio.loads(data, trusted=trusted)):
        assert copy.lemma_table_ == tok.lemma_table_
        assert copy("窓口の職員に怒鳴られました") == tok("窓口の職員に怒鳴られました")
    assert not hasattr(clone(tok), "lemma_table_")


def test_context_mode_fit_is_a_no_op():
    tok = JapaneseTokenizer().fit(FIT_TEXTS)
    assert not hasattr(tok, "lemma_table_")


_LOOKUP = JapaneseTokenizer(lemma_lookup=True).fit(FIT_TEXTS)
_LOOKUP_SURFACE = JapaneseTokenizer(use_lemma=False, lemma_lookup=True).fit(FIT_TEXTS)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_lookup_mode_never_raises_and_spans_index_the_text(text):
    tok = _LOOKUP
    out = tok(text)
    assert all(isinstance(t, str) and t for t in out)
    assert len(tok.spans(text)) == len(out)
    for form, a, b in _LOOKUP_SURFACE.spans(text):
        assert text[a:b] == form


def _plain_offsets(text, pairs):
    """Offsets found the plain way: each surface searched for from the end of the previous one;
    ``pairs`` are (surface, form), form "" for a dropped morpheme."""
    out, pos = [], 0
    for surface, form in pairs:
        start = text.find(surface, pos)
        pos = start + len(surface)
        if form:
            out.append((form, start, pos))
    return out


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("職員が怒鳴った。殴られた窓口で 　\n\tabc12ー!")), max_size=60))
@example(" 職員が  怒鳴った。 ")
@example("a b  c")
def test_lookup_mode_offsets_equal_a_plain_search(text):
    from complaint_triage.tokenizer import _surfaces

    for tok in (_LOOKUP, _LOOKUP_SURFACE):
        pairs = [(sf, tok._forms()[sf]) for sf in (_surfaces(text) if text else ())]
        assert tok.spans(text) == _plain_offsets(text, pairs)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("職員が怒鳴った。殴られた窓口で 　\n\tabc12ー!エアコン")), max_size=60))
@example(" 職員が  怒鳴った。 ")
@example("エアコンが壊れた")
def test_context_mode_offsets_equal_a_plain_search(text):
    for tok in (JapaneseTokenizer(), JapaneseTokenizer(use_lemma=False)):
        pairs = [(t.surface, "" if t.pos in tok.drop_pos else (t.lemma if tok.use_lemma else t.surface))
                 for t in tok.tokens(text)]
        assert tok.spans(text) == _plain_offsets(text, pairs)


def test_lookup_mode_thread_and_process_safety():
    tok = _LOOKUP
    expected = [tok(t) for t in TEXTS]
    with ThreadPoolExecutor(8) as ex:
        assert list(ex.map(tok, TEXTS)) == expected
    with ProcessPoolExecutor(2) as ex:
        parts = list(ex.map(_tokenize_all, [(tok, TEXTS[:20]), (tok, TEXTS[20:40])]))
    assert parts[0] + parts[1] == expected[:40]


@pytest.mark.parametrize("lookup", [False, True])
@pytest.mark.parametrize(
    "text",
    [
        "職員が怒鳴った。",
        "未知のｸﾞﾗﾝﾄﾞ・バザールで殺虫剤を買いました",  # surfaces outside the lemma table
        "お前 お前、お前！",
        "",
    ],
)
def test_piece_ids_give_the_ids_of_the_kept_forms(lookup, text):
    tok = (JapaneseTokenizer(lemma_lookup=True, drop_pos=("補助記号", "空白", "助詞")).fit(FIT_TEXTS) if lookup
           else JapaneseTokenizer(drop_pos=("補助記号", "空白", "助詞")))
    ids = {form: i + 1 for i, form in enumerate(["職員", "怒鳴る", "お前", "殺虫剤", "買う"])}
    table = tok.piece_ids(ids)
    # a plain dict (context mode) counts a missing form as 0; the lookup table answers every surface
    got = [table.get(p, 0) if type(table) is dict else table[p] for p in tok.pieces(text)]
    assert [i for i in got if i >= 0] == [ids.get(f, 0) for f in tok(text)]
    assert tok.piece_ids(ids) is table  # built once per id table
    if lookup:  # an unseen surface is answered, not stored
        assert "ｸﾞﾗﾝﾄﾞ" not in table and len(table) == len(tok.lemma_table_)


def test_formatted_tagger_is_one_per_format_and_thread():
    import threading

    from complaint_triage.tokenizer import get_formatted_tagger

    fmt = r'-O "" -F%m\\t%f[3]\\n -U%m\\t\\n -E\\n'  # (MeCab's option parser undoes one escape)
    a = get_formatted_tagger(fmt)
    assert a is get_formatted_tagger(fmt)
    assert get_formatted_tagger("-Owakati") is not a
    assert "鈴木\t姓" in a.parse("鈴木さん")
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(get_formatted_tagger(fmt)))
    t.start()
    t.join()
    assert other[0] is not a


# -- long texts: MeCab is given pieces --------------------------------------------------------


@given(st.text(alphabet=st.sampled_from("あア漢x 。\n!"), max_size=400), st.integers(min_value=4, max_value=60))
def test_parse_pieces_cover_the_text_in_order_within_the_limit(text, limit):
    from complaint_triage.tokenizer import _parse_pieces

    pieces = _parse_pieces(text, limit)
    assert "".join(pieces) == text
    assert all(len(p) <= limit for p in pieces)
    assert all(pieces[:-1]) and (len(pieces) == 1) == (len(text) <= limit)


def test_a_piece_ends_at_a_line_break_before_a_sentence_end_or_a_space():
    from complaint_triage.tokenizer import _parse_pieces

    assert _parse_pieces("あいう。えお\nかきく けこ", 10) == ["あいう。えお\n", "かきく けこ"]
    assert _parse_pieces("あいうえ。お かきく", 8) == ["あいうえ。", "お かきく"]
    assert _parse_pieces("あいう。えお かきく", 8) == ["あいう。えお ", "かきく"]  # (the 。 is in the first half)
    assert _parse_pieces("あいうえおかきくけこ", 4) == ["あいうえ", "おかきく", "けこ"]


@pytest.mark.parametrize("lookup", [True, False])
def test_a_text_too_long_for_one_mecab_call_is_tokenized_in_a_child_process(lookup, tmp_path):
    # MeCab crashed the whole process (SIGSEGV) on 300,000 ASCII letters; run in a child so that
    # a crash fails this test instead of the test run
    import subprocess
    import sys

    code = (
        "from complaint_triage.tokenizer import JapaneseTokenizer\n"
        f"tok = JapaneseTokenizer(lemma_lookup={lookup})\n"
        "tok.fit(['騒音がひどいです。'])\n"
        "text = 'x' * 300_000 + '騒音がひどい。' * 20_000\n"
        "toks = tok(text)\n"
        "assert toks.count('騒音') == 20_000, toks.count('騒音')\n"
        "print(len(toks))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 60_000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("あい漢字カナ。、 !7x😡\n\t") + ["精神的", "苦痛", "ﾃｽﾄ", "　"]), max_size=40)
       .map("".join), st.data())
def test_whole_words_finds_the_edges_word_bounds_lists(text, data):
    from complaint_triage.normalize import normalize_text
    from complaint_triage.tokenizer import _grown, whole_words, word_bounds

    norm = normalize_text(text)
    a = data.draw(st.integers(0, len(norm)))
    b = data.draw(st.integers(a, len(norm)))
    reach = data.draw(st.integers(0, 8))
    assert whole_words(norm, a, b, reach) == _grown(word_bounds(norm), a, b, reach)
