import type { Channel, ChannelDeps, ChannelFactory } from "./channel.ts";
import { createSlackChannel } from "./slack/index.ts";
import { createWebchatChannel } from "./webchat/index.ts";

/** Every channel the gateway serves. A new channel is a folder beside `slack/` and one line here. */
export const CHANNEL_FACTORIES: readonly ChannelFactory[] = [
  (deps) => createSlackChannel(deps),
  (deps) => createWebchatChannel(deps),
];

/** Builds every registered channel. */
export function createChannels(deps: ChannelDeps): Channel[] {
  return CHANNEL_FACTORIES.map((create) => create(deps));
}
