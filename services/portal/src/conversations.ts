import { type Database, isUuid, withTenant } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { notFound, PortalError } from "./errors.ts";

/** Rows per page of every list. */
export const PAGE_SIZE = 50;

/** One page of a list and the cursor of the next (null at the end). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface ConversationSummary {
  id: string;
  channelType: string;
  connectionName: string;
  threadKey: string;
  subject: string;
  startedAt: Date;
  lastMessageAt: Date;
  messageCount: number;
}

export interface MessageView {
  id: string;
  conversationId: string;
  direction: "inbound" | "reply";
  senderName: string | null;
  /** The channel's id of the sender (a Slack user id, a web chat visitor id); "" for replies. */
  senderId: string;
  agentName: string | null;
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  latencyMs: number | null;
  text: string;
  createdAt: Date;
}

/**
 * Keyset cursors: the last row's (time, id), so page N costs what page 1 costs; opaque to
 * clients (base64url), and a tampered one is a 400, not a scan from nowhere.
 */
function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString("base64url");
}

function decodeCursor(cursor: string | undefined): { at: Date; id: string } | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  const [at, id] = Buffer.from(cursor, "base64url").toString().split("|");
  const date = new Date(at ?? "");
  if (id === undefined || !isUuid(id) || Number.isNaN(date.getTime()))
    throw new PortalError("invalid", "This page link is damaged. Go back to the first page.");
  return { at: date, id };
}

/** Conversations, most recent first, optionally of one channel (connection name). */
export async function listConversations(
  db: Kysely<Database>,
  tenantId: string,
  options: { channel?: string; cursor?: string },
): Promise<Page<ConversationSummary>> {
  const after = decodeCursor(options.cursor);
  const rows = await withTenant(db, tenantId, (trx) => {
    let query = trx.selectFrom("conversations").selectAll();
    if (options.channel) query = query.where("connection_name", "=", options.channel);
    if (after) query = query.where(sql<boolean>`(last_message_at, id) < (${after.at}, ${after.id})`);
    return query
      .orderBy("last_message_at", "desc")
      .orderBy("id", "desc")
      .limit(PAGE_SIZE + 1)
      .execute();
  });
  const items = rows.slice(0, PAGE_SIZE).map((r) => ({
    id: r.id,
    channelType: r.channel_type,
    connectionName: r.connection_name,
    threadKey: r.thread_key,
    subject: r.subject,
    startedAt: r.started_at,
    lastMessageAt: r.last_message_at,
    messageCount: r.message_count,
  }));
  const last = items.at(-1);
  return { items, next: rows.length > PAGE_SIZE && last ? encodeCursor(last.lastMessageAt, last.id) : null };
}

type MessageRow = {
  id: string;
  conversation_id: string;
  direction: "inbound" | "reply";
  sender_name: string | null;
  sender_id: string;
  agent_name: string | null;
  model: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  latency_ms: number | null;
  text: string;
  created_at: Date;
};

const toMessage = (r: MessageRow): MessageView => ({
  id: r.id,
  conversationId: r.conversation_id,
  direction: r.direction,
  senderName: r.sender_name,
  senderId: r.sender_id,
  agentName: r.agent_name,
  model: r.model,
  promptTokens: r.prompt_tokens,
  completionTokens: r.completion_tokens,
  latencyMs: r.latency_ms,
  text: r.text,
  createdAt: r.created_at,
});

const MESSAGE_COLUMNS = [
  "id",
  "conversation_id",
  "direction",
  "sender_name",
  "sender_id",
  "agent_name",
  "model",
  "prompt_tokens",
  "completion_tokens",
  "latency_ms",
  "text",
  "created_at",
] as const;

/** A conversation and a page of its messages, oldest first; not found outside the tenant. */
export async function getThread(
  db: Kysely<Database>,
  tenantId: string,
  conversationId: string,
  cursor?: string,
): Promise<{ conversation: ConversationSummary; messages: Page<MessageView> }> {
  if (!isUuid(conversationId)) throw notFound("This conversation");
  const after = decodeCursor(cursor);
  return withTenant(db, tenantId, async (trx) => {
    const c = await trx.selectFrom("conversations").selectAll().where("id", "=", conversationId).executeTakeFirst();
    if (c === undefined) throw notFound("This conversation");
    let query = trx.selectFrom("conversation_messages").select(MESSAGE_COLUMNS).where("conversation_id", "=", conversationId);
    if (after) query = query.where(sql<boolean>`(created_at, id) > (${after.at}, ${after.id})`);
    const rows = await query
      .orderBy("created_at")
      .orderBy("id")
      .limit(PAGE_SIZE + 1)
      .execute();
    const items = rows.slice(0, PAGE_SIZE).map(toMessage);
    const last = items.at(-1);
    return {
      conversation: {
        id: c.id,
        channelType: c.channel_type,
        connectionName: c.connection_name,
        threadKey: c.thread_key,
        subject: c.subject,
        startedAt: c.started_at,
        lastMessageAt: c.last_message_at,
        messageCount: c.message_count,
      },
      messages: { items, next: rows.length > PAGE_SIZE && last ? encodeCursor(last.createdAt, last.id) : null },
    };
  });
}

/**
 * How many of the newest messages the first try of a search reads in time order. A search whose
 * words are common finds its page there at once; one whose words are rare (or absent) would make
 * PostgreSQL walk the whole history backwards through the time index, testing every row — its
 * estimate for two words together, or a phrase, assumes they are independent and far too common
 * (0.5 s for no match in 200,000 messages). Those searches go by the full-text index instead.
 */
export const SEARCH_RECENT_WINDOW = 2_000;

/** Messages matching a web-search-style query (`websearch_to_tsquery('simple', …)`), newest first. */
export async function searchMessages(
  db: Kysely<Database>,
  tenantId: string,
  q: string,
  cursor?: string,
): Promise<Page<MessageView>> {
  const query = q.trim().slice(0, 200);
  if (query.length === 0) return { items: [], next: null };
  const after = decodeCursor(cursor);
  const columns = sql.join(MESSAGE_COLUMNS.map((c) => sql.ref(c)));
  const before = after ? sql`(created_at, id) < (${after.at}, ${after.id})` : sql`true`;
  const matches = sql`search @@ websearch_to_tsquery('simple', ${query})`;
  const rows = await withTenant(db, tenantId, async (trx) => {
    // 1. The newest messages, in time order: if a page and one more match are among them, they
    //    are the newest matches of all, since every message outside the window is older.
    const recent = await sql<MessageRow>`
      select ${columns} from (
        select ${columns}, search from conversation_messages
        where ${before}
        order by created_at desc, id desc
        limit ${SEARCH_RECENT_WINDOW}
      ) w
      where ${matches}
      order by created_at desc, id desc
      limit ${PAGE_SIZE + 1}`.execute(trx);
    if (recent.rows.length > PAGE_SIZE) return recent.rows;
    // 2. Fewer matches than a page there: the words are rare, so the full-text index's matches
    //    are few; a materialized CTE keeps the planner from walking the time index again.
    const all = await sql<MessageRow>`
      with hits as materialized (
        select ${columns} from conversation_messages where ${matches} and ${before}
      )
      select * from hits order by created_at desc, id desc limit ${PAGE_SIZE + 1}`.execute(trx);
    return all.rows;
  });
  const items = rows.slice(0, PAGE_SIZE).map(toMessage);
  const last = items.at(-1);
  return { items, next: rows.length > PAGE_SIZE && last ? encodeCursor(last.createdAt, last.id) : null };
}
