"""The committed default model: loads with no flags, matches the data, handles hard cases."""

from __future__ import annotations

import pytest

from complaint_triage import load_triager
from complaint_triage.corpus import corpus_files, data_hash
from complaint_triage.persist import load_model


@pytest.fixture(scope="module")
def triager():
    return load_triager()


def test_default_model_loads_without_flags(triager):
    assert triager.version.startswith("m-")


def test_manifest_matches_data_hash():
    m = load_model()
    assert m.manifest["training_data"]["sha256"] == data_hash(corpus_files()), (
        "the corpus changed since the shipped model was trained: run `make train` and commit models/"
    )


def test_shipped_model_matches_signal_patterns():
    # the signal regexes are code, not saved with the model: changing them changes what the
    # shipped model scores without changing its recorded metrics
    assert load_model().signals_current, (
        "the signal patterns in complaint_triage.features changed since the shipped model was trained: "
        "run `make train` and commit models/"
    )


def test_manifest_records_thresholds_and_metrics():
    m = load_model().manifest
    th = m["thresholds"]
    assert 0 < th["harassment"] < 1 and th["max_false_flag_rate"] <= 0.02
    assert m["metrics"]["test"]["n"] >= 600
    assert m["model_bytes"] < 30 * 1024 * 1024


# Hard negatives (legitimate, even angry, complaints and innocent words): never harassment.
HARD_NEGATIVES = [
    "何度電話しても折り返しがない。いい加減にしてほしい。至急対応を求めます。",
    "回答がなければ区議会議員に相談し、情報公開請求も行います。",
    "この対応はひどいので、自分のブログに経験を書こうと思います。",
    "区の清掃車が私の車のミラーを壊しました。修理費の補償をお願いします。",
    "窓口で男性が職員に怒鳴っていて怖かった。警備を強化してほしい。",
    "区の説明は不誠実だと思います。",
    "聴覚障害があるので筆談でお願いします",
    "責任者と話したいです。前回の説明と今回の説明が違うので、きちんと確認してください。",
    "父の死亡届を出したいのですが、必要な書類を教えてください。",
    "公園の植え込みに蜂の巣があります。駆除をお願いできますか。",
    "燃えるゴミの日に出したのに回収されていません。",
    "夏の体育館は殺人的な暑さです。エアコンを早く直してください。",
    "職員の方に「そんなことも分からないのか」と言われ、とても傷つきました。接遇を改善してください。",
    "区長の保育政策は税金の無駄遣いだと思う。次の選挙では別の候補に入れます。",
    "保育園に落ちた。もう三回目。仕事を辞めろってことですか？本当にふざけないでほしい。",
    "審査請求をしたいので、手続きの方法を教えてください。",
    "この件は弁護士に相談したうえで、改めて正式に抗議いたします。",
    # the verbs of a threat in ordinary ward business (session 11)
    "燃やすごみの日を教えてください",
    "公園で子どもが蜂に刺されました。巣の駆除をお願いします",
    "横断歩道で車に轢かれそうになりました。信号の時間を見直してください",
    "近所の人に「家に火つけたろか」と言われて怖いです。どこに相談すればいいですか",
    # bystander reports that quote a threat or a posting of staff (session 12: the bystander head)
    "区役所の前で男性が職員さんに「殺すぞ」と叫んでいました。怖かったです。警備を増やしてください。",
    "ネットで職員さんの実名と顔写真が晒されています。削除依頼をしてあげてください。",
    # look-alikes of the session-16 threats
    "ビルの爆破解体の騒音がひどいので作業時間を守らせてください",
    "まあ仕方ないしね。また電話します",
    # look-alikes of the session-17 insults and threats
    "カスタマーハラスメントの相談窓口はどこですか",
    "手数料がバカ高いと思います。見直してください",
    "窓口で馬鹿にされたような気がして悲しかったです",
    "母がボケてきたので介護認定の申請をしたい",
    "台風で看板が吹き飛ばされた。危ないので撤去してほしい",
    # session 25 (acceptance test): the writer's anger measured in a violent verb, aimed at mosquitoes
    "ぶっ殺したくなるほど腹が立つ蚊の多さです。公園の水たまりを何とかしてください。",
    "公園の蚊がひどい。全部ぶっ殺したいくらいです。水たまりを何とかしてください。",
    # the re-read's look-alikes of the session-25 threat phrases
    "知り合いに怖い話を聞いたので、夜道の街灯を増やしてほしい",
    "その筋の方に聞いたところ、この工事は違法だそうです。調べてください",
    "区は私の住所を知っているからなおさら腹が立つ",
    "自治会の組の若い衆が祭りの準備で騒いでうるさい",
]

