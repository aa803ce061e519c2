import { readFileSync } from "node:fs";

/** CPU seconds (user + system, all threads) a process has used so far, from /proc (Linux only). */
export function processCpuSeconds(pid: number): number {
  // Fields 14 and 15 (utime, stime) in clock ticks of 1/100 s, after the parenthesised command name.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
