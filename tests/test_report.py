"""The HTML report: aggregates, masking, self-containment, every scored format, a real browser."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from complaint_triage import report
from complaint_triage.batch import SENDER_KEY_ENV, SenderAggregator, iter_scored, run_batch
from complaint_triage.exceptions import InputFormatError
from complaint_triage.report import (
    COLOURS,
    ReportOutputError,
    UnscoredFileError,
    build_report,
    mask_personal,
    write_report,
)

pytest.importorskip("pyarrow")
pytest.importorskip("openpyxl")

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus" / "handwritten.jsonl"
SCORE_NAMES = ("harassment", "complaint", "inquiry", "violence", "threat", "other_illegal", "excessive_demand",
               "abusive_language", "sns_harassment", "other_improper", "grievance")
REPEAT = "先月から道路の穴を直してほしいと何度もお願いしています。まだ直っていません。早急に補修してください。"


def _corpus_texts() -> list[str]:
    return [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()[:200] if line.strip()]


def _scored_row(i: int, texts: list[str]) -> dict:
    """A synthetic row in the output schema of `complaint-triage batch`/`score` (JSONL)."""
    month = 1 + i % 14
    year = 2023 + (month - 1) // 12
    verdict = ("harassment", "complaint", "complaint", "inquiry")[i % 4]
    cats = [("abusive_language", "threat", "excessive_demand")[i % 3]] if verdict == "harassment" else []
    phrase = ("バカ野郎", "殺すぞ", "土下座しろ")[i % 3]
    ev = [{"category": cats[0], "start": 0, "end": 4, "text": phrase}] if cats else []
    if i == 8:
        ev.append({"category": "abusive_language", "start": 5, "end": 9, "text": "鈴木様に電話しろ 03-9876-5432"})
    scores = dict.fromkeys(SCORE_NAMES, 0.01)
    scores[verdict] = 0.9
    return {
        "id": f"m{i:03d}", "date": f"{year}-{(month - 1) % 12 + 1:02d}-{1 + i % 27:02d} 10:00",
        "channel": ("email", "phone_note", "web_form", "counter_note")[i % 4], "topic": ("gomi", "zei", "hoiku")[i % 3],
        "sender": f"user{i % 5}@example.jp",
        "text": ("山田様 連絡先 taro.yamada@example.jp 090-1234-5678 〒154-0001 の件です。" if i % 9 == 0 else "")
        + texts[i],
        "verdict": verdict, "categories": cats, "grievance": verdict != "inquiry", "scores": scores, "evidence": ev,
        "action": "warn_or_end_contact" if cats else "normal_reply", "review": i % 9 == 0, "model_version": "m-test",
    }


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("report")
    texts = _corpus_texts()
    rows = [_scored_row(i, texts) for i in range(140)]
    for day in (2, 5, 9):  # one sender raising the same grievance again after replies
        rows.append({**_scored_row(1, texts), "id": f"rep{day}", "sender": "Repeat <again@example.jp>",
                     "date": f"2024-02-{day:02d} 09:00", "text": f"{REPEAT}（{day}日）", "review": False})
    rows.append({"id": "bad", "date": "2024-02-01", "channel": "email", "topic": "zei", "sender": "x@example.jp",
                 "text": "", "error": "text is empty or whitespace only; nothing to score", "model_version": "m-test"})
    path = d / "scored.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "sender.key"
    path.write_text("report-test-key-0123456789abcdef\n", encoding="ascii")  # (a key file given must exist)
    return path


@pytest.mark.parametrize(("text", "hidden", "kept"), [
    ("山田様から電話", "山田", "様から電話"),
    ("担当者様へ", None, "担当者様へ"),
    ("taro@example.jp まで", "taro@", "@example.jp"),
    ("TEL 090-1234-5678", "1234-5678", "TEL 0"),
    ("〒154-0001 世田谷区", "154-0001", "世田谷区"),
    ("会員番号 1234567", "1234567", "会員番号"),
    ("太子堂1丁目2-3に住む", "2-3", "に住む"),
    ("3回も回収されていない", None, "3回も回収されていない"),
    # street numbers without 丁目, kanji 丁目 forms, rooms
    ("世田谷区北沢2-8-18 ハイツ北沢203号室の者です。", "2-8-18", "の者です。"),
    ("住所は東京都世田谷区太子堂1-2-3、電話は", "1-2-3", "、電話は"),
    ("鈴木一郎の自宅は世田谷区若林4-22-13だろう", "4-22-13", "だろう"),
    ("世田谷区若林4-2", "4-2", "世田谷区若林"),
    ("北沢二丁目8番18号に住んでいる", "8番18号", "に住んでいる"),
    ("ハイツ北沢203号室", "203", "号室"),
    # telephone numbers: +81, dots, spaces, brackets, full-width digits
    ("+81-90-1234-5678 まで連絡ください。", "1234", "まで連絡ください。"),
    ("+81 90 1234 5678 まで", "5678", "まで"),
    ("電話 03.5432.1111 に今すぐ折り返せ", "5432", "に今すぐ折り返せ"),
    ("電話 03 5432 1111 に", "5432", "に"),
    ("(03)5432-1111 まで", "5432", "まで"),
    ("０３－５４３２－１１１１に電話しろ", "５４３２", "に電話しろ"),
    # e-mail with a full-width at sign; My Number in groups
    ("連絡先 taro＠example.jp です", "taro＠", "です"),
    ("私のマイナンバーは1234 5678 9012です。", "5678", "です。"),
    ("番号は1234-5678-9012", "9012", "番号は"),
    # names marked by an honorific, a possessive, a label or a self-introduction; dictionary surnames
    ("鈴木一郎の自宅は知っている", "鈴木", "の自宅は知っている"),
    ("佐藤花子の家に行くぞ", "佐藤", "の家に行くぞ"),
    ("子どもの名前は山田ひなた(5歳)です。", "山田", "(5歳)です。"),
    ("佐藤花子と申します。", "佐藤", "と申します。"),
    ("担当の鈴木一郎は無能だ", "鈴木", "は無能だ"),
    ("生年月日1980年5月6日の者です", "1980", "の者です"),
])
def test_mask_personal(text, hidden, kept):
    masked = mask_personal(text)
    if hidden:
        assert hidden not in masked
    assert kept in masked


@pytest.mark.parametrize("text", [
    "2024-04-01 10:00に3番窓口へ行きました。",
    "平日9-17時に電話してください。",
    "今後同様の対応はやめてください。様子を見ます。",
    "苦情がたくさんあります。ちゃんとしてください。",
    "管理人さんに伝えました。お母さんが困っています。",
    "100万円払え。税金泥棒の職員め。",
    "区役所の自宅訪問は不要です。",
    "マイナ保険証の手続きが進まない。",
])
def test_mask_personal_keeps_ordinary_text(text):
    assert mask_personal(text) == text


def _pii_row(i: int, text: str, evidence: list[dict], **extra) -> dict:
    return {"受付番号": f"2024-{i:06d}", "受付日": f"2024/4/{1 + i % 28}", "送信者": f"顧客{i % 3:03d}", "内容": text,
            "verdict": "harassment", "categories": ["threat"], "grievance": True, "scores": {"harassment": 0.6},
            "evidence": evidence, "action": "warn_or_end_contact", "review": True, "model_version": "m-test", **extra}


def _span(text: str, phrase: str, cut: int = 0) -> dict:
    """An evidence span over ``phrase`` in ``text``, shortened by ``cut`` characters at the end."""
    start = text.index(phrase)
    return {"category": "threat", "start": start, "end": start + len(phrase) - cut,
            "text": text[start:start + len(phrase) - cut]}


# message, evidence phrase in it, characters cut off the phrase's end (as the model's spans do)
PII_MESSAGES = [
    ("世田谷区北沢2-8-18 ハイツ北沢203号室の者です。お前の家も調べてあるからな。", "世田谷区北沢2-8-18", 0),
    ("私のマイナンバーは1234 5678 9012です。責任者を出せ。", "私のマイナンバーは1234", 2),
    ("電話 03.5432.1111 に今すぐ折り返せ。", "電話 03.5432.1111", 0),
    ("+81-90-1234-5678 まで連絡ください。税金泥棒の職員め、覚えておけよ。", "+81-90-1234-5678", 0),
    ("担当の鈴木一郎は無能だ。鈴木一郎の自宅は世田谷区若林4-22-13だろう、行ってやるからな。",
     "鈴木一郎の自宅は世田谷区若林4-22-13", 6),
    ("お前らの顔写真をネットに晒してやる。住所は東京都世田谷区太子堂1-2-3、電話は090-9999-8888だ。",
     "住所は東京都世田谷区太子堂1-2-3", 0),
    ("連絡先 taro.yamada88＠example.jp に返事しろ。", "taro.yamada88＠exa", 0),
]
PII_SECRETS = ("2-8-18", "203号室", "1234 5678", "マイナンバーは12", "5432", "1234-5678", "鈴木一郎", "若林4-2",
               "太子堂1-2-3", "9999-8888", "taro.yamada88", "yamada88＠")


def test_report_masks_personal_data_in_excerpts_and_evidence(tmp_path, key_file):
    rows = [_pii_row(i, text, [_span(text, phrase, cut)]) for i, (text, phrase, cut) in enumerate(PII_MESSAGES)]
    path = _write_scored(tmp_path / "pii.jsonl", rows)
    html, stats = build_report(path, sender_key_file=key_file)
    assert stats.review == len(PII_MESSAGES)
    for secret in PII_SECRETS:
        assert secret not in html, secret
    phrases = html.split("top evidence phrases")[1].split("per sender")[0]
    assert "「世田谷区北沢＊-＊-＊」" in phrases and "「私のマイナンバーは＊」" in phrases
    assert "自動マスク" in html and "個人情報はマスク済" not in html  # the claim says what is masked


# (id column, values in the rows, ids the review queue shows)
ID_CASES = [
    ("受付番号", ["R6-00001", "2024-000001"], ["R6-00001", "2024-000001"]),
    ("受付番号", ["R6-00002", None], ["R6-00002", ""]),
    ("番号", [20240001, 12], ["20240001", "12"]),
    ("id", ["taro@example.jp", "090-1234-5678"], ["t***@example.jp", "0**-****-****"]),
]


@pytest.mark.parametrize(("column", "values", "shown"), ID_CASES)
def test_review_queue_shows_record_ids(tmp_path, key_file, column, values, shown):
    text = "ゴミが3回も回収されていない。至急対応しろ。"
    rows = [{k: v for k, v in _pii_row(i, text, []).items() if k != "受付番号"} | {column: value}
            for i, value in enumerate(values)]
    path = _write_scored(tmp_path / "ids.jsonl", rows)
    html, stats = build_report(path, sender_key_file=key_file)
    assert stats.columns["id"] == column
    queue = html.split("review queue")[1].split("top evidence phrases")[0]
    assert re.findall(r"<tr><td>([^<]*)</td>", queue) == shown
    assert "None" not in queue


def test_office_id_preferred_over_message_id_and_sender_id_pseudonymised(tmp_path, key_file):
    text = "道路の穴を早く直してください。"
    rows = [_pii_row(1, text, [], message_id=None), _pii_row(2, text, [], message_id="<m2@example.jp>")
            | {"受付番号": None}]
    path = _write_scored(tmp_path / "mix.jsonl", rows)
    html, stats = build_report(path, sender_key_file=key_file)
    assert stats.columns["id"] == "受付番号"
    queue = html.split("review queue")[1].split("top evidence phrases")[0]
    assert re.findall(r"<tr><td>([^<]*)</td>", queue) == ["2024-000001", ""]
    html, stats = build_report(path, id_col="送信者", sender_key_file=key_file)
    queue = html.split("review queue")[1].split("top evidence phrases")[0]
    ids = re.findall(r"<tr><td>([^<]*)</td>", queue)
    assert all(re.fullmatch(r"S-[0-9a-f]{16}", i) for i in ids) and "顧客" not in queue


def test_unscored_input_is_refused(tmp_path):
    raw = tmp_path / "受付.csv"
    raw.write_text("受付番号,受付日,内容\n2024-000001,2024/4/1,ゴミが回収されていません。\n", encoding="utf-8-sig")
    with pytest.raises(UnscoredFileError, match="looks unscored.*complaint-triage batch") as e:
        build_report(raw)
    assert isinstance(e.value, InputFormatError)  # the CLI exits with 2
    summary = tmp_path / "out.senders.csv"
    summary.write_text(",".join(SenderAggregator.COLUMNS) + "\nS-0123456789abcdef,3,,,1,2,0,0,threat,2,0,false\n",
                       encoding="utf-8")
    with pytest.raises(UnscoredFileError, match="per-sender summary"):
        build_report(summary)


def test_report_sections_masking_and_self_containment(synthetic, key_file, monkeypatch):
    monkeypatch.delenv(SENDER_KEY_ENV, raising=False)
    html, stats = build_report(synthetic, sender_key_file=key_file)
    assert stats.rows == 144 and stats.scored == 143 and stats.errors == 1 and stats.months == 14
    assert stats.review == 16 and stats.senders == 7
    assert stats.columns == {"date": "date", "channel": "channel", "topic": "topic", "sender": "sender", "id": "id",
                             "text": "text"}
    # self-contained: no scripts, no external resources, network forbidden by CSP
    assert "<script" not in html and not re.search(r"""(src|href)\s*=""", html)
    assert "default-src 'none'" in html and html.count("<svg") >= 5
    for section in ("messages per month", "share of complaints and harassment", "by channel", "by topic / department",
                    "harassment by category", "review queue", "top evidence phrases", "per sender"):
        assert section in html
    # personal data masked everywhere, senders pseudonymised
    for secret in ("taro.yamada@example.jp", "090-1234-5678", "154-0001", "山田様", "鈴木様", "03-9876-5432",
                   "user1@example.jp", "again@example.jp"):
        assert secret not in html
    assert len(set(re.findall(r"S-[0-9a-f]{16}", html))) == 7
    # review queue: every flagged message (16), masked excerpts
    queue = html.split("review queue")[1].split("top evidence phrases")[0]
    assert queue.count("<tr>") == 16 + 1 and "＊＊様" in queue
    # evidence phrases, most frequent first, with counts
    phrases = html.split("top evidence phrases")[1].split("per sender")[0]
    assert "「バカ野郎」" in phrases and "×12" in phrases
    # the repeat sender is flagged, with its 7-day run
    senders = html.split("per sender")[1]
    assert senders.count("⚑") == 1
    assert "#c0392b" in html and COLOURS["complaint"] in html


def test_review_queue_cap_and_missing_columns(synthetic, key_file, tmp_path):
    html, stats = build_report(synthetic, max_review=2, sender_key_file=key_file)
    assert "先頭 2 件を表示" in html and stats.review == 16
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"text": "こんにちは", "verdict": "inquiry", "categories": [], "scores": {},
                                 "review": False}, ensure_ascii=False) + "\n", encoding="utf-8")
    html, stats = build_report(plain)
    assert stats.rows == 1 and stats.senders == 0
    assert "no date column" in html and "no channel column" in html and "no sender column" in html
    with pytest.raises(InputFormatError, match="受付日"):
        build_report(plain, date_col="受付日")


@pytest.fixture(scope="module")
def batch_outputs(small_model_dir, tmp_path_factory) -> dict[str, Path]:
    """The same records scored by `batch` into every output format."""
    d = tmp_path_factory.mktemp("batch-report")
    recs = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()[:60] if line.strip()]
    src = d / "in.csv"
    with open(src, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "受付日", "channel", "department", "電話", "text"])
        for i, r in enumerate(recs):
            w.writerow([r["id"], f"2024/{1 + i % 6}/{1 + i % 28} 10:00", r["channel"], r["topic"],
                        f"03-1234-{i % 4:04d}", r["text"]])
    outs = {}
    (d / "k").write_text("report-test-key-0123456789abcdef\n", encoding="ascii")
    for ext in ("parquet", "csv", "jsonl", "xlsx"):
        outs[ext] = d / f"scored.{ext}"
        run_batch([src], outs[ext], model=small_model_dir, jobs=1, progress=False, sender_col="電話",
                  date_col="受付日", sender_key_file=d / "k")
    return outs


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet", "xlsx"])
def test_batch_sidecars_and_inputs_are_refused(batch_outputs, ext):
    with pytest.raises(UnscoredFileError, match="per-sender summary"):
        build_report(batch_outputs[ext].with_name(f"scored.senders.{ext}"))
    with pytest.raises(UnscoredFileError, match="looks unscored"):
        build_report(batch_outputs[ext].with_name("in.csv"))


def test_report_reads_every_batch_format_alike(batch_outputs, key_file, tmp_path):
    stats = {}
    for ext, path in batch_outputs.items():
        out = tmp_path / f"{ext}.html"
        stats[ext] = write_report(path, out, sender_key_file=key_file)
        html = out.read_text(encoding="utf-8")
        assert "03-1234-" not in html  # the phone-number senders never appear
        assert stats[ext].columns["date"] == "受付日" and stats[ext].columns["topic"] == "department"
        assert stats[ext].columns["sender"] == "sender_id"  # the pseudonymised column is preferred
    first = stats["parquet"]
    assert first.rows == 60 and first.months == 6 and first.senders == 4
    assert all((s.rows, s.review, s.months, s.senders) == (first.rows, first.review, first.months, first.senders)
               for s in stats.values())
    rows = {ext: [(r["verdict"], r["categories"], r["scores"].get("harassment")) for r in iter_scored(p)]
            for ext, p in batch_outputs.items()}
    assert rows["csv"] == rows["parquet"] == rows["jsonl"] == rows["xlsx"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_charts_render_in_headless_chromium(synthetic, key_file, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); cannot screenshot the report")
    image = pytest.importorskip("PIL.Image", reason="Pillow is needed to read the screenshot")
    page = tmp_path / "report.html"
    write_report(synthetic, page, sender_key_file=key_file)
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    img = image.open(shot).convert("RGB")
    assert img.size == (1200, 2000)
    px = np.asarray(img, dtype=np.int16).reshape(-1, 3)

    def count(hex_colour: str, tol: int = 12) -> int:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        return int((np.abs(px - rgb) <= tol).all(axis=1).sum())

    non_white = int((px != 255).any(axis=1).sum())
    assert non_white > 0.05 * len(px)
    for series in ("harassment", "complaint", "inquiry", "category"):  # bars and lines of every chart drew
        assert count(COLOURS[series]) > 1000, series


@pytest.mark.parametrize("unit", ["1", "a", "一", "1-", "a@", "北沢1"])
def test_masking_cost_grows_linearly_with_a_long_run(unit):
    """A run of digits took 9.7 s and one of letters 4.5 s at 20,000 characters: the street
    patterns restarted at every digit and the address pattern at every letter.  A ratio in one
    run: 8x the text must cost well under the quadratic 64x."""
    import time

    def best(text: str) -> float:
        out = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            mask_personal(text)
            out = min(out, time.perf_counter() - t0)
        return out

    short, long = unit * (2_500 // len(unit)), unit * (20_000 // len(unit))
    ratio = best(long) / max(best(short), 2e-5)
    assert ratio < 30, f"{unit!r} * n: {ratio:.0f}x for 8x the text"


# -- what the report refuses to read or to write (acceptance defects) ----------------------------------------------

# flat scored rows, as every output format can hold them
FLAT_ROWS = [
    {"id": "R6-00001", "text": "ゴミが3回も回収されていません。至急対応してください。", "verdict": "complaint",
     "review": False, "model_version": "m-test"},
    {"id": "R6-00002", "text": "お前みたいな無能はクビにしろ。", "verdict": "harassment", "review": True,
     "model_version": "m-test"},
]


def _write_scored(path: Path, rows: list[dict] = FLAT_ROWS) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["id", "text", "verdict"])
            w.writeheader()
            w.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("verdict", pa.string()),
                            ("review", pa.bool_()), ("model_version", pa.string())])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.partial"))


# how the output names the scored file: (output given, link made first: None, "symlink" or "hardlink")
SAME_FILE_OUTPUTS = [
    ("arch.out{ext}", None),
    ("sub/../arch.out{ext}", None),
    ("./arch.out{ext}", None),
    ("link{ext}", "symlink"),
    ("hard{ext}", "hardlink"),
    ("arch.out{ext}.html", "partial"),  # the scored file is the report's temporary file
]


@pytest.mark.parametrize("ext", [".jsonl", ".csv", ".parquet"])
@pytest.mark.parametrize(("output", "link"), SAME_FILE_OUTPUTS)
def test_report_never_overwrites_the_scored_file(tmp_path, monkeypatch, ext, output, link):
    monkeypatch.chdir(tmp_path)  # (relative names as typed on the command line; nothing depends on the start dir)
    (tmp_path / "sub").mkdir()
    scored = _write_scored(tmp_path / f"arch.out{ext}")
    out = Path(output.format(ext=ext))
    if link == "symlink":
        out.symlink_to(scored)
    elif link == "hardlink":
        out.hardlink_to(scored)
    elif link == "partial":
        scored = scored.rename(tmp_path / f"{out.name}.partial")
    before = scored.read_bytes()
    with pytest.raises(ReportOutputError, match="overwrite") as e:
        write_report(scored.name if link == "partial" else f"arch.out{ext}", out)
    assert isinstance(e.value, InputFormatError)  # the CLI exits with 2
    assert scored.read_bytes() == before
    assert _partials(tmp_path) == ([scored.name] if link == "partial" else [])


def test_report_refused_for_a_same_file_output_before_reading(tmp_path, monkeypatch):
    scored = _write_scored(tmp_path / "arch.out.jsonl")
    monkeypatch.setattr("complaint_triage.report.iter_scored", lambda *a, **k: pytest.fail("read the input"))
    with pytest.raises(ReportOutputError):
        write_report(scored, scored)


@pytest.mark.parametrize("folder", ["adir", "adir.html.partial"])
def test_report_refuses_a_folder_output_and_leaves_nothing(tmp_path, folder):
    scored = _write_scored(tmp_path / "scored.jsonl")
    (tmp_path / folder).mkdir()
    out = tmp_path / ("adir" if folder == "adir" else "adir.html")
    with pytest.raises(ReportOutputError, match="folder"):
        write_report(scored, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["scored.jsonl", folder])


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_write_leaves_no_partial_file_and_the_old_report(tmp_path, monkeypatch, failure):
    scored = _write_scored(tmp_path / "scored.jsonl")
    out = tmp_path / "report.html"
    out.write_text("前回のレポート", encoding="utf-8")

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr("complaint_triage.report.os.replace", fail)
    with pytest.raises(type(failure)):
        write_report(scored, out)
    assert _partials(tmp_path) == [] and out.read_text(encoding="utf-8") == "前回のレポート"


@pytest.mark.parametrize("line", ['["ゴミが回収されていません", "complaint"]', '"ゴミが回収されていません"',
                                  "42", "null", "true"])
def test_jsonl_line_that_is_not_an_object_is_refused_with_its_number(tmp_path, line):
    path = tmp_path / "scored.jsonl"
    path.write_text(json.dumps(FLAT_ROWS[0], ensure_ascii=False) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"line 2 is valid JSON but a \w+, not an object"):
        build_report(path)
    with pytest.raises(InputFormatError, match="line 2"):
        list(iter_scored(path))


# fields of the wrong type in a hand-edited scored JSONL: read as absent, the report is written
@pytest.mark.parametrize("fields", [
    {"categories": 5},
    {"categories": [{"threat": 1}, "threat"]},
    {"categories": {"threat": True}},
    {"evidence": 5},
    {"evidence": {"category": "threat", "text": "殺すぞ"}},
    {"model_version": ["m-test"]},
    {"verdict": ["harassment"]},
    {"action": {"police": True}},
])
def test_wrongly_typed_fields_do_not_fail_the_report(tmp_path, fields):
    path = tmp_path / "scored.jsonl"
    row = {**FLAT_ROWS[1], "text": "殺すぞ。覚えておけよ。", **fields}
    _write_scored(path, [row])
    html, stats = build_report(path)
    assert stats.rows == 1 and "<!DOCTYPE html>" in html
    (back,) = iter_scored(path)
    assert all(isinstance(c, str) for c in back["categories"]) and isinstance(back["evidence"], list)


@pytest.mark.parametrize("name", ["pic.png", "受付.txt", "scored"])
def test_unknown_format_names_the_scored_input(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(InputFormatError, match="format of the scored file") as e:
        build_report(path)
    assert "output" not in str(e.value)


@pytest.mark.parametrize(("name", "content"), [
    ("empty.csv", b""),
    ("header.csv", "id,text,verdict,review,model_version\r\n".encode("utf-8-sig")),
    ("raw-header.csv", "受付番号,受付日,内容\r\n".encode("utf-8-sig")),
    ("empty.jsonl", b""),
    ("blank.jsonl", b"\n  \n\n"),
])
def test_input_without_records_is_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnscoredFileError, match="no records"):
        build_report(path)
    out = tmp_path / "report.html"
    with pytest.raises(UnscoredFileError):
        write_report(path, out)
    assert not out.exists() and _partials(tmp_path) == []


def test_parquet_without_rows_is_refused(tmp_path):
    with pytest.raises(UnscoredFileError, match="no records"):
        build_report(_write_scored(tmp_path / "empty.parquet", []))


@pytest.mark.parametrize("name", ["scored.parquet", "scored.xlsx"])
@pytest.mark.parametrize("content", [b"", "受付番号,内容\n1,ゴミ\n".encode()])
def test_unreadable_parquet_or_workbook_is_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFormatError, match="cannot be read as"):
        build_report(path)


# -- senders, months, axes and codes (acceptance defects) -------------------------------------------------------

COMPLAINT_TEXTS = ("公園のベンチが壊れています。修理をお願いします。", "窓口の待ち時間が長すぎます。改善してください。",
                   "お前らは税金泥棒だ。土下座しろ。", "道路の白線が消えていて危険です。引き直してください。")


def _report_row(i: int, sender: str, date: str, text: str, verdict: str, **extra) -> dict:
    return {"受付番号": f"R7-{i:05d}", "受付日": date, "送信者": sender, "内容": text, "verdict": verdict,
            "categories": ["abusive_language"] if verdict == "harassment" else [], "grievance": verdict != "inquiry",
            "review": False, "model_version": "m-test", **extra}


def _busy_and_repeating_senders(busy: int) -> list[dict]:
    """``busy`` senders with harassment and more contacts, and one repeating a complaint weekly without harassment."""
    rows = [_report_row(10 * k + j, f"090-0000-{k:04d}", f"2025-05-{1 + j:02d}", COMPLAINT_TEXTS[j % 4],
                        "harassment" if j < 2 else "complaint")
            for k in range(busy) for j in range(4)]
    rows += [_report_row(90_000 + j, "繰返し <again@example.jp>", f"2025-06-{1 + 7 * j:02d}",
                         f"{REPEAT}（{j + 1}回目）", "complaint") for j in range(4)]
    return rows


# (busy senders, --max-senders, rows the table shows, senders it leaves out)
SENDER_TABLES = [
    (90, 50, 50, 41),
    (60, 1, 1, 60),
    (5, 50, 6, 0),
    (3, 0, 1, 3),
]


@pytest.mark.parametrize(("busy", "max_senders", "shown", "left_out"), SENDER_TABLES)
def test_repetition_flagged_senders_are_always_in_the_table(tmp_path, key_file, busy, max_senders, shown, left_out):
    """The only flagged sender was row 91 of the sender table, cut at 50: no ⚑ and no count on the page."""
    path = _write_scored(tmp_path / "senders.jsonl", _busy_and_repeating_senders(busy))
    html, stats = build_report(path, max_senders=max_senders, sender_key_file=key_file)
    assert (stats.senders, stats.repetition_senders) == (busy + 1, 1)
    senders = html.split("per sender")[1]
    assert senders.count("<tr>") == shown + 1 and senders.count("⚑") == 1
    assert f"送信者 {busy + 1:,} 人 (繰返しフラグ 1 人)" in senders
    assert f"{busy + 1:,} senders (1 with repetition)" in senders
    assert (f"leaves out {left_out:,}" in senders) == bool(left_out)
    assert senders.index("繰返しフラグ 1 人") < senders.index("<table>")  # said above the table


# (dates of the records, the months both charts show)
MONTH_SPANS = [
    (["2025-05-01", "2025-06-08", "2025-09-01"], ["2025-05", "2025-06", "2025-07", "2025-08", "2025-09"]),
    (["2024-12-31 23:00", "2025-03-01"], ["2024-12", "2025-01", "2025-02", "2025-03"]),
    (["令和6年11月1日", "R7.1.5"], ["2024-11", "2024-12", "2025-01"]),
    (["2025/4/1", "2025/4/30"], ["2025-04"]),
    (["1999-01-05", "2025-04-01"], ["1999-01", "2025-04"]),  # a stray date decades off: not filled
]


@pytest.mark.parametrize(("dates", "months"), MONTH_SPANS)
def test_months_without_records_are_shown_with_zeros(tmp_path, key_file, dates, months):
    """Months with no records vanished from both monthly charts (May, June, September: 3 columns, not 5)."""
    rows = [_report_row(i, "", d, COMPLAINT_TEXTS[i % 4], "complaint") for i, d in enumerate(dates)]
    html, stats = build_report(_write_scored(tmp_path / "gap.jsonl", rows), sender_key_file=key_file)
    assert stats.months == len(months)
    month_chart = html.split("messages per month")[1].split("share of complaints")[0]
    share_chart = html.split("share of complaints")[1].split("by channel")[0]
    for chart in (month_chart, share_chart):
        assert re.findall(r"rotate\([^)]*\)\">([0-9-]+)</text>", chart) == months


# (the tallest column, the count axis' labels from the bottom)
AXES = [
    (1, ["0", "1"]),
    (2, ["0", "1", "2"]),
    (3, ["0", "1", "2", "3"]),
    (4, ["0", "1", "2", "3", "4"]),
    (7, ["0", "2", "4", "6", "8"]),
    (10, ["0", "5", "10"]),
    (45, ["0", "20", "40", "60"]),
    (1234, ["0", "500", "1,000", "1,500"]),
]


@pytest.mark.parametrize(("peak", "labels"), AXES)
def test_month_chart_axis_labels_are_exact_whole_numbers(peak, labels):
    """With a peak of 1 the gridlines read 0, 0, 0, 1, 1."""
    from complaint_triage.report import svg_stacked_columns

    svg = svg_stacked_columns(["2025-05", "2025-06"], {"complaint": [peak, 1], "inquiry": [0, 0]}, title="月別件数")
    ticks = re.findall(r'text-anchor="end">([0-9,]+)</text>', svg)
    assert ticks == labels
    top = float(re.findall(r'<line [^>]*y1="([0-9.]+)"', svg)[-1])
    bar = re.search(r'<rect x="[0-9.]+" y="([0-9.]+)"[^>]*><title>2025-05 complaint', svg)
    assert bar is not None and (float(bar.group(1)) == top) == (str(peak) == labels[-1])  # the top is a gridline


# (a channel / department cell, its name in the charts)
CODES = [
    (0, "0"),
    (101, "101"),
    (101.0, "101"),
    (102.5, "102.5"),
    ("0", "0"),
    ("窓口", "窓口"),
    (None, "(なし)"),
    ("", "(なし)"),
    ("　", "(なし)"),
]


@pytest.mark.parametrize(("code", "label"), CODES)
def test_a_code_0_is_a_channel_and_department_not_none(tmp_path, key_file, code, label):
    """A numeric code 0 in the channel or department column was counted as (なし)."""
    rows = [_report_row(1, "", "2025-04-01", COMPLAINT_TEXTS[0], "complaint", チャネル=code, 担当課=code),
            _report_row(2, "", "2025-04-02", COMPLAINT_TEXTS[1], "complaint", チャネル="電話", 担当課="道路公園課")]
    html, stats = build_report(_write_scored(tmp_path / "codes.jsonl", rows), sender_key_file=key_file)
    assert (stats.columns["channel"], stats.columns["topic"]) == ("チャネル", "担当課")
    for section, end in (("by channel", "by topic / department"), ("by topic / department", "harassment by category")):
        chart = html.split(section)[1].split(end)[0]
        assert f"<title>{label} complaint: 1</title>" in chart
        assert ("(なし)" in chart) == (label == "(なし)")


# (channel cell, department cell, what must not show anywhere, the channel and the department as shown)
LABELS_WITH_PERSONAL_DATA = [
    ("電話 090-1234-5678", "保育課 鈴木一郎 090-9999-8888", ("1234-5678", "9999-8888", "鈴木一郎"),
     ("電話 0**-****-****", "保育課 ＊＊ 0**-****-****")),
    ("メール taro.yamada@example.jp", "保育課（担当：鈴木 内線1234）", ("taro.yamada@", "鈴木"),
     ("メール t***@example.jp", "保育課（担当：＊＊ 内線1234）")),
    ("ＴＥＬ ０３－５４３２－１１１１", "道路公園課 山田様", ("５４３２", "山田"),
     ("ＴＥＬ ０*－****－****", "道路公園課 ＊＊様")),
]


@pytest.mark.parametrize(("channel", "department", "hidden", "shown"), LABELS_WITH_PERSONAL_DATA)
def test_channel_and_department_values_are_masked_in_labels_tooltips_and_tables(tmp_path, key_file, channel,
                                                                                  department, hidden, shown):
    """Acceptance 5b, finding 2: a department cell naming the staff member and a mobile number showed as
    written in the chart's bar label and tooltip and in the review tables, though excerpts were masked."""
    rows = [_report_row(1, "", "2025-04-01", "殺すぞ。夜道に気をつけろよ。", "harassment", review=True, action="police",
                        scores={"harassment": 0.9}, チャネル=channel, 担当課=department),
            _report_row(2, "", "2025-04-02", COMPLAINT_TEXTS[0], "complaint", チャネル=channel, 担当課=department)]
    html, stats = build_report(_write_scored(tmp_path / "labels.jsonl", rows), sender_key_file=key_file)
    assert (stats.columns["channel"], stats.columns["topic"]) == ("チャネル", "担当課")
    for secret in hidden:
        assert secret not in html, secret
    masked_channel, masked_department = (report._e(v) for v in shown)
    for section, end, label in (("by channel", "by topic / department", masked_channel),
                                ("by topic / department", "harassment by category", masked_department)):
        chart = html.split(section)[1].split(end)[0]
        assert f'text-anchor="end">{label}</text>' in chart  # the bar's label
        assert f"<title>{label} harassment: 1</title>" in chart and f"<title>{label} complaint: 1</title>" in chart
    for section, end in (("most severe", "review queue"), ("review queue", "top evidence phrases")):
        table = html.split(section)[1].split(end)[0]
        assert f"<td>{masked_channel}</td><td>{masked_department}</td>" in table


