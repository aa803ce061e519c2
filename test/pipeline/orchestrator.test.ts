import { randomUUID } from "node:crypto";
import { createDatabase, type OutboundReply } from "@konstruct/core";
import {
  createImmediateTokenLedger,
  createRunContexts,
  createRunState,
  createTenantSlots,
  REPLY_TEXTS,
  type TokenLedger,
  usageDay,
} from "@konstruct/orchestrator";
import {
  createTestDatabase,
  freePort,
  inboundMessage,
  type OllamaDouble,
  type SeededTenant,
  seedTenant,
  serverUrl,
  startOllamaDouble,
  type TestDatabase,
} from "@konstruct/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routedWorkItem, runHandler } from "./harness.ts";

// The orchestrator's handler against real PostgreSQL and Redis, without NATS: what a run
// publishes when the model is unreachable, the budget is spent or the tenant is saturated.

let testDb: TestDatabase;
let ollama: OllamaDouble;
let redis: Redis;
let db: ReturnType<typeof createDatabase>;
let tenant: SeededTenant;

beforeAll(async () => {
  [testDb, ollama] = await Promise.all([createTestDatabase("orch"), startOllamaDouble()]);
  redis = new Redis(serverUrl("REDIS_ADMIN_URL"));
  db = createDatabase(testDb.appUrl, { max: 4 });
  tenant = await seedTenant(testDb.admin, {
    tokensPerDay: 1_000,
    maxConcurrentRuns: 1,
    agents: [{ name: "ada", displayName: "Ada", isDefault: true, fallbackModels: ["llama3.1"] }],
  });
});

afterAll(async () => {
  redis?.disconnect();
  await db?.destroy();
  await ollama?.close();
  await testDb?.drop();
});

function harness(ollamaUrl: string, tokens?: TokenLedger) {
  const published: OutboundReply[] = [];
  const publish = async (_subject: string, value: unknown) => {
    published.push(value as OutboundReply);
  };
  const { handle, metrics } = runHandler({ db, redis, ollamaUrl, publish, slotWaitMs: 200, ...(tokens ? { tokens } : {}) });
  return { published, metrics, handle };
}

function workItem(text: string) {
  return routedWorkItem(tenant, inboundMessage(tenant, { text }), tenant.agents.ada!);
}

/** Runs counted today for the tenant's agents. */
async function runsToday(): Promise<number> {
  const rows = await testDb.admin
    .selectFrom("token_usage")
    .select("runs")
    .where("tenant_id", "=", tenant.tenantId)
    .where("day", "=", usageDay())
    .execute();
  return rows.reduce((sum, row) => sum + row.runs, 0);
}

