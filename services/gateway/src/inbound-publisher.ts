import type { JetStreamClient } from "@nats-io/jetstream";
import { WebhookError } from "./errors.ts";

/** Result of one publish: `duplicate` when JetStream already held this message id. */
export interface PublishResult {
  duplicate: boolean;
}

/** Where webhooks hand their normalized messages; the one dependency between ack and durability. */
export interface InboundPublisher {
  /** Publishes and waits for the stream's acknowledgement; throws a WebhookError `UNAVAILABLE` otherwise. */
  publish(subject: string, value: unknown, msgId: string): Promise<PublishResult>;
}

/**
 * Publishes to JetStream with a message id (server-side de-duplication of Slack's retries) and a
 * short timeout: Slack wants an answer within 3 s, so a broker that cannot confirm in about 2 s
 * gets the webhook a 503 and Slack delivers it again later. Nothing is acked before it is stored.
 */
export function createJetStreamPublisher(js: JetStreamClient, options: { timeoutMs?: number } = {}): InboundPublisher {
  const timeout = options.timeoutMs ?? 2_000;
  return {
    async publish(subject, value, msgId) {
      try {
        const ack = await js.publish(subject, JSON.stringify(value), { msgID: msgId, timeout });
        return { duplicate: ack.duplicate };
      } catch (cause) {
        throw new WebhookError("UNAVAILABLE", `could not store the message on ${subject}; the sender should retry`, { cause });
      }
    },
  };
}
