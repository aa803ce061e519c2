import { deliveryKey, inboundSubject, type KonstructMessage } from "@konstruct/core";
import type { Counter, Histogram } from "prom-client";

/** Result of one publish: `duplicate` when JetStream already held this message id. */
export interface PublishResult {
  duplicate: boolean;
}

/** Where webhooks hand their normalized messages; the one dependency between ack and durability. */
export interface InboundPublisher {
  /** Publishes and waits for the stream's acknowledgement; throws a WebhookError `UNAVAILABLE` otherwise. */
  publish(subject: string, value: unknown, msgId: string): Promise<PublishResult>;
}

/** The counters and timings every channel reports, labelled by channel; the gateway registers them. */
export interface ChannelMetrics {
  /** Webhook requests by channel and result (`accepted`, `duplicate`, `ignored`, `unauthorized`, …). */
  webhooks: Counter<"channel" | "result">;
  /** Time to get JetStream's acknowledgement for an inbound message. */
  publishSeconds: Histogram<"channel">;
  /** Outbound replies by channel and result (`posted`, `already_posted`, `rate_limited`, `retry`, `poison`, …). */
  posts: Counter<"channel" | "result">;
  /** Time of one outbound post call. */
  postSeconds: Histogram<"channel">;
}

/**
 * Publishes a normalized message on its channel's inbound subject with its delivery key as the
 * JetStream message id (so a channel's retry is stored once) and times the acknowledgement.
 */
export async function publishInbound(
  publisher: InboundPublisher,
  metrics: ChannelMetrics,
  message: KonstructMessage,
): Promise<PublishResult> {
  const started = performance.now();
  const result = await publisher.publish(inboundSubject(message.channelType), message, deliveryKey(message));
  metrics.publishSeconds.observe({ channel: message.channelType }, (performance.now() - started) / 1000);
  return result;
}
