import type { ChannelDefinition } from "../definition.ts";

/** A Teams connection's messaging endpoint: the Bot Framework posts each activity here with a signed bearer token. */
export const TEAMS_CONNECTION_ROUTE = "/webhooks/teams/:connectionId";

/**
 * Keys a Teams channel's credentials Secret holds: the bot's client secret (Azure Bot's
 * "Microsoft App password") and, for a single-tenant bot, the Microsoft Entra tenant that issues
 * its outbound tokens. The app id itself is the channel's external id.
 */
export const TEAMS_SECRET_KEYS = ["appPassword"] as const;
export const TEAMS_OPTIONAL_SECRET_KEYS = ["appTenantId"] as const;

const MENTION_TAG = /<at>(.*?)<\/at>/gis;

/**
 * Text for the model: Teams writes a mention as `<at>Name</at>` in the text. The normalizer
 * already removed the bot's own mention; any tag left (another person) keeps only the name.
 */
export function stripTeamsMentions(text: string, _botUserId: string | null): string {
  return text.replace(MENTION_TAG, "$1").replace(/\s+/g, " ").trim();
}

/**
 * Microsoft Teams through the Bot Framework: activities in (a bearer JWT signed by the Bot
 * Framework, audience = the bot's app id), replies out to the conversation's service URL with a
 * client-credentials token.
 *
 * The external id is the bot's Microsoft App ID (a GUID): it is the audience every inbound token
 * must name, and the client id of the outbound tokens.
 */
export const teamsChannel = {
  type: "teams",
  summary: "a Microsoft Teams bot (Bot Framework): activities in, replies to the conversation out",
  externalId: {
    description: "the bot's Microsoft App ID (a GUID), such as 00000000-0000-0000-0000-000000000000",
    pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    patternMessage: "a teams channel's externalId is the bot's Microsoft App ID, a GUID",
  },
  credentials: { required: TEAMS_SECRET_KEYS, optional: TEAMS_OPTIONAL_SECRET_KEYS },
  specFields: {},
  settings: () => ({}),
  connectionRoute: TEAMS_CONNECTION_ROUTE,
  questionText: stripTeamsMentions,
  gateway: async () => (await import("./gateway.ts")).createTeamsChannel,
} as const satisfies ChannelDefinition;
