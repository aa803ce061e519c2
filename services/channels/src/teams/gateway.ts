import type { Channel, ChannelDeps } from "../gateway-channel.ts";
import { channelReplyDelivery } from "../reply-protocol.ts";
import {
  BOT_FRAMEWORK_ISSUER,
  BOT_FRAMEWORK_OPENID_METADATA_URL,
  createTeamsTokenVerifier,
  type TeamsTokenVerifier,
} from "./auth.ts";
import { createTeamsConnectionStore, type TeamsConnectionStore } from "./connections.ts";
import { teamsIngress } from "./ingress.ts";
import { createTeamsSender } from "./sender.ts";
import { createTeamsServiceUrls, DEFAULT_TEAMS_SERVICE_URLS, serviceUrlAllowList } from "./service-urls.ts";
import { createTeamsTokenSource, MICROSOFT_LOGIN_URL, type TeamsTokenSource } from "./token.ts";

/** The Teams channel: Bot Framework activities in, Connector API replies out, one connection cache for both. */
export function createTeamsChannel(
  deps: ChannelDeps,
  overrides: { connections?: TeamsConnectionStore; verifier?: TeamsTokenVerifier; tokens?: TeamsTokenSource } = {},
): Channel {
  const settings = deps.settings.teams ?? {};
  const connections = overrides.connections ?? createTeamsConnectionStore({ db: deps.db, secretKey: deps.secretKey });
  const verifier =
    overrides.verifier ??
    createTeamsTokenVerifier({
      openIdMetadataUrl: settings.openIdMetadataUrl ?? BOT_FRAMEWORK_OPENID_METADATA_URL,
      issuer: settings.issuer ?? BOT_FRAMEWORK_ISSUER,
      ...(settings.keysRefetchCooldownMs === undefined ? {} : { refetchCooldownMs: settings.keysRefetchCooldownMs }),
    });
  const tokens = overrides.tokens ?? createTeamsTokenSource({ loginUrl: settings.loginUrl ?? MICROSOFT_LOGIN_URL });
  const serviceUrls = createTeamsServiceUrls(deps.redis);
  const serviceUrlAllowed = serviceUrlAllowList(settings.serviceUrls ?? DEFAULT_TEAMS_SERVICE_URLS);
  return {
    type: "teams",
    plugin: async (app) => {
      await app.register(teamsIngress, {
        publisher: deps.publisher,
        connections,
        verifier,
        serviceUrls,
        serviceUrlAllowed,
        metrics: deps.metrics,
        log: deps.log,
      });
    },
    outbound: channelReplyDelivery(createTeamsSender({ connections, serviceUrls, tokens, serviceUrlAllowed }), deps),
  };
}
