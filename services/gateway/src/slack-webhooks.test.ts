import {
  type InboundPublisher,
  type SlackConnection,
  slackIngress,
  slackSignature,
  WebhookError,
} from "@konstruct/channels/gateway";
import { ack, deliveryKey, type KonstructMessage } from "@konstruct/core";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { buildApp } from "./app.ts";
import { createMetrics } from "./metrics.ts";

const PLATFORM_SECRET = "platform-signing-secret";
const CONNECTION = {
  connectionId: "6f1c1f4e-8a9e-4a5e-9a0b-0c2d4e6f8a10",
  tenantId: "0b5f7c1e-2d3a-4b4c-8d5e-6f708192a3b4",
  teamId: "T0TENANT",
  botToken: "xoxb-tenant",
  signingSecret: "tenant-signing-secret",
} satisfies SlackConnection;

function mention(teamId: string, eventId = "Ev0001"): string {
  return JSON.stringify({
    type: "event_callback",
    team_id: teamId,
    api_app_id: "A1",
    event_id: eventId,
    event_time: 1_700_000_000,
    authorizations: [{ user_id: "UBOT", is_bot: true }],
    event: { type: "app_mention", user: "UHUMAN", text: "<@UBOT> hello", ts: "1700000000.000100", channel: "C1", team: teamId },
  });
}

const signed = (secret: string, body: string | Buffer, ts = Math.floor(Date.now() / 1000)) => ({
  "content-type": "application/json",
  "x-slack-request-timestamp": String(ts),
  "x-slack-signature": slackSignature(secret, ts, body),
});

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function setup(options: { publishFails?: boolean } = {}) {
  const published: { subject: string; value: KonstructMessage; msgId: string }[] = [];
  const publisher: InboundPublisher = {
    async publish(subject, value, msgId) {
      if (options.publishFails) throw new WebhookError("UNAVAILABLE", "NATS down");
      const duplicate = published.some((p) => p.msgId === msgId);
      if (!duplicate) published.push({ subject, value: value as KonstructMessage, msgId });
      return { duplicate };
    },
  };
  const metrics = createMetrics();
  const log = pino({ level: "silent" });
  app = await buildApp({
    channels: [
      {
        type: "slack",
        plugin: async (instance) => {
          await instance.register(slackIngress, {
            publisher,
            connections: { get: async (id) => (id === CONNECTION.connectionId ? CONNECTION : null) },
            platformSigningSecret: PLATFORM_SECRET,
            metrics,
            log,
          });
        },
        outbound: async () => ack,
      },
    ],
    metrics,
    readiness: [],
    log,
  });
  return { app, published, metrics };
}

const SHARED = "/webhooks/slack/events";
const OWN = `/webhooks/slack/${CONNECTION.connectionId}/events`;

