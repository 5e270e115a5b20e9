"""Features: word (lemma) n-grams, character n-grams and the policy's signal features.

:class:`TextFeaturizer` turns raw texts into one sparse TF-IDF matrix whose columns are
named ``w:<lemma n-gram>``, ``c:<character n-gram>`` and ``s:<signal>``.  It is written by
hand rather than stacked from sklearn vectorizers so that a single message is featurised
without per-call validation overhead and so that every column can be traced back to the
spans of text that produced it (see :mod:`complaint_triage.explain`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from complaint_triage.normalize import normalize_text
from complaint_triage.tokenizer import JapaneseTokenizer

__all__ = ["TextFeaturizer", "SIGNALS", "SIGNAL_GATES", "signal_counts", "signal_spans", "signals_digest",
           "speedups_available"]

try:  # the optional C accelerator (built at install time when a C compiler is present)
    from complaint_triage import _speedups
except ImportError:  # pragma: no cover - depends on the installation
    _speedups = None
else:
    if getattr(_speedups, "ABI_VERSION", None) != 3:  # pragma: no cover - a stale build
        _speedups = None


def speedups_available() -> bool:
    """Whether the compiled n-gram counter is in use (else the numpy path, same results)."""
    return _speedups is not None

#: (a number is taken whole, never from inside a run of digits, and possessively: it is always
#: followed by a unit that starts with neither kind of digit, so no match is lost, and a long
#: run of digits costs one pass instead of one per position, which was quadratic)
_N = r"(?:(?<!\d)\d++|(?<![一二三四五六七八九十半数])[一二三四五六七八九十半数]++)"

#: Violent verbs in a form that announces the speaker's intent (「刺すぞ」「殴ったろか」
#: 「燃やしてやる」「しばきに行く」「埋められたいのか」), and stock intimidating phrases
#: (「ただで済むと思うな」「夜道に気をつけろ」「家は知ってる」).  Verbs whose plain forms are
#: everyday ward words (燃やすごみ, 埋め立て, 轢かれそうになった) count only with an
#: intent ending; passive forms (殴られた, 刺された) are the writer's own experience and do
#: not count, except as a dare (「殴られたいのか」).  Pooling dozens of rare words into one
#: feature lets the model weigh a threat it has seen few times in the corpus.
_INTENT_ENDINGS = r"ぞ|ぜ|からな|て?やる|て?やろ|て?まう|た(?:る|ろ)|ちゃ(?:る|ろ)|に(?:行|い)く|れたい"
_INTENT = f"(?:{_INTENT_ENDINGS})"
#: verbs that name violence and little else also count in a polite future (「突き落としますよ」)
_INTENT_OR_POLITE = f"(?:{_INTENT_ENDINGS}|ます(?!か))"
_VIOLENT_VERBS = (
    "殺(?:す|し|さ)", "ぶっ殺(?:す|し|さ)", "ぶち殺(?:す|し|さ)", "殴(?:る|っ|り|ら)", "ぶん殴(?:る|っ|り|ら)",
    "ぶっ殴(?:る|っ|り|ら)", "しば(?:く|い|き|か)", "しばき(?:回|まわ|倒|あげ)(?:す|し)", "どつ(?:く|い|き|か)",
    "どつき(?:回|まわ)(?:す|し)", "ぶち(?:回|まわ)(?:す|し)", "ぶっ飛ば(?:す|し|さ)", "ぶちのめ(?:す|し|さ)",
    "叩きのめ(?:す|し|さ)", "ボコ(?:る|っ|ら|ボコにし)", "ぼこ(?:る|っ|ら|ぼこにし)", "蹴(?:る|っ|ら)",
    "張り倒(?:す|し|さ)", "はり倒(?:す|し|さ)", "はったお(?:す|し|さ)", "突き落と(?:す|し|さ)", "へし折(?:る|っ|り|ら)",
    "かち割(?:る|っ|り|ら)", "シメ(?:る)?", "いわ(?:す|し)",
    "吹っ飛ば(?:す|し|さ)", "ふっ飛ば(?:す|し|さ)", "吹き飛ば(?:す|し|さ)",
    # the same verbs typed in kana (「なぐったろか」「シバいたろか」「ドツいたる」), and making a
    # clerk cry as a menace (「帰り道で泣かしたろか」)
    "なぐ(?:る|っ|り|ら)", "ぶんなぐ(?:る|っ|り|ら)", "ぶっなぐ(?:る|っ|り|ら)", "シバ(?:く|い|き|か)",
    "ドツ(?:く|い|き|か)", "泣か(?:す|し)",
    # a bomb announced politely is still a bomb threat (「庁舎に爆発物を仕掛けます」)
    "爆破(?:す|し|さ)", *(f"{w}(?:を)?(?:仕掛け|しかけ|置き|設置し)(?:る)?" for w in ("爆弾", "爆発物")),
)
#: verbs with everyday senses too (傘を差す is not 刺す, but 蜂に刺す is; 埋める, 燃やす, 潰す)
_THREAT_VERBS = (
    "ころ(?:す|し(?=て|た))", "刺(?:す|し)", "ぶっ刺(?:す|し)", "埋め(?:る)?", "沈め(?:る)?", "燃や(?:す|し)",
    "潰(?:す|し)", "つぶ(?:す|し)",
    "轢(?:く|い|か)", "撃(?:つ|ち|た)", "火(?:を)?(?:つけ|付け|点け|放っ)", "浮かべ(?:る)?",
    # dousing with fuel or acid (「区役所に灯油まいたる」「硫酸かけるぞ」), not 灯油をまいてしまった; a
    # firebomb thrown (「火炎瓶投げ込むぞ」), not 火炎瓶が投げ込まれる事件
    *(f"{w}(?:を)?(?:撒|ま|ぶちま|ぶっかけ|かけ|掛け|浴びせ)(?:い|き|く|け|る)?"
      for w in ("灯油", "ガソリン", "硫酸", "塩酸", "劇薬", "シンナー")),
    *(f"{w}(?:を)?(?:投げ|なげ|放り)(?:込|こ)?(?:む|み|ん)?" for w in ("火炎瓶", "火炎びん")),
)
_THREAT_PHRASES = (
    "刺し殺", "殴り殺", "撃ち殺", "ぶっ殺", "ぶち殺", "コロ(?:ス|シテ|シタ)", "ブッコロ", "ブチコロ", "放火して",
    "ぶっころ", "ぶちころ", "タコ殴り", "タコなぐり", "袋叩き",
    # 殺す in Okinawan (「たっくるすよ」「まじくるすからね」)
    "くるす(?=よ|ぞ|から|さ|ね)",
    # a knife emoji aimed at someone (「次会ったら🔪」「全員これな🔪🔪」)
    "\U0001f52a",
    "痛い目(?:に)?(?:あ|遭|見|み)", "ただ(?:で|じゃ)(?:は)?(?:済|すま|すむ|おか)",
    "タダ(?:で|じゃ)(?:は)?(?:済|すま|すむ|おか)",
    "無事で(?:済|すむ|いられ|帰れ)", "覚悟(?:しろ|しとけ|しとき|せえ|せい|しておけ)", "首(?:を)?洗って",
    "後悔(?:させ|するぞ|すんぞ)", "夜道(?:に|には|は|では)?(?:気|注意)", "背後に気", "後ろ(?:に(?:は)?気|見て歩)",
    "どうなっても(?:知ら|しら|いい)", "覚え(?:と(?:け|き)|てろ|ておけ)", "おぼえ(?:と(?:け|き)|てろ|ておけ)",
    "顔(?:は|を)?(?:覚え|おぼえ)た",
    *(f"{w}(?:は|も|どこか)?(?:知って|分かって|わかって|調べ)" for w in ("家", "住所", "自宅", "学校")),
    # a home tracked down, said as a menace (「家どこか突き止めたから」), not 発生源の家を突き止めました
    *(f"{w}(?:を|は|も|どこか)?(?:突き止め|つきとめ)(?:た(?:から|ぞ|ぜ|で(?!す)|けん|けぇ|ろ)|てやる|てある|とる|といた)"
      for w in ("家", "住所", "自宅", "学校")),
    "待ち伏せ", "帰り道(?:に|は)?気", "命の保証",
    # 血を見るぞ / 血ぃ見んで, not 採血で血を見ると倒れる
    "血(?:を|ぃ)?見(?:る(?:ぞ|ぜ|で|ど|からな|ことに)|んで|んぞ|せ(?:たる|たろ|てやる|るぞ))",
    "月夜ばかり", "お礼参り",
    # a bare 殺す that ends the message (「窓口の女 殺す」「殺す。」): every such corpus and
    # held-out message is a threat; inside 「」 it is a quoted one
    "殺す(?=\\W*$)",
    # so does a bare 殴る / 蹴る / 刺す that ends the message or a sentence (「受付のチビ ブン殴る」
    # 「いつか刺す。」): no corpus or held-out message that is not harassment has one unquoted
    "殺す(?=[。!」』])", "殴る(?=[。!」』]|\\W*$)",
    "なぐる(?=[。!」』]|\\W*$)", "蹴る(?=[。!」』]|\\W*$)", "刺す(?=[。!」』]|\\W*$)",
    # waiting for a clerk at the back door or on the way home, asking when a clerk's shift ends
    *(f"{w}で待(?:っ|ち)" for w in ("裏口", "通用口", "帰り道", "出口")), "出て(?:く|来)るまで待",
    *(f"{w}(?:は|って)?何時" for w in ("上がり", "仕事終わり", "退勤")), "何時(?:上がり|に上が[るりれ])",
    # a bomb said to be already planted (「爆弾を仕掛けた」「爆発物を仕掛けてあります」)
    *(f"{w}(?:を)?(?:仕掛け|しかけ|置い|設置し)(?:た|てあ|ており|ておい|ておき|てござ|といた)"
      for w in ("爆弾", "爆発物")),
    "くらすぞ", "いてこま", "いても(?:う)?た(?:ろ|る)", "いてまうぞ",
)
_THREAT_ENTRIES = (
    *(v + _INTENT_OR_POLITE for v in _VIOLENT_VERBS), *(v + _INTENT for v in _THREAT_VERBS), *_THREAT_PHRASES,
)


def _alternation(entries: Sequence[str], what: str) -> str:
    """One group of alternatives.  Every entry starts with a literal character: then the regex
    engine knows the characters a match can start with and skips ahead to them, and at each such
    position an alternative whose first character differs fails at once (grouping the entries by
    first character by hand was measured slower: 6.6 against 5.9 µs per corpus text)."""
    for e in entries:
        if e[0] in "\\()[]?*+|.^${}":
            raise ValueError(f"{what} entry must start with a literal character: {e!r}")
    return "(?:" + "|".join(entries) + ")"


_THREAT = _alternation(_THREAT_ENTRIES, "a threat")
#: Insults and curses aimed at a person (「能無し」「ドアホ」「氏んでください」), pooled like the threats so
#: that a rare one counts as much as a common one.  Words with everyday senses count only in
#: the insulting form: not バカ高い or 馬鹿にされた (the writer's own experience), not カスタマー,
#: not 母がボケてきた, and ゴミ only as a label for a person (ゴミ職員), never the ward's rubbish.
_INSULT_ENTRIES = (
    "バカ(?!に[さしすせ]|高|でか|正直|丁寧)", "馬鹿(?!に[さしすせ]|高|でか|正直|丁寧)", "ばか(?![りさにし])",
    "アホ", "あほ(?!う)", "ボケ(?![てたるな始])", "クズ", "カス(?![ァ-ヺー])", "ゲス", "ボンクラ", "ぼんくら",
    *(f"ゴミ{w}" for w in ("職員", "役人", "公務員", "ども", "野郎", "人間")),
    *(f"クソ{w}" for w in ("職員", "役人", "公務員", "野郎", "ババア", "ジジイ", "女", "男", "ガキ")),
    "無能", "能無し", "役立たず", "ポンコツ", "低能", "脳みそ", "間抜け", "マヌケ", "まぬけ", "のろま", "ノロマ",
    "給料泥棒", "税金泥棒", "給料ドロボ", "税金ドロボ", "ブス", "デブ", "ハゲ", "ババア", "ババァ", "ばばあ",
    "ジジイ", "ジジィ", "じじい", "くたばれ", "くたばっちま", "消えろ", "失せろ", "うせろ", "死ね",
    "死んで(?:くれ|ください|しまえ|詫び)", "死んじまえ", "頭(?:が)?(?:おかしい|わるい|悪い|沸いて|湧いて)",
)
_INSULT = _alternation(_INSULT_ENTRIES, "an insult")

#: quoted: inside 「…」 or 『…』 (a closing bracket comes, within 200 characters, before any opening
#: one: unbounded, the look-ahead scanned to the end of the text at every threat, quadratic in a
#: text that repeats one; the bound changes no corpus or held-out text's count), or reported
#: without brackets (「…覚えてろよって言われた」「…火つけたろかと怒鳴って」)
_QUOTED = r"[^「」『』]{0,200}[」』]|[^。!?]{0,4}?(?:って|と)(?:言|い[っわうえ]|怒鳴|どな|叫|脅|書|凄|すご|わめ)"

#: Signals and counter-signals named by the policy.  Each is a regex over normalised text;
#: its feature value is log(1 + number of matches).
SIGNALS: dict[str, re.Pattern[str]] = {
    # counter-signals: lawful escalation is a complaint's right, not harassment
    "lawful_escalation": re.compile(
        r"情報公開|開示請求|監査請求|審査請求|不服申(?:し)?立|行政不服|議員|区議会|議会に|弁護士|法テラス|"
        r"オンブズ|報道機関|新聞社|マスコミ|行政相談|訴訟|裁判所|消費生活センター|人権擁護|法務局"
    ),
    # quoted speech (staff notes quoting customers, bystanders quoting others)
    "quoted_speech": re.compile(r"「[^「」]{1,120}」|『[^『』]{1,120}』"),
    # third-person incident records written by staff
    # (normalised text is lower case, so the upper-case "TEL" this pattern once listed never
    # matched; it is left out rather than made "tel", which e-mail signatures carry)
    "staff_note": re.compile(
        r"(?=[来架相申当対所係録男女退1警])(?:来庁者|架電者|相談者|申出者|当該者|来所者|来訪者|対応者|所属長|"
        r"係長同席|録音告知|(?:男性|女性)\(\d0代|(?:男性|女性)\d0代|退去を求め|110番|警備員)"
    ),
    # durations and counts: evidence of holding staff or repetition
    # (the next three start with a lookahead on their possible first characters, which lets
    # the regex engine skip ahead; tests check they match exactly what the plain forms
    # 「N時間…|N分…|閉庁…」 etc. match)
    "duration": re.compile(
        rf"(?=[\d一二三四五六七八九十半数閉])(?:{_N}(?:時間(?:以上|近く|超|半)?|分(?:以上|間))|閉庁(?:後|時間))"
    ),
    "repetition": re.compile(
        rf"(?=[\d一二三四五六七八九十半数何毎連繰])(?:{_N}(?:回目|通目|度目|回も)|何(?:度|回)も|毎日|連日|繰り返し)"
    ),
    "money": re.compile(
        rf"(?=[\d一二三四五六七八九十半数慰賠補弁返])(?:{_N}(?:万円|億|千万)|慰謝料|賠償|補償|弁償|返金)"
    ),
    "second_person": re.compile(
        r"お前|おまえ|てめえ|てめー|テメー|貴様|きさま|あんた|おどれ|おどりゃ|われ(?=[はがもな])"
    ),
    "personal_target": re.compile(
        r"クビ|懲戒|処分しろ|処分を求め|辞めさせ|辞めろ|異動させ|個人(?:の)?(?:携帯|電話|連絡先|住所)|自宅"
    ),
    "bystander": re.compile(
        r"怖かった|見かけ|目撃|他の(?:来庁者|利用者|お客|人)|隣の(?:人|窓口|男性|女性)"
        r"|別の(?:男性|女性|人|来庁者)|後ろの(?:人|男性|女性)"
    ),
    "exposure": re.compile(
        r"晒|拡散|ネットに|sns|ツイッター|twitter|x\(旧|youtube|ユーチューブ|動画|撮影|写真|炎上|特定"
    ),
    "exclamation": re.compile(r"!|\?!"),
    # a threat in the writer's own words, and one inside 「」 or 『』 (a staff note quoting the
    # customer, or a bystander quoting someone else): see _THREAT
    "threat_phrase": re.compile(rf"{_THREAT}(?!{_QUOTED})"),
    "quoted_threat": re.compile(rf"{_THREAT}(?={_QUOTED})"),
    # an insult in the writer's own words, and one quoted (a staff note, a bystander, a resident
    # quoting what was said to them)
    "insult": re.compile(rf"{_INSULT}(?!{_QUOTED})"),
    "quoted_insult": re.compile(rf"{_INSULT}(?={_QUOTED})"),
    # counter-signals: a resident's grievance as a staff record names it (「…と抗議」「立腹」), and an
    # error of the office's own (入力誤り, 二重登録, 案内漏れ): both mark a complaint, not an inquiry
    "grievance_report": re.compile(
        r"苦情|抗議|立腹|憤慨|不満|叱(?:り|責)|納得(?:でき|いか|いき)(?:ない|ず|ません|かね)"
    ),
    "office_error": re.compile(
        r"誤(?:り|っ|記|送|配|案内|登録|入力|請求|交付)|間違(?:い|え|っ)|まちが(?:い|え|っ)|手違い|不備|"
        r"(?:記載|入力|案内|送付|連絡|更新|登録)(?:漏れ|もれ)|二重(?:登録|予約|請求|徴収|払い)"
    ),
}


#: For the signals whose regex is slow to scan (lookaheads, number runs) or rarely matches:
#: literals one of which every match contains.  A text with none of them has no match, and the regex is not run.
#: (tests check every match on the corpus and on generated text contains one of them)
SIGNAL_GATES: dict[str, tuple[str, ...]] = {
    "staff_note": ("者", "所属長", "係長同席", "録音告知", "0代", "退去を求め", "110番", "警備員"),
    "duration": ("時間", "分以上", "分間", "閉庁"),
    "repetition": ("回目", "通目", "度目", "回も", "度も", "毎日", "連日", "繰り返し"),
    "money": ("万円", "億", "千万", "慰謝料", "賠償", "補償", "弁償", "返金"),
    # the next ones are plain alternations, but most texts match none of them and one or two
    # substring tests are cheaper than a regex scan of the whole text.  (second_person,
    # personal_target and bystander had gates of 7-10 substrings too: their regexes scan a
    # corpus text faster than the substring tests did, 1.1-1.4 µs less each, so they have none.)
    "quoted_speech": ("「", "『"),
    "exclamation": ("!",),
    # (its regex can start at ま, 不 or 二: seven substring tests cost 1.3 µs a corpus text, the scan 5)
    "office_error": ("誤", "違", "まちが", "不備", "漏れ", "もれ", "二重"),
}

#: Signals whose every match is a match of a shared pattern: the shared pattern is searched
#: once per text, and when it finds nothing the signals' own (costlier) regexes are not run.
#: Both threat signals are the threat pattern plus a look at what follows it; one search
#: replaces two scans for the many texts without a threat.
_THREAT_RE = re.compile(_THREAT)
_INSULT_RE = re.compile(_INSULT)
_PRESCAN: dict[str, re.Pattern[str]] = {
    "threat_phrase": _THREAT_RE, "quoted_threat": _THREAT_RE, "insult": _INSULT_RE, "quoted_insult": _INSULT_RE,
}

_Gated = tuple[re.Pattern[str], tuple[str, ...], "re.Pattern[str] | None"]
_GATED: dict[str, _Gated] = {
    name: (pattern, SIGNAL_GATES.get(name, ()), _PRESCAN.get(name)) for name, pattern in SIGNALS.items()
}
_GATED_SIGNALS: tuple[_Gated, ...] = tuple(_GATED.values())


def signal_counts(text: str) -> list[int]:
    """Number of matches of every :data:`SIGNALS` pattern in normalised ``text``, in order."""
    return _counts(text, _GATED_SIGNALS)


def _counts(text: str, gated: Sequence[_Gated]) -> list[int]:
    """Match counts of the ``gated`` signals (entries of ``_GATED``) in normalised ``text``."""
    out = []
    found: dict[int, bool] = {}  # by id: hashing a Pattern hashes its whole compiled program
    for pattern, gates, prescan in gated:
        if gates:
            for g in gates:
                if g in text:
                    break
            else:
                out.append(0)
                continue
        if prescan is not None:
            hit = found.get(id(prescan))
            if hit is None:
                hit = found[id(prescan)] = prescan.search(text) is not None
            if not hit:
                out.append(0)
                continue
        out.append(len(pattern.findall(text)))
    return out


def signals_digest() -> str:
    """SHA-256 (first 16 hex digits) of every signal's name and pattern: part of a model's version."""
    spec = "\n".join(f"{name}\t{pattern.pattern}" for name, pattern in SIGNALS.items())
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:16]


def signal_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield ``(signal name, start, end)`` for every signal match in normalised ``text``."""
    for name, pattern in SIGNALS.items():
        for m in pattern.finditer(text):
            yield name, m.start(), m.end()


