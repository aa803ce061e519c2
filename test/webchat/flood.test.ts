import { randomUUID } from "node:crypto";
import { connectNats, STREAMS } from "@konstruct/core";
import {
  createTestDatabase,
  type OllamaDouble,
  serverUrl,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InProcessPipeline, startPipeline } from "../pipeline/harness.ts";
import { openEvents, seedWebchatTenant, startWebchatGateway, type WebchatGateway, type WebchatTenant } from "./support.ts";

// An anonymous client at full speed, as an attacker would send it: sessions and messages from
// one address are refused with 429 before they cost anything, while another visitor of the
// same tenant and a visitor of another tenant still get answers. The gateway trusts its
// loopback peer as a proxy, as it trusts the ingress controller in a cluster, so each request
// names its client address in X-Forwarded-For.

const FLOODER = "203.0.113.7";
const NEIGHBOUR = "198.51.100.9";
const OTHER_TENANT_VISITOR = "192.0.2.44";

let db: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let gateway: WebchatGateway;
let acme: WebchatTenant;
let globex: WebchatTenant;

beforeAll(async () => {
  db = await createTestDatabase("flood");
  nats = await startTestNats();
  ollama = await startOllamaDouble({ latencyMs: 50 });
  acme = await seedWebchatTenant(db.admin, { agentName: "Ada", agentRole: "Support", systemPrompt: "You are Ada." });
  globex = await seedWebchatTenant(db.admin, { agentName: "Grace", agentRole: "Sales", systemPrompt: "You are Grace." });
  const redisUrl = serverUrl("REDIS_ADMIN_URL");
  pipeline = await startPipeline({ natsUrl: nats.url, databaseUrl: db.appUrl, redisUrl, ollamaUrl: ollama.url });
  gateway = await startWebchatGateway({ db: db.app, natsUrl: nats.url, redisUrl });
});

afterAll(async () => {
  await gateway?.stop();
  await pipeline?.stop();
  await ollama?.close();
  await nats?.stop();
  await db?.drop();
});

const base = (tenant: WebchatTenant) => `${gateway.url}/webchat/${tenant.connectionId}/`;

async function session(
  tenant: WebchatTenant,
  address: string,
): Promise<{ status: number; token?: string; retryAfter: string | null }> {
  const response = await fetch(`${base(tenant)}session`, { method: "POST", headers: { "x-forwarded-for": address } });
  const body = (await response.json()) as { token?: string };
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    ...(body.token ? { token: body.token } : {}),
  };
}

async function send(tenant: WebchatTenant, address: string, token: string, text: string): Promise<number> {
  const response = await fetch(`${base(tenant)}messages`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "x-forwarded-for": address },
    body: JSON.stringify({ clientMessageId: randomUUID(), text }),
  });
  await response.arrayBuffer();
  return response.status;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

async function redisUsedMemory(): Promise<number> {
  const info = (await gateway.redis.info("memory")) as string;
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

async function inboundBytes(): Promise<number> {
  const nc = await connectNats(nats.url, "konstruct-flood-test");
  try {
    return (await (await jetstreamManager(nc)).streams.info(STREAMS.inbound)).state.bytes;
  } finally {
    await nc.close();
  }
}

describe("an anonymous flood from one address", () => {
  it("is refused with 429 while other visitors of the same and another tenant are answered", async () => {
    const memoryBefore = await redisUsedMemory();
    const bytesBefore = await inboundBytes();

    // 300 sessions at once from one address: the address's budget, then 429 with Retry-After.
    const sessions = await Promise.all(Array.from({ length: 300 }, () => session(acme, FLOODER)));
    const issued = sessions.filter((s) => s.status === 200);
    expect(issued.length).toBeGreaterThan(0);
    expect(issued.length).toBeLessThanOrEqual(60);
    expect(
      count(
        sessions.map((s) => s.status),
        429,
      ),
    ).toBe(300 - issued.length);
    expect(sessions.find((s) => s.status === 429)?.retryAfter).toMatch(/^\d+$/);

    // Every issued session sends at full speed: the address is capped, whichever visitors it claims to be.
    const sent = await Promise.all(
      issued.flatMap((s) => Array.from({ length: 5 }, (_, i) => send(acme, FLOODER, s.token as string, `flood ${i}`))),
    );
    const accepted = count(sent, 202);
    expect(accepted).toBeLessThanOrEqual(120);
    expect(count(sent, 429)).toBe(sent.length - accepted);

    // Meanwhile a neighbour on the same chat, and a visitor of another tenant, are answered.
    for (const [tenant, address] of [
      [acme, NEIGHBOUR],
      [globex, OTHER_TENANT_VISITOR],
    ] as const) {
      const visitor = await session(tenant, address);
      expect(visitor.status).toBe(200);
      const events = await openEvents(base(tenant), visitor.token as string);
      expect(await send(tenant, address, visitor.token as string, "are you still there?")).toBe(202);
      const reply = await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent", 30_000);
      expect(JSON.parse(reply.data).text).toContain("you said: are you still there?");
      events.close();
    }

    const memoryAfter = await redisUsedMemory();
    const bytesAfter = await inboundBytes();
    console.log(
      `flood: ${sessions.length} session requests → ${issued.length} issued; ${sent.length} messages → ${accepted} accepted; ` +
        `Redis used_memory ${memoryBefore} → ${memoryAfter} bytes (+${memoryAfter - memoryBefore}); ` +
        `JetStream ${STREAMS.inbound} ${bytesBefore} → ${bytesAfter} bytes`,
    );
  });

  it("caps the event streams one visitor may hold open in a process", async () => {
    const visitor = await session(globex, "192.0.2.99");
    const streams = [];
    for (let i = 0; i < 4; i++) streams.push(await openEvents(base(globex), visitor.token as string));
    const refused = await fetch(`${base(globex)}events`, {
      headers: { authorization: `Bearer ${visitor.token}`, "x-forwarded-for": "192.0.2.99" },
    });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: string }).error).toBe("rate_limited");
    for (const s of streams) s.close();
  });

  it("counts a client that is not behind a trusted proxy by its own address, whatever X-Forwarded-For it sends", async () => {
    // A gateway that trusts only a proxy the test is not: each request names a new address.
    const direct = await startWebchatGateway({
      db: db.app,
      natsUrl: nats.url,
      redisUrl: serverUrl("REDIS_ADMIN_URL"),
      trustedProxies: "192.0.2.1",
    });
    try {
      const tenant = await seedWebchatTenant(db.admin, { agentName: "Sam", agentRole: "Support", systemPrompt: "You are Sam." });
      const statuses = await Promise.all(
        Array.from({ length: 80 }, async (_, i) => {
          const response = await fetch(`${direct.url}/webchat/${tenant.connectionId}/session`, {
            method: "POST",
            headers: { "x-forwarded-for": `198.18.0.${i + 1}` },
          });
          await response.arrayBuffer();
          return response.status;
        }),
      );
      expect(count(statuses, 200)).toBe(60);
      expect(count(statuses, 429)).toBe(20);
    } finally {
      await direct.stop();
    }
  });
});