# (channel cells, the bars the chart shows as {label: count}): values that read alike once masked are one bar
# (three staff phones), but branch offices named after places and numeric department codes stay apart
CHANNEL_GROUPS = [
    (("電話 090-1234-0000", "電話 090-1234-0001", "電話 090-1234-0002"), {"電話 0**-****-****": 3}),
    (("北沢総合支所", "池尻出張所", "池尻出張所"), {"北沢総合支所": 1, "池尻出張所": 2}),
    (("中野出張所", "等々力出張所", "喜多見出張所", "烏山総合支所"),
     {"中野出張所": 1, "等々力出張所": 1, "喜多見出張所": 1, "烏山総合支所": 1}),
    (("10101", "10102", "10102"), {"10101": 1, "10102": 2}),
    (("０３５４３２１１１１", "09012345678", "09012345679"), {"０*********": 1, "0**********": 2}),
]


@pytest.mark.parametrize(("channels", "bars"), CHANNEL_GROUPS)
def test_channel_values_that_read_alike_once_masked_are_one_group(tmp_path, key_file, channels, bars):
    """Re-read of session 25, finding 1: every ＊＊出張所 of a ward was one bar, and department codes of
    5 digits or more (10101, 10102) one 「＊＊＊」 bar."""
    rows = [_report_row(i, "", "2025-04-01", COMPLAINT_TEXTS[0], "complaint", チャネル=c)
            for i, c in enumerate(channels)]
    html, _ = build_report(_write_scored(tmp_path / "channels.jsonl", rows), sender_key_file=key_file)
    chart = html.split("by channel")[1].split("by topic / department")[0]
    assert chart.count("<title>") == len(bars)
    for label, count in bars.items():
        assert f"<title>{label} complaint: {count}</title>" in chart


