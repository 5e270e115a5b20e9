"""The ``complaint-triage`` command line: data on stdout, diagnostics on stderr."""

from __future__ import annotations

import codecs
import errno
import io
import itertools
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from complaint_triage.cli_output import err, warn
from complaint_triage.cli_output import fail as _fail
from complaint_triage.exceptions import ComplaintTriageError, InputFormatError
from complaint_triage.io import ENCODING_HINT, OUTPUT_FORMATS, SHOWN_NAMES, input_name, shown_names
from complaint_triage.labels import NO_WORDS, YES_WORDS
from complaint_triage.results import OUTPUT_FIELDS as _OUTPUT_FIELDS

app = typer.Typer(
    name="complaint-triage",
    help="Triage Japanese messages to a ward office: harassment, complaint or inquiry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

BATCH_SIZE = 256


def _version_callback(value: bool) -> None:
    if value:
        from complaint_triage import __version__

        typer.echo(f"complaint-triage {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Triage Japanese messages to a ward office."""



@contextmanager
def _input_warnings() -> Iterator[None]:
    """Show warnings about the input (:class:`~complaint_triage.io.InputWarning`) as one
    ``warning:`` line each on stderr, without Python's source line."""
    from complaint_triage.io import input_warnings_to

    with input_warnings_to(warn):
        yield


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as e:
        raise _fail(f"unknown --encoding {encoding!r}; use e.g. utf-8 or cp932 (Shift_JIS, as Japanese Excel "
                    "saves CSV)", 2) from e


#: What a CSV/TSV whose header does not decode should be done about.
_ENCODING_HINT = f"{ENCODING_HINT} or pass --encoding cp932"


def _same_file(input: str, output: str) -> bool:
    """Whether the output path is the input file (``-``: stdin, when it is a file)."""
    if output == "-":
        return False
    try:
        out = os.stat(output)
        if input != "-":
            return stat.S_ISREG(out.st_mode) and os.path.samestat(os.stat(input), out)
        fd = sys.stdin.fileno()
    except (OSError, ValueError):  # (no output yet; a stdin without a descriptor: not a file)
        return False
    st = os.fstat(fd)
    # (only a regular file can be overwritten: `< /dev/null -o /dev/null` is not the input)
    return stat.S_ISREG(out.st_mode) and os.path.samestat(st, out)


def _load(model: Path | None, **options: Any) -> Any:
    """The model (default: the promoted one) in a Triager made with ``options``; fails with its error."""
    from complaint_triage.scoring import Triager

    try:
        return Triager.load(model, **options)
    except ComplaintTriageError as e:
        raise _fail(str(e)) from e


def _check_in(path: str) -> None:
    """Fail (exit 2) unless ``path`` is ``-``, an existing file or a pipe (a named pipe, a shell's
    ``<(zcat log.jsonl.gz)``, ``/dev/stdin`` when stdin is one)."""
    if path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise _fail(f"input {path} is a folder, not a file; give one file (`complaint-triage batch` reads "
                    "folders of files)", 2)
    if not p.exists():
        raise _fail(f"input file {path} does not exist", 2)
    if not (p.is_file() or p.is_fifo()):  # (not a device: /dev/zero never ends; a terminal: use -)
        raise _fail(f"input {path} is not a file or a pipe; give a file, a pipe or - for stdin", 2)


def _open_in(path: str) -> IO[bytes]:
    """``path`` opened for reading (``-``: stdin); checked by :func:`_check_in` before."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as e:
        raise _fail(f"input file {path} is not readable: {e.strerror or e}", 2) from e


#: Output names that promise a table: ``score`` writes JSONL; ``batch`` writes those of ``OUTPUT_FORMATS``.
_TABLE_SUFFIXES = frozenset({*(s for s, f in OUTPUT_FORMATS.items() if f != "jsonl"), ".tsv", ".tab", ".xls"})


def _open_out(path: str) -> IO[str]:
    """``path`` opened for writing UTF-8 (``-``: stdout's bytes, whatever the locale's encoding;
    detach it, never close it, when done)."""
    if path == "-":
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # a text-only stdout (redirect_stdout(StringIO())): written as it is
            return sys.stdout
        sys.stdout.flush()
        return io.TextIOWrapper(buffer, encoding="utf-8", newline="\n",
                                line_buffering=getattr(sys.stdout, "line_buffering", False))
    try:
        return Path(path).open("w", encoding="utf-8", newline="\n")
    except OSError as e:
        raise _fail(f"cannot write the output file {path}: {e.strerror or e}; check that its folder exists "
                    "and is writable", 2) from e


def _close_out(out: IO[str] | None, output: str) -> None:
    """Flush ``out`` (from :func:`_open_out`) and close it, or detach it when it wraps stdout."""
    if out is sys.stdout:
        out.flush()
    elif out is not None and output == "-":
        try:
            out.flush()
        finally:
            out.detach()  # (the wrapper built over stdout's bytes: stdout itself stays open)
    elif out is not None:
        out.close()


def _write_failed(output: str, e: OSError) -> BaseException:
    """What to raise when writing the output failed: one ``error:`` line (exit 1) for a full disk or
    another device error; a closed pipe (``| head``) is left to click, which ends the run quietly."""
    if e.errno == errno.EPIPE:
        return e
    where = "stdout" if output == "-" else output
    return _fail(f"cannot write the output to {where} ({e.strerror or type(e).__name__}); the output is "
                 "incomplete: free disk space (or write elsewhere) and run the command again")


@contextmanager
def _utf8_stdout() -> Iterator[IO[str]]:
    """stdout as a UTF-8 text stream whatever the locale's encoding (``PYTHONIOENCODING=cp932``
    cannot hold an emoji), as ``score`` writes; left open (detached) when done."""
    buffer = getattr(sys.stdout, "buffer", None)
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    if buffer is None or encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        yield sys.stdout  # (a text-only stdout, or one that is UTF-8 already)
        return
    sys.stdout.flush()
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline=None,
                           line_buffering=getattr(sys.stdout, "line_buffering", False))
    try:
        yield out
    finally:
        try:
            out.flush()
        finally:
            out.detach()


@app.command()
@_input_warnings()
def score(
    input: Annotated[str, typer.Argument(help="JSONL or CSV file of messages, or - for stdin.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Output JSONL file, or - for stdout.")] = "-",
    text_column: Annotated[str, typer.Option(help="Field or column holding the message text.")] = "text",
    format: Annotated[str | None, typer.Option(
        "--format", help="jsonl, csv or tsv (default: from the file name; stdin is jsonl).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: the promoted model).")] = None,
    max_chars: Annotated[int, typer.Option(min=1, help="Texts longer than this get an error record.")] = 20_000,
    evidence: Annotated[bool, typer.Option(help="Add evidence spans for harassment.")] = True,
    encoding: Annotated[str, typer.Option(help="Encoding of a CSV/TSV file (e.g. cp932 for one saved by "
                                          "Japanese Excel).")] = "utf-8-sig",
) -> None:
    """Score messages; every input record yields one output line (the input plus predictions, or an error)."""
    from complaint_triage.io import (
        InputRecordError,
        column_names,
        detect_format,
        json_line,
        read_csv,
        read_jsonl,
    )
    _check_in(input)
    piped = input == "-" or Path(input).is_fifo()
    try:
        # (a pipe, like stdin, is JSONL unless --format says otherwise: <(zcat …) has no extension)
        fmt = detect_format(input, format, strict=not piped)
    except ComplaintTriageError as e:
        raise _fail(str(e), 2) from e
    _check_encoding(encoding)
    suffix = Path(output).suffix.lower() if output != "-" else ""
    if suffix in _TABLE_SUFFIXES:
        written_by_batch = suffix in OUTPUT_FORMATS  # (the table formats batch writes)
        source = "FILE" if piped else input  # (batch reads files, more than once: not stdin or a pipe)
        raise _fail(f"score writes JSONL (one JSON object per line), not {suffix[1:].upper()}: name the output "
                    "file .jsonl" + (f", or write {suffix} with `complaint-triage batch {source} -o {output}`"
                                     if written_by_batch else ""), 2)
    if _same_file(input, output):
        raise _fail(f"the output file {output} is the input file{' (stdin)' if input == '-' else ''}: scoring "
                    "would overwrite the messages it reads; write to another file", 2)
    if fmt == "jsonl":
        _check_jsonl_encoding(encoding)
        if not piped:  # (a file can be read twice; a pipe is checked as it streams, below)
            _check_jsonl_file(input, text_column)
    elif not piped:
        _check_text_file(input, fmt)
    triager = _load(model, max_chars=max_chars, limit_option="--max-chars")
    src = _open_in(input)
    out: IO[str] | None = None  # opened once the input has been found readable (its header checked)
    counts: dict[str, int] = {}
    objects = with_text = 0  # (JSONL records read as objects, and those with the text field)
    fields_seen: dict[str, None] = {}
    renamed: set[str] = set()
    written = False  # every record reached the output stream (it is still to be flushed)
    repaired = 0  # records written with their lone surrogates (JSON escapes without a pair) as U+FFFD
    repaired_fields: dict[str, None] = {}

    def kept(values: dict[str, Any]) -> dict[str, Any]:
        """The input fields, those named like an output field renamed ``input_…`` (warned once each)."""
        if _CLASHING.isdisjoint(values):
            return dict(values)
        row = {}
        for k, v in values.items():
            if k in _CLASHING:
                new = input_name(k, values)
                if k not in renamed:
                    renamed.add(k)
                    warn(f"input field {k!r} renamed {new!r} in the output (score writes a field of that name)")
                k = new
            row[k] = v
        return row

    try:
        if fmt == "jsonl":
            records = read_jsonl(src, text_field=text_column)
        else:
            records = read_csv(src, text_column=text_column, delimiter="," if fmt == "csv" else "\t",
                               encoding=encoding, repair_other_columns=True, encoding_hint=_ENCODING_HINT)
        first = next(records, None)  # (a CSV without the text column fails here, before any output exists)
        out = sink = _open_out(output)
        batch: list[tuple[int, dict[str, Any] | InputRecordError]] = []

        def note_repair(fields: list[str]) -> None:
            nonlocal repaired
            repaired += 1
            repaired_fields.update(dict.fromkeys(fields))

        def flush() -> None:
            nonlocal objects, with_text
            texts = [r.get(text_column) if isinstance(r, dict) else None for _, r in batch]
            idx = [i for i, (_, r) in enumerate(batch) if isinstance(r, dict)]
            results = triager.score_many([texts[i] for i in idx], with_evidence=evidence)
            res_by = dict(zip(idx, results, strict=True))
            for i, (n, rec) in enumerate(batch):
                if isinstance(rec, InputRecordError):
                    # the input fields that could be read, but none named like a result field (a
                    # labelled file's 'verdict' must not read as this row's prediction)
                    row: dict[str, Any] = kept(rec.values or {})
                    row.update(line=n, error=rec.error, model_version=triager.version)
                    key = "error"
                else:
                    objects += 1
                    with_text += text_column in rec
                    if not with_text and len(fields_seen) <= SHOWN_NAMES:
                        fields_seen.update(dict.fromkeys(rec))
                    row = kept(rec)
                    res_d = ({"error": f"record on line {n} has no {text_column!r} field",
                              "model_version": triager.version} if text_column not in rec else res_by[i].to_dict())
                    if "error" in res_d:
                        row["line"] = n
                    row.update(res_d)
                    key = res_d.get("verdict") or "error"  # (not an input field of that name)
                counts[key] = counts.get(key, 0) + 1
                try:
                    # (a "\ud800" escape read back as it came would be refused by strict JSON readers:
                    # written as U+FFFD, and counted)
                    sink.write(json_line(row, on_repair=note_repair) + "\n")
                except OSError as e:  # (a full disk: one error line, not a traceback)
                    raise _write_failed(output, e) from e
            batch.clear()

        for item in itertools.chain(() if first is None else (first,), records):
            batch.append(item)
            if len(batch) >= BATCH_SIZE:
                flush()
        if batch:
            flush()
        written = True
    except ComplaintTriageError as e:
        raise _fail(str(e), 2) from e
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        try:  # (the last lines reach the disk here: a full disk may show only now)
            _close_out(out, output)
        except OSError as e:
            if written:  # (else the run is failing already: that error is the one to show)
                raise _write_failed(output, e) from e
    if repaired:
        names = list(repaired_fields)
        warn(f"{repaired} record{'s' if repaired > 1 else ''} held unpaired UTF-16 surrogates (JSON escapes such as "
             f"\\ud800 without their pair) in {column_names(names[:SHOWN_NAMES], 'field')}"
             f"{', …' if len(names) > SHOWN_NAMES else ''}; written as U+FFFD, so that every JSON reader accepts the "
             "output (a text holding one is an error record)")
    total = sum(counts.values())
    err.print(f"scored {total} records" + "".join(f"{', ' if i else ': '}{k} {v}"
                                                 for i, (k, v) in enumerate(sorted(counts.items()))), highlight=False)
    if fmt == "jsonl" and objects and not with_text:  # (from a pipe: a file was refused before scoring)
        raise _fail(f"no record has the field {text_column!r} (fields: {_shown_fields(fields_seen)}), so every "
                    "record is an error record; choose the text field with --text-column", 2)


#: Input fields that ``score`` renames ``input_…``: its own output fields (a labelled or an already
#: scored file's ``verdict`` or ``error`` must not read as this run's).
_CLASHING = frozenset({*_OUTPUT_FIELDS, "error", "line"})


def _shown_fields(fields: dict[str, None]) -> str:
    return shown_names(fields) or "none"


def _check_jsonl_encoding(encoding: str) -> None:
    """JSONL is UTF-8 (JSON's encoding): another --encoding is refused rather than ignored."""
    if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        raise _fail(f"--encoding {encoding} applies to CSV/TSV files; JSON Lines are read as UTF-8: convert the "
                    f"file first (e.g. iconv -f {encoding} -t utf-8 IN > OUT)", 2)


def _check_text_file(path: str, fmt: str) -> None:
    """Refuse (exit 2) a CSV/TSV file that is a binary format (a workbook read with --format csv)."""
    from complaint_triage.io import binary_format

    try:
        with open(path, "rb") as f:
            binary = binary_format(f.read(8))
    except OSError as e:
        raise _fail(f"input file {path} is not readable: {e.strerror or e}", 2) from e
    if binary is not None:
        raise _fail(f"input {path} is not {fmt.upper()} text: it looks like {binary.split(';')[0]}; score reads "
                    "JSONL, CSV and TSV: use `complaint-triage batch` for workbooks and Parquet, or save it as "
                    "CSV UTF-8", 2)


def _check_jsonl_file(path: str, text_column: str) -> None:
    """Refuse (exit 2) a JSONL file that is one JSON array, or in which no record has the text field."""
    from complaint_triage.io import JSON_ARRAY_HINT, jsonl_fields_without, starts_json_array

    try:
        with open(path, "rb") as f:
            if starts_json_array(f):
                raise _fail(f"input {path} is one JSON array, not JSON Lines (one object per line): "
                            f"{JSON_ARRAY_HINT}", 2)
            f.seek(0)
            missing = jsonl_fields_without(f, text_column)
    except OSError as e:
        raise _fail(f"input file {path} is not readable: {e.strerror or e}", 2) from e
    if missing is not None:
        raise _fail(f"no record of {path} has the field {text_column!r} (fields: {missing}); choose the text field "
                    "with --text-column", 2)


@app.command()
def train(
    data_dir: Annotated[Path | None, typer.Option(
        help="Data folder holding corpus/ (default: the repository's data/).")] = None,
    models_dir: Annotated[Path | None, typer.Option(
        help="Model registry folder (default: the repository's models/).")] = None,
    max_false_flag_rate: Annotated[float | None, typer.Option(
        min=0.0, max=0.5, help="Cap on complaints called harassment, on writer-held-out validation data "
                               "(default 0.0075: room for unseen writers under the 2% goal).")] = None,
    promote: Annotated[bool, typer.Option(help="Make the new model the default.")] = True,
    jobs: Annotated[int, typer.Option(min=1, help="Parallel cross-validation folds.")] = 2,
    feedback_db: Annotated[Path | None, typer.Option(
        help="Analysts' corrections database (as `feedback import --db`) to train with: the latest correction "
             "of each message is added, replacing the corpus label of that message (default: "
             "$COMPLAINT_TRIAGE_FEEDBACK_DB if set, else none: the corpus alone).")] = None,
) -> None:
    """Train the model on the corpus (deterministic), save it with manifest and card, promote it."""
    from complaint_triage.feedback import FEEDBACK_DB_ENV, default_db_path
    from complaint_triage.training import DEFAULT_MAX_FALSE_FLAG_RATE
    from complaint_triage.training import train as _train

    default_db = default_db_path()  # ($COMPLAINT_TRIAGE_FEEDBACK_DB, the setting the feedback commands use)
    if feedback_db is None and os.environ.get(FEEDBACK_DB_ENV):
        feedback_db = default_db

    def log(line: str) -> None:
        err.print(line, highlight=False)

    if max_false_flag_rate is None:
        max_false_flag_rate = DEFAULT_MAX_FALSE_FLAG_RATE
    if feedback_db is None and default_db.is_file():
        log(f"the corrections in {default_db} are not used; pass --feedback-db to train with them")
    try:
        extra = [] if feedback_db is None else _corrections(feedback_db, data_dir, log)
        res = _train(data_dir=data_dir, models_dir=models_dir, max_false_flag_rate=max_false_flag_rate,
                     do_promote=promote, n_jobs=jobs, extra_records=extra, log=log)
    except (ComplaintTriageError, FileNotFoundError) as e:
        raise _fail(str(e)) from e
    typer.echo(json.dumps({"model_version": res.version, "directory": str(res.directory),
                           "promoted": promote}, ensure_ascii=False))


def _corrections(db: Path, data_dir: Path | None, log: Any) -> list[dict[str, Any]]:
    """The training records of the corrections database ``db``, as notebook 05 makes them.

    Raises
    ------
    typer.Exit
        (code 2) ``db`` is not an existing corrections database; it is never created here.
    """
    import sqlite3

    from complaint_triage.corpus import load_corpus
    from complaint_triage.feedback import FEEDBACK_DB_ENV, FeedbackStore

    if db.is_dir():
        raise _fail(f"the corrections database {db} is a folder; give the database file "
                    "(the one `complaint-triage feedback import --db` writes)", 2)
    if not db.is_file():
        raise _fail(f"no corrections database at {db} (--feedback-db or ${FEEDBACK_DB_ENV}); import corrections "
                    f"with `complaint-triage feedback import FILE --db {db}`, or give the right path", 2)
    store = FeedbackStore(db)
    try:
        extra = store.to_training_records(load_corpus(data_dir), log=log)
    except sqlite3.Error as e:
        raise _fail(f"cannot read the corrections database {db} ({e}); give the file that "
                    "`complaint-triage feedback import --db` writes", 2) from e
    log(f"training with {len(extra)} correction{'s' if len(extra) != 1 else ''} from {db} "
        "(the latest of each message, outside the test split)")
    return extra


@app.command()
@_input_warnings()
def evaluate(
    data: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, help="Labelled JSONL or CSV (verdict, categories, grievance, text).")],
    split: Annotated[str | None, typer.Option(help="Only records whose 'split' field equals this (e.g. test).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: the promoted model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    encoding: Annotated[str, typer.Option(help="Encoding of a CSV/TSV file (e.g. cp932 for one saved by "
                                          "Japanese Excel).")] = "utf-8-sig",
    text_column: Annotated[str, typer.Option(help="Field or column holding the message text.")] = "text",
    format: Annotated[str | None, typer.Option(
        "--format", help="jsonl, csv or tsv (default: from the file name).")] = None,
) -> None:
    """Metrics of a model on labelled data: accuracy, macro-F1, harassment P/R/F1, false-flag rate, per category."""
    from complaint_triage.io import InputRecordError, detect_format, read_csv, read_jsonl
    from complaint_triage.labels import validate_labels
    from complaint_triage.metrics import evaluate_decisions, format_report
    from complaint_triage.training import predict_decisions

    try:
        fmt = detect_format(data.name, format)
    except ComplaintTriageError as e:
        raise _fail(str(e), 2) from e
    _check_encoding(encoding)
    records: list[tuple[int, dict[str, Any]]] = []
    with data.open("rb") as f:
        rows = read_jsonl(f) if fmt == "jsonl" else read_csv(f, text_column=text_column, encoding=encoding,
                                                             delimiter="," if fmt == "csv" else "\t",
                                                             encoding_hint=_ENCODING_HINT)
        try:
            for n, r in rows:
                if isinstance(r, InputRecordError):
                    raise _fail(f"{data}: {r.error}", 2)
                records.append((n, r))
        except InputFormatError as e:  # (a CSV/TSV header without the text column)
            raise _fail(f"{data}: {e}{_delimiter_hint(data, fmt, encoding)}", 2) from e
    scored = _scored_output_fields(r for _, r in records)
    if scored:
        raise _fail(f"{data} is scored output, not labelled data: its records carry {scored}, the fields "
                    "`complaint-triage score` and `batch` add, so its verdicts are a model's predictions. "
                    "evaluate needs gold labels: a file whose verdict, categories and grievance were "
                    "given by people", 2)
    gold: list[dict[str, Any]] = []
    for n, r in records:
        if split and r.get("split") != split:
            continue
        text = r.get(text_column)
        if not isinstance(text, str) or not text.strip():
            raise _fail(f"{data}: line {n}: {text_column!r} must be a non-empty string "
                        f"(got {'an empty string' if isinstance(text, str) else type(text).__name__}); "
                        "evaluation needs every labelled record's message", 2)
        verdict = r.get("verdict")
        if isinstance(verdict, str):  # (Excel capitalises: Complaint)
            verdict = verdict.strip().lower()
        cats = r.get("categories")
        if cats is None:
            cats = []
        elif isinstance(cats, str):
            cats = [c.strip().lower() for c in _CATEGORY_SEPARATORS.split(cats) if c.strip()]
        elif not isinstance(cats, list):
            raise _fail(f"{data}: line {n}: 'categories' must be a list of category codes "
                        f"or a string of them separated by , ; | or 、, not {type(cats).__name__}", 2)
        try:
            g = _gold_grievance(r.get("grievance"), verdict)
            validate_labels(verdict, list(cats), g)
        except (ValueError, ComplaintTriageError) as e:
            raise _fail(f"{data}: line {n}: {e}", 2) from e
        gold.append({"text": text, "verdict": verdict, "categories": list(cats), "grievance": g})
    if not gold:
        raise _fail(f"no labelled records in {data}" + (f" with split={split!r}" if split else ""), 2)
    triager = _load(model)
    pred = predict_decisions(triager.model.classifier, triager.model.thresholds, [g["text"] for g in gold])
    m = evaluate_decisions(gold, pred)
    if as_json:
        typer.echo(json.dumps({"model_version": triager.version, **m}, ensure_ascii=False, indent=2))
    else:
        typer.echo(format_report(m, f"{data.name}{' [' + split + ']' if split else ''} — model {triager.version}"))


def _delimiter_hint(path: Path, fmt: str, encoding: str) -> str:
    """A hint when a file read as CSV (TSV) has a header separated by tabs (commas), else ''.

    (Only CSV and TSV reading raises the error it is added to, and ``encoding`` has been looked up.)
    """
    sep, other, other_fmt = (",", "\t", "tsv") if fmt == "csv" else ("\t", ",", "csv")
    try:
        with path.open("rb") as f:
            header = f.readline().decode(encoding, errors="replace")
    except OSError:
        return ""
    if other in header and sep not in header:
        return (f"; it was read as {fmt.upper()}, but its header is separated by "
                f"{'commas' if other == ',' else 'tabs'}: pass --format {other_fmt}")
    return ""


#: Fields that only a scoring run writes (with ``model_version``, which every record of one names).
_SCORE_FIELDS = ("scores", "score_harassment")


def _scored_output_fields(records: Any) -> str:
    """Which prediction fields give away that ``records`` are scored output ('' when they are not).

    Scored output: every record names the model (``model_version``) and carries its scores, or
    is an error record of a scoring run; at least one has scores.
    """
    seen: set[str] = set()
    for r in records:
        if not r.get("model_version"):
            return ""
        has = [f for f in _SCORE_FIELDS if r.get(f) not in (None, "")]
        if not has and not r.get("error"):
            return ""
        seen.update(has)
    if not seen:
        return ""
    return " and ".join(["'model_version'", *(f"'{f}'" for f in _SCORE_FIELDS if f in seen)])


_CATEGORY_SEPARATORS = re.compile(r"[,;|、，；｜\s]+")


def _gold_grievance(value: object, verdict: object) -> object:
    """The grievance label of an evaluation record: a bool, or a yes/no word as spreadsheets write
    it; left blank, it follows from a complaint (true) or an inquiry (false)."""
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return {"complaint": True, "inquiry": False}.get(verdict) if isinstance(verdict, str) else None
    if isinstance(value, str | int) and not isinstance(value, bool):
        word = str(value).strip().lower()
        if word in YES_WORDS:
            return True
        if word in NO_WORDS:
            return False
    # (the value itself is not repeated: a shifted column may hold a name or a phone number)
    raise ValueError("'grievance' is not a yes/no value (true/false, 1/0, yes/no, y/n, はい/いいえ, ○/×)")


_COLOURS = {"harassment": "bold red", "complaint": "bold yellow", "inquiry": "bold green"}

#: C0 controls (but line feed and tab), DEL and C1 controls, shown one character for one so that
#: evidence offsets still index the shown text: U+2400-U+241F, U+2421 (␛ for ESC, ␍ for CR), U+FFFD.
_CONTROL_PICTURES = {c: 0x2400 + c for c in range(0x20) if chr(c) not in "\n\t"}
_CONTROL_PICTURES |= {0x7F: 0x2421, **dict.fromkeys(range(0x80, 0xA0), 0xFFFD)}


def _visible(text: str) -> str:
    """``text`` with its control characters shown, never sent to the terminal (same length; the
    CR of a CRLF line end becomes a space, a lone CR shows as ␍)."""
    return _CR_BEFORE_LF.sub(" ", text).translate(_CONTROL_PICTURES)


_CR_BEFORE_LF = re.compile("\r(?=\n)")


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The message to explain.")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: the promoted model).")] = None,
    max_chars: Annotated[int, typer.Option(min=1, help="A text longer than this is refused (as score refuses "
                                           "it).")] = 20_000,
) -> None:
    """Show a message's verdict, scores and highlighted evidence in the terminal."""
    triager = _load(model, max_chars=max_chars, limit_option="--max-chars")
    try:
        p = triager.score(text)
    except ComplaintTriageError as e:
        raise _fail(str(e), 2) from e
    with _utf8_stdout() as stdout:
        _show_explanation(Console(file=stdout), text, p)


