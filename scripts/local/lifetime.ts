import { join } from "node:path";
import { print } from "./output.ts";
import { type ComponentSpec, type Supervisor, startSupervisor } from "./supervisor.ts";

/**
 * What a run of `npm start` has started and must stop: each step defers its own cleanup, and
 * stop() runs them newest first — the services before the kube-apiserver they talk to. The run
 * ends on Ctrl-C, SIGTERM, or a component that keeps failing.
 */
export class Lifetime {
  /** Resolves with the reason the run should end. */
  readonly stopped: Promise<string>;
  #end: (reason: string) => void = () => {};
  #fatal: string | null = null;
  #cleanups: (() => Promise<unknown>)[] = [];
  readonly #dataDir: string;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
    this.stopped = new Promise<string>((resolve) => {
      this.#end = resolve;
    });
    process.once("SIGINT", () => this.#end("Ctrl-C"));
    process.once("SIGTERM", () => this.#end("SIGTERM"));
  }

  /** Why a component brought the run down, if one did. */
  get fatal(): string | null {
    return this.#fatal;
  }

  /** Registers a cleanup for stop(). */
  defer(cleanup: () => Promise<unknown>): void {
    this.#cleanups.push(cleanup);
  }

  /** Runs components as supervised processes, stopped by stop(); one that keeps failing ends the run. */
  supervise(specs: readonly ComponentSpec[]): Supervisor {
    const supervisor = startSupervisor(specs, {
      print,
      pidsFile: join(this.#dataDir, "pids"),
      onFatal: (reason) => {
        this.#fatal = reason;
        this.#end(reason);
      },
    });
    this.defer(() => supervisor.stop());
    return supervisor;
  }

  /** Runs every cleanup, newest first; a failing one does not keep the others from running. */
  async stop(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  }
}
