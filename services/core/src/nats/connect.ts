import { connect, type NatsConnection } from "@nats-io/transport-node";

/** Connects to NATS and keeps reconnecting forever: a broker restart must not end a service. */
export async function connectNats(servers: string, name: string): Promise<NatsConnection> {
  return connect({
    servers: servers.split(","),
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
