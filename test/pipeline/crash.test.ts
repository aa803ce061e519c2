import { connectNats, ensureConsumers, type KonstructMessage } from "@konstruct/core";
import { orchestratorConsumer, sessionKey } from "@konstruct/orchestrator";
import { routerConsumer } from "@konstruct/router";
import {
  createTestDatabase,
  inboundMessage,
  type OllamaDouble,
  type SeededTenant,
  type ServiceProcess,
  seedTenant,
  serverUrl,
  startOllamaDouble,
  startServiceProcess,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Redis } from "ioredis";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { collectOutbound, expectHistoryOnce, historyRows, type OutboundCollector, publishInbound } from "./harness.ts";

// Router and orchestrator as real processes (`node services/<x>/src/main.ts`), killed with
// SIGKILL mid-flight, and the NATS server restarted under them. The ack wait is shortened to
// 2 s so that NATS redelivers a dead process's messages quickly. After every crash, each message
// must be answered once and kept in the conversation history once: one inbound row, one reply
// row holding the text that was published, conversation counters equal to the rows.

const ACK_WAIT_MS = 2_000;
let testDb: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let nc: NatsConnection;
let js: JetStreamClient;
let redis: Redis;
let outbound: OutboundCollector;
let tenant: SeededTenant;
const processes = new Set<ServiceProcess>();

function env(): Record<string, string> {
  return {
    DATABASE_URL: testDb.appUrl,
    REDIS_URL: serverUrl("REDIS_ADMIN_URL"),
    NATS_URL: nats.url,
    OLLAMA_URL: ollama.url,
    NATS_ACK_WAIT_MS: String(ACK_WAIT_MS),
    LLM_RETRIES: "1",
    LLM_RETRY_BASE_MS: "50",
    LLM_TIMEOUT_MS: "10000",
    LOG_LEVEL: "warn",
  };
}

async function start(kind: "router" | "orchestrator", extra: Record<string, string> = {}): Promise<ServiceProcess> {
  const p = await startServiceProcess(kind, { ...env(), ...extra });
  processes.add(p);
  return p;
}

async function kill(p: ServiceProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  await p.kill(signal);
  processes.delete(p);
}

/** Each message answered exactly once on the outbound stream, its turn stored once in memory and its history written once. */
async function expectAnsweredOnce(messages: KonstructMessage[], timeoutMs = 30_000): Promise<void> {
  const ids = new Set(messages.map((m) => m.channel.messageId));
  await outbound.waitFor(
    (all) =>
      new Set(all.filter((r) => ids.has(r.target.inReplyToMessageId)).map((r) => r.target.inReplyToMessageId)).size === ids.size,
    timeoutMs,
  );
  await new Promise((r) => setTimeout(r, ACK_WAIT_MS + 500));
  for (const m of messages) {
    const replies = outbound.replies.filter((r) => r.target.inReplyToMessageId === m.channel.messageId);
    expect(replies.map((r) => r.kind)).toEqual(["answer"]);
    expect(await redis.llen(sessionKey(tenant.tenantId, m))).toBe(2);
  }
  await expectHistoryOnce(testDb.admin, tenant.tenantId, messages, outbound.replies);
}

/**
 * Backends of this test's database waiting for a lock: the orchestrator's history writes held
 * back. Asked outside any transaction: within one, PostgreSQL keeps showing its first snapshot
 * of pg_stat_activity.
 */
async function waitingWrites(): Promise<number[]> {
  const { rows } = await sql<{ pid: number }>`
    select pid from pg_stat_activity
     where datname = current_database() and wait_event_type = 'Lock' and query like '%konstruct_record_histor%'`.execute(
    testDb.admin,
  );
  return rows.map((r) => r.pid);
}

/**
 * Holds the history's message table with a SHARE lock (reads pass, inserts wait), so the
 * orchestrator publishes its replies and then stops in the history write: the window between
 * the publish and the write, where a crash must neither lose nor double a row.
 */
async function holdHistoryWrites(): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: testDb.adminUrl });
  await client.connect();
  await client.query("begin");
  await client.query("lock table conversation_messages in share mode");
  return {
    async release() {
      await client.query("commit");
      await client.end();
    },
  };
}

const burst = (n: number, label: string) =>
  Array.from({ length: n }, (_, i) => inboundMessage(tenant, { text: `${label} ${i}`, channelId: `C${label.toUpperCase()}` }));

beforeAll(async () => {
  [testDb, nats, ollama] = await Promise.all([createTestDatabase("crash"), startTestNats(), startOllamaDouble()]);
  tenant = await seedTenant(testDb.admin, { agents: [{ name: "ada", displayName: "Ada", isDefault: true }] });
  nc = await connectNats(nats.url, "crash-test");
  js = jetstream(nc);
  // Declared before the first publish so nothing lands in a stream without its consumer.
  await ensureConsumers(await jetstreamManager(nc), [routerConsumer(ACK_WAIT_MS), orchestratorConsumer(ACK_WAIT_MS)]);
  redis = new Redis(serverUrl("REDIS_ADMIN_URL"));
  outbound = await collectOutbound(js);
});

