import type { ChannelDefinition } from "../definition.ts";
import { stripBotMention } from "./normalize.ts";

/** The route of a tenant's own Slack app; the platform's shared app posts to {@link SLACK_SHARED_APP_ROUTE}. */
export const SLACK_CONNECTION_ROUTE = "/webhooks/slack/:connectionId/events";

/** The shared Slack app's Events API route (platform signing secret; tenant by the verified team id). */
export const SLACK_SHARED_APP_ROUTE = "/webhooks/slack/events";

/** Keys a Slack channel's credentials Secret holds. */
export const SLACK_SECRET_KEYS = ["botToken", "signingSecret"] as const;

/** Slack: a workspace's Events API in, `chat.postMessage` in the thread out. */
export const slackChannel = {
  type: "slack",
  summary: "a Slack workspace: Events API in, chat.postMessage in the thread out",
  externalId: {
    description: "Slack's team (workspace) id, such as T0123ABCD",
    pattern: "^[TE][A-Z0-9]+$",
    patternMessage: "a slack channel's externalId is the Slack team id, e.g. T0123ABCD",
  },
  credentials: { required: SLACK_SECRET_KEYS, optional: [] },
  specFields: {},
  settings: () => ({}),
  connectionRoute: SLACK_CONNECTION_ROUTE,
  questionText: stripBotMention,
  gateway: async () => (await import("./gateway.ts")).createSlackChannel,
} as const satisfies ChannelDefinition;
