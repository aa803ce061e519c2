import { Type } from "@sinclair/typebox";
import type { ChannelDefinition } from "../definition.ts";
import { stripBotMention } from "./normalize.ts";

/** The route of a tenant's own Slack app; the platform's shared app posts to {@link SLACK_SHARED_APP_ROUTE}. */
export const SLACK_CONNECTION_ROUTE = "/webhooks/slack/:connectionId/events";

/** The shared Slack app's Events API route (platform signing secret; tenant by the verified team id). */
export const SLACK_SHARED_APP_ROUTE = "/webhooks/slack/events";

/**
 * Where an "Add to Slack" installation of one connection starts (a redirect to Slack's consent
 * page), and where Slack sends the installer back with the code. Under `/webhooks/slack/` so the
 * Ingress that routes Slack's events routes these too.
 */
export const SLACK_INSTALL_ROUTE = "/webhooks/slack/install/:connectionId";
export const SLACK_OAUTH_CALLBACK_ROUTE = "/webhooks/slack/oauth/callback";

/** The spec value of `install` that makes a Slack channel an "Add to Slack" installation of the shared app. */
export const SLACK_OAUTH_INSTALL = "oauth";

/** True when a Slack spec entry (or a connection's stored settings) is installed through OAuth. */
export const isOAuthInstall = (spec: Readonly<Record<string, unknown>> | null | undefined): boolean =>
  spec?.install === SLACK_OAUTH_INSTALL;

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
  install: {
    when: `has(self.install) && self.install == '${SLACK_OAUTH_INSTALL}'`,
    applies: isOAuthInstall,
    route: SLACK_INSTALL_ROUTE,
  },
  specFields: {
    install: Type.Unsafe<"oauth">({
      type: "string",
      enum: [SLACK_OAUTH_INSTALL],
      description:
        'slack only: `oauth` connects the platform\'s shared Slack app by "Add to Slack": no Secret; the workspace named by ' +
        "externalId installs the app from the link in the Tenant's status (installPath), and the installation's bot token is " +
        "stored encrypted for this channel until the app is uninstalled.",
    }),
  },
  settings: (spec) => (isOAuthInstall(spec) ? { install: SLACK_OAUTH_INSTALL } : {}),
  connectionRoute: SLACK_CONNECTION_ROUTE,
  questionText: stripBotMention,
  gateway: async () => (await import("./gateway.ts")).createSlackChannel,
} as const satisfies ChannelDefinition;
