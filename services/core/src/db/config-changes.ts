import pg from "pg";
import type { Logger } from "pino";
import { isUuid } from "../ids.ts";

/** The channel migration 0003 notifies on when tenants, agents or channel connections change. */
export const CONFIG_CHANNEL = "konstruct_config";

/** A running LISTEN. */
export interface ConfigChangeWatch {
  close(): Promise<void>;
}

/**
 * Calls `invalidate(tenantId)` for every committed change to a tenant's configuration rows,
 * through PostgreSQL's LISTEN on a dedicated connection. The connection is re-opened with
 * backoff when it drops; since notifications sent meanwhile are lost, each reconnect calls
 * `invalidate()` with no tenant, which must drop every cached entry.
 */
export function watchConfigChanges(
  connectionString: string,
  invalidate: (tenantId?: string) => void,
  log: Logger,
): ConfigChangeWatch {
  let client: pg.Client | null = null;
  let closed = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | null = null;

  const connect = async (): Promise<void> => {
    if (closed) return;
    const c = new pg.Client({ connectionString, application_name: "konstruct-config-listener" });
    client = c;
    // Any role that may connect can NOTIFY any channel (PostgreSQL has no privilege for it), so
    // a tenant's own login can send these too. That is harmless by construction: a notification
    // only drops cached entries, which are then re-read from rows only the platform may write.
    // The trigger always names a tenant, so a payload that does not is ignored instead of
    // dropping every tenant's entries.
    c.on("notification", (n) => {
      let tenantId: unknown;
      try {
        tenantId = (JSON.parse(n.payload ?? "{}") as { tenantId?: unknown }).tenantId;
      } catch {
        tenantId = undefined;
      }
      if (isUuid(tenantId)) invalidate(tenantId);
      else log.debug({ reason: "no-tenant-id", processId: n.processId }, "ignored a configuration notification");
    });
    c.on("error", (err) => log.warn({ err }, "configuration change listener lost its connection"));
    c.on("end", () => {
      if (!closed) schedule();
    });
    try {
      await c.connect();
      await c.query(`listen ${CONFIG_CHANNEL}`);
      if (attempt > 0) invalidate();
      attempt = 0;
    } catch (err) {
      log.warn({ err }, "configuration change listener could not connect; retrying");
      await c.end().catch(() => {});
      schedule();
    }
  };
  const schedule = (): void => {
    if (closed || timer) return;
    attempt++;
    timer = setTimeout(
      () => {
        timer = null;
        void connect();
      },
      Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)),
    );
    timer.unref();
  };

  void connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await client?.end().catch(() => {});
    },
  };
}
