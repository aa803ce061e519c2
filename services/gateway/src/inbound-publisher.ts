import { type InboundPublisher, WebhookError } from "@konstruct/channels/gateway";
import { isStreamFull } from "@konstruct/core";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";

/**
 * `Retry-After` of a 503 whose message was not stored. A full inbound stream is a backlog the
 * router works through (the stream refuses new messages rather than drop accepted ones), so the
 * sender is asked to wait longer than after a broker that did not answer in time.
 */
export const RETRY_AFTER_SECONDS = { streamFull: 30, unavailable: 5 } as const;

/**
 * Publishes to JetStream with a message id (server-side de-duplication of Slack's retries) and a
 * short timeout: Slack wants an answer within 3 s, so a broker that cannot confirm in about 2 s
 * gets the webhook a 503 and Slack delivers it again later. Nothing is acked before it is stored.
 */
export function createJetStreamPublisher(js: JetStreamClient, options: { timeoutMs?: number } = {}): InboundPublisher {
  const timeout = options.timeoutMs ?? 2_000;
  // nats.js flushes its write buffer in a microtask, so each webhook's publish (each in its own
  // socket callback) costs a write(2) of its own: about a fifth of the gateway's CPU under load.
  // Publishes started within one turn of the event loop are instead issued together from
  // setImmediate, which runs right after the poll phase that read those webhooks: one write for
  // all of them, and microseconds of delay. Each still waits for its own PubAck.
  let batch: (() => void)[] = [];
  const issue = () => {
    const due = batch;
    batch = [];
    for (const start of due) start();
  };
  const publishSoon = (subject: string, data: string, msgId: string) =>
    new Promise<PubAck>((resolve, reject) => {
      if (batch.length === 0) setImmediate(issue);
      batch.push(() => {
        try {
          js.publish(subject, data, { msgID: msgId, timeout }).then(resolve, reject);
        } catch (error) {
          // Not expected of an async method, but one throw must not strand the rest of the batch.
          reject(error);
        }
      });
    });
  return {
    async publish(subject, value, msgId) {
      try {
        const ack = await publishSoon(subject, JSON.stringify(value), msgId);
        return { duplicate: ack.duplicate };
      } catch (cause) {
        const full = isStreamFull(cause);
        throw new WebhookError(
          "UNAVAILABLE",
          full
            ? `the inbound stream is full (a backlog); ${subject} takes no new messages until it drains`
            : `could not store the message on ${subject}; the sender should retry`,
          { cause, retryAfterSeconds: full ? RETRY_AFTER_SECONDS.streamFull : RETRY_AFTER_SECONDS.unavailable },
        );
      }
    },
  };
}
