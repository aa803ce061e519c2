import { createChannels, createRedisReplyLedger } from "@konstruct/channels/gateway";
import { type ConsumerSpec, connectNats, type Database, type SecretKey } from "@konstruct/core";
import {
  buildApp,
  createJetStreamPublisher,
  createMetrics,
  databaseReadiness,
  type GatewayMetrics,
  natsReadiness,
  startOutboundWorkers,
} from "@konstruct/gateway";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { pino } from "pino";

/** One in-process gateway wired like main.ts, listening on a loopback port. */
export interface TestGateway {
  url: string;
  nc: NatsConnection;
  redis: Redis;
  metrics: GatewayMetrics;
  /** Orderly stop (close HTTP, stop workers, drain NATS, quit Redis). */
  stop(): Promise<void>;
  /** Abrupt stop, as a killed process: no drain, no acks, no last Redis writes. */
  crash(): Promise<void>;
}

/** Options for {@link startTestGateway}. */
export interface TestGatewayOptions {
  db: Kysely<Database>;
  secretKey: SecretKey;
  natsUrl: string;
  redisUrl: string;
  slackApiUrl?: string;
  platformSigningSecret?: string;
  /** Outbound consumer to run; none when absent (ingress-only tests). */
  outboundConsumer?: ConsumerSpec;
  staleClaimMs?: number;
  publishTimeoutMs?: number;
}

/** Starts a gateway in this process against real NATS, PostgreSQL and Redis. */
export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const nc = await connectNats(options.natsUrl, "konstruct-gateway-test");
  const js = jetstream(nc);
  // The streams are the test NATS server's (startTestNats declares them, with the test's bounds).
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const metrics = createMetrics();
  // Built as a value, not a literal, so extra dependencies other channels take need no change here.
  const deps = {
    db: options.db,
    redis,
    secretKey: options.secretKey,
    publisher: createJetStreamPublisher(js, { timeoutMs: options.publishTimeoutMs ?? 2_000 }),
    ledger: createRedisReplyLedger(redis),
    metrics,
    log,
    settings: {
      slackSigningSecret: options.platformSigningSecret ?? "platform-secret-for-tests",
      slackApiUrl: options.slackApiUrl ?? "http://127.0.0.1:9/api/",
      ...(options.staleClaimMs === undefined ? {} : { staleClaimMs: options.staleClaimMs }),
    },
  };
  const channels = await createChannels(deps);
  const app = await buildApp({ channels, metrics, readiness: [natsReadiness(nc), databaseReadiness(options.db)], log });
  const spec = options.outboundConsumer;
  const workers = spec
    ? await startOutboundWorkers({
        js,
        // Only the Slack worker, on the test's own consumer: other channels are other tests' business.
        channels: channels.filter((channel) => channel.type === "slack"),
        concurrency: 4,
        log,
        consumerFor: () => spec,
      })
    : { stop: async () => {} };
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: address,
    nc,
    redis,
    metrics,
    async stop() {
      await app.close();
      await workers.stop();
      await nc.drain().catch(() => {});
      await redis.quit().catch(() => {});
    },
    async crash() {
      redis.disconnect();
      await nc.close();
      await app.close();
    },
  };
}
