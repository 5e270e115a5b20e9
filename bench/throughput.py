"""Scoring throughput against bare fugashi tokenisation of the same texts (a ratio).

    python bench/throughput.py [--docs 10000] [--procs 2]

Both sides run in the same way on the same machine in one run: a fork pool of ``--procs``
workers, each with its own tagger/model (loaded once by the pool initializer), fed chunks
of 256 texts.  Reported: docs/s for bare ``Tagger('-Owakati').parse`` (segmentation only, the
baseline the goal is judged against), for fugashi's standard tagger (``Tagger()(text)``: UniDic
word nodes; and the same with each node's surface and lemma read, the tokens the pipeline
needs, for reference), for the full
``complaint-triage score`` path (normalise, tokenise, features, model, thresholds, evidence,
action) and for the same without evidence; the ratios; and peak RSS of the largest worker.
Texts: the hand-written corpus, cycled to ``--docs`` documents.

``--stages`` adds a single-process breakdown (CPU µs per document, and as a multiple of bare
wakati) of where the scoring time goes: MeCab with the lemma output format, normalisation,
lemma extraction, signal regexes, the whole featuriser, the model heads and decisions, and
evidence spans.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 256

_worker: dict = {}


def _init_wakati(warm: list[str], ready) -> None:
    import fugashi

    _worker["tagger"] = fugashi.Tagger("-Owakati")
    _run_wakati(warm)
    ready.put(1)


def _run_wakati(texts: list[str]) -> int:
    t = _worker["tagger"]
    for x in texts:
        t.parse(x)
    return len(texts)


def _init_nodes(warm: list[str], ready) -> None:
    import fugashi

    _worker["nodes"] = fugashi.Tagger()  # fugashi's standard tagger: UniDic word nodes
    _run_nodes(warm)
    _run_lemmas(warm)
    ready.put(1)


def _run_nodes(texts: list[str]) -> int:
    t = _worker["nodes"]
    for x in texts:
        t(x)
    return len(texts)


def _run_lemmas(texts: list[str]) -> int:
    t = _worker["nodes"]
    for x in texts:
        [(w.surface, w.feature.lemma) for w in t(x)]
    return len(texts)


def _init_model(warm: list[str], ready) -> None:
    from complaint_triage.scoring import Triager

    _worker["triager"] = Triager.load()
    # the first call builds the featuriser's lookup tables (about 1.5 s): a per-process
    # start-up cost, paid here in every worker rather than inside the timed window
    _run_score((warm, True))
    ready.put(1)


def _run_score(args: tuple[list[str], bool]) -> int:
    from complaint_triage.tokenizer import _tagged

    texts, evidence = args
    # The corpus is cycled to reach --docs: start every chunk with an empty tagging cache so
    # that a text seen in an earlier chunk is not counted as free.
    _tagged.cache_clear()
    _worker["triager"].score_many(texts, with_evidence=evidence)
    return len(texts)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(procs: int, init, fn, payloads, warm: list[str]) -> tuple[float, float]:
    ctx = mp.get_context("fork")
    # every worker warms up in its initializer (imports, tagger, model, lookup tables);
    # a warm-up map could hand both warm-up chunks to the same worker
    ready = ctx.Queue()
    with ctx.Pool(procs, initializer=init, initargs=(warm, ready)) as pool:
        for _ in range(procs):  # the clock starts when every worker is warm
            ready.get()
        t0 = time.perf_counter()
        n = sum(pool.map(fn, payloads, chunksize=1))
        dt = time.perf_counter() - t0
        rss = max(pool.map(_rss_probe, range(procs)))
    return n / dt, rss


def _rss_probe(_: int) -> float:
    time.sleep(0.05)
    return _peak_rss_mb()


def _stages(texts: list[str]) -> list[tuple[str, float]]:
    """CPU seconds per document of each stage, one process, chunks of CHUNK texts."""
    import fugashi

    from complaint_triage.features import SIGNALS
    from complaint_triage.model import decide_all
    from complaint_triage.normalize import normalize_text
    from complaint_triage.scoring import Triager
    from complaint_triage.tokenizer import _surfaces, _tagged, get_tagger

    tr = Triager.load()
    clf = tr.model.classifier
    feat = clf.featurizer_
    tr.score_many(texts[:CHUNK])  # build lookup tables, start the tagger
    wakati = fugashi.Tagger("-Owakati")
    tagger = get_tagger()
    norms = [normalize_text(t) for t in texts]
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]

    def cpu(fn) -> float:
        _tagged.cache_clear()
        _surfaces.cache_clear()
        t0 = time.process_time()
        fn()
        return (time.process_time() - t0) / len(texts)

    X = feat.transform(texts)
    rows = [
        ("bare wakati parse", cpu(lambda: [wakati.parse(t) for t in texts])),
        ("MeCab parse, lemma output format", cpu(lambda: [tagger.parse(t) for t in norms])),
        ("normalise", cpu(lambda: [normalize_text(t) for t in texts])),
        ("tokenizer (parse + lemma extraction or lookup)", cpu(lambda: [feat.tokenizer_(t) for t in norms])),
        ("signal regexes", cpu(lambda: [[p.findall(t) for p in SIGNALS.values()] for t in norms])),
        ("featuriser, all of the above + n-grams", cpu(lambda: [feat.transform(c) for c in chunks])),
        ("model heads + decisions", cpu(lambda: decide_all(clf.scores_from_features(X), tr.model.thresholds))),
        ("score, no evidence", cpu(lambda: [tr.score_many(c, with_evidence=False) for c in chunks])),
        ("score, with evidence", cpu(lambda: [tr.score_many(c) for c in chunks])),
    ]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--stages", action="store_true", help="also print a single-process stage breakdown")
    a = ap.parse_args()
    recs = [json.loads(x) for x in (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines()
            if x.strip()]
    base = [r["text"] for r in recs]
    texts = [base[i % len(base)] for i in range(a.docs)]
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    mean_chars = statistics.mean(len(t) for t in texts)
    res: dict[str, list[float]] = {"wakati": [], "fugashi_nodes": [], "fugashi_lemmas": [], "score": [],
                                   "score_no_evidence": []}
    rss: dict[str, float] = {}
    for _ in range(a.repeats):  # interleave them all so drift hits all alike
        r, m = _timed(a.procs, _init_wakati, _run_wakati, chunks, chunks[0])
        res["wakati"].append(r)
        rss["wakati"] = max(rss.get("wakati", 0), m)
        for name, fn in (("fugashi_nodes", _run_nodes), ("fugashi_lemmas", _run_lemmas)):
            r, m = _timed(a.procs, _init_nodes, fn, chunks, chunks[0])
            res[name].append(r)
            rss[name] = max(rss.get(name, 0), m)
        r, m = _timed(a.procs, _init_model, _run_score, [(c, True) for c in chunks], chunks[0])
        res["score"].append(r)
        rss["score"] = max(rss.get("score", 0), m)
        r, m = _timed(a.procs, _init_model, _run_score, [(c, False) for c in chunks], chunks[0])
        res["score_no_evidence"].append(r)
        rss["score_no_evidence"] = max(rss.get("score_no_evidence", 0), m)
    med = {k: statistics.median(v) for k, v in res.items()}
    out = {
        "docs": a.docs, "procs": a.procs, "mean_chars": round(mean_chars, 1), "repeats": a.repeats,
        "docs_per_s": {k: round(v, 1) for k, v in med.items()},
        "ratio_score_vs_wakati": round(med["score"] / med["wakati"], 3),
        "ratio_score_no_evidence_vs_wakati": round(med["score_no_evidence"] / med["wakati"], 3),
        "ratio_score_vs_fugashi_nodes": round(med["score"] / med["fugashi_nodes"], 3),
        "ratio_score_vs_fugashi_lemmas": round(med["score"] / med["fugashi_lemmas"], 3),
        "peak_rss_mb_per_worker": {k: round(v, 1) for k, v in rss.items()},
    }
    print(f"{a.docs} docs (mean {mean_chars:.0f} chars), {a.procs} processes, median of {a.repeats}")
    print("| pipeline | docs/s | ratio to bare wakati | peak RSS per worker (MB) |")
    print("|---|---:|---:|---:|")
    for k in ("wakati", "fugashi_nodes", "fugashi_lemmas", "score", "score_no_evidence"):
        print(f"| {k} | {med[k]:,.0f} | {med[k] / med['wakati']:.2f} | {rss[k]:.0f} |")
    print(f"score against fugashi's standard tagger: {med['score'] / med['fugashi_nodes']:.2f} of its word nodes, "
          f"{med['score'] / med['fugashi_lemmas']:.2f} of its nodes read for surface and lemma")
    if a.stages:
        rows = _stages(texts[:4000])
        base_s = rows[0][1]
        print("\nsingle process, CPU per document (first 4,000 texts)")
        print("| stage | µs/doc | × bare wakati |")
        print("|---|---:|---:|")
        for name, sec in rows:
            print(f"| {name} | {sec * 1e6:,.0f} | {sec / base_s:.2f} |")
        out["stages_us_per_doc"] = {name: round(sec * 1e6, 1) for name, sec in rows}
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bench-throughput.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
