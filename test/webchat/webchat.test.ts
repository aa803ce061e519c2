import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSessionSigner } from "@konstruct/channels/gateway";
import {
  createTestDatabase,
  type OllamaDouble,
  serverUrl,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InProcessPipeline, startPipeline } from "../pipeline/harness.ts";
import {
  newVisitor,
  openEvents,
  seedWebchatTenant,
  sendMessage,
  startWebchatGateway,
  TEST_SESSION_SECRET,
  type WebchatGateway,
  type WebchatTenant,
} from "./support.ts";

// The web chat end to end: a gateway serving the web chat, the real router and orchestrator
// (in-process) over a private NATS, real PostgreSQL and Redis, and the Ollama double.

const RESULTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const RATE_LIMIT = 6;

let db: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let gateway: WebchatGateway;
let acme: WebchatTenant;
let globex: WebchatTenant;
// A page on another origin that embeds acme's chat (allowed) and one that is not allowed.
let allowedSite: Server;
let allowedOrigin: string;

async function startSite(): Promise<{ server: Server; origin: string }> {
  let html = "";
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  // `localhost` is another site than the gateway's 127.0.0.1: the iframe runs cross-site, without cookies.
  const origin = `http://localhost:${port}`;
  Object.defineProperty(server, "setHtml", { value: (value: string) => (html = value) });
  return { server, origin };
}

const setHtml = (server: Server, html: string) => (server as unknown as { setHtml(v: string): void }).setHtml(html);

