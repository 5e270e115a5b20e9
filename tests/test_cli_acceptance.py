"""Regressions found by acceptance testing of the CLI: train with corrections, summary of an
unscored file, evaluate on other text columns and on scored output, score's input checks and
the position of CSV error records."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import complaint_triage.training as training
from complaint_triage.cli import app
from complaint_triage.feedback import FEEDBACK_DB_ENV, FeedbackStore

runner = CliRunner()

#: Settings that make a small corpus train in seconds (as notebook 05 does when QUICK).
FAST_PARAMS = {"max_features": 20_000, "char_ngram_range": [2, 3]}

COMPLAINT = {"verdict": "complaint", "categories": [], "grievance": True}
INQUIRY = {"verdict": "inquiry", "categories": [], "grievance": False}
THREAT = {"verdict": "harassment", "categories": ["sns_harassment", "threat"], "grievance": False}

#: Labelled messages (text, labels) used as gold data.
LABELLED = [
    ("窓口で聞くたびに説明が違います。案内を統一してください。", COMPLAINT),
    ("図書館で借りた本を汚してしまいました。弁償の手続きを教えてください。", INQUIRY),
    ("担当者の顔写真をネットに晒して拡散してやるからな。覚悟しとけ。", THREAT),
]


def _lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def _flat(s: str) -> str:
    """Console output with its line wrapping undone."""
    return " ".join(s.split())


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# -- 1. train uses the analysts' corrections ------------------------------------------------


@pytest.fixture
def fast_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """`train` as the CLI calls it, with small-corpus settings (the CLI has no option for them)."""
    real = training.train
    monkeypatch.setattr(training, "train", lambda **kw: real(**kw, params=FAST_PARAMS))


@pytest.fixture
def corrections_db(small_data_dir: Path, tmp_path: Path) -> Path:
    """Two corrections: one relabels a train-split corpus message (by its text), one is a new message."""
    corpus = [json.loads(x) for x in (small_data_dir / "corpus" / "handwritten.jsonl").read_text(
        encoding="utf-8").splitlines() if x.strip()]
    target = next(r for r in corpus if r["split"] == "train" and r["verdict"] == "harassment")
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.add({"text": target["text"], **COMPLAINT, "corrected_by": "analyst-a",
               "corrected_at": "2025-10-01T00:00:00Z"})
    store.add({"text": LABELLED[2][0], **THREAT, "corrected_by": "analyst-a", "corrected_at": "2025-10-02T00:00:00Z"})
    return store.path


@pytest.mark.parametrize(("given", "n_extra"), [("option", 2), ("env", 2), ("none", 0)])
def test_train_uses_the_corrections_database(fast_training, small_data_dir, corrections_db, tmp_path, monkeypatch,
                                             given, n_extra):
    """`train` trained without the corrections (n_extra_records 0) even with $COMPLAINT_TRIAGE_FEEDBACK_DB set."""
    monkeypatch.delenv(FEEDBACK_DB_ENV, raising=False)
    args = ["train", "--data-dir", str(small_data_dir), "--models-dir", str(tmp_path / "models"), "--no-promote",
            "--jobs", "1"]
    if given == "option":
        args += ["--feedback-db", str(corrections_db)]
    elif given == "env":
        monkeypatch.setenv(FEEDBACK_DB_ENV, str(corrections_db))
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    manifest = json.loads((Path(json.loads(r.stdout)["directory"]) / "manifest.json").read_text(encoding="utf-8"))
    td = manifest["training_data"]
    assert td["n_extra_records"] == n_extra
    if n_extra:
        assert td["n_corrections"] == 2 and td["n_replaced"] == 1
        assert "training with 2 corrections" in _flat(r.stderr)
    else:
        assert "training with" not in r.stderr


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_train_refuses_a_corrections_database_that_is_not_one(small_data_dir, tmp_path, kind):
    db = tmp_path / "fb.sqlite3"
    if kind == "folder":
        db.mkdir()
    r = runner.invoke(app, ["train", "--data-dir", str(small_data_dir), "--models-dir", str(tmp_path / "models"),
                            "--no-promote", "--feedback-db", str(db)])
    assert r.exit_code == 2 and "corrections database" in _flat(r.stderr)
    assert db.is_dir() if kind == "folder" else not db.exists()  # never created
    assert not (tmp_path / "models").exists()


# -- 2. summary of a file that is not scored output ------------------------------------------


@pytest.mark.parametrize(
    ("records", "needle"),
    [
        ([{"id": "ex-01", "channel": "email", "text": "粗大ごみの申込みはネットと電話のどちらが早いでしょうか。"}],
         "looks unscored"),
        ([{"text": LABELLED[0][0], **LABELLED[0][1]}], "not scored output"),
    ],
)
def test_summary_of_unscored_input_says_to_score_it_first(tmp_path, records, needle):
    """KeyError 'verdict' after printing "verdicts: error N"."""
    r = runner.invoke(app, ["summary", str(_write_jsonl(tmp_path / "messages.jsonl", records))])
    assert r.exit_code == 2, r.output
    assert needle in _flat(r.stderr) and "complaint-triage score" in _flat(r.stderr)
    assert "verdicts" not in r.stdout
    assert isinstance(r.exception, SystemExit)


def test_summary_counts_lines_that_are_not_objects_as_errors(tmp_path):
    """A JSON line that is not an object raised AttributeError."""
    scored = {"id": "a", "text": LABELLED[0][0], **LABELLED[0][1], "scores": {"harassment": 0.02},
              "evidence": [], "action": "normal_reply", "review": False, "model_version": "m-test"}
    f = tmp_path / "scored.jsonl"
    f.write_text(json.dumps(scored, ensure_ascii=False) + "\n[1, 2]\n\"苦情です\"\n", encoding="utf-8")
    r = runner.invoke(app, ["summary", str(f)])
    assert r.exit_code == 0, r.output
    assert "3 messages" in r.stdout and "error 2" in r.stdout and "complaint 1" in r.stdout
    assert "JSON list" in r.stdout


# -- 3. evaluate with another text column, or a file named for the wrong delimiter -----------


def _labelled_csv(path: Path, text_column: str, sep: str) -> Path:
    rows = [sep.join([text_column, "verdict", "categories", "grievance"])]
    rows += [sep.join([text, lab["verdict"], "|".join(lab["categories"]), str(lab["grievance"]).lower()])
             for text, lab in LABELLED]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "column", "sep", "refused", "fixed_by"),
    [
        ("lab3.csv", "本文", ",", "--text-column", ["--text-column", "本文"]),
        ("lab3.tsv", "text", ",", "--format csv", ["--format", "csv"]),
        ("lab3.csv", "text", "\t", "--format tsv", ["--format", "tsv"]),
    ],
)
def test_evaluate_text_column_and_format(small_model_dir, tmp_path, name, column, sep, refused, fixed_by):
    """A missing text column was an uncaught InputFormatError naming an option evaluate lacked."""
    f = _labelled_csv(tmp_path / name, column, sep)
    r = runner.invoke(app, ["evaluate", str(f), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and refused in _flat(r.stderr), r.output
    assert isinstance(r.exception, SystemExit)
    r = runner.invoke(app, ["evaluate", str(f), "--json", "--model", str(small_model_dir), *fixed_by])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == len(LABELLED)


# -- 4. evaluate refuses scored output as gold labels -----------------------------------------


def _scored_records() -> list[dict]:
    return [{"id": f"m{i}", "text": text, **lab, "scores": {"harassment": 0.5}, "evidence": [], "action": "x",
             "review": False, "model_version": "m-test"} for i, (text, lab) in enumerate(LABELLED)]


@pytest.mark.parametrize(
    "records",
    [
        _scored_records(),
        # with an error record of the scoring run
        [*_scored_records(), {"id": "m9", "text": "", "line": 4, "error": "text is empty", "model_version": "m-test"}],
    ],
)
def test_evaluate_refuses_scored_output(small_model_dir, tmp_path, records):
    """evaluate took a scored file's predictions as gold labels and reported perfect scores."""
    r = runner.invoke(app, ["evaluate", str(_write_jsonl(tmp_path / "demo-scored.jsonl", records)),
                            "--model", str(small_model_dir)])
    assert r.exit_code == 2, r.output
    msg = _flat(r.stderr)
    assert "'model_version' and 'scores'" in msg and "gold labels" in msg