def _show_explanation(con: Console, text: str, p: Any) -> None:
    con.print(Text.assemble("verdict  ", (p.verdict, _COLOURS[p.verdict]),
                            f"   grievance {'yes' if p.grievance else 'no'}   action {p.action}"
                            f"{'   [needs human review]' if p.review else ''}"))
    if p.categories:
        con.print("categories  " + ", ".join(p.categories))
    for name, v in p.scores.items():
        bar = "█" * round(v * 30)
        con.print(f"  {name:<18}{v:6.3f} {bar}", highlight=False)
    body = Text(_visible(text))  # (a message's escape sequences are shown, not obeyed)
    for ev in p.evidence:
        body.stylize("bold white on red", ev.start, ev.end)
    con.print()
    con.print(body)
    for ev in p.evidence:  # (not rich markup: the message's own brackets are text)
        con.print(f"  [{ev.category}] {ev.start}-{ev.end}: 「{_visible(ev.text)}」", markup=False, highlight=False)
    con.print(f"\nmodel {p.model_version}", style="dim")


@app.command()
def summary(
    scored: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, help="JSONL written by `complaint-triage score`.")],
    width: Annotated[int, typer.Option(min=10, max=200, help="Characters of each message to show.")] = 38,
) -> None:
    """A readable summary of scored messages: counts, actions and one line per message."""
    rows = []
    with scored.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise _fail(f"{scored}: line {n} is not valid JSON ({e}); "
                            "pass the output of `complaint-triage score`", 2) from e
            if not isinstance(row, dict):  # (counted as an error, as score counts such a line)
                row = {"error": f"line {n} is a JSON {type(row).__name__}, not an object"}
            elif not row.get("error"):  # (batch's JSONL writes "error": null on scored rows)
                problem = _not_scored(row)
                if problem:
                    raise _fail(f"{scored}: line {n} {problem}. summary reads what `complaint-triage score` "
                                f"writes: run `complaint-triage score {scored} -o scored.jsonl` first, then "
                                "`complaint-triage summary scored.jsonl`", 2)
            rows.append(row)
    with _utf8_stdout() as stdout:
        _show_summary(Console(file=stdout, width=None if stdout.isatty() else 160), rows, width)


