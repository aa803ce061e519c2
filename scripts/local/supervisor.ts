import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { startReaper } from "@konstruct/control-plane";
import { color } from "./output.ts";

/**
 * Runs Konstruct's components as child processes, the way a cluster would run them as pods:
 * each gets its environment, its output is prefixed with its name, and a process that exits
 * unexpectedly is restarted with backoff — up to `maxRestarts` within a minute, after which the
 * supervisor gives up on the whole platform with a message naming the component and its last
 * output, rather than limping on half-alive.
 */

/** How to run one component. */
export interface ComponentSpec {
  name: string;
  /** Arguments to `node` (the entry file first). */
  args: string[];
  env: Record<string, string>;
  /** An HTTP URL that answers 200 when the component is ready. */
  readyUrl: string;
}

/** Options for {@link startSupervisor}. */
export interface SupervisorOptions {
  /** Writes one line of output (already prefixed). */
  print: (line: string) => void;
  /** Restarts allowed within `restartWindowMs` before giving up. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** Called once when the supervisor gives up; the platform should shut down. */
  onFatal: (reason: string) => void;
  /** Where to keep the running pids, so they are stopped even if this process is killed with SIGKILL. */
  pidsFile: string;
}

/** A supervised set of processes. */
export interface Supervisor {
  /** The running process of a component (changes after a restart). */
  pid(name: string): number | undefined;
  /** Resolves when every component answers its ready URL, or rejects after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<void>;
  /** Restarts observed so far, by component. */
  restarts(name: string): number;
  /** SIGTERM to every component, SIGKILL after `graceMs`; resolves when all have exited. */
  stop(graceMs?: number): Promise<void>;
}

const COLORS = [36, 35, 33, 32, 34, 31];

/** Starts every component and supervises it. */
export function startSupervisor(specs: readonly ComponentSpec[], options: SupervisorOptions): Supervisor {
  const maxRestarts = options.maxRestarts ?? 3;
  const windowMs = options.restartWindowMs ?? 60_000;
  const width = Math.max(...specs.map((s) => s.name.length));
  const running = new Map<string, ChildProcess>();
  const restartTimes = new Map<string, number[]>();
  const tails = new Map<string, string[]>();
  let stopping = false;
  const reaper = startReaper(options.pidsFile, { signal: "TERM" });
  const recordPids = () => writeFileSync(options.pidsFile, [...running.values()].map((c) => c.pid).join(" "));

  const launch = (spec: ComponentSpec, index: number): void => {
    const prefix = `${color(COLORS[index % COLORS.length] as number, spec.name.padEnd(width))} |`;
    const child = spawn(process.execPath, spec.args, {
      env: { ...process.env, ...spec.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.set(spec.name, child);
    recordPids();
    const tail = tails.get(spec.name) ?? [];
    tails.set(spec.name, tail);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        options.print(`${prefix} ${formatLogLine(line)}`);
      });
    }
    child.on("exit", (code, signal) => {
      if (running.get(spec.name) === child) running.delete(spec.name);
      recordPids();
      if (stopping) return;
      const now = Date.now();
      const recent = (restartTimes.get(spec.name) ?? []).filter((t) => now - t < windowMs);
      if (recent.length >= maxRestarts) {
        options.onFatal(
          `${spec.name} exited (${signal ?? `code ${code}`}) ${recent.length + 1} times within ${windowMs / 1000} s; giving up.\n` +
            `Its last output:\n  ${tail.slice(-8).join("\n  ")}`,
        );
        return;
      }
      recent.push(now);
      restartTimes.set(spec.name, recent);
      const delay = 500 * 2 ** (recent.length - 1);
      options.print(
        `${prefix} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms (restart ${recent.length} of ${maxRestarts})`,
      );
      setTimeout(() => {
        if (!stopping) launch(spec, index);
      }, delay);
    });
  };

  specs.forEach(launch);

  return {
    pid: (name) => running.get(name)?.pid,
    restarts: (name) => (restartTimes.get(name) ?? []).length,
    async waitReady(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (const spec of specs) {
        for (;;) {
          if (stopping) throw new Error("stopped while waiting for readiness");
          const ok = await fetch(spec.readyUrl, { signal: AbortSignal.timeout(2_000) })
            .then((r) => r.ok)
            .catch(() => false);
          if (ok) break;
          if (Date.now() > deadline) {
            throw new Error(
              `${spec.name} is not ready at ${spec.readyUrl} after ${timeoutMs / 1000} s. Its last output:\n  ${(tails.get(spec.name) ?? []).slice(-8).join("\n  ")}`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    },
    async stop(graceMs = 10_000) {
      stopping = true;
      const exits = [...running.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill("SIGTERM");
          }),
      );
      await Promise.all(exits);
      reaper.kill("SIGKILL");
    },
  };
}

const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

/** Shows a pino JSON line as `level msg key=value…`; other lines pass through. */
export function formatLogLine(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const {
      level,
      msg,
      time: _t,
      pid: _p,
      hostname: _h,
      name: _n,
      component: _c,
      ...rest
    } = JSON.parse(line) as Record<string, unknown>;
    const fields = Object.entries(rest)
      .filter(([, v]) => v !== undefined && typeof v !== "object")
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(" ");
    const err = (rest.err as { message?: string } | undefined)?.message;
    return [LEVELS[level as number] ?? level, msg, fields, err ? `err="${err}"` : ""].filter(Boolean).join(" ");
  } catch {
    return line;
  }
}
