import type { ReplyDeltaFeed } from "@konstruct/channels/gateway";
import type { NatsConnection } from "@nats-io/nats-core";

/**
 * The channels' feed of replies as they are written, over the gateway's own NATS connection:
 * plain core subscriptions (no queue group — every replica needs the deltas of the visitors it
 * serves), delivered to a callback without an async iterator in between.
 */
export function natsReplyDeltaFeed(nc: NatsConnection): ReplyDeltaFeed {
  return {
    subscribe(subject, onMessage) {
      const sub = nc.subscribe(subject, {
        callback: (error, msg) => {
          if (!error) onMessage(msg.subject, msg.data);
        },
      });
      return { unsubscribe: () => sub.unsubscribe() };
    },
  };
}
