import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

/** A readiness check: resolves to null when ready, else a short reason. */
export type ReadinessCheck = () => Promise<string | null> | string | null;

/**
 * The small HTTP server beside the consumer: `/healthz` (the process is alive), `/readyz`
 * (its dependencies answer; Kubernetes stops routing to it otherwise), `/metrics` (Prometheus).
 */
export function createHealthServer(options: { registry: Registry; checks: Record<string, ReadinessCheck> }): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const failing: Record<string, string> = {};
    for (const [name, check] of Object.entries(options.checks)) {
      try {
        const problem = await check();
        if (problem) failing[name] = problem;
      } catch (error) {
        failing[name] = error instanceof Error ? error.message : String(error);
      }
    }
    if (Object.keys(failing).length > 0) return reply.code(503).send({ status: "unavailable", failing });
    return { status: "ready" };
  });
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", options.registry.contentType);
    return options.registry.metrics();
  });
  return app;
}
