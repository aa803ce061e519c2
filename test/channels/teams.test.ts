import { randomBytes, randomUUID } from "node:crypto";
import { type Database, parseSecretKey } from "@konstruct/core";
import { startTeamsApi, type TeamsApiDouble, type TeamsReply } from "@konstruct/testkit";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChannelGateway,
  type ChannelWorld,
  counterValue,
  inboundLastSeq,
  seedChannelTenant,
  startChannelGateway,
  startChannelWorld,
  waitFor,
} from "./support.ts";

// Microsoft Teams end to end: the gateway's Teams channel (messaging endpoint and outbound
// worker), the real router and orchestrator in-process over a private NATS, real PostgreSQL and
// Redis, the Ollama double answering, and the Bot Framework double signing activity tokens with
// a generated RSA key, issuing client-credentials tokens and receiving Connector API replies.

const SECRET_KEY = parseSecretKey(randomBytes(32).toString("base64"));
// The key set is fetched again for an unknown key id at most once per this long.
const KEYS_COOLDOWN_MS = 3_000;

interface TeamsTenant {
  tenantId: string;
  connectionId: string;
  appId: string;
  appPassword: string;
  prompt: string;
}

let teams: TeamsApiDouble;
let world: ChannelWorld;
let gateway: ChannelGateway;
let acme: TeamsTenant;
let globex: TeamsTenant;
let nextActivity = 1_700_000_000_000;

async function seedTeamsTenant(admin: Kysely<Database>, name: string): Promise<TeamsTenant> {
  const tenantId = randomUUID();
  const tenant: TeamsTenant = {
    tenantId,
    connectionId: randomUUID(),
    appId: randomUUID(),
    appPassword: randomBytes(24).toString("base64url"),
    prompt: `You are ${name} helper,`,
  };
  await seedChannelTenant(admin, SECRET_KEY, name, {
    type: "teams",
    tenantId: tenant.tenantId,
    connectionId: tenant.connectionId,
    externalId: tenant.appId,
    credentials: { appPassword: tenant.appPassword },
  });
  return tenant;
}

function startTeamsGateway(): Promise<ChannelGateway> {
  return startChannelGateway(world, {
    type: "teams",
    secretKey: SECRET_KEY,
    settings: {
      teams: {
        openIdMetadataUrl: teams.openIdMetadataUrl,
        loginUrl: teams.url,
        serviceUrls: [teams.url],
        keysRefetchCooldownMs: KEYS_COOLDOWN_MS,
      },
    },
  });
}

beforeAll(async () => {
  world = await startChannelWorld("teams");
  acme = await seedTeamsTenant(world.db.admin, "acme");
  globex = await seedTeamsTenant(world.db.admin, "globex");
  teams = await startTeamsApi({
    bots: [
      { appId: acme.appId, appPassword: acme.appPassword },
      { appId: globex.appId, appPassword: globex.appPassword },
    ],
  });
  gateway = await startTeamsGateway();
});

afterAll(async () => {
  await gateway?.stop();
  await teams?.close();
  await world?.stop();
});

// --- helpers -------------------------------------------------------------------------------

const person = { id: "29:1-ada-aad", name: "Ada Lovelace", aadObjectId: randomUUID() };

function personalActivity(tenant: TeamsTenant, text: string, conversationId: string, extra: Record<string, unknown> = {}) {
  return {
    type: "message",
    id: String(nextActivity++),
    timestamp: new Date().toISOString(),
    serviceUrl: teams.url,
    channelId: "msteams",
    from: person,
    conversation: { id: conversationId, conversationType: "personal", tenantId: "entra-tenant" },
    recipient: { id: `28:${tenant.appId}`, name: "Helper" },
    text,
    textFormat: "plain",
    ...extra,
  };
}

function channelActivity(tenant: TeamsTenant, text: string, conversationId: string, mention: boolean) {
  const at = "<at>Helper</at>";
  return {
    type: "message",
    id: String(nextActivity++),
    timestamp: new Date().toISOString(),
    serviceUrl: teams.url,
    channelId: "msteams",
    from: person,
    conversation: { id: conversationId, conversationType: "channel", isGroup: true, tenantId: "entra-tenant" },
    recipient: { id: `28:${tenant.appId}`, name: "Helper" },
    text: mention ? `${at} ${text}` : text,
    entities: mention ? [{ type: "mention", text: at, mentioned: { id: `28:${tenant.appId}`, name: "Helper" } }] : [],
  };
}

