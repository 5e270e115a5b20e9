"""Instructions per request of the API app's own work, under callgrind.

The HTTP benchmark (``bench/api_load.py``) moves by ±20% between runs on a shared host, which
hides changes to the framework layer of that size.  This script counts what the app itself
executes per request: the ASGI app (``create_app``, its middleware, routing, key check, body
validation, the hand-off to the scoring thread, the response and the access log line) called
in-process, with no uvicorn and no sockets, and with the model's ``score_many`` replaced by a
stub that returns one precomputed prediction, so the count is the app's, not scoring's.

Each route runs in its own process under ``valgrind --tool=callgrind`` with collection
switched on only around the counted requests (after a warm-up of the same size)::

    .venv/bin/python bench/api_instructions.py            # /v1/score and /healthz, 300 requests each

The count is the same for the same code and inputs whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from instructions import _collect, _say, callgrind_count, have_callgrind  # bench/instructions.py

ROOT = Path(__file__).resolve().parents[1]
ROUTES = ("/v1/score", "/healthz")
KEY = "bench-api-instructions-key"


def _texts(n: int) -> list[str]:
    lines = (ROOT / "data/corpus/handwritten.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x)["text"] for x in lines[:n] if x.strip()]


def _child(route: str, n: int) -> None:
    """Run inside callgrind: start the app, warm up with ``n`` requests, count ``n`` more."""
    from complaint_triage.api import create_app
    from complaint_triage.settings import Settings

    settings = Settings(api_keys_sha256=[hashlib.sha256(KEY.encode()).hexdigest()], log_level="info")
    app = create_app(settings)
    texts = _texts(n)
    bodies = [json.dumps({"text": t}, ensure_ascii=False).encode() for t in texts]
    method = "GET" if route == "/healthz" else "POST"

    async def call(body: bytes) -> None:
        headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                   (b"authorization", f"Bearer {KEY}".encode())]
        if method == "POST":
            headers.append((b"content-length", str(len(body)).encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": route, "raw_path": route.encode(), "query_string": b"",
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
                 "state": {}}
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body if method == "POST" else b"", "more_body": False}
            await asyncio.sleep(3600)  # a client that stays connected
            return {"type": "http.disconnect"}

        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        if status != 200:
            raise SystemExit(f"{method} {route} answered {status}")

    async def main() -> None:
        async with app.router.lifespan_context(app):
            triager = app.state.scorer.triager
            fixed = triager.score_many([texts[0]])[0]
            triager.score_many = lambda ts, with_evidence=True: [fixed for _ in ts]  # the app's work only
            for b in bodies:
                await call(b)
            _collect(True)
            for b in bodies:
                await call(b)
            _collect(False)

    asyncio.run(main())


def _measure(route: str, n: int) -> int:
    return callgrind_count([__file__, "--child", route, "--requests", str(n)], route)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--child", choices=ROUTES, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(a.child, a.requests)
        return
    if not have_callgrind():
        return
    _say(f"callgrind: the API app's own instructions per request over {a.requests} requests (stub scorer)")
    _say("| route | instructions per request |")
    _say("|---|---:|")
    for route in ROUTES:
        method = "GET" if route == "/healthz" else "POST"
        _say(f"| {method} {route} | {_measure(route, a.requests) / a.requests:,.0f} |")


if __name__ == "__main__":
    main()
