import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "pino";

/**
 * Configuration change events. Whoever writes tenants, agents or channel connections (the
 * operator) publishes a core NATS message — not JetStream: a missed event only costs one TTL
 * of staleness — on `konstruct.events.<kind>` (`connections`, `agents`, `tenants`) with an
 * optional JSON body `{"tenantId": "<uuid>"}`. A body without a tenant id flushes everything.
 */
export const CONFIG_EVENTS_SUBJECT = "konstruct.events.>";

/** Subscribes to configuration change events and calls `invalidate` for each. */
export function subscribeConfigEvents(nc: NatsConnection, invalidate: (tenantId?: string) => void, log: Logger): Subscription {
  return nc.subscribe(CONFIG_EVENTS_SUBJECT, {
    callback: (error, msg) => {
      if (error) {
        log.warn({ err: error }, "configuration events subscription failed");
        return;
      }
      let tenantId: string | undefined;
      try {
        const body = msg.data.length > 0 ? (JSON.parse(msg.string()) as { tenantId?: unknown }) : {};
        tenantId = typeof body.tenantId === "string" ? body.tenantId : undefined;
      } catch {
        tenantId = undefined;
      }
      log.debug({ subject: msg.subject, tenantId }, "configuration changed; cache invalidated");
      invalidate(tenantId);
    },
  });
}