def _queue_ids(html: str, section: str, end: str) -> list[str]:
    return re.findall(r"<tr><td>([^<]*)</td>", html.split(section)[1].split(end)[0])


def test_the_review_queue_is_in_order_of_severity_and_its_cut_keeps_the_most_severe(tmp_path, key_file):
    """Finding 11 of issue 5: a threat scored police at p=1.00 appeared only in the counts, and the queue kept
    the first rows of the file, not the most severe."""
    rows = [_report_row(i, "", f"2025-05-{1 + i:02d}", COMPLAINT_TEXTS[i % 4], "complaint", review=True,
                        action="normal_reply", scores={"harassment": 0.3 + i / 100}) for i in range(6)]
    rows.append(_report_row(10, "", "2025-05-20", "殺すぞ。夜道に気をつけろよ。", "harassment", review=True,
                            action="police", scores={"harassment": 0.55}))
    rows.append(_report_row(11, "", "2025-05-21", "お前みたいな無能はクビにしろ。", "harassment", review=True,
                            action="warn_or_end_contact", scores={"harassment": 0.6}))
    rows.append(_report_row(12, "", "2025-05-22", "今から行って刺してやる。", "harassment", review=False,
                            action="police", scores={"harassment": 1.0}))
    html, stats = build_report(_write_scored(tmp_path / "queue.jsonl", rows), max_review=3, sender_key_file=key_file)
    assert stats.review == 8
    assert _queue_ids(html, "review queue", "top evidence phrases") == ["R7-00010", "R7-00011", "R7-00005"]
    assert "重大な順に先頭 3 件を表示" in html
    # the most severe list: police, flagged for review or not, the higher score first
    assert _queue_ids(html, "most severe", "review queue") == ["R7-00012", "R7-00010"]


