import { type Database, type KonstructMessage, routeByConnectionId, routeByExternalId, withTenant } from "@konstruct/core";
import type { Kysely } from "kysely";

/** An agent as the router needs it: enough to pick one, nothing of its prompt. */
export interface AgentSummary {
  id: string;
  name: string;
  displayName: string;
  isDefault: boolean;
  /** Names of the tenant's channel connections it serves; empty means all. */
  channels: string[];
}

/** What the router knows about the tenant behind one channel connection. */
export interface TenantProfile {
  tenantId: string;
  connection: {
    id: string;
    name: string;
    /** Slack `bot_id` of the tenant's app, when the connection recorded it (settings.botId). */
    botId: string | null;
  };
  messagesPerMinute: number;
  agents: AgentSummary[];
}

/** Options for {@link createTenantResolver}. */
export interface TenantResolverOptions {
  db: Kysely<Database>;
  /** How long a positive lookup is trusted without an invalidation event. */
  ttlMs: number;
  /** How long "no such workspace" is remembered, so a flood of unknown traffic does not hit the database. */
  negativeTtlMs?: number;
  now?: () => number;
}

/** Resolves a message to its tenant, connection and agents, with an in-process cache. */
export interface TenantResolver {
  resolve(message: KonstructMessage): Promise<TenantProfile | null>;
  /** Forgets one tenant's entries (and every negative entry), or everything when no tenant is given. */
  invalidate(tenantId?: string): void;
  readonly size: number;
}

interface Entry {
  expiresAt: number;
  value: Promise<TenantProfile | null>;
  tenantId: string | null;
}

/**
 * The tenant directory. Entries are keyed by connection id or by `<channel>:<workspace>` and
 * hold the lookup's promise, so a burst of messages from one workspace costs one query. A
 * failed lookup is not cached. Changes reach it through {@link TenantResolver.invalidate}
 * (driven by PostgreSQL's NOTIFY on every configuration write, see core's db/config-changes.ts) and, as a backstop, through the TTL.
 */
export function createTenantResolver(options: TenantResolverOptions): TenantResolver {
  const { db, ttlMs } = options;
  const negativeTtlMs = options.negativeTtlMs ?? Math.min(ttlMs, 5_000);
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const load = async (message: KonstructMessage): Promise<TenantProfile | null> => {
    const { connectionId, workspaceId } = message.channel;
    const route = connectionId
      ? await routeByConnectionId(db, connectionId)
      : await routeByExternalId(db, message.channelType, workspaceId);
    // A per-connection webhook names its connection; the workspace in the payload must be that
    // connection's, or one tenant's app could speak for another tenant's workspace.
    if (!route || route.channelType !== message.channelType || route.externalId !== workspaceId) return null;
    return withTenant(db, route.tenantId, async (trx) => {
      const tenant = await trx.selectFrom("tenants").select(["id", "messages_per_minute"]).executeTakeFirst();
      const connection = await trx
        .selectFrom("channel_connections")
        .select(["id", "name", "settings"])
        .where("id", "=", route.connectionId)
        .executeTakeFirst();
      if (!tenant || !connection) return null;
      const agents = await trx
        .selectFrom("agents")
        .select(["id", "name", "display_name", "is_default", "channels"])
        .orderBy("name")
        .execute();
      const botId = connection.settings?.botId;
      return {
        tenantId: route.tenantId,
        connection: { id: connection.id, name: connection.name, botId: typeof botId === "string" ? botId : null },
        messagesPerMinute: tenant.messages_per_minute,
        agents: agents.map((a) => ({
          id: a.id,
          name: a.name,
          displayName: a.display_name,
          isDefault: a.is_default,
          channels: a.channels,
        })),
      };
    });
  };

  return {
    resolve(message) {
      const key = message.channel.connectionId ?? `${message.channelType}:${message.channel.workspaceId}`;
      const hit = entries.get(key);
      if (hit && hit.expiresAt > now()) return hit.value;
      const value = load(message);
      const entry: Entry = { expiresAt: now() + ttlMs, value, tenantId: null };
      entries.set(key, entry);
      value.then(
        (profile) => {
          entry.tenantId = profile?.tenantId ?? null;
          if (!profile) entry.expiresAt = Math.min(entry.expiresAt, now() + negativeTtlMs);
        },
        () => {
          if (entries.get(key) === entry) entries.delete(key);
        },
      );
      return value;
    },
    invalidate(tenantId) {
      if (!tenantId) {
        entries.clear();
        return;
      }
      for (const [key, entry] of entries) {
        // Negative entries go too: the event may announce the connection that was missing.
        if (entry.tenantId === tenantId || entry.tenantId === null) entries.delete(key);
      }
    },
    get size() {
      return entries.size;
    },
  };
}