def test_evaluate_refuses_the_output_of_score(small_model_dir, tmp_path):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": t, **lab} for t, lab in LABELLED])
    out = tmp_path / "scored.jsonl"
    assert runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)]).exit_code == 0
    r = runner.invoke(app, ["evaluate", str(out), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "gold labels" in _flat(r.stderr)


def test_evaluate_accepts_labels_that_name_a_model_without_scores(small_model_dir, tmp_path):
    """Labelled records that say which model was corrected (an export of corrections) are gold labels."""
    records = [{"text": t, **lab, "model_version": "m-old"} for t, lab in LABELLED]
    r = runner.invoke(app, ["evaluate", str(_write_jsonl(tmp_path / "g.jsonl", records)), "--json",
                            "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == len(LABELLED)


# -- 5. score: a folder, or a file of unknown format --------------------------------------------


def test_score_a_folder_says_it_is_a_folder(small_model_dir, tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    r = runner.invoke(app, ["score", str(d), "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "is a folder" in _flat(r.stderr) and "does not exist" not in r.stderr


@pytest.mark.parametrize("name", ["notes.txt", "pic.png", "messages"])
def test_score_refuses_an_unknown_extension(small_model_dir, tmp_path, name):
    """Such files were read as JSONL: one error record per line, exit 0."""
    src = _write_jsonl(tmp_path / name, [{"text": "道路に穴が空いています。直してください。"}])
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(small_model_dir)])
    msg = _flat(r.stderr)
    assert r.exit_code == 2 and "cannot tell the format" in msg and ".jsonl" in msg and "--format" in msg
    assert not out.exists()
    r = runner.invoke(app, ["score", str(src), "--format", "jsonl", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    assert "verdict" in _lines(r.stdout)[0]


@pytest.mark.parametrize("name", ["in.jsonl", "in.JSON", "in.ndjson"])
def test_score_reads_jsonl_extensions(small_model_dir, tmp_path, name):
    src = _write_jsonl(tmp_path / name, [{"text": LABELLED[1][0]}])
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    assert "verdict" in _lines(r.stdout)[0]


# -- 6. error records say where they are -----------------------------------------------------


def test_csv_error_records_carry_their_line(small_model_dir, tmp_path):
    """CSV error records from score had no position (only the input columns and error)."""
    src = tmp_path / "nl.csv"
    src.write_text('id,text\n1,"改行を\n含む本文です"\n2,\n3,ゴミが3回も回収されていません。至急対応してください。\n'
                   '4,図書館はどこですか\n', encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--max-chars", "10", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = _lines(r.stdout)
    assert [x["id"] for x in rows] == ["1", "2", "3", "4"]
    assert "line" not in rows[0] and "line" not in rows[3]  # scored records: the input plus predictions
    assert rows[1]["line"] == 4 and "empty" in rows[1]["error"]  # the physical line where the record starts
    assert rows[2]["line"] == 5 and "over the limit" in rows[2]["error"]


def test_jsonl_error_records_carry_their_line_and_rename_an_input_line_field(small_model_dir, tmp_path):
    """(Session 23: an input 'line' field was kept as it was, hiding where the error is; it is now
    renamed 'input_line', as batch renames input columns named like output columns.)"""
    src = _write_jsonl(tmp_path / "in.jsonl", [
        {"id": "a", "text": LABELLED[0][0]},
        {"id": "b", "text": "   "},
        {"id": "c"},
        {"id": "d", "text": "", "line": "受付簿12行目"},
    ])
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    rows = _lines(r.stdout)
    assert "line" not in rows[0]
    assert [x.get("line") for x in rows[1:]] == [2, 3, 4] and rows[3]["input_line"] == "受付簿12行目"
    assert all("error" in x for x in rows[1:])


def test_evaluate_refuses_an_unknown_encoding(tmp_path):
    """An unknown --encoding stopped evaluate with a LookupError traceback."""
    labels = _labelled_csv(tmp_path / "labels.csv", "text", ",")
    r = runner.invoke(app, ["evaluate", str(labels), "--encoding", "shift-jiss"])
    assert r.exit_code == 2
    assert "unknown --encoding 'shift-jiss'" in _flat(r.stderr)


def test_summary_reads_scored_rows_that_say_error_null(small_model_dir, tmp_path):
    """A scored file exported through a table (pandas, a spreadsheet) carries "error": null on its
    scored rows; summary listed every such row as an error."""
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "燃えるゴミの日を教えてください。"},
                                               {"id": "2", "text": "   "}])
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "scored.jsonl"), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = [{"error": None, **row} for row in _lines((tmp_path / "scored.jsonl").read_text(encoding="utf-8"))]
    table = _write_jsonl(tmp_path / "table.jsonl", rows)
    r = runner.invoke(app, ["summary", str(table)])
    assert r.exit_code == 0, r.output
    assert "inquiry 1" in r.stdout and "error 1" in r.stdout
    assert r.stdout.count("inquiry") == 2 and "None" not in r.stdout  # its table row shows the verdict


# -- 7. score's input and output, explain's terminal safety, diagnostics for logs --------------


@pytest.mark.parametrize("same", [True, False])
def test_score_from_stdin_refuses_an_output_that_is_the_stdin_file(small_model_dir, tmp_path, same):
    """`score - -o victim.jsonl < victim.jsonl` emptied the file it read (exit 0)."""
    content = "".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n"
                      for i, (t, _) in enumerate(LABELLED))
    src = tmp_path / "victim.jsonl"
    src.write_text(content, encoding="utf-8")
    out = src if same else tmp_path / "other.jsonl"
    with src.open("rb") as stdin:
        r = subprocess.run([sys.executable, "-m", "complaint_triage.cli", "score", "-", "-o", str(out),
                            "--model", str(small_model_dir)], stdin=stdin, capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
    assert src.read_text(encoding="utf-8") == content
    if same:
        assert r.returncode == 2 and "is the input file" in r.stderr, r.stderr
    else:
        assert r.returncode == 0, r.stderr
        assert len(_lines(out.read_text(encoding="utf-8"))) == len(LABELLED)


#: Messages carrying terminal escape sequences and other control characters (not \n, \t).
CONTROL_TEXTS = [
    "\x1b[2J\x1b]0;pwned\x07\x1b[31mお前ら殺すぞ",
    "窓口の\x9b31m担当者を\x1b[8m晒して拡散してやる",
    "お前\rら殺すぞ\x08\x0b\x0c\x7f\x00",
]


@pytest.mark.parametrize("text", CONTROL_TEXTS)
@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}, {"FORCE_COLOR": "1"}])
def test_explain_shows_control_characters_instead_of_sending_them(small_model_dir, text, env):
    r = runner.invoke(app, ["explain", text, "--model", str(small_model_dir)], env=env)
    assert r.exit_code == 0, r.output
    shown = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)  # (the console's own colours, with FORCE_COLOR)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown), repr(shown)
    assert "␛" in shown or "␍" in shown or "\ufffd" in shown


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _highlighted(ansi: str) -> tuple[str, set[int]]:
    """The line of ``ansi`` that holds highlighted characters, plain, and their indexes."""
    for line in ansi.splitlines():
        plain, marked, style = [], set(), ""
        for i, part in enumerate(_SGR.split(line)):
            if i % 2:
                style = part
                continue
            for ch in part:
                if "41" in style.split(";"):  # (on red: the evidence)
                    marked.add(len(plain))
                plain.append(ch)
        if marked:
            return "".join(plain), marked
    return "", set()


