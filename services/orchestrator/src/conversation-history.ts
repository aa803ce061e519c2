import { createHash } from "node:crypto";
import { assertTenantId, type Database, type KonstructMessage, type OutboundReply, type WorkItem } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { replyIdOf } from "./replies.ts";
import type { SettledReply } from "./run-state.ts";

/** The column's bound: three ids of up to 256 characters and two separators fit. */
const THREAD_KEY_MAX = 800;
const SUBJECT_MAX = 200;

/**
 * The channel's own identity of a message's thread: `<workspace>/<channel>/<thread>` (for Slack,
 * team/channel/thread ts; for the web chat, connection/visitor/visitor). `%` and `/` inside a
 * part are escaped, so two different threads never share a key; a key longer than the column
 * allows (only possible with escaping) becomes a digest.
 */
export function conversationThreadKey(message: KonstructMessage): string {
  const part = (value: string) => value.replaceAll("%", "%25").replaceAll("/", "%2F");
  const key = [message.channel.workspaceId, message.channel.channelId, message.threadId].map(part).join("/");
  if (key.length <= THREAD_KEY_MAX) return key;
  return `sha256:${createHash("sha256").update(key, "utf8").digest("base64url")}`;
}

/** The history keys of a work item's two messages: both derive from its delivery key alone. */
export function historyKeys(item: WorkItem): { inbound: string; reply: string } {
  return { inbound: `inbound:${item.deliveryKey}`, reply: replyIdOf(item) };
}

/** One run's exchange as the history keeps it: the person's message and the reply that was sent. */
export interface HistoryExchange {
  tenantId: string;
  channelType: string;
  connectionId: string;
  threadKey: string;
  subject: string;
  agentId: string;
  agentName: string | null;
  inbound: { key: string; senderId: string; senderName: string | null; text: string; at: string };
  reply: {
    key: string;
    senderId: string;
    text: string;
    model: string | null;
    promptTokens: number | null;
    completionTokens: number | null;
    latencyMs: number | null;
  };
}

/**
 * The exchange of a work item whose reply `sent` was published: the reply's text and agent are
 * the published ones (the text truncated as the channel got it), and both keys come from the
 * delivery key, so every redelivery of the item describes the same two rows.
 */
export function historyExchange(item: WorkItem, question: string, reply: SettledReply, sent: OutboundReply): HistoryExchange {
  const { message } = item;
  const { agent } = sent;
  const keys = historyKeys(item);
  const answered = reply.kind === "answer";
  return {
    tenantId: item.tenantId,
    channelType: message.channelType,
    connectionId: sent.connectionId,
    threadKey: conversationThreadKey(message),
    subject: question.replace(/\s+/g, " ").trim().slice(0, SUBJECT_MAX),
    agentId: agent?.id ?? item.agentId,
    agentName: agent?.displayName ?? null,
    inbound: {
      key: keys.inbound,
      senderId: message.sender.id,
      senderName: message.sender.displayName,
      text: message.content.text,
      at: message.timestamp,
    },
    reply: {
      key: keys.reply,
      senderId: message.channel.botUserId ?? "",
      text: sent.text,
      model: reply.model,
      promptTokens: answered ? reply.promptTokens : null,
      completionTokens: answered ? reply.completionTokens : null,
      latencyMs: reply.latencyMs ?? null,
    },
  };
}

/**
 * Writes an exchange in one round trip through migration 0011's `konstruct_record_history`
 * (tenant set, both messages inserted unless their keys exist, the conversation's counters
 * grown by what was inserted). Returns the number of messages inserted: 0 when a previous
 * delivery of the same item already wrote them.
 */
export async function recordHistory(db: Kysely<Database>, x: HistoryExchange): Promise<number> {
  assertTenantId(x.tenantId);
  const { inbound: i, reply: r } = x;
  const { rows } = await sql<{ inserted: number }>`select konstruct_record_history(
      ${x.tenantId}, ${x.channelType}, ${x.connectionId}, ${x.threadKey}, ${x.subject}, ${x.agentId}, ${x.agentName},
      ${i.key}, ${i.senderId}, ${i.senderName}, ${i.text}, ${i.at},
      ${r.key}, ${r.senderId}, ${r.text}, ${r.model}, ${r.promptTokens}, ${r.completionTokens}, ${r.latencyMs}
    ) as inserted`.execute(db);
  return rows[0]?.inserted ?? 0;
}
