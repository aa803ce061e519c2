import { createRedisReplyLedger, createReplyDelivery, type ReplySender } from "@konstruct/channels/gateway";
import { type ActivityUpdate, channelActivityWriter, createChannelActivity, type OutboundReply } from "@konstruct/core";
import { createMetrics } from "@konstruct/gateway";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../src/database.ts";
import { serverUrl } from "../src/env.ts";
import {
  Browser,
  type PortalUnderTest,
  passwordHash,
  type SeededPortalTenant,
  seedPortalTenant,
  startPortal,
} from "./support.ts";

// Item: each channel connection's last inbound event and last delivery error, recorded cheaply
// (at most one write per connection per interval) and shown on the portal's channels page and
// API, each tenant seeing only its own.

let t: TestDatabase;
let portal: PortalUnderTest;
let redis: Redis;
let a: SeededPortalTenant;
let b: SeededPortalTenant;
let connectionOf: Record<string, string>;

beforeAll(async () => {
  t = await createTestDatabase("chact");
  const hash = await passwordHash();
  a = await seedPortalTenant(t.admin, "acme", hash);
  b = await seedPortalTenant(t.admin, "globex", hash);
  const rows = await t.admin.selectFrom("channel_connections").select(["id", "tenant_id"]).execute();
  connectionOf = Object.fromEntries(rows.map((r) => [r.tenant_id, r.id]));
  portal = await startPortal(t.app, { mode: "read-only", reason: "No Kubernetes API server in this test." });
  redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 2 });
});

afterAll(async () => {
  redis?.disconnect();
  await portal?.close();
  await t?.drop();
});

const replyOf = (tenantId: string, connectionId: string, n: number): OutboundReply => ({
  replyId: `reply:test-${tenantId}-${n}-${Date.now()}`,
  tenantId,
  channelType: "webchat",
  connectionId,
  target: { workspaceId: "w", channelId: "c", threadId: "t", inReplyToMessageId: "m" },
  text: "hello",
  kind: "answer",
  agent: null,
});

/** A channel that refuses every post as Slack does with a revoked token. */
const refusingSender: ReplySender<{ id: string }> = {
  channel: "slack",
  async target() {
    return { ok: true, connection: { id: "c" } };
  },
  async post() {
    return { kind: "refused", permanent: true, detail: "invalid_auth" };
  },
};

async function channelsOf(tenant: SeededPortalTenant) {
  const browser = new Browser(portal.app);
  expect((await browser.signIn(tenant.ownerEmail)).statusCode).toBe(201);
  const api = await browser.api("GET", "/portal/api/channels");
  const page = await browser.request({ method: "GET", url: "/portal/channels" });
  return { channels: api.json().channels as Record<string, unknown>[], html: page.body };
}

describe("channel activity", () => {
  it("shows a connection's last accepted event and its last delivery error (Slack invalid_auth) on the channels page and API", async () => {
    const activity = createChannelActivity(channelActivityWriter(t.app), { minIntervalMs: 60_000 });
    const connection = connectionOf[a.id] as string;
    const before = Date.now();
    // What the router does for each accepted event, and the gateway's reply protocol for a refusal.
    activity.event(a.id, connection);
    const deliver = createReplyDelivery(refusingSender, {
      ledger: createRedisReplyLedger(redis),
      metrics: createMetrics(),
      log: pino({ level: "silent" }),
      activity,
    });
    expect((await deliver(replyOf(a.id, connection, 1), { deliveryCount: 1 })).kind).toBe("poison");
    await activity.flush();

    const { channels, html } = await channelsOf(a);
    expect(channels).toHaveLength(1);
    const [chat] = channels;
    expect(new Date(chat?.lastEventAt as string).getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(chat?.lastDeliveryError).toMatchObject({ message: "slack: invalid_auth" });
    expect(html).toContain("slack: invalid_auth");
    expect(html).toMatch(/Last event received: (?!never)/);
  });

  it("writes at most once per connection per interval, whatever the traffic, and ends with the newest state", async () => {
    const writes: ActivityUpdate[] = [];
    const real = channelActivityWriter(t.app);
    const activity = createChannelActivity(
      async (u) => {
        writes.push(structuredClone(u));
        await real(u);
      },
      { minIntervalMs: 400 },
    );
    const connection = connectionOf[a.id] as string;
    const started = Date.now();
    // 30 bursts of traffic 20 ms apart (600 ms): a write per burst would be 30 writes.
    for (let burst = 0; burst < 30; burst++) {
      for (let i = 0; i < 20; i++) activity.event(a.id, connection);
      activity.error(a.id, connection, `slack: channel_not_found #${burst}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // The newest state is written in the end by the throttle itself (no flush): within an
    // interval on a quiet machine, later on a loaded one, so wait for it rather than a fixed time.
    const lastError = async () =>
      (
        await t.admin
          .selectFrom("channel_activity")
          .select(["last_error"])
          .where("connection_id", "=", connection)
          .executeTakeFirstOrThrow()
      ).last_error;
    for (let waited = 0; (await lastError()) !== "slack: channel_not_found #29" && waited < 15_000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await lastError()).toBe("slack: channel_not_found #29");
    // One write at once, then one per 400 ms at most (on a loaded machine the bursts take longer
    // than 600 ms, so the bound follows the time they really took).
    expect(writes.length).toBeGreaterThanOrEqual(2);
    expect(writes.length).toBeLessThanOrEqual(Math.floor((Date.now() - started) / 400) + 1);
  });

  it("keeps each tenant's activity to itself: B sees none of A's, and a record naming A's connection under B writes nothing", async () => {
    const activity = createChannelActivity(channelActivityWriter(t.app), { minIntervalMs: 60_000 });
    const aConnection = connectionOf[a.id] as string;
    // B claiming A's connection, before A's connection has any row: nothing may be written.
    await t.admin.deleteFrom("channel_activity").where("connection_id", "=", aConnection).execute();
    activity.event(b.id, aConnection);
    activity.error(b.id, aConnection, "telegram: Forbidden: bot was blocked by the user");
    await activity.flush();
    expect(await t.admin.selectFrom("channel_activity").selectAll().execute()).toEqual([]);
    // A's own activity, which B must not see.
    activity.error(a.id, aConnection, "slack: invalid_auth");
    await activity.flush();
    expect((await channelsOf(a)).channels[0]).toMatchObject({ lastDeliveryError: { message: "slack: invalid_auth" } });

    const { channels, html } = await channelsOf(b);
    expect(channels).toHaveLength(1);
    expect(channels[0]).toMatchObject({ lastEventAt: null, lastDeliveryError: null });
    expect(html).not.toContain("invalid_auth");
    expect(html).not.toContain("Forbidden");
  });
});
