import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { startTeamsApi } from "./double.ts";
import { normalizeTeamsActivity } from "./normalize.ts";
import { serviceUrlAllowList } from "./service-urls.ts";
import { createTeamsTokenSource, retryAfterMs, TeamsTokenError } from "./token.ts";

const appId = "5e1c1a7e-0000-4000-8000-00000000b07a";

function activity(extra: Record<string, unknown> = {}) {
  return {
    type: "message",
    id: "1700000000123",
    serviceUrl: "https://smba.trafficmanager.net/emea/",
    channelId: "msteams",
    from: { id: "29:ada", name: "Ada" },
    conversation: { id: "19:abc@thread.tacv2;messageid=1700000000001", conversationType: "channel" },
    recipient: { id: `28:${appId}`, name: "Helper" },
    text: "<at>Helper</at> where is <at>Grace</at>?",
    entities: [
      { type: "mention", text: "<at>Helper</at>", mentioned: { id: `28:${appId}`, name: "Helper" } },
      { type: "mention", text: "<at>Grace</at>", mentioned: { id: "29:grace", name: "Grace" } },
    ],
    ...extra,
  };
}

describe("normalizeTeamsActivity", () => {
  const options = { connectionId: randomUUID(), appId };

  it("takes the bot's mention out of the text and threads the answer under the channel thread", () => {
    const result = normalizeTeamsActivity(activity(), options);
    if (result.kind !== "message") throw new Error(result.reason);
    expect(result.message.content.text).toBe("where is <at>Grace</at>?");
    expect(result.message.content.mentionsBot).toBe(true);
    expect(result.message.content.mentions).toEqual([`28:${appId}`, "29:grace"]);
    expect(result.message.threadId).toBe("19:abc@thread.tacv2;messageid=1700000000001");
    expect(result.message.channel.isDirect).toBe(false);
    expect(result.message.channel.workspaceId).toBe(appId);
  });

  it("gives channel chatter without a mention a thread of its own", () => {
    const result = normalizeTeamsActivity(activity({ text: "lunch?", entities: [] }), options);
    if (result.kind !== "message") throw new Error(result.reason);
    expect(result.message.content.mentionsBot).toBe(false);
    expect(result.message.threadId).toBe("19:abc@thread.tacv2;messageid=1700000000001|1700000000123");
  });

  it("de-duplicates by activity within its conversation: equal ids in two conversations stay apart", () => {
    const a = normalizeTeamsActivity(activity(), options);
    const again = normalizeTeamsActivity(activity(), options);
    const other = normalizeTeamsActivity(activity({ conversation: { id: "a:personal", conversationType: "personal" } }), options);
    if (a.kind !== "message" || again.kind !== "message" || other.kind !== "message") throw new Error("ignored");
    expect(again.message.deliveryId).toBe(a.message.deliveryId);
    expect(other.message.deliveryId).not.toBe(a.message.deliveryId);
    expect(other.message.channel.isDirect).toBe(true);
  });

  it("ignores its own messages, other bots, other recipients and housekeeping", () => {
    const reason = (extra: Record<string, unknown>) => {
      const result = normalizeTeamsActivity(activity(extra), options);
      return result.kind === "ignored" ? result.reason : "message";
    };
    expect(reason({ from: { id: `28:${appId.toUpperCase()}` } })).toBe("own_message");
    expect(reason({ from: { id: "28:another-bot" } })).toBe("bot");
    expect(reason({ recipient: { id: "28:someone-else" } })).toBe("other_recipient");
    expect(reason({ type: "conversationUpdate" })).toBe("unsupported_activity");
    expect(reason({ text: "  " })).toBe("non_text");
  });
});

describe("serviceUrlAllowList", () => {
  const allowed = serviceUrlAllowList(["https://smba.trafficmanager.net", "https://*.botframework.com", "http://127.0.0.1:4100"]);

  it("allows listed origins and subdomains of a wildcard, nothing that merely looks alike", () => {
    expect(allowed("https://smba.trafficmanager.net/emea/")).toBe(true);
    expect(allowed("https://europe.botframework.com/")).toBe(true);
    expect(allowed("http://127.0.0.1:4100/")).toBe(true);
    expect(allowed("http://smba.trafficmanager.net/emea/")).toBe(false);
    expect(allowed("https://smba.trafficmanager.net.evil.example/")).toBe(false);
    expect(allowed("https://botframework.com/")).toBe(false);
    expect(allowed("https://evilbotframework.com/")).toBe(false);
    expect(allowed("https://user:pw@smba.trafficmanager.net/")).toBe(false);
    expect(allowed("http://127.0.0.1:4101/")).toBe(false);
    expect(allowed("not a url")).toBe(false);
  });

  it("refuses an entry that is not an origin", () => {
    expect(() => serviceUrlAllowList(["smba.trafficmanager.net"])).toThrow(/not an origin/);
  });
});

describe("createTeamsTokenSource", () => {
  it("reuses a token until shortly before it expires, and shares one fetch among concurrent callers", async () => {
    const bot = { appId, appPassword: "pw", appTenantId: null };
    const api = await startTeamsApi({ bots: [bot], tokenLifetimeSeconds: 3600 });
    try {
      let now = 1_000_000;
      const source = createTeamsTokenSource({ loginUrl: api.url, now: () => now });
      const [a, b] = await Promise.all([source.token(bot), source.token(bot)]);
      expect(a).toBe(b);
      now += 50 * 60_000;
      expect(await source.token(bot)).toBe(a);
      now += 6 * 60_000; // within five minutes of expiry
      expect(await source.token(bot)).not.toBe(a);
      expect(api.calls.filter((c) => c.kind === "token")).toHaveLength(2);
    } finally {
      await api.close();
    }
  });

  it("asks a single-tenant bot's own tenant, and says a wrong password is refused", async () => {
    const bot = { appId, appPassword: "pw", appTenantId: "contoso.onmicrosoft.com" };
    const api = await startTeamsApi({ bots: [{ appId, appPassword: "pw", tenant: "contoso.onmicrosoft.com" }] });
    try {
      const source = createTeamsTokenSource({ loginUrl: api.url });
      expect(await source.token(bot)).toMatch(/^teams-double-/);
      const wrong = source.token({ ...bot, appPassword: "nope" });
      await expect(wrong).rejects.toBeInstanceOf(TeamsTokenError);
      await expect(wrong).rejects.toMatchObject({ kind: "refused" });
    } finally {
      await api.close();
    }
  });

  it("reads Retry-After as seconds or a date", () => {
    expect(retryAfterMs("3")).toBe(3_000);
    expect(retryAfterMs(null)).toBe(1_000);
    expect(retryAfterMs(new Date(10_000 + 7_000).toUTCString(), 10_000)).toBeGreaterThanOrEqual(6_000);
  });
});
