import type { Channel, ChannelDeps } from "./gateway-channel.ts";
import { CHANNELS } from "./index.ts";

/** Builds the gateway's side of every channel in the list (routes and sender), in list order. */
export async function createChannels(deps: ChannelDeps): Promise<Channel[]> {
  const factories = await Promise.all(CHANNELS.map((definition) => definition.gateway()));
  return factories.map((create) => create(deps));
}

export { HTTP_STATUS_BY_CODE, httpStatusOf, WebhookError } from "./errors.ts";
export type {
  Channel,
  ChannelDeps,
  ChannelFactory,
  OutboundHandler,
  ReplyDeltaFeed,
  TeamsSettings,
} from "./gateway-channel.ts";
export type { ChannelMetrics, InboundPublisher, PublishResult } from "./host.ts";
export type { LedgerEntry, ReplyClaim, ReplyLedger } from "./reply-ledger.ts";
export { createRedisReplyLedger, replyKey } from "./reply-ledger.ts";
export type { LookupResult, PostResult, ReplyDeliveryOptions, ReplySender, ReplyTarget } from "./reply-protocol.ts";
export { createReplyDelivery } from "./reply-protocol.ts";
export type { SlackConnection, SlackConnectionStore } from "./slack/connections.ts";
export { createSlackConnectionStore } from "./slack/connections.ts";
export { createSlackChannel } from "./slack/gateway.ts";
export { SLACK_BODY_LIMIT, slackIngress } from "./slack/ingress.ts";
export type { SlackOAuthSettings } from "./slack/install.ts";
export { DEFAULT_SLACK_BOT_SCOPES, SLACK_AUTHORIZE_URL } from "./slack/install.ts";
export { installStateKey, signInstallState, verifyInstallState } from "./slack/oauth-state.ts";
export { createSlackSender, REPLY_METADATA_EVENT_TYPE } from "./slack/sender.ts";
export { slackSignature, verifySlackSignature } from "./slack/signature.ts";
export { BOT_FRAMEWORK_ISSUER, BOT_FRAMEWORK_OPENID_METADATA_URL } from "./teams/auth.ts";
export { createTeamsChannel } from "./teams/gateway.ts";
export { DEFAULT_TEAMS_SERVICE_URLS } from "./teams/service-urls.ts";
export { MICROSOFT_LOGIN_URL } from "./teams/token.ts";
export { DEFAULT_TELEGRAM_API_URL } from "./telegram/gateway.ts";
export type { WebchatChannelOverrides, WebchatSettings } from "./webchat/gateway.ts";
export { createSessionSigner, createWebchatChannel, DEFAULT_WEBCHAT_SETTINGS, sessionSigningKey } from "./webchat/gateway.ts";
export { DEFAULT_WHATSAPP_API_URL } from "./whatsapp/gateway.ts";
