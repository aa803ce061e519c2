import { randomBytes, randomUUID } from "node:crypto";
import { type Database, deadLetterSubject, parseSecretKey, STREAMS } from "@konstruct/core";
import {
  signWhatsAppNotification,
  startWhatsAppApi,
  type WhatsAppApiDouble,
  type WhatsAppSentMessage,
  whatsappStatusNotification,
  whatsappTextNotification,
} from "@konstruct/testkit";
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

// WhatsApp end to end: the gateway's WhatsApp channel (webhook and outbound worker), the real
// router and orchestrator in-process over a private NATS, real PostgreSQL and Redis, the Ollama
// double answering, and the Graph API double receiving the replies.

const SECRET_KEY = parseSecretKey(randomBytes(32).toString("base64"));

interface WhatsAppTenant {
  tenantId: string;
  connectionId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  accessToken: string;
  appSecret: string;
  verifyToken: string;
  prompt: string;
}

let whatsapp: WhatsAppApiDouble;
let world: ChannelWorld;
let gateway: ChannelGateway;
let acme: WhatsAppTenant;
let globex: WhatsAppTenant;

async function seedWhatsAppTenant(admin: Kysely<Database>, name: string): Promise<WhatsAppTenant> {
  const tenantId = randomUUID();
  const tenant: WhatsAppTenant = {
    tenantId,
    connectionId: randomUUID(),
    phoneNumberId: String(100_000_000_000_000 + Math.floor(Math.random() * 800_000_000_000_000)),
    displayPhoneNumber: `1555${Math.floor(1_000_000 + Math.random() * 8_000_000)}`,
    accessToken: `EAAG${randomBytes(24).toString("hex")}`,
    appSecret: randomBytes(16).toString("hex"),
    verifyToken: randomBytes(12).toString("hex"),
    // The orchestrator opens the system prompt with the agent's name, which the Ollama double echoes.
    prompt: `You are ${name} helper,`,
  };
  await seedChannelTenant(admin, SECRET_KEY, name, {
    type: "whatsapp",
    tenantId: tenant.tenantId,
    connectionId: tenant.connectionId,
    externalId: tenant.phoneNumberId,
    credentials: { accessToken: tenant.accessToken, appSecret: tenant.appSecret, verifyToken: tenant.verifyToken },
  });
  return tenant;
}

function startWhatsAppGateway(): Promise<ChannelGateway> {
  return startChannelGateway(world, {
    type: "whatsapp",
    secretKey: SECRET_KEY,
    settings: { whatsappApiUrl: whatsapp.url },
  });
}

beforeAll(async () => {
  world = await startChannelWorld("whatsapp");
  acme = await seedWhatsAppTenant(world.db.admin, "acme");
  globex = await seedWhatsAppTenant(world.db.admin, "globex");
  whatsapp = await startWhatsAppApi({
    numbers: {
      [acme.phoneNumberId]: { accessToken: acme.accessToken, displayPhoneNumber: acme.displayPhoneNumber },
      [globex.phoneNumberId]: { accessToken: globex.accessToken, displayPhoneNumber: globex.displayPhoneNumber },
    },
  });
  gateway = await startWhatsAppGateway();
});

afterAll(async () => {
  await gateway?.stop();
  await whatsapp?.close();
  await world?.stop();
});

// --- helpers -------------------------------------------------------------------------------

let nextCustomer = 4_915_100_000_000;
const newCustomer = () => String(nextCustomer++);

/** A customer's text message, as Meta notifies it; the double learns the customer wrote (their window opens). */
function customerMessage(tenant: WhatsAppTenant, from: string, text: string) {
  whatsapp.customerWrote(tenant.phoneNumberId, from);
  return whatsappTextNotification({
    phoneNumberId: tenant.phoneNumberId,
    displayPhoneNumber: tenant.displayPhoneNumber,
    from,
    name: "Ada",
    text,
  });
}

