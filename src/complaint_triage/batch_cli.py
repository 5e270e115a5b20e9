"""The ``batch`` and ``report`` commands (registered on the main app by :mod:`complaint_triage.cli`).

Diagnostics, the progress bar and the end-of-run summary go to stderr; nothing is printed
on stdout (``--quiet`` hides the progress bar, never the warnings about the data or the summary).  Exit codes:
0 done (records that could not be scored are rows with an ``error``), 1 model or run
failure (also: another run is writing the same output, the output or a checkpoint cannot
be written, the Dask scheduler does not answer or has no worker, the cluster failed), 2 bad
input or options (also: an input or the per-sender summary that is the run's own output,
an input that is a pipe, inputs that hold no records, a file that is not of its format, a
workbook sheet that holds rows but no text column, a ``--scheduler`` that is not an address,
``--sender-summary`` without ``--sender-column`` (mail inputs: their From), ``--blocksize`` for a CSV
file with a line break in a quoted field, a CSV file pandas cannot read on the Dask engine; for ``report``: a file that
is not scored records or holds none, an output that is the scored file or a folder), 130 interrupted (the finished
chunks are kept: rerun with ``--resume``).

Run standalone with ``python -m complaint_triage.batch_cli batch …``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from complaint_triage.cli_output import err
from complaint_triage.cli_output import fail as _fail
from complaint_triage.cli_output import warn as _warn
from complaint_triage.exceptions import ComplaintTriageError, InputFormatError

__all__ = ["Engine", "batch", "report", "main"]



class Engine(StrEnum):
    """Where the scoring runs."""

    LOCAL = "local"
    DASK = "dask"


def batch(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT...",
        help="CSV/TSV (UTF-8, UTF-8 BOM, CP932 or EUC-JP, detected), .xlsx, JSONL, Parquet, mbox files, folders "
             "of .eml files (sub-folders too); globs allowed (quote them; the run's own output is skipped). Files, "
             "not pipes: each input is read more than once.")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="Output file: .parquet, .csv (UTF-8 with BOM; cells that a spreadsheet would take "
                               "for a formula get a leading '), .jsonl or .xlsx. Must not be an input.")],
    text_column: Annotated[str, typer.Option(help="Column holding the message text.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Record id column (named in the error summary).")] = None,
    sender_column: Annotated[str | None, typer.Option(
        help="Sender column (e-mail, customer id, phone): adds sender_id (a keyed-hash pseudonym) and a per-sender "
             "summary. Blank cells and placeholders (非通知, 匿名, 不明, -, N/A, 0 …) are no sender: counted in the "
             "summary, not grouped. The scored output still keeps every input column, this raw column included, "
             "unless --mask-sender-column.")] = None,
    date_column: Annotated[str | None, typer.Option(
        help="Date column, for the per-sender summary's dates and 7-day runs (without it they are empty; ISO, "
             "2024/5/1, 2024年5月1日(月) 午後3時, 令和6年4月1日, R6.4.1, RFC 2822 mail dates (no zone: Japan time), "
             "Excel serials; the summary counts values it cannot read).")] = None,
    format: Annotated[str | None, typer.Option(
        "--format", help="Input format for every input: csv, tsv, xlsx, jsonl, parquet, mbox or eml "
                         "(default: from each file's extension).")] = None,
    encoding: Annotated[str | None, typer.Option(
        help="CSV/TSV encoding, e.g. cp932 or utf-8-sig (default: detected).")] = None,
    sheet: Annotated[list[str] | None, typer.Option(
        metavar="NAME",
        help="Read only this sheet of .xlsx inputs; repeat for several (default: every sheet, and a sheet that "
             "holds rows but no text column is an error).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: the promoted model).")] = None,
    max_chars: Annotated[int, typer.Option(min=1, help="Texts longer than this become error rows.")] = 20_000,
    evidence: Annotated[bool, typer.Option(help="Add evidence spans (about a third of the scoring time).")] = True,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=1, help="Worker processes (local) or local Dask workers.")] = 2,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk and checkpoint.")] = 1000,
    resume: Annotated[bool, typer.Option(
        help="Continue an interrupted run from its checkpoints (<OUTPUT>.parts); refused if the inputs, options, "
             "model or complaint-triage version changed.")] = False,
    engine: Annotated[Engine, typer.Option(help="local (process pool) or dask (CSV/TSV/Parquet only).")] = Engine.LOCAL,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: start a local cluster).")] = None,
    scheduler_timeout: Annotated[float, typer.Option(
        min=0.1, metavar="SECONDS",
        help="Dask: how long to wait for the --scheduler to answer, then for a worker to join it.")] = 30.0,
    blocksize: Annotated[str | None, typer.Option(
        help="Dask: split CSV files into partitions of this size, e.g. 64MB (refused for a file where a quoted "
             "field holds a line break, and for UTF-16 files; default: one partition per CSV file).")] = None,
    sender_summary: Annotated[Path | None, typer.Option(
        help="Per-sender summary file (default: <OUTPUT stem>.senders<ext>); not the output, not an input; "
             "needs --sender-column (mail inputs: their From), checked before any input is read.")] = None,
    keep_sender_ids: Annotated[bool, typer.Option(
        help="In sender_id and the per-sender summary, show canonical sender ids (e-mail address in lower case "
             "without the display name, phone number as digits) instead of keyed-hash pseudonyms; senders are "
             "grouped alike either way.")] = False,
    mask_sender_column: Annotated[bool, typer.Option(
        help="Replace the raw values of the --sender-column in the scored output by their sender_id (by default "
             "every input column is kept as it was).")] = False,
    sender_key_file: Annotated[Path | None, typer.Option(
        help="Pseudonym key file; it must exist, and wins over $COMPLAINT_TRIAGE_SENDER_KEY (default: that "
             "variable, else ~/.config/complaint-triage/sender.key, created on first use with a warning).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar (warnings about the data and the summary are still shown).")] = False,
) -> None:
    """Score archived records in bulk: many formats in, one scored file out (resumable)."""
    from complaint_triage.batch import run_batch

    if scheduler is not None and engine.value != "dask":
        raise _fail("--scheduler names a Dask cluster but the engine is local: add --engine dask to score on that "
                    "cluster, or leave out --scheduler", 2)
    try:
        res = run_batch(
            inputs, output, text_col=text_column, id_col=id_column, sender_col=sender_column, date_col=date_column,
            fmt=format, encoding=encoding, sheet=sheet or None, model=model, max_chars=max_chars,
            with_evidence=evidence,
            engine=engine.value, scheduler=scheduler, scheduler_timeout=scheduler_timeout, dask_blocksize=blocksize,
            jobs=jobs, chunk_rows=chunk_rows, resume=resume, sender_output=sender_summary,
            keep_sender_ids=keep_sender_ids, mask_sender_column=mask_sender_column, sender_key_file=sender_key_file,
            progress=False if quiet else None,
        )
    except KeyboardInterrupt:
        raise _fail(f"interrupted; the finished chunks are kept in {output}.parts: rerun the same command "
                    "with --resume to continue", 130) from None
    except InputFormatError as e:
        raise _fail(str(e), 2) from e
    except ComplaintTriageError as e:  # model missing or unusable, worker died, output in use or unwritable, Dask
        raise _fail(str(e), 1) from e
    except (FileNotFoundError, NotADirectoryError) as e:
        raise _fail(str(e), 2) from e
    except OSError as e:
        raise _fail(str(e), 1) from e
    for w in res.warnings:  # (also with --quiet: they are about the data)
        _warn(w)
    err.print(res.format(), highlight=False, soft_wrap=True)


def report(
    scored: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File written by `batch` (or `score`).")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="HTML file to write (not the scored file, not a folder).")] = Path("report.html"),
    date_column: Annotated[str | None, typer.Option(
        help="Date column (default: date, received, 受付日…, else a column whose name ends in 受付年月日, 受付日時, "
             "日付, 日時 or 年月日, else one with the word date in its name, as received_date; a column whose first "
             "100 values hold no date is passed over with a warning).")] = None,
    channel_column: Annotated[str | None, typer.Option(help="Channel column (default: channel…).")] = None,
    topic_column: Annotated[str | None, typer.Option(
        help="Topic/department column (default: topic, department…).")] = None,
    sender_column: Annotated[str | None, typer.Option(
        help="Sender column (default: sender_id, sender, from…).")] = None,
    id_column: Annotated[str | None, typer.Option(help="Record id column (default: id…).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column for excerpts (default: text…).")] = None,
    title: Annotated[str, typer.Option(help="Report title.")] = "苦情・カスタマーハラスメント 集計レポート",
    max_review: Annotated[int, typer.Option(
        min=0, help="Review-queue rows shown, the most severe (action, then harassment score, then oldest).")] = 200,
    max_senders: Annotated[int, typer.Option(
        min=0, help="Sender rows shown (senders flagged for repetition are always shown, beyond it if need be).")] = 50,
    sender_key_file: Annotated[Path | None, typer.Option(
        help="Pseudonym key file (as for batch: it must exist, and wins over $COMPLAINT_TRIAGE_SENDER_KEY).")] = None,
) -> None:
    """Write a self-contained HTML report (charts, review queue, evidence, senders; contact details,
    addresses and known names masked by pattern)."""
    from complaint_triage.report import write_report

    try:
        stats = write_report(scored, output, date_col=date_column, channel_col=channel_column, topic_col=topic_column,
                             sender_col=sender_column, id_col=id_column, text_col=text_column, title=title,
                             max_review=max_review, max_senders=max_senders, sender_key_file=sender_key_file)
    except InputFormatError as e:
        raise _fail(str(e), 2) from e
    except (ComplaintTriageError, OSError) as e:
        raise _fail(str(e), 1) from e
    for w in stats.warnings:
        _warn(w)
    err.print(f"report of {stats.rows:,} records ({stats.review:,} for review, {stats.senders:,} senders) → {output}",
              highlight=False)


def main() -> None:
    """Run ``batch`` and ``report`` without the main app (``python -m complaint_triage.batch_cli``)."""
    app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
    app.command()(batch)
    app.command()(report)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
