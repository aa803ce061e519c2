import { randomUUID } from "node:crypto";
import { ack, createLogger, deliveryKey, type KonstructMessage } from "@konstruct/core";
import { inboundMessage, type SeededTenant, serverUrl } from "@konstruct/testkit";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { type Admission, createRouterAdmission } from "./admission.ts";
import { botLoopKey } from "./bot-loop.ts";
import { threadKey } from "./engagement.ts";
import { deliveryHash, type RouteDecision } from "./idempotency.ts";
import { createRouterMetrics } from "./metrics.ts";
import { rateWindow } from "./rate-limit.ts";
import { createRouteHandler } from "./route-message.ts";
import type { TenantProfile } from "./tenant-resolver.ts";

// The router's one-round-trip admission against real Redis, from two connections (two router
// replicas): each guarantee the separate steps gave, kept by the merged script.
const a = new Redis(serverUrl("REDIS_ADMIN_URL"));
const b = new Redis(serverUrl("REDIS_ADMIN_URL"));
afterAll(() => {
  a.disconnect();
  b.disconnect();
});

// One instant for every replica, so no test straddles a rate-limit window (tenants are fresh ids).
const NOW = 1_700_000_000_000;
const options = {
  idempotencyTtlSeconds: 600,
  engagedThreadTtlSeconds: 120,
  leaseMs: 30_000,
  botLoopBudget: 3,
  botLoopWindowSeconds: 60,
  now: () => NOW,
};
const admissions = [createRouterAdmission(a, options), createRouterAdmission(b, options)];

// Admission reads no database: a tenant is its id and its workspace here.
function tenant(): SeededTenant {
  return {
    tenantId: randomUUID(),
    name: "admission-test",
    teamId: `T${randomUUID().slice(0, 8).toUpperCase()}`,
    connectionId: randomUUID(),
    connectionName: "slack",
    botUserId: "U0BOT",
    agents: {},
  };
}

const AGENT_ID = "6f1c1f4e-8a9e-4a5e-9a0b-0c2d4e6f8a10";
const work = { kind: "work", agentId: AGENT_ID } as const;

function request(
  t: SeededTenant,
  message: KonstructMessage,
  perMinute = 1_000,
  needsEngagedThread = false,
  decision: RouteDecision = work,
) {
  return {
    tenantId: t.tenantId,
    message,
    deliveryKey: deliveryKey(message),
    needsEngagedThread,
    messagesPerMinute: perMinute,
    decision,
  };
}

const fromBot = (t: SeededTenant, text: string) =>
  inboundMessage(t, { text, isBot: true, senderId: "U0OTHERBOT", botId: "B0OTHER" });

