import json
import shutil

import pytest
import typer
from typer.testing import CliRunner

from complaint_triage.feedback import FeedbackStore
from complaint_triage.persist import promoted_version, seal_manifest
from complaint_triage.registry_cli import feedback_app, models_app
from complaint_triage.versions import copy_version, frozen_test_split, write_threshold_variant

# registered the way complaint_triage.cli registers them
app = typer.Typer()
app.add_typer(feedback_app, name="feedback")
app.add_typer(models_app, name="models")
runner = CliRunner()


@pytest.fixture
def registry(small_model_dir, small_data_dir, tmp_path):
    root = tmp_path / "models"
    base = copy_version(small_model_dir, root, make_promoted=True)
    test = frozen_test_split(small_data_dir)
    worse = write_threshold_variant(base, {"harassment": 0.001, "review_low": 0.0}, root, test_records=test)
    return root, base.name, worse.name


# -- models ---------------------------------------------------------------------------------


def test_models_list(registry):
    root, base, worse = registry
    r = runner.invoke(app, ["models", "list", "--models-dir", str(root)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split()[0] == "version"
    assert any(line.startswith(f"* {base}") for line in lines)
    assert any(line.startswith(f"  {worse}") and base in line for line in lines)  # derived from the base

    r = runner.invoke(app, ["models", "list", "--models-dir", str(root), "--json"])
    rows = json.loads(r.stdout)
    assert {(x["model_version"], x["promoted"]) for x in rows} == {(base, True), (worse, False)}


def test_models_show(registry):
    root, base, worse = registry
    r = runner.invoke(app, ["models", "show", worse, "--models-dir", str(root)])
    assert r.exit_code == 0
    assert r.stdout.startswith(f"# Model card: complaint-triage {worse}")
    assert f"Changes from the previous version (`{base}`)" in r.stdout
    r = runner.invoke(app, ["models", "show", base, "--models-dir", str(root), "--manifest"])
    assert json.loads(r.stdout)["model_version"] == base


@pytest.mark.parametrize("version", ["m-nope", "../models", ""])
def test_models_show_unknown(registry, version):
    root, base, _ = registry
    r = runner.invoke(app, ["models", "show", version, "--models-dir", str(root)])
    assert r.exit_code == 1 and r.stdout == ""
    assert "no model version" in r.stderr and base in r.stderr


def test_models_promote(registry):
    root, base, worse = registry
    r = runner.invoke(app, ["models", "promote", worse, "--models-dir", str(root)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"model_version": worse, "promoted": True, "previous": base}
    assert promoted_version(root) == worse and f"promoted {worse}" in r.stderr

    r = runner.invoke(app, ["models", "promote", "m-nope", "--models-dir", str(root)])
    assert r.exit_code == 1 and "known versions" in r.stderr
    assert promoted_version(root) == worse


def test_models_promote_if_not_worse_refuses(registry, small_data_dir):
    root, base, worse = registry
    r = runner.invoke(app, ["models", "promote", worse, "--models-dir", str(root), "--if-not-worse",
                            "--data-dir", str(small_data_dir)])
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["promoted"] is False and out["complaint_false_flag_rate"]["change"] == "worse"
    assert "was not promoted" in r.stderr
    assert promoted_version(root) == base


def test_models_options_are_validated(tmp_path, registry):
    root, _, worse = registry
    r = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path / "none")])
    assert r.exit_code == 1 and "no model registry" in r.stderr
    r = runner.invoke(app, ["models", "promote", worse, "--models-dir", str(root), "--max-false-flag-increase", "2"])
    assert r.exit_code == 2



def _copy_as(root, src, name, damage=None):
    """A copy of version ``src`` named ``name`` (manifest included), then damaged."""
    import shutil

    d = root / name
    shutil.copytree(root / src, d)
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["model_version"] = name
    (d / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")
    if damage is not None:
        damage(d)
    return d


def _truncate_manifest(d):
    (d / "manifest.json").write_text('{"model_version": "m-broken0001", ', encoding="utf-8")


# (every kind of damage is refused by persist.promote, tested in test_persist.py; here, that the
# command reports a refusal and leaves PROMOTED alone)
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "model.skops").unlink(), "needs manifest.json and model.skops"),
        (_truncate_manifest, "not valid JSON"),
    ],
)
def test_models_promote_refuses_a_broken_version(registry, damage, reason):
    root, base, _ = registry
    _copy_as(root, base, "m-broken0001", damage)
    r = runner.invoke(app, ["models", "promote", "m-broken0001", "--models-dir", str(root)])
    assert r.exit_code == 1 and r.stdout == ""
    assert reason in r.stderr and "PROMOTED was not changed" in r.stderr and f"{base} stays promoted" in r.stderr
    assert promoted_version(root) == base


