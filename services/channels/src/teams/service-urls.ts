import { keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/**
 * Where a Teams conversation is answered. The Bot Framework names the conversation's service
 * URL in every activity (it differs by region and cloud, and may change); a reply must go to the
 * URL of the latest verified activity. The URL is kept per tenant and conversation in Redis, set
 * only by the ingress after the activity's token was verified and its `serviceurl` claim
 * matched, and read by the sender. The tenant's own Redis user may read the key, not write it
 * (no tenant-writable type), so nobody but the gateway can point a bot's token at another host.
 */
export interface TeamsServiceUrls {
  remember(tenantId: string, conversationId: string, serviceUrl: string): Promise<void>;
  lookup(tenantId: string, conversationId: string): Promise<string | null>;
}

// Replies follow their question within minutes; a month covers any redelivery of a reply.
const TTL_SECONDS = 30 * 24 * 60 * 60;

const keyOf = (tenantId: string, conversationId: string) => redisKey(tenantId, "conversation", "teams", keyPart(conversationId));

/** The service URLs in Redis. */
export function createTeamsServiceUrls(redis: Redis): TeamsServiceUrls {
  return {
    async remember(tenantId, conversationId, serviceUrl) {
      await redis.set(keyOf(tenantId, conversationId), serviceUrl, "EX", TTL_SECONDS);
    },
    lookup: (tenantId, conversationId) => redis.get(keyOf(tenantId, conversationId)),
  };
}

/**
 * The service URLs replies may go to, as origins (`https://smba.trafficmanager.net`) or origins
 * with a wildcard first label (`https://*.botframework.com`). A verified token already binds the
 * URL to Microsoft's signature; the list keeps a bot's credentials from ever being sent anywhere
 * else should a signing key leak or the metadata host be misconfigured.
 */
export const DEFAULT_TEAMS_SERVICE_URLS = [
  "https://smba.trafficmanager.net",
  "https://smba.infra.gcc.teams.microsoft.com",
  "https://smba.infra.gov.teams.microsoft.us",
  "https://smba.infra.dod.teams.microsoft.us",
] as const;

/** A predicate over service URLs from an allow-list of origins. */
export function serviceUrlAllowList(entries: readonly string[]): (serviceUrl: string) => boolean {
  const patterns = entries.map((entry) => {
    const match = /^(https?):\/\/(\*\.)?([^/:]+)(:\d+)?\/?$/.exec(entry.trim().toLowerCase());
    if (!match) throw new Error(`Teams service URL allow-list entry ${JSON.stringify(entry)} is not an origin like https://host`);
    const [, scheme, wildcard, host, port] = match;
    return { scheme: `${scheme}:`, wildcard: wildcard !== undefined, host: host as string, port: port?.slice(1) ?? "" };
  });
  return (serviceUrl) => {
    let url: URL;
    try {
      url = new URL(serviceUrl);
    } catch {
      return false;
    }
    if (url.username || url.password) return false;
    return patterns.some(
      (p) =>
        p.scheme === url.protocol &&
        p.port === url.port &&
        (p.wildcard ? url.hostname.endsWith(`.${p.host}`) : url.hostname === p.host),
    );
  };
}
