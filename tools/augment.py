"""Reproducible augmentation of the hand-written TRAIN split (items marked `augmented`).

    python tools/augment.py          # writes data/corpus/augmented.jsonl

(Other draws, to see how far retraining moves the figures by chance: tools/seed_spread.py.)

Every augmented item keeps `split: "train"`, `source: "augmented"`, an `augmentation` name
and the `group` of the item it came from (so cross-validation keeps them together).
Nothing from dev or test is ever used.  Each item's copies come from a random generator seeded
by the item's id, so adding or dropping a batch changes no other item's copies (with one
generator for the whole corpus, it reshuffled them all, and that alone moved the retrained
model's held-out errors by as much as the batch did).  Kinds:

- obfuscate: insults and threats disguised (死ね → 氏ね/ﾀﾋね/し ね, 殺す → コ○ス/殺.す …)
- width: katakana to half width, ASCII to full width
- typo: a few characters dropped or doubled
- email_wrap: subject, salutation, signature and a quoted earlier reply from the ward
- insert_harassment: a harassment sentence inserted into a legitimate complaint; the labels
  become harassment with the sentence's categories and grievance true
- contact: the sender's name, telephone number, e-mail address or address written before or
  after a message.  In the hand-written train split, harassment carries contact details far
  less often than complaints and inquiries do in the same channel (e-mail 12% against 27% and
  37%, letters 2% against 13% and 24%, voicemail 3% against 29% and 34%), so the model had
  learnt them as a sign of a legitimate message: a phone number added to a threat took its
  threat away.  These copies bring each verdict of those channels to the same share
  (CONTACT_RATES); channels where residents seldom leave contacts (chat, SNS, staff notes,
  web forms, whose form fields hold them) get none.
"""

from __future__ import annotations

import json
import random
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261125

OBFUSCATIONS = {
    "死ね": ["氏ね", "ﾀﾋね", "し ね", "4ね", "市ね", "死 ね", "ｼﾈ", "○ね"],
    "殺す": ["コ○ス", "殺.す", "こ ろ す", "ｺﾛｽ"],
    "殺してやる": ["コ○してやる", "ｺﾛしてやる"],
    "クズ": ["ｸｽﾞ", "ク ズ"],
    "カス": ["ｶｽ"],
    "バカ": ["ﾊﾞｶ", "バ カ", "馬 鹿"],
    "無能": ["無脳", "ﾑﾉｳ"],
    "税金泥棒": ["税金ドロボー", "税金ﾄﾞﾛﾎﾞｰ"],
    "消えろ": ["ｷｴﾛ", "き え ろ"],
}

# (sentence, categories): inserted into legitimate complaints (augmentation seeds, hand-written)
INSERTS = [
    ("対応しないなら担当者の名前と顔をネットに晒すからな。", ["sns_harassment", "threat"]),
    ("お前ら税金で食ってるくせに何様のつもりだ、この給料泥棒。", ["abusive_language"]),
    ("今日中に直さなかったら、どうなっても知らないぞ。", ["threat"]),
    ("担当者をクビにして、処分結果を書面で報告しろ。", ["excessive_demand"]),
    ("慰謝料として500万円を払ってもらう。", ["excessive_demand"]),
    ("窓口の女、名前は覚えたからな。帰り道に気をつけろよ。", ["threat"]),
    ("納得のいく回答があるまで毎日50回でも電話してやる。", ["other_illegal", "excessive_demand"]),
    ("責任者が来て土下座するまで、ここから一歩も動かない。", ["other_illegal"]),
    ("担当の職員の個人の携帯番号と自宅の住所を教えなさい。", ["excessive_demand"]),
    ("無能な職員しかいないなら全員死ねばいい。", ["abusive_language"]),
    ("職員のやり取りは全部録画してあるので、YouTubeで実名付きで公開します。", ["sns_harassment"]),
    ("次に来たときはその顔、二度と見られないようにしてやる。", ["threat"]),
    ("ご家族もいらっしゃるんでしょう。よく考えたほうがいいですよ。", ["threat"]),
    ("区長名の謝罪文を本日中に自宅まで持ってこい。", ["excessive_demand"]),
    ("あの担当の子、かわいいから今度食事に誘っといて。連絡先も教えてよ。", ["other_improper"]),
    ("バカでも分かるように説明しろよ、このアホが。", ["abusive_language"]),
    ("机を叩いて書類を職員に投げつけた。", ["violence"]),
    ("念書を書くまで帰さないからな。", ["other_illegal"]),
    ("女じゃ話にならない、男を出せ。", ["abusive_language"]),
    ("職員が退勤するのを駐車場で待ってるから。", ["other_improper", "threat"]),
]