beforeAll(async () => {
  db = await createTestDatabase("webchat");
  nats = await startTestNats();
  ollama = await startOllamaDouble({ latencyMs: 600 });
  const site = await startSite();
  allowedSite = site.server;
  allowedOrigin = site.origin;
  acme = await seedWebchatTenant(db.admin, {
    agentName: "Ada Lovelace",
    agentRole: "Customer support",
    systemPrompt: "You are Ada of Acme.",
    allowedOrigins: [allowedOrigin, "https://www.acme.example"],
  });
  globex = await seedWebchatTenant(db.admin, {
    agentName: "Grace",
    agentRole: "Sales assistant",
    systemPrompt: "You are Grace of Globex.",
  });
  const redisUrl = serverUrl("REDIS_ADMIN_URL");
  pipeline = await startPipeline({ natsUrl: nats.url, databaseUrl: db.appUrl, redisUrl, ollamaUrl: ollama.url });
  gateway = await startWebchatGateway({
    db: db.app,
    natsUrl: nats.url,
    redisUrl,
    settings: { rate: { messages: RATE_LIMIT, windowMs: 60_000 } },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await pipeline?.stop();
  await ollama?.close();
  await nats?.stop();
  await new Promise((resolve) => allowedSite?.close(resolve));
  await db?.drop();
});

describe("web chat over HTTP", () => {
  it("takes a visitor's message through router and orchestrator and streams the agent's reply", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const events = await openEvents(visitor.base, visitor.token);
    const sent = await sendMessage(visitor.base, visitor.token, "What are your opening hours?");
    expect(sent.status).toBe(202);

    await events.waitFor((e) => e.event === "typing" && JSON.parse(e.data).typing === true);
    const reply = await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
    expect(JSON.parse(reply.data).text).toContain("| history=0 | you said: What are your opening hours?");
    await events.waitFor((e) => e.event === "typing" && JSON.parse(e.data).typing === false);
    events.close();
  });

  it("keeps memory per visitor thread: the second message sees the first turn", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const events = await openEvents(visitor.base, visitor.token);
    await sendMessage(visitor.base, visitor.token, "first");
    await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).text.includes("you said: first"));
    await sendMessage(visitor.base, visitor.token, "second");
    const second = await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).text.includes("you said: second"));
    expect(JSON.parse(second.data).text).toContain("history=2");
    events.close();
  });

  it("never shows one visitor's messages to another, within a tenant or across tenants", async () => {
    const a1 = await newVisitor(gateway.url, acme.connectionId);
    const a2 = await newVisitor(gateway.url, acme.connectionId);
    const g1 = await newVisitor(gateway.url, globex.connectionId);
    const visitors = [
      { v: a1, secret: "alpha-one-secret" },
      { v: a2, secret: "alpha-two-secret" },
      { v: g1, secret: "globex-one-secret" },
    ];
    const streams = await Promise.all(visitors.map(({ v }) => openEvents(v.base, v.token)));
    for (const { v, secret } of visitors) expect((await sendMessage(v.base, v.token, secret)).status).toBe(202);
    for (const [i, { secret }] of visitors.entries()) {
      await streams[i]?.waitFor((e) => e.event === "message" && JSON.parse(e.data).text.includes(`you said: ${secret}`));
    }
    // Each live stream, and a fresh replay of each conversation, holds only its own two entries.
    for (const [i, { v, secret }] of visitors.entries()) {
      const replay = await openEvents(v.base, v.token);
      await replay.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
      for (const stream of [streams[i], replay]) {
        const texts = stream?.messages().map((m) => m.text) ?? [];
        expect(texts).toHaveLength(2);
        for (const other of visitors.filter((o) => o.secret !== secret)) {
          expect(texts.join("\n")).not.toContain(other.secret);
        }
      }
      replay.close();
      streams[i]?.close();
    }
    expect(acme.tenantId).not.toBe(globex.tenantId);
    expect(g1.visitorId).not.toBe(a1.visitorId);
    // A session of one tenant's chat opens nothing on another's.
    const crossed = await fetch(`${g1.base}events`, { headers: { authorization: `Bearer ${a1.token}` } });
    expect(crossed.status).toBe(401);
    expect(await crossed.json()).toMatchObject({ error: "session_invalid" });
  });

  it("replays the reply missed while the event stream was down, from Last-Event-ID", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const first = await openEvents(visitor.base, visitor.token);
    await sendMessage(visitor.base, visitor.token, "are you there?");
    const echo = await first.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "visitor");
    first.close();
    expect(first.messages().some((m) => m.kind === "agent")).toBe(false);

    // The reply lands while no stream is open.
    const key = `${acme.tenantId}:webchat:${acme.connectionId}:${visitor.visitorId}`;
    const deadline = Date.now() + 20_000;
    while ((await gateway.redis.xlen(key)) < 2) {
      if (Date.now() > deadline) throw new Error("the reply never reached the conversation stream");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const resumed = await openEvents(visitor.base, visitor.token, echo.id ?? undefined);
    const missed = await resumed.waitFor((e) => e.event === "message");
    expect(JSON.parse(missed.data)).toMatchObject({ kind: "agent" });
    expect(JSON.parse(missed.data).text).toContain("you said: are you there?");
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Exactly what was missed: the echo before Last-Event-ID is not sent again.
    expect(resumed.messages()).toHaveLength(1);
    resumed.close();
  });

  it("accepts a retried message once: same clientMessageId, one entry, one reply", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const first = await sendMessage(visitor.base, visitor.token, "only once", { clientMessageId: "retry-0001" });
    const again = await sendMessage(visitor.base, visitor.token, "only once", { clientMessageId: "retry-0001" });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ duplicate: true });
    const events = await openEvents(visitor.base, visitor.token);
    await events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(events.messages().map((m) => m.kind)).toEqual(["visitor", "agent"]);
    events.close();
  });
});

