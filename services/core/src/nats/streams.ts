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
  type StreamInfo,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { STREAMS, SUBJECT_PREFIX } from "../subjects.ts";
import { replaceWhenDrained } from "./stream-replace.ts";

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
const MIB = 1024 * 1024;

/** How much a stream may hold; a pipeline stream at its bound refuses new messages. */
export interface StreamLimits {
  maxMsgs: number;
  maxBytes: number;
}

/**
 * The bounds of each stream. The three pipeline streams are work queues (a message leaves once
 * its consumer acknowledges it), so a bound is reached only by a backlog: the consumer is down or
 * slower than the traffic. Then the stream refuses new messages (discard new) rather than drop
 * accepted ones; the gateway answers 503 with Retry-After, and a service whose downstream stream
 * is full holds its message and tries again (./consume.ts). Dead letters are a record, not work:
 * the oldest go first. 448 MiB in all, inside the chart's smallest JetStream volume (1 GiB).
 */
export const STREAM_LIMITS: Readonly<Record<StreamName, StreamLimits>> = {
  KONSTRUCT_INBOUND: { maxMsgs: 100_000, maxBytes: 128 * MIB },
  KONSTRUCT_WORK: { maxMsgs: 100_000, maxBytes: 128 * MIB },
  KONSTRUCT_OUTBOUND: { maxMsgs: 100_000, maxBytes: 128 * MIB },
  KONSTRUCT_DEAD_LETTER: { maxMsgs: 50_000, maxBytes: 64 * MIB },
};

type StreamName = (typeof STREAMS)[keyof typeof STREAMS];

interface StreamSpec {
  name: StreamName;
  subjects: string[];
  retention: RetentionPolicy;
  discard: DiscardPolicy;
  maxAgeMs: number;
  duplicateWindowMs: number;
}

// Work queues: every pipeline stream has exactly one consumer per subject (router, orchestrator,
// one outbound-<channel> per channel type), which is what a work queue allows — it refuses
// overlapping filters and consumers without acks (ordered consumers).
const pipelineStream = (name: StreamName, prefix: string): StreamSpec => ({
  name,
  subjects: [`${prefix}.>`],
  retention: RetentionPolicy.Workqueue,
  discard: DiscardPolicy.New,
  maxAgeMs: DAY_MS,
  duplicateWindowMs: DUPLICATE_WINDOW_MS,
});

const streamSpecs: StreamSpec[] = [
  pipelineStream(STREAMS.inbound, SUBJECT_PREFIX.inbound),
  pipelineStream(STREAMS.work, SUBJECT_PREFIX.work),
  pipelineStream(STREAMS.outbound, SUBJECT_PREFIX.outbound),
  {
    name: STREAMS.deadLetter,
    subjects: [`${SUBJECT_PREFIX.deadLetter}.>`],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    maxAgeMs: 14 * DAY_MS,
    duplicateWindowMs: 60_000,
  },
];

/** The name of every stream, in declaration order. */
export const STREAM_NAMES: readonly string[] = streamSpecs.map((s) => s.name);

/** The work-queue streams: the ones an older limits-retention stream is replaced by (./stream-replace.ts). */
export const REPLACEABLE_STREAM_NAMES: readonly string[] = streamSpecs
  .filter((s) => s.retention === RetentionPolicy.Workqueue)
  .map((s) => s.name);

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

/** What {@link ensureStreams} did with one stream. */
export interface StreamDeclaration {
  stream: string;
  /**
   * `kept`: the stream has another retention policy, which NATS cannot change in place, and
   * still holds messages its consumers have not processed, so it was left as it was (unbounded)
   * rather than replaced; `reason` says what it holds and what to do.
   */
  action: "created" | "updated" | "replaced" | "kept";
  reason?: string;
}

/** Options for {@link ensureStreams}. */
export interface EnsureStreamsOptions {
  /** Other bounds than {@link STREAM_LIMITS}, per stream (tests fill a stream with a few messages). */
  limits?: Partial<Record<string, Partial<StreamLimits>>>;
}

/**
 * Creates or updates every stream. Idempotent. A stream made by an older version with another
 * retention policy is replaced only once it is drained (./stream-replace.ts); otherwise it is
 * kept, reported as `kept`, and replaced by a later run.
 */
export async function ensureStreams(jsm: JetStreamManager, options: EnsureStreamsOptions = {}): Promise<StreamDeclaration[]> {
  const declared: StreamDeclaration[] = [];
  for (const spec of streamSpecs) {
    const limits = { ...STREAM_LIMITS[spec.name], ...options.limits?.[spec.name] };
    const config: Partial<StreamConfig> & { name: string } = {
      name: spec.name,
      subjects: spec.subjects,
      retention: spec.retention,
      discard: spec.discard,
      max_msgs: limits.maxMsgs,
      max_bytes: limits.maxBytes,
      max_age: nanos(spec.maxAgeMs),
      duplicate_window: nanos(spec.duplicateWindowMs),
      storage: StorageType.File,
      num_replicas: 1,
    };
    let current: StreamInfo;
    try {
      current = await jsm.streams.info(spec.name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await addIgnoringRace(() => jsm.streams.add(config));
      declared.push({ stream: spec.name, action: "created" });
      continue;
    }
    if (current.config.retention !== spec.retention) {
      declared.push(await replaceWhenDrained(jsm, current, config));
      continue;
    }
    await jsm.streams.update(spec.name, config);
    declared.push({ stream: spec.name, action: "updated" });
  }
  return declared;
}

/**
 * Whether an error is JetStream refusing a publish because the stream is at its bound
 * (`maximum messages exceeded`, `maximum bytes exceeded`): back pressure, not a fault.
 */
export function isStreamFull(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof JetStreamApiError && /maximum (messages|bytes)/i.test(e.message)) return true;
  }
  return false;
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

/** Whether a JetStream API error says the stream or consumer does not exist. */
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
