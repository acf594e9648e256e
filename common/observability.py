"""What a running service tells its operators: Prometheus metrics and a correlation id in logs.

``Metrics`` is a nameko dependency every service declares. It counts each entrypoint call with its
latency and errors, and on each scrape reads the depth of the service's queues, its outbox lag
(events committed but not yet published, and the age of the oldest) and, in dispatch, the offers
waiting for an answer; in notifications, the deliveries pending and failed and the reminders pending. The gateway serves them at /metrics; any service serves them on
METRICS_PORT when that is set (one port per process, as in a Kubernetes pod).

Every log line carries ``correlation_id``: the order an event or a call is about when there is
one (so one order can be followed across every service), otherwise the request's or event's id.
With LOG_FORMAT=json, lines are JSON objects (python-json-logger).
"""

from __future__ import annotations

import logging
import time

from eventlet.corolocal import local
from kombu import Connection
from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from common.config import setting

log = logging.getLogger(__name__)
_context = local()

CALLS = Counter("songwenhua_entrypoint_calls_total", "Entrypoint calls", ["service", "entrypoint"])
ERRORS = Counter(
    "songwenhua_entrypoint_errors_total", "Entrypoint calls that raised", ["service", "entrypoint", "error"]
)
LATENCY = Histogram(
    "songwenhua_entrypoint_seconds",
    "Entrypoint latency",
    ["service", "entrypoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def correlation_id() -> str:
    return getattr(_context, "correlation_id", None) or "-"


def set_correlation(value: str | None) -> None:
    _context.correlation_id = value


def _correlation_of(worker_ctx) -> str | None:
    """The order a call or an event is about, else an id of the call or event itself."""
    for value in [*worker_ctx.args, *worker_ctx.kwargs.values()]:
        if isinstance(value, dict):
            for key in ("order_id", "event_id"):
                if isinstance(value.get(key), str):
                    return value[key]
    if isinstance(worker_ctx.kwargs.get("order_id"), str):
        return worker_ctx.kwargs["order_id"]
    request = next((a for a in worker_ctx.args if hasattr(a, "headers") and hasattr(a, "path")), None)
    if request is not None:
        values = getattr(request, "path_values", None) or {}
        return values.get("order_id") or request.headers.get("X-Request-ID")
    return worker_ctx.call_id


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id()
        return True


class _Collector:
    """Read on each scrape: queue depths, outbox lag, pending offers."""

    def __init__(self, provider: Metrics):
        self.provider = provider

    def describe(self):
        return []

    def collect(self):
        try:
            yield from self._collect()
        except ReferenceError:  # the container stopped (nameko holds it weakly): nothing to read
            return

    def _collect(self):
        p = self.provider
        service = p.container.service_name
        depth = GaugeMetricFamily(
            "songwenhua_queue_messages", "Messages waiting in a queue", labels=["service", "queue"]
        )
        try:
            with Connection(setting(p.container.config, "AMQP_URI"), connect_timeout=2) as conn:
                channel = conn.channel()
                for queue in p.queues():
                    try:
                        _, count, _ = channel.queue_declare(queue=queue, passive=True)
                        depth.add_metric([service, queue], count)
                    except Exception:  # noqa: BLE001 - a queue not declared yet has no depth
                        channel = conn.channel()
        except Exception as err:  # noqa: BLE001 - the broker away: no depth this time
            log.debug("queue depth unavailable: %r", err)
        yield depth
        store = p.store()
        if store is None:
            return
        lag = GaugeMetricFamily(
            "songwenhua_outbox_unpublished", "Committed events not yet published", labels=["service"]
        )
        age = GaugeMetricFamily(
            "songwenhua_outbox_oldest_seconds", "Age of the oldest unpublished event", labels=["service"]
        )
        try:
            db = store.db
            lag.add_metric([service], db.outbox.count_documents({"published": False}))
            oldest = db.outbox.find_one({"published": False}, sort=[("published", 1), ("seq", 1)])
            at = oldest and (oldest.get("created_at") or oldest.get("at"))
            age.add_metric([service], max(0.0, time.time() - at.timestamp()) if at else 0.0)
            yield lag
            yield age
            if service == "dispatch":
                pending = GaugeMetricFamily("songwenhua_offers_pending", "Offers waiting for an answer")
                pending.add_metric([], db.offers.count_documents({"status": "pending"}))
                yield pending
            if service == "notifications":
                deliveries = GaugeMetricFamily(
                    "songwenhua_notification_deliveries",
                    "Email and webhook deliveries waiting to be sent (pending) or given up (failed)",
                    labels=["status"],
                )
                for status in ("pending", "failed"):
                    deliveries.add_metric([status], db.deliveries.count_documents({"status": status}))
                yield deliveries
                reminders = GaugeMetricFamily("songwenhua_reminders_pending", "Reminders not yet due or not yet said")
                reminders.add_metric([], db.reminders.count_documents({"status": "pending"}))
                yield reminders
        except Exception as err:  # noqa: BLE001 - the database away: nothing this time
            log.debug("outbox metrics unavailable: %r", err)


class Metrics(DependencyProvider):
    _collectors: dict[str, _Collector] = {}
    _servers: set[int] = set()

    def setup(self):
        service = self.container.service_name
        if service not in Metrics._collectors:  # one collector per service and process
            Metrics._collectors[service] = _Collector(self)
            REGISTRY.register(Metrics._collectors[service])
        else:
            Metrics._collectors[service].provider = self
        port = setting(self.container.config, "METRICS_PORT")
        if port and int(port) not in Metrics._servers:
            start_http_server(int(port))
            Metrics._servers.add(int(port))
        self._started: dict = {}

    def stop(self):
        service = self.container.service_name
        collector = Metrics._collectors.get(service)
        if collector is not None and collector.provider is self:
            REGISTRY.unregister(collector)
            del Metrics._collectors[service]

    def queues(self) -> list[str]:
        names = []
        for entrypoint in self.container.entrypoints:
            queue = getattr(entrypoint, "queue", None)
            if queue is not None and getattr(queue, "name", None):
                names.append(queue.name)
        return sorted(set(names))

    def store(self):
        for dependency in self.container.dependencies:
            if dependency.__class__.__name__ == "MongoStore" and getattr(dependency, "store", None):
                return dependency.store
        return None

    def get_dependency(self, worker_ctx):
        return self

    def worker_setup(self, worker_ctx):
        set_correlation(_correlation_of(worker_ctx))
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        service, name = self.container.service_name, worker_ctx.entrypoint.method_name
        started = self._started.pop(worker_ctx, None)
        CALLS.labels(service, name).inc()
        if started is not None:
            LATENCY.labels(service, name).observe(time.perf_counter() - started)
        if exc_info is not None:
            ERRORS.labels(service, name, exc_info[0].__name__).inc()

    def worker_teardown(self, worker_ctx):
        self._started.pop(worker_ctx, None)
        set_correlation(None)
