import { type ChannelDefinition, connectionPath, plainText } from "./definition.ts";
import { slackChannel } from "./slack/definition.ts";
import { teamsChannel } from "./teams/definition.ts";
import { telegramChannel } from "./telegram/definition.ts";
import { webchatChannel } from "./webchat/definition.ts";
import { whatsappChannel } from "./whatsapp/definition.ts";

/**
 * Every channel Konstruct speaks. Adding one is a folder beside `slack/` (definition, ingress,
 * sender, double) and its definition here; the CRD's enum and rules, the operator's credential
 * check, the webhook paths and the gateway's routes all derive from this list.
 */
export const CHANNELS = [
  slackChannel,
  webchatChannel,
  telegramChannel,
  teamsChannel,
  whatsappChannel,
] as const satisfies readonly ChannelDefinition[];

/** A channel type name, as the CRD, the database and `KonstructMessage.channelType` carry it. */
export type ChannelTypeName = (typeof CHANNELS)[number]["type"];

/** The channel type names, in list order. */
export const CHANNEL_TYPES: readonly ChannelTypeName[] = CHANNELS.map((c) => c.type);

/** The definition of a channel type, or undefined for a type no module declares. */
export function channelDefinition(type: string): ChannelDefinition | undefined {
  return CHANNELS.find((c) => c.type === type);
}

/** The path the gateway serves a connection on (a webhook or a page), from its channel's route. */
export function connectionPathOf(type: string, connectionId: string): string | undefined {
  const definition = channelDefinition(type);
  return definition === undefined ? undefined : connectionPath(definition, connectionId);
}

/** Text for the model: a message's text without its channel's mention of the bot. */
export function questionText(type: string, text: string, botUserId: string | null): string {
  return (channelDefinition(type)?.questionText ?? plainText)(text, botUserId);
}

/** Whether a channel type shows replies as they are written (its definition's `streamsReplies`). */
export function streamsReplies(type: string): boolean {
  return channelDefinition(type)?.streamsReplies === true;
}

export type { ChannelDefinition, ConnectionContext } from "./definition.ts";
export { ChannelHookError, connectionPath } from "./definition.ts";
export { SLACK_CONNECTION_ROUTE, SLACK_SECRET_KEYS, SLACK_SHARED_APP_ROUTE, slackChannel } from "./slack/definition.ts";
export type { NormalizeOptions, SlackIgnoreReason, SlackNormalized } from "./slack/normalize.ts";
export { normalizeSlackEvent, SlackEventEnvelope, slackTsToIso, stripBotMention } from "./slack/normalize.ts";
export { TEAMS_CONNECTION_ROUTE, teamsChannel } from "./teams/definition.ts";
export { WEBCHAT_CONNECTION_ROUTE, webchatChannel } from "./webchat/definition.ts";