@pytest.mark.parametrize("if_not_worse", [False, True])
def test_models_promote_refuses_a_path_outside_the_registry(registry, small_data_dir, tmp_path, if_not_worse):
    root, base, _ = registry
    copy_version(root / base, tmp_path / "models_kill")  # a valid model, but in another folder
    args = ["models", "promote", f"../models_kill/{base}", "--models-dir", str(root)]
    if if_not_worse:
        args += ["--if-not-worse", "--data-dir", str(small_data_dir)]
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and r.stdout == ""
    assert "no model version" in r.stderr
    assert promoted_version(root) == base


def test_models_commands_survive_an_unreadable_manifest(registry):
    root, base, worse = registry
    (root / "m-badjson0001").mkdir()
    (root / "m-badjson0001" / "manifest.json").write_text('{"model_version": "m-badjson0001", ', encoding="utf-8")

    r = runner.invoke(app, ["models", "list", "--models-dir", str(root)])
    assert r.exit_code == 0, r.output
    bad = [line for line in r.stdout.splitlines() if "m-badjson0001" in line]
    assert len(bad) == 1 and "unreadable: manifest.json is not valid JSON" in bad[0]
    assert any(line.startswith(f"* {base}") for line in r.stdout.splitlines())
    assert "1 version could not be read" in r.stderr

    r = runner.invoke(app, ["models", "list", "--models-dir", str(root), "--json"])
    rows = {x["model_version"]: x for x in json.loads(r.stdout)}
    assert set(rows) == {base, worse, "m-badjson0001"}
    assert "not valid JSON" in rows["m-badjson0001"]["unreadable"] and "unreadable" not in rows[base]

    r = runner.invoke(app, ["models", "promote", "m-missing9999", "--models-dir", str(root)])
    assert r.exit_code == 1 and "no model version 'm-missing9999'" in r.stderr and base in r.stderr
    r = runner.invoke(app, ["models", "show", worse, "--models-dir", str(root)])
    assert r.exit_code == 0 and r.stdout.startswith(f"# Model card: complaint-triage {worse}")
    r = runner.invoke(app, ["models", "promote", worse, "--models-dir", str(root)])
    assert r.exit_code == 0 and promoted_version(root) == worse


