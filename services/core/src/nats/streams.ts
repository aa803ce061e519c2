import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { STREAMS, SUBJECT_PREFIX } from "../subjects.ts";

/**
 * Every JetStream stream and durable consumer Konstruct uses, declared here and nowhere else.
 * `ensureJetStream` creates or updates them; running it from every process at start-up is safe.
 */

// Slack retries an unacknowledged event after about 1 and 5 minutes; the server-side
// duplicate window must outlast that so a retry published again is dropped by NATS itself.
const DUPLICATE_WINDOW_MS = 15 * 60_000;
const DAY_MS = 24 * 60 * 60_000;

type StreamSpec = Pick<StreamConfig, "name" | "subjects" | "max_age" | "duplicate_window">;

const streamSpecs: StreamSpec[] = [
  {
    name: STREAMS.inbound,
    subjects: [`${SUBJECT_PREFIX.inbound}.>`],
    max_age: nanos(DAY_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  },
  {
    name: STREAMS.work,
    subjects: [`${SUBJECT_PREFIX.work}.>`],
    max_age: nanos(DAY_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  },
  {
    name: STREAMS.outbound,
    subjects: [`${SUBJECT_PREFIX.outbound}.>`],
    max_age: nanos(DAY_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  },
  {
    name: STREAMS.deadLetter,
    subjects: [`${SUBJECT_PREFIX.deadLetter}.>`],
    max_age: nanos(14 * DAY_MS),
    duplicate_window: nanos(60_000),
  },
];

/** A durable pull consumer: who reads which stream, and how patiently. */
export interface ConsumerSpec {
  stream: string;
  durable: string;
  filterSubject: string;
  /** How long a delivery may stay unacknowledged before NATS redelivers it. */
  ackWaitMs: number;
  /** Deliveries before a message counts as poison and goes to the dead-letter stream. */
  maxDeliver: number;
  /** Upper bound of unacknowledged messages across all replicas. */
  maxAckPending: number;
}

/** The durable consumers of the pipeline. */
export const CONSUMERS = {
  router: {
    stream: STREAMS.inbound,
    durable: "router",
    filterSubject: `${SUBJECT_PREFIX.inbound}.>`,
    ackWaitMs: 30_000,
    maxDeliver: 8,
    maxAckPending: 1_000,
  },
  orchestrator: {
    stream: STREAMS.work,
    durable: "orchestrator",
    filterSubject: `${SUBJECT_PREFIX.work}.>`,
    // Model runs are long; the consumer wrapper reports progress with `working()` meanwhile.
    ackWaitMs: 60_000,
    maxDeliver: 5,
    maxAckPending: 1_000,
  },
} satisfies Record<string, ConsumerSpec>;

/** The outbound consumer of one channel type (`outbound-slack`, `outbound-webchat`). */
export function outboundConsumer(channelType: string): ConsumerSpec {
  return {
    stream: STREAMS.outbound,
    durable: `outbound-${channelType}`,
    filterSubject: `${SUBJECT_PREFIX.outbound}.${channelType}`,
    ackWaitMs: 30_000,
    maxDeliver: 10,
    maxAckPending: 1_000,
  };
}

/** Creates or updates every stream, then the given consumers. Idempotent. */
export async function ensureJetStream(jsm: JetStreamManager, consumers: readonly ConsumerSpec[] = []): Promise<void> {
  for (const spec of streamSpecs) {
    const config: Partial<StreamConfig> & { name: string } = {
      ...spec,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: 1,
    };
    try {
      await jsm.streams.info(spec.name);
      await jsm.streams.update(spec.name, config);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await addIgnoringRace(() => jsm.streams.add(config));
    }
  }
  for (const c of consumers) {
    const config = {
      durable_name: c.durable,
      filter_subject: c.filterSubject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(c.ackWaitMs),
      max_deliver: c.maxDeliver,
      max_ack_pending: c.maxAckPending,
    };
    try {
      await jsm.consumers.info(c.stream, c.durable);
      await jsm.consumers.update(c.stream, c.durable, config);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await addIgnoringRace(() => jsm.consumers.add(c.stream, config));
    }
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.status === 404 || /not found/i.test(error.message));
}

// Two replicas starting together may both see "not found" and both add; the loser's add fails
// with "already in use", which is the state we wanted.
async function addIgnoringRace(add: () => Promise<unknown>): Promise<void> {
  try {
    await add();
  } catch (error) {
    if (!(error instanceof JetStreamApiError && /already in use|already exists/i.test(error.message))) throw error;
  }
}