async function deliver(
  tenant: WhatsAppTenant,
  body: unknown,
  signature: string | null = null,
  connectionId = tenant.connectionId,
) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(`${gateway.url}/webhooks/whatsapp/${connectionId}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(signature === "" ? {} : { "x-hub-signature-256": signature ?? signWhatsAppNotification(tenant.appSecret, raw) }),
    },
    body: raw,
  });
  return { status: response.status, text: await response.text() };
}

const repliesTo = (tenant: WhatsAppTenant, to: string): WhatsAppSentMessage[] =>
  whatsapp.sent({ phoneNumberId: tenant.phoneNumberId, to });

const replyTo = (tenant: WhatsAppTenant, to: string, messageId: string) =>
  waitFor(`a reply to ${messageId}`, () => repliesTo(tenant, to).find((m) => m.contextMessageId === messageId));

// --- tests ---------------------------------------------------------------------------------

describe("WhatsApp verification handshake", () => {
  const handshake = (connectionId: string, query: Record<string, string>) =>
    fetch(`${gateway.url}/webhooks/whatsapp/${connectionId}?${new URLSearchParams(query)}`);

  it("echoes hub.challenge for the connection's verify token, and refuses anything else with 403", async () => {
    const ok = await handshake(acme.connectionId, {
      "hub.mode": "subscribe",
      "hub.verify_token": acme.verifyToken,
      "hub.challenge": "1158201444",
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await ok.text()).toBe("1158201444");

    for (const [connectionId, query] of [
      [acme.connectionId, { "hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1" }],
      [acme.connectionId, { "hub.mode": "subscribe", "hub.verify_token": globex.verifyToken, "hub.challenge": "1" }],
      [acme.connectionId, { "hub.mode": "unsubscribe", "hub.verify_token": acme.verifyToken, "hub.challenge": "1" }],
      [acme.connectionId, { "hub.mode": "subscribe", "hub.verify_token": acme.verifyToken }],
      [acme.connectionId, { "hub.mode": "subscribe", "hub.verify_token": acme.verifyToken, "hub.challenge": "<script>" }],
      [randomUUID(), { "hub.mode": "subscribe", "hub.verify_token": acme.verifyToken, "hub.challenge": "1" }],
    ] as const) {
      const refused = await handshake(connectionId, query);
      expect(refused.status, JSON.stringify(query)).toBe(403);
      expect(await refused.text()).not.toContain("1");
    }
  });
});

describe("WhatsApp webhook signatures", () => {
  it("rejects a forged, missing or other app's signature with 401 before reading the body, and publishes nothing", async () => {
    const before = await inboundLastSeq(gateway);
    const { body } = customerMessage(acme, newCustomer(), "let me in");
    const raw = JSON.stringify(body);
    for (const signature of [
      "",
      "sha256=",
      `sha256=${"0".repeat(64)}`,
      signWhatsAppNotification(globex.appSecret, raw),
      signWhatsAppNotification(acme.appSecret, `${raw} `),
      signWhatsAppNotification(acme.appSecret, raw).replace("sha256=", "sha1="),
    ]) {
      const result = await deliver(acme, raw, signature);
      expect(result.status, signature).toBe(401);
      expect(JSON.parse(result.text)).toEqual({ error: "unauthorized" });
    }
    // Not JSON at all: still only the signature decides, so the parser never ran.
    expect((await deliver(acme, "{not json", `sha256=${"1".repeat(64)}`)).status).toBe(401);
    // An unknown connection answers exactly like a wrong signature.
    expect((await deliver(acme, raw, null, randomUUID())).status).toBe(401);
    expect(await inboundLastSeq(gateway)).toBe(before);
    expect(await counterValue(gateway, "webhooks", { channel: "whatsapp", result: "unauthorized" })).toBeGreaterThanOrEqual(8);
  });
});

describe("WhatsApp messages", () => {
  it("answers a verified message exactly once, quoting it, from the right tenant's agent, also when Meta redelivers it", async () => {
    const customer = newCustomer();
    const { body, messageId } = customerMessage(acme, customer, "what is our refund policy?");
    expect((await deliver(acme, body)).status).toBe(200);
    expect((await deliver(acme, body)).status).toBe(200); // Meta's retry: the same wamid
    const reply = await replyTo(acme, customer, messageId);
    expect(reply.text).toContain(acme.prompt);
    expect(reply.text).toContain("you said: what is our refund policy?");
    expect(await counterValue(gateway, "webhooks", { channel: "whatsapp", result: "duplicate" })).toBeGreaterThanOrEqual(1);
    const sent = whatsapp.calls.find((c) => (c.response.messages as { id: string }[] | undefined)?.[0]?.id === reply.id);
    expect(sent?.token).toBe(acme.accessToken);
    expect(sent?.body).toMatchObject({ messaging_product: "whatsapp", to: customer, type: "text" });

    // A later message's reply has arrived: the redelivery had its chance and sent nothing.
    const later = customerMessage(acme, customer, "thanks");
    await deliver(acme, later.body);
    const second = await replyTo(acme, customer, later.messageId);
    expect(second.text).toContain("history=2");
    expect(repliesTo(acme, customer).filter((m) => m.contextMessageId === messageId)).toHaveLength(1);
    expect(repliesTo(globex, customer)).toHaveLength(0);
  });

  it("ignores statuses of its own replies, the number's own messages and echoes, on purpose and with a metric", async () => {
    const customer = newCustomer();
    const before = await inboundLastSeq(gateway);
    const ignoredStatus = await counterValue(gateway, "webhooks", { channel: "whatsapp", result: "ignored_status" });
    const status = whatsappStatusNotification({
      phoneNumberId: acme.phoneNumberId,
      displayPhoneNumber: acme.displayPhoneNumber,
      messageId: "wamid.OUR-REPLY",
      recipient: customer,
      status: "delivered",
    });
    expect((await deliver(acme, status)).status).toBe(200);
    const own = whatsappTextNotification({
      phoneNumberId: acme.phoneNumberId,
      displayPhoneNumber: acme.displayPhoneNumber,
      from: acme.displayPhoneNumber,
      text: "I am the business",
    });
    expect((await deliver(acme, own.body)).status).toBe(200);
    const echo = { ...own.body, entry: [{ id: "1", changes: [{ field: "smb_message_echoes", value: {} }] }] };
    expect((await deliver(acme, echo)).status).toBe(200);
    expect(await inboundLastSeq(gateway)).toBe(before);
    expect(await counterValue(gateway, "webhooks", { channel: "whatsapp", result: "ignored_status" })).toBe(ignoredStatus + 1);
    expect(await counterValue(gateway, "webhooks", { channel: "whatsapp", result: "ignored_own_message" })).toBe(1);
    expect(await counterValue(gateway, "webhooks", { channel: "whatsapp", result: "ignored_unsupported_field" })).toBe(1);
    expect(repliesTo(acme, acme.displayPhoneNumber)).toHaveLength(0);
  });

  it("waits out a rate limit's Retry-After, then sends once", async () => {
    const customer = newCustomer();
    whatsapp.failNext(1, { status: 429, code: 130429, message: "(#130429) Rate limit hit", retryAfter: 2 });
    const { body, messageId } = customerMessage(acme, customer, "are you busy?");
    await deliver(acme, body);
    await replyTo(acme, customer, messageId);
    const calls = whatsapp.calls.filter((c) => c.body.to === customer);
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(2_000);
    expect(repliesTo(acme, customer)).toHaveLength(1);
  });

  it("sends once when the send landed but its answer was lost, and a 5xx is never sent again", async () => {
    const lost = newCustomer();
    const poisonBefore = await counterValue(gateway, "posts", { channel: "whatsapp", result: "poison" });
    whatsapp.failNext(1, { dropResponse: true });
    const first = customerMessage(acme, lost, "did you get that?");
    await deliver(acme, first.body);
    await waitFor("the interrupted reply to be dead-lettered", async () =>
      (await counterValue(gateway, "posts", { channel: "whatsapp", result: "poison" })) > poisonBefore ? true : undefined,
    );
    expect(repliesTo(acme, lost)).toHaveLength(1);

    const failed = newCustomer();
    whatsapp.failNext(1, { status: 500, code: 131000, message: "(#131000) Something went wrong" });
    await deliver(acme, customerMessage(acme, failed, "will this arrive?").body);
    await waitFor("the failed reply to be dead-lettered", async () =>
      (await counterValue(gateway, "posts", { channel: "whatsapp", result: "poison" })) > poisonBefore + 1 ? true : undefined,
    );
    expect(whatsapp.calls.filter((c) => c.body.to === failed).map((c) => c.status)).toEqual([500]);
  });

  it("does not send outside the 24-hour customer service window: Graph's 131047 dead-letters the reply with the reason", async () => {
    const customer = newCustomer();
    const poisonBefore = await counterValue(gateway, "posts", { channel: "whatsapp", result: "poison" });
    const { body } = customerMessage(acme, customer, "hello from yesterday");
    // The customer's last message to the number was 25 hours ago (Meta delivered this one late).
    whatsapp.customerWrote(acme.phoneNumberId, customer, Date.now() - 25 * 60 * 60_000);
    await deliver(acme, body);
    await waitFor("the reply to be dead-lettered", async () =>
      (await counterValue(gateway, "posts", { channel: "whatsapp", result: "poison" })) > poisonBefore ? true : undefined,
    );
    const calls = whatsapp.calls.filter((c) => c.body.to === customer);
    expect(calls.map((c) => (c.response.error as { code?: number } | undefined)?.code)).toEqual([131047]);
    expect(repliesTo(acme, customer)).toHaveLength(0);
    // The dead letter says why, in words an operator can act on.
    const dead = await gateway.jsm.streams.getMessage(STREAMS.deadLetter, { last_by_subj: deadLetterSubject(STREAMS.outbound) });
    expect(dead?.header.get("Konstruct-Reason")).toMatch(/131047 .*outside WhatsApp's 24-hour customer service window/);
    expect(dead?.json<{ target: { channelId: string } }>().target.channelId).toBe(customer);
  });
});

describe("WhatsApp tenants", () => {
  it("keeps a second tenant's number to its own messages, even when both share one Meta app", async () => {
    const customer = newCustomer();
    const forAcme = customerMessage(acme, customer, "acme question");
    const forGlobex = customerMessage(globex, customer, "globex question");
    // Globex's app secret opens only Globex's webhook.
    expect(
      (await deliver(acme, forGlobex.body, signWhatsAppNotification(globex.appSecret, JSON.stringify(forGlobex.body)))).status,
    ).toBe(401);
    // A notification for Globex's number signed with Acme's secret (one Meta app serving both numbers) is not Acme's message.
    const before = await inboundLastSeq(gateway);
    expect((await deliver(acme, forGlobex.body)).status).toBe(200);
    expect(await inboundLastSeq(gateway)).toBe(before);
    expect(await counterValue(gateway, "webhooks", { channel: "whatsapp", result: "ignored_other_number" })).toBe(1);

    await deliver(acme, forAcme.body);
    await deliver(globex, forGlobex.body);
    const acmeReply = await replyTo(acme, customer, forAcme.messageId);
    const globexReply = await replyTo(globex, customer, forGlobex.messageId);
    expect(acmeReply.text).toContain(acme.prompt);
    expect(globexReply.text).toContain(globex.prompt);
    expect(repliesTo(acme, customer)).toHaveLength(1);
    expect(repliesTo(globex, customer)).toHaveLength(1);
    const tokens = new Set(whatsapp.calls.filter((c) => c.body.to === customer).map((c) => `${c.phoneNumberId}:${c.token}`));
    expect(tokens).toEqual(
      new Set([`${acme.phoneNumberId}:${acme.accessToken}`, `${globex.phoneNumberId}:${globex.accessToken}`]),
    );
  });
});
