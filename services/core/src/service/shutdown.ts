import type { Logger } from "pino";

/** One step of a graceful shutdown, run in order: stop taking work, finish it, close connections. */
export type ShutdownStep = readonly [name: string, run: () => Promise<unknown>];

/**
 * Registers SIGTERM/SIGINT handlers that run `steps` in order once, then exit: 0 when every
 * step succeeded, 1 otherwise or when they outlast `timeoutMs` (unacknowledged work is then
 * redelivered by JetStream). The grace period of the pod must exceed `timeoutMs`.
 */
export function onShutdown(log: Logger, timeoutMs: number, steps: readonly ShutdownStep[]): void {
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down: finishing in-flight work");
    const force = setTimeout(() => {
      log.error({ timeoutMs }, "shutdown took too long; exiting (unacknowledged work will be redelivered)");
      process.exit(1);
    }, timeoutMs);
    force.unref();
    let failed = false;
    for (const [name, run] of steps) {
      try {
        await run();
      } catch (err) {
        failed = true;
        log.error({ err, step: name }, "shutdown step failed");
      }
    }
    log.info(failed ? "stopped uncleanly" : "stopped");
    process.exit(failed ? 1 : 0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}
