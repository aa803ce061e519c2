import { randomBytes, randomUUID } from "node:crypto";
import { installStateKey, signInstallState, verifyInstallState } from "@konstruct/channels/gateway";
import { type Database, decryptSecret, parseSecretKey } from "@konstruct/core";
import { freePort, type SlackApiDouble, signSlackRequest, startSlackApi } from "@konstruct/testkit";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChannelGateway,
  type ChannelWorld,
  counterValue,
  seedChannelTenant,
  startChannelGateway,
  startChannelWorld,
  waitFor,
} from "./support.ts";

// "Add to Slack" end to end: the gateway's install and callback routes, the Slack double's
// consent page and oauth.v2.access, the installation stored in real PostgreSQL (under RLS,
// sealed for the tenant), then the shared app's signed events answered through the real router
// and orchestrator with the installed token, and uninstalled again.

const SECRET_KEY = parseSecretKey(randomBytes(32).toString("base64"));
const PLATFORM_SECRET = "platform-signing-secret";
const OAUTH = { clientId: "1111.2222", clientSecret: "shared-app-client-secret" };

interface OAuthTenant {
  tenantId: string;
  connectionId: string;
  teamId: string;
  prompt: string;
}

let slack: SlackApiDouble;
let world: ChannelWorld;
let gateway: ChannelGateway;
let acme: OAuthTenant;
let globex: OAuthTenant;
let initech: OAuthTenant;
let nextTs = 1;

async function seedOAuthTenant(admin: Kysely<Database>, name: string): Promise<OAuthTenant> {
  const suffix = randomBytes(4).toString("hex");
  const tenant: OAuthTenant = {
    tenantId: randomUUID(),
    connectionId: randomUUID(),
    teamId: `T${suffix.toUpperCase()}${name.slice(0, 3).toUpperCase()}`,
    prompt: `You are ${name} helper,`,
  };
  await seedChannelTenant(admin, SECRET_KEY, name, {
    type: "slack",
    tenantId: tenant.tenantId,
    connectionId: tenant.connectionId,
    externalId: tenant.teamId,
    credentials: null,
    settings: { install: "oauth" },
  });
  return tenant;
}

async function startSlackGateway(): Promise<ChannelGateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return startChannelGateway(world, {
    type: "slack",
    secretKey: SECRET_KEY,
    settings: {
      slackSigningSecret: PLATFORM_SECRET,
      slackApiUrl: slack.url,
      slackOAuth: { ...OAUTH, redirectUrl: `${url}/webhooks/slack/oauth/callback`, authorizeUrl: slack.authorizeUrl },
    },
    port,
  });
}

beforeAll(async () => {
  world = await startChannelWorld("slack_oauth");
  acme = await seedOAuthTenant(world.db.admin, "acme");
  globex = await seedOAuthTenant(world.db.admin, "globex");
  initech = await seedOAuthTenant(world.db.admin, "initech");
  slack = await startSlackApi({ oauth: { ...OAUTH, appId: "A0SHARED" } });
  gateway = await startSlackGateway();
});

afterAll(async () => {
  await gateway?.stop();
  await slack?.close();
  await world?.stop();
});

// --- helpers -------------------------------------------------------------------------------

interface Flow {
  /** The install route's redirect to Slack's consent page. */
  authorize: URL;
  /** The cookie the install route set, as a browser would send it back. */
  cookie: string;
  /** Where Slack's consent page sends the browser back (with code and state). */
  callback: URL;
}

/** Opens a connection's install link and approves on the double's consent page, stopping before the callback. */
async function startInstall(tenant: OAuthTenant): Promise<Flow> {
  const start = await fetch(`${gateway.url}/webhooks/slack/install/${tenant.connectionId}`, { redirect: "manual" });
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.get("location") as string);
  const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0] as string;
  const consent = await fetch(authorize, { redirect: "manual" });
  expect(consent.status).toBe(302);
  return { authorize, cookie, callback: new URL(consent.headers.get("location") as string) };
}

async function finish(callback: URL | string, cookie: string | null) {
  const response = await fetch(callback, { headers: cookie === null ? {} : { cookie }, redirect: "manual" });
  return { status: response.status, text: await response.text() };
}

async function install(tenant: OAuthTenant) {
  slack.installAs({ id: tenant.teamId, name: `${tenant.teamId} workspace` });
  const flow = await startInstall(tenant);
  return { flow, result: await finish(flow.callback, flow.cookie) };
}

async function storedCredentials(tenant: OAuthTenant): Promise<string | null> {
  const row = await world.db.admin
    .selectFrom("channel_connections")
    .select("credentials")
    .where("id", "=", tenant.connectionId)
    .executeTakeFirstOrThrow();
  return row.credentials;
}