@pytest.mark.parametrize("promoted", ["original", "copy"])
def test_models_list_and_show_flag_a_renamed_or_copied_folder(registry, promoted):
    # acceptance 2b, finding 4: a copied folder was listed as a second, identical promoted row of the
    # version its manifest names, and `models show COPY` printed that version's card with exit 0
    root, base, worse = registry
    shutil.copytree(root / base, root / "m-renamed")
    if promoted == "copy":
        (root / "PROMOTED").write_text("m-renamed\n", encoding="utf-8")
    r = runner.invoke(app, ["models", "list", "--models-dir", str(root)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()[1:]
    assert len(lines) == 3 and sum(line.startswith("*") for line in lines) == 1
    [copy] = [line for line in lines if "m-renamed" in line]
    assert copy[2:].startswith("m-renamed") and f"unreadable: manifest.json names version {base!r}" in copy
    assert copy.startswith("*") == (promoted == "copy")
    assert [line for line in lines if base in line.split()[:2]][0].startswith("*") == (promoted == "original")
    assert f"m-renamed (names {base})" in r.stderr and "could not be read" not in r.stderr

    r = runner.invoke(app, ["models", "list", "--models-dir", str(root), "--json"])
    rows = {x["model_version"]: x for x in json.loads(r.stdout)}
    assert set(rows) == {base, worse, "m-renamed"}
    assert "a renamed or copied folder" in rows["m-renamed"]["unreadable"] and "unreadable" not in rows[base]
    assert [v for v, x in rows.items() if x["promoted"]] == ["m-renamed" if promoted == "copy" else base]

    for extra in ([], ["--manifest"]):
        r = runner.invoke(app, ["models", "show", "m-renamed", "--models-dir", str(root), *extra])
        assert r.exit_code == 1 and r.stdout == ""
        assert "refused to show m-renamed" in r.stderr and f"names version {base!r}, not 'm-renamed'" in r.stderr
    r = runner.invoke(app, ["models", "show", base, "--models-dir", str(root)])
    assert r.exit_code == 0 and r.stdout.startswith(f"# Model card: complaint-triage {base}")


# -- feedback -------------------------------------------------------------------------------

REVIEW = (
    "message_id,text,verdict,categories,grievance,corrected_by\n"
    "b1-0001,,complaint,,,佐藤\n"
    "b1-0002,,harassment,,false,佐藤\n"
    "b1-0003,,inquiry,threat,false,佐藤\n"
    "b1-0004,お前の顔をネットに晒すぞ,harassment,sns_harassment;threat,false,\n"
)


@pytest.fixture
def no_corpus(monkeypatch, tmp_path):
    """No corpus to check message ids against: these tests use ids that the repository's corpus may hold."""
    monkeypatch.setenv("COMPLAINT_TRIAGE_DATA_DIR", str(tmp_path / "no-data"))


@pytest.mark.usefixtures("no_corpus")
def test_feedback_import_rejects_invalid_rows(tmp_path):
    src = tmp_path / "review.csv"
    src.write_text(REVIEW, encoding="utf-8")
    db = tmp_path / "fb" / "c.sqlite3"
    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(db)])
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["imported"] == 0 and [x["row"] for x in out["rejected"]] == [3, 4, 5]
    assert "row 3: a harassment verdict needs at least one category" in r.stderr
    assert "row 4: categories must be empty for verdict 'inquiry'" in r.stderr
    assert "row 5: corrected_by" in r.stderr and "--by" in r.stderr
    assert "nothing was imported" in r.stderr
    assert len(FeedbackStore(db)) == 0

    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(db), "--by", "kato", "--skip-invalid"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["imported"] == 2
    assert len(FeedbackStore(db)) == 2


@pytest.mark.usefixtures("no_corpus")
def test_feedback_export_and_reimport(tmp_path):
    src = tmp_path / "review.csv"
    src.write_text(REVIEW, encoding="utf-8")
    db = tmp_path / "c.sqlite3"
    runner.invoke(app, ["feedback", "import", str(src), "--db", str(db), "--by", "kato", "--skip-invalid"])

    r = runner.invoke(app, ["feedback", "export", "--db", str(db)])
    assert r.exit_code == 0 and "exported 2 corrections" in r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["message_id"] for x in rows] == ["b1-0001", "b1-0004"]
    assert rows[1]["text"] == "お前の顔をネットに晒すぞ" and rows[1]["corrected_by"] == "kato"

    out = tmp_path / "corrections.jsonl"
    r = runner.invoke(app, ["feedback", "export", "-o", str(out), "--db", str(db)])
    assert r.exit_code == 0 and r.stdout == ""
    assert [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()] == rows

    other = tmp_path / "other.sqlite3"
    r = runner.invoke(app, ["feedback", "import", str(out), "--db", str(other)])
    assert r.exit_code == 0 and json.loads(r.stdout)["imported"] == 2
    assert FeedbackStore(other).corrections() == FeedbackStore(db).corrections()


@pytest.mark.usefixtures("no_corpus")
def test_feedback_errors(tmp_path):
    r = runner.invoke(app, ["feedback", "export", "--db", str(tmp_path / "missing.sqlite3")])
    assert r.exit_code == 1 and "no corrections database" in r.stderr
    assert not (tmp_path / "missing.sqlite3").exists()
    r = runner.invoke(app, ["feedback", "import", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "c.db")])
    assert r.exit_code == 2
    src = tmp_path / "review.csv"
    src.write_text(REVIEW, encoding="utf-8")
    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(tmp_path / "c.db"), "--format", "xlsx"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(tmp_path / "c.db"), "--encoding", "nope"])
    assert r.exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("message_id,label\nm1,complaint\n", encoding="utf-8")
    r = runner.invoke(app, ["feedback", "import", str(bad), "--db", str(tmp_path / "c.db")])
    assert r.exit_code == 2 and "verdict" in r.stderr


POOL = "区民プールの更衣室が不潔です。清掃してください。"
THREAT_TEXT = "お前の顔は覚えたからな。帰り道、気をつけろよ。"