@pytest.mark.parametrize("text", [
    "お前ら\r殺すぞ",
    "\x07\x08\x0b\x0cお前らクビにしろ、殺すぞ",
    "\x1b[31m\rお前ら殺すぞ",
])
def test_explain_highlights_exactly_the_evidence_after_control_characters(small_model_dir, small_triager, text):
    """Rich dropped \\r (and BEL, BS, VT, FF) from the message, so the highlight shifted."""
    evidence = small_triager.score(text).evidence
    assert evidence
    r = runner.invoke(app, ["explain", text, "--model", str(small_model_dir)], env={"FORCE_COLOR": "1"})
    body, marked = _highlighted(r.stdout)
    assert len(body) == len(text)
    assert marked == {i for ev in evidence for i in range(ev.start, ev.end)}
    for ev in evidence:
        assert body[ev.start:ev.end] == ev.text.translate({0x0D: "␍", 0x1B: "␛", 0x07: "␇", 0x08: "␈", 0x0B: "␋",
                                                          0x0C: "␌"})


def test_score_an_unreadable_input_is_a_clean_error(small_model_dir, tmp_path, monkeypatch):
    """An unreadable file (chmod 000) ended score with a PermissionError traceback (exit 1)."""
    src = _write_jsonl(tmp_path / "noperm.jsonl", [{"text": LABELLED[0][0]}])
    real_open = Path.open

    def open_(self: Path, *args: object, **kwargs: object):
        if self == src:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 2, r.output
    assert f"error: input file {src} is not readable: Permission denied" in r.stderr


