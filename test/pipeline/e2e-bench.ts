// Pipeline overhead benchmark, end to end: a signed Slack `app_mention` webhook → the reply
// posted to the Slack Web API, with the Ollama double at zero latency, at a fixed offered rate.
// Prints figures; not a test.
//
//   bash scripts/servers.sh start && eval "$(bash scripts/servers.sh env)"
//   node test/pipeline/e2e-bench.ts [rate=200] [seconds=10]
//
// Deployed shape: gateway, router and orchestrator each run as their own process
// (`node services/<x>/src/main.ts`, default settings, LOG_LEVEL=info), over a private
// nats-server, a fresh database with four seeded tenants (each with a Slack connection whose
// credentials are sealed as the operator seals them), and the local Redis. This process sends the
// webhooks (open loop: one every 1/rate s, whatever the answers) to each connection's own route,
// and hosts the Slack Web API and Ollama doubles. Latency of one message is from just before its
// HTTP request is written to the double storing the `chat.postMessage` in that channel and
// thread; the gateway's ack latency is from the same start to the HTTP response.
//
// BENCH_STAGES=1 also taps the three subjects with a plain NATS subscription and prints where
// the time goes: webhook sent → stored in the inbound stream (gateway), → routed work stored
// (router), → reply stored in the outbound stream (orchestrator), → posted to Slack (gateway's
// outbound worker). Each message is told by the counter in its text, which the reply repeats.
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { connectNats, parseSecretKey } from "@konstruct/core";
import {
  createTestDatabase,
  dropTenantKeys,
  processCpuSeconds,
  serverUrl,
  signSlackRequest,
  startOllamaDouble,
  startServiceProcess,
  startSlackApi,
  startTestNats,
} from "@konstruct/testkit";
import { appMention, type BenchSender, seedBenchSenders } from "./slack-bench.ts";

const rate = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 10);
const total = Math.round(rate * seconds);
const TENANTS = 4;
const CHANNELS = 50;
// Answers still missing this long after the last send count as lost.
const DRAIN_MS = 30_000;

const loadBefore = loadavg();
const secretKeyText = randomBytes(32).toString("base64");
const secretKey = parseSecretKey(secretKeyText);

const sentAt = new Map<string, number>();
/** BENCH_STAGES: when each message (by the counter in its text) was sent, stored at each stage, and posted. */
const STAGES = ["sent", "inbound", "work", "outbound", "posted"] as const;
const stagesOn = process.env.BENCH_STAGES === "1";
const stageAt = new Map<string, Partial<Record<(typeof STAGES)[number], number>>>();
const COUNTER = /refund policy\? \((\d+)\)/;
function stamp(stage: (typeof STAGES)[number], text: string): void {
  if (!stagesOn) return;
  const counter = COUNTER.exec(text)?.[1];
  if (counter === undefined) return;
  const at = stageAt.get(counter) ?? {};
  at[stage] ??= performance.now();
  stageAt.set(counter, at);
}
const replyLatencies: number[] = [];
const ackLatencies: number[] = [];
let acked = 0;
let failedAcks = 0;
let phase: "warm-up" | "measure" = "warm-up";
let warmReplies = 0;
let done!: () => void;
const finished = new Promise<void>((resolve) => {
  done = resolve;
});

const [testDb, nats, ollama, slack] = await Promise.all([
  createTestDatabase("e2e-bench"),
  startTestNats(),
  startOllamaDouble({ latencyMs: 0 }),
  startSlackApi({
    onPost(message) {
      const started = sentAt.get(`${message.channel}/${message.thread_ts}`);
      if (started === undefined) return;
      if (phase === "warm-up") {
        warmReplies++;
        return;
      }
      stamp("posted", message.text ?? "");
      replyLatencies.push(performance.now() - started);
      if (replyLatencies.length === total) done();
    },
  }),
]);

const senders = await seedBenchSenders(testDb.admin, slack, secretKey, TENANTS);

// BENCH_CPU_PROF=<dir>: each service writes a V8 CPU profile there when it exits.
const profileDir = process.env.BENCH_CPU_PROF;
const common = {
  DATABASE_URL: testDb.appUrl,
  REDIS_URL: serverUrl("REDIS_ADMIN_URL"),
  NATS_URL: nats.url,
  // SERVICE_NODE_OPTIONS: the services' Node flags, to compare settings (e.g. the chart's heap bounds).
  ...(profileDir || process.env.SERVICE_NODE_OPTIONS
    ? {
        NODE_OPTIONS: [process.env.SERVICE_NODE_OPTIONS, profileDir ? `--cpu-prof --cpu-prof-dir=${profileDir}` : ""]
          .filter(Boolean)
          .join(" "),
      }
    : {}),
};
// startTestNats declared the streams; each service declares its own consumers on start.
const gateway = await startServiceProcess("gateway", {
  ...common,
  SLACK_API_URL: slack.url,
  SLACK_SIGNING_SECRET: randomBytes(16).toString("hex"),
  KONSTRUCT_SECRET_KEY: secretKeyText,
});
const [router, orchestrator] = await Promise.all([
  startServiceProcess("router", common),
  startServiceProcess("orchestrator", {
    ...common,
    OLLAMA_URL: ollama.url,
    // The history's group commit wait, to compare settings (the orchestrator's default otherwise).
    ...(process.env.HISTORY_LINGER_MS ? { HISTORY_LINGER_MS: process.env.HISTORY_LINGER_MS } : {}),
  }),
]);
const services = [gateway, router, orchestrator];

