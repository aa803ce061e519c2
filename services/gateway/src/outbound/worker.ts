import type { Channel } from "@konstruct/channels/gateway";
import {
  type ConsumerSpec,
  type Disposition,
  decodeOutboundReply,
  type OutboundReply,
  outboundConsumer,
  poison,
  type RunningConsumer,
  runConsumer,
} from "@konstruct/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";

/** Options for {@link startOutboundWorkers}. */
export interface OutboundWorkersOptions {
  js: JetStreamClient;
  channels: readonly Channel[];
  /** Replies each channel posts at once in this process. */
  concurrency: number;
  log: Logger;
  /** The durable consumer of a channel; the default is core's `outbound-<type>` (tests use their own). */
  consumerFor?: (channelType: string) => ConsumerSpec;
  /** Counts a reply that cannot be decoded or is on the wrong channel's subject. */
  onPoison?: (channelType: string) => void;
}

/**
 * Decodes a reply once for every channel and refuses one published for another channel type,
 * before the channel's handler sees it: a reply that fails either can never succeed.
 */
async function deliver(
  channel: Channel,
  data: Uint8Array,
  deliveryCount: number,
  onPoison?: (channelType: string) => void,
): Promise<Disposition> {
  let reply: OutboundReply;
  try {
    reply = decodeOutboundReply(data);
  } catch (error) {
    onPoison?.(channel.type);
    return poison(`invalid outbound reply: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (reply.channelType !== channel.type) {
    onPoison?.(channel.type);
    return poison(`reply for channel ${reply.channelType} on the ${channel.type} outbound consumer`);
  }
  return channel.outbound(reply, { deliveryCount });
}

/** Starts one outbound consumer per channel; `stop()` stops pulling and waits for in-flight posts. */
export async function startOutboundWorkers(options: OutboundWorkersOptions): Promise<RunningConsumer> {
  const consumerFor = options.consumerFor ?? outboundConsumer;
  const running: RunningConsumer[] = [];
  for (const channel of options.channels) {
    running.push(
      await runConsumer({
        js: options.js,
        consumer: consumerFor(channel.type),
        handler: (msg) => deliver(channel, msg.data, msg.info.deliveryCount, options.onPoison),
        concurrency: options.concurrency,
        log: options.log.child({ channel: channel.type, worker: "outbound" }),
      }),
    );
  }
  return {
    async stop() {
      await Promise.all(running.map((r) => r.stop()));
    },
  };
}
