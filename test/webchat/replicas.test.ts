import {
  createTestDatabase,
  type OllamaDouble,
  serverUrl,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InProcessPipeline, startPipeline } from "../pipeline/harness.ts";
import {
  newVisitor,
  openEvents,
  seedWebchatTenant,
  sendMessage,
  startWebchatGateway,
  type WebchatGateway,
  type WebchatTenant,
} from "./support.ts";

// The web chat as it runs in a cluster: several gateway replicas behind one Service, and a NATS
// that can go away. Private NATS, real router and orchestrator, the Ollama double.

let db: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let gatewayA: WebchatGateway;
let gatewayB: WebchatGateway;
let acme: WebchatTenant;

beforeAll(async () => {
  [db, nats, ollama] = await Promise.all([createTestDatabase("wcrep"), startTestNats(), startOllamaDouble({ latencyMs: 100 })]);
  acme = await seedWebchatTenant(db.admin, { agentName: "Ada", agentRole: "Support", systemPrompt: "You are Ada of Acme." });
  const redisUrl = serverUrl("REDIS_ADMIN_URL");
  pipeline = await startPipeline({ natsUrl: nats.url, databaseUrl: db.appUrl, redisUrl, ollamaUrl: ollama.url });
  [gatewayA, gatewayB] = await Promise.all([
    startWebchatGateway({ db: db.app, natsUrl: nats.url, redisUrl }),
    startWebchatGateway({ db: db.app, natsUrl: nats.url, redisUrl }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([gatewayA?.stop(), gatewayB?.stop()]);
  await pipeline?.stop();
  await ollama?.close();
  await nats?.stop();
  await db?.drop();
});

describe("web chat across replicas and outages", () => {
  it("streams a reply from one replica to a visitor who sent the message through another", async () => {
    const visitor = await newVisitor(gatewayA.url, acme.connectionId);
    const onB = `${gatewayB.url}/webchat/${acme.connectionId}/`;
    const events = await openEvents(onB, visitor.token);
    try {
      expect((await sendMessage(visitor.base, visitor.token, "sent through A")).status).toBe(202);
      const reply = await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
      expect(JSON.parse(reply.data).text).toContain("you said: sent through A");
      // The visitor's own message shows on B too: one conversation, whichever replica serves it.
      expect(events.events.some((e) => e.event === "message" && JSON.parse(e.data).kind === "visitor")).toBe(true);
    } finally {
      events.close();
    }
  });

  it("answers 503 with a clear error while NATS is down, and accepts and answers again once it is back", async () => {
    const visitor = await newVisitor(gatewayA.url, acme.connectionId);
    const restarting = nats.restart(6_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const refused = await sendMessage(visitor.base, visitor.token, "during the outage");
    expect(refused.status).toBe(503);
    const body = (await refused.json()) as { error: string; message: string };
    expect(body.error).toBe("unavailable");
    expect(body.message).toMatch(/try again|again/i);
    await restarting;

    const events = await openEvents(visitor.base, visitor.token);
    try {
      let accepted: Response | undefined;
      for (let attempt = 0; attempt < 20 && accepted?.status !== 202; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 500));
        accepted = await sendMessage(visitor.base, visitor.token, "after the outage");
      }
      expect(accepted?.status).toBe(202);
      const reply = await events.waitFor(
        (e) => e.event === "message" && JSON.parse(e.data).text.includes("you said: after the outage"),
        30_000,
      );
      expect(JSON.parse(reply.data).kind).toBe("agent");
      // Nothing was half-sent: the refused message never reached the agent.
      expect(events.events.some((e) => e.event === "message" && JSON.parse(e.data).text.includes("during the outage"))).toBe(
        false,
      );
    } finally {
      events.close();
    }
  }, 90_000);
});
