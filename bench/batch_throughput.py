"""Batch scoring throughput and memory against bare fugashi tokenisation.

For each size in ``--rows`` (default 10,000, 100,000 and 1,000,000) this script

1. writes a synthetic CSV whose texts recombine sentences of ``data/corpus/handwritten.jsonl``
   (seeded, so every run scores the same texts);
2. runs ``python -m complaint_triage.batch_cli batch`` on it in a subprocess (local engine,
   ``--jobs`` workers) and measures wall time end to end (start-up, model loading, reading,
   scoring, writing) and the peak memory of the whole process tree (sum of RSS, and of PSS,
   which counts pages shared between the processes once);
3. tokenises the same texts with bare fugashi ``-Owakati`` on the same number of processes
   (sizes up to ``--tokenise-max``) and reports batch docs/s as a share of that rate.

It also measures the model ceiling: ``Triager.score_many`` on one process over a sample,
times the number of jobs, to separate the model's own speed from the batch machinery.

Usage (``make bench`` runs the default sizes; CI can run it small)::

    .venv/bin/python bench/batch_throughput.py --rows 10000,100000,1000000
    .venv/bin/python bench/batch_throughput.py --rows 2000 --json build/bench-batch.json
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "data" / "corpus" / "handwritten.jsonl"
CHANNELS = ("email", "phone_note", "web_form", "counter_note", "chat", "letter")


def say(*parts: object, flush: bool = True) -> None:
    """Write a line of results to stdout."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    if flush:
        sys.stdout.flush()


def sentences() -> list[str]:
    out = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        text = json.loads(line)["text"]
        for s in re.split(r"(?<=[。！？!?])|\n+", text):
            s = s.strip()
            if 5 <= len(s) <= 160:
                out.append(s)
    return out


def write_csv(path: Path, rows: int, seed: int = 7) -> float:
    """Write ``rows`` synthetic records; return the mean text length."""
    rng = random.Random(seed)
    sents = sentences()
    total = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "channel", "topic", "date", "sender", "text"])
        for i in range(rows):
            target, text = rng.randint(100, 480), ""
            while len(text) < target:
                text += rng.choice(sents)
            total += len(text)
            w.writerow([f"s{i:07d}", CHANNELS[i % len(CHANNELS)], f"t{i % 25:02d}",
                        f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:00",
                        f"c{rng.randint(0, rows // 5)}", text])
    return total / max(1, rows)


def read_texts(path: Path, limit: int) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.DictReader(f)
        return [row["text"] for _, row in zip(range(limit), r, strict=False)]


# -- memory of a process tree ----------------------------------------------------------


def _tree_memory(pid: int) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in bytes of ``pid`` and its descendants (Linux)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return _proc_rss(pid), 0
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0, 0
    rss = pss = 0
    for p in procs:
        try:
            info = p.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", 0)
        except psutil.Error:
            continue
    return rss, pss


def _proc_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_batch(src: Path, out: Path, *, model: str | None, jobs: int, chunk_rows: int, evidence: bool,
              per_sender: bool = False) -> dict[str, Any]:
    """Run the batch command in a subprocess: wall and CPU time, peak memory of the process tree."""
    cmd = [sys.executable, "-m", "complaint_triage.batch_cli", "batch", str(src), "-o", str(out), "--jobs", str(jobs),
           "--chunk-rows", str(chunk_rows), "--quiet"]
    if per_sender:  # (the per-sender view: the one part of a run whose memory grows with the input)
        cmd += ["--sender-column", "sender", "--date-column", "date"]
    if model:
        cmd += ["--model", model]
    if not evidence:
        cmd.append("--no-evidence")
    peak = {"rss": 0, "pss": 0}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            rss, pss = _tree_memory(proc.pid)
            peak["rss"] = max(peak["rss"], rss)
            peak["pss"] = max(peak["pss"], pss)
            stop.wait(0.5)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)  # the run and its workers
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak["rss"] / 2**20, "peak_pss_mb": peak["pss"] / 2**20,
            "summary": err.decode(errors="replace").strip()}


# -- bare fugashi ---------------------------------------------------------------------------

_TAGGER: Any = None


def _init_tagger() -> None:
    global _TAGGER
    import fugashi

    _TAGGER = fugashi.Tagger("-Owakati")


def _wakati(texts: list[str]) -> tuple[int, float]:
    c0 = time.process_time()
    for t in texts:
        _TAGGER.parse(t)
    return len(texts), time.process_time() - c0


def wakati_rate(texts: list[str], jobs: int) -> tuple[float, float]:
    """Bare ``-Owakati`` on ``jobs`` processes: (docs/s wall clock, docs per CPU-second)."""
    chunks = [texts[i:i + 1000] for i in range(0, len(texts), 1000)]
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_init_tagger) as pool:
        pool.map(_wakati, [["準備"]] * jobs)  # warm up: taggers loaded
        t0 = time.perf_counter()
        done = list(pool.imap_unordered(_wakati, chunks))
        wall = time.perf_counter() - t0
    n = sum(d[0] for d in done)
    return n / wall, n / max(1e-9, sum(d[1] for d in done))


