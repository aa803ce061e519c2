import {
  type ChannelActivity,
  CONSUMERS,
  type ConsumerSpec,
  channelActivityWriter,
  createChannelActivity,
  createConsumerLoop,
  type Database,
  type Logger,
  publishJson,
} from "@konstruct/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { createRouterAdmission } from "./admission.ts";
import { createRouterMetrics, type RouterMetrics } from "./metrics.ts";
import { createRouteHandler } from "./route-message.ts";
import { createTenantResolver, type TenantResolver } from "./tenant-resolver.ts";

/** Tunables of a router; main.ts fills them from the configuration. */
export interface RouterSettings {
  concurrency: number;
  tenantCacheTtlMs: number;
  engagedThreadTtlSeconds: number;
  idempotencyTtlSeconds: number;
  botLoopBudget: number;
  botLoopWindowSeconds: number;
  /** The consumer's ack wait; also the lease a handler holds on a delivery. */
  ackWaitMs: number;
}

/** What a router runs on. */
export interface RouterDeps {
  db: Kysely<Database>;
  redis: Redis;
  js: JetStreamClient;
  /** The app role's URL: when given, the router LISTENs for configuration changes and drops cached tenants at once. */
  databaseUrl?: string;
  log: Logger;
  settings?: Partial<RouterSettings>;
  metrics?: RouterMetrics;
  /** Where each connection's last accepted event is noted; by default `channel_activity`, throttled. */
  activity?: ChannelActivity;
}

/** A router: consumes `KONSTRUCT_INBOUND`, publishes work and notices. */
export interface Router {
  readonly consumer: ConsumerSpec;
  readonly metrics: RouterMetrics;
  readonly directory: TenantResolver;
  readonly running: boolean;
  start(): Promise<void>;
  /** Stops pulling and waits for in-flight messages; does not close the connections it was given. */
  stop(): Promise<void>;
}

export const DEFAULT_ROUTER_SETTINGS: RouterSettings = {
  concurrency: 64,
  tenantCacheTtlMs: 30_000,
  engagedThreadTtlSeconds: 7 * 24 * 3600,
  idempotencyTtlSeconds: 24 * 3600,
  botLoopBudget: 5,
  botLoopWindowSeconds: 600,
  ackWaitMs: CONSUMERS.router.ackWaitMs,
};

/** The consumer spec with this deployment's ack wait. */
export function routerConsumer(ackWaitMs: number): ConsumerSpec {
  return { ...CONSUMERS.router, ackWaitMs };
}

/** Builds a router from its connections; call `start()` to begin consuming. */
export function createRouter(deps: RouterDeps): Router {
  const settings = { ...DEFAULT_ROUTER_SETTINGS, ...deps.settings };
  const metrics = deps.metrics ?? createRouterMetrics();
  const log = deps.log;
  const consumer = routerConsumer(settings.ackWaitMs);
  const directory = createTenantResolver({ db: deps.db, ttlMs: settings.tenantCacheTtlMs });
  const activity = deps.activity ?? createChannelActivity(channelActivityWriter(deps.db), { log });
  const handle = createRouteHandler({
    directory,
    admission: createRouterAdmission(deps.redis, {
      idempotencyTtlSeconds: settings.idempotencyTtlSeconds,
      engagedThreadTtlSeconds: settings.engagedThreadTtlSeconds,
      leaseMs: settings.ackWaitMs,
      botLoopBudget: settings.botLoopBudget,
      botLoopWindowSeconds: settings.botLoopWindowSeconds,
    }),
    publish: (subject, value, msgId) => publishJson(deps.js, subject, value, msgId),
    metrics,
    log,
    activity,
  });
  const loop = createConsumerLoop({
    name: "router",
    js: deps.js,
    consumer,
    concurrency: settings.concurrency,
    log,
    handler: (msg) => handle({ data: msg.data, deliveryCount: msg.info.deliveryCount }),
    onOutcome: (outcome) => metrics.outcomes.inc({ outcome: outcome.kind }),
    ...(deps.databaseUrl ? { databaseUrl: deps.databaseUrl } : {}),
    invalidate: (tenantId) => directory.invalidate(tenantId),
  });

  return {
    consumer,
    metrics,
    directory,
    get running() {
      return loop.running;
    },
    start: () => loop.start(),
    // The last few seconds of activity the throttle holds are written before the pools close.
    stop: async () => {
      await loop.stop();
      await activity.flush();
    },
  };
}
