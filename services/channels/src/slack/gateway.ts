import type { Channel, ChannelDeps } from "../gateway-channel.ts";
import { channelReplyDelivery } from "../reply-protocol.ts";
import { createSlackConnectionStore, type SlackConnectionStore } from "./connections.ts";
import { slackIngress } from "./ingress.ts";
import { slackInstall } from "./install.ts";
import { createSlackInstallations } from "./installations.ts";
import { installStateKey } from "./oauth-state.ts";
import { createSlackSender } from "./sender.ts";

/** The Slack channel: Events API webhooks in, `chat.postMessage` replies out, one connection cache for both. */
export function createSlackChannel(deps: ChannelDeps, overrides: { connections?: SlackConnectionStore } = {}): Channel {
  const connections = overrides.connections ?? createSlackConnectionStore({ db: deps.db, secretKey: deps.secretKey });
  const installations = createSlackInstallations({ db: deps.db, secretKey: deps.secretKey });
  const oauth = deps.settings.slackOAuth;
  return {
    type: "slack",
    plugin: async (app) => {
      await app.register(slackIngress, {
        publisher: deps.publisher,
        connections,
        platformSigningSecret: deps.settings.slackSigningSecret,
        metrics: deps.metrics,
        log: deps.log,
        onUninstall: async (teamId, revoked) => {
          const connectionId = await installations.remove(teamId, revoked);
          if (connectionId === null) return;
          connections.forget?.(connectionId);
          deps.log.info({ channel: "slack", connectionId }, "Slack app uninstalled; its installation was forgotten");
        },
      });
      // "Add to Slack" only where the shared app's OAuth credentials are configured.
      if (oauth) {
        await app.register(slackInstall, {
          oauth,
          slackApiUrl: deps.settings.slackApiUrl,
          stateKey: installStateKey(deps.secretKey),
          redis: deps.redis,
          installations,
          connections,
          log: deps.log,
        });
      }
    },
    outbound: channelReplyDelivery(createSlackSender({ connections, slackApiUrl: deps.settings.slackApiUrl }), deps),
  };
}