@pytest.mark.parametrize("charset", ["euc_jp", "cp932", "ascii"])
def test_score_writes_utf8_to_stdout_whatever_the_locale(small_model_dir, tmp_path, charset):
    """With PYTHONIOENCODING=euc_jp, an emoji stopped the run with UnicodeEncodeError mid-file."""
    texts = ["ゴミ収集の日を教えてください🙏", "騒音がひどい😡 何度言えば対応するんですか", "図書館は何時までですか"]
    src = _write_jsonl(tmp_path / "emo.jsonl", [{"id": str(i), "text": t} for i, t in enumerate(texts)])
    r = CliRunner(charset=charset).invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = _lines(r.stdout_bytes.decode("utf-8"))
    assert [x["text"] for x in rows] == texts and all("verdict" in x for x in rows)


@pytest.mark.parametrize(("data", "kept", "error"), [
    ("受付番号,内容,担当\nA-1,図書館は何時までですか\n", {"受付番号": "A-1", "内容": "図書館は何時までですか"},
     "has 2 fields"),
    ("受付番号,内容,担当\nA-2,騒音がひどい,総務課,余分\n",
     {"受付番号": "A-2", "内容": "騒音がひどい", "担当": "総務課"}, "has 4 fields"),
])
def test_score_csv_error_records_keep_the_columns_they_have(small_model_dir, tmp_path, data, kept, error):
    src = tmp_path / "in.csv"
    src.write_text(data, encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--text-column", "内容", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    (row,) = _lines(r.stdout)
    assert {k: row[k] for k in kept} == kept and error in row["error"] and row["line"] == 2


def test_score_csv_keeps_a_row_with_a_bad_byte_outside_the_text(small_model_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("受付番号,氏名,内容\nA-1,".encode() + b"\x8e\x52" + ",図書館は何時までですか\nA-2,山田,".encode()
                    + b"\x8e\x52\n")
    r = runner.invoke(app, ["score", str(src), "--text-column", "内容", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    scored, bad = _lines(r.stdout)
    assert scored["受付番号"] == "A-1" and "\ufffd" in scored["氏名"] and "verdict" in scored
    assert bad["受付番号"] == "A-2" and bad["氏名"] == "山田" and "not valid utf-8" in bad["error"]
    assert "warning: line 2: bytes not valid utf-8 replaced with U+FFFD in column '氏名'" in r.stderr


def test_score_reads_a_japanese_excel_csv_with_encoding_cp932(small_model_dir, tmp_path):
    """A CP932 CSV with an ASCII-named text column was read with garbled names and no warning."""
    src = tmp_path / "excel.csv"
    src.write_bytes("受付番号,text\nA-1,図書館は何時までですか\n".encode("cp932"))
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    assert "warning: the header does not read as UTF-8" in r.stderr and "--encoding cp932" in r.stderr
    r = runner.invoke(app, ["score", str(src), "--encoding", "cp932", "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    (row,) = _lines(r.stdout)
    assert row["受付番号"] == "A-1" and row["text"] == "図書館は何時までですか" and "verdict" in row
    assert "warning" not in r.stderr
    r = runner.invoke(app, ["score", str(src), "--encoding", "shift-jiss", "--model", str(small_model_dir)])
    assert r.exit_code == 2 and "unknown --encoding 'shift-jiss'" in r.stderr


def test_diagnostics_are_one_line_each_for_logs(small_model_dir, tmp_path):
    """Off a terminal, error lines were cut at 80 columns; input warnings came with a source line."""
    folder = tmp_path / "very_long_directory_name_for_the_ward_office_exports_受付簿_令和6年度"
    r = runner.invoke(app, ["score", str(folder / "missing.jsonl"), "--model", str(small_model_dir)])
    assert r.exit_code == 2
    assert r.stderr == f"error: input file {folder / 'missing.jsonl'} does not exist\n"
    src = tmp_path / "dup.csv"
    src.write_text("受付番号,備考,text,備考\n1,電話,図書館は何時までですか,要折返し\n", encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == "warning: columns renamed to keep them apart: '備考' → '備考.1'"
    assert "warnings.warn" not in r.stderr and "InputWarning" not in r.stderr


# -- re-read mends (session 19) ----------------------------------------------------------------


def test_a_csv_error_record_carries_no_input_field_named_like_a_result(tmp_path, small_model_dir):
    """A labelled CSV's 'verdict' column made an error row read (and count) as that verdict."""
    src = tmp_path / "v.csv"
    src.write_text("verdict,text\nharassment,図書館は何時までですか,余分\ninquiry,図書館は何時までですか\n",
                   encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "--model", str(small_model_dir)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert "error" in rows[0] and "verdict" not in rows[0] and rows[0]["line"] == 2
    assert "error 1" in r.stderr and "harassment 1" not in r.stderr


def test_score_to_a_text_only_stdout_writes_it(monkeypatch):
    import io

    from complaint_triage import cli

    fake = io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake)
    assert cli._open_out("-") is fake  # (no .buffer to wrap: redirect_stdout(StringIO()) worked before)


def test_dev_null_in_and_out_is_not_the_same_file(monkeypatch):
    from complaint_triage import cli

    with open("/dev/null") as null:
        monkeypatch.setattr(sys, "stdin", null)
        assert not cli._same_file("-", "/dev/null")


@pytest.mark.parametrize(("text", "shown"), [
    ("お前ら\r\n殺すぞ", "お前ら \n殺すぞ"),  # a CRLF line end: no ␍ at every line's end
    ("a\rb", "a␍b"),                        # a lone CR still shows
    ("全角\u3000空白\tタブ👨‍👩‍👧", "全角\u3000空白\tタブ👨‍👩‍👧"),
])
def test_visible_text_keeps_line_ends_and_ordinary_characters(text, shown):
    from complaint_triage import cli

    assert cli._visible(text) == shown and len(cli._visible(text)) == len(text)
