import { type ConsumerSpec, outboundConsumer, type RunningConsumer, runConsumer } from "@konstruct/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Channel } from "../channels/channel.ts";

/** Options for {@link startOutboundWorkers}. */
export interface OutboundWorkersOptions {
  js: JetStreamClient;
  channels: readonly Channel[];
  /** Replies each channel posts at once in this process. */
  concurrency: number;
  log: Logger;
  /** The durable consumer of a channel; the default is core's `outbound-<type>` (tests use their own). */
  consumerFor?: (channelType: string) => ConsumerSpec;
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
        handler: channel.outbound,
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
