// The local Slack sandbox is the Slack channel's own double of the Web API (the one the tests
// use), served from the channel module, not from test code.
import { type SlackApiDouble, signSlackRequest, startSlackApi } from "@konstruct/channels/doubles";
import type { Manifest } from "@konstruct/control-plane";
import { exampleChannels } from "./examples.ts";
import type { Lifetime } from "./lifetime.ts";
import { color, print } from "./output.ts";
import type { PortSetting } from "./ports.ts";

export type { SlackApiDouble };
export { signSlackRequest };

/** A Slack channel of the examples, with the credentials its Secret holds. */
export interface SlackChannel {
  tenant: string;
  teamId: string;
  botToken: string;
  signingSecret: string;
}

/** Where replies to Slack go: the sandbox (when SLACK_API_URL is unset) or a real Slack API. */
export interface SlackConnection {
  apiUrl: string;
  /** Null when SLACK_API_URL points elsewhere. */
  sandbox: SlackApiDouble | null;
  channels: SlackChannel[];
}

/** The bot user the sandbox gives a workspace's token. */
export function sandboxBotUserId(teamId: string): string {
  return `U${teamId.slice(1)}BOT`;
}

/** Slack channels of the examples, with the credentials their Secrets hold. */
export function slackChannels(manifests: Manifest[]): SlackChannel[] {
  return exampleChannels(manifests, "slack").map(({ tenant, externalId, secret }) => ({
    tenant,
    teamId: externalId,
    botToken: secret.botToken as string,
    signingSecret: secret.signingSecret as string,
  }));
}

/**
 * Without SLACK_API_URL, starts the local Slack sandbox on `port`, knowing the examples' bot
 * tokens, and prints each reply posted to it; with it, replies go there.
 */
export async function connectSlack(
  apiUrl: string | undefined,
  manifests: Manifest[],
  port: PortSetting,
  lifetime: Lifetime,
): Promise<SlackConnection> {
  const channels = slackChannels(manifests);
  if (apiUrl) {
    print(`Replies to Slack go to ${apiUrl}.`);
    return { apiUrl, sandbox: null, channels };
  }
  const sandbox = await startSlackApi({ port: port.port });
  lifetime.defer(() => sandbox.close());
  for (const channel of channels) {
    sandbox.addToken(channel.botToken, { teamId: channel.teamId, botUserId: sandboxBotUserId(channel.teamId) });
  }
  print(`SLACK_API_URL is not set: replies to Slack go to a local Slack sandbox at ${sandbox.url} and are printed here.`);
  const shown = new Set<string>();
  const timer = setInterval(() => {
    for (const post of sandbox.posts()) {
      if (shown.has(post.ts)) continue;
      shown.add(post.ts);
      print(
        `${color(34, "slack sandbox")} | chat.postMessage ${post.team}/${post.channel} thread ${post.thread_ts}: ${post.text}`,
      );
    }
  }, 250);
  lifetime.defer(async () => clearInterval(timer));
  return { apiUrl: sandbox.url, sandbox, channels };
}
