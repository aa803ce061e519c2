// What the pipeline benchmarks (e2e-bench.ts, replicas-bench.ts) share: tenants whose Slack
// connections the load generator signs for, one signed app_mention per new thread, and a
// process's CPU from /proc.
import { randomBytes } from "node:crypto";
import { type Database, encryptSecret, type SecretKey } from "@konstruct/core";
import { type SeededTenant, seedTenant } from "@konstruct/testkit";
import type { Kysely } from "kysely";

/** A seeded tenant, with the bot token and signing secret its Slack connection was sealed with. */
export interface BenchSender extends SeededTenant {
  botToken: string;
  signingSecret: string;
}

/** Where each sender's bot token is known: the Slack Web API double. */
interface SlackTokens {
  addToken(token: string, info: { teamId: string; botUserId: string }): void;
}

/** `count` tenants without limits that bite, one default agent each, their credentials sealed as the operator seals them. */
export async function seedBenchSenders(
  db: Kysely<Database>,
  slack: SlackTokens,
  secretKey: SecretKey,
  count: number,
): Promise<BenchSender[]> {
  const senders: BenchSender[] = [];
  for (let i = 0; i < count; i++) {
    const seeded = await seedTenant(db, {
      messagesPerMinute: 1_000_000,
      maxConcurrentRuns: 256,
      agents: [{ name: `agent${i}`, displayName: `Agent ${i}`, isDefault: true, maxHistoryMessages: 10 }],
    });
    const sender: BenchSender = {
      ...seeded,
      botToken: `xoxb-${randomBytes(12).toString("hex")}`,
      signingSecret: randomBytes(16).toString("hex"),
    };
    // Sealed with the tenant bound in, as the operator writes a connection's Secret.
    await db
      .updateTable("channel_connections")
      .set({
        credentials: encryptSecret(
          secretKey,
          sender.tenantId,
          JSON.stringify({ botToken: sender.botToken, signingSecret: sender.signingSecret }),
        ),
      })
      .where("id", "=", sender.connectionId)
      .execute();
    slack.addToken(sender.botToken, { teamId: sender.teamId, botUserId: sender.botUserId });
    senders.push(sender);
  }
  return senders;
}

let tsCounter = 0;

/** One app_mention of `sender`'s bot in its own new thread of `channel`; `key` is `<channel>/<ts>`, as the reply's thread. */
export function appMention(sender: BenchSender, channel: string): { key: string; body: string } {
  const ts = `${Math.floor(Date.now() / 1000)}.${String(++tsCounter).padStart(6, "0")}`;
  const body = JSON.stringify({
    token: "legacy-verification-token",
    team_id: sender.teamId,
    api_app_id: "A0KONSTRUCT",
    type: "event_callback",
    event_id: `Ev${randomBytes(6).toString("hex").toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: sender.teamId, user_id: sender.botUserId, is_bot: true }],
    event: {
      type: "app_mention",
      user: "U0HUMAN",
      text: `<@${sender.botUserId}> what is our refund policy? (${tsCounter})`,
      ts,
      channel,
      event_ts: ts,
      team: sender.teamId,
    },
  });
  return { key: `${channel}/${ts}`, body };
}
