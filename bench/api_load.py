"""Bounded HTTP load test of the scoring API on loopback.

Starts ``complaint-triage serve`` (uvicorn, uvloop, httptools) in a subprocess for each
``--workers`` value, then drives it with a light client: raw asyncio streams, one
keep-alive HTTP/1.1 connection per concurrent client, a fixed number of requests per
scenario, so every run stops by itself.  Reports requests/s and p50/p95/p99 latency for
single-message scoring at concurrency 1, 16 and 64 and for 100-message batches, the
server's memory (RSS and PSS, all processes) and the CPU time used by server and client.

    python bench/api_load.py                       # workers 1 and 2, default request counts
    python bench/api_load.py --workers 2 --quick   # a short smoke run

Prints a markdown table and writes build/bench-api.json.  Not a test: numbers depend on
the machine and on whatever else runs on it (the load average is recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict, dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"
CORPUS = REPO / "data" / "corpus" / "handwritten.jsonl"
EXAMPLES = REPO / "examples" / "messages.jsonl"



def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# -- the server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_model(model: Path | None) -> Path:
    """The model to serve: --model, else the promoted model, else one trained into build/ once."""
    from complaint_triage.exceptions import ModelNotFoundError
    from complaint_triage.persist import models_root, promoted_version

    if model is not None:
        return model
    try:
        root = models_root()
        return root / promoted_version(root)
    except ModelNotFoundError:
        pass
    registry = BUILD / "bench-api-models"
    try:
        return registry / promoted_version(registry)
    except ModelNotFoundError:
        from complaint_triage.training import train

        _err("no promoted model: training one into build/bench-api-models (once)…")
        return train(models_dir=registry, n_jobs=2).directory


class Server:
    """``serve()`` in a subprocess; its processes' memory and CPU read from /proc."""

    def __init__(self, model: Path, workers: int, key: str, max_concurrency: int, log: Path,
                 settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_TRIAGE_")}
        env.update({
            "COMPLAINT_TRIAGE_API_KEYS_SHA256": sha256(key.encode()).hexdigest(),
            "COMPLAINT_TRIAGE_MAX_CONCURRENCY": str(max_concurrency),
        })
        env.update({f"COMPLAINT_TRIAGE_{k.upper()}": v for k, v in (settings or {}).items()})
        code = textwrap.dedent(f"""
            from pathlib import Path
            from complaint_triage.api.command import serve
            serve(host="127.0.0.1", port={self.port}, workers={workers}, model=Path({str(model)!r}))
        """)
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=err)
        self.workers = workers

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}); see {self.log}")
            try:
                status, _ = asyncio.run(_one_get(self.port, "/readyz"))
            except OSError:
                status = 0
            # with several workers, keep asking until a run of answers says ready
            ready = ready + 1 if status == 200 else 0
            if ready >= 4 * self.workers and self._children_ready():
                return
            time.sleep(0.25)
        raise SystemExit(f"server not ready after {timeout:.0f} s; see {self.log}")

    def _children_ready(self) -> bool:
        text = self.log.read_text(errors="replace")
        return text.count('"event": "startup"') >= self.workers

    def pids(self) -> list[int]:
        out = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return out
        for c in children:
            out.append(int(c))
            try:
                out += [int(g) for g in Path(f"/proc/{c}/task/{c}/children").read_text().split()]
            except OSError:
                pass
        return out

    def memory_mb(self) -> dict[str, float]:
        """Memory of the server's processes in MiB: RSS, PSS and anonymous (RSS minus mapped files), summed.

        RSS counts the pages of the memory-mapped MeCab dictionary (unidic-lite, ~200 MB
        once warm) in every process; PSS shares them out; ``anon`` leaves them out.
        """
        out = {"rss": 0.0, "pss": 0.0, "anon": 0.0}
        keys = {"Rss:": "rss", "Pss:": "pss", "Anonymous:": "anon"}
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    name = line.split(":", 1)[0] + ":"
                    if name in keys:
                        out[keys[name]] += int(line.split()[1]) / 1024
            except OSError:
                continue
        return {k: round(v, 1) for k, v in out.items()}

    def cpu_seconds(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# -- the client ----------------------------------------------------------------------


async def _one_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return await _read_response(reader)
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


def build_request(path: str, payload: dict[str, Any], key: str) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


@dataclass
class Result:
    scenario: str
    workers: int
    concurrency: int
    requests: int
    docs_per_request: int
    seconds: float
    ok: int
    rejected_503: int
    other_errors: int
    rps: float
    docs_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float
    server_cpu_ms_per_doc: float
    client_cpu_s: float
    server_rss_mb: float
    server_pss_mb: float
    server_anon_mb: float
    statuses: dict[str, int] = field(default_factory=dict)
    #: Mean latency of the slowest and the fastest keep-alive connection (ms). With several
    #: workers each connection stays with the worker the kernel gave it, so a gap here shows an
    #: uneven split of connections between workers, which sets the tail.
    conn_mean_ms_min: float = 0.0
    conn_mean_ms_max: float = 0.0


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms)) - 1))
    return round(sorted_ms[i], 2)


