import { randomBytes } from "node:crypto";
import type { RunningOperator } from "@konstruct/operator/runtime";
import { startTelegramApi, type TelegramApiDouble } from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSecret,
  eventually,
  getTenant,
  type OperatorEnvironment,
  runOperator,
  startEnvironment,
  TENANTS,
  type TenantObject,
  tenantManifest,
  waitReady,
} from "./harness.ts";

// The operator registers a Telegram channel's webhook (setWebhook with the connection's public URL
// and secret token) through the channel's `connect` hook, and removes it (deleteWebhook) when the
// channel or its Tenant goes: a real kube-apiserver, real PostgreSQL, the Bot API double.

const PUBLIC_BASE_URL = "https://konstruct.test/base";

let env: OperatorEnvironment;
let operator: RunningOperator & { close(): Promise<void> };
let telegram: TelegramApiDouble;

function bot(id: number) {
  return { id, token: `${id}:${randomBytes(12).toString("hex")}`, secret: randomBytes(16).toString("hex") };
}

async function tenantWithBot(name: string, b: ReturnType<typeof bot>, secret = b.secret): Promise<void> {
  const namespace = `konstruct-${name}`;
  await env.admin.request("POST", "/api/v1/namespaces", {
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { "konstruct.io/tenant": name } } },
  });
  await createSecret(env.admin, namespace, "bot", { botToken: b.token, webhookSecret: secret });
  await env.admin.request("POST", TENANTS, {
    body: tenantManifest(name, {
      namespace,
      reclaimPolicy: "Delete",
      channels: [{ name: "support-bot", type: "telegram", externalId: String(b.id), credentialsSecretRef: { name: "bot" } }],
    }),
  });
}

const condition = (t: TenantObject, type: string) => t.status?.conditions?.find((c) => c.type === type);
const calls = (token: string, method: string) => telegram.calls.filter((c) => c.token === token && c.method === method);

beforeAll(async () => {
  telegram = await startTelegramApi();
  env = await startEnvironment();
  operator = await runOperator(env, {
    resyncIntervalMs: 1_000,
    notReadyBackoff: { baseMs: 200, maxMs: 1_000 },
    channelServices: { publicBaseUrl: `${PUBLIC_BASE_URL}/`, apiUrls: { telegram: telegram.url } },
  });
});

afterAll(async () => {
  await operator?.close();
  await env?.stop();
  await telegram?.close();
});