async function deliver(tenant: TeamsTenant, body: unknown, token: string | null) {
  const response = await fetch(`${gateway.url}/webhooks/teams/${tenant.connectionId}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

const tokenFor = (tenant: TeamsTenant, extra: Partial<Parameters<TeamsApiDouble["activityToken"]>[0]> = {}) =>
  teams.activityToken({ appId: tenant.appId, serviceUrl: teams.url, ...extra });

async function send(tenant: TeamsTenant, activity: unknown) {
  return deliver(tenant, activity, await tokenFor(tenant));
}

const repliesIn = (tenant: TeamsTenant, conversationId: string): TeamsReply[] =>
  teams.replies({ conversationId, appId: tenant.appId });

const replyTo = (tenant: TeamsTenant, conversationId: string, activityId: string) =>
  waitFor(`a reply to activity ${activityId}`, () =>
    repliesIn(tenant, conversationId).find((r) => r.replyToActivityId === activityId),
  );

const fetches = (kind: "metadata" | "keys" | "token") => teams.calls.filter((c) => c.kind === kind).length;

// --- tests ---------------------------------------------------------------------------------

describe("Teams token verification", () => {
  it("refuses a missing, forged, expired, wrong-audience, wrong-issuer or other bot's token with 401 before reading the body", async () => {
    const before = await inboundLastSeq(gateway);
    const activity = personalActivity(acme, "let me in", "a:conv-refused");
    const tokens: [string, string | null][] = [
      ["missing", null],
      ["not a JWT", "not-a-jwt"],
      ["forged signature", await tokenFor(acme, { forged: true })],
      ["expired", await tokenFor(acme, { expiresIn: -600 })],
      ["wrong audience", await tokenFor(acme, { audience: randomUUID() })],
      ["other bot's token", await tokenFor(globex)],
      ["wrong issuer", await tokenFor(acme, { issuer: "https://sts.example.com/" })],
    ];
    for (const [what, token] of tokens) {
      const result = await deliver(acme, activity, token);
      expect(result.status, what).toBe(401);
      expect(JSON.parse(result.text)).toEqual({ error: "unauthorized" });
    }
    // Not JSON at all: the token alone decides, so the parser never ran.
    expect((await deliver(acme, "{not json", await tokenFor(acme, { forged: true }))).status).toBe(401);
    // A valid token lifted onto an activity naming another service URL is refused too.
    const elsewhere = { ...activity, serviceUrl: "https://smba.trafficmanager.net/emea/" };
    expect((await deliver(acme, elsewhere, await tokenFor(acme))).status).toBe(401);
    // An unknown connection answers exactly like a bad token.
    const unknown = await fetch(`${gateway.url}/webhooks/teams/${randomUUID()}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await tokenFor(acme)}` },
      body: JSON.stringify(activity),
    });
    expect(unknown.status).toBe(401);
    expect(await inboundLastSeq(gateway)).toBe(before);
    expect(teams.replies()).toHaveLength(0);
    expect(await counterValue(gateway, "webhooks", { channel: "teams", result: "unauthorized" })).toBeGreaterThanOrEqual(10);
  });
});

describe("Teams personal chats", () => {
  it("answers a verified message exactly once, from the right tenant's agent, also when the Bot Framework redelivers it", async () => {
    const conversation = "a:1personal-acme-ada";
    const activity = personalActivity(acme, "what is our refund policy?", conversation);
    expect((await send(acme, activity)).status).toBe(200);
    expect((await send(acme, activity)).status).toBe(200); // the Bot Framework's retry: same activity id
    const reply = await replyTo(acme, conversation, activity.id);
    expect(reply.text).toContain(acme.prompt);
    expect(reply.text).toContain("you said: what is our refund policy?");
    expect(reply.activity.replyToId).toBe(activity.id);
    expect(await counterValue(gateway, "webhooks", { channel: "teams", result: "duplicate" })).toBeGreaterThanOrEqual(1);

    const later = personalActivity(acme, "thanks", conversation);
    await send(acme, later);
    const second = await replyTo(acme, conversation, later.id);
    expect(second.text).toContain("history=2");
    expect(repliesIn(acme, conversation).filter((r) => r.replyToActivityId === activity.id)).toHaveLength(1);
    // One client-credentials token served both replies.
    expect(teams.calls.filter((c) => c.kind === "token" && c.appId === acme.appId && c.status === 200)).toHaveLength(1);
  });

  it("gives the bot's own messages, other bots and housekeeping activities no answer", async () => {
    const conversation = "a:1personal-acme-bots";
    const own = personalActivity(acme, "I am the bot", conversation, { from: { id: `28:${acme.appId}`, name: "Helper" } });
    const otherBot = personalActivity(acme, "I am another bot", conversation, {
      from: { id: `28:${randomUUID()}`, name: "Bot" },
    });
    const update = { ...personalActivity(acme, "", conversation), type: "conversationUpdate", membersAdded: [person] };
    const before = await inboundLastSeq(gateway);
    for (const activity of [own, otherBot, update]) expect((await send(acme, activity)).status).toBe(200);
    expect(await inboundLastSeq(gateway)).toBe(before);
    expect(await counterValue(gateway, "webhooks", { channel: "teams", result: "ignored_own_message" })).toBe(1);
    expect(await counterValue(gateway, "webhooks", { channel: "teams", result: "ignored_bot" })).toBe(1);
    expect(await counterValue(gateway, "webhooks", { channel: "teams", result: "ignored_unsupported_activity" })).toBe(1);

    const question = personalActivity(acme, "hello", conversation);
    await send(acme, question);
    await replyTo(acme, conversation, question.id);
    expect(repliesIn(acme, conversation)).toHaveLength(1);
  });

  it("waits out a 429's Retry-After, then posts once", async () => {
    const conversation = "a:1personal-acme-429";
    teams.failNext(1, { status: 429, retryAfter: 2 }, "reply");
    const activity = personalActivity(acme, "are you busy?", conversation);
    await send(acme, activity);
    await replyTo(acme, conversation, activity.id);
    const calls = teams.calls.filter((c) => c.kind === "reply" && c.conversationId === conversation);
    expect(calls.map((c) => c.status)).toEqual([429, 201]);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(2_000);
    expect(repliesIn(acme, conversation)).toHaveLength(1);
  });

  it("posts once when a reply landed but its answer was lost, and dead-letters a 5xx instead of posting again", async () => {
    const lost = "a:1personal-acme-lost";
    const failed = "a:1personal-acme-502";
    const poisonBefore = await counterValue(gateway, "posts", { channel: "teams", result: "poison" });
    teams.failNext(1, { dropResponse: true }, "reply");
    await send(acme, personalActivity(acme, "did you get that?", lost));
    await waitFor("the interrupted reply to be dead-lettered", async () =>
      (await counterValue(gateway, "posts", { channel: "teams", result: "poison" })) > poisonBefore ? true : undefined,
    );
    teams.failNext(1, { status: 502 }, "reply");
    await send(acme, personalActivity(acme, "will this arrive?", failed));
    await waitFor("the 502 reply to be dead-lettered", async () =>
      (await counterValue(gateway, "posts", { channel: "teams", result: "poison" })) > poisonBefore + 1 ? true : undefined,
    );
    expect(repliesIn(acme, lost)).toHaveLength(1);
    expect(repliesIn(acme, failed)).toHaveLength(0);
    expect(teams.calls.filter((c) => c.kind === "reply" && c.conversationId === failed).map((c) => c.status)).toEqual([502]);
  });

  it("retries after the token endpoint was unavailable, without a second reply", async () => {
    const conversation = "a:1personal-globex-token";
    teams.failNext(1, { status: 503 }, "token");
    const activity = personalActivity(globex, "first words", conversation);
    await send(globex, activity);
    await replyTo(globex, conversation, activity.id);
    expect(repliesIn(globex, conversation)).toHaveLength(1);
    expect(teams.calls.filter((c) => c.kind === "token" && c.appId === globex.appId).map((c) => c.status)).toEqual([503, 200]);
  });
});

describe("Teams channels", () => {
  it("answers a mention in the thread with the mention taken out, and not the chatter around it", async () => {
    const thread = "19:general@thread.tacv2;messageid=1700000000001";
    const chatter = channelActivity(acme, "lunch at noon?", thread, false);
    const asked = channelActivity(acme, "where is the office?", thread, true);
    await send(acme, chatter);
    await send(acme, asked);
    const answer = await replyTo(acme, thread, asked.id);
    expect(answer.text).toContain("you said: where is the office?");
    expect(answer.text).not.toContain("<at>");
    const more = channelActivity(acme, "see you there", thread, false);
    const last = channelActivity(acme, "thanks", thread, true);
    await send(acme, more);
    await send(acme, last);
    await replyTo(acme, thread, last.id);
    expect(repliesIn(acme, thread).map((r) => r.replyToActivityId)).toEqual([asked.id, last.id]);
  });
});

describe("Teams tenants", () => {
  it("keeps a second tenant's bot to its own activities, tokens and replies", async () => {
    const conversation = "a:1personal-shared-person";
    const forAcme = personalActivity(acme, "acme question", conversation);
    const forGlobex = personalActivity(globex, "globex question", conversation);
    // Globex's token opens only Globex's endpoint, and an activity for Globex's bot is not Acme's.
    expect((await deliver(acme, forGlobex, await tokenFor(globex))).status).toBe(401);
    expect((await send(acme, forGlobex)).status).toBe(200);
    expect(await counterValue(gateway, "webhooks", { channel: "teams", result: "ignored_other_recipient" })).toBe(1);
    await send(acme, forAcme);
    await send(globex, forGlobex);
    const acmeReply = await replyTo(acme, conversation, forAcme.id);
    const globexReply = await replyTo(globex, conversation, forGlobex.id);
    expect(acmeReply.text).toContain(acme.prompt);
    expect(globexReply.text).toContain(globex.prompt);
    expect(repliesIn(acme, conversation)).toHaveLength(1);
    expect(repliesIn(globex, conversation)).toHaveLength(1);
  });
});

describe("Teams signing keys", () => {
  it("fetches the keys again for a rotated key id, at most once per cooldown for unknown ones", async () => {
    const metadataBefore = fetches("metadata");
    await new Promise((resolve) => setTimeout(resolve, KEYS_COOLDOWN_MS + 100));
    const keysBefore = fetches("keys");
    await teams.rotateKeys();
    const conversation = "a:1personal-acme-rotation";
    const rotated = personalActivity(acme, "after the rotation", conversation);
    expect((await send(acme, rotated)).status).toBe(200);
    await replyTo(acme, conversation, rotated.id);
    expect(fetches("keys")).toBe(keysBefore + 1);

    // Key ids nobody publishes: a burst of them costs at most one fetch per cooldown (none while
    // the rotation's fetch is fresh), however many arrive. Counted against the burst's own
    // duration, since a loaded machine may stretch it past a cooldown.
    const unknownKid = await teams.stageKey();
    const burstStarted = Date.now();
    for (let i = 0; i < 8; i++) {
      const result = await deliver(
        acme,
        personalActivity(acme, "made-up key", conversation),
        await tokenFor(acme, { kid: unknownKid }),
      );
      expect(result.status).toBe(401);
    }
    const allowed = Math.floor((Date.now() - burstStarted) / KEYS_COOLDOWN_MS);
    expect(fetches("keys") - (keysBefore + 1)).toBeLessThanOrEqual(allowed);
    // After a quiet cooldown, the next unknown key id fetches once more.
    const beforeQuiet = fetches("keys");
    await new Promise((resolve) => setTimeout(resolve, KEYS_COOLDOWN_MS + 100));
    await deliver(acme, personalActivity(acme, "made-up key", conversation), await tokenFor(acme, { kid: unknownKid }));
    expect(fetches("keys")).toBe(beforeQuiet + 1);
    expect(fetches("metadata")).toBe(metadataBefore);
    expect(repliesIn(acme, conversation)).toHaveLength(1);
  });
});
