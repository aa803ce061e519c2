import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { type ConfigChangeWatch, watchConfigChanges } from "../db/config-changes.ts";
import { type Disposition, type RunningConsumer, runConsumer } from "../nats/consume.ts";
import type { ConsumerSpec } from "../nats/streams.ts";
import type { ConsumerService } from "./consumer-service.ts";

/** Options for {@link createConsumerLoop}. */
export interface ConsumerLoopOptions {
  /** For the log line: "router consuming". */
  name: string;
  js: JetStreamClient;
  consumer: ConsumerSpec;
  concurrency: number;
  log: Logger;
  handler: (msg: JsMsg) => Promise<Disposition>;
  onOutcome?: (outcome: Disposition) => void;
  /** When both are given, configuration changes announced by PostgreSQL drop cached entries at once. */
  databaseUrl?: string;
  invalidate?: (tenantId?: string) => void;
}

/**
 * A JetStream consumer that can be started and stopped, with the configuration-change listener
 * its caches need running exactly while it does: the shared shape of the router and the
 * orchestrator. `stop()` waits for in-flight messages and does not close the connections given.
 */
export function createConsumerLoop(options: ConsumerLoopOptions): ConsumerService {
  const { name, log, consumer, concurrency } = options;
  let running: RunningConsumer | null = null;
  let changes: ConfigChangeWatch | null = null;
  return {
    get running() {
      return running !== null;
    },
    async start() {
      if (running) return;
      if (options.databaseUrl && options.invalidate) changes = watchConfigChanges(options.databaseUrl, options.invalidate, log);
      running = await runConsumer({
        js: options.js,
        consumer,
        concurrency,
        log,
        handler: options.handler,
        ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
      });
      log.info({ consumer: consumer.durable, concurrency }, `${name} consuming`);
    },
    async stop() {
      await changes?.close();
      changes = null;
      const current = running;
      running = null;
      await current?.stop();
    },
  };
}