# Obfuscated and indirect harassment: must be flagged.
POSITIVES = [
    ("窓口のババア、ﾀﾋね", "abusive_language"),
    ("お前ら全員 し ね 税金ドロボー", "abusive_language"),
    ("次に行ったらコ○スからな", "threat"),
    ("殺.すぞ、覚えとけ", "threat"),
    ("来庁者が「殺すぞ」と怒鳴り、机を叩いた。", "threat"),
    ("担当者の名前と顔写真をSNSで晒してやる。拡散して炎上させるからな", "sns_harassment"),
    ("担当の○○氏を懲戒処分とし、その結果を本日中に文書で報告してください。"
     "あわせて慰謝料として金100万円をお支払いください。", "excessive_demand"),
    ("来庁者が「土下座しろ」と要求し、退去を求めるも応じず約3時間居座った。110番通報。", "other_illegal"),
    ("窓口のあの子かわいいね。仕事終わるの何時？駐車場で待ってるから連絡先教えてよ", "other_improper"),
    # bare threats in plain words, without 殺す (session 11: these were scored as inquiries)
    ("刺すぞ", "threat"),
    ("ぶん殴るぞ", "threat"),
    ("しばくぞコラ", "threat"),
    ("沈めたろか", "threat"),
    ("家族がどうなってもいいんだな", "threat"),
    ("ただで済むと思うなよ", "threat"),
    # threats that only look like reports: the bystander discount must spare them (session 12)
    ("知り合いが「あの職員、帰り道で刺してやる」って言ってたぞ。俺は止めないけどな。", "threat"),
    ("近所の連中があんたの名前と顔をネットに晒すって盛り上がってるよ。早く対応したほうが身のためだね。", "threat"),
    # one-line threats and curses (session 16: a polite bomb threat was an inquiry, bare しね and
    # ころす were a complaint and an inquiry)
    ("要求が通らなければ、来週区役所を爆破します。", "threat"),
    ("しね", "abusive_language"),
    ("ころす", "threat"),
    ("窓口の女 殺す", "threat"),
    # curses outside the stock forms and plain-form violent verbs (session 17: the insult signal)
    ("窓口の眼鏡、いつかぶん殴る", "threat"),
    ("はよ書類出さんかいカス", "abusive_language"),
    ("完全予約制とか考えた奴、氏んでください", "abusive_language"),
    ("通用口で待っとくわ。何時上がり？", "other_improper"),
    # session 24 (acceptance test): the unspaced curse in running text, 火をつけるぞ, and a clerk's
    # family tracked down (these were inquiries)
    ("区役所の職員全員しね", "abusive_language"),
    ("お前らみんなしねばいい", "abusive_language"),
    ("家に火をつけるぞ。職員の田中の住所は世田谷区池尻1-2-3だ。", "threat"),
    ("お前の子どもがどこの学校に通ってるか知ってるぞ", "threat"),
    # session 25 (acceptance test): zero-width characters between the letters (these were inquiries)
    ("窓口の職員、殺\u200bすぞ", "threat"),
    ("死\u200bね", "abusive_language"),
    ("窓口の\u200b職\u200b員はバ\u200bカ。殺\u200bす\u200bぞ。", "threat"),
    ("殺\x00す\x00ぞ", "threat"),
    ("お前みたいな無能は死ね。家を知っているぞ。", "threat"),
    ("私の知り合いには怖い人たちもいるので、その人たちに相談してもいいんですよ。よく考えて返事を。", "threat"),
    # the sender's contact details around a threat (they took its threat away; 4b #4)
    ("電話０９０－１２３４－５６７８まで。メール ｉｃｈｉｒｏ＠ｅｘａｍｐｌｅ．ｊｐ。\nお前ら無能の給料泥棒。殺すぞ。",
     "threat"),
    ("連絡先 hanako@example.jp 090-1111-2222。お前ら給料泥棒。殺すぞ。", "threat"),
    ("次に同じ対応をされたら、自分でも何をするかわかりません。灯油ならいつでも手に入りますから。\n"
     "電話 03-3412-1111（平日9時〜17時）", "threat"),
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_are_not_harassment(triager, text):
    assert triager.score(text).verdict != "harassment"


@pytest.mark.parametrize(("text", "category"), POSITIVES)
def test_obfuscated_and_indirect_positives(triager, text, category):
    p = triager.score(text)
    assert p.verdict == "harassment"
    assert category in p.categories


def test_compiled_evidence_equals_the_python_reference_on_corpus_texts(triager):
    """The C accelerator's spans are the Python path's, with the shipped model, on 600 corpus
    texts (every 17th) and every category (the whole corpus was compared when it was written)."""
    from complaint_triage.corpus import load_corpus
    from complaint_triage.explain import FeatureRow, _compiled_tables, _spans
    from complaint_triage.features import speedups_available
    from complaint_triage.normalize import normalize_with_map

    if not speedups_available():
        pytest.skip("the C accelerator is not built")
    clf = triager.model.classifier
    assert _compiled_tables(clf.featurizer_) is not None
    texts = [r["text"] for r in load_corpus()][::17][:600]
    X = clf.featurizer_.transform(texts)
    for i, text in enumerate(texts):
        row = FeatureRow.of(X, i)
        norm = normalize_with_map(text).text
        fast = _spans(clf, norm, row.indices, row.data, list(range(7)), compiled=True)
        assert fast == _spans(clf, norm, row.indices, row.data, list(range(7)), compiled=False), text