async def run_load(
    port: int, requests: list[bytes], total: int, concurrency: int
) -> tuple[list[float], dict[int, int], float, list[float]]:
    """Send ``total`` requests over ``concurrency`` keep-alive connections.

    Returns the latencies (ms of 200s), the count per status, the wall time, and each
    connection's mean latency.
    """
    latencies: list[float] = []
    conn_means: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    perf = time.perf_counter

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mine: list[float] = []
        try:
            for i in counter:
                req = requests[i % len(requests)]
                t0 = perf()
                writer.write(req)
                status, _ = await _read_response(reader)
                dt = (perf() - t0) * 1000
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(dt)
                    mine.append(dt)
                if status not in (200, 503):
                    raise RuntimeError(f"unexpected HTTP {status}")
        finally:
            writer.close()
            if mine:
                conn_means.append(sum(mine) / len(mine))

    t0 = perf()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, statuses, perf() - t0, conn_means


def scenario(server: Server, name: str, requests: list[bytes], total: int, concurrency: int, docs: int) -> Result:
    cpu0, usage0 = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
    lat, statuses, wall, conn_means = asyncio.run(run_load(server.port, requests, total, concurrency))
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    server_cpu = server.cpu_seconds() - cpu0
    mem = server.memory_mb()
    lat.sort()
    ok = statuses.get(200, 0)
    return Result(
        scenario=name, workers=server.workers, concurrency=concurrency, requests=total, docs_per_request=docs,
        seconds=round(wall, 3), ok=ok, rejected_503=statuses.get(503, 0),
        other_errors=sum(v for k, v in statuses.items() if k not in (200, 503)),
        rps=round(ok / wall, 1), docs_per_s=round(ok * docs / wall, 1),
        p50_ms=_pct(lat, 0.50), p95_ms=_pct(lat, 0.95), p99_ms=_pct(lat, 0.99),
        max_ms=round(lat[-1], 2) if lat else 0.0,
        server_cpu_s=round(server_cpu, 2), client_cpu_s=round(client_cpu, 2),
        server_cpu_ms_per_doc=round(server_cpu * 1000 / max(1, ok * max(docs, 1)), 2),
        server_rss_mb=mem["rss"], server_pss_mb=mem["pss"], server_anon_mb=mem["anon"],
        statuses={str(k): v for k, v in statuses.items()},
        conn_mean_ms_min=round(min(conn_means), 2) if conn_means else 0.0,
        conn_mean_ms_max=round(max(conn_means), 2) if conn_means else 0.0,
    )


def load_texts() -> list[str]:
    texts = []
    for path in (CORPUS, EXAMPLES):
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            texts += [json.loads(line)["text"] for line in lines if line.strip()]
    if not texts:
        raise SystemExit("no texts: data/corpus/handwritten.jsonl or examples/messages.jsonl is needed")
    return texts


