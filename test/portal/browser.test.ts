import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger } from "@konstruct/core";
import { buildApp, CSRF_FIELD, createMetrics, createSignInThrottle, kubeAccess, ollamaModels } from "@konstruct/portal";
import { type OllamaDouble, startOllamaDouble, startTestNats, type TestNats } from "@konstruct/testkit";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
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
import { type InProcessPipeline, startPipeline } from "../pipeline/harness.ts";
import { serverUrl } from "../src/env.ts";
import { freePort } from "../src/pipeline.ts";
import { startWebchatGateway, type WebchatGateway } from "../webchat/support.ts";
import { grantContractRbac, impersonationRights } from "./kube-support.ts";
import { seedInvitation } from "./support.ts";

// A new owner's first visit, in Debian's Chromium, through the whole platform: the invitation
// link, a password, sign-in, an agent created through the real kube-apiserver (impersonating the
// owner) and made Ready by the real operator, the web chat opened from the channels page and
// answered by the real gateway, router and orchestrator (Ollama double), that conversation found
// in the history the pipeline wrote, usage moved by it; then the owner invites an admin and a
// member, and each sees what their role may and may not do.

const RESULTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PORTAL_USER = "konstruct-portal-browser-test";
const PASSPHRASE = "a long and memorable passphrase";
const MODELS = ["llama3.2:3b", "qwen2.5:0.5b"];

let env: OperatorEnvironment;
let operator: Awaited<ReturnType<typeof runOperator>>;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let gateway: WebchatGateway;
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

  // The message path over the rows the operator wrote: gateway (web chat), router, orchestrator.
  const redisUrl = serverUrl("REDIS_ADMIN_URL");
  nats = await startTestNats();
  ollama = await startOllamaDouble({ latencyMs: 300, chunkDelayMs: 20, models: MODELS });
  pipeline = await startPipeline({ natsUrl: nats.url, databaseUrl: env.database.appUrl, redisUrl, ollamaUrl: ollama.url });
  gateway = await startWebchatGateway({ db: env.database.app, natsUrl: nats.url, redisUrl });

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  portal = await buildApp({
    db: env.database.app,
    throttle: createSignInThrottle(redis, {
      perEmail: 5,
      perAddress: 50,
      windowSeconds: 60,
      keyPrefix: `test:portal-browser:${port}:`,
    }),
    kube: await kubeAccess({ KUBECONFIG: await env.plane.writeKubeconfigFor(PORTAL_USER) }),
    models: ollamaModels(ollama.url),
    metrics: createMetrics(),
    log: createLogger({ name: "portal-browser-test", level: process.env.PORTAL_TEST_LOG ?? "silent" }),
    publicUrl: base,
    gatewayUrl: gateway.url,
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
  await gateway?.stop();
  await pipeline?.stop();
  await ollama?.close();
  await nats?.stop();
  await operator?.close();
  await env?.stop();
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(RESULTS, `portal-${name}.png`), fullPage: true });
}

/** Opens an invitation link in a fresh browser context, joins with a name and {@link PASSPHRASE}. */
async function joinByInvitation(link: string, name: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  await page.goto(link);
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Password").fill(PASSPHRASE);
  await page.getByRole("button", { name: "Join" }).click();
  await page.waitForURL(`${base}/portal/agents`);
  return { context, page };
}