def _word_ngrams(tokens: Sequence[str], lo: int, hi: int) -> Iterator[str]:
    n_tok = len(tokens)
    for n in range(lo, hi + 1):
        for i in range(n_tok - n + 1):
            yield "w:" + " ".join(tokens[i : i + n])


def _char_ngrams(text: str, lo: int, hi: int) -> Iterator[str]:
    t = text
    for n in range(lo, hi + 1):
        for i in range(len(t) - n + 1):
            yield "c:" + t[i : i + n]


@dataclass(frozen=True, eq=False)
class _NgramTable:
    """Sorted integer keys of n-grams over small integer ids (0 = not in any feature).

    An n-gram of ids ``a b c`` has key ``(a * base + b) * base + c``; ids start at 1, so keys
    of different lengths never collide, and an n-gram that contains a 0 anywhere but at its
    start has a key no feature has (so documents can be laid end to end with a 0 between them).
    """

    base: int
    keys: np.ndarray
    cols: np.ndarray
    #: every feature longer than the shortest n-gram counted has its prefix one symbol shorter
    #: as a feature too (true of every vocabulary :meth:`TextFeaturizer.fit` keeps: a prefix is
    #: in at least as many documents and sorts first), so a missing n-gram ends longer ones
    prefix_closed: bool = False
    #: the same keys in the C accelerator's hash table: (slots, bits)
    hashed: tuple[bytes, int] | None = None

    @classmethod
    def build(cls, grams: Sequence[tuple[Sequence[int], int]], base: int, max_n: int, min_n: int = 1) -> _NgramTable:
        if max_n >= 1 and base ** max_n >= 2**63:
            raise ValueError(
                f"{base - 1} distinct symbols are too many for {max_n}-gram integer keys; "
                "lower max_features or the n-gram range"
            )
        keys = np.empty(len(grams), dtype=np.int64)
        cols = np.empty(len(grams), dtype=np.int32)
        longer = np.zeros(len(grams), dtype=bool)
        for i, (ids, col) in enumerate(grams):
            k = 0
            for x in ids:
                k = k * base + x
            keys[i] = k
            cols[i] = col
            longer[i] = len(ids) > min_n
        order = np.argsort(keys, kind="stable")
        keys, cols = keys[order], cols[order]
        prefixes = keys[longer[order]] // base
        closed = bool(len(keys)) and bool(np.isin(prefixes, keys).all())
        hashed = _speedups.build_table(keys, cols) if _speedups is not None else None
        return cls(base, keys, cols, closed, hashed)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``keys`` of the keys that are features, and their columns."""
        if not len(keys) or not len(self.keys):
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int32)
        # searching sorted needles is several times faster than random ones
        order = np.argsort(keys)
        k = keys[order]
        pos = np.searchsorted(self.keys, k)
        pos[pos == len(self.keys)] = 0
        hit = self.keys[pos] == k
        return order[hit], self.cols[pos[hit]]

    def lookup(self, ids: np.ndarray, starts: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of every known ``lo..hi``-gram in documents laid end to end.

        ``ids`` holds the symbols of all documents with one 0 after each document;
        ``starts[d]`` is the position where document d begins.  N-grams never cross a
        document boundary (they would contain the 0).
        """
        total = len(ids)
        nothing = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        if total == 0 or not len(self.keys):
            return nothing
        # an n-gram starting on a 0 would share its key with the (n-1)-gram after the 0
        starts_ok = ids != 0
        key = np.zeros(total, dtype=np.int64)
        needles: list[np.ndarray] = []
        where: list[np.ndarray] = []
        for n in range(1, hi + 1):
            m = total - n + 1
            if m <= 0:
                break
            key = key[:m] * self.base + ids[n - 1 :]
            if n < lo:
                continue
            sel = np.flatnonzero(starts_ok[:m])
            needles.append(key[sel])
            where.append(sel)
        if not needles:
            return nothing
        k = np.concatenate(needles) if len(needles) > 1 else needles[0]
        pos, cols = self.find(k)
        at = (np.concatenate(where) if len(where) > 1 else where[0])[pos]
        rows = np.searchsorted(starts, at, side="right") - 1 if len(starts) > 1 else np.zeros(len(at), dtype=np.int64)
        return rows, cols


