import { randomUUID } from "node:crypto";
import { connectNats, type ReplyDelta, replyStreamSubject } from "@konstruct/core";
import {
  createTestDatabase,
  type OllamaDouble,
  type SseEvent,
  serverUrl,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Browser, chromium } from "playwright-core";
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

// Replies as they are written: the Ollama double streams one word a chunk, CHUNK_MS apart; the
// orchestrator (in-process) publishes deltas on core NATS; the gateway relays them to the
// visitor's event stream as `delta` events, and the reply itself follows as a `message`.

const CHUNK_MS = 60;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let db: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let gateway: WebchatGateway;
let acme: WebchatTenant;
let globex: WebchatTenant;
let admin: NatsConnection;

type Delta = { replyId: string; inReplyTo: string; attempt: string; offset: number; text: string };
const deltasOf = (events: SseEvent[]): Delta[] => events.filter((e) => e.event === "delta").map((e) => JSON.parse(e.data));

beforeAll(async () => {
  db = await createTestDatabase("webchat_stream");
  nats = await startTestNats();
  ollama = await startOllamaDouble({ chunkDelayMs: CHUNK_MS });
  acme = await seedWebchatTenant(db.admin, { agentName: "Ada", agentRole: "Support", systemPrompt: "You are Ada of Acme." });
  globex = await seedWebchatTenant(db.admin, {
    agentName: "Grace",
    agentRole: "Sales",
    systemPrompt: "You are Grace of Globex.",
  });
  const redisUrl = serverUrl("REDIS_ADMIN_URL");
  pipeline = await startPipeline({ natsUrl: nats.url, databaseUrl: db.appUrl, redisUrl, ollamaUrl: ollama.url });
  gateway = await startWebchatGateway({ db: db.app, natsUrl: nats.url, redisUrl });
  admin = await connectNats(nats.url, "webchat-stream-test");
});

afterAll(async () => {
  await admin?.close();
  await gateway?.stop();
  await pipeline?.stop();
  await ollama?.close();
  await nats?.stop();
  await db?.drop();
});

describe("web chat replies as they are written", () => {
  it("relays the reply piece by piece to the visitor's stream, then the reply itself — and to nobody else", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const neighbour = await newVisitor(gateway.url, acme.connectionId);
    const stranger = await newVisitor(gateway.url, globex.connectionId);
    const [events, neighbourEvents, strangerEvents] = await Promise.all([
      openEvents(visitor.base, visitor.token),
      openEvents(neighbour.base, neighbour.token),
      openEvents(stranger.base, stranger.token),
    ]);
    const clientMessageId = randomUUID();
    const question = "please tell me a rather long story about streams";
    expect((await sendMessage(visitor.base, visitor.token, question, { clientMessageId })).status).toBe(202);

    const first = await events.waitFor((e) => e.event === "delta");
    // The first piece is on screen while the model is still writing: the reply comes later.
    expect(events.messages().filter((m) => m.kind === "agent")).toEqual([]);
    const final = JSON.parse((await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent")).data);
    const deltas = deltasOf(events.events);
    expect(deltas.length).toBeGreaterThan(1);
    expect(JSON.parse(first.data)).toMatchObject({ offset: 0, inReplyTo: clientMessageId });
    for (const d of deltas)
      expect([d.replyId, d.attempt, d.inReplyTo]).toEqual([final.replyId, deltas[0]?.attempt, clientMessageId]);
    // Contiguous pieces of one attempt that add up to the reply; none after it.
    let text = "";
    for (const d of deltas) {
      expect(d.offset).toBe(text.length);
      text += d.text;
    }
    expect(text).toBe(final.text);
    expect(final.text).toContain(`you said: ${question}`);
    const finalIndex = events.events.findIndex((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
    expect(events.events.slice(finalIndex).filter((e) => e.event === "delta")).toEqual([]);

    // Another visitor of the same tenant and a visitor of another tenant saw none of it.
    await new Promise((r) => setTimeout(r, 200));
    expect(deltasOf(neighbourEvents.events)).toEqual([]);
    expect(deltasOf(strangerEvents.events)).toEqual([]);
    for (const s of [events, neighbourEvents, strangerEvents]) s.close();
  });

  it("takes a delta only from its own tenant's subject: a body naming another tenant's visitor is dropped", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const events = await openEvents(visitor.base, visitor.token);
    await events.waitFor((e) => e.event === "typing");
    const delta = (tenantId: string, text: string): ReplyDelta => ({
      replyId: `reply:webchat:${acme.externalId}:${randomUUID()}`,
      tenantId,
      channelType: "webchat",
      connectionId: acme.connectionId,
      target: {
        workspaceId: acme.externalId,
        channelId: visitor.visitorId,
        threadId: visitor.visitorId,
        inReplyToMessageId: `${visitor.visitorId}.m1`,
      },
      attempt: "1.1",
      offset: 0,
      text,
    });
    // Globex's subject with a body claiming Acme; Globex's subject and body aimed at Acme's visitor;
    // then the one that is Acme's own, which must arrive (so the first two could have).
    admin.publish(replyStreamSubject(globex.tenantId, "webchat"), JSON.stringify(delta(acme.tenantId, "forged body")));
    admin.publish(replyStreamSubject(globex.tenantId, "webchat"), JSON.stringify(delta(globex.tenantId, "other tenant")));
    admin.publish(replyStreamSubject(acme.tenantId, "webchat"), JSON.stringify({ ...delta(acme.tenantId, "x"), offset: -1 }));
    admin.publish(replyStreamSubject(acme.tenantId, "webchat"), JSON.stringify(delta(acme.tenantId, "genuine")));
    await admin.flush();
    await events.waitFor((e) => e.event === "delta");
    await new Promise((r) => setTimeout(r, 200));
    expect(deltasOf(events.events).map((d) => d.text)).toEqual(["genuine"]);
    events.close();
  });
});

describe("the web chat page while a reply is written (Debian chromium)", () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("shows the reply growing with a caret, then the reply itself in the same bubble", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    ollama.setChunkDelay(150);
    try {
      await page.goto(`${gateway.url}/webchat/${acme.connectionId}/`);
      await page.locator("#status[data-state=online]").waitFor();
      const input = page.getByLabel("Message to Ada");
      await input.fill("write slowly please");
      await input.press("Enter");

      const writing = page.locator(".msg-agent.writing .bubble");
      await writing.waitFor({ timeout: 15_000 });
      const partial = (await writing.textContent()) ?? "";
      expect(partial.length).toBeGreaterThan(0);
      expect(partial).not.toContain("you said: write slowly please");
      expect(await page.locator(".msg-agent[aria-busy=true]").count()).toBe(1);

      const done = page.locator(".msg-agent:not(.writing) .bubble");
      await done.waitFor({ timeout: 15_000 });
      expect(await done.textContent()).toContain("you said: write slowly please");
      expect((await done.textContent())?.startsWith(partial)).toBe(true);
      expect(await page.locator(".msg-agent").count()).toBe(1);
      expect(await page.locator(".msg-agent[aria-busy]").count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      ollama.setChunkDelay(CHUNK_MS);
      await context.close();
    }
  });
});