def test_same_severity_is_queued_oldest_first():
    key = [report._severity("police", 0.9, datetime(2025, 5, d)) for d in (1, 2)]
    assert key[0] > key[1] > report._severity("police", 0.9, None)
    assert report._severity("police", 0.9, None) > report._severity("police", 0.8, datetime(2025, 1, 1))
    assert report._severity("police", 0.1, None) > report._severity("remove_or_ban", 1.0, datetime(2025, 1, 1))


@pytest.mark.parametrize(("date_column", "found"), [("受付年月日", True), ("received_date", True), ("申出日時", True),
                                                    ("生年月日", False), ("memo", False)])
def test_a_date_column_of_another_name_is_found_and_the_sender_table_agrees_with_batch(tmp_path, key_file,
                                                                                       date_column, found):
    """Finding 3: with the dates in 受付年月日 batch flagged the sender and the report said 繰返しフラグ 0 人
    and 7日内最多 0: it looked for the dates under other names only."""
    text = "家の前の道路に大きな穴が開いています。先月も連絡しましたが、まだ直っていません。早急に補修してください。"
    dates = ["2024/04/01", "2024-04-03 10:00", "令和6年4月5日", "2024/04/07"]
    rows = [{k: v for k, v in _report_row(i, "taro@example.jp", "", text, "complaint").items() if k != "受付日"}
            | {date_column: d} for i, d in enumerate(dates)]
    html, stats = build_report(_write_scored(tmp_path / "sj.jsonl", rows), sender_key_file=key_file)
    agg = SenderAggregator(key=b"k" * 16, dated=found)
    for d in dates:
        agg.add("taro@example.jp", when=d if found else None, text=text, verdict="complaint", grievance=True)
    (batch_row,) = agg.rows()
    senders = html.split("per sender")[1]
    assert stats.columns["date"] == (date_column if found else None)
    assert stats.repetition_senders == int(batch_row["repetition"])
    run = re.findall(r"<td class=n>([^<]*)</td>", senders)[2]  # 件数, カスハラ, 7日内最多, 繰返し
    if found:
        assert batch_row["longest_run_7d"] == 4 and run == "4" and "繰返しフラグ 1 人" in senders
    else:
        assert batch_row["longest_run_7d"] is None and run == "—"
        assert any("no date column" in w for w in stats.warnings)