def _jsonl(path, *rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_feedback_import_refuses_a_corpus_id_with_another_text(tmp_path, small_data_dir):
    corpus_id = next(json.loads(line)["id"] for line in
                     (small_data_dir / "corpus" / "handwritten.jsonl").read_text(encoding="utf-8").splitlines())
    src = _jsonl(tmp_path / "r.jsonl", {"message_id": corpus_id, "text": "全然違う本文です。", "verdict": "complaint",
                                        "corrected_by": "tanaka"})
    db = tmp_path / "c.sqlite3"
    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(db), "--data-dir", str(small_data_dir)])
    assert r.exit_code == 1 and json.loads(r.stdout)["imported"] == 0
    assert f"row 1: message_id '{corpus_id}' already names another message" in r.stderr
    assert f"corpus record {corpus_id}" in r.stderr and "new message_id" in r.stderr


@pytest.mark.usefixtures("no_corpus")
@pytest.mark.parametrize("output", ["c.sqlite3", "./c.sqlite3", "sub/../c.sqlite3", "link.sqlite3"])
def test_feedback_export_refuses_to_overwrite_the_database(tmp_path, output, monkeypatch):
    """`export --db fb.sqlite3 -o fb.sqlite3` replaced the database with JSONL (exit 0)."""
    monkeypatch.chdir(tmp_path)  # (relative spellings of the path; the test does not depend on where it starts)
    db = tmp_path / "c.sqlite3"
    runner.invoke(app, ["feedback", "import", str(_jsonl(tmp_path / "a.jsonl", {"message_id": "1", "text": POOL,
                  "verdict": "complaint", "corrected_by": "tanaka"})), "--db", str(db)])
    (tmp_path / "link.sqlite3").symlink_to(db)
    r = runner.invoke(app, ["feedback", "export", "--db", str(db), "-o", output])
    assert r.exit_code == 2 and "is the corrections database" in r.stderr
    assert len(FeedbackStore(db)) == 1


@pytest.mark.usefixtures("no_corpus")
@pytest.mark.parametrize("command", [["export"], ["import", "REVIEW"]])
def test_feedback_commands_on_a_file_that_is_not_a_database(tmp_path, command):
    """They crashed with a raw sqlite3.DatabaseError traceback."""
    db = tmp_path / "c.sqlite3"
    db.write_text(json.dumps({"message_id": "1", "text": POOL}, ensure_ascii=False) + "\n", encoding="utf-8")
    review = _jsonl(tmp_path / "r.jsonl", {"message_id": "2", "verdict": "inquiry", "corrected_by": "tanaka"})
    args = [str(review) if a == "REVIEW" else a for a in command]
    r = runner.invoke(app, ["feedback", *args, "--db", str(db)])
    assert r.exit_code in (1, 2) and "is not a corrections database" in r.stderr
    assert "Traceback" not in r.output and not isinstance(r.exception, AssertionError)
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.usefixtures("no_corpus")
def test_feedback_import_warns_about_rows_that_disagree(tmp_path):
    rows = [{"message_id": "m-7", "text": POOL, "verdict": "complaint", "corrected_by": "tanaka"},
            {"message_id": "m-7", "text": POOL, "verdict": "harassment", "categories": ["abusive_language"],
             "grievance": True, "corrected_by": "suzuki"}]
    db = tmp_path / "c.sqlite3"
    r = runner.invoke(app, ["feedback", "import", str(_jsonl(tmp_path / "r.jsonl", *rows)), "--db", str(db)])
    assert r.exit_code == 0 and json.loads(r.stdout)["imported"] == 2
    assert "warning:" in r.stderr and "rows 1, 2" in r.stderr and "'m-7'" in r.stderr and "different labels" in r.stderr
    assert POOL not in r.stderr and "tanaka" not in r.stderr
    assert FeedbackStore(db).latest()[0].verdict == "harassment"