SUBJECTS = [
    "ご相談", "お問い合わせ", "要望", "【至急】対応のお願い", "先日の件", "ご意見", "Re: 先日のお問い合わせについて"
]
SALUTATIONS = ["世田谷区 ご担当者様\n\n", "担当者様\n\nお世話になっております。\n", "区役所 御中\n\n", ""]
SIGNATURES = [
    "\n\n--\n世田谷 太郎\nTEL 03-0000-0000", "\n\n以上、よろしくお願いいたします。\n山田", "\n\niPhoneから送信", ""
]
#: (channel, verdict) → chance of a contact copy: (R - r) / (1 - R), with r the share of that
#: verdict's hand-written train items of the channel that carry contact details and R the largest
#: such share of the channel, so that with the copies every verdict has about R (measured on the
#: train split of b1-b101; fixed here, so that adding a batch changes no other item's copies)
CONTACT_RATES = {
    ("email", "harassment"): 0.40, ("email", "complaint"): 0.16,
    ("letter", "harassment"): 0.29, ("letter", "complaint"): 0.14,
    ("voicemail", "harassment"): 0.47, ("voicemail", "complaint"): 0.07,
}
#: contact details as residents give them (fictitious numbers and example.jp addresses)
CONTACT_NAMES = ["世田谷 太郎", "山田", "佐藤花子", "たなか", "鈴木一郎（代沢）", "匿名希望", "Kenji Mori"]
CONTACT_LINES = [
    "電話 03-0000-{n4}", "TEL：090-0000-{n4}", "携帯 080{n4}{n4}", "連絡先 070-0000-{n4}（平日9時〜17時）",
    "メール taro{n2}@example.jp", "mail: h.yamada{n2}@example.ne.jp", "返信はこちらへ k{n2}@example.com",
    "〒154-00{n2} 世田谷区太子堂{d}-{d}-{d}", "世田谷区北沢{d}丁目 電話 03-0000-{n4}",
    "電話０９０－００００－{w4}", "連絡先：０３（００００）{w4}",
]
#: (other spellings of a number, 「(03)…」「090 1234 5678」「080ー…」, become the same ☎ in the normalised
#: text, so the lines above teach them too)


_FULL_WIDTH_DIGITS = {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}


def contact_block(rng: random.Random) -> str:
    """One to three lines of a sender's contact details."""
    def fill(line: str) -> str:
        n4 = f"{rng.randrange(10_000):04d}"
        wide = n4.translate(_FULL_WIDTH_DIGITS)
        return line.format(n4=n4, n2=f"{rng.randrange(100):02d}", d=rng.randrange(1, 10), w4=wide)
    lines = [fill(x) for x in rng.sample(CONTACT_LINES, rng.randint(1, 2))]
    if rng.random() < 0.6:
        lines.insert(0, ("氏名：" if rng.random() < 0.5 else "") + rng.choice(CONTACT_NAMES))
    return "\n".join(lines)


QUOTED = [
    "\n\n2026年10月3日(金) 9:12 世田谷区 <koe@example.jp>:\n> お問い合わせありがとうございます。"
    "\n> 担当課で確認のうえ、改めてご連絡いたします。",
    "\n\n-----Original Message-----\nFrom: 世田谷区\nSent: Monday, November 2, 2026 10:00 AM\n> ご意見を承りました。",
]


def halfwidth_katakana(text: str) -> str:
    out = []
    for ch in text:
        if "\u30a1" <= ch <= "\u30f6":
            # decompose to base + voicing mark, then map via NFKC-inverse table
            out.append(_HW.get(ch, ch))
        else:
            out.append(ch)
    return "".join(out)


