import type { Channel, ChannelDeps } from "../gateway-channel.ts";
import { createReplyDelivery } from "../reply-protocol.ts";
import { createWebchatConnectionStore, type WebchatConnectionStore } from "./connections.ts";
import { DEFAULT_CONVERSATION_LIMITS } from "./conversation.ts";
import { DEFAULT_EVENT_STREAM_SETTINGS } from "./events.ts";
import { type WebchatSettings, webchatIngress } from "./ingress.ts";
import { DEFAULT_ANONYMOUS_LIMITS, DEFAULT_VISITOR_RATE_LIMIT } from "./limits.ts";
import { createLiveReplies } from "./live-replies.ts";
import { createWebchatSender } from "./sender.ts";
import { createSessionSigner, sessionSigningKey } from "./session.ts";

export type { WebchatSettings } from "./ingress.ts";
export { createSessionSigner, sessionSigningKey } from "./session.ts";

import { createStreamHub, type StreamHub } from "./stream-hub.ts";

/** The web chat's defaults: 4,000 characters a message, 20 messages a minute per visitor. */
export const DEFAULT_WEBCHAT_SETTINGS: WebchatSettings = {
  maxTextLength: 4_000,
  rate: DEFAULT_VISITOR_RATE_LIMIT,
  anonymous: DEFAULT_ANONYMOUS_LIMITS,
  conversation: DEFAULT_CONVERSATION_LIMITS,
  events: DEFAULT_EVENT_STREAM_SETTINGS,
  maxStreams: 10_000,
};

/** Overrides for tests and special set-ups. */
export interface WebchatChannelOverrides {
  connections?: WebchatConnectionStore;
  settings?: Partial<WebchatSettings>;
}

/**
 * The web chat channel: a page and a small HTTP API per connection, messages in through the
 * same inbound stream as Slack, replies out through a Redis stream per visitor that any
 * gateway replica can serve as server-sent events. The blocking reader of those streams is a
 * connection of its own, opened with the plugin and closed with the app.
 */
export function createWebchatChannel(deps: ChannelDeps, overrides: WebchatChannelOverrides = {}): Channel {
  const { redis } = deps;
  const connections = overrides.connections ?? createWebchatConnectionStore({ db: deps.db });
  const settings: WebchatSettings = { ...DEFAULT_WEBCHAT_SETTINGS, ...overrides.settings };
  const previous = deps.settings.webchatPreviousSessionSecret;
  const sessions = createSessionSigner([
    sessionSigningKey({ secret: deps.settings.webchatSessionSecret, secretKey: deps.secretKey }),
    ...(previous ? [Buffer.from(previous, "utf8")] : []),
  ]);
  const log = deps.log.child({ channel: "webchat" });
  return {
    type: "webchat",
    plugin: async (app) => {
      const hub: StreamHub = createStreamHub({ blocking: redis.duplicate(), control: redis, log });
      const live = deps.replyDeltas ? createLiveReplies({ feed: deps.replyDeltas, log }) : undefined;
      // preClose, not onClose: open event streams would otherwise keep the server from closing.
      app.addHook("preClose", async () => {
        live?.close();
        await hub.close();
      });
      await app.register(webchatIngress, {
        connections,
        sessions,
        publisher: deps.publisher,
        redis,
        hub,
        ...(live ? { live } : {}),
        metrics: deps.metrics,
        log: deps.log,
        settings,
      });
    },
    outbound: createReplyDelivery(createWebchatSender({ connections, redis, limits: settings.conversation }), {
      ledger: deps.ledger,
      metrics: deps.metrics,
      log: log.child({ worker: "outbound" }),
      activity: deps.activity,
    }),
  };
}
