"""``complaint-triage feedback ...`` and ``complaint-triage models ...``: corrections and model versions.

Two Typer sub-apps, registered by :mod:`complaint_triage.cli`::

    app.add_typer(feedback_app, name="feedback")
    app.add_typer(models_app, name="models")

Data go to stdout, diagnostics to stderr; errors exit with a non-zero code.
"""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from complaint_triage.cli_output import err
from complaint_triage.cli_output import fail as _fail
from complaint_triage.exceptions import ComplaintTriageError

__all__ = ["feedback_app", "models_app"]

feedback_app = typer.Typer(
    help="Analysts' corrections: import a spreadsheet review (CSV or JSONL), export them for retraining.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="Model versions in the registry: list them, show a model card, promote one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", dir_okay=False, help="Corrections database (default: $COMPLAINT_TRIAGE_FEEDBACK_DB, "
                                              "else data/feedback/corrections.sqlite3)."),
]
ModelsDirOption = Annotated[
    Path | None,
    typer.Option("--models-dir", file_okay=False, help="Model registry folder (default: $COMPLAINT_TRIAGE_MODELS_DIR, "
                                                        "else the repository's models/)."),
]


_CP932 = "--encoding cp932"


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


# -- feedback -----------------------------------------------------------------------------


@feedback_app.command("export")
def export_corrections(
    output: Annotated[str, typer.Option("-o", "--output", help="JSONL file to write, or - for stdout.")] = "-",
    db: DbOption = None,
) -> None:
    """Write every correction as JSONL (the same format `feedback import` reads)."""
    from complaint_triage.feedback import FeedbackStore

    store = FeedbackStore(db)
    if not store.path.is_file():
        raise _fail(f"no corrections database at {store.path}; record corrections first or pass --db")
    if output != "-" and store.is_database_file(output):
        raise _fail(f"--output {output} is the corrections database {store.path}; give another file name "
                    "for the export", 2)
    try:
        if output == "-":
            n = store.export_jsonl(sys.stdout)
            sys.stdout.flush()
        else:
            out = Path(output)
            if out.is_dir():
                raise _fail(f"--output {output} is a folder; give a file name", 2)
            n = store.export_jsonl(out)
    except (ComplaintTriageError, OSError) as e:
        raise _fail(str(e)) from e
    err.print(f"exported {n} corrections from {store.path}" + ("" if output == "-" else f" to {output}"),
              highlight=False)


@feedback_app.command("import")
def import_corrections(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV, TSV or JSONL of corrections (columns: message_id or text, "
                                              "verdict, categories, grievance, corrected_by, ...).")],
    db: DbOption = None,
    format: Annotated[str | None, typer.Option("--format", help="jsonl, csv or tsv (default: from the file name).")]
    = None,
    by: Annotated[str | None, typer.Option("--by", help="Analyst name for rows without corrected_by.")] = None,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Import the valid rows even if some are invalid (default: import nothing then).")]
    = False,
    encoding: Annotated[str, typer.Option(help="Encoding of CSV/TSV files (e.g. cp932 for Excel on Japanese Windows).")]
    = "utf-8-sig",
    data_dir: Annotated[Path | None, typer.Option(
        file_okay=False, help="Data folder holding corpus/, whose record ids are checked: a row whose message_id "
                              "is a corpus id with another text is refused (default: the repository's data/).")]
    = None,
) -> None:
    """Import corrections; every invalid row is reported with its row number and reason.

    By default the import is all or nothing: if any row is invalid, nothing is imported
    and the exit code is 1.  Importing a file twice is harmless: a row with a correction_id
    already stored with the same content is skipped (with different content it is refused:
    clear its correction_id and corrected_at cells to record a new correction), and a row
    without one is skipped only when it repeats the message's current latest correction;
    re-asserting an earlier label after a different one is a new correction.

    A row whose message_id already names another text (a corpus record, a stored
    correction or an earlier row) is refused.  Rows of one message that disagree are
    imported with a warning naming their row numbers and the one that counts: the row
    with the latest corrected_at (a row without one is dated at the import, so of such
    rows the last one), of equal times the later row; a correction already stored with a
    later corrected_at counts over them (the warning says so).  Rows with a correction_id
    (an export's: a message's recorded history) are not compared.
    """
    from complaint_triage.corpus import load_corpus
    from complaint_triage.feedback import CorrectionsDatabaseError, FeedbackStore
    from complaint_triage.io import FORMATS, detect_format, input_warnings_to

    if format is not None and format not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        "".encode(encoding)
    except LookupError as e:
        raise typer.BadParameter(f"unknown encoding {encoding!r}", param_hint="--encoding") from e
    store = FeedbackStore(db)
    try:
        corpus = load_corpus(data_dir)
    except (ComplaintTriageError, OSError) as e:
        corpus = []
        err.print(f"note: message ids not checked against the corpus ({e}); training refuses a message_id "
                  "that names two texts", highlight=False)
    try:  # (--encoding applies to CSV/TSV only; a JSONL file must be UTF-8)
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") and detect_format(file.name, format) != "jsonl"
    except ComplaintTriageError:
        utf8 = False
    try:
        with input_warnings_to(lambda m: err.print(f"warning: {file}: {m}", highlight=False)):
            res = store.import_file(file, format=format, corrected_by=by, skip_invalid=skip_invalid,
                                    encoding=encoding, corpus=corpus)
    except CorrectionsDatabaseError as e:
        raise _fail(str(e), 2) from e
    except (ComplaintTriageError, OSError, UnicodeError) as e:
        hint = f"; if Excel on Japanese Windows saved it, pass {_CP932}" if utf8 and "UTF-8" in str(e) else ""
        raise _fail(f"{file}: {e}{hint}", 2) from e
    for r in res.rejected:
        err.print(f"{file}: {r}", highlight=False)
    for w in res.warnings:
        err.print(f"warning: {file}: {w}", highlight=False)
    _echo_json({"file": str(file), "database": str(store.path), **res.to_dict()})
    if by is None and any(r.missing_analyst for r in res.rejected):
        err.print("hint: name the analyst for rows without corrected_by with --by NAME", highlight=False)
    if utf8 and any("UTF-8" in r.reason for r in res.rejected):
        err.print(f"hint: a CSV saved by Excel on Japanese Windows is CP932 (Shift_JIS): import it with {_CP932}, "
                  "or re-save it as UTF-8", highlight=False)
    if res.rejected and not skip_invalid:
        raise _fail(f"{len(res.rejected)} of {res.rows} rows are invalid; nothing was imported. "
                    "Fix them, or pass --skip-invalid to import the valid rows.")
    err.print(f"imported {res.imported} corrections ({res.duplicates} already present, "
              f"{len(res.rejected)} rejected) into {store.path}", highlight=False)