# (columns of a scored file, the date column the report should take from them)
DATE_PICKS = [
    pytest.param(["id", "text", "updated_by", "受付年月日"], "受付年月日", id="updated_by-is-not-a-date"),
    pytest.param(["candidate_no", "text", "受付年月日"], "受付年月日", id="candidate_no-is-not-a-date"),
    pytest.param(["response_time_min", "text", "申出日時"], "申出日時", id="response_time_min-is-not-a-date"),
    pytest.param(["更新日時", "text", "受付日時"], "受付日時", id="受付日時-before-another-日時"),
    pytest.param(["text", "received_date"], "received_date", id="received_date"),
    pytest.param(["text", "Date Received"], "Date Received", id="date-received-with-a-space"),
    pytest.param(["text", "receivedDate"], "receivedDate", id="camel-case"),
    pytest.param(["text", "相談日付", "生年月日"], "相談日付", id="not-the-birth-date"),
    pytest.param(["text", "update", "candidate"], None, id="no-date-word"),
]


@pytest.mark.parametrize(("keys", "expected"), DATE_PICKS)
def test_the_date_column_is_found_by_whole_words_and_endings(keys, expected):
    """Re-read finding 5: any name holding date or time was taken, the first in the file: updated_by,
    candidate_no, response_time_min, and every record was then undated with no warning."""
    sample = [{k: ("2024/04/01 10:00" if k == expected else "x") for k in keys}]
    assert report._pick_date(keys, None, sample) == (expected, None)