# -- main ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="uvicorn worker counts to test (default: 1 2)")
    ap.add_argument("--model", type=Path, default=None, help="model directory (default: the promoted model)")
    ap.add_argument("--max-concurrency", type=int, default=32, help="server admission limit per worker (default 32)")
    ap.add_argument("--requests", type=int, default=3000, help="single-message requests per scenario (default 3000)")
    ap.add_argument("--batches", type=int, default=40, help="100-message batch requests per scenario (default 40)")
    ap.add_argument("--quick", action="store_true", help="a short run (400 requests, 8 batches)")
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                    help="a service setting for the server, e.g. --set scoring_threads=0 (repeatable)")
    ap.add_argument("--out", type=Path, default=BUILD / "bench-api.json")
    args = ap.parse_args(argv)
    settings = {}
    for item in args.settings:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            ap.error(f"--set {item!r}: expected NAME=VALUE, e.g. scoring_threads=0")
        settings[name.strip()] = value.strip()
    if args.quick:
        args.requests, args.batches = 400, 8
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass

    BUILD.mkdir(exist_ok=True)
    model = resolve_model(args.model)
    texts = load_texts()
    key = secrets.token_urlsafe(24)
    singles = [build_request("/v1/score", {"text": t}, key) for t in texts]
    batches = [build_request("/v1/score/batch", {"items": [{"text": texts[(i * 100 + j) % len(texts)]}
                                                            for j in range(100)]}, key) for i in range(8)]
    health = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    mean_chars = sum(map(len, texts)) / len(texts)
    load_before = os.getloadavg()
    results: list[Result] = []
    idle: dict[int, dict[str, float]] = {}
    for workers in args.workers:
        server = Server(model, workers, key, args.max_concurrency, BUILD / f"bench-api-server-w{workers}.log",
                        settings)
        try:
            server.wait_ready()
            idle[workers] = server.memory_mb()
            scenario(server, "warm-up", singles, 300, 4, 1)
            results.append(scenario(server, "healthz (HTTP floor)", [health], args.requests, 16, 0))
            for c in (1, 16, 64):
                n = args.requests if c > 1 else max(args.requests // 3, 100)
                r = scenario(server, "single", singles, n, c, 1)
                results.append(r)
                _err(f"w={workers} single c={c}: {r.rps} req/s p99 {r.p99_ms} ms (503: {r.rejected_503})")
            for c in (1, 4):
                r = scenario(server, "batch100", batches, args.batches, c, 100)
                results.append(r)
                _err(f"w={workers} batch100 c={c}: {r.docs_per_s} docs/s p99 {r.p99_ms} ms")
        finally:
            server.stop()

    meta = {
        "command": "python bench/api_load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "model": model.name,
        "texts": {"n": len(texts), "mean_chars": round(mean_chars, 1)},
        "max_concurrency_per_worker": args.max_concurrency,
        "server_settings": settings,
        "idle_server_memory_mb": {str(w): m for w, m in idle.items()},
        "client": "asyncio streams (uvloop), keep-alive HTTP/1.1, one connection per concurrent client",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"meta": meta, "results": [asdict(r) for r in results]}
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(markdown(results, meta) + "\n")
    _err(f"written: {args.out}")
    return 0


def markdown(results: list[Result], meta: dict[str, Any]) -> str:
    lines = [
        "| workers | scenario | conc. | requests | req/s | docs/s | p50 ms | p95 ms | p99 ms | 503s | server CPU s "
        "| server CPU ms/doc | client CPU s | server RSS / PSS / anon MiB | connection means ms (min–max) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(f"| {r.workers} | {r.scenario} | {r.concurrency} | {r.requests} | {r.rps:,.0f} "
                     f"| {r.docs_per_s:,.0f} | {r.p50_ms} | {r.p95_ms} | {r.p99_ms} | {r.rejected_503} "
                     f"| {r.server_cpu_s} | {r.server_cpu_ms_per_doc} | {r.client_cpu_s} "
                     f"| {r.server_rss_mb:,.0f} / {r.server_pss_mb:,.0f} / {r.server_anon_mb:,.0f} "
                     f"| {r.conn_mean_ms_min}–{r.conn_mean_ms_max} |")
    lines.append("")
    lines.append(f"{meta['machine']['cpus']} CPUs, Python {meta['machine']['python']}; model {meta['model']}; "
                 f"{meta['texts']['n']} texts of {meta['texts']['mean_chars']:.0f} characters on average; "
                 f"load average before/after: {meta['load_average_before'][0]} / {meta['load_average_after'][0]}; "
                 f"idle server memory (RSS/PSS/anon MiB): "
                 + ", ".join(f"{w} worker(s) {m['rss']:.0f}/{m['pss']:.0f}/{m['anon']:.0f}"
                             for w, m in meta["idle_server_memory_mb"].items()) + ".")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