const exchanges = () => slack.calls.filter((c) => c.method === "oauth.v2.access").length;

/** A shared-app event, signed with the platform's secret, mentioning the installed bot. */
async function event(teamId: string, inner: Record<string, unknown>) {
  const body = JSON.stringify({
    token: "legacy",
    team_id: teamId,
    api_app_id: "A0SHARED",
    type: "event_callback",
    event_id: `Ev${randomBytes(6).toString("hex").toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: teamId, user_id: "U0BOT", is_bot: true }],
    event: inner,
  });
  const response = await fetch(`${gateway.url}/webhooks/slack/events`, {
    method: "POST",
    headers: signSlackRequest(PLATFORM_SECRET, body),
    body,
  });
  return response.status;
}

async function ask(tenant: OAuthTenant, text: string, channel: string) {
  const ts = `${Math.floor(Date.now() / 1000)}.${String(nextTs++).padStart(6, "0")}`;
  const bot = slack.installs.filter((i) => i.teamId === tenant.teamId).at(-1)?.botUserId ?? "U0BOT";
  expect(
    await event(tenant.teamId, {
      type: "app_mention",
      user: "U0HUMAN",
      text: `<@${bot}> ${text}`,
      ts,
      channel,
      team: tenant.teamId,
    }),
  ).toBe(200);
  return ts;
}

// --- tests ---------------------------------------------------------------------------------

let acmeFlow: Flow;

describe("Add to Slack", () => {
  it("installs the shared app for the connection's workspace and stores the bot token sealed for that tenant only", async () => {
    expect(await storedCredentials(acme)).toBeNull();
    const { flow, result } = await install(acme);
    acmeFlow = flow;
    expect(flow.authorize.origin + flow.authorize.pathname).toBe(slack.authorizeUrl);
    expect(Object.fromEntries(flow.authorize.searchParams)).toMatchObject({
      client_id: OAUTH.clientId,
      redirect_uri: `${gateway.url}/webhooks/slack/oauth/callback`,
      team: acme.teamId,
    });
    expect(flow.authorize.searchParams.get("scope")?.split(",")).toContain("chat:write");
    expect(flow.cookie).toMatch(/^konstruct_slack_install=/);
    expect(result.status).toBe(200);
    expect(result.text).toContain("Konstruct is installed");

    const token = slack.installs.find((i) => i.teamId === acme.teamId)?.token as string;
    const sealed = (await storedCredentials(acme)) as string;
    expect(sealed).not.toContain(token);
    expect(sealed).not.toContain("xoxb-");
    expect(JSON.parse(decryptSecret(SECRET_KEY, acme.tenantId, sealed))).toMatchObject({ botToken: token });
    // Sealed with the tenant id as associated data: copied to another tenant, it does not open.
    expect(() => decryptSecret(SECRET_KEY, globex.tenantId, sealed)).toThrow();
    // Nothing else was touched.
    expect(await storedCredentials(globex)).toBeNull();
    expect(await storedCredentials(initech)).toBeNull();
  });

  it("answers a message after the installation with the installed token", async () => {
    const token = slack.installs.find((i) => i.teamId === acme.teamId)?.token as string;
    const ts = await ask(acme, "what is our refund policy?", "C0ACME");
    const [reply] = await slack.waitForPosts(1, { channel: "C0ACME", thread_ts: ts });
    expect(reply?.text).toContain(acme.prompt);
    expect(slack.posts({ channel: "C0ACME", token })).toHaveLength(1);
  });

  it("refuses a replayed, forged, expired, foreign-keyed or cookie-less state, and exchanges no code for it", async () => {
    const before = exchanges();
    // Replayed: the very callback that installed acme.
    expect((await finish(acmeFlow.callback, acmeFlow.cookie)).status).toBe(400);

    slack.installAs({ id: globex.teamId });
    const flow = await startInstall(globex);
    const state = flow.callback.searchParams.get("state") as string;
    const key = installStateKey(SECRET_KEY);
    const payload = verifyInstallState(key, state);
    expect(payload).toMatchObject({ tenantId: globex.tenantId, connectionId: globex.connectionId });
    const withState = (value: string) => {
      const url = new URL(flow.callback);
      url.searchParams.set("state", value);
      return url;
    };
    const [version, , mac] = state.split(".");
    // Forged: globex's signature over a payload moved to acme's tenant and connection.
    const moved = Buffer.from(
      JSON.stringify({ t: acme.tenantId, c: acme.connectionId, n: payload?.nonce, e: payload?.expiresAt }),
    ).toString("base64url");
    expect((await finish(withState(`${version}.${moved}.${mac}`), flow.cookie)).status).toBe(400);
    // Signed with another key, or expired.
    const otherKey = installStateKey(parseSecretKey(randomBytes(32).toString("base64")));
    expect((await finish(withState(signInstallState(otherKey, payload as never)), flow.cookie)).status).toBe(400);
    const expired = signInstallState(key, { ...(payload as NonNullable<typeof payload>), expiresAt: Date.now() - 1 });
    expect((await finish(withState(expired), flow.cookie)).status).toBe(400);
    // Another browser (no cookie, or another flow's).
    expect((await finish(flow.callback, null)).status).toBe(400);
    expect((await finish(flow.callback, acmeFlow.cookie)).status).toBe(400);
    expect(exchanges()).toBe(before);
    expect(await storedCredentials(globex)).toBeNull();

    // None of that used the state up: the real browser still completes its installation, once.
    expect((await finish(flow.callback, flow.cookie)).status).toBe(200);
    expect((await finish(flow.callback, flow.cookie)).status).toBe(400);
    expect(exchanges()).toBe(before + 1);
    expect(await storedCredentials(globex)).not.toBeNull();
  });

  it("refuses an installation in another workspace, an org-wide install and an expiring token, storing nothing", async () => {
    for (const team of [{ id: acme.teamId }, { id: initech.teamId, enterprise: true }, { id: initech.teamId, rotating: true }]) {
      slack.installAs(team);
      const flow = await startInstall(initech);
      const result = await finish(flow.callback, flow.cookie);
      expect(result.status, JSON.stringify(team)).toBe(400);
    }
    expect(await storedCredentials(initech)).toBeNull();
    // A declined consent changes nothing either.
    slack.installAs({ id: initech.teamId, deny: true });
    const declined = await startInstall(initech);
    const result = await finish(declined.callback, declined.cookie);
    expect(result.text).toContain("cancelled");
    expect(await storedCredentials(initech)).toBeNull();
  });

  it("keeps two installed tenants to their own workspaces and tokens", async () => {
    const acmeToken = slack.installs.find((i) => i.teamId === acme.teamId)?.token as string;
    const globexToken = slack.installs.find((i) => i.teamId === globex.teamId)?.token as string;
    const a = await ask(acme, "acme question", "C0SHARED");
    const g = await ask(globex, "globex question", "C0SHARED");
    const [acmeReply] = await slack.waitForPosts(1, { channel: "C0SHARED", thread_ts: a });
    const [globexReply] = await slack.waitForPosts(1, { channel: "C0SHARED", thread_ts: g });
    expect(acmeReply?.text).toContain(acme.prompt);
    expect(globexReply?.text).toContain(globex.prompt);
    expect(slack.posts({ channel: "C0SHARED", token: acmeToken }).map((m) => m.thread_ts)).toEqual([a]);
    expect(slack.posts({ channel: "C0SHARED", token: globexToken }).map((m) => m.thread_ts)).toEqual([g]);
  });

  it("forgets an installation on app_uninstalled and tokens_revoked, and answers no more there", async () => {
    const globexBot = slack.installs.find((i) => i.teamId === globex.teamId)?.botUserId as string;
    // A revoked user token is not the bot's: the installation stays.
    expect(await event(globex.teamId, { type: "tokens_revoked", tokens: { oauth: ["U0HUMAN"], bot: [] } })).toBe(200);
    expect(await event(globex.teamId, { type: "tokens_revoked", tokens: { bot: ["U0SOMEONEELSE"] } })).toBe(200);
    expect(await storedCredentials(globex)).not.toBeNull();
    expect(await event(globex.teamId, { type: "tokens_revoked", tokens: { bot: [globexBot] } })).toBe(200);
    expect(await storedCredentials(globex)).toBeNull();

    expect(await event(acme.teamId, { type: "app_uninstalled" })).toBe(200);
    expect(await storedCredentials(acme)).toBeNull();

    const poisonBefore = await counterValue(gateway, "posts", { channel: "slack", result: "poison" });
    const postsBefore = slack.posts().length;
    await ask(acme, "anyone there?", "C0AFTER");
    await waitFor("the reply to the uninstalled workspace to be dropped", async () =>
      (await counterValue(gateway, "posts", { channel: "slack", result: "poison" })) > poisonBefore ? true : undefined,
    );
    expect(slack.posts().length).toBe(postsBefore);

    // Installing again works, with a new token.
    const { result } = await install(acme);
    expect(result.status).toBe(200);
    const ts = await ask(acme, "back again?", "C0AFTER");
    const newToken = slack.installs.filter((i) => i.teamId === acme.teamId).at(-1)?.token as string;
    await slack.waitForPosts(1, { channel: "C0AFTER", thread_ts: ts });
    expect(slack.posts({ channel: "C0AFTER", token: newToken })).toHaveLength(1);
  });
});
