"""A self-contained HTML report of a scored batch, for the head of section.

:func:`write_report` reads a file written by ``complaint-triage batch`` (Parquet, CSV,
JSONL or .xlsx; also the JSONL of ``complaint-triage score``) in one streaming pass and
writes one HTML file with no external resources (charts are inline SVG, styles inline,
and a Content-Security-Policy forbids any network access):

* counts by month (stacked by verdict), channel, topic/department and harassment category;
* the share of complaints and of harassment per month;
* the review queue (messages flagged ``review``), the top evidence phrases per category;
* the per-sender table (pseudonymised ids, 7-day runs, repetition flags).

Personal data is masked: e-mail addresses, telephone numbers, postal codes, long digit
runs, street numbers and names followed by an honorific (``山田様``) in every text shown;
sender ids are shown as keyed-hash pseudonyms (see :mod:`complaint_triage.batch`).
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from complaint_triage.batch import SenderAggregator, iter_scored, load_sender_key, parse_date
from complaint_triage.email import mask_text
from complaint_triage.exceptions import InputFormatError
from complaint_triage.labels import CATEGORIES, VERDICTS

__all__ = ["ReportStats", "build_report", "mask_personal", "write_report", "COLOURS"]

#: Chart colours by series.
COLOURS = {"harassment": "#c0392b", "complaint": "#e67e22", "inquiry": "#2e86c1", "error": "#95a5a6",
           "category": "#8e44ad"}
_SERIES = (*VERDICTS, "error")
_VERDICT_JA = {"harassment": "カスハラ", "complaint": "苦情", "inquiry": "問合せ", "error": "エラー"}
_CATEGORY_JA = {
    "violence": "暴力", "threat": "脅迫", "other_illegal": "その他違法", "excessive_demand": "過剰要求",
    "abusive_language": "暴言", "sns_harassment": "SNS", "other_improper": "その他不当",
}

_CANDIDATES = {
    "date": ("date", "received", "received_at", "created_at", "datetime", "timestamp",
             "受付日", "受付日時", "日付", "日時"),
    "channel": ("channel", "チャネル", "受付方法", "媒体", "経路"),
    "topic": ("topic", "department", "dept", "section", "担当課", "所管課", "部署", "課", "分類"),
    "sender": ("sender_id", "sender", "from", "customer_id", "phone", "email", "送信者", "顧客ID"),
    "id": ("id", "record_id", "message_id", "受付番号", "番号"),
    "text": ("text", "body", "本文", "内容"),
}

# -- masking -----------------------------------------------------------------

_NOT_NAMES = ("お客", "皆", "みな", "客", "担当者", "担当", "職員", "区長", "市長", "課長", "係長", "部長", "窓口",
              "区民",
              "市民", "住民", "相手", "皆さ", "みなさ", "先方", "役所", "区役所", "業者", "上司", "同僚", "隣", "近所")
_HONORIFIC = re.compile(r"([\u4e00-\u9fff々\u3040-\u309f\u30a0-\u30ffー]{1,8}|[A-Za-z][A-Za-z.\-]{1,20})"
                        r"\s?(様|さま|さん|氏|殿|くん|君|ちゃん)")
_POSTAL = re.compile(r"(?<![0-9０-９\-‐－ー−*])〒?\s?[0-9０-９]{3}[-‐－ー−][0-9０-９]{4}(?![0-9０-９\-‐－ー−])")
_DIGITS = re.compile(r"[0-9０-９]{5,}")
_STREET = re.compile(r"[0-9０-９一二三四五六七八九十]+丁目[0-9０-９\-‐－ー−番地号の]+")


def _name_sub(m: re.Match[str]) -> str:
    name = m.group(1)
    if any(name.endswith(w) for w in _NOT_NAMES):
        return m.group(0)
    return "＊＊" + m.group(2)


def mask_personal(text: str) -> str:
    """Mask personal data in a text shown in the report.

    >>> mask_personal("山田様 taro@example.jp 03-1234-5678 〒154-0001 番号123456")
    '＊＊様 t***@example.jp 0*-****-**** 〒***-**** 番号＊＊＊'
    """
    text = mask_text(text)
    text = _POSTAL.sub(lambda m: re.sub(r"[0-9０-９]", "*", m.group(0)), text)
    text = _STREET.sub("＊丁目＊", text)
    text = _DIGITS.sub("＊＊＊", text)
    return _HONORIFIC.sub(_name_sub, text)


# -- charts ------------------------------------------------------------------


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _empty_svg(msg: str = "データなし (no data)") -> str:
    return (f'<svg class="chart" viewBox="0 0 600 60" role="img"><text x="10" y="35" font-size="14" '
            f'fill="#666">{_e(msg)}</text></svg>')


def _legend(series: list[str], x: float, y: float) -> str:
    out = []
    for i, s in enumerate(series):
        xx = x + i * 120
        out.append(f'<rect x="{xx}" y="{y}" width="12" height="12" fill="{COLOURS.get(s, "#555")}"/>'
                   f'<text x="{xx + 16}" y="{y + 11}" font-size="12">{_e(_VERDICT_JA.get(s, s))} ({_e(s)})</text>')
    return "".join(out)


def svg_stacked_columns(labels: list[str], data: dict[str, list[int]], *, title: str) -> str:
    """Vertical stacked bars: one column per label, one colour per series."""
    if not labels:
        return _empty_svg()
    series = [s for s in data if any(data[s])]
    w, h, left, top, bottom = 900, 320, 50, 30, 60
    n = len(labels)
    peak = max(sum(data[s][i] for s in series) for i in range(n)) or 1
    step = (w - left - 10) / n
    bw = max(2.0, step * 0.75)
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">']
    for t in range(5):
        v = peak * t / 4
        y = top + (h - top - bottom) * (1 - t / 4)
        parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{v:,.0f}</text>')
    for i, lab in enumerate(labels):
        x = left + i * step + (step - bw) / 2
        y0 = h - bottom
        for s in series:
            v = data[s][i]
            if not v:
                continue
            bh = (h - top - bottom) * v / peak
            y0 -= bh
            parts.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                         f'fill="{COLOURS.get(s, "#555")}">'
                         f'<title>{_e(lab)} {_e(s)}: {v:,}</title></rect>')
        if n <= 24 or i % max(1, n // 24) == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 14}" font-size="10" text-anchor="end" '
                         f'transform="rotate(-45 {x + bw / 2:.1f} {h - bottom + 14})">{_e(lab)}</text>')
    parts.append(_legend(series, left, 6))
    parts.append("</svg>")
    return "".join(parts)


def svg_stacked_bars(rows: list[tuple[str, dict[str, int]]], series: list[str], *, title: str) -> str:
    """Horizontal stacked bars: one bar per row label."""
    if not rows:
        return _empty_svg()
    series = [s for s in series if any(r[1].get(s) for r in rows)]
    label_w, w, bar_h, gap, top = 190, 900, 18, 6, 30
    h = top + len(rows) * (bar_h + gap) + 10
    peak = max(sum(r[1].values()) for r in rows) or 1
    span = w - label_w - 70
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">']
    for i, (lab, counts) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">{_e(lab)}</text>')
        x = float(label_w)
        for s in series:
            v = counts.get(s, 0)
            if not v:
                continue
            bw = span * v / peak
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{bw:.1f}" height="{bar_h}" fill="{COLOURS.get(s, "#555")}">'
                         f'<title>{_e(lab)} {_e(s)}: {v:,}</title></rect>')
            x += bw
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="11">{sum(counts.values()):,}</text>')
    if len(series) > 1:
        parts.append(_legend(series, label_w, 6))
    parts.append("</svg>")
    return "".join(parts)


def svg_lines(labels: list[str], data: dict[str, list[float | None]], *, title: str) -> str:
    """Line chart of shares (0–1) per label."""
    if not labels:
        return _empty_svg()
    w, h, left, top, bottom = 900, 280, 50, 30, 60
    n = len(labels)
    step = (w - left - 20) / max(1, n - 1)
    ph = h - top - bottom
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">']
    for t in range(5):
        y = top + ph * (1 - t / 4)
        parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{t * 25}%</text>')
    for s, vals in data.items():
        pts = [(left + i * step, top + ph * (1 - v)) for i, v in enumerate(vals) if v is not None]
        if not pts:
            continue
        colour = COLOURS.get(s, "#555")
        if len(pts) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="3" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>' for x, y in pts)
    for i, lab in enumerate(labels):
        if n <= 24 or i % max(1, n // 24) == 0:
            x = left + i * step
            parts.append(f'<text x="{x:.1f}" y="{h - bottom + 14}" font-size="10" text-anchor="end" '
                         f'transform="rotate(-45 {x:.1f} {h - bottom + 14})">{_e(lab)}</text>')
    parts.append(_legend(list(data), left, 6))
    parts.append("</svg>")
    return "".join(parts)


# -- aggregation ---------------------------------------------------------------


@dataclass
class ReportStats:
    """What went into a report."""

    rows: int
    scored: int
    errors: int
    review: int
    months: int
    senders: int
    columns: dict[str, str | None]


def _pick(keys: list[str], given: str | None, kind: str) -> str | None:
    if given is not None:
        if given not in keys:
            raise InputFormatError(f"no {kind} column {given!r} in the scored file (columns: {', '.join(keys)})")
        return given
    lower = {k.lower(): k for k in keys}
    for c in _CANDIDATES[kind]:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def _excerpt(text: object, n: int = 120) -> str:
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    flat = mask_personal(flat)
    return flat[:n] + ("…" if len(flat) > n else "")


_CSS = """
body{font-family:"Noto Sans CJK JP","Hiragino Sans","Yu Gothic",Meiryo,sans-serif;margin:24px;color:#222;
background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #eee;padding-bottom:4px}
.meta{color:#555;font-size:13px} .kpis{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.kpi b{display:block;font-size:20px} .kpi span{font-size:12px;color:#555}
.chart{width:100%;max-width:900px;height:auto;display:block}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5} td.n{text-align:right} .flag{color:#c0392b;font-weight:bold}
.note{font-size:12px;color:#666}
"""


def build_report(
    scored: str | os.PathLike[str],
    *,
    date_col: str | None = None,
    channel_col: str | None = None,
    topic_col: str | None = None,
    sender_col: str | None = None,
    id_col: str | None = None,
    text_col: str | None = None,
    title: str = "苦情・カスタマーハラスメント 集計レポート",
    max_review: int = 200,
    top_phrases: int = 8,
    max_senders: int = 50,
    max_topics: int = 20,
    sender_key_file: str | os.PathLike[str] | None = None,
    generated: datetime | None = None,
) -> tuple[str, ReportStats]:
    """Build the HTML report of a scored file; return ``(html, stats)``.

    Columns not given are looked for under usual names (``date``, ``channel``,
    ``topic``/``department``, ``sender_id``/``sender``/``from``, ``id``, ``text``);
    sections whose column is absent say so.
    """
    path = Path(scored)
    rows = iter_scored(path)
    cols: dict[str, str | None] = {}
    month_v: Counter[tuple[str, str]] = Counter()
    chan_v: Counter[tuple[str, str]] = Counter()
    topic_v: Counter[tuple[str, str]] = Counter()
    cats: Counter[str] = Counter()
    phrases: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    review: list[dict[str, Any]] = []
    n = n_scored = n_err = n_review = 0
    undated = 0
    versions: Counter[str] = Counter()
    agg: SenderAggregator | None = None
    first_date: datetime | None = None
    last_date: datetime | None = None

    for row in rows:
        if not cols:
            keys = list(row)
            cols = {k: _pick(keys, g, k) for k, g in (("date", date_col), ("channel", channel_col),
                                                     ("topic", topic_col), ("sender", sender_col),
                                                     ("id", id_col), ("text", text_col))}
            if cols["sender"] is not None:
                agg = SenderAggregator(key=load_sender_key(sender_key_file))
        n += 1
        err = row.get("error")
        verdict = "error" if err else (row.get("verdict") or "error")
        if err:
            n_err += 1
        else:
            n_scored += 1
        if row.get("model_version"):
            versions[row["model_version"]] += 1
        when = parse_date(row.get(cols["date"])) if cols["date"] else None
        if when is not None:
            month_v[(when.strftime("%Y-%m"), verdict)] += 1
            first_date = when if first_date is None or when < first_date else first_date
            last_date = when if last_date is None or when > last_date else last_date
        else:
            undated += 1
        if cols["channel"]:
            chan_v[(str(row.get(cols["channel"]) or "(なし)"), verdict)] += 1
        if cols["topic"]:
            topic_v[(str(row.get(cols["topic"]) or "(なし)"), verdict)] += 1
        if verdict == "harassment":
            cats.update(row.get("categories") or [])
        for ev in row.get("evidence") or []:
            if isinstance(ev, dict) and ev.get("category") in phrases and ev.get("text"):
                phrases[ev["category"]][mask_personal(" ".join(str(ev["text"]).split()))] += 1
        if row.get("review") and not err:
            n_review += 1
            if len(review) < max_review:
                review.append({
                    "id": row.get(cols["id"]) if cols["id"] else n,
                    "date": when.strftime("%Y-%m-%d %H:%M") if when else "",
                    "channel": row.get(cols["channel"]) if cols["channel"] else "",
                    "topic": row.get(cols["topic"]) if cols["topic"] else "",
                    "verdict": verdict,
                    "p": (row.get("scores") or {}).get("harassment"),
                    "categories": row.get("categories") or [],
                    "action": row.get("action") or "",
                    "excerpt": _excerpt(row.get(cols["text"])) if cols["text"] else "",
                })
        if agg is not None:
            agg.add(row.get(cols["sender"]), when=when, text=row.get(cols["text"]) if cols["text"] else None,
                    verdict=None if err else verdict, categories=row.get("categories") or (),
                    grievance=row.get("grievance"), quotes_reply=row.get("quotes_reply", False))

    # ---- charts
    months = sorted({m for m, _ in month_v})
    month_chart = svg_stacked_columns(months, {s: [month_v[(m, s)] for m in months] for s in _SERIES},
                                      title="月別件数")
    shares: dict[str, list[float | None]] = {"complaint": [], "harassment": []}
    for m in months:
        tot = sum(month_v[(m, s)] for s in VERDICTS)
        for s in shares:
            shares[s].append(month_v[(m, s)] / tot if tot else None)
    share_chart = svg_lines(months, shares, title="苦情とカスハラの割合")

    def grouped(counter: Counter[tuple[str, str]], limit: int) -> list[tuple[str, dict[str, int]]]:
        per: dict[str, dict[str, int]] = {}
        for (k, s), v in counter.items():
            per.setdefault(k, {})[s] = per.setdefault(k, {}).get(s, 0) + v
        ordered = sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        if len(ordered) > limit:
            rest: dict[str, int] = {}
            for _, d in ordered[limit:]:
                for s, v in d.items():
                    rest[s] = rest.get(s, 0) + v
            ordered = ordered[:limit] + [(f"その他 ({len(ordered) - limit})", rest)]
        return ordered

    chan_chart = (svg_stacked_bars(grouped(chan_v, 15), list(_SERIES), title="チャネル別")
                  if cols.get("channel") else _empty_svg("チャネル列なし (no channel column)"))
    topic_chart = (svg_stacked_bars(grouped(topic_v, max_topics), list(_SERIES), title="所管・分野別")
                   if cols.get("topic") else _empty_svg("所管・分野列なし (no topic/department column)"))
    cat_rows = [(f"{_CATEGORY_JA[c]} ({c})", {"category": cats[c]}) for c in sorted(CATEGORIES, key=lambda c: -cats[c])
                if cats[c]]
    cat_chart = svg_stacked_bars(cat_rows, ["category"], title="カスハラ類型別")

    # ---- tables
    def table(head: list[str], body: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
        if not body:
            return '<p class="note">該当なし (none)</p>'
        th = "".join(f"<th>{_e(h)}</th>" for h in head)
        trs = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>' for i, c in enumerate(r))
                      + "</tr>" for r in body)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"

    review_tbl = table(
        ["ID", "日時", "チャネル", "所管", "判定", "p(カスハラ)", "類型", "対応", "本文 (抜粋・マスク済)"],
        [[_e(mask_personal(str(r["id"]))), _e(r["date"]), _e(r["channel"] or ""), _e(r["topic"] or ""),
          _e(_VERDICT_JA.get(r["verdict"], r["verdict"])), f'{r["p"]:.2f}' if isinstance(r["p"], float) else "",
          _e(", ".join(r["categories"])), _e(r["action"]), _e(r["excerpt"])] for r in review],
        frozenset({5}),
    )
    phrase_blocks = []
    for c in CATEGORIES:
        top = phrases[c].most_common(top_phrases)
        if not top:
            continue
        items = "".join(f"<li>「{_e(p)}」 <span class=note>×{k:,}</span></li>" for p, k in top)
        phrase_blocks.append(f"<div><h3 style='font-size:14px'>{_e(_CATEGORY_JA[c])} ({_e(c)})</h3>"
                             f"<ol>{items}</ol></div>")
    sender_rows = agg.rows() if agg is not None else []
    sender_tbl = table(
        ["送信者 (仮名ID)", "件数", "初回", "最終", "カスハラ", "類型", "7日内最多", "繰返し", "繰返しフラグ"],
        [[_e(s["sender_id"]), f'{s["contacts"]:,}', _e((s["first_date"] or "")[:10]), _e((s["last_date"] or "")[:10]),
          f'{s["harassment_count"]:,}', _e(", ".join(s["harassment_categories"])), f'{s["longest_run_7d"]:,}',
          f'{s["repeat_count"]:,}', '<span class="flag">⚑ 繰返し</span>' if s["repetition"] else ""]
         for s in sender_rows[:max_senders]],
        frozenset({1, 4, 6, 7}),
    ) if agg is not None else '<p class="note">送信者列なし (no sender column)</p>'

    gen = (generated or datetime.now()).strftime("%Y-%m-%d %H:%M")
    period = (f"{first_date:%Y-%m-%d} – {last_date:%Y-%m-%d}" if first_date and last_date else "—")
    kpi = [("件数 messages", f"{n:,}"), ("判定済 scored", f"{n_scored:,}"), ("エラー errors", f"{n_err:,}"),
           ("要確認 review", f"{n_review:,}"), ("期間 period", period)]
    no_month = _empty_svg("日付列なし (no date column)" if not cols.get("date") else "日付なし (no dates)")
    shown = f", 先頭 {len(review):,} 件を表示" if n_review > len(review) else ""
    top_senders = f": 上位 {min(max_senders, len(sender_rows)):,} / {len(sender_rows):,}" if sender_rows else ""
    kpis = "".join(f"<div class=kpi><b>{_e(v)}</b><span>{_e(k)}</span></div>" for k, v in kpi)
    doc = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">ファイル {_e(path.name)} ・ 作成 {_e(gen)} ・ モデル {_e(", ".join(versions) or "—")}
 ・ 個人情報はマスク済 (personal data masked; sender ids are pseudonyms)</p>
<div class="kpis">{kpis}</div>
<h2>月別件数 (messages per month, by verdict)</h2>
{month_chart if months else no_month}
{f'<p class="note">日付のない {undated:,} 件は月別に含まれません。</p>' if undated and months else ''}
<h2>苦情とカスハラの割合の推移 (share of complaints and harassment per month)</h2>
{share_chart if months else _empty_svg()}
<div class="grid">
<div><h2>チャネル別 (by channel)</h2>{chan_chart}</div>
<div><h2>所管・分野別 (by topic / department)</h2>{topic_chart}</div>
</div>
<h2>カスハラ類型別 (harassment by category)</h2>
{cat_chart}
<h2>要確認キュー (review queue: {n_review:,} 件{shown})</h2>
{review_tbl}
<h2>類型別の主な根拠表現 (top evidence phrases per category)</h2>
<div class="grid">{"".join(phrase_blocks) or '<p class="note">該当なし (none)</p>'}</div>
<h2>送信者別 (per sender{top_senders})</h2>
<p class="note">7日内最多 = 任意の7日間の最多件数。繰返し = 返信後に同じ内容 (近似重複) を再送した回数;
2回以上でフラグ。</p>
{sender_tbl}
</body></html>
"""
    stats = ReportStats(rows=n, scored=n_scored, errors=n_err, review=n_review, months=len(months),
                        senders=len(sender_rows), columns=cols)
    return doc, stats


def write_report(scored: str | os.PathLike[str], output: str | os.PathLike[str], **kwargs: Any) -> ReportStats:
    """Write the report of ``scored`` to ``output`` (atomically); see :func:`build_report`."""
    doc, stats = build_report(scored, **kwargs)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(doc, encoding="utf-8")
    os.replace(tmp, out)
    return stats
