import type { Channel, ChannelDeps } from "../gateway-channel.ts";
import { createReplyDelivery } from "../reply-protocol.ts";
import { createSlackConnectionStore, type SlackConnectionStore } from "./connections.ts";
import { slackIngress } from "./ingress.ts";
import { createSlackSender } from "./sender.ts";

/** The Slack channel: Events API webhooks in, `chat.postMessage` replies out, one connection cache for both. */
export function createSlackChannel(deps: ChannelDeps, overrides: { connections?: SlackConnectionStore } = {}): Channel {
  const connections = overrides.connections ?? createSlackConnectionStore({ db: deps.db, secretKey: deps.secretKey });
  return {
    type: "slack",
    plugin: async (app) => {
      await app.register(slackIngress, {
        publisher: deps.publisher,
        connections,
        platformSigningSecret: deps.settings.slackSigningSecret,
        metrics: deps.metrics,
        log: deps.log,
      });
    },
    outbound: createReplyDelivery(createSlackSender({ connections, slackApiUrl: deps.settings.slackApiUrl }), {
      ledger: deps.ledger,
      metrics: deps.metrics,
      log: deps.log.child({ channel: "slack", worker: "outbound" }),
      ...(deps.settings.staleClaimMs === undefined ? {} : { staleClaimMs: deps.settings.staleClaimMs }),
    }),
  };
}
