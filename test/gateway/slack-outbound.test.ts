import { randomBytes } from "node:crypto";
import { REPLY_METADATA_EVENT_TYPE } from "@konstruct/channels/gateway";
import { type ConsumerSpec, connectNats, type OutboundReply, outboundSubject, STREAMS } from "@konstruct/core";
import { type SlackApiDouble, startSlackApi, startTestNats, type TestNats } from "@konstruct/testkit";
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./harness.ts";
import { createSlackTenant, gatewayDatabase, type SlackTenant, serverUrl } from "./support.ts";

// The Slack outbound worker against real NATS (a server of this file's own), Redis and PostgreSQL,
// posting to the Slack double. The worker runs on a durable consumer with a short ack wait.
const ACK_WAIT_MS = 1_500;
const STALE_CLAIM_MS = 1_000;

let env: Awaited<ReturnType<typeof gatewayDatabase>>;
let slack: SlackApiDouble;
let tenant: SlackTenant;
let gateway: TestGateway;
let js: JetStreamClient;
let jsm: JetStreamManager;
let spec: ConsumerSpec;
let nats: TestNats;

async function start(): Promise<TestGateway> {
  return startTestGateway({
    db: env.db.app,
    secretKey: env.secretKey,
    natsUrl: nats.url,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
    slackApiUrl: slack.url,
    outboundConsumer: spec,
    staleClaimMs: STALE_CLAIM_MS,
  });
}

beforeAll(async () => {
  nats = await startTestNats();
  env = await gatewayDatabase();
  tenant = await createSlackTenant(env.db, env.secretKey);
  slack = await startSlackApi({ tokens: { [tenant.botToken]: { teamId: tenant.teamId, botUserId: tenant.botUserId } } });
  spec = {
    stream: STREAMS.outbound,
    durable: `test-outbound-slack-${randomBytes(4).toString("hex")}`,
    filterSubject: outboundSubject("slack"),
    ackWaitMs: ACK_WAIT_MS,
    maxDeliver: 10,
    maxAckPending: 100,
  };
  const admin = await connectNats(nats.url, "gateway-outbound-test-setup");
  const adminJsm = await jetstreamManager(admin);
  await adminJsm.consumers.add(spec.stream, {
    durable_name: spec.durable,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver,
    max_ack_pending: spec.maxAckPending,
  });
  await admin.close();
  gateway = await start();
  js = jetstream(gateway.nc);
  jsm = await jetstreamManager(gateway.nc);
});

afterAll(async () => {
  await jsm?.consumers.delete(spec.stream, spec.durable).catch(() => {});
  await gateway?.stop();
  await slack?.close();
  await env?.db.drop();
  await nats?.stop();
});

function reply(overrides: Partial<OutboundReply> = {}): OutboundReply {
  const eventId = `Ev${randomBytes(5).toString("hex").toUpperCase()}`;
  const threadId = `${Math.floor(Date.now() / 1000)}.${randomBytes(3).readUIntBE(0, 3) % 1_000_000}`;
  return {
    replyId: `reply:slack:${tenant.teamId}:${eventId}`,
    tenantId: tenant.tenantId,
    channelType: "slack",
    connectionId: tenant.connectionId,
    target: { workspaceId: tenant.teamId, channelId: "C0GENERAL", threadId, inReplyToMessageId: threadId },
    text: "Refunds are accepted within 30 days.",
    kind: "answer",
    agent: null,
    ...overrides,
  };
}

const publish = (r: OutboundReply, msgID: string) => js.publish(outboundSubject("slack"), JSON.stringify(r), { msgID });

/** Waits until this file's consumer has nothing pending or unacknowledged. */
async function settled(timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await jsm.consumers.info(spec.stream, spec.durable);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("outbound consumer did not settle");
}

const postsFor = (r: OutboundReply) => slack.posts({ channel: r.target.channelId, thread_ts: r.target.threadId });

