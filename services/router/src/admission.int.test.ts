import { randomUUID } from "node:crypto";
import { deliveryKey, type KonstructMessage } from "@konstruct/core";
import { inboundMessage, type SeededTenant, serverUrl } from "@konstruct/testkit";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { type Admission, createRouterAdmission } from "./admission.ts";
import { createEngagedThreads } from "./engagement.ts";
import { createIdempotency } from "./idempotency.ts";

// The router's one-round-trip admission against real Redis, from two connections (two router
// replicas): each guarantee the separate steps gave, kept by the merged script.
const a = new Redis(serverUrl("REDIS_ADMIN_URL"));
const b = new Redis(serverUrl("REDIS_ADMIN_URL"));
afterAll(() => {
  a.disconnect();
  b.disconnect();
});

// One instant for every replica, so no test straddles a rate-limit window (tenants are fresh ids).
const options = {
  idempotencyTtlSeconds: 600,
  leaseMs: 30_000,
  botLoopBudget: 3,
  botLoopWindowSeconds: 60,
  now: () => 1_700_000_000_000,
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

const work = { kind: "work", agentId: "6f1c1f4e-8a9e-4a5e-9a0b-0c2d4e6f8a10" } as const;

function request(t: SeededTenant, message: KonstructMessage, perMinute = 1_000, needsEngagedThread = false) {
  return {
    tenantId: t.tenantId,
    message,
    deliveryKey: deliveryKey(message),
    needsEngagedThread,
    messagesPerMinute: perMinute,
    decision: work,
  };
}

describe("router admission (one Redis script)", () => {
  it("decides a delivery once: its redelivery repeats the decision without spending the rate budget again", async () => {
    const t = tenant();
    const message = inboundMessage(t, { text: "hi" });
    const first = await admissions[0]!.admit(request(t, message, 1));
    expect(first).toEqual({ kind: "admitted", decision: work });
    // The other replica gets the same delivery again (a redelivery before "done").
    expect(await admissions[1]!.admit(request(t, message, 1))).toEqual({ kind: "decided", decision: work });
    // The one message of this minute was spent once: the next is over the limit, with the notice.
    const next = await admissions[0]!.admit(request(t, inboundMessage(t, { text: "again" }), 1));
    expect(next).toEqual({ kind: "admitted", decision: { kind: "notice" } });
    await createIdempotency(a).done(t.tenantId, deliveryKey(message));
    expect(await admissions[1]!.admit(request(t, message, 1))).toEqual({ kind: "done" });
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

  it("a follow-up without a mention is admitted only in a thread the bot takes part in, and then claims nothing twice", async () => {
    const t = tenant();
    const followUp = inboundMessage(t, { text: "and then?", mention: false, threadId: "1700000000.000900" });
    expect(await admissions[0]!.admit(request(t, followUp, 1_000, true))).toEqual({ kind: "not-engaged" });
    await createEngagedThreads(a, 60).markEngaged(t.tenantId, followUp);
    expect(await admissions[0]!.admit(request(t, followUp, 1_000, true))).toEqual({ kind: "admitted", decision: work });
    expect(await admissions[1]!.admit(request(t, followUp, 1_000, true))).toEqual({ kind: "decided", decision: work });
  });

  it("spends the bot-loop budget of a pair of bots, never a person's", async () => {
    const t = tenant();
    const fromBot = (i: number) => inboundMessage(t, { text: `bot ${i}`, isBot: true, senderId: "U0OTHERBOT", botId: "B0OTHER" });
    const bots = [];
    for (let i = 0; i < 5; i++) bots.push(await admissions[i % 2]!.admit(request(t, fromBot(i))));
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
});
