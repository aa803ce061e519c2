import { type Kysely, sql } from "kysely";
import type { Logger } from "../logger.ts";
import type { Database } from "./types.ts";
import { withTenant } from "./with-tenant.ts";

/** What one connection's row should say next; the newest of each kind wins. */
export interface ActivityUpdate {
  tenantId: string;
  connectionId: string;
  eventAt?: Date;
  error?: { detail: string; at: Date };
}

/** Where throttled activity is written: `channel_activity` (migration 0017), or a test's wrapper of it. */
export type ActivityWriter = (update: ActivityUpdate) => Promise<void>;

/** The longest error detail kept; Slack and Telegram say what went wrong in a few words. */
export const ACTIVITY_ERROR_MAX = 500;

/**
 * Writes one connection's activity in the tenant's own transaction. The row is written only for a
 * connection the tenant can see (the `select` runs under its RLS), so a reply claiming another
 * tenant's connection records nothing; times only move forward.
 */
export function channelActivityWriter(db: Kysely<Database>): ActivityWriter {
  return (u) =>
    withTenant(db, u.tenantId, async (trx) => {
      await sql`
        insert into channel_activity as a (connection_id, tenant_id, last_event_at, last_error, last_error_at)
        select c.id, c.tenant_id, ${u.eventAt ?? null}::timestamptz, ${u.error?.detail.slice(0, ACTIVITY_ERROR_MAX) ?? null},
               ${u.error?.at ?? null}::timestamptz
        from channel_connections c where c.id = ${u.connectionId}::uuid
        on conflict (connection_id) do update set
          last_event_at = greatest(a.last_event_at, excluded.last_event_at),
          last_error = case when excluded.last_error_at >= a.last_error_at or a.last_error_at is null
                            then coalesce(excluded.last_error, a.last_error) else a.last_error end,
          last_error_at = greatest(a.last_error_at, excluded.last_error_at)`.execute(trx);
    });
}

/** Records when a connection last received an event and met a delivery error, cheaply. */
export interface ChannelActivity {
  /** An inbound event of this connection was accepted now. Never waits, never throws. */
  event(tenantId: string, connectionId: string): void;
  /** A reply's delivery through this connection failed with `detail`. Never waits, never throws. */
  error(tenantId: string, connectionId: string, detail: string): void;
  /** Writes whatever is pending now (shutdown, tests). */
  flush(): Promise<void>;
}

interface Slot {
  pending: ActivityUpdate | undefined;
  lastWriteMs: number;
  timer: NodeJS.Timeout | undefined;
  writing: Promise<void> | undefined;
}

/**
 * A throttle in front of `write`: per connection, the first record is written at once (on the
 * next tick) and later ones at most once per `minIntervalMs`, merged, the newest of each kind
 * winning — so a connection taking 1,000 messages a second costs one small write every few
 * seconds per process, and the last state is always written in the end. A failed write is
 * logged and dropped: activity is a hint for people, never worth a retry loop on the hot path.
 * Memory is one slot per connection this process has seen.
 */
export function createChannelActivity(
  write: ActivityWriter,
  options: { minIntervalMs?: number; log?: Logger; now?: () => number } = {},
): ChannelActivity {
  const minIntervalMs = options.minIntervalMs ?? 5_000;
  const now = options.now ?? Date.now;
  const slots = new Map<string, Slot>();

  const writeSlot = (slot: Slot): Promise<void> => {
    slot.timer = undefined;
    const update = slot.pending;
    if (update === undefined) return Promise.resolve();
    slot.pending = undefined;
    slot.lastWriteMs = now();
    const writing = write(update)
      .catch((error: unknown) =>
        options.log?.warn({ err: error, connectionId: update.connectionId }, "could not record the channel's activity"),
      )
      .finally(() => {
        if (slot.writing === writing) slot.writing = undefined;
      });
    slot.writing = writing;
    return writing;
  };

  const record = (tenantId: string, connectionId: string, change: Pick<ActivityUpdate, "eventAt" | "error">) => {
    // Keyed by tenant too: a reply naming another tenant's connection must not take over the slot.
    const key = `${tenantId}/${connectionId}`;
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = { pending: undefined, lastWriteMs: Number.NEGATIVE_INFINITY, timer: undefined, writing: undefined };
      slots.set(key, slot);
    }
    slot.pending ??= { tenantId, connectionId };
    const p = slot.pending;
    if (change.eventAt) p.eventAt = change.eventAt;
    if (change.error) p.error = change.error;
    if (slot.timer !== undefined) return;
    const s = slot;
    s.timer = setTimeout(() => void writeSlot(s), Math.max(0, s.lastWriteMs + minIntervalMs - now()));
    s.timer.unref();
  };

  return {
    event: (tenantId, connectionId) => record(tenantId, connectionId, { eventAt: new Date(now()) }),
    error: (tenantId, connectionId, detail) => record(tenantId, connectionId, { error: { detail, at: new Date(now()) } }),
    async flush() {
      await Promise.all(
        [...slots.values()].map(async (slot) => {
          if (slot.timer !== undefined) clearTimeout(slot.timer);
          await slot.writing;
          await writeSlot(slot);
        }),
      );
    },
  };
}