describe("Slack outbound worker", () => {
  it("posts one threaded reply per replyId, however often the reply is published", async () => {
    const r = reply();
    // The same msgID (JetStream drops the copies) and different msgIDs (a publisher that retried
    // under a new id): both must end in one post.
    for (let i = 0; i < 3; i++) await publish(r, r.replyId);
    for (let i = 0; i < 3; i++) await publish(r, `${r.replyId}#${i}`);
    await slack.waitForPosts(1, { thread_ts: r.target.threadId });
    await settled();
    const posts = postsFor(r);
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({
      thread_ts: r.target.threadId,
      text: r.text,
      user: tenant.botUserId,
      metadata: { event_type: REPLY_METADATA_EVENT_TYPE, event_payload: { reply_id: r.replyId } },
    });
  });

  it("honours 429 Retry-After: no second post, and the retry waits the advertised time", async () => {
    const r = reply();
    slack.failNext(1, { status: 429, retryAfter: 1 }, "chat.postMessage");
    await publish(r, r.replyId);
    await slack.waitForPosts(1, { thread_ts: r.target.threadId }, 15_000);
    await settled();
    const attempts = slack.calls.filter((c) => c.method === "chat.postMessage" && c.args.thread_ts === r.target.threadId);
    expect(attempts.map((c) => c.status)).toEqual([429, 200]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(postsFor(r)).toHaveLength(1);
  });

  it("finds a post whose response was lost instead of posting again", async () => {
    const r = reply();
    slack.failNext(1, { dropResponse: true }, "chat.postMessage");
    await publish(r, r.replyId);
    await slack.waitForPosts(1, { thread_ts: r.target.threadId });
    await settled();
    expect(postsFor(r)).toHaveLength(1);
    expect(slack.calls.some((c) => c.method === "conversations.replies" && c.args.ts === r.target.threadId)).toBe(true);
  });

  it("posts once when the worker dies between the post and its ack", async () => {
    const r = reply();
    // The post lands at once; its response comes late, and the worker is killed before it does.
    slack.failNext(1, { delayMs: 800 }, "chat.postMessage");
    await publish(r, r.replyId);
    await slack.waitForPosts(1, { thread_ts: r.target.threadId });
    await gateway.crash();
    await new Promise((resolve) => setTimeout(resolve, 900));
    gateway = await start();
    js = jetstream(gateway.nc);
    jsm = await jetstreamManager(gateway.nc);
    // The message comes back after the ack wait; the new worker must find the post, not repeat it.
    const deadline = Date.now() + 15_000;
    while (
      Date.now() < deadline &&
      !slack.calls.some((c) => c.method === "conversations.replies" && c.args.ts === r.target.threadId)
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await settled();
    expect(postsFor(r)).toHaveLength(1);
    expect(await gateway.metrics.registry.getSingleMetricAsString("konstruct_gateway_posts_total")).toContain(
      'result="recovered"} 1',
    );
  });

  it("dead-letters a reply Slack refuses for good (channel_not_found), posting nothing", async () => {
    const r = reply();
    const before = (await jsm.streams.info(STREAMS.deadLetter)).state.last_seq;
    slack.failNext(1, { error: "channel_not_found" }, "chat.postMessage");
    await publish(r, r.replyId);
    await settled();
    expect(postsFor(r)).toHaveLength(0);
    const info = await jsm.streams.info(STREAMS.deadLetter);
    const records = [];
    for (let seq = before + 1; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(STREAMS.deadLetter, { seq }).catch(() => null);
      if (m?.header?.get("Konstruct-Consumer") === spec.durable) records.push(m.json<OutboundReply>());
    }
    expect(records.map((x) => x.replyId)).toContain(r.replyId);
  });

  it("dead-letters an undecodable reply and a web chat reply on the Slack subject, posting nothing", async () => {
    const before = (await jsm.streams.info(STREAMS.deadLetter)).state.last_seq;
    const postsBefore = slack.posts().length;
    const webchat = reply({ channelType: "webchat" });
    await js.publish(outboundSubject("slack"), "{not json", { msgID: `garbage-${randomBytes(4).toString("hex")}` });
    await publish(webchat, webchat.replyId);
    await settled();
    expect(slack.posts()).toHaveLength(postsBefore);
    const info = await jsm.streams.info(STREAMS.deadLetter);
    const reasons: string[] = [];
    for (let seq = before + 1; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(STREAMS.deadLetter, { seq }).catch(() => null);
      if (m?.header?.get("Konstruct-Consumer") === spec.durable) reasons.push(m.header.get("Konstruct-Reason"));
    }
    expect(reasons).toEqual([
      expect.stringMatching(/^invalid outbound reply/),
      "reply for channel webchat on the slack outbound consumer",
    ]);
  });

  it("retries a network failure before the post and then posts once", async () => {
    const r = reply();
    slack.failNext(1, { status: 503 }, "chat.postMessage");
    await publish(r, r.replyId);
    await slack.waitForPosts(1, { thread_ts: r.target.threadId }, 15_000);
    await settled();
    expect(postsFor(r)).toHaveLength(1);
  });

  it("posts different replies to the same thread separately", async () => {
    const a = reply();
    const b = reply({ target: a.target });
    await publish(a, a.replyId);
    await publish(b, b.replyId);
    await slack.waitForPosts(2, { thread_ts: a.target.threadId });
    await settled();
    expect(postsFor(a)).toHaveLength(2);
  });
});
