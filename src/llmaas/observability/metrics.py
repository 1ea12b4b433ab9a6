"""Prometheus metrics, on a registry owned by the app (no global state shared between apps)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_STALL_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._token_children: dict[tuple[str, str], Any] = {}
        self.requests = Counter(
            "llmaas_requests",
            "Requests answered, by endpoint, model and HTTP status.",
            ["endpoint", "model", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llmaas_request_duration_seconds",
            "Time from request to the last byte of the answer.",
            ["endpoint", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "llmaas_time_to_first_token_seconds",
            "Time from request to the first streamed token.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "llmaas_tokens",
            "Tokens processed, by model and kind (prompt or completion).",
            ["model", "kind"],
            registry=self.registry,
        )
        self.guardrail = Counter(
            "llmaas_guardrail_detections",
            # No tenant label: /metrics is open to anyone who reaches it, and the tenants' names and
            # their detections are theirs (the ledger counts them per key: usage, console, admin API).
            "Prompts the guardrail found an injection in, by model and action (flagged, blocked).",
            ["model", "action"],
            registry=self.registry,
        )
        self.upstream_ready = Gauge(
            "llmaas_upstream_ready",
            "1 when at least one upstream of the model is healthy.",
            ["model"],
            registry=self.registry,
        )
        # observability/stalls.py samples these: a stalled loop delays every request in flight.
        self.loop_lag = Gauge(
            "llmaas_event_loop_lag_seconds",
            "How late the event loop ran the last sampled timer (sampled 10 times a second): how long it "
            "was busy with something else.",
            registry=self.registry,
        )
        self.loop_lags = Histogram(
            "llmaas_event_loop_lag_samples_seconds",
            "Every sample of the event loop's lag.",
            buckets=_STALL_BUCKETS,
            registry=self.registry,
        )
        self.gc_pauses = Histogram(
            "llmaas_gc_pause_seconds",
            "Garbage collections of the gateway process and how long each stopped it, by generation.",
            ["generation"],
            buckets=_STALL_BUCKETS,
            registry=self.registry,
        )
        self._gc_children = [self.gc_pauses.labels(str(generation)) for generation in range(3)]
        self.gc_frozen = Gauge(
            "llmaas_gc_frozen_objects",
            "Objects the collector no longer walks (gc.freeze once serving); 0: the heap was not settled.",
            registry=self.registry,
        )
        self.worker_pid = Gauge(
            "llmaas_worker_pid",
            "The process ID of the gateway process that answered this scrape: with `llmaas serve "
            "--workers N` each scrape reaches one of N, whose own counts it shows.",
            registry=self.registry,
        )
        self.worker_pid.set(os.getpid())

    def observe_loop_lag(self, seconds: float) -> None:
        self.loop_lag.set(seconds)
        self.loop_lags.observe(seconds)

    def observe_gc_pause(self, generation: int, seconds: float) -> None:
        self._gc_children[generation].observe(seconds)

    def observe_request(self, endpoint: str, model: str, status: int, seconds: float) -> None:
        # labels() takes a lock and builds a key each time; the series per route, model and status
        # are few, so their children are kept.
        key = (endpoint, model, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(endpoint, model, str(status)),
                self.latency.labels(endpoint, model),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_tokens(self, model: str, usage: dict[str, object] | None) -> None:
        if not usage:
            return
        for field, kind in _TOKEN_FIELDS:
            value = usage.get(field)
            if isinstance(value, int) and value > 0:
                child = self._token_children.get((model, kind))
                if child is None:
                    child = self._token_children[model, kind] = self.tokens.labels(model, kind)
                child.inc(value)

    def count_guardrail(self, model: str, action: str) -> None:
        self.guardrail.labels(model, action).inc()


# Usage fields, as chat and completions name them and as the Responses API does, by kind counted.
_TOKEN_FIELDS = (("prompt_tokens", "prompt"), ("completion_tokens", "completion"),
                 ("input_tokens", "prompt"), ("output_tokens", "completion"))