def test_a_column_named_like_a_date_that_holds_no_dates_is_passed_over_with_a_warning(tmp_path, key_file):
    text = "家の前の道路に大きな穴が開いています。先月も連絡しましたが、まだ直っていません。早急に補修してください。"
    dates = ["2024/04/01", "2024-04-03 10:00", "令和6年4月5日", "2024/04/07"]
    rows = [{k: v for k, v in _report_row(i, "taro@example.jp", "", text, "complaint").items() if k != "受付日"}
            | {"処理日時": "済", "受付年月日": d} for i, d in enumerate(dates)]
    html, stats = build_report(_write_scored(tmp_path / "sj.jsonl", rows), sender_key_file=key_file)
    assert stats.columns["date"] == "受付年月日" and "繰返しフラグ 1 人" in html.split("per sender")[1]
    rows = [{k: v for k, v in r.items() if k != "受付年月日"} for r in rows]
    html, stats = build_report(_write_scored(tmp_path / "nd.jsonl", rows), sender_key_file=key_file)
    assert stats.columns["date"] is None
    assert any("'処理日時' looks like a date by name but none of the first 4 values reads as a date" in w
               for w in stats.warnings)
    html, stats = build_report(_write_scored(tmp_path / "nd.jsonl", rows), sender_key_file=key_file,
                               date_col="処理日時")
    assert stats.columns["date"] == "処理日時"
    assert any("none of the values in the first 4 rows of the date column '処理日時' reads as a date" in w
               for w in stats.warnings)


