import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";

/**
 * Starts a detached shell that waits for this process to die — its stdin is a pipe from us,
 * which closes however we exit, SIGKILL included — and then sends `signal` to the pids listed
 * in `pidsFile` (and removes `removeDir`, when given). Child processes otherwise outlive a
 * parent killed with SIGKILL. Keep `pidsFile` current as children come and go. After a TERM,
 * whatever still runs `killAfterSeconds` later (default 20) gets a KILL: a child whose shutdown
 * hangs, or that missed the TERM, must not outlive its parent for good.
 */
export function startReaper(
  pidsFile: string,
  options: { signal?: "KILL" | "TERM"; removeDir?: string; killAfterSeconds?: number } = {},
): ChildProcess {
  const signal = options.signal ?? "KILL";
  const followUp =
    signal === "TERM"
      ? `sleep ${options.killAfterSeconds ?? 20}; for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done; `
      : "";
  const script =
    `while read -r _; do :; done; pids="$(cat "$1" 2>/dev/null)"; for pid in $pids; do kill -${signal} "$pid" 2>/dev/null; done; ` +
    followUp +
    (options.removeDir ? 'rm -rf "$2"' : "");
  const reaper = spawn("/bin/sh", ["-c", script, "reaper", pidsFile, options.removeDir ?? ""], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  reaper.on("error", () => {}); // best effort: a normal exit stops the children anyway
  reaper.unref();
  (reaper.stdin as Socket | null)?.unref();
  return reaper;
}
