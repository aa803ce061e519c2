import { deadLetterSubject, STREAMS, SUBJECT_PREFIX } from "../subjects.ts";
import { CONSUMERS, REPLACEABLE_STREAM_NAMES, STREAM_NAMES } from "./streams.ts";

/**
 * Who may publish and subscribe to what on NATS: the one table every server configuration
 * (scripts/servers.sh, the chart) and every service connection is derived from.
 *
 * Each service has its own user. It may publish its own subjects, pull and acknowledge from its
 * own durable consumers, and declare those consumers. Streams are declared by a separate
 * `jetstream` user (`npm start`'s set-up, the chart's JetStream Job) so that no service can
 * change a stream's subjects or limits. A connection without credentials is refused.
 *
 * Replies come back on a per-user inbox prefix (`_INBOX_gateway.…`), never the shared `_INBOX.>`:
 * JetStream delivers a pull consumer's messages to the puller's inbox, so a user allowed to
 * subscribe to every inbox could read every other service's messages.
 */

/** A service user (or the stream set-up user) of the NATS server. */
export type NatsUser = "gateway" | "router" | "orchestrator" | "jetstream";

/** A user's allow-lists; anything not listed is denied. */
export interface NatsPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** A durable consumer a service pulls from; `durable: "*"` is every durable of the stream. */
interface ConsumerGrant {
  readonly stream: string;
  readonly durable: string;
}

// The JetStream API subjects (ADR-1 of nats-architecture-and-design) a client publishes its
// requests to. Consumer creation has three spellings: servers before 2.9 use DURABLE.CREATE,
// 2.9+ clients send CREATE.<stream>.<name> or, with one filter subject, CREATE.<stream>.<name>.<filter>.
const JS_API = "$JS.API";
const jsApi = {
  accountInfo: `${JS_API}.INFO`,
  streamInfo: (stream: string) => `${JS_API}.STREAM.INFO.${stream}`,
  streamCreate: (stream: string) => `${JS_API}.STREAM.CREATE.${stream}`,
  streamUpdate: (stream: string) => `${JS_API}.STREAM.UPDATE.${stream}`,
  streamDelete: (stream: string) => `${JS_API}.STREAM.DELETE.${stream}`,
  consumerList: (stream: string) => `${JS_API}.CONSUMER.LIST.${stream}`,
  consumerInfo: (c: ConsumerGrant) => `${JS_API}.CONSUMER.INFO.${c.stream}.${c.durable}`,
  consumerCreate: (c: ConsumerGrant) => [
    `${JS_API}.CONSUMER.CREATE.${c.stream}.${c.durable}`,
    `${JS_API}.CONSUMER.CREATE.${c.stream}.${c.durable}.>`,
    `${JS_API}.CONSUMER.DURABLE.CREATE.${c.stream}.${c.durable}`,
  ],
  next: (c: ConsumerGrant) => `${JS_API}.CONSUMER.MSG.NEXT.${c.stream}.${c.durable}`,
  ack: (c: ConsumerGrant) => `$JS.ACK.${c.stream}.${c.durable}.>`,
};

/** The inbox prefix a user's connection must use (connect option `inboxPrefix`). */
export function inboxPrefix(user: NatsUser): string {
  return `_INBOX_${user}`;
}

/** Every tenant's reply deltas (`konstruct.stream.<tenantId>.<channel>`), on core NATS. */
const REPLY_STREAMS = `${SUBJECT_PREFIX.stream}.*.*`;

/**
 * What each service does on NATS, in the terms of the pipeline: what it publishes, the durable
 * consumers it pulls from, and the core NATS subjects it subscribes to.
 */
const SERVICES: Record<
  Exclude<NatsUser, "jetstream">,
  { publishes: string[]; consumes: ConsumerGrant[]; subscribes: string[] }