_FW = (
    "ァアィイゥウェエォオカガキギクグケゲコゴサザシジスズセゼソゾタダチヂッツヅテデトドナニヌネノ"
    "ハバパヒビピフブプヘベペホボポマミムメモャヤュユョヨラリルレロヮワヰヱヲンヴー"
)
_HW: dict[str, str] = {}
for _c in range(0xFF66, 0xFF9E):
    _f = unicodedata.normalize("NFKC", chr(_c))
    _HW.setdefault(_f, chr(_c))
for _ch in _FW:
    if _ch in _HW:
        continue
    _base = unicodedata.normalize("NFD", _ch)
    if len(_base) == 2 and _base[0] in _HW:
        _HW[_ch] = _HW[_base[0]] + ("ﾞ" if _base[1] == "\u3099" else "ﾟ")


def fullwidth_ascii(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def typo(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 60)):
        i = rng.randrange(len(chars))
        if rng.random() < 0.5:
            del chars[i]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def augment(records: list[dict], *, seed: int = SEED) -> list[dict]:
    """The augmented copies of the hand-written records of the train split, sorted by id."""
    out: list[dict] = []
    train = [r for r in records if r["split"] == "train" and r.get("source", "handwritten") == "handwritten"]

    def emit(base: dict, aug: str, text: str, **labels: object) -> None:
        if text == base["text"]:
            return
        item = {k: base[k] for k in ("channel", "topic", "verdict", "categories", "grievance", "difficulty", "kind")}
        item.update(labels)
        item.update({"id": f"aug-{aug}-{base['id']}", "text": text, "source": "augmented", "split": "train",
                     "group": base.get("group") or base["id"], "augmentation": aug, "augmented_from": base["id"]})
        out.append(item)

    for r in train:
        t = r["text"]
        # one generator per item, seeded by the item's id: an item's copies do not depend on
        # which other items exist, so adding a batch adds its own copies and changes no others
        rng = random.Random(f"{seed}:{r['id']}")
        # obfuscation of every insult/threat present (any verdict: bystanders quote them too)
        hits = [w for w in OBFUSCATIONS if w in t]
        if hits:
            new = t
            for w in hits:
                new = new.replace(w, rng.choice(OBFUSCATIONS[w]))
            emit(r, "obfuscate", new)
        if rng.random() < 0.15:
            emit(r, "width", fullwidth_ascii(halfwidth_katakana(t)))
        if rng.random() < 0.10 and len(t) > 20:
            emit(r, "typo", typo(t, rng))
        if r["channel"] in ("web_form", "chat", "email") and rng.random() < 0.12:
            body = t if r["channel"] != "email" else t
            wrapped = (f"件名：{rng.choice(SUBJECTS)}\n\n{rng.choice(SALUTATIONS)}{body}"
                       f"{rng.choice(SIGNATURES)}{rng.choice(QUOTED) if rng.random() < 0.5 else ''}")
            emit(r, "email_wrap", wrapped, channel="email")
        if r["verdict"] == "complaint" and r.get("kind") not in ("bystander",) and rng.random() < 0.22:
            sent, cats = rng.choice(INSERTS)
            if r["channel"] in ("phone_note", "counter_note"):
                # staff notes quote the customer in the third person
                sent = f"「{sent.rstrip('。')}」と発言"
            sentences = t.split("。")
            pos = rng.randrange(1, len(sentences)) if len(sentences) > 1 else 1
            sentences.insert(pos, sent.rstrip("。"))
            emit(r, "insert_harassment", "。".join(sentences), verdict="harassment", categories=list(cats),
                 grievance=True, kind="standard", difficulty="medium")
        # (drawn last, so that adding it changed none of the copies above)
        rate = CONTACT_RATES.get((r["channel"], r["verdict"]), 0.0)
        if rate and rng.random() < rate:
            block = contact_block(rng)
            emit(r, "contact", f"{block}\n\n{t}" if rng.random() < 0.4 else f"{t}\n\n{block}")
    out.sort(key=lambda x: x["id"])
    return out


def main() -> int:
    src = ROOT / "data" / "corpus" / "handwritten.jsonl"
    recs = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
    out = augment(recs)

    dst = ROOT / "data" / "corpus" / "augmented.jsonl"
    with dst.open("w", encoding="utf-8", newline="\n") as f:
        for item in out:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    from collections import Counter

    print(f"wrote {len(out)} augmented items to {dst.relative_to(ROOT)}: "
          f"{dict(Counter(i['augmentation'] for i in out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