describe("web chat input checks", () => {
  it("rejects an oversized message with 413 and says the limit", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const response = await sendMessage(visitor.base, visitor.token, "x".repeat(4_001));
    expect(response.status).toBe(413);
    const body = (await response.json()) as { error: string; message: string };
    expect(body.error).toBe("message_too_long");
    expect(body.message).toContain("at most 4000 characters");
    // A body far beyond any message is cut off by the parser, still with a readable error.
    const huge = await fetch(`${visitor.base}messages`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${visitor.token}` },
      body: JSON.stringify({ clientMessageId: "huge-000001", text: "y".repeat(200_000) }),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: "payload_too_large" });
  });

  it("rejects a forged, an expired and a missing session with 401 and a clear error", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const [version, payload, mac] = visitor.token.split(".");
    // Another visitor id in the payload, the original MAC: what someone reading another's chat would try.
    const claims = JSON.parse(Buffer.from(payload as string, "base64url").toString("utf8"));
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, v: crypto.randomUUID() })).toString("base64url");
    const forged = `${version}.${forgedPayload}.${mac}`;
    const expired = createSessionSigner(Buffer.from(TEST_SESSION_SECRET)).issue(
      acme.connectionId,
      Date.now() - 3 * 86_400_000,
    ).token;

    for (const [token, code] of [
      [forged, "session_invalid"],
      [`${visitor.token}x`, "session_invalid"],
      [expired, "session_expired"],
    ] as const) {
      const post = await sendMessage(visitor.base, token, "hello");
      expect(post.status).toBe(401);
      const body = (await post.json()) as { error: string; message: string };
      expect(body.error).toBe(code);
      expect(body.message).toMatch(/reload the chat page/);
      expect((await fetch(`${visitor.base}events`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    }
    const none = await fetch(`${visitor.base}messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ clientMessageId: "nosession-1", text: "hi" }),
    });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: "session_missing" });
  });

  it("rejects a disallowed origin with 403 and serves CORS to an allowed one", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const denied = await sendMessage(visitor.base, visitor.token, "hi", { origin: "https://evil.example" });
    expect(denied.status).toBe(403);
    const body = (await denied.json()) as { error: string; message: string };
    expect(body.error).toBe("origin_not_allowed");
    expect(body.message).toContain("https://evil.example");
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();

    const allowed = await sendMessage(visitor.base, visitor.token, "hi from the shop", { origin: "https://www.acme.example" });
    expect(allowed.status).toBe(202);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://www.acme.example");
    const preflight = await fetch(`${visitor.base}messages`, {
      method: "OPTIONS",
      headers: { origin: "https://www.acme.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    // Globex lists no origins: acme's shop cannot call it.
    const other = await newVisitor(gateway.url, globex.connectionId);
    expect((await sendMessage(other.base, other.token, "hi", { origin: "https://www.acme.example" })).status).toBe(403);
    // The page itself may be framed only by the gateway and the allowed origins.
    const page = await fetch(visitor.base);
    expect(page.headers.get("content-security-policy")).toContain(
      `frame-ancestors 'self' ${allowedOrigin} https://www.acme.example`,
    );
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("limits the rate per visitor with 429 and Retry-After, without touching other visitors", async () => {
    const visitor = await newVisitor(gateway.url, globex.connectionId);
    const statuses: number[] = [];
    for (let i = 0; i <= RATE_LIMIT; i++) statuses.push((await sendMessage(visitor.base, visitor.token, `burst ${i}`)).status);
    expect(statuses.slice(0, RATE_LIMIT).every((s) => s === 202)).toBe(true);
    const limited = await sendMessage(visitor.base, visitor.token, "one more");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await limited.json()).toMatchObject({ error: "rate_limited" });
    const neighbour = await newVisitor(gateway.url, globex.connectionId);
    expect((await sendMessage(neighbour.base, neighbour.token, "hello")).status).toBe(202);
  });

  it("answers bad input with clear errors and unknown chats with 404", async () => {
    const visitor = await newVisitor(gateway.url, acme.connectionId);
    const empty = await sendMessage(visitor.base, visitor.token, "   ");
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ error: "message_invalid", message: "Write a message before sending." });
    const form = await fetch(`${visitor.base}messages`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${visitor.token}` },
      body: "text=hi",
    });
    expect(form.status).toBe(415);
    const unknown = await fetch(`${gateway.url}/webchat/00000000-0000-4000-8000-000000000000/`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain("This chat is not available");
  });
});

describe("web chat in a browser (Debian chromium)", () => {
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("opens the page, sends a message with the keyboard and shows the agent's reply", async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 720 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    ollama.setLatency(1_500);
    try {
      await page.goto(`${gateway.url}/webchat/${acme.connectionId}/`);
      await expect.poll(() => page.locator("h1").textContent()).toBe("Ada Lovelace");
      expect(await page.locator(".role").textContent()).toBe("Customer support");
      await page.locator("#status[data-state=online]").waitFor();

      const input = page.getByLabel("Message to Ada Lovelace");
      await input.fill("Hello Ada, can you help me with my order?");
      await input.press("Enter");

      await page.locator("#typing.active").waitFor({ timeout: 10_000 });
      expect(await page.locator("#typing-text").textContent()).toBe("Ada Lovelace is typing…");
      const reply = page.locator(".msg-agent .bubble");
      await reply.waitFor({ timeout: 20_000 });
      expect(await reply.textContent()).toContain("you said: Hello Ada, can you help me with my order?");
      await page.locator("#typing:not(.active)").waitFor();
      expect(await page.locator("[role=log] .msg").count()).toBe(2);
      await page.screenshot({ path: join(RESULTS, "webchat-round-trip.png") });

      // A reload keeps the conversation (the session comes back from the cookie).
      await page.reload();
      await page.locator(".msg-agent .bubble").waitFor();
      expect(await page.locator("[role=log] .msg").count()).toBe(2);

      // The page's own limit check speaks before the server's.
      await input.fill("z".repeat(4_001));
      await input.press("Enter");
      await expect.poll(() => page.locator("#error-text").textContent()).toContain("at most 4000 characters");
      await page.screenshot({ path: join(RESULTS, "webchat-error.png") });
      expect(errors).toEqual([]);
    } finally {
      ollama.setLatency(600);
      await context.close();
    }
  });

  it("keeps what a visitor types while the chat connects, and sends it once connected", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // A slow session start: the visitor types and presses Enter before the chat is ready.
    await page.route("**/session", async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await route.continue();
    });
    try {
      await page.goto(`${gateway.url}/webchat/${acme.connectionId}/`);
      await page.keyboard.type("Hi Ada, can you reset my password?");
      await page.keyboard.press("Enter");
      const mine = page.locator(".msg-visitor .bubble");
      await mine.waitFor({ timeout: 15_000 });
      expect(await mine.textContent()).toBe("Hi Ada, can you reset my password?");
      await page.locator(".msg-agent .bubble").waitFor({ timeout: 20_000 });
      expect(await page.locator(".msg-agent .bubble").textContent()).toContain("you said: Hi Ada, can you reset my password?");
      expect(await page.locator(".msg-visitor").count()).toBe(1);
    } finally {
      await context.close();
    }
  });

  it("embeds on an allowed site as a launcher and an iframe that chats without cookies", async () => {
    setHtml(
      allowedSite,
      `<!doctype html><html><head><title>Acme shop</title></head><body><h1>Acme shop</h1>
       <script src="${gateway.url}/webchat/${acme.connectionId}/embed.js" async></script></body></html>`,
    );
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const page = await context.newPage();
    try {
      await page.goto(`${allowedOrigin}/`);
      const launcher = page.getByRole("button", { name: "Chat with Ada Lovelace" });
      await launcher.click();
      expect(await launcher.getAttribute("aria-expanded")).toBe("true");
      const frame = page.frameLocator("iframe[title='Chat with Ada Lovelace']");
      await frame.locator("#status[data-state=online]").waitFor({ timeout: 15_000 });
      const input = frame.getByLabel("Message to Ada Lovelace");
      await input.fill("Do you ship to Lisbon?");
      await input.press("Enter");
      await frame.locator(".msg-agent .bubble").waitFor({ timeout: 20_000 });
      expect(await frame.locator(".msg-agent .bubble").textContent()).toContain("you said: Do you ship to Lisbon?");
      await page.screenshot({ path: join(RESULTS, "webchat-embed.png") });
    } finally {
      await context.close();
    }
  });

  it("shows no launcher on a site that is not an allowed origin, and the page refuses to be framed there", async () => {
    const { server, origin } = await startSite();
    setHtml(
      server,
      `<!doctype html><html><body><h1>Not Acme</h1>
       <script src="${gateway.url}/webchat/${acme.connectionId}/embed.js"></script>
       <iframe id="direct" title="direct" src="${gateway.url}/webchat/${acme.connectionId}/"></iframe></body></html>`,
    );
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${origin}/`);
      await page.waitForTimeout(1_500);
      expect(await page.getByRole("button", { name: /Chat with/ }).count()).toBe(0);
      // frame-ancestors blocked the page: the frame holds no chat.
      const frame = page.frames().find((f) => f.url().includes("/webchat/"));
      const heading = frame ? await frame.locator("h1").count() : 0;
      expect(heading).toBe(0);
    } finally {
      await context.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
