import { connectNats, ensureConsumers, type KonstructMessage } from "@konstruct/core";
import { orchestratorConsumer, sessionKey } from "@konstruct/orchestrator";
import { routerConsumer } from "@konstruct/router";
import {
  createTestDatabase,
  type OllamaDouble,
  type ServiceProcess,
  type SseEvent,
  serverUrl,
  startOllamaDouble,
  startServiceProcess,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  newVisitor,
  openEvents,
  seedWebchatTenant,
  sendMessage,
  startWebchatGateway,
  type WebchatGateway,
  type WebchatTenant,
} from "../webchat/support.ts";
import { historyRows } from "./harness.ts";

// A reply streaming to a web chat visitor when its orchestrator is killed with SIGKILL: router
// and orchestrator run as real processes (`node services/<x>/src/main.ts`), the web chat's
// gateway in this process, the Ollama double writing one word every CHUNK_MS. Memory, history
// and the reply are written only once the turn is settled, so the redelivered run streams again
// from the start under a new attempt, and the visitor ends with one reply, stored once.

const ACK_WAIT_MS = 2_000;
const CHUNK_MS = 150;

let testDb: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let redis: Redis;
let gateway: WebchatGateway;
let tenant: WebchatTenant;
const processes = new Set<ServiceProcess>();

async function start(kind: "router" | "orchestrator"): Promise<ServiceProcess> {
  const p = await startServiceProcess(kind, {
    DATABASE_URL: testDb.appUrl,
    REDIS_URL: serverUrl("REDIS_ADMIN_URL"),
    NATS_URL: nats.url,
    OLLAMA_URL: ollama.url,
    NATS_ACK_WAIT_MS: String(ACK_WAIT_MS),
    LLM_TIMEOUT_MS: "20000",
    LOG_LEVEL: "warn",
  });
  processes.add(p);
  return p;
}

type Delta = { replyId: string; attempt: string; offset: number; text: string };
const deltasOf = (events: SseEvent[]): Delta[] => events.filter((e) => e.event === "delta").map((e) => JSON.parse(e.data));

beforeAll(async () => {
  [testDb, nats, ollama] = await Promise.all([
    createTestDatabase("stream_crash"),
    startTestNats(),
    startOllamaDouble({ chunkDelayMs: CHUNK_MS }),
  ]);
  tenant = await seedWebchatTenant(testDb.admin, { agentName: "Ada", agentRole: "Support", systemPrompt: "You are Ada." });
  const setup = await connectNats(nats.url, "stream-crash-setup");
  await ensureConsumers(await jetstreamManager(setup), [routerConsumer(ACK_WAIT_MS), orchestratorConsumer(ACK_WAIT_MS)]);
  await setup.close();
  redis = new Redis(serverUrl("REDIS_ADMIN_URL"));
  gateway = await startWebchatGateway({ db: testDb.app, natsUrl: nats.url, redisUrl: serverUrl("REDIS_ADMIN_URL") });
});

afterAll(async () => {
  for (const p of processes) await p.kill("SIGKILL");
  await gateway?.stop();
  redis?.disconnect();
  await Promise.all([ollama?.close(), nats?.stop()]);
  await testDb?.drop();
});

describe("a streaming reply through a SIGKILL", () => {
  it("orchestrator killed mid-stream: the redelivery streams again from the start, and the visitor gets one reply, stored once", async () => {
    await start("router");
    const doomed = await start("orchestrator");
    const visitor = await newVisitor(gateway.url, tenant.connectionId);
    const events = await openEvents(visitor.base, visitor.token);
    const question = "tell me everything, slowly";
    expect((await sendMessage(visitor.base, visitor.token, question)).status).toBe(202);

    // Two pieces on screen, the model still writing: kill the orchestrator there.
    await events.waitFor((e) => e.event === "delta" && JSON.parse(e.data).offset > 0, 30_000);
    expect(ollama.streaming).toBe(1);
    await doomed.kill("SIGKILL");
    processes.delete(doomed);
    const cut = deltasOf(events.events);
    const before = await historyRows(testDb.admin, tenant.tenantId);
    expect(before.filter((r) => r.direction === "reply")).toEqual([]);

    await start("orchestrator");
    const final = JSON.parse(
      (await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent", 40_000)).data,
    );
    expect(final.text).toContain(`you said: ${question}`);

    // The first attempt's pieces, cut short; then the redelivery's, from offset 0 to the whole reply.
    // (A redelivery may overlap another on this loaded a machine — the ack wait is 2 s — so there
    // can be more than two attempts; the page shows the latest, and the invariants below hold.)
    const deltas = deltasOf(events.events);
    for (const d of deltas) expect(d.replyId).toBe(final.replyId);
    // Attempts are "<delivery>.<run start>.<model call>"; the run that takes over may carry the
    // killed one's delivery count (NATS need not count a delivery to a vanished client).
    const order = (attempt: string) => attempt.split(".").map(Number);
    const attempts = [...new Set(deltas.map((d) => d.attempt))].sort((a, b) => {
      const [x, y] = [order(a), order(b)];
      return (x[0] ?? 0) - (y[0] ?? 0) || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
    });
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    const cutAttempts = [...new Set(cut.map((d) => d.attempt))];
    expect(cutAttempts).toHaveLength(1);
    expect(cutAttempts[0]).toMatch(/^1\.\d+\.1$/);
    expect(cut.map((d) => d.text).join("").length).toBeLessThan(final.text.length);
    const latest = deltas.filter((d) => d.attempt === attempts.at(-1));
    expect(latest[0]?.offset).toBe(0);
    expect(latest.map((d) => d.text).join("")).toBe(final.text);

    // Let a late duplicate show itself (an ack wait and more), then count: one reply on the live
    // stream and in a replay of the conversation, one turn in memory, one exchange in history.
    await new Promise((r) => setTimeout(r, ACK_WAIT_MS + 1_000));
    expect(events.messages().filter((m) => m.kind === "agent")).toHaveLength(1);
    const replay = await openEvents(visitor.base, visitor.token);
    await replay.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
    expect(replay.messages().map((m) => m.kind)).toEqual(["visitor", "agent"]);
    replay.close();
    events.close();

    const thread = {
      channelType: "webchat",
      channel: { workspaceId: tenant.externalId, channelId: visitor.visitorId },
      threadId: visitor.visitorId,
    } as KonstructMessage;
    const memory = (await redis.lrange(sessionKey(tenant.tenantId, thread), 0, -1)).map((t) => JSON.parse(t));
    expect(memory.map((t) => [t.role, t.content])).toEqual([
      ["user", question],
      ["assistant", final.text],
    ]);
    const rows = await historyRows(testDb.admin, tenant.tenantId);
    expect(rows.map((r) => [r.direction, r.text])).toEqual([
      ["inbound", question],
      ["reply", final.text],
    ]);
    expect(rows[0]?.message_count).toBe(2);
    // At least the call cut short and the redelivery's.
    expect(ollama.requests.length).toBeGreaterThanOrEqual(2);
  });
});