const tap = stagesOn ? await connectNats(nats.url, "e2e-bench-tap") : null;
if (tap) {
  const decoder = new TextDecoder();
  for (const stage of ["inbound", "work", "outbound"] as const) {
    tap.subscribe(`konstruct.${stage}.>`, { callback: (_e, msg) => stamp(stage, decoder.decode(msg.data)) });
  }
  await tap.flush();
}

// Keep-alive sockets, as Slack's senders reuse connections; enough that a slow ack never queues a send.
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** CPU seconds used so far by each service and this process, from /proc (Linux); null elsewhere. */
function cpuSeconds(): Record<string, number> | null {
  try {
    const figures: Record<string, number> = {};
    for (const s of services) {
      figures[s.kind] = processCpuSeconds(s.pid);
    }
    const own = process.cpuUsage();
    figures["sender+doubles"] = (own.user + own.system) / 1e6;
    return figures;
  } catch {
    return null;
  }
}

/** Sends one signed app_mention in its own new thread; resolves when the gateway has answered. */
function send(sender: BenchSender, channel: string): void {
  const { key, body } = appMention(sender, channel);
  const headers = { ...signSlackRequest(sender.signingSecret, body), "content-length": String(Buffer.byteLength(body)) };
  const measuring = phase === "measure";
  const started = performance.now();
  sentAt.set(key, started);
  if (measuring) stamp("sent", body);
  const req = request(
    {
      agent,
      host: "127.0.0.1",
      port: gateway.port,
      method: "POST",
      path: `/webhooks/slack/${sender.connectionId}/events`,
      headers,
    },
    (res) => {
      res.resume();
      res.once("end", () => {
        if (!measuring) return;
        if (res.statusCode === 200) {
          acked++;
          ackLatencies.push(performance.now() - started);
        } else failedAcks++;
      });
    },
  );
  req.once("error", () => {
    if (measuring) failedAcks++;
  });
  req.end(body);
}

// Warm-up: connection and credential caches, pools, JIT, in every process.
const WARM = 40;
for (let i = 0; i < WARM; i++) {
  send(senders[i % TENANTS]!, `CWARM${i}`);
  await new Promise((r) => setTimeout(r, 20));
}
const warmDeadline = Date.now() + 15_000;
while (warmReplies < WARM && Date.now() < warmDeadline) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 1_000));

phase = "measure";
const cpuBefore = cpuSeconds();
const interval = 1_000 / rate;
const start = performance.now();
for (let i = 0; i < total; i++) {
  const due = start + i * interval;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  send(senders[i % TENANTS]!, `CBENCH${i % CHANNELS}`);
}
const sendSeconds = (performance.now() - start) / 1_000;
await Promise.race([finished, new Promise((r) => setTimeout(r, DRAIN_MS))]);
const loadAfter = loadavg();
const cpuAfter = cpuSeconds();

const pct = (values: number[], p: number) => {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const line = (values: number[]) =>
  ["p50", "p90", "p99"].map((p) => `${p} ${pct(values, Number(p.slice(1))).toFixed(1)} ms`).join("   ") +
  `   max ${Math.max(...values).toFixed(1)} ms`;
console.log("pipeline overhead, signed Slack webhook → reply posted to the Slack Web API (Ollama double at 0 ms latency)");
console.log(
  `  machine      ${availableParallelism()} CPUs, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")} before, ${loadAfter.map((l) => l.toFixed(2)).join(" ")} after`,
);
console.log("  processes    gateway, router, orchestrator (one each, default settings), nats-server; sender and doubles here");
console.log(
  `  offered      ${rate} msg/s for ${seconds} s (${total} messages, ${TENANTS} tenants), sent in ${sendSeconds.toFixed(2)} s`,
);
console.log(`  answered     ${replyLatencies.length}/${total} (${ollama.requests.length} model calls in all, warm-up included)`);
console.log(`  reply        ${line(replyLatencies)}`);
console.log(`  ack          ${line(ackLatencies)}   (${acked} × 200, ${failedAcks} failed)`);
if (cpuBefore && cpuAfter) {
  const perMessage = Object.keys(cpuAfter)
    .map((name) => `${name} ${(((cpuAfter[name]! - cpuBefore[name]!) / total) * 1e6).toFixed(0)}`)
    .join(", ");
  console.log(`  CPU/message  ${perMessage} µs (all threads; nats-server, PostgreSQL and Redis not counted)`);
}
if (stagesOn) {
  console.log("  stages       time from the previous stage, measured messages (BENCH_STAGES=1):");
  for (const [i, stage] of STAGES.entries()) {
    if (i === 0) continue;
    const previous = STAGES[i - 1] as (typeof STAGES)[number];
    const gaps = [...stageAt.values()]
      .filter((at) => at.sent !== undefined && at[stage] !== undefined && at[previous] !== undefined)
      .map((at) => (at[stage] as number) - (at[previous] as number));
    console.log(`    ${`${previous} → ${stage}`.padEnd(22)} ${line(gaps)}   (${gaps.length})`);
  }
}
const goal = pct(replyLatencies, 99);
console.log(
  `\ngoal: pipeline overhead p99 at ${rate}/s = ${goal.toFixed(1)} ms (goal < 50 ms: ${goal < 50 && replyLatencies.length === total ? "met" : "MISSED"})`,
);

await tap?.close();
agent.destroy();
for (const s of services.toReversed()) await s.kill("SIGTERM");
await Promise.all([ollama.close(), slack.close(), nats.stop()]);
await testDb.drop();
await dropTenantKeys(senders.map((s) => s.tenantId));
process.exit(replyLatencies.length === total ? 0 : 1);
