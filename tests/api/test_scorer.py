"""The bounded, coalescing scorer behind the routes (no HTTP, a fake triager)."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import pytest

from complaint_triage.api.deps import BATCH_CHUNK, Scorer, ServiceOverloadedError

from .conftest import until


class FakeTriager:
    """Echoes texts; blocks until released; fails on the text "boom"."""

    version = "fake-1"
    max_chars = 100

    def __init__(self) -> None:
        self.calls: list[list[object]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()  # a scoring call has started (and waits at the gate)
        self.threads: set[str] = set()

    def score_many(self, texts: list[object], *, with_evidence: bool = True) -> list[Any]:
        self.entered.set()
        self.gate.wait(10)
        self.threads.add(threading.current_thread().name)
        self.calls.append(list(texts))
        if "boom" in texts:
            raise RuntimeError("boom")
        return [f"{t}:{with_evidence}" for t in texts]


_until = functools.partial(until, timeout=5.0, poll=0.005)


def test_waiting_messages_are_coalesced_in_order() -> None:
    fake = FakeTriager()
    scorer = Scorer(fake, max_concurrency=64, threads=1)

    async def main() -> list[Any]:
        async def one(i: int) -> Any:
            async with scorer.admit() as slot:
                return await slot.score([f"m{i}"])

        tasks = [asyncio.create_task(one(i)) for i in range(10)]
        await _until(lambda: scorer.in_flight == 10)
        fake.gate.set()
        return await asyncio.gather(*tasks)

    try:
        results = asyncio.run(main())
    finally:
        scorer.close()
    assert results == [[f"m{i}:True"] for i in range(10)]
    assert len(fake.calls) < 10 and sorted(t for c in fake.calls for t in c) == sorted(f"m{i}" for i in range(10))
    assert all(len(c) <= BATCH_CHUNK for c in fake.calls)
    assert len(fake.threads) == 1 and scorer.in_flight == 0


def test_batches_are_chunked_and_evidence_flags_are_not_mixed() -> None:
    fake = FakeTriager()
    fake.gate.set()
    scorer = Scorer(fake, max_concurrency=4, threads=1)

    async def main() -> tuple[Any, Any]:
        async with scorer.admit() as a, scorer.admit() as b:
            return await asyncio.gather(a.score([str(i) for i in range(70)], with_evidence=False), b.score(["x"]))

    try:
        big, small = asyncio.run(main())
    finally:
        scorer.close()
    assert big == [f"{i}:False" for i in range(70)] and small == ["x:True"]
    assert all(len(c) <= BATCH_CHUNK for c in fake.calls)


def test_a_failure_only_fails_its_own_request() -> None:
    fake = FakeTriager()
    scorer = Scorer(fake, max_concurrency=8, threads=1)

    async def main() -> list[Any]:
        async def one(text: str) -> Any:
            async with scorer.admit() as slot:
                return await slot.score([text])

        tasks = [asyncio.create_task(one(t)) for t in ("a", "boom", "b")]
        await _until(lambda: scorer.in_flight == 3)
        fake.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        a, boom, b = asyncio.run(main())
    finally:
        scorer.close()
    assert a == ["a:True"] and b == ["b:True"] and isinstance(boom, RuntimeError)


def test_admission_limit_and_release_after_cancellation() -> None:
    fake = FakeTriager()
    scorer = Scorer(fake, max_concurrency=1, threads=1)

    async def main() -> None:
        async def one() -> Any:
            async with scorer.admit() as slot:
                return await slot.score(["a"])

        task = asyncio.create_task(one())
        await _until(lambda: scorer.in_flight == 1)
        with pytest.raises(ServiceOverloadedError) as e:
            async with scorer.admit():
                pass
        assert e.value.status == 503 and e.value.headers == {"Retry-After": "1"}
        task.cancel()  # the client went away: the slot is held until the running work ends
        await asyncio.sleep(0.05)
        assert scorer.in_flight == 1
        fake.gate.set()
        await _until(lambda: scorer.in_flight == 0)

    try:
        asyncio.run(main())
    finally:
        scorer.close()


def test_calls_run_on_the_scoring_thread() -> None:
    fake = FakeTriager()
    scorer = Scorer(fake, max_concurrency=2, threads=1)

    async def main() -> str:
        async with scorer.admit() as slot:
            return await slot.call(lambda: threading.current_thread().name)

    try:
        assert asyncio.run(main()) == "complaint-triage-score-0"
    finally:
        scorer.close()


def test_a_cancelled_queued_job_is_skipped_and_its_place_released() -> None:
    fake = FakeTriager()
    scorer = Scorer(fake, max_concurrency=4, threads=1)

    async def main() -> None:
        async def one(text: str) -> Any:
            async with scorer.admit() as slot:
                return await slot.score([text])

        first = asyncio.create_task(one("running"))
        await _until(fake.entered.is_set)  # the thread has taken "running" and waits on the gate
        queued = asyncio.create_task(one("gone"))
        await _until(lambda: scorer.in_flight == 2)
        queued.cancel()
        await asyncio.sleep(0.05)
        assert scorer.in_flight == 2  # still queued: the place is held until the thread reaches it
        fake.gate.set()
        assert await first == ["running:True"]
        await _until(lambda: scorer.in_flight == 0)

    try:
        asyncio.run(main())
    finally:
        scorer.close()
    assert [t for c in fake.calls for t in c] == ["running"]


def test_errors_of_calls_reach_the_caller_and_warm_up_blocks_until_done() -> None:
    fake = FakeTriager()
    fake.gate.set()
    scorer = Scorer(fake, max_concurrency=2, threads=2)

    def fail() -> None:
        raise ValueError("bad mail")

    async def main() -> None:
        async with scorer.admit() as slot:
            with pytest.raises(ValueError, match="bad mail"):
                await slot.call(fail)
        assert scorer.in_flight == 0

    try:
        asyncio.run(scorer.warm_up())
        assert len(fake.calls) == 2 and fake.threads == {"complaint-triage-score-0", "complaint-triage-score-1"}
        asyncio.run(main())
    finally:
        scorer.close()
