import { signSlackRequest, startTestNats, type TestNats } from "@konstruct/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./harness.ts";
import {
  appMention,
  createSlackTenant,
  gatewayDatabase,
  inboundFor,
  nextInboundSeq,
  type SlackTenant,
  serverUrl,
} from "./support.ts";

// The Slack webhook end to end over real HTTP, real NATS JetStream and real PostgreSQL (the
// connection and its sealed signing secret are read through the app role and RLS).
const PLATFORM_SECRET = "platform-signing-secret-it";

let env: Awaited<ReturnType<typeof gatewayDatabase>>;
let gateway: TestGateway;
let jsm: JetStreamManager;
let tenant: SlackTenant;
let nats: TestNats;

beforeAll(async () => {
  // A NATS of this file's own: the pipeline streams are work queues, one consumer per subject.
  nats = await startTestNats();
  env = await gatewayDatabase();
  tenant = await createSlackTenant(env.db, env.secretKey);
  gateway = await startTestGateway({
    db: env.db.app,
    secretKey: env.secretKey,
    natsUrl: nats.url,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
    platformSigningSecret: PLATFORM_SECRET,
  });
  jsm = await jetstreamManager(gateway.nc);
});

afterAll(async () => {
  await gateway?.stop();
  await env?.db.drop();
  await nats?.stop();
});

const ownRoute = () => `${gateway.url}/webhooks/slack/${tenant.connectionId}/events`;
const post = (url: string, body: string, headers: Record<string, string>) => fetch(url, { method: "POST", body, headers });

describe("Slack webhook into JetStream", () => {
  it("stores an event delivered four times (first try and three retries) exactly once", async () => {
    const from = await nextInboundSeq(jsm);
    const body = appMention(tenant.teamId, { eventId: "Ev4TIMES" });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const headers = {
        ...signSlackRequest(tenant.signingSecret, body),
        ...(attempt > 0 ? { "x-slack-retry-num": String(attempt), "x-slack-retry-reason": "http_timeout" } : {}),
      };
      statuses.push((await post(ownRoute(), body, headers)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200]);
    const stored = await inboundFor(jsm, tenant.teamId, from);
    expect(stored).toHaveLength(1);
    expect(stored[0]?.msgId).toBe(`slack:${tenant.teamId}:Ev4TIMES`);
    expect(stored[0]?.message.channel.connectionId).toBe(tenant.connectionId);
  });

  it("stores nothing for forged, expired or missing signatures, and answers 401", async () => {
    const from = await nextInboundSeq(jsm);
    const body = appMention(tenant.teamId);
    const now = Math.floor(Date.now() / 1000);
    const attempts: Record<string, string>[] = [
      signSlackRequest("forged-secret", body),
      signSlackRequest(tenant.signingSecret, body, now - 6 * 60),
      { "content-type": "application/json" },
      signSlackRequest(PLATFORM_SECRET, body), // the platform secret is not this connection's
    ];
    for (const headers of attempts) {
      const res = await post(ownRoute(), body, headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: "unauthorized" });
    }
    const shared = await post(`${gateway.url}/webhooks/slack/events`, body, signSlackRequest("forged-secret", body));
    expect(shared.status).toBe(401);
    // Stored messages are checked after a flush, so a late publish could not hide.
    await gateway.nc.flush();
    expect(await inboundFor(jsm, tenant.teamId, from)).toHaveLength(0);
  });

  it("routes the shared app's events with the platform secret, leaving the tenant to the router", async () => {
    const from = await nextInboundSeq(jsm);
    const body = appMention(tenant.teamId, { eventId: "EvSHARED" });
    const res = await post(`${gateway.url}/webhooks/slack/events`, body, signSlackRequest(PLATFORM_SECRET, body));
    expect(res.status).toBe(200);
    const stored = await inboundFor(jsm, tenant.teamId, from);
    expect(stored.map((s) => s.message.channel.connectionId)).toEqual([null]);
  });

  it("answers url_verification after the signature, over HTTP", async () => {
    const body = JSON.stringify({
      token: "x",
      challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
      type: "url_verification",
    });
    const res = await post(ownRoute(), body, signSlackRequest(tenant.signingSecret, body));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" });
  });

  it("answers 413 over 1 MB and 400 on malformed JSON without storing anything", async () => {
    const from = await nextInboundSeq(jsm);
    const big = `{"team_id":"${tenant.teamId}","pad":"${"x".repeat(1024 * 1024)}"}`;
    expect((await post(ownRoute(), big, signSlackRequest(tenant.signingSecret, big))).status).toBe(413);
    const broken = `{"team_id":"${tenant.teamId}",`;
    expect((await post(ownRoute(), broken, signSlackRequest(tenant.signingSecret, broken))).status).toBe(400);
    await gateway.nc.flush();
    expect(await inboundFor(jsm, tenant.teamId, from)).toHaveLength(0);
  });

  it("is ready with NATS and PostgreSQL up, and counts webhooks on /metrics", async () => {
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", checks: { nats: "ok", database: "ok" } });
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/konstruct_gateway_webhooks_total\{channel="slack",result="unauthorized"\} [1-9]/);
    expect(metrics).toContain("konstruct_gateway_publish_duration_seconds_bucket");
  });
});
