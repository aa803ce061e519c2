import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ConfigError } from "../errors.ts";
import { inboxPrefix, NATS_USERS, type NatsUser } from "./permissions.ts";

/** Servers without credentials, and the one user and password the URLs carry (if any). */
export interface NatsServers {
  servers: string[];
  user?: string;
  pass?: string;
}

/**
 * Splits `nats://user:pass@host:port,nats://host2:port` into servers and credentials. The
 * credentials go to the client as options, never inside a server URL, so nats.js cannot echo
 * them in an error or a status event.
 */
export function parseNatsServers(servers: string): NatsServers {
  let user: string | undefined;
  let pass: string | undefined;
  const list = servers.split(",").map((server) => {
    const url = new URL(server);
    if (url.username !== "") {
      const u = decodeURIComponent(url.username);
      const p = decodeURIComponent(url.password);
      if (user !== undefined && (user !== u || pass !== p))
        throw new ConfigError(["NATS_URL names different credentials for different servers; give every server the same user"]);
      user = u;
      pass = p;
    }
    return `${url.protocol}//${url.host}`;
  });
  return { servers: list, ...(user === undefined ? {} : { user, pass }) };
}

/** Connects to NATS and keeps reconnecting forever: a broker restart must not end a service. */
export async function connectNats(servers: string, name: string): Promise<NatsConnection> {
  const parsed = parseNatsServers(servers);
  // A service user may subscribe only to its own inbox prefix (./permissions.ts).
  const ownInbox = NATS_USERS.includes(parsed.user as NatsUser) ? { inboxPrefix: inboxPrefix(parsed.user as NatsUser) } : {};
  return connect({
    servers: parsed.servers,
    ...(parsed.user === undefined ? {} : { user: parsed.user, pass: parsed.pass }),
    ...ownInbox,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // Fail the first connect fast so start-up errors are clear; reconnects after that are unbounded.
    timeout: 5_000,
    // nats.js otherwise builds an Error per request (every publish and ackAck) to keep the
    // caller's stack for a later failure; under load that capture showed in CPU profiles.
    noAsyncTraces: true,
  });
}
