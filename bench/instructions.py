"""Instructions per document under callgrind: scoring against bare fugashi tokenisation.

    python bench/instructions.py [--docs 512]

Wall-clock throughput on a shared 2-core host moves by ±20% from one run to the next, which
hides changes of that size.  ``valgrind --tool=callgrind`` counts executed instructions
instead: the same count for the same code and inputs whatever else the machine is doing.
Each measurement runs this script again under callgrind with collection switched on only
around the timed loop (model loading and warm-up are not counted), over the same corpus texts
(from the 257th, chunks of 256, tagging cache cleared per chunk as in ``throughput.py``):

* ``wakati``: bare ``Tagger('-Owakati').parse``;
* ``score``: ``Triager.score_many`` with evidence; ``score_no_evidence``: without.

Instructions are not time (MeCab's dictionary lookups miss the cache more often than Python's
interpreter loop does, so the time ratio is better than the instruction ratio), but a change
that lowers the count for scoring lowers the work.  Needs valgrind (Debian package
``valgrind``); prints a note and exits 0 when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 256
MODES = ("wakati", "score", "score_no_evidence")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _corpus() -> list[str]:
    lines = (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x)["text"] for x in lines if x.strip()]


def _collect(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   capture_output=True, check=False)


def _child(mode: str, n: int) -> None:
    """Run inside callgrind: warm up, then count only the loop."""
    corpus = _corpus()
    texts = corpus[CHUNK : CHUNK + n]  # the first chunk warms up, the next n are counted
    if mode == "wakati":
        import fugashi

        tagger = fugashi.Tagger("-Owakati")
        tagger.parse(texts[0])
        _collect(True)
        for t in texts:
            tagger.parse(t)
        _collect(False)
        return
    from complaint_triage.scoring import Triager
    from complaint_triage.tokenizer import _tagged

    tr = Triager.load()
    tr.score_many(corpus[:CHUNK])  # lookup tables, tagger
    evidence = mode == "score"
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    _collect(True)
    for c in chunks:
        _tagged.cache_clear()
        tr.score_many(c, with_evidence=evidence)
    _collect(False)


def callgrind_count(args: list[str], what: str) -> int:
    """Run ``python ARGS`` under callgrind (collection off at start) and return the instructions
    it collected while a child switched collection on (:func:`_collect`)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/cg.out",
             sys.executable, *args],
            capture_output=True, text=True, check=False,
        )
    m = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or not m:
        raise SystemExit(f"callgrind printed no instruction count for {what}:\n{out.stderr[-2000:]}")
    return int(m.group(1))


def have_callgrind() -> bool:
    """Whether valgrind and callgrind_control are installed (else say how to get them)."""
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        return True
    _say("valgrind is not installed (Debian: apt install valgrind); instruction counts skipped")
    return False


def _measure(mode: str, n: int) -> int:
    return callgrind_count([__file__, "--child", mode, "--docs", str(n)], mode)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=512)
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(a.child, a.docs)
        return
    if not have_callgrind():
        return
    _say(f"callgrind: instructions per document over {a.docs} corpus texts (one process each)")
    counts = {mode: _measure(mode, a.docs) / a.docs for mode in MODES}
    _say("| pipeline | instructions per doc | × bare wakati |")
    _say("|---|---:|---:|")
    for mode in MODES:
        _say(f"| {mode} | {counts[mode]:,.0f} | {counts[mode] / counts['wakati']:.2f} |")


if __name__ == "__main__":
    main()