/** A form post made with the page's session and CSRF token but not through its forms, as a person tampering would. */
async function postWithSession(
  page: Page,
  path: string,
  fields: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const csrf = await page.locator(`input[name="${CSRF_FIELD}"]`).first().inputValue();
  const response = await page.request.post(`${base}${path}`, {
    form: { ...fields, [CSRF_FIELD]: csrf },
    headers: { origin: base },
    maxRedirects: 0,
  });
  return { status: response.status(), text: await response.text() };
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

    // The channels page links the web chat; the visitor's side is the gateway's page.
    await page.getByRole("link", { name: "Channels" }).click();
    const chatLink = page.getByRole("link", { name: /\/webchat\/[0-9a-f-]{36}\// });
    expect(await chatLink.count()).toBe(1);
    await shot(page, "5-channels");
    const chatUrl = (await chatLink.getAttribute("href")) as string;
    expect(chatUrl.startsWith(`${gateway.url}/webchat/`)).toBe(true);

    const visitor = await context.newPage();
    await visitor.goto(chatUrl);
    await expect.poll(() => visitor.locator("h1").textContent()).toBe("Ada Lovelace");
    await visitor.locator("#status[data-state=online]").waitFor();
    const input = visitor.getByLabel("Message to Ada Lovelace");
    await input.fill("Where is my parcel? It was due on Monday.");
    await input.press("Enter");
    const reply = visitor.locator(".msg-agent .bubble");
    await reply.waitFor({ timeout: 20_000 });
    // The model's whole answer, streamed in and then replaced by the final reply.
    await expect
      .poll(() => reply.textContent(), { timeout: 20_000 })
      .toMatch(/\[llama3\.2:3b\].*you said: Where is my parcel\? It was due on Monday\.$/);
    await visitor.screenshot({ path: join(RESULTS, "portal-6-webchat.png") });
    await visitor.close();

    // The pipeline wrote that exchange to the history: the portal lists it and finds it by search.
    await page.getByRole("link", { name: "Conversations" }).click();
    await eventually(
      async () => {
        await page.goto(`${base}/portal/conversations`);
        return (await page.locator("main").textContent())?.includes("Where is my parcel?");
      },
      20_000,
      "the web chat conversation in the portal",
    );
    await page.getByLabel("Search messages").fill("parcel monday");
    await page.getByRole("button", { name: "Show" }).click();
    // The visitor's message and the double's answer, which quotes it.
    expect(await page.locator("article").count()).toBe(2);
    expect(await page.locator("article").allTextContents()).toContainEqual(expect.stringContaining("It was due on Monday"));
    await shot(page, "7-search");
    await page.getByRole("link", { name: "open conversation" }).first().click();
    expect(await page.locator("article").count()).toBe(2);
    // The visitor gave no name: the page says which visitor, the reply which agent and model.
    expect(await page.locator("article").first().textContent()).toMatch(/^visitor [0-9a-f]{8} ·/);
    expect(await page.locator("article").nth(1).textContent()).toMatch(/Ada Lovelace[\s\S]*llama3\.2:3b/);
    await shot(page, "8-thread");

    // Usage moved by that one exchange: the agent's tokens as the orchestrator counted them.
    const counted = await eventually(
      async () => {
        const row = await env.db
          .selectFrom("token_usage")
          .select(["prompt_tokens", "completion_tokens"])
          .where("tenant_id", "=", tenantId)
          .executeTakeFirst();
        return row && row.prompt_tokens > 0 ? row : undefined;
      },
      20_000,
      "the reply's tokens counted",
    );
    await page.getByRole("link", { name: "Usage" }).click();
    expect(await page.locator("svg title").first().textContent()).toBe("Tokens per day");
    const today = new Date().toISOString().slice(0, 10);
    // One row per agent: its messages (the visitor's, addressed to it, and its reply) and tokens, under the name people see.
    expect(await page.locator("tbody tr").allTextContents()).toEqual([
      `${today}Ada Lovelace2${counted.prompt_tokens}${counted.completion_tokens}`,
    ]);
    await shot(page, "9-usage");

    // Keyboard: the skip link is the first stop and moves focus to the content.
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to content");

    // On a phone the pages fit the width.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${base}/portal/agents`);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(375);
    await shot(page, "10-phone");

    // The CSP blocked nothing the pages needed.
    expect(violations).toEqual([]);
    await context.close();
  }, 180_000);
  it("lets the owner invite an admin and a member, and each may do what their role allows and no more", async () => {
    const owner = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await owner.newPage();
    await page.goto(`${base}/portal/sign-in`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/portal/agents`);

    const invite = async (who: string, role: "admin" | "member"): Promise<string> => {
      await page.getByRole("link", { name: "People" }).click();
      await page.getByLabel("Email").fill(who);
      await page.getByLabel("Role", { exact: true }).selectOption(role);
      await page.getByRole("button", { name: "Create invitation link" }).click();
      expect(await page.getByRole("status").textContent()).toContain(`Invitation for ${who} (${role})`);
      return page.getByLabel("Invitation link").inputValue();
    };
    const adminLink = await invite("grace.admin@acme.example", "admin");
    await shot(page, "11-invitation-link");
    const memberLink = await invite("linus.member@acme.example", "member");
    expect(adminLink).not.toBe(memberLink);
    expect(await page.locator("main").textContent()).toContain("grace.admin@acme.example (admin), valid until");

    // The admin: agents and channels, not people.
    const admin = await joinByInvitation(adminLink, "Grace Admin");
    expect(await admin.page.getByRole("navigation", { name: "Sections" }).getByRole("link").allTextContents()).not.toContain(
      "People",
    );
    await admin.page.getByRole("link", { name: "Ada Lovelace" }).click();
    await admin.page.getByLabel("Persona").fill("You help Acme's customers. Always offer to track the parcel.");
    await admin.page.getByRole("button", { name: "Save changes" }).click();
    await admin.page.waitForURL(`${base}/portal/agents/ada`);
    await eventually(
      async () =>
        (
          await env.db.selectFrom("agents").select("system_prompt").where("name", "=", "ada").executeTakeFirst()
        )?.system_prompt.includes("Always offer to track the parcel"),
      30_000,
      "the admin's persona change reconciled into the agents row",
    );
    await admin.page.getByRole("link", { name: "Channels" }).click();
    expect(await admin.page.getByRole("button", { name: "Save origins" }).count()).toBe(1);
    await shot(admin.page, "12-admin-channels");
    const adminToPeople = await admin.page.goto(`${base}/portal/members`);
    expect(adminToPeople?.status()).toBe(403);
    expect(await admin.page.getByRole("alert").textContent()).toContain("Only owners manage people");
    await shot(admin.page, "13-admin-people-refused");
    expect((await postWithSession(admin.page, "/portal/members/invite", { email: "x@acme.example", role: "owner" })).status).toBe(
      403,
    );

    // The member: reads conversations and usage, changes nothing.
    const member = await joinByInvitation(memberLink, "Linus Member");
    expect(await member.page.getByRole("link", { name: "New agent" }).count()).toBe(0);
    await member.page.getByRole("link", { name: "Ada Lovelace" }).click();
    expect(await member.page.getByLabel("Persona").isDisabled()).toBe(true);
    expect(await member.page.getByRole("button", { name: /Delete/ }).count()).toBe(0);
    await shot(member.page, "14-member-agent-read-only");
    await member.page.getByRole("link", { name: "Channels" }).click();
    expect(await member.page.getByRole("button", { name: "Save origins" }).count()).toBe(0);
    await member.page.getByRole("link", { name: "Conversations" }).click();
    expect(await member.page.locator("main").textContent()).toContain("Where is my parcel?");
    await member.page.getByRole("link", { name: "Usage" }).click();
    expect(await member.page.locator("tbody tr").count()).toBeGreaterThan(0);
    await member.page.goto(`${base}/portal/agents/new`);
    expect(await member.page.getByLabel("Name", { exact: true }).isDisabled()).toBe(true);
    expect(await member.page.getByRole("status").textContent()).toContain("Your role can read agents but not change them");
    expect(await member.page.getByRole("button", { name: "Create agent" }).count()).toBe(0);
    // What the page does not offer, a tampered form does not do either.
    await member.page.evaluate("document.querySelector('main fieldset').disabled = false");
    await member.page.getByLabel("Name", { exact: true }).fill("mallory");
    await member.page.getByLabel("Display name").fill("Mallory");
    await member.page.getByLabel("Model", { exact: true }).fill("llama3.2:3b");
    const [refused] = await Promise.all([
      member.page.waitForResponse((r) => r.request().method() === "POST"),
      member.page.evaluate("document.querySelector('main form[action=\"/portal/agents\"]').requestSubmit()"),
    ]);
    expect(refused.status()).toBe(403);
    expect(await member.page.getByRole("alert").textContent()).toContain("can read agents and channels but not change them");
    await shot(member.page, "15-member-create-refused");
    expect((await postWithSession(member.page, "/portal/agents/ada/delete", {})).status).toBe(403);
    expect(await env.db.selectFrom("agents").select("name").where("tenant_id", "=", tenantId).execute()).toEqual([
      { name: "ada" },
    ]);
    const memberToPeople = await member.page.goto(`${base}/portal/members`);
    expect(memberToPeople?.status()).toBe(403);
    await shot(member.page, "16-member-people-refused");

    // The owner sees both, with their roles.
    await page.getByRole("link", { name: "People" }).click();
    const people = await page.locator("tbody").textContent();
    expect(people).toContain("grace.admin@acme.example");
    expect(people).toContain("linus.member@acme.example");
    expect(await page.locator("main").textContent()).toContain("No open invitations.");
    await shot(page, "17-people");
    await Promise.all([owner.close(), admin.context.close(), member.context.close()]);
  }, 180_000);
});
