import type { ChannelMetrics } from "@konstruct/channels/gateway";
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** The gateway's Prometheus metrics, on a registry of its own (no global state between tests). */
export interface GatewayMetrics extends ChannelMetrics {
  registry: Registry;
}

/** Creates the metrics; `defaults` adds the process metrics (off in unit tests). */
export function createMetrics(options: { defaults?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry, prefix: "konstruct_gateway_" });
  return {
    registry,
    webhooks: new Counter({
      name: "konstruct_gateway_webhooks_total",
      help: "Webhook requests by channel and result",
      labelNames: ["channel", "result"],
      registers: [registry],
    }),
    publishSeconds: new Histogram({
      name: "konstruct_gateway_publish_duration_seconds",
      help: "Time to store an inbound message in JetStream",
      labelNames: ["channel"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [registry],
    }),
    posts: new Counter({
      name: "konstruct_gateway_posts_total",
      help: "Outbound replies by channel and result",
      labelNames: ["channel", "result"],
      registers: [registry],
    }),
    postSeconds: new Histogram({
      name: "konstruct_gateway_post_duration_seconds",
      help: "Time of one post to the channel's API",
      labelNames: ["channel"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