@dataclass(frozen=True, eq=False)
class _FastIndex:
    """Integer lookup tables for :meth:`TextFeaturizer.transform`, derived from the vocabulary."""

    lemma_ids: dict[str, int]
    words: _NgramTable
    char_lut: np.ndarray  # code point -> alphabet id (1-based); 0 beyond the table or not in it
    chars: _NgramTable
    signal_cols: tuple[int, ...]
    signal_names: tuple[str, ...]

    @classmethod
    def build(cls, vocabulary: dict[str, int], word_range: tuple[int, int], char_range: tuple[int, int]) -> _FastIndex:
        word_feats = [(f[2:].split(" "), j) for f, j in vocabulary.items() if f.startswith("w:")]
        char_feats = [(f[2:], j) for f, j in vocabulary.items() if f.startswith("c:")]
        lemmas = sorted({t for toks, _ in word_feats for t in toks})
        lemma_ids = {t: i + 1 for i, t in enumerate(lemmas)}
        words = _NgramTable.build([([lemma_ids[t] for t in toks], j) for toks, j in word_feats],
                                  len(lemmas) + 1, word_range[1], word_range[0])
        alphabet = sorted({ch for body, _ in char_feats for ch in body})
        char_id = {ch: i + 1 for i, ch in enumerate(alphabet)}
        chars = _NgramTable.build([([char_id[ch] for ch in body], j) for body, j in char_feats],
                                  len(alphabet) + 1, char_range[1], char_range[0])
        codes = np.asarray([ord(c) for c in alphabet], dtype=np.int64)
        lut = np.zeros(int(codes.max()) + 2 if len(codes) else 1, dtype=np.int32)
        lut[codes] = np.arange(1, len(codes) + 1, dtype=np.int32)
        # the signals the featuriser was fitted with (a model fitted before a signal was added
        # goes on without it)
        signal_names = tuple(s for s in SIGNALS if f"s:{s}" in vocabulary)
        signal_cols = tuple(vocabulary[f"s:{s}"] for s in signal_names)
        return cls(lemma_ids, words, lut, chars, signal_cols, signal_names)

    def char_ids(self, codepoints: np.ndarray) -> np.ndarray:
        """Alphabet id (1-based) of each code point; 0 for characters in no feature."""
        return self.char_lut[np.minimum(codepoints, len(self.char_lut) - 1)].astype(np.int64)


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Raw text → sparse TF-IDF features (word lemma n-grams, char n-grams, signals).

    Parameters
    ----------
    tokenizer : JapaneseTokenizer, default=None
        Word splitter; ``None`` means ``JapaneseTokenizer()``.
    word_ngram_range : tuple of int, default=(1, 2)
    char_ngram_range : tuple of int, default=(2, 4)
        Character n-grams over the normalised text (spaces included).
    min_df : int, default=2
        Keep only n-grams seen in at least this many training documents.
    max_features : int or None, default=200_000
        Keep the most frequent n-grams (by document frequency) up to this number.
    sublinear_tf : bool, default=True
        Use ``1 + log(tf)`` term frequencies.
    use_signals : bool, default=True
        Append the :data:`SIGNALS` features.
    signal_weight : float, default=0.3
        Scale of the signal block relative to the unit-norm n-gram blocks.
    signal_scales : mapping of str to float, default=None
        Extra factor for single signals (name → factor, 1 for the others): a signal that pools
        many rare words (``threat_phrase``) needs a larger value than the regularised weights
        of the common ones.
    char_weight : float, default=1.0
        Scale of the character n-gram block (the word block has norm 1).
    """

    def __init__(
        self,
        *,
        tokenizer: JapaneseTokenizer | None = None,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 4),
        min_df: int = 2,
        max_features: int | None = 200_000,
        sublinear_tf: bool = True,
        use_signals: bool = True,
        signal_weight: float = 0.3,
        signal_scales: dict[str, float] | None = None,
        char_weight: float = 1.0,
    ) -> None:
        self.tokenizer = tokenizer
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.use_signals = use_signals
        self.signal_weight = signal_weight
        self.signal_scales = signal_scales
        self.char_weight = char_weight

    # -- helpers ---------------------------------------------------------------
    def _tok(self) -> JapaneseTokenizer:
        return self.tokenizer if self.tokenizer is not None else JapaneseTokenizer()

    def _grams(self, norm: str, tok: JapaneseTokenizer) -> tuple[Counter[str], Counter[str]]:
        words = Counter(_word_ngrams(tok(norm), *self.word_ngram_range))
        chars = Counter(_char_ngrams(norm, *self.char_ngram_range))
        return words, chars

    @staticmethod
    def _check_texts(raw: object) -> list[str]:
        if isinstance(raw, str):
            raise ValueError("expected an iterable of texts, got a single string; wrap it in a list")
        texts = list(raw)  # type: ignore[call-overload]
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text at position {i} is {type(t).__name__}, expected str")
        return texts

    # -- sklearn API -----------------------------------------------------------
    def fit(self, raw_documents: Iterable[str], y: object = None) -> TextFeaturizer:
        unknown = sorted(set(self.signal_scales or {}) - set(SIGNALS))
        if unknown:
            raise ValueError(f"signal_scales names unknown signals {unknown}; the signals are {sorted(SIGNALS)}")
        texts = self._check_texts(raw_documents)
        norms = [normalize_text(t) for t in texts]
        tok = clone(self._tok()).fit(norms)  # learns the lemma table in lookup mode
        df: Counter[str] = Counter()
        for t in norms:
            words, chars = self._grams(t, tok)
            df.update(words.keys())
            df.update(chars.keys())
        kept = [(f, c) for f, c in df.items() if c >= self.min_df]
        kept.sort(key=lambda fc: (-fc[1], fc[0]))
        if self.max_features is not None:
            kept = kept[: self.max_features]
        kept.sort(key=lambda fc: fc[0])
        names = [f for f, _ in kept]
        n_docs = len(texts)
        idf = [math.log((1 + n_docs) / (1 + c)) + 1.0 for _, c in kept]
        if self.use_signals:
            names += [f"s:{s}" for s in SIGNALS]
            idf += [1.0] * len(SIGNALS)
        self.vocabulary_ = {f: i for i, f in enumerate(names)}
        self.idf_ = np.asarray(idf, dtype=np.float64)
        self.n_ngram_features_ = len(kept)
        self.tokenizer_ = tok
        return self

    # -- the vocabulary: a dict after fit; one packed string after loading ---------------
    # A loaded model keeps its 200,000 feature names as one string ("name\nname\n…") and
    # never holds them as a dict of Python strings (about 28 MB of a server's memory):
    # ``vocabulary_`` is then rebuilt on each access, the lookup tables are built from it
    # once, and evidence spans read single names through :meth:`feature_name`.
    @property
    def vocabulary_(self) -> dict[str, int]:
        """Feature name → column.  On a loaded featuriser this builds a new dict on every
        access (about 0.1 s): keep it off per-message paths (use :meth:`feature_name`)."""
        vocab = self.__dict__.get("_vocabulary")
        if vocab is not None:
            return vocab
        packed = self.__dict__.get("_names_packed")
        if packed is None:
            raise AttributeError("'TextFeaturizer' object has no attribute 'vocabulary_' (not fitted)")
        return {f: i for i, f in enumerate(packed.split("\n"))}

    @vocabulary_.setter
    def vocabulary_(self, value: dict[str, int]) -> None:
        for key in ("_names_packed", "_index_cache", "_name_offsets"):
            self.__dict__.pop(key, None)
        self.__dict__["_vocabulary"] = value

    def _vocabulary_source(self) -> object:
        """The object the vocabulary lives in (dict or packed string): the key of derived caches."""
        src = self.__dict__.get("_vocabulary")
        return src if src is not None else self.__dict__.get("_names_packed")

    def feature_name(self, j: int) -> str:
        """Name of feature column ``j`` (``w:…``, ``c:…`` or ``s:…``)."""
        packed = self.__dict__.get("_names_packed")
        if packed is None:
            cached = self.__dict__.get("_name_list")
            if cached is None or cached[0] is not self.vocabulary_:
                cached = (self.vocabulary_, list(self.get_feature_names_out()))
                self.__dict__["_name_list"] = cached
            return str(cached[1][j])
        off = self.__dict__.get("_name_offsets")
        if off is None:
            breaks = np.flatnonzero(np.frombuffer(packed.encode("utf-32-le"), dtype=np.uint32) == 10)
            off = np.concatenate(([0], breaks + 1, [len(packed) + 1]))
            self.__dict__["_name_offsets"] = off
        return packed[int(off[j]) : int(off[j + 1]) - 1]

    # -- compact persistence: the vocabulary travels as one string, not a dict ----------
    def __getstate__(self) -> dict[str, object]:
        state = dict(super().__getstate__())
        for cache in ("_index_cache", "_name_list", "_name_offsets"):
            state.pop(cache, None)
        vocab = state.pop("_vocabulary", None)
        packed = state.pop("_names_packed", None)
        if vocab is not None:
            packed = "\n".join(sorted(vocab, key=vocab.__getitem__))
        if packed is not None:
            state["feature_names_packed_"] = packed
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        state = dict(state)
        packed = state.pop("feature_names_packed_", None)
        super().__setstate__(state)
        if packed is not None:
            self.__dict__["_names_packed"] = str(packed)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "idf_", msg="The text featurizer is not fitted")
        packed = self.__dict__.get("_names_packed")
        if packed is not None:
            return np.asarray(packed.split("\n"), dtype=object)
        vocab = self.vocabulary_
        names = np.empty(len(vocab), dtype=object)
        for f, i in vocab.items():
            names[i] = f
        return names

    def _index(self) -> _FastIndex:
        """Integer lookup tables derived from the vocabulary (not saved; built on first use)."""
        cached = self.__dict__.get("_index_cache")
        src = self._vocabulary_source()
        if cached is None or cached[0] is not src:
            index = _FastIndex.build(self.vocabulary_, tuple(self.word_ngram_range), tuple(self.char_ngram_range))
            cached = (src, index)
            self.__dict__["_index_cache"] = cached
        return cached[1]

    def _block(self, rows: np.ndarray, cols: np.ndarray, n_docs: int, scale: float) -> tuple[np.ndarray, ...]:
        """Count (row, col) pairs into TF-IDF values, L2-normalised per row to ``scale``."""
        if not len(cols):
            return rows, cols, np.zeros(0)
        n_cols = np.int64(len(self.idf_))
        key, tf = np.unique(rows * n_cols + cols, return_counts=True)
        r, c = np.divmod(key, n_cols)
        v = (1.0 + np.log(tf)) if self.sublinear_tf else tf.astype(np.float64)
        v = v * self.idf_[c]
        norm = np.sqrt(np.bincount(r, weights=v * v, minlength=n_docs))
        v *= scale / norm[r]
        return r, c, v

    def _signal_triples(self, norms: Sequence[str], idx: _FastIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every signal feature, sorted by row then column."""
        srows: list[int] = []
        scols: list[int] = []
        svals: list[float] = []
        if self.use_signals:
            scales = getattr(self, "signal_scales", None) or {}  # (models saved before it existed)
            ws = [self.signal_weight * float(scales.get(n, 1.0)) for n in idx.signal_names]
            gated = [_GATED[n] for n in idx.signal_names]  # the signals it was fitted with
            for i, t in enumerate(norms):
                for j, w, k in zip(idx.signal_cols, ws, _counts(t, gated), strict=True):
                    if k:
                        srows.append(i)
                        scols.append(j)
                        svals.append(w * math.log1p(k))
        return (np.asarray(srows, dtype=np.int64), np.asarray(scols, dtype=np.int64),
                np.asarray(svals, dtype=np.float64))

    def _transform_compiled(self, norms: Sequence[str], idx: _FastIndex) -> sp.csr_matrix:
        """The C accelerator's path: the same matrix as :meth:`_transform_numpy`."""
        tok = self.tokenizer_
        pieces = tok.pieces
        words, chars = idx.words, idx.chars
        assert words.hashed is not None and chars.hashed is not None and _speedups is not None
        indptr, indices, data = _speedups.featurize(
            [pieces(t) for t in norms], tok.piece_ids(idx.lemma_ids), norms, idx.char_lut,
            *words.hashed, words.base, *self.word_ngram_range, words.prefix_closed,
            *chars.hashed, chars.base, *self.char_ngram_range, chars.prefix_closed,
            self.idf_, 1.0, float(self.char_weight), bool(self.sublinear_tf),
            *self._signal_triples(norms, idx),
        )
        ptr = np.frombuffer(indptr, dtype=np.int64)
        if ptr[-1] < np.iinfo(np.int32).max:  # what scipy would convert it to, without its checks' cost
            ptr = ptr.astype(np.int32)
        return sp.csr_matrix(
            (np.frombuffer(data, dtype=np.float32), np.frombuffer(indices, dtype=np.int32), ptr),
            shape=(len(norms), len(self.idf_)),
        )

    def _transform_normalised(self, norms: Sequence[str], *, compiled: bool = True) -> sp.csr_matrix:
        idx = self._index()
        # the tables are hashed exactly when the accelerator was importable as they were built
        if compiled and idx.words.hashed is not None and idx.chars.hashed is not None:
            return self._transform_compiled(norms, idx)
        return self._transform_numpy(norms, idx)

    def _transform_numpy(self, norms: Sequence[str], idx: _FastIndex) -> sp.csr_matrix:
        n = len(norms)
        tok = self.tokenizer_
        # word block: lemma ids per document (a 0 after each), n-grams as integer keys
        lemma_ids = idx.lemma_ids
        wl: list[int] = []
        wstarts = np.empty(n, dtype=np.int64)
        for i, t in enumerate(norms):
            wstarts[i] = len(wl)
            wl.extend([lemma_ids.get(x, 0) for x in tok(t)])
            wl.append(0)
        wr, wc = idx.words.lookup(np.asarray(wl, dtype=np.int64), wstarts, *self.word_ngram_range)
        # char block: code points mapped to alphabet ids, a 0 after each document
        cstarts = np.zeros(n, dtype=np.int64)
        if n > 1:
            np.cumsum(np.fromiter(map(len, norms[:-1]), dtype=np.int64, count=n - 1) + 1, out=cstarts[1:])
        cp = np.frombuffer(("\0".join(norms) + "\0").encode("utf-32-le"), dtype=np.uint32)
        cids = idx.char_ids(cp)
        cids[cstarts[1:] - 1] = 0  # the separators, even if "\0" were a feature's character
        cids[-1] = 0
        cr, cc = idx.chars.lookup(cids, cstarts, *self.char_ngram_range)
        parts = [self._block(wr, wc, n, 1.0), self._block(cr, cc, n, self.char_weight)]
        if self.use_signals:
            parts.append(self._signal_triples(norms, idx))
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts]).astype(np.float32)
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return sp.csr_matrix((vals, cols.astype(np.int32), indptr), shape=(n, len(self.idf_)))

    def transform(self, raw_documents: Iterable[str]) -> sp.csr_matrix:
        check_is_fitted(self, "idf_", msg="The text featurizer is not fitted")
        texts = self._check_texts(raw_documents)
        return self._transform_normalised([normalize_text(t) for t in texts])
