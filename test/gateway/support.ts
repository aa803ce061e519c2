import { randomBytes, randomUUID } from "node:crypto";
import { encryptSecret, parseSecretKey, type SecretKey, STREAMS } from "@konstruct/core";
import { createTestDatabase, serverUrl, type TestDatabase } from "@konstruct/testkit";
import type { JetStreamManager } from "@nats-io/jetstream";

/** A tenant with one Slack connection, written the way the operator writes it. */
export interface SlackTenant {
  tenantId: string;
  connectionId: string;
  teamId: string;
  botToken: string;
  botUserId: string;
  signingSecret: string;
}

/** A fresh database and encryption key for one test file. */
export async function gatewayDatabase(): Promise<{ db: TestDatabase; secretKey: SecretKey }> {
  return { db: await createTestDatabase("gw"), secretKey: parseSecretKey(randomBytes(32).toString("base64")) };
}

/** Inserts a tenant and its Slack connection with sealed credentials; team ids are unique per call. */
export async function createSlackTenant(db: TestDatabase, secretKey: SecretKey, name = "acme"): Promise<SlackTenant> {
  const tenantId = randomUUID();
  const suffix = randomBytes(4).toString("hex").toUpperCase();
  const tenant: SlackTenant = {
    tenantId,
    connectionId: randomUUID(),
    teamId: `T${suffix}`,
    botToken: `xoxb-${suffix.toLowerCase()}-${randomBytes(8).toString("hex")}`,
    botUserId: `UBOT${suffix}`,
    signingSecret: randomBytes(16).toString("hex"),
  };
  const unique = `${name}-${suffix.toLowerCase()}`;
  await db.admin
    .insertInto("tenants")
    .values({
      id: tenantId,
      name: unique,
      display_name: name,
      namespace: `konstruct-${unique}`,
      messages_per_minute: 60,
      max_concurrent_runs: 4,
      tokens_per_day: 1_000_000,
    })
    .execute();
  await db.admin
    .insertInto("channel_connections")
    .values({
      id: tenant.connectionId,
      tenant_id: tenantId,
      name: "slack",
      channel_type: "slack",
      external_id: tenant.teamId,
      credentials: encryptSecret(
        secretKey,
        tenantId,
        JSON.stringify({ botToken: tenant.botToken, signingSecret: tenant.signingSecret }),
      ),
      updated_at: new Date(),
    })
    .execute();
  return tenant;
}

/** A Slack `app_mention` envelope as the Events API sends it. */
export function appMention(
  teamId: string,
  options: { eventId?: string; botUserId?: string; ts?: string; channel?: string } = {},
) {
  const botUserId = options.botUserId ?? "UBOT";
  const ts = options.ts ?? `${Math.floor(Date.now() / 1000)}.000100`;
  return JSON.stringify({
    token: "legacy-verification-token",
    team_id: teamId,
    api_app_id: "A0KONSTRUCT",
    type: "event_callback",
    event_id: options.eventId ?? `Ev${randomBytes(6).toString("hex").toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: teamId, user_id: botUserId, is_bot: true }],
    event: {
      type: "app_mention",
      user: "U0HUMAN",
      text: `<@${botUserId}> what is our refund policy?`,
      ts,
      channel: options.channel ?? "C0GENERAL",
      event_ts: ts,
      team: teamId,
    },
  });
}

/** The inbound Slack messages stored since `fromSeq` whose workspace is `teamId`. */
export async function inboundFor(jsm: JetStreamManager, teamId: string, fromSeq: number) {
  const info = await jsm.streams.info(STREAMS.inbound);
  const found: {
    seq: number;
    msgId: string | undefined;
    message: { channel: { workspaceId: string; connectionId: string | null }; deliveryId: string };
  }[] = [];
  for (let seq = Math.max(fromSeq, info.state.first_seq); seq <= info.state.last_seq; seq++) {
    const stored = await jsm.streams.getMessage(STREAMS.inbound, { seq }).catch(() => null);
    if (stored?.subject !== "konstruct.inbound.slack") continue;
    const message = stored.json<(typeof found)[number]["message"]>();
    if (message.channel.workspaceId === teamId) found.push({ seq, msgId: stored.header?.get("Nats-Msg-Id"), message });
  }
  return found;
}

/** The next sequence number of the inbound stream: messages from here on are this test's. */
export async function nextInboundSeq(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(STREAMS.inbound)).state.last_seq + 1;
}

export { serverUrl };
