"""The HTML report: aggregates, masking, self-containment, every scored format, a real browser."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from complaint_triage.batch import SENDER_KEY_ENV, iter_scored, run_batch
from complaint_triage.exceptions import InputFormatError
from complaint_triage.report import COLOURS, build_report, mask_personal, write_report

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
    return tmp_path_factory.mktemp("key") / "sender.key"


@pytest.mark.parametrize(("text", "hidden", "kept"), [
    ("山田様から電話", "山田", "様から電話"),
    ("担当者様へ", None, "担当者様へ"),
    ("taro@example.jp まで", "taro@", "@example.jp"),
    ("TEL 090-1234-5678", "1234-5678", "TEL 0"),
    ("〒154-0001 世田谷区", "154-0001", "世田谷区"),
    ("会員番号 1234567", "1234567", "会員番号"),
    ("太子堂1丁目2-3に住む", "2-3", "に住む"),
    ("3回も回収されていない", None, "3回も回収されていない"),
])
def test_mask_personal(text, hidden, kept):
    masked = mask_personal(text)
    if hidden:
        assert hidden not in masked
    assert kept in masked


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
    for ext in ("parquet", "csv", "jsonl", "xlsx"):
        outs[ext] = d / f"scored.{ext}"
        run_batch([src], outs[ext], model=small_model_dir, jobs=1, progress=False, sender_col="電話",
                  date_col="受付日", sender_key_file=d / "k")
    return outs


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
