import { randomBytes, randomUUID } from "node:crypto";
import {
  CONSUMERS,
  connectNats,
  encryptSecret,
  ensureConsumers,
  inboundSubject,
  type NatsUser,
  outboundConsumer,
  outboundSubject,
  parseSecretKey,
  replyStreamSubject,
  replyStreamWildcard,
  STREAMS,
  workSubject,
} from "@konstruct/core";
import {
  createTestDatabase,
  type SeededTenant,
  type ServiceProcess,
  type SlackApiDouble,
  seedTenant,
  serverUrl,
  signSlackRequest,
  startOllamaDouble,
  startServiceProcess,
  startSlackApi,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// NATS with the server configuration generated from core's permission table (nats-server 2.9,
// as Debian ships it): who may connect, publish, subscribe, pull and acknowledge. Every
// "cannot" below is the server refusing, reported back to the client as a permissions
// violation; every "can" is the real operation succeeding.

const TENANT = randomUUID();
const VIOLATION = /Permissions Violation/;

let nats: TestNats;
let admin: NatsConnection;
const clients: NatsConnection[] = [];

async function as(user: NatsUser): Promise<NatsConnection> {
  const nc = await connectNats(nats.urlFor(user), `permissions-test-${user}`);
  clients.push(nc);
  return nc;
}

/** The server refuses `nc` publishing to `subject` (a request gets the violation back at once). */
async function cannotPublish(nc: NatsConnection, subject: string): Promise<void> {
  await expect(nc.request(subject, "{}", { timeout: 10_000 }), subject).rejects.toThrow(VIOLATION);
}

/** The server refuses `nc` subscribing to `subject`: the subscription ends with the violation. */
async function cannotSubscribe(nc: NatsConnection, subject: string): Promise<void> {
  const sub = nc.subscribe(subject);
  await nc.flush();
  const ended = await sub.closed.then(
    (error) => error,
    (error) => error,
  );
  expect(String(ended), subject).toMatch(VIOLATION);
}

/** Pulls one message from a durable consumer and acknowledges it, waiting for the server's confirmation. */
async function pullOne(js: JetStreamClient, stream: string, durable: string): Promise<string> {
  const consumer = await js.consumers.get(stream, durable);
  for (;;) {
    const msg = await consumer.next({ expires: 5_000 });
    if (!msg) continue;
    await msg.ackAck();
    return msg.subject;
  }
}

/** Everything a service must never do, whoever it is, besides what is tested per service. */
const NOBODY_MAY_PUBLISH = [
  `$JS.API.STREAM.DELETE.${STREAMS.work}`,
  `$JS.API.STREAM.PURGE.${STREAMS.outbound}`,
  `$JS.API.STREAM.UPDATE.${STREAMS.inbound}`,
  `$JS.API.STREAM.CREATE.KONSTRUCT_ELSEWHERE`,
  `$JS.API.STREAM.MSG.GET.${STREAMS.work}`,
  `$JS.API.STREAM.MSG.DELETE.${STREAMS.inbound}`,
  `$JS.API.DIRECT.GET.${STREAMS.work}`,
  `$JS.API.STREAM.LIST`,
  `$JS.API.CONSUMER.DELETE.${STREAMS.work}.${CONSUMERS.orchestrator.durable}`,
  `$JS.API.CONSUMER.CREATE.${STREAMS.deadLetter}.reader`,
  `$JS.API.CONSUMER.CREATE.${STREAMS.work}.spy`,
  `$JS.API.CONSUMER.CREATE.${STREAMS.inbound}.spy`,
  `${inboundSubject("slack")}.extra`,
  "konstruct.other",
  "_INBOX.anyone",
];
const NOBODY_MAY_SUBSCRIBE = [">", "konstruct.>", "_INBOX.>", "$JS.>", "$JS.ACK.>"];

beforeAll(async () => {
  nats = await startTestNats({ auth: true });
  admin = await connectNats(nats.url, "permissions-test-admin");
  // Declared with full rights up front, so the denials below are about permissions, not absence.
  await ensureConsumers(await jetstreamManager(admin), [CONSUMERS.router, CONSUMERS.orchestrator, outboundConsumer("slack")]);
});

afterAll(async () => {
  await Promise.all([...clients, admin].filter(Boolean).map((nc) => nc.close()));
  await nats?.stop();
});

describe("NATS authentication", () => {
  it("refuses a client without credentials, with a wrong password or an unknown user", async () => {
    await expect(connect({ servers: nats.anonymousUrl, timeout: 10_000 })).rejects.toThrow(/Authorization Violation/);
    const wrong = nats.urlFor("gateway").replace(/:[0-9a-f]+@/, ":not-the-password@");
    await expect(connectNats(wrong, "wrong-password")).rejects.toThrow(/Authorization Violation/);
    const stranger = nats.anonymousUrl.replace("nats://", "nats://mallory:secret@");
    await expect(connectNats(stranger, "stranger")).rejects.toThrow(/Authorization Violation/);
  });
});

describe("NATS permissions", () => {
  it("the gateway publishes inbound and consumes outbound; it cannot publish replies or work, nor read inbound or work", async () => {
    const nc = await as("gateway");
    const js = jetstream(nc);
    await js.publish(inboundSubject("slack"), "{}", { msgID: randomUUID() });
    await publishAsAdmin(outboundSubject("slack"));
    expect(await pullOne(js, STREAMS.outbound, outboundConsumer("slack").durable)).toBe(outboundSubject("slack"));
    await js.publish(`konstruct.deadletter.${STREAMS.outbound}`, "{}");

    for (const subject of [
      outboundSubject("slack"),
      outboundSubject("webchat"),
      workSubject(TENANT),
      `konstruct.deadletter.${STREAMS.work}`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.inbound}.${CONSUMERS.router.durable}`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.work}.${CONSUMERS.orchestrator.durable}`,
      `$JS.API.CONSUMER.INFO.${STREAMS.work}.${CONSUMERS.orchestrator.durable}`,
      `$JS.ACK.${STREAMS.inbound}.${CONSUMERS.router.durable}.1.1.1.1.0`,
      `$JS.ACK.${STREAMS.work}.${CONSUMERS.orchestrator.durable}.1.1.1.1.0`,
      ...NOBODY_MAY_PUBLISH,
    ]) {
      await cannotPublish(nc, subject);
    }
    for (const subject of [...NOBODY_MAY_SUBSCRIBE, "konstruct.work.>", "konstruct.outbound.*", "_INBOX_router.>"]) {
      await cannotSubscribe(nc, subject);
    }
  });

  it("the router consumes inbound, publishes work and its notices; it cannot consume outbound or work, nor publish inbound", async () => {
    const nc = await as("router");
    const js = jetstream(nc);
    await ensureConsumers(await jetstreamManager(nc, { checkAPI: false }), [CONSUMERS.router]);
    await publishAsAdmin(inboundSubject("slack"));
    expect(await pullOne(js, STREAMS.inbound, CONSUMERS.router.durable)).toBe(inboundSubject("slack"));
    await js.publish(workSubject(TENANT), "{}");
    await js.publish(outboundSubject("slack"), "{}");
    await js.publish(`konstruct.deadletter.${STREAMS.inbound}`, "{}");

    for (const subject of [
      inboundSubject("slack"),
      `konstruct.deadletter.${STREAMS.outbound}`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.outbound}.${outboundConsumer("slack").durable}`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.work}.${CONSUMERS.orchestrator.durable}`,
      `$JS.API.CONSUMER.CREATE.${STREAMS.outbound}.${outboundConsumer("slack").durable}`,
      `$JS.ACK.${STREAMS.outbound}.${outboundConsumer("slack").durable}.1.1.1.1.0`,
      `$JS.ACK.${STREAMS.work}.${CONSUMERS.orchestrator.durable}.1.1.1.1.0`,
      ...NOBODY_MAY_PUBLISH,
    ]) {
      await cannotPublish(nc, subject);
    }
    for (const subject of [...NOBODY_MAY_SUBSCRIBE, "konstruct.inbound.>", "_INBOX_gateway.>"]) {
      await cannotSubscribe(nc, subject);
    }
  });

  it("the orchestrator consumes work and publishes replies; it cannot publish work or inbound, nor consume inbound or outbound", async () => {
    const nc = await as("orchestrator");
    const js = jetstream(nc);
    await ensureConsumers(await jetstreamManager(nc, { checkAPI: false }), [CONSUMERS.orchestrator]);
    await publishAsAdmin(workSubject(TENANT));
    expect(await pullOne(js, STREAMS.work, CONSUMERS.orchestrator.durable)).toBe(workSubject(TENANT));
    await js.publish(outboundSubject("slack"), "{}");
    await js.publish(`konstruct.deadletter.${STREAMS.work}`, "{}");

    for (const subject of [
      inboundSubject("slack"),
      workSubject(TENANT),
      `konstruct.deadletter.${STREAMS.inbound}`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.inbound}.${CONSUMERS.router.durable}`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.outbound}.${outboundConsumer("slack").durable}`,
      `$JS.ACK.${STREAMS.inbound}.${CONSUMERS.router.durable}.1.1.1.1.0`,
      ...NOBODY_MAY_PUBLISH,
    ]) {
      await cannotPublish(nc, subject);
    }
    for (const subject of [...NOBODY_MAY_SUBSCRIBE, "konstruct.work.>", "_INBOX_gateway.>"]) {
      await cannotSubscribe(nc, subject);
    }
  });

  it("reply deltas go from the orchestrator to the gateway on core NATS, and nobody else may write or read them", async () => {
    const gateway = await as("gateway");
    const orchestrator = await as("orchestrator");
    const received: string[] = [];
    const sub = gateway.subscribe(replyStreamWildcard("webchat"), {
      callback: (_error, msg) => {
        received.push(msg.subject);
      },
    });
    await gateway.flush();
    orchestrator.publish(replyStreamSubject(TENANT, "webchat"), "{}");
    await orchestrator.flush();
    await expect.poll(() => received, { timeout: 5_000 }).toEqual([replyStreamSubject(TENANT, "webchat")]);
    sub.unsubscribe();

    await cannotPublish(gateway, replyStreamSubject(TENANT, "webchat"));
    await cannotPublish(await as("router"), replyStreamSubject(TENANT, "webchat"));
    await cannotPublish(await as("jetstream"), replyStreamSubject(TENANT, "webchat"));
    await cannotSubscribe(await as("orchestrator"), replyStreamWildcard("webchat"));
    await cannotSubscribe(await as("router"), "konstruct.stream.>");
    await cannotSubscribe(await as("jetstream"), replyStreamWildcard("webchat"));
  });

  it("the JetStream set-up user declares streams, and can neither publish messages nor read them", async () => {
    const nc = await as("jetstream");
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(STREAMS.work)).config.name).toBe(STREAMS.work);
    for (const subject of [
      inboundSubject("slack"),
      workSubject(TENANT),
      outboundSubject("slack"),
      `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.work}.${CONSUMERS.orchestrator.durable}`,
      `$JS.API.CONSUMER.CREATE.${STREAMS.work}.spy`,
      // It deletes a pipeline stream only to replace it by a work queue once drained; the dead
      // letters it may not delete, and no stream may it purge.
      `$JS.API.STREAM.DELETE.${STREAMS.deadLetter}`,
      `$JS.API.STREAM.PURGE.${STREAMS.work}`,
      `$JS.API.STREAM.MSG.GET.${STREAMS.work}`,
    ]) {
      await cannotPublish(nc, subject);
    }
    await cannotSubscribe(nc, "konstruct.>");
  });
});

