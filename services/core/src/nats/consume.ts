import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { deadLetterSubject } from "../subjects.ts";
import { type ConsumerSpec, ensureConsumers, isStreamFull } from "./streams.ts";

/** What a handler decided about one message; {@link runConsumer} turns it into ack, nak or term. */
export type Disposition =
  | { kind: "ack" }
  /** Transient failure (a dependency is down): redeliver after `delayMs`. */
  | { kind: "retry"; delayMs: number; reason: string }
  /** The message can never succeed: terminate it and keep a dead-letter record. */
  | { kind: "poison"; reason: string };

export const ack: Disposition = { kind: "ack" };
export const retry = (reason: string, delayMs = 1_000): Disposition => ({ kind: "retry", delayMs, reason });
export const poison = (reason: string): Disposition => ({ kind: "poison", reason });

export type Handler = (msg: JsMsg) => Promise<Disposition>;

/** Options for {@link runConsumer}. */
export interface RunConsumerOptions {
  js: JetStreamClient;
  consumer: ConsumerSpec;
  handler: Handler;
  /** Messages handled at once by this process. */
  concurrency: number;
  log: Logger;
  /** Called after each outcome, for metrics. */
  onOutcome?: (outcome: Disposition, durationMs: number) => void;
}

/** A running consumer loop. */
export interface RunningConsumer {
  /** Stops pulling, waits for in-flight handlers, and resolves when the loop has ended. */
  stop(): Promise<void>;
}

/** Backoff for a thrown handler error: exponential by delivery count, with jitter, capped. */
export function retryDelay(deliveryCount: number, baseMs = 500, capMs = 30_000): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/**
 * Pulls from a durable consumer and runs `handler` on at most `concurrency` messages at once.
 * A handler that throws is treated as a transient failure. A message that still fails on its
 * last allowed delivery is poison: it is recorded on the dead-letter stream, then terminated,
 * so it neither blocks the consumer nor disappears without a trace.
 */
export async function runConsumer(options: RunConsumerOptions): Promise<RunningConsumer> {
  const { js, consumer: spec, handler, concurrency, log } = options;
  const consumer = await js.consumers.get(spec.stream, spec.durable);
  // Pulls expire after 10 s (nats.js: 30 s), so a consumer deleted and declared again (below)
  // is pulled from again within about that long; an idle pull costs one request per 10 s.
  const messages = await consumer.consume({ max_messages: concurrency, expires: 10_000 });
  const inFlight = new Set<Promise<void>>();
  const stopping = new AbortController();
  let wake: (() => void) | null = null;

  const settle = async (msg: JsMsg): Promise<void> => {
    const started = performance.now();
    // Long handlers (a model run) tell the server they are alive, so it does not redeliver.
    const heartbeat = setInterval(() => msg.working(), Math.max(1_000, spec.ackWaitMs / 3));
    let outcome: Disposition;
    try {
      outcome = await handleHoldingWhenFull(msg, handler, log, stopping.signal);
    } catch (error) {
      log.warn({ err: error, subject: msg.subject, delivery: msg.info.deliveryCount }, "handler failed; will retry");
      outcome = retry(error instanceof Error ? error.message : String(error), retryDelay(msg.info.deliveryCount));
    } finally {
      clearInterval(heartbeat);
    }
    if (outcome.kind === "retry" && msg.info.deliveryCount >= spec.maxDeliver) {
      outcome = poison(`gave up after ${msg.info.deliveryCount} deliveries: ${outcome.reason}`);
    }
    await apply(js, spec, msg, outcome, log);
    options.onOutcome?.(outcome, performance.now() - started);
  };

  const loop = (async () => {
    for await (const msg of messages) {
      while (inFlight.size >= concurrency) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      const task = settle(msg).finally(() => {
        inFlight.delete(task);
        wake?.();
        wake = null;
      });
      inFlight.add(task);
    }
  })();

  // The stream set-up may replace a stream (./stream-replace.ts), which deletes its consumers.
  // The pulls carry on by name, so declaring the consumer again is all it takes to resume.
  let recreating: Promise<void> | null = null;
  void (async () => {
    for await (const status of messages.status()) {
      const gone =
        status.type === "consumer_deleted" || status.type === "consumer_not_found" || status.type === "stream_not_found";
      if (!gone || recreating || stopping.signal.aborted) continue;
      log.warn({ consumer: spec.durable, stream: spec.stream, status: status.type }, "consumer gone; declaring it again");
      recreating = (async () => {
        try {
          await ensureConsumers(await js.jetstreamManager(false), [spec], { signal: stopping.signal });
          log.info({ consumer: spec.durable }, "consumer declared again");
        } catch (error) {
          if (!stopping.signal.aborted) log.error({ err: error, consumer: spec.durable }, "could not declare the consumer again");
        } finally {
          recreating = null;
        }
      })();
    }
  })().catch((error) => log.debug({ err: error }, "consumer status watch ended"));

  return {
    async stop() {
      stopping.abort();
      await messages.close();
      await loop;
      await Promise.allSettled([...inFlight]);
    },
  };
}