@pytest.mark.usefixtures("no_corpus")
def test_feedback_import_warns_about_timed_rows_that_disagree_and_its_help_says_which_counts(tmp_path):
    # acceptance 2b, finding 5: rows with corrected_at were imported silently, and the help said "the last one"
    rows = [{"message_id": "m-9", "text": POOL, "verdict": "harassment", "categories": ["excessive_demand"],
             "grievance": True, "corrected_by": "sato", "corrected_at": "2025-02-01T10:00:00+09:00"},
            {"message_id": "m-9", "text": POOL, "verdict": "complaint", "corrected_by": "suzuki",
             "corrected_at": "2025-01-01T10:00:00+09:00"}]
    db = tmp_path / "c.sqlite3"
    r = runner.invoke(app, ["feedback", "import", str(_jsonl(tmp_path / "r.jsonl", *rows)), "--db", str(db)])
    assert r.exit_code == 0 and json.loads(r.stdout)["imported"] == 2
    assert "warning:" in r.stderr and "rows 1, 2 correct message 'm-9'" in r.stderr and "row 1 counts" in r.stderr
    assert FeedbackStore(db).latest()[0].verdict == "harassment"
    r = runner.invoke(app, ["feedback", "import", "--help"], terminal_width=200)
    help_text = " ".join(r.stdout.replace("│", " ").split())
    assert "the last one counting" not in help_text
    assert "the one that counts: the row with the latest corrected_at" in help_text


@pytest.mark.usefixtures("no_corpus")
def test_feedback_import_reads_grievance_as_evaluate_does(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("message_id,text,verdict,categories,grievance,corrected_by\n"
                   f"g1,{THREAT_TEXT},harassment,threat,○,佐藤\n"
                   "g2,窓口で怒鳴られた。,harassment,abusive_language,×,佐藤\n"
                   "g3,,complaint,,はい,佐藤\n"
                   "g4,,inquiry,,いいえ,佐藤\n", encoding="utf-8")
    db = tmp_path / "c.sqlite3"
    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(db)])
    assert r.exit_code == 0, r.stderr
    assert [c.grievance for c in FeedbackStore(db).corrections()] == [True, False, True, False]


@pytest.mark.usefixtures("no_corpus")
def test_feedback_import_of_a_cp932_file_mentions_the_encoding_option(tmp_path):
    src = tmp_path / "r.csv"
    src.write_bytes(("message_id,text,verdict,categories,grievance,corrected_by\n"
                     "m1,窓口の対応がひどい,complaint,,,佐藤\n").encode("cp932"))
    db = tmp_path / "c.sqlite3"
    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(db)])
    assert r.exit_code == 1 and "--encoding cp932" in r.stderr
    # a header with a Japanese column name (an unknown field: its row is rejected) gets a warning that
    # is one plain line, without Python's source line
    noted = tmp_path / "noted.csv"
    noted.write_bytes(("message_id,text,verdict,categories,grievance,corrected_by,備考\n"
                       "m1,窓口の対応がひどい,complaint,,,佐藤,メモ\n").encode("cp932"))
    r = runner.invoke(app, ["feedback", "import", str(noted), "--db", str(db)])
    assert r.exit_code == 1 and "--encoding cp932" in r.stderr
    assert f"warning: {noted}: the header does not read as UTF-8" in " ".join(r.stderr.split())
    assert "InputWarning" not in r.stderr and "rows = list(" not in r.stderr
    r = runner.invoke(app, ["feedback", "import", str(src), "--db", str(db), "--encoding", "cp932"])
    assert r.exit_code == 0 and "--encoding cp932" not in r.stderr


@pytest.mark.usefixtures("no_corpus")
@pytest.mark.parametrize(
    ("row", "hint"),
    [
        ({"message_id": "m1", "verdict": "complaint"}, True),                                  # no corrected_by
        ({"message_id": "m1", "verdict": "complaint", "corrected_by": "tanaka", "担当課": "区民課"}, False),
    ],
)
def test_feedback_import_hints_at_by_only_for_a_missing_analyst(tmp_path, row, hint):
    r = runner.invoke(app, ["feedback", "import", str(_jsonl(tmp_path / "r.jsonl", row)),
                            "--db", str(tmp_path / "c.sqlite3")])
    assert r.exit_code == 1
    assert ("--by NAME" in r.stderr) is hint


@pytest.mark.parametrize("folder", ["[old]", "[/tmp]"])
def test_a_registry_error_names_a_path_with_brackets_as_it_is(tmp_path, folder):
    root = tmp_path / folder / "models"
    r = runner.invoke(app, ["models", "promote", "m-0000000000", "--models-dir", str(root)])
    assert r.exit_code != 0 and isinstance(r.exception, SystemExit), r.output
    assert folder in r.output