# -- models -----------------------------------------------------------------------------------


def _root(models_dir: Path | None) -> Path:
    from complaint_triage.persist import models_root

    root = models_root() if models_dir is None else models_dir
    if not root.is_dir():
        raise _fail(f"no model registry at {root}; train a model or pass --models-dir")
    return root


@models_app.command("list")
def list_models(
    models_dir: ModelsDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List model versions, oldest first; the promoted one is marked with *.

    A version whose manifest cannot be read is listed as unreadable, with the reason
    (``"unreadable"`` in the JSON rows), and the listing carries on; so is a folder whose
    manifest names another version (a renamed or copied folder), under the folder's name.
    """
    from complaint_triage.persist import list_versions, manifest_value, promoted_version

    root = _root(models_dir)
    try:
        current: str | None = promoted_version(root)
    except FileNotFoundError:
        current = None
    rows = []
    versions = list_versions(root)
    for m in versions:
        test = manifest_value(m, "metrics.test") or {}
        row = {
            "model_version": m["model_version"],
            "promoted": m["model_version"] == current,
            "created": m.get("created"),
            "derived_from": manifest_value(m, "derived_from.model_version"),
            "n_fit": manifest_value(m, "training_data.n_fit"),
            "corrections": manifest_value(m, "training_data.n_extra_records") or 0,
            "harassment_threshold": manifest_value(m, "thresholds.harassment"),
            "test_harassment_f1": manifest_value(test, "harassment.f1"),
            "test_complaint_false_flag_rate": manifest_value(test, "complaint_false_flag_rate"),
        }
        if "_unreadable" in m:
            row["unreadable"] = m["_unreadable"]
        rows.append(row)
    if as_json:
        _echo_json(rows)
    else:
        if not rows:
            err.print(f"no model versions in {root}", highlight=False)
            return
        head = f"  {'version':<16}{'created':<22}{'derived from':<16}{'n_fit':>7}{'corr.':>7}" \
               f"{'thresh.':>9}{'harass. F1':>12}{'false-flag':>12}"
        typer.echo(head)
        for r in rows:
            mark = f"{'*' if r['promoted'] else ' '} {r['model_version']:<16}"
            if "unreadable" in r:
                typer.echo(f"{mark}unreadable: {r['unreadable']}")
                continue
            f1, ffr, th = r["test_harassment_f1"], r["test_complaint_false_flag_rate"], r["harassment_threshold"]
            typer.echo(
                f"{mark}{r['created'] or '?':<22}"
                f"{r['derived_from'] or '':<16}{r['n_fit'] if r['n_fit'] is not None else '?':>7}"
                f"{r['corrections']:>7}{'' if th is None else f'{th:.3f}':>9}"
                f"{'' if f1 is None else f'{f1:.3f}':>12}{'' if ffr is None else f'{ffr:.2%}':>12}"
            )
    renamed = {m["model_version"]: m["_manifest_version"] for m in versions if "_manifest_version" in m}
    bad = [r["model_version"] for r in rows if "unreadable" in r and r["model_version"] not in renamed]
    if bad:
        err.print(f"{len(bad)} version{'s' if len(bad) > 1 else ''} could not be read: {', '.join(bad)}; "
                  "restore or remove the damaged folder(s) (`models promote` refuses them)", highlight=False)
    if renamed:
        err.print(f"{len(renamed)} folder{'s hold' if len(renamed) > 1 else ' holds'} another version's manifest: "
                  + ", ".join(f"{k} (names {v})" for k, v in renamed.items())
                  + "; give each its manifest's name or remove it (`models promote` and `models show` refuse them)",
                  highlight=False)
    if current is None:
        err.print(f"no version of {root} is promoted", highlight=False)


@models_app.command("show")
def show_model(
    version: Annotated[str, typer.Argument(help="Model version, e.g. m-c766b2774d.")],
    models_dir: ModelsDirOption = None,
    manifest: Annotated[bool, typer.Option("--manifest", help="Print the manifest (JSON) instead of the card.")]
    = False,
) -> None:
    """Print a version's model card (training data hash, test metrics, thresholds, diff).

    A folder whose manifest names another version (a renamed or copied folder) is refused
    (exit code 1), as `models promote` refuses it: its card is the other version's.
    """
    from complaint_triage.persist import CARD_FILE, MANIFEST_FILE, check_folder_name, list_versions

    root = _root(models_dir)
    d = root / version
    if not (d / MANIFEST_FILE).is_file() or Path(version).name != version:
        known = ", ".join(m["model_version"] for m in list_versions(root)) or "none"
        raise _fail(f"no model version {version!r} in {root}; known versions: {known}")
    try:
        check_folder_name(d)
    except ComplaintTriageError as e:
        raise _fail(f"refused to show {version}: {e}") from e
    path = d / (MANIFEST_FILE if manifest else CARD_FILE)
    if not path.is_file():
        raise _fail(f"{path} is missing")
    typer.echo(path.read_text(encoding="utf-8").rstrip("\n"))


@models_app.command("promote")
def promote_model(
    version: Annotated[str, typer.Argument(help="Model version to serve by default.")],
    models_dir: ModelsDirOption = None,
    if_not_worse: Annotated[bool, typer.Option(
        "--if-not-worse", help="Promote only if the complaint false-flag rate on the frozen test split is not worse "
                               "than the promoted model's (exit code 1 when refused).")] = False,
    data_dir: Annotated[Path | None, typer.Option(file_okay=False, help="Data folder with the frozen test split "
                                                                        "(for --if-not-worse).")] = None,
    max_false_flag_increase: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Allowed increase of the false-flag rate (for --if-not-worse).")] = 0.0,
) -> None:
    """Make VERSION the default model (servers pick it up on reload).

    The version is verified completely first (a folder of the registry, readable manifest of
    this label set, model file matching its checksum and loadable); a version that fails is
    refused with exit code 1 and PROMOTED is left as it was.
    """
    from complaint_triage.persist import promote, promoted_version, version_dir
    from complaint_triage.versions import frozen_test_split, promote_if_not_worse

    root = _root(models_dir)
    try:
        previous: str | None = promoted_version(root)
    except FileNotFoundError:
        previous = None
    try:
        version_dir(version, root)  # before --if-not-worse loads it or rewrites its card
        if if_not_worse:
            ok, cmp = promote_if_not_worse(version, root, frozen_test_split(data_dir), max_false_flag_increase)
            out = {"model_version": version, "promoted": ok, "previous": previous, **cmp["decision"]}
            if cmp.get("old") is not None:
                out["complaint_false_flag_rate"] = cmp["diff"].get("complaint_false_flag_rate")
        else:
            promote(version, root)
            out = {"model_version": version, "promoted": True, "previous": previous}
    except (ComplaintTriageError, FileNotFoundError, ValueError) as e:
        raise _fail(f"{e}; {previous or 'no version'} stays promoted") from e
    except OSError as e:
        raise _fail(f"could not write the PROMOTED file of {root} ({e.strerror or e}); "
                    f"{previous or 'no version'} stays promoted") from e
    _echo_json(out)
    if not out["promoted"]:
        raise _fail(f"{version} was not promoted: {out['reason']}")
    err.print(f"promoted {version} in {root}" + (f" (was {previous})" if previous and previous != version else ""),
              highlight=False)