def test_report_help_names_the_date_column_rules():
    from typer.testing import CliRunner

    from complaint_triage.cli import app

    r = CliRunner().invoke(app, ["report", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    help_text = " ".join(r.output.replace("│", " ").split())
    assert "受付年月日, 受付日時, 日付, 日時 or 年月日" in help_text and "passed over with a warning" in help_text


def test_a_sender_none_of_whose_dates_can_be_read_shows_no_7_day_run(tmp_path, key_file):
    """Acceptance 5b, finding 7: a sender with two undated contacts showed 0 as its longest 7-day run."""
    rows = [_report_row(1, "u1@example.jp", "不明", COMPLAINT_TEXTS[0], "complaint"),
            _report_row(2, "u1@example.jp", "", COMPLAINT_TEXTS[1], "complaint"),
            _report_row(3, "u2@example.jp", "2025-04-01", COMPLAINT_TEXTS[3], "complaint")]
    html, stats = build_report(_write_scored(tmp_path / "undated.jsonl", rows), sender_key_file=key_file)
    assert stats.columns["date"] == "受付日" and stats.senders == 2
    table = html.split("per sender")[1]
    cells = {c[1]: c for c in (re.findall(r"<td[^>]*>([^<]*)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", table))
             if c}
    assert (cells["2"][2], cells["2"][3], cells["2"][6]) == ("—", "—", "—")  # first, last, 7-day run
    assert (cells["1"][2], cells["1"][6]) == ("2025-04-01", "1")


def test_records_without_a_sender_are_counted_above_the_sender_table(tmp_path, key_file):
    rows = [_report_row(i, s, "2025-05-01", COMPLAINT_TEXTS[i % 4], "complaint")
            for i, s in enumerate(["非通知", "", "匿名", "-", "090-1111-2222"])]
    html, stats = build_report(_write_scored(tmp_path / "anon.jsonl", rows), sender_key_file=key_file)
    assert stats.senders == 1 and "4 records without a sender" in html.split("per sender")[1]


@pytest.mark.parametrize("text", ["許さんぞ", "お前ら絶対に許さんぞ。", "家に帰さんからな", "逃がさんぞ",
                                  "これで済まさんぞ", "金は出さんぞ", "書類は渡さんぞ！", "許さん！覚えておけ",
                                  # (re-read: these were masked by the first narrowing)
                                  "ただでは済まさん", "絶対に逃がさん", "今日は帰さん", "家に帰さん、覚悟しろ",
                                  "お前を許さん", "絶対に許さん。", "金は返さん", "逃がさんからね", "済まさんよ"])
def test_a_dialect_negative_is_not_a_name(text):
    """Finding 17 of issue 5: 「許さんぞ」 became 「＊＊さんぞ」 in the queue, hiding the threat's wording."""
    assert mask_personal(text) == text


@pytest.mark.parametrize(("text", "masked"), [
    ("小出さんに伝えてください", "＊＊さんに伝えてください"),
    ("許さんぞ、山田さんにも言っておけ", "許さんぞ、＊＊さんにも言っておけ"),
    ("井出さんが担当でした", "＊＊さんが担当でした"),
    ("許さんが担当です", "＊＊さんが担当です"),  # 許 as a family name, followed by が
    # names whose ending a dialect negative can have too (re-read finding: these were shown)
    ("担当の渡さんから電話がありました", "担当の＊＊さんから電話がありました"),
    ("窓口の許さんから説明を受けた", "窓口の＊＊さんから説明を受けた"),
    ("渡さん、よろしく", "＊＊さん、よろしく"),
    ("担当の出さんから", "担当の＊＊さんから"),
    ("離さんが担当", "＊＊さんが担当"),
    ("担当は渡さん。", "担当は＊＊さん。"),
    ("窓口の許さんで", "窓口の＊＊さんで"),
])
def test_names_before_san_are_still_masked(text, masked):
    assert mask_personal(text) == masked


def test_a_date_column_blank_in_its_first_rows_is_still_the_date_column(tmp_path, key_file):
    """Re-read round 2: a real date column empty in the sampled rows was passed over."""
    text = "家の前の道路に大きな穴が開いています。先月も連絡しましたが、まだ直っていません。早急に補修してください。"
    rows = [{k: v for k, v in _report_row(i, "taro@example.jp", "", text, "complaint").items() if k != "受付日"}
            | {"受付年月日": "" if i < 3 else f"2024/04/0{i}"} for i in range(6)]
    html, stats = build_report(_write_scored(tmp_path / "blank.jsonl", rows[:3]), sender_key_file=key_file)
    assert stats.columns["date"] == "受付年月日" and not any("looks like a date" in w for w in stats.warnings)
    html, stats = build_report(_write_scored(tmp_path / "late.jsonl", rows), sender_key_file=key_file)
    assert stats.columns["date"] == "受付年月日"


# -- acceptance findings (acc5) ---------------------------------------------------------------------------

LONG_COMPLAINT = ("先月から自宅前の道路に大きな穴があいていて自転車で通るたびに転びそうになります区役所には三回電話"
                  "しましたがまだ直っていません子どもの通学路でもあるので危険です早急に補修してください対応の予定日を"
                  "文書で知らせてください")


@pytest.mark.parametrize("length", [20, 100])
def test_the_repetition_note_states_the_rule_near_duplicates_applies(tmp_path, key_file, length):
    """The note said 「5%以下かつ2文字以下」 (the stricter of the two); the rule allows the larger."""
    from complaint_triage.batch import NEAR_CHANGED, NEAR_CHANGED_MIN, near_duplicates

    path = _write_scored(tmp_path / "s.jsonl", _busy_and_repeating_senders(1))
    html, _ = build_report(path, sender_key_file=key_file)
    assert (f"違う・欠ける文字が{NEAR_CHANGED_MIN}文字か短い方の{NEAR_CHANGED:.0%}の多い方まで" in html
            and "かつ" not in html.split("per sender")[1])
    text = LONG_COMPLAINT[:length]
    allowed = max(NEAR_CHANGED_MIN, int(NEAR_CHANGED * length))  # what the note says: 2 of 20, 5 of 100

    def changed(k: int) -> str:
        return "".join("ぬ" if i % (length // k) == 1 and i // (length // k) < k else c for i, c in enumerate(text))

    assert near_duplicates(text, changed(allowed)) and not near_duplicates(text, changed(allowed + 1))


@pytest.mark.parametrize(("text", "masked"), [
    ("娘の名前はゆいちゃんだな", "娘の名前は＊＊ちゃんだな"),  # 名前は was masked with the name
    ("下の名前はみさきさん", "下の名前は＊＊さん"),
    ("お名前ゆいちゃん", "お名前＊＊ちゃん"),
    ("担当のゆみさんっていうんだ", "担当の＊＊さんっていうんだ"),
    ("娘はゆいちゃんです", "娘は＊＊ちゃんです"),
    ("相談員の氏家氏の即時異動を求めます", "相談員の＊＊＊＊氏の即時異動を求めます"),
    ("氏名は山田太郎様です", "氏名は＊＊様です"),
    # a family name with a kana given name is still one name: masked whole
    ("山田はるかさんに伝えて", "＊＊さんに伝えて"),
    ("佐藤のりこさんが担当", "＊＊さんが担当"),
    # no name after the particle: nothing masked
    ("次の委員会で君らの課の運営を取り上げる", "次の委員会で君らの課の運営を取り上げる"),
    ("私の氏の「邊」の字が違う", "私の氏の「邊」の字が違う"),
])
def test_a_label_or_a_word_before_a_name_stays_readable(text, masked):
    """Acc5 #7: the honorific rule took 名前は (a kanji word and a kana tail) for the name."""
    assert mask_personal(text) == masked


TOP_PHRASES = [  # (message, evidence phrase, phrase shown or None: nothing readable once masked)
    ("電話は03(3333)4444だな。", "03(3333)4444だな。", None),
    ("職員の高橋、覚えてろ。", "高橋", None),
    ("担当の高橋さんだな。", "高橋さんだな。", None),
    ("〒154-0001 世田谷区池尻1-2-3に住んでるな", "154-0001", None),
    ("娘の名前はゆいちゃんだな。", "娘の名前はゆいちゃんだな", "娘の名前は＊＊ちゃんだな"),
    ("殺すぞ。高橋の家は知ってる。", "高橋の家は知ってる", "＊＊の家は知ってる"),
    ("お前を殺すぞ", "殺すぞ", "殺すぞ"),
]


@pytest.mark.parametrize("located", [True, False], ids=["in-its-message", "on-its-own"])
def test_an_evidence_phrase_no_mask_touches_is_kept_without_the_dictionary(monkeypatch, located):
    """Reread #9: every phrase went through MeCab, and a phrase of particles only, unmasked, was dropped."""
    asked: list[str] = []
    monkeypatch.setattr(report, "_has_word", lambda text: asked.append(text) or False)
    text = "お前はだからな。職員の高橋、覚えてろ。"
    spans = [{**_span(text, "だからな。"), "category": "abusive_language"}, _span(text, "高橋")]
    if not located:
        spans = [{**sp, "start": None} for sp in spans]
    assert report._evidence_phrases(spans, text) == [("abusive_language", "だからな。")]
    assert len(asked) == 1  # the masked name only


@pytest.mark.parametrize("located", [True, False], ids=["in-its-message", "on-its-own"])
def test_evidence_phrases_with_no_word_left_once_masked_are_not_ranked(tmp_path, key_file, located):
    """Acc5 #7: 「＊」×3 and 「＊だな。」 were among the top threat phrases."""
    rows = []
    for i, (text, phrase, _shown) in enumerate(TOP_PHRASES):
        span = _span(text, phrase)
        rows.append(_pii_row(i, text if located else "", [span] if located else [{**span, "start": None}]))
    html, _ = build_report(_write_scored(tmp_path / "top.jsonl", rows), sender_key_file=key_file)
    phrases = re.findall(r"<li>「(.*?)」", html.split("top evidence phrases")[1].split("per sender")[0])
    assert sorted(phrases) == sorted(shown for _t, _p, shown in TOP_PHRASES if shown)


def test_a_pipe_is_refused_at_once_not_waited_on(tmp_path):
    # (acceptance test 5b: `report fifo.csv` hung for ever, as batch did before it refused pipes)
    import os
    import threading

    from complaint_triage.exceptions import InputFormatError
    from complaint_triage.report import build_report

    fifo = tmp_path / "scored.csv"
    os.mkfifo(fifo)
    got: list[str] = []

    def build() -> None:
        try:
            build_report(fifo)
        except InputFormatError as e:
            got.append(str(e))
        except Exception as e:  # (reported below, not lost in the thread)
            got.append(repr(e))

    t = threading.Thread(target=build, daemon=True)
    t.start()
    t.join(20)
    if t.is_alive():  # (blocked opening the pipe: a writer lets it go)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(20)
        pytest.fail("report blocked reading a named pipe")
    assert len(got) == 1 and "is a pipe" in got[0] and "report cannot read" in got[0], got
    assert "save the data to a file" in got[0]