/**
 * Runs the handler; while it fails because a stream it publishes to is full, waits and runs it
 * again (1 s doubling to 15 s), keeping the message and its slot: handlers are safe to repeat
 * (each records its progress), a retry here does not count as a delivery, so nothing this
 * consumer took is dead-lettered for a backlog downstream. With every slot holding, this consumer
 * stops pulling, its own stream fills, and the back pressure reaches the gateway, which answers
 * 503. A stop in the meantime gives the message back to the stream.
 */
async function handleHoldingWhenFull(msg: JsMsg, handler: Handler, log: Logger, stopping: AbortSignal): Promise<Disposition> {
  for (let waitMs = 1_000; ; waitMs = Math.min(15_000, waitMs * 2)) {
    try {
      return await handler(msg);
    } catch (error) {
      if (!isStreamFull(error) || stopping.aborted) throw error;
      log.warn({ subject: msg.subject, waitMs }, "a stream downstream is full; holding the message");
      await sleep(waitMs, undefined, { signal: stopping });
    }
  }
}

async function apply(js: JetStreamClient, spec: ConsumerSpec, msg: JsMsg, outcome: Disposition, log: Logger): Promise<void> {
  switch (outcome.kind) {
    case "ack":
      // A plain ack, not ackAck: waiting for the server's confirmation cost a request/reply per
      // message (~0.17 ms CPU in each service) to rule out only a redelivery after a lost ack or
      // a crash in between, and every handler already finishes a redelivered message without
      // doing its work twice (router: the stored decision, published again under its msgID;
      // orchestrator: the settled reply, likewise; outbound: the reply ledger). Drain on
      // shutdown flushes the acks still buffered.
      msg.ack();
      return;
    case "retry":
      msg.nak(outcome.delayMs);
      return;
    case "poison": {
      log.error({ subject: msg.subject, reason: outcome.reason, delivery: msg.info.deliveryCount }, "poison message");
      const h = natsHeaders();
      h.set("Konstruct-Original-Subject", msg.subject);
      h.set("Konstruct-Consumer", spec.durable);
      h.set("Konstruct-Reason", outcome.reason.slice(0, 1_000));
      h.set("Konstruct-Deliveries", String(msg.info.deliveryCount));
      try {
        await js.publish(deadLetterSubject(spec.stream), msg.data, {
          headers: h,
          msgID: `${spec.durable}:${msg.info.streamSequence}`,
        });
        // A bare +TERM: servers before 2.10 ignore "+TERM <reason>" and redeliver the message
        // until max_deliver. The reason is kept on the dead-letter record's headers instead.
        msg.term();
      } catch (error) {
        // Without a dead-letter record the message must not be dropped: let it come back.
        log.error({ err: error }, "dead-letter publish failed; redelivering instead");
        msg.nak(5_000);
      }
      return;
    }
  }
}

/** Publishes JSON with a message id, so NATS drops a duplicate within the stream's window. */
export async function publishJson(js: JetStreamClient, subject: string, value: unknown, msgId: string): Promise<void> {
  await js.publish(subject, JSON.stringify(value), { msgID: msgId, timeout: 5_000 });
}