> = {
  // Publishes what channels receive; is the only reader of the outbound stream (one durable
  // per channel type, `outbound-<type>`, hence every durable of that stream), and of the reply
  // deltas it relays to the channels that show replies live.
  gateway: {
    publishes: [`${SUBJECT_PREFIX.inbound}.*`],
    consumes: [{ stream: STREAMS.outbound, durable: "*" }],
    subscribes: [REPLY_STREAMS],
  },
  // Publishes routed work and its own notices (rate limited, no agent) as replies.
  router: {
    publishes: [`${SUBJECT_PREFIX.work}.*`, `${SUBJECT_PREFIX.outbound}.*`],
    consumes: [CONSUMERS.router],
    subscribes: [],
  },
  // Publishes replies, and their text as it is written (read by nobody but the gateway).
  orchestrator: {
    publishes: [`${SUBJECT_PREFIX.outbound}.*`, REPLY_STREAMS],
    consumes: [CONSUMERS.orchestrator],
    subscribes: [],
  },
};

function servicePermissions(user: Exclude<NatsUser, "jetstream">): NatsPermissions {
  const { publishes, consumes, subscribes } = SERVICES[user];
  return {
    publish: [
      ...publishes,
      ...consumes.flatMap((c) => [
        // A poison message is recorded on the dead-letter stream by its consumer (runConsumer).
        deadLetterSubject(c.stream),
        jsApi.consumerInfo(c),
        ...jsApi.consumerCreate(c),
        jsApi.next(c),
        jsApi.ack(c),
      ]),
    ],
    subscribe: [`${inboxPrefix(user)}.>`, ...subscribes],
  };
}

/**
 * The stream set-up user: declares and updates the streams, and nothing else. It may list a
 * stream's consumers and delete a pipeline stream, which replacing a stream of another retention
 * policy once it is drained takes (./stream-replace.ts); the dead letters it may not delete.
 */
function jetstreamPermissions(): NatsPermissions {
  return {
    publish: [
      jsApi.accountInfo,
      ...STREAM_NAMES.flatMap((s) => [jsApi.streamInfo(s), jsApi.streamCreate(s), jsApi.streamUpdate(s), jsApi.consumerList(s)]),
      ...REPLACEABLE_STREAM_NAMES.map(jsApi.streamDelete),
    ],
    subscribe: [`${inboxPrefix("jetstream")}.>`],
  };
}

/** Every NATS user, in a stable order. */
export const NATS_USERS: readonly NatsUser[] = ["gateway", "router", "orchestrator", "jetstream"];

/** The permission table: each user's allow-lists. */
export const NATS_PERMISSIONS: Readonly<Record<NatsUser, NatsPermissions>> = Object.freeze({
  gateway: servicePermissions("gateway"),
  router: servicePermissions("router"),
  orchestrator: servicePermissions("orchestrator"),
  jetstream: jetstreamPermissions(),
});

/**
 * A nats-server `authorization` block for every user in the table. `password(user)` gives the
 * value as it goes into the file: a quoted literal, or `$VARIABLE` for the server to read from
 * its environment (the chart). `extraUsers` are added without permissions (full access), for a
 * development admin.
 */
export function natsAuthorizationConfig(
  password: (user: NatsUser) => string,
  extraUsers: readonly { user: string; password: string }[] = [],
): string {
  const list = (subjects: readonly string[]) => `[${subjects.map((s) => JSON.stringify(s)).join(", ")}]`;
  const users = NATS_USERS.map((user) => {
    const p = NATS_PERMISSIONS[user];
    return [
      `    {`,
      `      user: ${JSON.stringify(user)}`,
      `      password: ${password(user)}`,
      `      permissions: {`,
      `        publish: { allow: ${list(p.publish)} }`,
      `        subscribe: { allow: ${list(p.subscribe)} }`,
      `      }`,
      `    }`,
    ].join("\n");
  });
  for (const extra of extraUsers) {
    users.push(`    { user: ${JSON.stringify(extra.user)}, password: ${JSON.stringify(extra.password)} }`);
  }
  return `authorization {\n  users: [\n${users.join("\n")}\n  ]\n}\n`;
}

/** A NATS URL with `user`'s credentials in it (replacing any that were there), for each server of a list. */
export function natsUrlFor(servers: string, user: NatsUser, password: string): string {
  return servers
    .split(",")
    .map((server) => {
      const url = new URL(server);
      url.username = user;
      url.password = password;
      return url.toString().replace(/\/$/, "");
    })
    .join(",");
}
