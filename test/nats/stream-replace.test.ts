import {
  CONSUMERS,
  connectNats,
  createLogger,
  declareStreams,
  ensureConsumers,
  inboundSubject,
  runConsumer,
  STREAM_LIMITS,
  STREAMS,
  SUBJECT_PREFIX,
} from "@konstruct/core";
import { startTestNats, type TestNats } from "@konstruct/testkit";
import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// A server holding the unbounded limits-retention inbound stream of an older version: the stream
// set-up (as the `jetstream` user, with its real permissions) keeps it while it holds unprocessed
// messages, says why, and replaces it with the bounded work queue once the router has drained it;
// the router's consumer, deleted with the old stream, is declared again and goes on consuming.

let nats: TestNats;
let admin: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;

beforeAll(async () => {
  nats = await startTestNats({ auth: true });
  admin = await connectNats(nats.url, "stream-replace-test");
  jsm = await jetstreamManager(admin);
  js = jetstream(admin);
  await jsm.streams.delete(STREAMS.inbound);
  await jsm.streams.add({
    name: STREAMS.inbound,
    subjects: [`${SUBJECT_PREFIX.inbound}.>`],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    storage: StorageType.File,
    max_age: nanos(24 * 60 * 60_000),
  });
  for (const id of ["old-1", "old-2", "old-3"]) await js.publish(inboundSubject("slack"), id, { msgID: id });
});

afterAll(async () => {
  await admin?.close();
  await nats?.stop();
});

const declare = async () => {
  const declared = await declareStreams(nats.urlFor("jetstream"), "stream-replace-test-setup");
  return declared.find((d) => d.stream === STREAMS.inbound);
};

describe("replacing an older limits-retention stream", () => {
  const received: string[] = [];
  let stopRouter: (() => Promise<void>) | undefined;

  afterAll(async () => {
    await stopRouter?.();
  });

  it("keeps a stream holding messages no consumer has read, says why, and leaves it working", async () => {
    const inbound = await declare();
    expect(inbound?.action).toBe("kept");
    expect(inbound?.reason).toMatch(/3 messages on konstruct\.inbound\.slack that no consumer reads/);
    const info = await jsm.streams.info(STREAMS.inbound);
    expect([info.config.retention, info.config.subjects, info.state.messages]).toEqual([
      "limits",
      [`${SUBJECT_PREFIX.inbound}.>`],
      3,
    ]);
    await js.publish(inboundSubject("slack"), "old-4", { msgID: "old-4" });
  });

  it("keeps it while its consumer has messages to process", async () => {
    await ensureConsumers(jsm, [CONSUMERS.router]);
    const inbound = await declare();
    expect(inbound?.action).toBe("kept");
    expect(inbound?.reason).toMatch(/consumer router has 4 messages to process/);
    expect((await jsm.streams.info(STREAMS.inbound)).state.messages).toBe(4);
  });

  it("replaces it by the bounded work queue once drained, and the consumer comes back by itself", async () => {
    const running = await runConsumer({
      js,
      consumer: CONSUMERS.router,
      concurrency: 4,
      log: createLogger({ name: "stream-replace-test", level: "silent" }),
      handler: async (msg) => {
        received.push(msg.string());
        return { kind: "ack" };
      },
    });
    stopRouter = () => running.stop();
    await waitUntil(() => received.length === 4);
    await waitUntil(async () => (await jsm.consumers.info(STREAMS.inbound, CONSUMERS.router.durable)).num_ack_pending === 0);

    expect((await declare())?.action).toBe("replaced");
    const { config, state } = await jsm.streams.info(STREAMS.inbound);
    expect([config.retention, config.discard, config.max_msgs, config.max_bytes, state.messages]).toEqual([
      "workqueue",
      "new",
      STREAM_LIMITS[STREAMS.inbound].maxMsgs,
      STREAM_LIMITS[STREAMS.inbound].maxBytes,
      0,
    ]);
    expect((await declare())?.action).toBe("updated");

    await js.publish(inboundSubject("slack"), "new-1", { msgID: "new-1" });
    await waitUntil(() => received.includes("new-1"), 60_000);
    expect(received).toEqual(["old-1", "old-2", "old-3", "old-4", "new-1"]);
    // A work queue: what the consumer acknowledged is gone.
    await waitUntil(async () => (await jsm.streams.info(STREAMS.inbound)).state.messages === 0);
  }, 90_000);
});

async function waitUntil(probe: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}