describe("router admission (one Redis script)", () => {
  it("decides a delivery once: its redelivery repeats the decision without spending the rate budget again", async () => {
    const t = tenant();
    const message = inboundMessage(t, { text: "hi" });
    const first = await admissions[0]!.admit(request(t, message, 1));
    expect(first).toEqual({ kind: "admitted", decision: work });
    // The other replica gets the same delivery again.
    expect(await admissions[1]!.admit(request(t, message, 1))).toEqual({ kind: "decided", decision: work });
    // The one message of this minute was spent once: the next is over the limit, with the notice.
    const next = await admissions[0]!.admit(request(t, inboundMessage(t, { text: "again" }), 1));
    expect(next).toEqual({ kind: "admitted", decision: { kind: "notice" } });
  });

  it("two replicas over the limit admit exactly the limit and send one notice", async () => {
    const t = tenant();
    const results: Admission[] = await Promise.all(
      Array.from({ length: 40 }, (_, i) => admissions[i % 2]!.admit(request(t, inboundMessage(t, { text: `m${i}` }), 10))),
    );
    const kinds = results.map((r) => (r.kind === "admitted" ? r.decision.kind : r.kind));
    expect(kinds.filter((k) => k === "work")).toHaveLength(10);
    expect(kinds.filter((k) => k === "notice")).toHaveLength(1);
    expect(kinds.filter((k) => k === "limited")).toHaveLength(29);
  });

  it("the same post under two delivery ids (Slack's message and app_mention twins) is admitted once", async () => {
    const t = tenant();
    const message = inboundMessage(t, { text: "twin", deliveryId: `Ev${randomUUID()}` });
    const twin = { ...message, id: randomUUID(), deliveryId: `Ev${randomUUID()}` };
    const [one, two] = await Promise.all([admissions[0]!.admit(request(t, message)), admissions[1]!.admit(request(t, twin))]);
    expect([one.kind, two.kind].sort()).toEqual(["admitted", "duplicate-post"]);
  });

  it("a work decision engages its thread for the engaged TTL in the same call; a notice, limited or no-agent one does not", async () => {
    const t = tenant();
    const followUp = (threadId: string) => inboundMessage(t, { text: "and then?", mention: false, threadId });
    const opener = inboundMessage(t, { text: "question" });
    expect(await admissions[0]!.admit(request(t, followUp(opener.threadId), 2, true))).toEqual({ kind: "not-engaged" });
    expect(await admissions[0]!.admit(request(t, opener, 2))).toEqual({ kind: "admitted", decision: work });
    const ttl = await a.ttl(threadKey(t.tenantId, opener));
    expect(ttl).toBeGreaterThan(options.engagedThreadTtlSeconds - 10);
    expect(ttl).toBeLessThanOrEqual(options.engagedThreadTtlSeconds);
    // A follow-up in that thread without a mention is admitted, and then claims nothing twice.
    const inThread = followUp(opener.threadId);
    expect(await admissions[1]!.admit(request(t, inThread, 2, true))).toEqual({ kind: "admitted", decision: work });
    expect(await admissions[0]!.admit(request(t, inThread, 2, true))).toEqual({ kind: "decided", decision: work });

    // Over the limit of 2: the notice, then limited; and under it (another tenant) no agent.
    const noticed = inboundMessage(t, { text: "third" });
    const limited = inboundMessage(t, { text: "fourth" });
    expect(await admissions[0]!.admit(request(t, noticed, 2))).toEqual({ kind: "admitted", decision: { kind: "notice" } });
    expect(await admissions[1]!.admit(request(t, limited, 2))).toEqual({ kind: "admitted", decision: { kind: "limited" } });
    const other = tenant();
    const unanswered = inboundMessage(other, { text: "nobody serves this" });
    expect(await admissions[0]!.admit(request(other, unanswered, 1_000, false, { kind: "no-agent" }))).toEqual({
      kind: "admitted",
      decision: { kind: "no-agent" },
    });
    for (const [owner, message] of [
      [t, noticed],
      [t, limited],
      [other, unanswered],
    ] as const) {
      expect(await a.exists(threadKey(owner.tenantId, message))).toBe(0);
      expect(await admissions[0]!.admit(request(owner, followUp(message.threadId), 1_000, true))).toEqual({
        kind: "not-engaged",
      });
    }
  });

  it("spends the bot-loop budget of a pair of bots, never a person's", async () => {
    const t = tenant();
    const bots = [];
    for (let i = 0; i < 5; i++) bots.push(await admissions[i % 2]!.admit(request(t, fromBot(t, `bot ${i}`))));
    expect(bots.map((r) => (r.kind === "admitted" ? r.decision.kind : r.kind))).toEqual([
      "work",
      "work",
      "work",
      "bot-loop",
      "bot-loop",
    ]);
    expect(await admissions[0]!.admit(request(t, inboundMessage(t, { text: "a person" })))).toEqual({
      kind: "admitted",
      decision: work,
    });
  });

  it("reads the hashes older routers left: `done` as done, a decision without its thread mark as decided, engaging the thread", async () => {
    const t = tenant();
    // Older routers marked a delivery done after its publish.
    const handled = inboundMessage(t, { text: "handled by an older router" });
    await a.hset(deliveryHash(t.tenantId, deliveryKey(handled)), "state", "done");
    expect(await admissions[0]!.admit(request(t, handled))).toEqual({ kind: "done" });
    // And engaged the thread only after the publish: one that died before it left the decision alone.
    const cut = inboundMessage(t, { text: "cut short" });
    await a.hset(
      deliveryHash(t.tenantId, deliveryKey(cut)),
      "state",
      "pending",
      "lease",
      NOW - 1,
      "decision",
      JSON.stringify(work),
    );
    expect(await admissions[1]!.admit(request(t, cut))).toEqual({ kind: "decided", decision: work });
    expect(await a.ttl(threadKey(t.tenantId, cut))).toBeGreaterThan(options.engagedThreadTtlSeconds - 10);
  });
});

describe("route, then a redelivery of it", () => {
  it("publishes the stored work again under the same msgID, spending neither the rate limit nor the bot-loop budget twice", async () => {
    const t = tenant();
    const profile: TenantProfile = {
      tenantId: t.tenantId,
      connection: { id: t.connectionId, name: t.connectionName, botId: null },
      messagesPerMinute: 1,
      agents: [{ id: AGENT_ID, name: "ada", displayName: "Ada", isDefault: true, channels: [] }],
    };
    const published: [string, unknown, string][] = [];
    const metrics = createRouterMetrics();
    // Two replicas: the redelivery goes to the other one.
    const [first, second] = admissions.map((admission) =>
      createRouteHandler({
        directory: { resolve: async () => profile, invalidate: () => {}, size: 1 },
        admission,
        publish: async (subject, value, msgId) => {
          published.push([subject, value, msgId]);
        },
        metrics,
        log: createLogger({ name: "router-test", level: "silent" }),
      }),
    );
    const message = fromBot(t, "hello from another bot");
    const data = Buffer.from(JSON.stringify(message));
    expect(await first!({ data, deliveryCount: 1 })).toEqual(ack);
    expect(await second!({ data, deliveryCount: 2 })).toEqual(ack);

    const key = deliveryKey(message);
    expect(published).toHaveLength(2);
    expect(published[0]?.[2]).toBe(`work:${key}`);
    expect(published[1]).toEqual(published[0]);
    expect(published[0]?.[1]).toMatchObject({ agentId: AGENT_ID, deliveryKey: key, tenantId: t.tenantId });
    // Each budget spent once: the counters hold 1, and the next message of the minute gets the notice.
    expect(await a.get(rateWindow(t.tenantId, 1, NOW).countKey)).toBe("1");
    expect(await a.get(botLoopKey(t.tenantId, message) as string)).toBe("1");
    expect(await admissions[0]!.admit(request(t, fromBot(t, "and again"), 1))).toEqual({
      kind: "admitted",
      decision: { kind: "notice" },
    });
    const counted = await metrics.registry.metrics();
    expect(counted).toContain('konstruct_router_messages_total{result="routed"} 1');
    expect(counted).toContain('konstruct_router_messages_total{result="redelivered"} 1');
  });
});
