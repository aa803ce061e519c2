import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The operator's Prometheus metrics, on a registry of its own (no global state). */
export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<"controller" | "result">;
  reconcileSeconds: Histogram<"controller">;
  reconcileErrors: Counter<"controller">;
  queueDepth: Gauge<"controller">;
  backingOff: Gauge<"controller">;
  watchRestarts: Counter<"resource" | "reason">;
  leader: Gauge;
  historyPurged: Counter<"kind">;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): OperatorMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "konstruct_operator_" });
  return {
    registry,
    reconciles: new Counter({
      name: "konstruct_operator_reconciles_total",
      help: "Reconciles finished, by controller and result (success, requeue, error).",
      labelNames: ["controller", "result"],
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: "konstruct_operator_reconcile_duration_seconds",
      help: "Time one reconcile took.",
      labelNames: ["controller"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: "konstruct_operator_reconcile_errors_total",
      help: "Reconciles that threw and were retried with backoff.",
      labelNames: ["controller"],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "konstruct_operator_queue_depth",
      help: "Keys waiting in the work queue.",
      labelNames: ["controller"],
      registers: [registry],
    }),
    backingOff: new Gauge({
      name: "konstruct_operator_backing_off",
      help: "Objects whose last reconcile failed or was not ready, waiting out their backoff.",
      labelNames: ["controller"],
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: "konstruct_operator_watch_restarts_total",
      help: "Watches restarted after an error, a 410 Gone or a stall.",
      labelNames: ["resource", "reason"],
      registers: [registry],
    }),
    historyPurged: new Counter({
      name: "konstruct_operator_history_purged_total",
      help: "Conversation history rows deleted past their tenant's retention, by kind (messages, conversations).",
      labelNames: ["kind"],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "konstruct_operator_leader",
      help: "1 while this replica holds the leader lease.",
      registers: [registry],
    }),
  };
}
