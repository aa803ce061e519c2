import { type Database, routeByConnectionId, withTenant } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";

/** The agent a web chat page introduces: display name and job title. */
export interface WebchatAgent {
  displayName: string;
  role: string;
}

/** One web chat connection, as the gateway needs it. Nothing in it is secret. */
export interface WebchatConnection {
  connectionId: string;
  tenantId: string;
  /** `channel_connections.external_id`: the message's workspace id, checked again by the router. */
  externalId: string;
  /** The channel's name in the Tenant spec (agents list the channels they serve by name). */
  name: string;
  /** Origins (scheme://host[:port]) allowed to embed the chat and call its API. */
  allowedOrigins: readonly string[];
  /** The agent who answers here, or null when the tenant has none yet. */
  agent: WebchatAgent | null;
  /** The tenant's messages-per-minute limit: the connection's budget, checked before publishing. */
  messagesPerMinute: number;
}

/** Where the web chat channel reads its connections from. */
export interface WebchatConnectionStore {
  /** The connection, or null when no web chat connection has this id. */
  get(connectionId: string): Promise<WebchatConnection | null>;
}

/** Options for {@link createWebchatConnectionStore}. */
export interface WebchatConnectionStoreOptions extends ConnectionCacheOptions {
  db: Kysely<Database>;
}

/** Normalizes an origin for comparison (`https://Example.com:443` → `https://example.com`); null when it is not one. */
export function normalizeOrigin(value: string): string | null {
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.origin;
  } catch {
    return null;
  }
}

/**
 * Reads web chat connections: the tenant from `routeByConnectionId`, then the connection row and
 * the agent serving it through `withTenant` (RLS), cached for a short TTL. The agent is the one
 * a message without a name in it would reach: the default agent if it serves this channel, else
 * the first agent that does.
 */
export function createWebchatConnectionStore(options: WebchatConnectionStoreOptions): WebchatConnectionStore {
  const { db } = options;

  async function load(connectionId: string): Promise<WebchatConnection | null> {
    const route = await routeByConnectionId(db, connectionId);
    if (route?.channelType !== "webchat") return null;
    return withTenant(db, route.tenantId, async (trx) => {
      const row = await trx
        .selectFrom("channel_connections")
        .select(["external_id", "name", "settings"])
        .where("id", "=", connectionId)
        .executeTakeFirst();
      if (!row) return null;
      const tenant = await trx.selectFrom("tenants").select("messages_per_minute").executeTakeFirst();
      const agents = await trx
        .selectFrom("agents")
        .select(["display_name", "role", "is_default", "channels"])
        .orderBy("name")
        .execute();
      const serving = agents.filter((a) => a.channels.length === 0 || a.channels.includes(row.name));
      const agent = serving.find((a) => a.is_default) ?? serving[0];
      const origins = Array.isArray(row.settings?.allowedOrigins) ? row.settings.allowedOrigins : [];
      return {
        connectionId,
        tenantId: route.tenantId,
        externalId: row.external_id,
        name: row.name,
        allowedOrigins: origins.flatMap((o) => (typeof o === "string" ? (normalizeOrigin(o) ?? []) : [])),
        agent: agent ? { displayName: agent.display_name, role: agent.role } : null,
        messagesPerMinute: tenant?.messages_per_minute ?? 0,
      };
    });
  }

  return { get: createConnectionCache(load, options) };
}
