// Idle memory of each service: RSS, V8 heap and the modules loaded, ten seconds after ready,
// with nothing to do. Prints figures; not a test.
//
//   bash scripts/servers.sh start && eval "$(bash scripts/servers.sh env)"
//   node test/pipeline/idle-memory-bench.ts
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { createTestDatabase, serverUrl, startOllamaDouble, startServiceProcess, startTestNats } from "@konstruct/testkit";

const [testDb, nats, ollama] = await Promise.all([createTestDatabase("idle-bench"), startTestNats(), startOllamaDouble()]);
const common = {
  DATABASE_URL: testDb.appUrl,
  REDIS_URL: serverUrl("REDIS_ADMIN_URL"),
  NATS_URL: nats.url,
  // SERVICE_NODE_OPTIONS: the services' Node flags, to compare settings (e.g. the chart's heap bounds).
  ...(process.env.SERVICE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.SERVICE_NODE_OPTIONS } : {}),
};
const services = [
  await startServiceProcess("gateway", {
    ...common,
    SLACK_API_URL: "http://127.0.0.1:9/api/",
    SLACK_SIGNING_SECRET: randomBytes(16).toString("hex"),
    KONSTRUCT_SECRET_KEY: randomBytes(32).toString("base64"),
  }),
  await startServiceProcess("router", common),
  await startServiceProcess("orchestrator", { ...common, OLLAMA_URL: ollama.url }),
];
await new Promise((r) => setTimeout(r, 10_000));

const status = (pid: number, field: string) =>
  Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
async function heapMb(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => /^\S*nodejs_heap_size_used_bytes /.test(l));
  return Math.round(Number(line?.split(" ").pop() ?? 0) / 2 ** 20);
}
/** Native addons (.node files) of node_modules the process mapped, by package. */
function packages(pid: number): string {
  const counts = new Map<string, number>();
  for (const line of readFileSync(`/proc/${pid}/maps`, "utf8").split("\n")) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(line);
    if (m) counts.set(m[1] as string, (counts.get(m[1] as string) ?? 0) + 1);
  }
  return [...counts.keys()].sort().join(" ");
}

console.log("idle memory of each service, 10 s after ready");
console.log(
  `  machine  ${availableParallelism()} CPUs, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
for (const s of services) {
  const pid = s.pid as number;
  console.log(
    `  ${s.kind.padEnd(12)} RSS ${status(pid, "VmRSS")} MB (anonymous ${status(pid, "RssAnon")} MB, files ${status(pid, "RssFile")} MB), V8 heap used ${await heapMb(s.port)} MB`,
  );
  const native = packages(pid);
  if (native) console.log(`               native modules mapped: ${native}`);
}
for (const s of services.toReversed()) await s.kill("SIGTERM");
await Promise.all([ollama.close(), nats.stop()]);
await testDb.drop();
process.exit(0);
