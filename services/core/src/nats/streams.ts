import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
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
 * Streams are declared by the `jetstream` NATS user (`ensureStreams`: npm start's set-up, the
 * chart's JetStream Job); each service declares only its own durable consumers
 * (`ensureConsumers`), which is all its NATS permissions allow (./permissions.ts). Both are
 * idempotent: running them from every process at start-up is safe.
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

/** The name of every stream, in declaration order. */
export const STREAM_NAMES: readonly string[] = streamSpecs.map((s) => s.name);

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

/** Creates or updates every stream, then the given consumers: the set-up, with full rights. Idempotent. */
export async function ensureJetStream(jsm: JetStreamManager, consumers: readonly ConsumerSpec[] = []): Promise<void> {
  await ensureStreams(jsm);
  await ensureConsumers(jsm, consumers);
}

/** Creates or updates every stream. Idempotent. */
export async function ensureStreams(jsm: JetStreamManager): Promise<void> {
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
}

/** Options for {@link ensureConsumers}. */
export interface EnsureConsumersOptions {
  /** Called before each wait for a stream that is not declared yet. */
  onWaiting?: (stream: string, delayMs: number) => void;
  /** Stops the waiting (a shutdown during start-up). */
  signal?: AbortSignal;
}

/**
 * Creates or updates the given durable consumers. A stream that does not exist yet is waited
 * for, with backoff (500 ms doubling to 30 s): streams are another user's to declare, and a
 * service may start before that set-up has run.
 */
export async function ensureConsumers(
  jsm: JetStreamManager,
  consumers: readonly ConsumerSpec[],
  options: EnsureConsumersOptions = {},
): Promise<void> {
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
    for (let delayMs = 500; ; delayMs = Math.min(30_000, delayMs * 2)) {
      try {
        try {
          await jsm.consumers.info(c.stream, c.durable);
          await jsm.consumers.update(c.stream, c.durable, config);
        } catch (error) {
          if (!isNotFound(error)) throw error;
          await addIgnoringRace(() => jsm.consumers.add(c.stream, config));
        }
        break;
      } catch (error) {
        if (!isStreamNotFound(error)) throw error;
        options.signal?.throwIfAborted();
        options.onWaiting?.(c.stream, delayMs);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
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
