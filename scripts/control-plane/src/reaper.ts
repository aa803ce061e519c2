import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";

/**
 * Starts a detached shell that waits for this process to die — its stdin is a pipe from us,
 * which closes however we exit, SIGKILL included — and then sends `signal` to the pids listed
 * in `pidsFile` (and removes `removeDir`, when given). Child processes otherwise outlive a
 * parent killed with SIGKILL. Keep `pidsFile` current as children come and go.
 */
export function startReaper(pidsFile: string, options: { signal?: "KILL" | "TERM"; removeDir?: string } = {}): ChildProcess {
  const script =
    `while read -r _; do :; done; for pid in $(cat "$1" 2>/dev/null); do kill -${options.signal ?? "KILL"} "$pid" 2>/dev/null; done; ` +
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