def _show_summary(con: Console, rows: list[dict[str, Any]], width: int) -> None:
    from collections import Counter

    from rich.table import Table

    verdicts = Counter(r.get("verdict", "error") for r in rows)
    cats = Counter(c for r in rows for c in r.get("categories", []))
    actions = Counter(r["action"] for r in rows if "action" in r)
    con.print(Text.assemble((f"{len(rows)} messages", "bold"), " — model "
                            f"{next((r['model_version'] for r in rows if r.get('model_version')), '?')}"))
    con.print("verdicts:   " + ", ".join(f"{k} {v}" for k, v in verdicts.most_common()), markup=False, highlight=False)
    if cats:
        con.print("categories: " + ", ".join(f"{k} {v}" for k, v in cats.most_common()), markup=False,
                  highlight=False)
    con.print("actions:    " + ", ".join(f"{k} {v}" for k, v in actions.most_common()), markup=False, highlight=False)
    con.print(f"for human review: {sum(bool(r.get('review')) for r in rows)}", highlight=False)
    table = Table(show_lines=False)
    for col in ("id", "verdict", "p(harass.)", "categories", "action", "message"):
        table.add_column(col, no_wrap=True, overflow="ellipsis", max_width=width + 2 if col == "message" else None)
    for n, r in enumerate(rows, 1):
        # (values from the file are Text, never rich markup: a message may contain [/x])
        if r.get("error"):
            table.add_row(_shown_id(r, n), "[magenta]error[/]", "", "", "", Text(str(r["error"])))
            continue
        text = " ".join(str(r.get("text", "")).split())
        table.add_row(
            _shown_id(r, n),
            f"[{_COLOURS[r['verdict']]}]{r['verdict']}[/]" + (" ⚑" if r.get("review") else ""),
            f"{r['scores']['harassment']:.2f}",
            ", ".join(r["categories"]),
            r["action"],
            Text(text[:width]),
        )
    con.print(table)