describe("Telegram webhook registration", () => {
  it("sets the webhook once with the connection's URL and secret, again when the secret changes, and removes it with the channel", async () => {
    const b = bot(610_000_001);
    telegram.addBot(b.token, { id: b.id, username: "reg_one_bot" });
    await tenantWithBot("tg-one", b);
    const tenant = await waitReady(env.admin, "tg-one");
    const status = tenant.status?.channels?.[0];
    expect(status?.webhookPath).toBe(`/webhooks/telegram/${status?.connectionId}`);
    expect(telegram.webhooks.get(b.id)).toEqual({ url: `${PUBLIC_BASE_URL}${status?.webhookPath}`, secretToken: b.secret });
    expect(calls(b.token, "setWebhook")[0]?.args.allowed_updates).toEqual(["message"]);

    // Resyncs of an unchanged channel register nothing again.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(calls(b.token, "setWebhook")).toHaveLength(1);

    // A new secret in the Secret reaches Telegram (Secrets are not watched: the periodic resync sees it).
    const rotated = randomBytes(16).toString("hex");
    await createSecret(env.admin, "konstruct-tg-one", "bot", { botToken: b.token, webhookSecret: rotated });
    await eventually(async () => telegram.webhooks.get(b.id)?.secretToken === rotated, 15_000, "the rotated secret registered");
    expect(calls(b.token, "setWebhook")).toHaveLength(2);

    // The channel removed from the spec: its webhook goes with its row.
    await env.admin.request("PATCH", `${TENANTS}/tg-one`, { patch: "merge", body: { spec: { channels: [] } } });
    await eventually(async () => !telegram.webhooks.has(b.id), 15_000, "the webhook removed");
    expect(calls(b.token, "deleteWebhook")).toHaveLength(1);
    expect((await waitReady(env.admin, "tg-one")).status?.channels).toEqual([]);
  });

  it("refuses a webhook secret Telegram would refuse, naming the allowed characters, and calls Telegram for nothing", async () => {
    const b = bot(610_000_002);
    telegram.addBot(b.token, { id: b.id, username: "reg_two_bot" });
    await tenantWithBot("tg-bad-secret", b, "has spaces and a ü");
    const tenant = await eventually(
      async () => {
        const t = await getTenant(env.admin, "tg-bad-secret");
        return t.status?.channels?.[0]?.message ? t : undefined;
      },
      30_000,
      "the channel's message",
    );
    expect(condition(tenant, "Ready")?.status).toBe("False");
    expect(condition(tenant, "ChannelsReady")?.message).toMatch(
      /^support-bot: Secret konstruct-tg-bad-secret\/bot: webhookSecret/,
    );
    expect(tenant.status?.channels?.[0]?.message).toMatch(/webhookSecret must be 1 to 256 characters of A-Z a-z 0-9 _ -/);
    expect(tenant.status?.channels?.[0]?.message).not.toContain("has spaces");
    expect(telegram.calls.filter((c) => c.token === b.token)).toEqual([]);
  });

  it("reports a failing setWebhook as a condition with its reason and retries with backoff until it passes", async () => {
    const b = bot(610_000_003);
    telegram.addBot(b.token, { id: b.id, username: "reg_three_bot" });
    telegram.failNext(3, { status: 502, description: "Bad Gateway" }, "setWebhook");
    await tenantWithBot("tg-flaky", b);
    const failing = await eventually(
      async () => {
        const t = await getTenant(env.admin, "tg-flaky");
        return condition(t, "ChannelsReady")?.status === "False" ? t : undefined;
      },
      30_000,
      "ChannelsReady False",
    );
    expect(condition(failing, "ChannelsReady")).toMatchObject({ reason: "WebhookRegistrationFailed" });
    expect(condition(failing, "ChannelsReady")?.message).toMatch(/setWebhook for bot 610000003 with 502 Bad Gateway; retrying/);
    expect(condition(failing, "Ready")?.reason).toBe("WebhookRegistrationFailed");
    const ready = await waitReady(env.admin, "tg-flaky");
    expect(telegram.webhooks.get(b.id)?.url).toBe(`${PUBLIC_BASE_URL}${ready.status?.channels?.[0]?.webhookPath}`);
    expect(calls(b.token, "setWebhook").map((c) => c.status)).toEqual([502, 502, 502, 200]);
    expect(operator.isLeader()).toBe(true);
  });

  it("says why a revoked token cannot be registered, never showing the token", async () => {
    const b = bot(610_000_004);
    // The double does not know the token: Telegram answers 401 Unauthorized.
    await tenantWithBot("tg-revoked", b);
    const t = await eventually(
      async () => {
        const t = await getTenant(env.admin, "tg-revoked");
        return condition(t, "ChannelsReady")?.reason === "WebhookRegistrationFailed" ? t : undefined;
      },
      30_000,
      "WebhookRegistrationFailed",
    );
    expect(t.status?.channels?.[0]?.message).toMatch(/refused setWebhook for bot 610000004: 401 Unauthorized; .*botToken/);
    expect(t.status?.channels?.[0]?.message).not.toContain(b.token);
  });

  it("removes the webhook when the Tenant is deleted, but leaves a webhook that now points elsewhere", async () => {
    const mine = bot(610_000_005);
    const moved = bot(610_000_006);
    telegram.addBot(mine.token, { id: mine.id, username: "reg_five_bot" });
    telegram.addBot(moved.token, { id: moved.id, username: "reg_six_bot" });
    await tenantWithBot("tg-gone", mine);
    await tenantWithBot("tg-moved", moved);
    await waitReady(env.admin, "tg-gone");
    await waitReady(env.admin, "tg-moved");
    expect(telegram.webhooks.has(mine.id)).toBe(true);
    // Someone points the second bot at another installation.
    telegram.webhooks.set(moved.id, { url: "https://elsewhere.example/hook", secretToken: "x" });

    await env.admin.request("DELETE", `${TENANTS}/tg-gone`);
    await env.admin.request("DELETE", `${TENANTS}/tg-moved`);
    await eventually(async () => !telegram.webhooks.has(mine.id), 30_000, "the deleted Tenant's webhook removed");
    await eventually(
      async () => {
        const list = await env.admin.request<{ items: { metadata: { name: string } }[] }>("GET", TENANTS);
        return !list.items.some((t) => t.metadata.name === "tg-moved" || t.metadata.name === "tg-gone");
      },
      30_000,
      "both Tenants gone",
    );
    expect(telegram.webhooks.get(moved.id)?.url).toBe("https://elsewhere.example/hook");
    expect(calls(moved.token, "deleteWebhook")).toHaveLength(0);
  });
});
