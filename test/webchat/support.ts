import { randomBytes, randomUUID } from "node:crypto";
import { createRedisReplyLedger, createWebchatChannel, type WebchatSettings } from "@konstruct/channels/gateway";
import { connectNats, type Database, ensureConsumers, outboundConsumer, parseSecretKey } from "@konstruct/core";
import { buildApp, createJetStreamPublisher, createMetrics, natsReplyDeltaFeed, startOutboundWorkers } from "@konstruct/gateway";
import { type SseEvent, sseReader } from "@konstruct/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { pino } from "pino";

/** A tenant with one web chat connection and one default agent. */
export interface WebchatTenant {
  tenantId: string;
  connectionId: string;
  externalId: string;
  agentName: string;
  agentRole: string;
}

/** Inserts a tenant, its web chat connection (with allowed origins) and a default agent, as the operator would. */
export async function seedWebchatTenant(
  admin: Kysely<Database>,
  options: { agentName: string; agentRole: string; systemPrompt: string; allowedOrigins?: string[] },
): Promise<WebchatTenant> {
  const tenantId = randomUUID();
  const suffix = randomBytes(4).toString("hex");
  await admin
    .insertInto("tenants")
    .values({
      id: tenantId,
      name: `wc-${suffix}`,
      display_name: `Web chat ${suffix}`,
      namespace: `konstruct-wc-${suffix}`,
      messages_per_minute: 600,
      max_concurrent_runs: 8,
      tokens_per_day: 10_000_000,
      updated_at: new Date(),
    })
    .execute();
  const externalId = `wc-${suffix}`;
  const connection = await admin
    .insertInto("channel_connections")
    .values({
      tenant_id: tenantId,
      name: "website",
      channel_type: "webchat",
      external_id: externalId,
      credentials: null,
      settings: JSON.stringify({ allowedOrigins: options.allowedOrigins ?? [] }),
      updated_at: new Date(),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  await admin
    .insertInto("agents")
    .values({
      tenant_id: tenantId,
      name: "helper",
      display_name: options.agentName,
      role: options.agentRole,
      system_prompt: options.systemPrompt,
      model: "llama3.2",
      fallback_models: [],
      temperature: 0.2,
      max_history_messages: 20,
      is_default: true,
      channels: [],
      updated_at: new Date(),
    })
    .execute();
  return { tenantId, connectionId: connection.id, externalId, agentName: options.agentName, agentRole: options.agentRole };
}

/** A gateway serving only the web chat (page, API and its outbound worker), listening on loopback. */
export interface WebchatGateway {
  url: string;
  redis: Redis;
  stop(): Promise<void>;
}

/** The session secret test gateways sign with, so tests can mint expired tokens. */
export const TEST_SESSION_SECRET = "web-chat-session-secret-for-tests-0123456789";
/** The encryption key of test gateways (unused by the web chat beyond deriving nothing: the secret above is set). */
export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString("base64");

/** Starts the web chat channel of a gateway in this process, wired like main.ts. */
export async function startWebchatGateway(options: {
  db: Kysely<Database>;
  natsUrl: string;
  redisUrl: string;
  settings?: Partial<WebchatSettings>;
  /** Proxies whose X-Forwarded-For is believed (the gateway's default: loopback). */
  trustedProxies?: string;
}): Promise<WebchatGateway> {
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const nc = await connectNats(options.natsUrl, "konstruct-gateway-webchat-test");
  const js = jetstream(nc);
  await ensureConsumers(await jetstreamManager(nc), [outboundConsumer("webchat")]);
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const metrics = createMetrics();
  const channel = createWebchatChannel(
    {
      db: options.db,
      redis,
      secretKey: parseSecretKey(TEST_SECRET_KEY),
      publisher: createJetStreamPublisher(js),
      ledger: createRedisReplyLedger(redis),
      replyDeltas: natsReplyDeltaFeed(nc),
      metrics,
      log,
      settings: {
        slackSigningSecret: "unused",
        slackApiUrl: "http://127.0.0.1:9/api/",
        webchatSessionSecret: TEST_SESSION_SECRET,
      },
    },
    { settings: options.settings ?? {} },
  );
  const channels = [channel];
  const app = await buildApp({
    channels,
    metrics,
    readiness: [],
    log,
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
  });
  const workers = await startOutboundWorkers({ js, channels, concurrency: 4, log });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });

  return {
    url,
    redis,
    async stop() {
      await app.close();
      await workers.stop();
      await nc.drain().catch(() => {});
      await redis.quit().catch(() => {});
    },
  };
}

/** A live SSE connection read by the test; `events` grows as they arrive. */
export interface SseClient {
  readonly events: SseEvent[];
  readonly status: number;
  /** Waits until some event satisfies `predicate`, and returns it. */
  waitFor(predicate: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Parsed `message` events (conversation entries). */
  messages(): Array<Record<string, unknown> & { id: string; kind: string; text: string }>;
  /** Drops the connection, as a network failure would. */
  close(): void;
}

/** Opens `GET /events` with a bearer token and optional `Last-Event-ID`. */
export async function openEvents(base: string, token: string, lastEventId?: string): Promise<SseClient> {
  const controller = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
  if (lastEventId) headers["last-event-id"] = lastEventId;
  const response = await fetch(`${base}events`, { headers, signal: controller.signal });
  const events: SseEvent[] = [];
  if (response.ok && response.body) {
    void (async () => {
      const decoder = new TextDecoder();
      const read = sseReader(events);
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          read(decoder.decode(chunk, { stream: true }));
        }
      } catch {
        // aborted
      }
    })();
  }
  return {
    events,
    status: response.status,
    async waitFor(predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(predicate);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    messages() {
      return events.filter((e) => e.event === "message").map((e) => JSON.parse(e.data));
    },
    close() {
      controller.abort();
    },
  };
}

/** A new visitor session on a connection: its token and base URL. */
export async function newVisitor(
  gatewayUrl: string,
  connectionId: string,
): Promise<{ base: string; token: string; visitorId: string }> {
  const base = `${gatewayUrl}/webchat/${connectionId}/`;
  const response = await fetch(`${base}session`, { method: "POST" });
  if (!response.ok) throw new Error(`session: HTTP ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { token: string; visitorId: string };
  return { base, token: body.token, visitorId: body.visitorId };
}

/** Sends a message as a visitor. */
export function sendMessage(
  base: string,
  token: string,
  text: string,
  options: { clientMessageId?: string; origin?: string } = {},
): Promise<Response> {
  return fetch(`${base}messages`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
      ...(options.origin ? { origin: options.origin } : {}),
    },
    body: JSON.stringify({ clientMessageId: options.clientMessageId ?? randomUUID(), text }),
  });
}
