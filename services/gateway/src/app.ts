import type { Channel } from "@konstruct/channels/gateway";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import { createErrorHandler } from "./errors.ts";
import { type DependencyCheck, healthRoutes } from "./health.ts";
import type { GatewayMetrics } from "./metrics.ts";

/** What the gateway's HTTP app is built from. */
export interface AppDeps {
  channels: readonly Channel[];
  metrics: GatewayMetrics;
  readiness: readonly DependencyCheck[];
  log: Logger;
  /**
   * Proxies whose X-Forwarded-For is believed (proxy-addr syntax: addresses, CIDRs, `loopback`,
   * `uniquelocal`); the client address the web chat's limits count comes from it. Default
   * `loopback`: a header from anyone else is ignored, so it cannot dodge a per-address limit.
   */
  trustedProxies?: string;
}

/** Builds the gateway's fastify app: every channel's plugin, health, readiness and metrics. Does not listen. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // One log line per webhook would cost more than the webhook; errors are logged by the handler below.
    logController: new LogController({ disableRequestLogging: true }),
    // Behind the Ingress the client address is the forwarded one, but only from trusted proxies.
    trustProxy: deps.trustedProxies ?? "loopback",
    // Web chat event streams are long-lived: on shutdown, close idle and streaming sockets
    // instead of waiting for every browser to hang up (clients reconnect with Last-Event-ID).
    forceCloseConnections: true,
    // Slack gives up after 3 s; a request that has not arrived in 10 s is not Slack's.
    requestTimeout: 10_000,
  });
  app.setErrorHandler(createErrorHandler(deps.log));
  app.setNotFoundHandler((_request, reply) => reply.status(404).send({ error: "not_found" }));

  await app.register(healthRoutes, { checks: deps.readiness });
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  for (const channel of deps.channels) await app.register(channel.plugin);
  return app;
}
