import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger } from "@konstruct/core";
import { buildApp, createMetrics, createSignInThrottle, kubeAccess } from "@konstruct/portal";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  type OperatorEnvironment,
  runOperator,
  startEnvironment,
  TENANTS,
  tenantManifest,
  waitReady,
} from "../operator/harness.ts";
import { serverUrl } from "../src/env.ts";
import { freePort } from "../src/pipeline.ts";
import { grantContractRbac, impersonationRights } from "./kube-support.ts";
import { seedInvitation } from "./support.ts";

// A new owner's first visit, in Debian's Chromium: the invitation link, a password, sign-in,
// an agent created through the real kube-apiserver and made Ready by the real operator, the
// channels page, a conversation found by search, usage. The conversation rows are written by
// the test (the pipeline's history writer lives on another branch).

const RESULTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PORTAL_USER = "konstruct-portal-browser-test";

let env: OperatorEnvironment;
let operator: Awaited<ReturnType<typeof runOperator>>;
let portal: FastifyInstance;
let redis: Redis;
let base: string;
let browser: Browser;
let tenantId: string;
let namespace: string;
let invitationToken: string;
const email = "ada.owner@acme.example";

beforeAll(async () => {
  mkdirSync(RESULTS, { recursive: true });
  env = await startEnvironment();
  operator = await runOperator(env);
  await env.admin.request("POST", TENANTS, {
    body: tenantManifest("acme", {
      channels: [{ name: "support-chat", type: "webchat", externalId: "acme-web", allowedOrigins: ["https://www.acme.example"] }],
    }),
  });
  const tenant = await waitReady(env.admin, "acme", 60_000);
  tenantId = tenant.status?.tenantId as string;
  namespace = tenant.status?.namespace as string;
  await impersonationRights(env.admin, PORTAL_USER, await grantContractRbac(env.admin, { name: "acme", namespace }));
  invitationToken = await seedInvitation(env.db, tenantId, email, "owner");

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 2 });
  portal = await buildApp({
    db: env.database.app,
    throttle: createSignInThrottle(redis, {
      perEmail: 5,
      perAddress: 50,
      windowSeconds: 60,
      keyPrefix: `test:portal-browser:${port}:`,
    }),
    kube: await kubeAccess({ KUBECONFIG: await env.plane.writeKubeconfigFor(PORTAL_USER) }),
    models: { list: async () => ["llama3.2:3b", "qwen2.5:0.5b"] },
    metrics: createMetrics(),
    log: createLogger({ name: "portal-browser-test", level: process.env.PORTAL_TEST_LOG ?? "silent" }),
    publicUrl: base,
    gatewayUrl: "http://127.0.0.1:8080",
    lifetime: { idleMs: 3_600_000, absoluteMs: 3_600_000 },
  });
  await portal.listen({ port, host: "127.0.0.1" });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await portal?.close();
  redis?.disconnect();
  await operator?.close();
  await env?.stop();
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(RESULTS, `portal-${name}.png`), fullPage: true });
}

