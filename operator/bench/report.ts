import { loadavg } from "node:os";

/** Prints an operator benchmark's results (a table, then one JSON line) with the load at the end, and exits. */
export function printResults(label: string, results: Record<string, unknown>[]): never {
  process.stderr.write(
    `${label}: load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} at the end\n`,
  );
  console.table(results);
  console.log(JSON.stringify(results));
  process.exit(0);
}