describe("Slack ingress", () => {
  it("publishes a signed mention once, keyed by its delivery, then acks", async () => {
    const { app, published } = await setup();
    const body = mention("T0SHARED");
    const res = await app.inject({ method: "POST", url: SHARED, headers: signed(PLATFORM_SECRET, body), payload: body });
    expect(res.statusCode).toBe(200);
    expect(published).toHaveLength(1);
    expect(published[0]?.subject).toBe("konstruct.inbound.slack");
    expect(published[0]?.msgId).toBe(deliveryKey(published[0]!.value));
    expect(published[0]?.msgId).toBe("slack:T0SHARED:Ev0001");
    expect(published[0]?.value.channel.connectionId).toBeNull();
  });

  it("verifies the per-connection route with that connection's secret and records the connection", async () => {
    const { app, published } = await setup();
    const body = mention(CONNECTION.teamId);
    const own = await app.inject({ method: "POST", url: OWN, headers: signed(CONNECTION.signingSecret, body), payload: body });
    expect(own.statusCode).toBe(200);
    expect(published[0]?.value.channel.connectionId).toBe(CONNECTION.connectionId);
    // Secrets do not cross routes.
    const crossed = await app.inject({ method: "POST", url: OWN, headers: signed(PLATFORM_SECRET, body), payload: body });
    const crossedBack = await app.inject({
      method: "POST",
      url: SHARED,
      headers: signed(CONNECTION.signingSecret, body),
      payload: body,
    });
    expect([crossed.statusCode, crossedBack.statusCode]).toEqual([401, 401]);
  });

  it.each([
    ["forged", () => signed("not-the-secret", mention("T0SHARED"))],
    ["expired", () => signed(PLATFORM_SECRET, mention("T0SHARED"), Math.floor(Date.now() / 1000) - 301)],
    ["from the future", () => signed(PLATFORM_SECRET, mention("T0SHARED"), Math.floor(Date.now() / 1000) + 301)],
    ["missing", () => ({ "content-type": "application/json" })],
    ["signed over another body", () => signed(PLATFORM_SECRET, mention("T0SHARED", "Ev9999"))],
  ])("answers 401 without detail to a %s signature and publishes nothing", async (_name, headers) => {
    const { app, published } = await setup();
    const res = await app.inject({ method: "POST", url: SHARED, headers: headers(), payload: mention("T0SHARED") });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: "unauthorized" });
    expect(published).toHaveLength(0);
  });

  it("answers an unknown connection exactly like a bad signature", async () => {
    const { app } = await setup();
    const body = mention(CONNECTION.teamId);
    const url = "/webhooks/slack/00000000-0000-4000-8000-000000000000/events";
    const res = await app.inject({ method: "POST", url, headers: signed(CONNECTION.signingSecret, body), payload: body });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: "unauthorized" });
  });

  it("answers url_verification only after the signature passes", async () => {
    const { app } = await setup();
    const body = JSON.stringify({ type: "url_verification", token: "legacy", challenge: "c-123" });
    const forged = await app.inject({ method: "POST", url: SHARED, headers: signed("nope", body), payload: body });
    expect(forged.statusCode).toBe(401);
    expect(forged.body).not.toContain("c-123");
    const ok = await app.inject({ method: "POST", url: SHARED, headers: signed(PLATFORM_SECRET, body), payload: body });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ challenge: "c-123" });
  });

  it("answers 400 to malformed JSON, and to a malformed envelope, behind a valid signature", async () => {
    const { app, published } = await setup();
    for (const body of ['{"type": "event_callback", ', '{"type":"event_callback","team_id":"T1"}', "null"]) {
      const res = await app.inject({ method: "POST", url: SHARED, headers: signed(PLATFORM_SECRET, body), payload: body });
      expect(res.statusCode).toBe(400);
    }
    expect(published).toHaveLength(0);
  });

  it("answers 413 over 1 MB, signed or not, and publishes nothing", async () => {
    const { app, published } = await setup();
    const body = Buffer.alloc(1024 * 1024 + 1, 0x20);
    const res = await app.inject({ method: "POST", url: SHARED, headers: signed(PLATFORM_SECRET, body), payload: body });
    expect(res.statusCode).toBe(413);
    expect(published).toHaveLength(0);
  });

  it("acks events it does not route, and a tenant app's event for a foreign team, without publishing", async () => {
    const { app, published } = await setup();
    const edited = JSON.stringify({
      ...JSON.parse(mention("T0SHARED")),
      event: { type: "message", subtype: "message_changed", channel: "C1", ts: "1700000000.000200", hidden: true },
    });
    const foreign = mention("T0OTHER");
    const a = await app.inject({ method: "POST", url: SHARED, headers: signed(PLATFORM_SECRET, edited), payload: edited });
    const b = await app.inject({
      method: "POST",
      url: OWN,
      headers: signed(CONNECTION.signingSecret, foreign),
      payload: foreign,
    });
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect(published).toHaveLength(0);
  });

  it("answers 503 when the message cannot be stored, so Slack retries", async () => {
    const { app, metrics } = await setup({ publishFails: true });
    const body = mention("T0SHARED");
    const res = await app.inject({ method: "POST", url: SHARED, headers: signed(PLATFORM_SECRET, body), payload: body });
    expect(res.statusCode).toBe(503);
    expect(await metrics.registry.getSingleMetricAsString("konstruct_gateway_webhooks_total")).toContain(
      'konstruct_gateway_webhooks_total{channel="slack",result="unavailable"} 1',
    );
  });

  it("counts retries as duplicates and exposes the counts on /metrics", async () => {
    const { app, published } = await setup();
    const body = mention("T0SHARED");
    for (let retry = 0; retry < 4; retry++) {
      const headers = { ...signed(PLATFORM_SECRET, body), ...(retry ? { "x-slack-retry-num": String(retry) } : {}) };
      expect((await app.inject({ method: "POST", url: SHARED, headers, payload: body })).statusCode).toBe(200);
    }
    expect(published).toHaveLength(1);
    const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
    expect(metrics).toContain('konstruct_gateway_webhooks_total{channel="slack",result="accepted"} 1');
    expect(metrics).toContain('konstruct_gateway_webhooks_total{channel="slack",result="duplicate"} 3');
  });
});