afterEach(async () => {
  for (const p of [...processes]) await kill(p, "SIGTERM");
  ollama.setLatency(0);
});

afterAll(async () => {
  for (const p of [...processes]) await kill(p);
  await outbound?.stop();
  await nc?.close();
  redis?.disconnect();
  await Promise.all([ollama?.close(), nats?.stop()]);
  await testDb?.drop();
});

describe("crash safety", () => {
  it("router killed with SIGKILL mid-burst: after restart every message is answered exactly once", async () => {
    const orchestrator = await start("orchestrator");
    const router = await start("router");
    const messages = burst(40, "rkill");
    await Promise.all(messages.map((m) => publishInbound(js, m)));
    // Kill as soon as work is flowing: some messages routed, some in the router's hands, some not yet pulled.
    await outbound.waitFor((all) => all.some((r) => r.target.channelId === "CRKILL"), 10_000);
    await kill(router);
    await start("router");
    await expectAnsweredOnce(messages);
    expect(orchestrator.output()).not.toMatch(/"level":(50|60)/);
  });

  it("orchestrator killed with SIGKILL during model calls: after restart every message is answered exactly once", async () => {
    ollama.setLatency(800);
    await start("router");
    const orchestrator = await start("orchestrator");
    const messages = burst(6, "okill");
    const before = ollama.requests.length;
    await Promise.all(messages.map((m) => publishInbound(js, m)));
    const deadline = Date.now() + 10_000;
    while (ollama.requests.length - before < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await kill(orchestrator);
    ollama.setLatency(50);
    await start("orchestrator");
    await expectAnsweredOnce(messages);
  });

  for (const fate of ["land after the kill", "are lost with the process"] as const) {
    it(`orchestrator killed with SIGKILL between publishing replies and writing their history (writes ${fate}): each written once`, async () => {
      await start("router");
      // A linger longer than the burst takes to answer: the four exchanges go in one grouped write.
      const orchestrator = await start("orchestrator", { HISTORY_LINGER_MS: "1500" });
      const hold = await holdHistoryWrites();
      const label = fate === "land after the kill" ? "hland" : "hlost";
      const messages = burst(4, label);
      try {
        await Promise.all(messages.map((m) => publishInbound(js, m)));
        // Every reply is out, and every run is stuck in the grouped history write that holds its exchange.
        await outbound.waitFor((all) => all.filter((r) => r.target.channelId === `C${label.toUpperCase()}`).length === 4);
        const deadline = Date.now() + 10_000;
        while ((await waitingWrites()).length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect((await waitingWrites()).length).toBe(1);
        await kill(orchestrator);
        // PostgreSQL notices a vanished client only when it next writes to it: a write already
        // sent finishes and commits once the lock is gone, unless its backend is ended first.
        if (fate === "are lost with the process") {
          for (const pid of await waitingWrites()) await sql`select pg_terminate_backend(${pid})`.execute(testDb.admin);
        }
      } finally {
        await hold.release();
      }
      // What the dead process left: all of its writes (an inbound and a reply row per message), or none.
      const left = async () => (await historyRows(testDb.admin, tenant.tenantId)).filter((r) => r.text.includes(label)).length;
      const deadline = Date.now() + 5_000;
      while (fate === "land after the kill" && (await left()) < 8 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(await left()).toBe(fate === "land after the kill" ? 8 : 0);
      await start("orchestrator");
      await expectAnsweredOnce(messages);
    }, 120_000);
  }

  it("orchestrator killed with SIGKILL again and again mid-burst (model calls, publishes, history writes): each message written once", async () => {
    ollama.setLatency(300);
    await start("router");
    let orchestrator = await start("orchestrator");
    const messages = burst(8, "hkill");
    await Promise.all(messages.map((m) => publishInbound(js, m)));
    // Different moments of the runs in flight: while thinking, between steps, while writing.
    // Two kills, not more: each costs an in-flight item one of its 5 deliveries, and on a loaded
    // machine a late heartbeat under the 2 s ack wait can cost another.
    for (const afterMs of [450, 1_100]) {
      await new Promise((r) => setTimeout(r, afterMs));
      await kill(orchestrator);
      orchestrator = await start("orchestrator");
    }
    ollama.setLatency(20);
    await expectAnsweredOnce(messages, 90_000);
  }, 180_000);

  it("NATS restarted under running services: nothing is lost, nothing doubled", async () => {
    ollama.setLatency(200);
    await start("router");
    await start("orchestrator");
    const before = burst(10, "natsa");
    await Promise.all(before.map((m) => publishInbound(js, m)));
    await nats.restart(500);
    // Clients reconnect on their own; the test's own publisher too, once the server is back.
    const after = burst(10, "natsb");
    for (const m of after) {
      for (let attempt = 0; ; attempt++) {
        try {
          await publishInbound(js, m);
          break;
        } catch (error) {
          if (attempt > 50) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    await expectAnsweredOnce([...before, ...after], 45_000);
  });
});
