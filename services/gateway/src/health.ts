import type { Database } from "@konstruct/core";
import type { NatsConnection } from "@nats-io/nats-core";
import type { FastifyPluginAsync } from "fastify";
import { type Kysely, sql } from "kysely";

/** One dependency `/readyz` checks; `check` rejects when it is not usable. */
export interface DependencyCheck {
  name: string;
  check(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 1_000;

/** `/healthz` (the process answers) and `/readyz` (every dependency answers, within a second each). */
export const healthRoutes: FastifyPluginAsync<{ checks: readonly DependencyCheck[] }> = async (app, { checks }) => {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), CHECK_TIMEOUT_MS);
          return [name, "ok"] as const;
        } catch {
          return [name, "unavailable"] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === "ok");
    return reply.status(ready ? 200 : 503).send({ status: ready ? "ready" : "not_ready", checks: Object.fromEntries(results) });
  });
};

/** Ready while the NATS connection is up (not closed, not between reconnects). */
export function natsReadiness(nc: NatsConnection): DependencyCheck {
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") connected = false;
      if (status.type === "reconnect") connected = true;
    }
  })();
  return {
    name: "nats",
    async check() {
      if (nc.isClosed() || !connected) throw new Error("NATS is not connected");
      // A round trip proves the server answers, not merely that the socket is open.
      await nc.flush();
    },
  };
}

/** Ready while PostgreSQL answers a trivial query. */
export function databaseReadiness(db: Kysely<Database>): DependencyCheck {
  return {
    name: "database",
    async check() {
      await sql`select 1`.execute(db);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
