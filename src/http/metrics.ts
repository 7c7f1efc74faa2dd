import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export type Metrics = ReturnType<typeof createMetrics>;

const HTTP_LABELS = ["method", "route", "status"] as const;

/** A registry per app instance: no module-level state, so tests and processes stay apart. */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route pattern and status",
    labelNames: HTTP_LABELS,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration by method, route pattern and status",
    labelNames: HTTP_LABELS,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const deliveriesApplied = new Counter({
    name: "ingest_deliveries_total",
    help: "Inbox deliveries processed by the worker, by source kind and result",
    labelNames: ["kind", "result"] as const,
    registers: [registry],
  });
  const feedRenders = new Counter({
    name: "feed_renders_total",
    help: "Feed bodies rendered (cache misses)",
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration, deliveriesApplied, feedRenders };
}
