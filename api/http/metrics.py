"""Prometheus metrics, on a registry of the app's own (no global state between apps)."""

import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.gauges import Gauges
from storage.models import Topic


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "baton_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "baton_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.escalations_created = Counter(
            "baton_escalations_created_total",
            "Escalations opened",
            registry=self.registry,
        )
        self.transitions = Counter(
            "baton_transitions_total",
            "Moves of escalations, by kind (the audit event's type) and where they came from",
            ["kind", "via"],
            registry=self.registry,
        )
        self.open = Gauge(
            "baton_open_escalations",
            "Escalations queued or taken, by status and priority",
            ["status", "priority"],
            registry=self.registry,
        )
        self.oldest_waiting = Gauge(
            "baton_oldest_waiting_seconds",
            "How long the oldest queued escalation has waited to be taken (0: none waits)",
            registry=self.registry,
        )
        self.pending = Gauge(
            "baton_outbox_pending",
            "Outbox rows waiting to be delivered, by topic",
            ["topic"],
            registry=self.registry,
        )

    def count_move(self, kind: str, via: str) -> None:
        self.transitions.labels(kind, via).inc()

    def show(self, gauges: Gauges, now: datetime) -> None:
        """The gauges as read at this scrape; a combination gone since is gone here too."""
        self.open.clear()
        for (status, priority), count in gauges.open.items():
            self.open.labels(status, priority).set(count)
        since = gauges.oldest_waiting_since
        self.oldest_waiting.set(0 if since is None else (now - since).total_seconds())
        self.pending.clear()
        for topic in Topic:
            self.pending.labels(str(topic)).set(gauges.pending.get(topic, 0))


class MetricsMiddleware:
    """Counts and times each request under its route template (not its raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
