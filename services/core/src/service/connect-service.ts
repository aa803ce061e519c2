import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { createDatabase } from "../db/connect.ts";
import type { Database } from "../db/types.ts";
import { createLogger, type Logger } from "../logger.ts";
import { connectNats } from "../nats/connect.ts";
import { type ConsumerSpec, ensureConsumers } from "../nats/streams.ts";

/** What a consumer service connects to at start-up. */
export interface ServiceConnections {
  log: Logger;
  db: Kysely<Database>;
  redis: Redis;
  nc: NatsConnection;
  js: JetStreamClient;
}

/**
 * The start-up every JetStream consumer service shares: its root logger, one database pool, one
 * Redis client with auto-pipelining (commands concurrent handlers issue in one tick share a
 * write), NATS, and its durable consumers declared (the streams are the set-up's to declare).
 */
export async function connectService(options: {
  name: string;
  logLevel: string;
  databaseUrl: string;
  databasePoolMax: number;
  redisUrl: string;
  natsUrl: string;
  consumers: readonly ConsumerSpec[];
}): Promise<ServiceConnections> {
  const log = createLogger({ name: options.name, level: options.logLevel });
  const db = createDatabase(options.databaseUrl, { max: options.databasePoolMax, applicationName: `konstruct-${options.name}` });
  const redis = new Redis(options.redisUrl, { enableAutoPipelining: true });
  redis.on("error", (err) => log.warn({ err }, "redis connection error"));
  const nc = await connectNats(options.natsUrl, `konstruct-${options.name}`);
  // checkAPI off: the account-info request it sends is not in a service's NATS permissions.
  await ensureConsumers(await jetstreamManager(nc, { checkAPI: false }), options.consumers, {
    onWaiting: (stream, delayMs) => log.warn({ stream, delayMs }, "stream not declared yet; waiting for the JetStream set-up"),
  });
  return { log, db, redis, nc, js: jetstream(nc) };
}
