"""Prometheus metrics of one app instance, kept in the app's own registry.

Each :func:`~complaint_triage.api.create_app` call gets a fresh
:class:`~prometheus_client.CollectorRegistry`, so tests that build several apps never
clash on metric names.  With several uvicorn worker processes every process counts its
own requests and a scrape of ``/metrics`` reaches one of them: scrape each worker (or run
one worker per container) when exact totals matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics", "UNMATCHED_ROUTE"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: ``route`` label of requests that matched no route (keeps label cardinality bounded).
UNMATCHED_ROUTE = "unmatched"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request, latency, verdict and admission metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "complaint_triage_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "complaint_triage_http_request_duration_seconds",
            "Time from receiving a request to sending the end of its response.",
            ("route", "method", "status"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "complaint_triage_verdicts",
            "Messages scored, by verdict (batch items counted one by one).",
            ("verdict",),
            registry=self.registry,
        )
        self.item_errors = Counter(
            "complaint_triage_item_errors",
            "Batch items that could not be scored (empty, too long, wrong type).",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "complaint_triage_scoring_in_flight",
            "Scoring requests admitted and not yet finished (running or queued).",
            registry=self.registry,
        )
        self.rejected = Counter(
            "complaint_triage_scoring_rejected",
            "Scoring requests refused with 503 because the concurrency limit was reached.",
            registry=self.registry,
        )
        # Label children by label values. The keys are bounded: route templates (unmatched
        # paths share one label), methods, status codes and the three verdicts.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._verdict_children: dict[str, Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and record its latency."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:  # labels() resolves the label values on every call: keep its answer
            code = str(status)
            children = self._request_children[key] = (self.requests.labels(route, method, code),
                                                      self.latency.labels(route, method, code))
        children[0].inc()
        children[1].observe(seconds)

    def observe_verdicts(self, verdicts: Iterable[str]) -> None:
        """Count scored messages by verdict."""
        for v in verdicts:
            child = self._verdict_children.get(v)
            if child is None:
                child = self._verdict_children[v] = self.verdicts.labels(v)
            child.inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