async function publishAsAdmin(subject: string): Promise<void> {
  await jetstream(admin).publish(subject, "{}");
}

describe("the three services with authentication on", () => {
  let testDb: TestDatabase;
  let slack: SlackApiDouble;
  let tenant: SeededTenant;
  const services: ServiceProcess[] = [];
  const secretKeyText = randomBytes(32).toString("base64");
  const botToken = `xoxb-${randomBytes(12).toString("hex")}`;
  const signingSecret = randomBytes(16).toString("hex");
  let ollama: Awaited<ReturnType<typeof startOllamaDouble>>;

  beforeAll(async () => {
    [testDb, slack, ollama] = await Promise.all([createTestDatabase("natsauth"), startSlackApi(), startOllamaDouble()]);
    tenant = await seedTenant(testDb.admin, { agents: [{ name: "ada", displayName: "Ada", isDefault: true }] });
    await testDb.admin
      .updateTable("channel_connections")
      .set({
        credentials: encryptSecret(parseSecretKey(secretKeyText), tenant.tenantId, JSON.stringify({ botToken, signingSecret })),
      })
      .where("id", "=", tenant.connectionId)
      .execute();
    slack.addToken(botToken, { teamId: tenant.teamId, botUserId: tenant.botUserId });
    const common = { DATABASE_URL: testDb.appUrl, REDIS_URL: serverUrl("REDIS_ADMIN_URL") };
    services.push(
      ...(await Promise.all([
        startServiceProcess("gateway", {
          ...common,
          NATS_URL: nats.urlFor("gateway"),
          SLACK_API_URL: slack.url,
          SLACK_SIGNING_SECRET: randomBytes(16).toString("hex"),
          KONSTRUCT_SECRET_KEY: secretKeyText,
        }),
        startServiceProcess("router", { ...common, NATS_URL: nats.urlFor("router") }),
        startServiceProcess("orchestrator", { ...common, NATS_URL: nats.urlFor("orchestrator"), OLLAMA_URL: ollama.url }),
      ])),
    );
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await Promise.all([slack?.close(), ollama?.close()]);
    await testDb?.drop();
  });

  it("answer a signed Slack event, and no service logs a NATS password", async () => {
    const ts = `${Math.floor(Date.now() / 1000)}.000100`;
    const body = JSON.stringify({
      team_id: tenant.teamId,
      api_app_id: "A0KONSTRUCT",
      type: "event_callback",
      event_id: `Ev${randomBytes(6).toString("hex").toUpperCase()}`,
      event_time: Math.floor(Date.now() / 1000),
      event: {
        type: "app_mention",
        user: "U0HUMAN",
        text: `<@${tenant.botUserId}> are you there?`,
        ts,
        channel: "C0AUTH",
        event_ts: ts,
        team: tenant.teamId,
      },
    });
    const gateway = services[0] as ServiceProcess;
    const response = await fetch(`http://127.0.0.1:${gateway.port}/webhooks/slack/${tenant.connectionId}/events`, {
      method: "POST",
      headers: signSlackRequest(signingSecret, body),
      body,
    });
    expect(response.status).toBe(200);
    const [reply] = await slack.waitForPosts(1, { channel: "C0AUTH", thread_ts: ts }, 45_000);
    expect(reply?.text).toBeTruthy();
    for (const service of services) {
      for (const user of ["gateway", "router", "orchestrator", "jetstream"] as const) {
        const password = new URL(nats.urlFor(user)).password;
        expect(service.output()).not.toContain(password);
      }
    }
  });

  it("stop at start-up when given another service's credentials: the gateway as the orchestrator, the router as the gateway", async () => {
    const common = { DATABASE_URL: testDb.appUrl, REDIS_URL: serverUrl("REDIS_ADMIN_URL") };
    await expect(
      startServiceProcess("gateway", {
        ...common,
        NATS_URL: nats.urlFor("orchestrator"),
        SLACK_SIGNING_SECRET: randomBytes(16).toString("hex"),
        KONSTRUCT_SECRET_KEY: secretKeyText,
      }),
    ).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.KONSTRUCT_OUTBOUND/);
    await expect(startServiceProcess("router", { ...common, NATS_URL: nats.urlFor("gateway") })).rejects.toThrow(
      /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.KONSTRUCT_INBOUND\.router"/,
    );
  });
});
