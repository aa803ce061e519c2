import { randomUUID } from "node:crypto";
import { CONTENT_SECURITY_POLICY, type KubeAccess } from "@konstruct/portal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../src/database.ts";
import {
  addPerson,
  Browser,
  PASSWORD,
  type PortalUnderTest,
  passwordHash,
  type SeededPortalTenant,
  seedInvitation,
  seedPortalTenant,
  startPortal,
} from "./support.ts";

const READ_ONLY: KubeAccess = { mode: "read-only", reason: "No Kubernetes API server in this test." };

let database: TestDatabase;
let portal: PortalUnderTest;
let hash: string;
let a: SeededPortalTenant;
let b: SeededPortalTenant;

beforeAll(async () => {
  database = await createTestDatabase("kportal");
  hash = await passwordHash();
  a = await seedPortalTenant(database.admin, "a", hash);
  b = await seedPortalTenant(database.admin, "b", hash);
  portal = await startPortal(database.app, READ_ONLY, { perEmail: 5, perAddress: 12 });
});

afterAll(async () => {
  await portal?.close();
  await database?.drop();
});

describe("sign-in", () => {
  it("opens a session with an HttpOnly, Secure, __Host- cookie, SameSite=Lax", async () => {
    const browser = new Browser(portal.app);
    const response = await browser.signIn(a.ownerEmail);
    expect(response.statusCode).toBe(201);
    const cookie = String(response.headers["set-cookie"])
      .split(/,(?=\s*__Host)/)
      .find((c) => c.startsWith("__Host-konstruct-portal="));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Domain=/);
    const me = await browser.session();
    expect(me).toMatchObject({ signedIn: true, user: { email: a.ownerEmail, role: "owner" } });
  });

  it("answers a wrong password and an unknown email identically", async () => {
    const wrong = await new Browser(portal.app).signIn(a.ownerEmail, "not the password at all");
    const unknown = await new Browser(portal.app).signIn(`nobody-${randomUUID()}@nowhere.example`, PASSWORD);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual(wrong.json());
  });

  it("locks an email after 5 failures, even for the right password, and locks unknown emails the same way", async () => {
    const email = await addPerson(database.admin, a, "member", hash);
    const unknown = `ghost-${randomUUID()}@a.example`;
    const answers: { status: number; body: unknown }[] = [];
    for (const target of [email, unknown]) {
      for (let i = 0; i < 5; i++) {
        // A new address each time: this is the per-email limit, not the per-address one.
        const r = await new Browser(portal.app).signIn(target, `wrong password ${i}`);
        expect(r.statusCode).toBe(401);
      }
      const locked = await new Browser(portal.app).signIn(target, PASSWORD);
      expect(locked.statusCode).toBe(429);
      expect(Number(locked.headers["retry-after"])).toBeGreaterThan(0);
      const body = locked.json();
      answers.push({ status: locked.statusCode, body: { ...body, message: body.message.replace(/\d+ minutes?/, "N minutes") } });
    }
    expect(answers[1]).toEqual(answers[0]);
  });

  it("counts every sign-in by result, from the form and the API alike", async () => {
    const count = async (result: string) => {
      const metrics = (await portal.app.inject({ method: "GET", url: "/metrics" })).body;
      return Number(new RegExp(`konstruct_portal_sign_ins_total\\{result="${result}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    };
    const before = { ok: await count("ok"), failed: await count("failed"), throttled: await count("throttled") };
    // The form: a wrong password re-renders it (401); the right one redirects.
    const browser = new Browser(portal.app);
    const form = await browser.request({ method: "GET", url: "/portal/sign-in" });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] as string;
    const post = (password: string) =>
      browser.request({
        method: "POST",
        url: "/portal/sign-in",
        payload: new URLSearchParams({ _csrf: csrf, email: a.ownerEmail, password }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    expect((await post("not the password at all")).statusCode).toBe(401);
    expect((await post(PASSWORD)).statusCode).toBe(303);
    // The API: one wrong, one right.
    expect((await new Browser(portal.app).signIn(a.ownerEmail, "still not the password")).statusCode).toBe(401);
    expect((await new Browser(portal.app).signIn(a.ownerEmail)).statusCode).toBe(201);
    expect({ ok: await count("ok"), failed: await count("failed"), throttled: await count("throttled") }).toEqual({
      ok: before.ok + 2,
      failed: before.failed + 2,
      throttled: before.throttled,
    });
  });

  it("locks a client address after its limit of failures across emails", async () => {
    const browser = new Browser(portal.app);
    for (let i = 0; i < 12; i++) {
      const r = await browser.signIn(`guess-${i}-${randomUUID()}@a.example`, "wrong wrong wrong");
      expect(r.statusCode).toBe(401);
    }
    const locked = await browser.signIn(a.ownerEmail, PASSWORD);
    expect(locked.statusCode).toBe(429);
    // Another address is not affected.
    expect((await new Browser(portal.app).signIn(a.ownerEmail)).statusCode).toBe(201);
  });
});

describe("CSRF and cross-site requests", () => {
  it("refuses a state change without the token, with a wrong one, or from another site", async () => {
    const browser = new Browser(portal.app);
    await browser.signIn(a.ownerEmail);
    const invite = { email: `x-${randomUUID()}@a.example`, role: "member" };
    const without = await browser.request({ method: "POST", url: "/portal/api/invitations", payload: invite });
    expect(without.statusCode).toBe(403);
    expect(without.json().error).toBe("csrf");
    const wrong = await browser.request({
      method: "POST",
      url: "/portal/api/invitations",
      payload: invite,
      headers: { "x-csrf-token": "A".repeat(43) },
    });
    expect(wrong.statusCode).toBe(403);
    const crossOrigin = await browser.request({
      method: "POST",
      url: "/portal/api/invitations",
      payload: invite,
      headers: { "x-csrf-token": browser.csrf, origin: "https://evil.example" },
    });
    expect(crossOrigin.statusCode).toBe(403);
    expect(crossOrigin.json().error).toBe("cross_site");
    const crossSite = await browser.request({
      method: "POST",
      url: "/portal/api/invitations",
      payload: invite,
      headers: { "x-csrf-token": browser.csrf, "sec-fetch-site": "cross-site" },
      sameOrigin: false,
    });
    expect(crossSite.statusCode).toBe(403);
    const members = await browser.api("GET", "/portal/api/members");
    expect(members.json().invitations.map((i: { email: string }) => i.email)).not.toContain(invite.email);
    // The same request with the token from the portal's own origin goes through.
    expect((await browser.api("POST", "/portal/api/invitations", invite)).statusCode).toBe(201);
  });

  it("refuses a form post without the hidden field, and a sign-in without the pre-session token", async () => {
    const browser = new Browser(portal.app);
    await browser.signIn(a.ownerEmail);
    const signOut = await browser.request({
      method: "POST",
      url: "/portal/sign-out",
      payload: "x=1",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(signOut.statusCode).toBe(403);
    expect((await browser.session()).signedIn).toBe(true);
    const withField = await browser.request({
      method: "POST",
      url: "/portal/sign-out",
      payload: `_csrf=${encodeURIComponent(browser.csrf)}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(withField.statusCode).toBe(303);
    expect((await browser.session()).signedIn).toBe(false);

    const fresh = new Browser(portal.app);
    const loginCsrf = await fresh.request({
      method: "POST",
      url: "/portal/api/session",
      payload: { email: a.ownerEmail, password: PASSWORD },
    });
    expect(loginCsrf.statusCode).toBe(403);
  });
});

describe("sessions", () => {
  it("gives a new session id at sign-in, whatever cookie the browser already had (no fixation)", async () => {
    const attacker = new Browser(portal.app);
    await attacker.session();
    const planted = "P".repeat(43);
    const victim = new Browser(portal.app);
    victim.cookies.set("__Host-konstruct-portal", planted);
    // The attacker's pre-session cookie planted too: it only protects the form, it never becomes a session.
    victim.cookies.set(
      "__Host-konstruct-portal-presession",
      attacker.cookies.get("__Host-konstruct-portal-presession") as string,
    );
    const response = await victim.signIn(a.ownerEmail);
    expect(response.statusCode).toBe(201);
    const issued = victim.cookies.get("__Host-konstruct-portal");
    expect(issued).toBeDefined();
    expect(issued).not.toBe(planted);
    const withPlanted = new Browser(portal.app);
    withPlanted.cookies.set("__Host-konstruct-portal", planted);
    expect((await withPlanted.session()).signedIn).toBe(false);
    // The attacker's browser, holding what it had before, is not signed in as the victim.
    expect((await attacker.session()).signedIn).toBe(false);
  });

  it("signs out one browser, or every browser of the person", async () => {
    const email = await addPerson(database.admin, a, "admin", hash);
    const [one, two, three] = [new Browser(portal.app), new Browser(portal.app), new Browser(portal.app)];
    for (const browser of [one, two, three]) expect((await browser.signIn(email)).statusCode).toBe(201);
    expect((await one.api("DELETE", "/portal/api/session")).statusCode).toBe(204);
    expect((await one.session()).signedIn).toBe(false);
    expect((await two.session()).signedIn).toBe(true);
    const everywhere = await two.api("DELETE", "/portal/api/sessions");
    expect(everywhere.json()).toEqual({ endedSessions: 2 });
    expect((await two.session()).signedIn).toBe(false);
    expect((await three.session()).signedIn).toBe(false);
  });

  it("ends a session after its idle time and after its absolute lifetime", async () => {
    const shortLived = await startPortal(database.app, READ_ONLY, { lifetime: { idleMs: 1_000, absoluteMs: 3_600_000 } });
    try {
      const browser = new Browser(shortLived.app);
      await browser.signIn(b.ownerEmail);
      expect((await browser.session()).signedIn).toBe(true);
      await new Promise((r) => setTimeout(r, 1_300));
      expect((await browser.session()).signedIn).toBe(false);
    } finally {
      await shortLived.close();
    }
    const browser = new Browser(portal.app);
    await browser.signIn(b.ownerEmail);
    await database.admin
      .updateTable("portal_sessions")
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where("tenant_id", "=", b.id)
      .execute();
    expect((await browser.session()).signedIn).toBe(false);
  });

  it("changes a password only with the current one, and ends the person's other sessions", async () => {
    const email = await addPerson(database.admin, b, "member", hash);
    const here = new Browser(portal.app);
    const elsewhere = new Browser(portal.app);
    await here.signIn(email);
    await elsewhere.signIn(email);
    const wrong = await here.api("PUT", "/portal/api/password", {
      currentPassword: "not it at all!",
      newPassword: "a whole new passphrase",
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().fields.currentPassword).toBeDefined();
    const ok = await here.api("PUT", "/portal/api/password", {
      currentPassword: PASSWORD,
      newPassword: "a whole new passphrase",
    });
    expect(ok.json()).toEqual({ endedSessions: 1 });
    expect((await here.session()).signedIn).toBe(true);
    expect((await elsewhere.session()).signedIn).toBe(false);
    expect((await new Browser(portal.app).signIn(email)).statusCode).toBe(401);
    expect((await new Browser(portal.app).signIn(email, "a whole new passphrase")).statusCode).toBe(201);
  });
});

describe("invitations and people", () => {
  it("turns a first-owner invitation into a person and a session, once", async () => {
    const email = `first-${randomUUID()}@b.example`;
    const token = await seedInvitation(database.admin, b.id, email, "owner");
    const browser = new Browser(portal.app);
    const form = await browser.request({ method: "GET", url: `/portal/invitations/${token}` });
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain(email);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] as string;
    const post = (password: string) =>
      browser.request({
        method: "POST",
        url: `/portal/invitations/${token}`,
        payload: new URLSearchParams({ _csrf: csrf, displayName: "Grace", password }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    const short = await post("short");
    expect(short.statusCode).toBe(400);
    expect(short.body).toContain("at least 12 characters");
    const accepted = await post("a long enough passphrase");
    expect(accepted.statusCode).toBe(303);
    expect(accepted.headers.location).toBe("/portal/agents");
    expect(await browser.session()).toMatchObject({ signedIn: true, user: { email, role: "owner" } });
    const again = await new Browser(portal.app).request({ method: "GET", url: `/portal/invitations/${token}` });
    expect(again.statusCode).toBe(404);
    const row = await database.admin
      .selectFrom("portal_invitations")
      .selectAll()
      .where("email", "=", email)
      .executeTakeFirstOrThrow();
    expect(row.accepted_at).not.toBeNull();
    expect(row.accepted_by).not.toBeNull();
  });

  it("lets owners invite by a one-time link and set roles; members may not manage people", async () => {
    const owner = new Browser(portal.app);
    await owner.signIn(a.ownerEmail);
    const email = `new-${randomUUID()}@a.example`;
    const made = await owner.api("POST", "/portal/api/invitations", { email, role: "member" });
    expect(made.statusCode).toBe(201);
    const url = new URL(made.json().url);
    expect(url.origin).toBe("https://portal.test.example");
    const token = url.pathname.split("/").at(-1) as string;
    const newcomer = new Browser(portal.app);
    await newcomer.session();
    const joined = await newcomer.api("POST", `/portal/api/invitations/${token}`, {
      displayName: "Newcomer",
      password: "newcomer passphrase",
    });
    expect(joined.statusCode).toBe(201);
    newcomer.csrf = joined.json().csrfToken;
    expect((await newcomer.api("GET", "/portal/api/members")).statusCode).toBe(403);
    expect((await newcomer.api("POST", "/portal/api/invitations", { email: "x@a.example", role: "owner" })).statusCode).toBe(403);
    // The token is stored only as its digest: the database holds nothing that would sign in.
    const stored = await database.admin
      .selectFrom("portal_invitations")
      .select("token_hash")
      .where("email", "=", email)
      .executeTakeFirstOrThrow();
    expect(stored.token_hash.toString("base64url")).not.toBe(token);
  });

  it("never demotes or removes the last owner", async () => {
    const tenant = await seedPortalTenant(database.admin, "solo", hash);
    const owner = new Browser(portal.app);
    await owner.signIn(tenant.ownerEmail);
    expect((await owner.api("PUT", `/portal/api/members/${tenant.ownerId}`, { role: "admin" })).statusCode).toBe(409);
    expect((await owner.api("DELETE", `/portal/api/members/${tenant.ownerId}`)).statusCode).toBe(409);
    const second = await addPerson(database.admin, tenant, "owner", hash);
    const secondId = (await owner.api("GET", "/portal/api/members"))
      .json()
      .members.find((m: { email: string }) => m.email === second).id;
    expect((await owner.api("PUT", `/portal/api/members/${tenant.ownerId}`, { role: "admin" })).statusCode).toBe(200);
    const other = new Browser(portal.app);
    await other.signIn(second);
    expect((await other.api("DELETE", `/portal/api/members/${secondId}`)).statusCode).toBe(409);
  });
});

describe("a person of tenant A and tenant B's things", () => {
  it("gets 404 for B's conversations, people and agents by URL and API, and sees none of B's usage", async () => {
    const conversation = await database.admin
      .insertInto("conversations")
      .values({
        tenant_id: b.id,
        channel_type: "webchat",
        connection_name: "support-chat",
        thread_key: `thread-${randomUUID()}`,
        subject: "B's secret thread",
        started_at: new Date(),
        last_message_at: new Date(),
        message_count: 1,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await database.admin
      .insertInto("conversation_messages")
      .values({
        tenant_id: b.id,
        conversation_id: conversation.id,
        message_key: `k-${randomUUID()}`,
        direction: "inbound",
        text: "xylophonic zebra merger plans",
        created_at: new Date(),
      })
      .execute();
    const agent = await database.admin
      .insertInto("agents")
      .values({ tenant_id: b.id, name: "bee-agent", display_name: "Bee", model: "m", updated_at: new Date() })
      .returning("id")
      .executeTakeFirstOrThrow();
    const today = new Date().toISOString().slice(0, 10);
    await database.admin
      .insertInto("token_usage")
      .values({ tenant_id: b.id, agent_id: agent.id, day: today, prompt_tokens: 777, completion_tokens: 333 })
      .execute();

    const mallory = new Browser(portal.app);
    await mallory.signIn(a.ownerEmail);
    expect((await mallory.api("GET", `/portal/api/conversations/${conversation.id}`)).statusCode).toBe(404);
    expect((await mallory.request({ method: "GET", url: `/portal/conversations/${conversation.id}` })).statusCode).toBe(404);
    expect((await mallory.api("GET", "/portal/api/conversations?q=xylophonic")).json().messages.items).toEqual([]);
    expect((await mallory.api("GET", "/portal/api/conversations")).json().conversations.items).toEqual([]);
    expect((await mallory.api("GET", "/portal/api/agents/bee-agent")).statusCode).toBe(404);
    expect((await mallory.request({ method: "GET", url: "/portal/agents/bee-agent" })).statusCode).toBe(404);
    expect((await mallory.api("PUT", `/portal/api/members/${b.ownerId}`, { role: "member" })).statusCode).toBe(404);
    expect((await mallory.api("DELETE", `/portal/api/members/${b.ownerId}`)).statusCode).toBe(404);
    const usage = await mallory.api("GET", `/portal/api/usage?tenant=${b.id}`);
    expect(usage.json().tokensPerDay.reduce((s: number, v: number) => s + v, 0)).toBe(0);
    const csv = await mallory.api("GET", "/portal/api/usage.csv");
    expect(csv.body).not.toContain("777");
    const channels = (await mallory.api("GET", "/portal/api/channels")).json().channels;
    expect(channels.map((c: { url: string }) => c.url)).not.toContain(expect.stringContaining("wc-"));

    // B's owner sees all of it.
    const owner = new Browser(portal.app);
    await owner.signIn(b.ownerEmail);
    expect((await owner.api("GET", `/portal/api/conversations/${conversation.id}`)).statusCode).toBe(200);
    expect((await owner.api("GET", "/portal/api/conversations?q=xylophonic")).json().messages.items).toHaveLength(1);
    expect((await owner.api("GET", "/portal/api/usage.csv")).body).toContain("777");
    expect((await owner.api("GET", "/portal/api/agents/bee-agent")).statusCode).toBe(200);
  });
});

describe("pages", () => {
  it("serve a strict CSP, no script, escaped text, and say why configuration is read-only", async () => {
    await database.admin
      .insertInto("agents")
      .values({
        tenant_id: a.id,
        name: "tricky",
        display_name: '<script>alert("x")</script>',
        model: "m",
        updated_at: new Date(),
      })
      .execute();
    const browser = new Browser(portal.app);
    await browser.signIn(a.ownerEmail);
    const agents = await browser.request({ method: "GET", url: "/portal/agents" });
    expect(agents.statusCode).toBe(200);
    expect(agents.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(agents.body).not.toMatch(/<script/i);
    expect(agents.body).toContain("&lt;script&gt;");
    expect(agents.body).toContain("Configuration is read-only here");
    const create = await browser.api("POST", "/portal/api/agents", { name: "x", displayName: "X", model: "m" });
    expect(create.statusCode).toBe(409);
    expect(create.json().error).toBe("read_only");
    for (const url of ["/portal/channels", "/portal/conversations", "/portal/usage", "/portal/members", "/portal/account"]) {
      const response = await browser.request({ method: "GET", url });
      expect(response.statusCode, url).toBe(200);
      expect(response.body).not.toMatch(/<script/i);
    }
    const signedOut = await new Browser(portal.app).request({ method: "GET", url: "/portal/agents" });
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toBe("/portal/sign-in");
  });

  it("pages through conversations by keyset without repeating or skipping", async () => {
    const tenant = await seedPortalTenant(database.admin, "many", hash);
    const start = Date.now();
    await database.admin
      .insertInto("conversations")
      .values(
        Array.from({ length: 120 }, (_, i) => ({
          tenant_id: tenant.id,
          channel_type: "webchat",
          connection_name: "support-chat",
          thread_key: `t-${i}`,
          // Pairs share a timestamp, so the id must break ties.
          started_at: new Date(start - Math.floor(i / 2) * 1000),
          last_message_at: new Date(start - Math.floor(i / 2) * 1000),
        })),
      )
      .execute();
    const browser = new Browser(portal.app);
    await browser.signIn(tenant.ownerEmail);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/portal/api/conversations${cursor ? `?cursor=${cursor}` : ""}`;
      const page: { items: { threadKey: string }[]; next: string | null } = (await browser.api("GET", url)).json().conversations;
      seen.push(...page.items.map((c) => c.threadKey));
      cursor = page.next;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(120);
    expect((await browser.api("GET", "/portal/api/conversations?cursor=bogus")).statusCode).toBe(400);
  });
});