describe("orchestrator runs", () => {
  it("says honestly that no model is reachable when Ollama is down, and counts the failure", async () => {
    const { published, metrics, handle } = harness(`http://127.0.0.1:${await freePort()}`);
    const { data } = workItem("anyone there?");
    expect(await handle({ data, deliveryCount: 1 })).toEqual({ kind: "ack" });
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ kind: "apology", text: REPLY_TEXTS.noModelReachable });
    expect(published[0]?.text).toMatch(/no language model is reachable/);
    const exhausted = await metrics.registry.getSingleMetricAsString("konstruct_llm_exhausted_total");
    expect(exhausted).toMatch(/konstruct_llm_exhausted_total 1/);
  });

  it("apologises without claiming unreachability when the models answer with errors", async () => {
    ollama.fail("llama3.2", "error");
    ollama.fail("llama3.1", "not-found");
    try {
      const { published, handle } = harness(ollama.url);
      await handle({ data: workItem("hello?").data, deliveryCount: 1 });
      expect(published[0]).toMatchObject({ kind: "apology", text: REPLY_TEXTS.modelFailed });
    } finally {
      ollama.heal("llama3.2");
      ollama.heal("llama3.1");
    }
  });

  it("records token usage once per work item, even when it is delivered again", async () => {
    const { published, handle } = harness(ollama.url);
    const { data } = workItem("count my tokens");
    await handle({ data, deliveryCount: 1 });
    await handle({ data, deliveryCount: 2 });
    // The redelivery publishes the settled reply again, under the same msgID (NATS drops it).
    expect(published).toHaveLength(2);
    expect(published[1]).toEqual(published[0]);
    const row = await testDb.admin
      .selectFrom("token_usage")
      .selectAll()
      .where("tenant_id", "=", tenant.tenantId)
      .where("day", "=", usageDay())
      .executeTakeFirstOrThrow();
    expect(row.runs).toBe(1);
    expect(Number(row.prompt_tokens)).toBeGreaterThan(0);
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
  });

  it("counts a run once when its first token write is refused: the claim goes back and the redelivery counts it", async () => {
    const immediate = createImmediateTokenLedger(db);
    let refuse = true;
    const tokens: TokenLedger = {
      ...immediate,
      async add(tenantId, agentId, counts) {
        if (refuse) {
          refuse = false;
          throw new Error("PostgreSQL refused the token write");
        }
        await immediate.add(tenantId, agentId, counts);
      },
    };
    const { published, handle } = harness(ollama.url, tokens);
    const { data } = workItem("count me after a refusal");
    const before = await runsToday();
    await expect(handle({ data, deliveryCount: 1 })).rejects.toThrow(/refused/);
    expect(await handle({ data, deliveryCount: 2 })).toEqual({ kind: "ack" });
    await handle({ data, deliveryCount: 3 });
    expect(await runsToday()).toBe(before + 1);
    // The reply went out with the first delivery; the redelivery's publish carries the same msgID.
    expect(new Set(published.map((p) => p.replyId)).size).toBe(1);
  });

  it("counts a run once when two deliveries of it run at once", async () => {
    ollama.setLatency(150);
    try {
      const { handle } = harness(ollama.url);
      const { data } = workItem("count me once, twice at once");
      const before = await runsToday();
      await Promise.all([handle({ data, deliveryCount: 1 }), handle({ data, deliveryCount: 2 })]);
      expect(await runsToday()).toBe(before + 1);
    } finally {
      ollama.setLatency(0);
    }
  });

  it("over the daily token budget answers with a short notice instead of calling the model", async () => {
    await testDb.admin
      .updateTable("token_usage")
      .set({ prompt_tokens: 5_000 })
      .where("tenant_id", "=", tenant.tenantId)
      .execute();
    const { published, handle } = harness(ollama.url);
    const before = ollama.requests.length;
    await handle({ data: workItem("one more?").data, deliveryCount: 1 });
    expect(published[0]).toMatchObject({ kind: "notice", text: REPLY_TEXTS.tokenBudget });
    expect(ollama.requests.length).toBe(before);
    await testDb.admin.deleteFrom("token_usage").where("tenant_id", "=", tenant.tenantId).execute();
  });

  it("holds a run back (retry, not drop) while the tenant is at its concurrent-run limit", async () => {
    const slots = createTenantSlots(redis, { leaseMs: 10_000 });
    const other = await slots.acquire(tenant.tenantId, `other-${randomUUID()}`, 1, 0);
    expect(other).not.toBeNull();
    try {
      const { published, handle } = harness(ollama.url);
      const { data } = workItem("busy?");
      const outcome = await handle({ data, deliveryCount: 1 });
      expect(outcome.kind).toBe("retry");
      expect(published).toHaveLength(0);
      // On the last allowed delivery the person hears that the workspace is busy.
      expect(await handle({ data, deliveryCount: 5 })).toEqual({ kind: "ack" });
      expect(published[0]).toMatchObject({ kind: "notice", text: REPLY_TEXTS.busy });
    } finally {
      await other?.release();
    }
  });

  it("reads a tenant's context once per TTL, re-reads it on a configuration event, and counts its own tokens at once", async () => {
    const contexts = createRunContexts({ db, ttlMs: 60_000 });
    const agentId = tenant.agents.ada!;
    const first = await contexts.load(tenant.tenantId, agentId);
    expect(first?.maxConcurrentRuns).toBe(1);
    await testDb.admin.updateTable("tenants").set({ max_concurrent_runs: 3 }).where("id", "=", tenant.tenantId).execute();
    try {
      expect((await contexts.load(tenant.tenantId, agentId))?.maxConcurrentRuns).toBe(1);
      contexts.recorded(tenant.tenantId, 250);
      expect((await contexts.load(tenant.tenantId, agentId))?.tokensUsedToday).toBe((first?.tokensUsedToday ?? 0) + 250);
      contexts.invalidate(tenant.tenantId);
      expect((await contexts.load(tenant.tenantId, agentId))?.maxConcurrentRuns).toBe(3);
    } finally {
      await testDb.admin.updateTable("tenants").set({ max_concurrent_runs: 1 }).where("id", "=", tenant.tenantId).execute();
    }
  });

  it("acknowledges a run an older orchestrator marked published without asking the model or publishing again", async () => {
    const { published, handle } = harness(ollama.url);
    const { item, data } = workItem("answered before the upgrade");
    await handle({ data, deliveryCount: 1 });
    // Older orchestrators marked a run published after its last step; the run state outlives an upgrade.
    await redis.hset(createRunState(redis, 600).key(item.tenantId, item.deliveryKey), "published", "1");
    const calls = ollama.requests.length;
    expect(await handle({ data, deliveryCount: 2 })).toEqual({ kind: "ack" });
    expect(published).toHaveLength(1);
    expect(ollama.requests.length).toBe(calls);
  });
});
