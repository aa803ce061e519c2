import type { NatsConnection } from "@nats-io/nats-core";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Database } from "../db/types.ts";
import { createHealthServer } from "./health-server.ts";
import { onShutdown } from "./shutdown.ts";

/** A JetStream consumer loop as the router and orchestrator expose it. */
export interface ConsumerService {
  readonly running: boolean;
  start(): Promise<void>;
  /** Stops pulling and waits for in-flight work. */
  stop(): Promise<void>;
}

/** Options for {@link serveConsumer}. */
export interface ServeConsumerOptions {
  name: string;
  service: ConsumerService;
  log: Logger;
  registry: Registry;
  nc: NatsConnection;
  redis: Redis;
  db: Kysely<Database>;
  port: number;
  host: string;
  /** Longest graceful shutdown: in-flight work must finish within it. */
  shutdownTimeoutMs: number;
  /** Extra fields for the "ready" log line. */
  readyFields?: Record<string, unknown>;
}

/**
 * Runs a consumer service the way every Konstruct consumer runs: `/healthz`, `/readyz` (NATS,
 * Redis and the consumer loop) and `/metrics` beside it, then on SIGTERM: stop pulling and
 * finish in-flight work, close HTTP, drain NATS, close Redis and the database pool.
 */
export async function serveConsumer(options: ServeConsumerOptions): Promise<void> {
  const { name, service, log, nc, redis, db } = options;
  const http = createHealthServer({
    registry: options.registry,
    checks: {
      nats: () => (nc.isClosed() ? "closed" : null),
      redis: () => (redis.status === "ready" ? null : redis.status),
      consumer: () => (service.running ? null : "stopped"),
    },
  });
  await service.start();
  await http.listen({ port: options.port, host: options.host });
  log.info({ port: options.port, ...options.readyFields }, `${name} ready`);
  onShutdown(log, options.shutdownTimeoutMs, [
    [name, () => service.stop()],
    ["http", () => http.close()],
    ["nats", () => nc.drain()],
    ["redis", () => redis.quit()],
    ["database", () => db.destroy()],
  ]);
}
