import type { OutboundReply } from "@konstruct/core";
import {
  createTestDatabase,
  inboundMessage,
  type OllamaDouble,
  type SeededTenant,
  seedTenant,
  serverUrl,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectOutbound, type InProcessPipeline, type OutboundCollector, publishInbound, startPipeline } from "./harness.ts";

// A change the operator writes applies to the next message, not after a cache lifetime: the
// caches here live ten minutes, so only PostgreSQL's change notifications can explain a reply
// that follows the change.

let testDb: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let outbound: OutboundCollector;
let acme: SeededTenant;

beforeAll(async () => {
  [testDb, nats, ollama] = await Promise.all([createTestDatabase("cfgpipe"), startTestNats(), startOllamaDouble()]);
  acme = await seedTenant(testDb.admin, {
    agents: [
      { name: "ada", displayName: "Ada", role: "support engineer at Acme", isDefault: true },
      { name: "grace", displayName: "Grace", role: "account manager at Acme" },
    ],
  });
  pipeline = await startPipeline({
    natsUrl: nats.url,
    databaseUrl: testDb.appUrl,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
    ollamaUrl: ollama.url,
    router: { tenantCacheTtlMs: 600_000 },
    orchestrator: { contextTtlMs: 600_000 },
  });
  outbound = await collectOutbound(pipeline.js);
});

afterAll(async () => {
  await outbound?.stop();
  await pipeline?.stop();
  await Promise.all([ollama?.close(), nats?.stop()]);
  await testDb?.drop();
});

async function ask(text: string): Promise<OutboundReply> {
  const message = inboundMessage(acme, { text });
  await publishInbound(pipeline.js, message);
  const matches = () => outbound.replies.filter((r) => r.target.inReplyToMessageId === message.channel.messageId);
  await outbound.waitFor(() => matches().length === 1);
  return matches()[0] as OutboundReply;
}

describe("configuration changes", () => {
  it("reach the router and orchestrator at once: a new persona and a new default agent answer the next message", async () => {
    expect((await ask("hello?")).text).toContain("You are Ada, support engineer at Acme.");

    await testDb.admin
      .updateTable("agents")
      .set({ role: "head of support at Acme" })
      .where("id", "=", acme.agents.ada as string)
      .execute();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await ask("and now?")).text).toContain("You are Ada, head of support at Acme.");

    await testDb.admin.transaction().execute(async (trx) => {
      await trx
        .updateTable("agents")
        .set({ is_default: false })
        .where("id", "=", acme.agents.ada as string)
        .execute();
      await trx
        .updateTable("agents")
        .set({ is_default: true })
        .where("id", "=", acme.agents.grace as string)
        .execute();
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const reply = await ask("who is there?");
    expect(reply.agent?.displayName).toBe("Grace");
    expect(reply.text).toContain("You are Grace, account manager at Acme.");
  });
});