describe("the portal in a browser (Debian chromium)", () => {
  it("takes a new owner from the invitation link to a Ready agent, a conversation found by search, and usage", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
    });

    await page.goto(`${base}/portal/invitations/${invitationToken}`);
    await expect(page.getByText(email)).toBeTruthy();
    await page.getByLabel("Your name").fill("Ada Owner");
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Join" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("Check the highlighted fields");
    await shot(page, "1-invitation-error");
    await page.getByLabel("Password").fill("a long and memorable passphrase");
    await page.getByRole("button", { name: "Join" }).click();
    await page.waitForURL(`${base}/portal/agents`);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Agents");
    await shot(page, "2-agents-empty");

    // Sign out, then back in with the new password.
    await page.getByRole("button", { name: /Sign out/ }).click();
    await page.waitForURL(`${base}/portal/sign-in`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("a long and memorable passphrase");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/portal/agents`);

    await page.getByRole("link", { name: "New agent" }).click();
    await page.getByLabel("Name", { exact: true }).fill("ada");
    await page.getByLabel("Display name").fill("Ada Lovelace");
    await page.getByLabel("Role").fill("Support engineer");
    await page.getByLabel("Persona").fill("You help Acme's customers, briefly and kindly.");
    await page.getByLabel("Model", { exact: true }).fill("llama3.2:3b");
    await page.getByLabel(/Default agent/).check();
    await shot(page, "3-new-agent");
    await page.getByRole("button", { name: "Create agent" }).click();
    await page.waitForURL(`${base}/portal/agents/ada`);
    // The operator reconciles it; the page shows what it reported.
    await eventually(
      async () => {
        await page.goto(`${base}/portal/agents`);
        return (await page.locator("tbody").textContent())?.includes("Ready");
      },
      60_000,
      "the agent Ready on the agents page",
    );
    await shot(page, "4-agent-ready");
    const row = await env.db
      .selectFrom("agents")
      .select(["display_name", "is_default"])
      .where("name", "=", "ada")
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ display_name: "Ada Lovelace", is_default: true });

    await page.getByRole("link", { name: "Channels" }).click();
    const chatLink = page.getByRole("link", { name: /\/webchat\/[0-9a-f-]{36}\// });
    expect(await chatLink.count()).toBe(1);
    await shot(page, "5-channels");

    const agentId = (await env.db.selectFrom("agents").select("id").where("name", "=", "ada").executeTakeFirstOrThrow()).id;
    // What the pipeline's history writer records for a web chat exchange.
    const conversation = await env.db
      .insertInto("conversations")
      .values({
        tenant_id: tenantId,
        channel_type: "webchat",
        connection_name: "support-chat",
        thread_key: "visitor-1",
        subject: "Where is my parcel?",
        started_at: new Date(),
        last_message_at: new Date(),
        message_count: 2,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await env.db
      .insertInto("conversation_messages")
      .values([
        {
          tenant_id: tenantId,
          conversation_id: conversation.id,
          message_key: "m1",
          direction: "inbound",
          sender_name: "Visitor",
          text: "Where is my parcel? It was due on Monday.",
          created_at: new Date(Date.now() - 2000),
        },
        {
          tenant_id: tenantId,
          conversation_id: conversation.id,
          message_key: "m2",
          direction: "reply",
          agent_id: agentId,
          agent_name: "Ada Lovelace",
          model: "llama3.2:3b",
          prompt_tokens: 120,
          completion_tokens: 30,
          latency_ms: 850,
          text: "Sorry for the delay: your parcel ships tomorrow.",
          created_at: new Date(),
        },
      ])
      .execute();
    await env.db
      .insertInto("token_usage")
      .values({
        tenant_id: tenantId,
        agent_id: agentId,
        day: new Date().toISOString().slice(0, 10),
        prompt_tokens: 120,
        completion_tokens: 30,
      })
      .execute();

    await page.getByRole("link", { name: "Conversations" }).click();
    await page.getByLabel("Search messages").fill("parcel monday");
    await page.getByRole("button", { name: "Show" }).click();
    expect(await page.locator("article").count()).toBe(1);
    expect(await page.locator("article").textContent()).toContain("It was due on Monday");
    await shot(page, "6-search");
    await page.getByRole("link", { name: "open conversation" }).click();
    expect(await page.locator("article").count()).toBe(2);
    await shot(page, "7-thread");

    await page.getByRole("link", { name: "Usage" }).click();
    expect(await page.locator("svg title").first().textContent()).toBe("Tokens per day");
    expect(await page.locator("main").textContent()).toContain("150");
    // One row per agent: its tokens and its messages together, under the name people see.
    expect(await page.locator("tbody tr").allTextContents()).toEqual(
      ["2026-11-30Ada Lovelace112030", "2026-11-30(people)100"].map((r) =>
        r.replaceAll("2026-11-30", new Date().toISOString().slice(0, 10)),
      ),
    );
    await shot(page, "8-usage");

    // Keyboard: the skip link is the first stop and moves focus to the content.
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to content");

    // On a phone the pages fit the width.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${base}/portal/agents`);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(375);
    await shot(page, "9-phone");

    // The CSP blocked nothing the pages needed.
    expect(violations).toEqual([]);
    await context.close();
  }, 180_000);
});