def _shown_id(row: dict[str, Any], n: int) -> Text:
    """The record's ``id``; without one, where it is, marked so that it never reads as an id:
    ``line N`` of the input (an error record of score carries it; a scored record's ``line`` is an
    input field), else ``record N`` of the file."""
    if row.get("id") is not None:
        return Text(str(row["id"]))
    line = row.get("line") if row.get("error") else None
    where = f"line {line}" if isinstance(line, int) and not isinstance(line, bool) else f"record {n}"
    return Text(f"({where})", style="dim")


def _not_scored(row: dict[str, Any]) -> str:
    """Why a record (not an error record) is not one that `score` writes, or ''."""
    if "verdict" not in row:
        return "has no 'verdict', so the file looks unscored"
    if row["verdict"] not in _COLOURS:
        return f"has a 'verdict' that is not one of {', '.join(_COLOURS)}, so it is not scored output"
    scores = row.get("scores")
    if not isinstance(scores, dict) or not isinstance(scores.get("harassment"), int | float) \
            or not isinstance(row.get("categories"), list) or not isinstance(row.get("action"), str):
        return "lacks the 'scores', 'categories' or 'action' that score writes, so it is not scored output"
    return ""


def _register_command_groups() -> None:
    """Attach the edge command groups (model registry and analysts' corrections).

    ``serve`` is attached on every install: :mod:`complaint_triage.api.command` imports nothing of the
    ``api`` extra until it runs, and then says which extra to install when it is missing (every
    command, ``--version`` included, failed on a missing ``pydantic_settings`` before).
    """
    from complaint_triage.api.command import serve
    from complaint_triage.batch_cli import batch, report
    from complaint_triage.registry_cli import feedback_app, models_app

    app.command(help="Score archives (CSV/TSV/xlsx/JSONL/Parquet/mbox/.eml dirs) in chunks; "
                     "resumable; per-sender view.")(batch)
    app.command(help="Write a self-contained HTML report of a scored archive for the section head.")(report)

    app.command(help="Start the scoring API (uvicorn; see docs and COMPLAINT_TRIAGE_* settings).")(serve)

    app.add_typer(feedback_app, name="feedback", help="Analysts' corrections: import and export.")
    app.add_typer(models_app, name="models", help="Model versions: list, show, promote.")


_register_command_groups()

if __name__ == "__main__":  # pragma: no cover
    app()
