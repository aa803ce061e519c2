import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** The portal's Prometheus metrics, on a registry of its own. */
export interface PortalMetrics {
  registry: Registry;
  requests: Histogram<"route" | "method" | "status">;
  signIns: Counter<"result">;
}

/** Creates the metrics; `defaults` adds the process metrics (off in tests). */
export function createMetrics(options: { defaults?: boolean } = {}): PortalMetrics {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry, prefix: "konstruct_portal_" });
  return {
    registry,
    requests: new Histogram({
      name: "konstruct_portal_request_duration_seconds",
      help: "Portal requests by route, method and status",
      labelNames: ["route", "method", "status"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    signIns: new Counter({
      name: "konstruct_portal_sign_ins_total",
      help: "Sign-in attempts by result (ok, failed, throttled)",
      labelNames: ["result"],
      registers: [registry],
    }),
  };
}
