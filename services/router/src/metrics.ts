import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** The router's Prometheus metrics, on a registry of its own so two routers in one process do not collide. */
export interface RouterMetrics {
  registry: Registry;
  /** Messages by what the router did with them (`routed`, `notice`, `not-engaged`, `redelivered`, …). */
  messages: Counter<"result">;
  /** Consumer outcomes (`ack`, `retry`, `poison`). */
  outcomes: Counter<"outcome">;
  handleSeconds: Histogram;
}

/** Creates the router's metrics; `defaults` adds the process metrics (off in tests). */
export function createRouterMetrics(options: { defaults?: boolean } = {}): RouterMetrics {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry });
  return {
    registry,
    messages: new Counter({
      name: "konstruct_router_messages_total",
      help: "Inbound messages by routing result",
      labelNames: ["result"],
      registers: [registry],
    }),
    outcomes: new Counter({
      name: "konstruct_router_outcomes_total",
      help: "Consumer outcomes: ack, retry or poison",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    handleSeconds: new Histogram({
      name: "konstruct_router_handle_seconds",
      help: "Time to route one inbound message",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
  };
}