def model_ceiling(texts: list[str], model: str | None, evidence: bool) -> tuple[float, float]:
    """Triager.score_many on this process after loading: (docs/s wall clock, docs per CPU-second)."""
    from complaint_triage.scoring import Triager

    tr = Triager.load(model)
    tr.score_many(texts[:50], with_evidence=evidence)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), 1000):
        tr.score_many(texts[i:i + 1000], with_evidence=evidence)
    return len(texts) / (time.perf_counter() - t0), len(texts) / (time.process_time() - c0)


def _table(results: list[dict[str, Any]]) -> None:
    say("| rows | batch docs/s (wall) | bare wakati docs/s (wall) | ratio (wall) | batch docs/CPU-s "
        "| wakati docs/CPU-s | ratio (CPU) | % of model ceiling (CPU) | peak RSS (sum) | peak PSS (sum) |")
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        def fmt(key: str, spec: str = ",.0f", r: dict[str, Any] = r) -> str:
            return format(r[key], spec) if key in r else "—"

        say(f"| {r['rows']:,} | {fmt('docs_per_s')} | {fmt('wakati_docs_per_s')} | {fmt('ratio_to_wakati', '.1%')} "
            f"| {fmt('docs_per_cpu_s')} | {fmt('wakati_docs_per_cpu_s')} | {fmt('cpu_ratio_to_wakati', '.1%')} "
            f"| {fmt('cpu_share_of_model_ceiling', '.0%')} | {r['peak_rss_mb']:,.0f} MB | {r['peak_pss_mb']:,.0f} MB |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="10000,100000,1000000", help="Comma-separated sizes (default: %(default)s).")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--chunk-rows", type=int, default=1000)
    ap.add_argument("--model", default=None, help="Model directory (default: the promoted model).")
    ap.add_argument("--no-evidence", action="store_true", help="Score without evidence spans.")
    ap.add_argument("--per-sender", action="store_true",
                    help="Also write the per-sender summary (--sender-column sender --date-column date).")
    ap.add_argument("--tokenise-max", type=int, default=100_000, help="Largest size also tokenised with bare fugashi.")
    ap.add_argument("--ceiling-sample", type=int, default=2000, help="Texts for the single-process model ceiling.")
    ap.add_argument("--workdir", type=Path, default=None, help="Where to write the CSVs (default: a temp dir).")
    ap.add_argument("--json", type=Path, default=None, help="Also write the results as JSON here (after each size).")
    args = ap.parse_args()
    sizes = [int(s) for s in args.rows.split(",") if s.strip()]
    evidence = not args.no_evidence
    tmp = tempfile.TemporaryDirectory(prefix="bench-batch-") if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    say(f"# batch throughput: {os.cpu_count()} CPUs, jobs={args.jobs}, chunk_rows={args.chunk_rows}, "
        f"evidence={evidence}, load average {os.getloadavg()[0]:.2f}")
    results: list[dict[str, Any]] = []
    ceiling: tuple[float, float] | None = None
    for n in sizes:
        src = work / f"synthetic-{n}.csv"
        mean_len = write_csv(src, n)
        if ceiling is None:
            ceiling = model_ceiling(read_texts(src, args.ceiling_sample), args.model, evidence)
            say(f"model ceiling (Triager.score_many, 1 process): {ceiling[0]:,.0f} docs/s wall, "
                f"{ceiling[1]:,.0f} docs per CPU-second")
        load0 = os.getloadavg()[0]
        res = run_batch(src, work / f"scored-{n}.parquet", model=args.model, jobs=args.jobs,
                        chunk_rows=args.chunk_rows, evidence=evidence, per_sender=args.per_sender)
        res.update(rows=n, mean_chars=round(mean_len, 1), docs_per_s=n / res["wall_s"],
                   docs_per_cpu_s=n / res["cpu_s"], load_avg=[load0, os.getloadavg()[0]])
        if n <= args.tokenise_max:
            res["wakati_docs_per_s"], res["wakati_docs_per_cpu_s"] = wakati_rate(read_texts(src, n), args.jobs)
            res["ratio_to_wakati"] = res["docs_per_s"] / res["wakati_docs_per_s"]
            res["cpu_ratio_to_wakati"] = res["docs_per_cpu_s"] / res["wakati_docs_per_cpu_s"]
        res["cpu_share_of_model_ceiling"] = res["docs_per_cpu_s"] / ceiling[1]
        results.append(res)
        say(f"{n:,} rows (mean {mean_len:.0f} chars): {res['wall_s']:.0f} s wall, {res['cpu_s']:.0f} CPU-s, "
            f"peak RSS {res['peak_rss_mb']:,.0f} MB, PSS {res['peak_pss_mb']:,.0f} MB, load {load0:.1f}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"jobs": args.jobs, "evidence": evidence, "model_ceiling_1proc": ceiling,
                                             "results": results}, indent=2, ensure_ascii=False), encoding="utf-8")
        (work / f"scored-{n}.parquet").unlink(missing_ok=True)
        src.unlink(missing_ok=True)
    say()
    _table(results)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
