// Two replicas of each service on the same durable consumers: does every webhook get exactly one
// reply, and does CPU per message stay what one replica of each costs? Prints figures; not a test
// (lost or duplicated replies make it exit 1).
//
//   bash scripts/servers.sh start && eval "$(bash scripts/servers.sh env)"
//   node test/pipeline/replicas-bench.ts [rate=100] [seconds=10] [retries%=10]
//   REPLICAS_BENCH_SCALE=1 node test/pipeline/replicas-bench.ts   # two of each at twice the rate
//
// A process's CPU per message falls as its own rate rises (batched writes, warm code), so two
// replicas sharing one rate each work at half of it. With REPLICAS_BENCH_SCALE=1 the second
// phase offers twice the rate, so each replica works at the rate the single one did: scaling out
// as load grows.
//
// One invocation runs two phases over one private nats-server and one fresh database (four
// seeded Slack tenants), so the two figures share the machine's load: first one gateway, one
// router and one orchestrator; then two of each, as separate processes sharing the same durable
// consumers (`node services/<x>/src/main.ts`, default settings). The sender spreads webhooks
// round-robin over the gateways and re-sends `retries%` of them as Slack retries (same
// `event_id`, `X-Slack-Retry-Num: 1`) to another gateway than the first, as Slack does after a
// slow ack and a load balancer may do. The Slack Web API double counts every `chat.postMessage`
// per thread: a thread with no reply is lost, a thread with two is duplicated.
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseSecretKey } from "@konstruct/core";
import {
  createTestDatabase,
  dropTenantKeys,
  processCpuSeconds,
  type ServiceProcess,
  serverUrl,
  signSlackRequest,
  startOllamaDouble,
  startServiceProcess,
  startSlackApi,
  startTestNats,
} from "@konstruct/testkit";
import { appMention, seedBenchSenders } from "./slack-bench.ts";

const rate = Number(process.argv[2] ?? 100);
const seconds = Number(process.argv[3] ?? 10);
const retryPercent = Number(process.argv[4] ?? 10);
/** Two of each at twice the rate (each replica at the single one's rate) rather than at the same rate. */
const scaleRate = process.env.REPLICAS_BENCH_SCALE === "1";
const TENANTS = 4;
const CHANNELS = 50;
// Replies still missing this long after the last send count as lost.
const DRAIN_MS = 30_000;
// After the last expected reply, how long a late duplicate may still arrive and be counted.
const SETTLE_MS = 3_000;
/** How long each phase measures its processes idle, before the traffic. */
const IDLE_MS = 5_000;

const secretKeyText = randomBytes(32).toString("base64");
const secretKey = parseSecretKey(secretKeyText);

/** Replies posted per `<channel>/<thread_ts>`, every phase. */
const posts = new Map<string, number>();
let onNewThread: (() => void) | null = null;

const [testDb, nats, ollama, slack] = await Promise.all([
  createTestDatabase("replicas-bench"),
  startTestNats(),
  startOllamaDouble({ latencyMs: 0 }),
  startSlackApi({
    onPost(message) {
      const key = `${message.channel}/${message.thread_ts}`;
      const n = (posts.get(key) ?? 0) + 1;
      posts.set(key, n);
      if (n === 1) onNewThread?.();
    },
  }),
]);

const senders = await seedBenchSenders(testDb.admin, slack, secretKey, TENANTS);

const common = {
  DATABASE_URL: testDb.appUrl,
  REDIS_URL: serverUrl("REDIS_ADMIN_URL"),
  NATS_URL: nats.url,
};
const gatewayEnv = {
  ...common,
  SLACK_API_URL: slack.url,
  SLACK_SIGNING_SECRET: randomBytes(16).toString("hex"),
  KONSTRUCT_SECRET_KEY: secretKeyText,
};

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

interface Webhook {
  port: number;
  path: string;
  body: string;
  signingSecret: string;
  retryNum?: number;
}

/** Sends one webhook; resolves with the HTTP status (0: no answer). */
function post(w: Webhook): Promise<number> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {
      ...signSlackRequest(w.signingSecret, w.body),
      "content-length": String(Buffer.byteLength(w.body)),
    };
    if (w.retryNum) {
      headers["x-slack-retry-num"] = String(w.retryNum);
      headers["x-slack-retry-reason"] = "http_timeout";
    }
    const req = request({ agent, host: "127.0.0.1", port: w.port, method: "POST", path: w.path, headers }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", () => resolve(0));
    req.end(w.body);
  });
}

interface PhaseResult {
  replicas: number;
  rate: number;
  sent: number;
  retriesSent: number;
  failedAcks: number;
  answered: number;
  lost: number;
  duplicated: number;
  cpuUs: Record<string, number>;
  /** The same less each process's idle CPU over the measured time: the work of the messages. */
  workUs: Record<string, number>;
  /** Each service's idle CPU (all its replicas) over the measured time, per message. */
  idleUs: Record<string, number>;
  /** Each replica's share of its service's CPU, to show that both took work. */
  shares: Record<string, number[]>;
  load: string;
}

async function phase(replicas: number, label: string, phaseRate: number): Promise<PhaseResult> {
  const total = Math.round(phaseRate * seconds);
  const gateways: ServiceProcess[] = [];
  for (let i = 0; i < replicas; i++) gateways.push(await startServiceProcess("gateway", gatewayEnv));
  const workers = await Promise.all(
    Array.from({ length: replicas }, () => [
      startServiceProcess("router", common),
      startServiceProcess("orchestrator", { ...common, OLLAMA_URL: ollama.url }),
    ]).flat(),
  );
  const processes = [...gateways, ...workers];
  const waitForThreads = async (keys: string[], ms: number) => {
    const deadline = Date.now() + ms;
    while (keys.some((k) => !posts.has(k)) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        onNewThread = resolve;
        setTimeout(resolve, 200);
      });
    }
    onNewThread = null;
  };

  let sent = 0;
  let retriesSent = 0;
  let failedAcks = 0;
  const acks: Promise<void>[] = [];
  const send = (i: number, keys: string[], channel: string) => {
    const sender = senders[i % TENANTS]!;
    const { key, body } = appMention(sender, channel);
    const path = `/webhooks/slack/${sender.connectionId}/events`;
    const first = gateways[i % gateways.length]!;
    keys.push(key);
    sent++;
    acks.push(
      post({ port: first.port, path, body, signingSecret: sender.signingSecret }).then(async (status) => {
        if (status !== 200) failedAcks++;
        // A Slack retry of the same event, to the other gateway when there is one.
        if (retryPercent > 0 && i % Math.round(100 / retryPercent) === 0) {
          retriesSent++;
          const other = gateways[(i + 1) % gateways.length]!;
          await post({ port: other.port, path, body, signingSecret: sender.signingSecret, retryNum: 1 });
        }
      }),
    );
  };

  try {
    // Warm-up: connection and credential caches, pools, JIT, in every process.
    const warmKeys: string[] = [];
    for (let i = 0; i < 20 * replicas; i++) {
      send(i, warmKeys, `CWARM${label}${i}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitForThreads(warmKeys, 15_000);
    await new Promise((r) => setTimeout(r, 1_000));
    sent = 0;
    retriesSent = 0;
    failedAcks = 0;

    // Each process's CPU with nothing to do (pull expiries, heartbeats, timers), per second: a
    // replica costs it whatever the traffic, so it is shown apart from the work per message.
    const idleStart = processes.map((p) => processCpuSeconds(p.pid));
    const idleFrom = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idlePerSecond = processes.map(
      (p, j) => (processCpuSeconds(p.pid) - idleStart[j]!) / ((performance.now() - idleFrom) / 1_000),
    );

    const cpuBefore = processes.map((p) => processCpuSeconds(p.pid));
    const measuredFrom = performance.now();
    const keys: string[] = [];
    const interval = 1_000 / phaseRate;
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      send(i, keys, `C${label}${i % CHANNELS}`);
    }
    await Promise.all(acks);
    await waitForThreads(keys, DRAIN_MS);
    const cpuAfter = processes.map((p) => processCpuSeconds(p.pid));
    const measuredSeconds = (performance.now() - measuredFrom) / 1_000;
    // Late duplicates: a second reply would come after the first.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const cpuUs: Record<string, number> = {};
    const workUs: Record<string, number> = {};
    const idleUs: Record<string, number> = {};
    const shares: Record<string, number[]> = {};
    processes.forEach((p, j) => {
      const us = ((cpuAfter[j]! - cpuBefore[j]!) / total) * 1e6;
      const idle = ((idlePerSecond[j]! * measuredSeconds) / total) * 1e6;
      cpuUs[p.kind] = (cpuUs[p.kind] ?? 0) + us;
      idleUs[p.kind] = (idleUs[p.kind] ?? 0) + idle;
      workUs[p.kind] = (workUs[p.kind] ?? 0) + Math.max(0, us - idle);
      shares[p.kind] = [...(shares[p.kind] ?? []), us];
    });
    const counts = keys.map((k) => posts.get(k) ?? 0);
    return {
      replicas,
      rate: phaseRate,
      sent,
      retriesSent,
      failedAcks,
      answered: counts.filter((n) => n > 0).length,
      lost: counts.filter((n) => n === 0).length,
      duplicated: counts.reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      cpuUs,
      workUs,
      idleUs,
      shares,
      load: loadavg()
        .map((l) => l.toFixed(2))
        .join(" "),
    };
  } finally {
    for (const p of processes.toReversed()) await p.kill("SIGTERM");
  }
}

const loadBefore = loadavg();
const one = await phase(1, "A", rate);
const two = await phase(2, "B", scaleRate ? 2 * rate : rate);

console.log("replicas: every webhook answered exactly once with two of each service on shared durable consumers");
console.log(`  machine      ${availableParallelism()} CPUs, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")} before`);
console.log(
  `  offered      ${one.rate} msg/s to one of each, ${two.rate} msg/s to two of each, ${seconds} s per phase (${TENANTS} tenants), ${retryPercent}% re-sent as Slack retries to another gateway`,
);
for (const r of [one, two]) {
  const cpu = ["gateway", "router", "orchestrator"]
    .map((k) => {
      const split = (r.shares[k] ?? []).length > 1 ? ` (${(r.shares[k] ?? []).map((us) => us.toFixed(0)).join(" + ")})` : "";
      return `${k} ${(r.cpuUs[k] ?? 0).toFixed(0)}${split}`;
    })
    .join(", ");
  console.log(
    `  ${r.replicas} of each   sent ${r.sent} (+${r.retriesSent} retries, ${r.failedAcks} acks not 200)  answered ${r.answered}  lost ${r.lost}  duplicated ${r.duplicated}`,
  );
  console.log(`               CPU/message (sum over replicas) ${cpu} µs   load after ${r.load}`);
  const work = ["gateway", "router", "orchestrator"]
    .map((k) => `${k} ${(r.workUs[k] ?? 0).toFixed(0)} (+${(r.idleUs[k] ?? 0).toFixed(0)} idle)`)
    .join(", ");
  console.log(`               of which the messages' work ${work} µs`);
}
const ratio = (k: string, of: "cpuUs" | "workUs") => ((two[of][k] ?? 0) / (one[of][k] || 1)).toFixed(2);
const ratios = (of: "cpuUs" | "workUs") =>
  `gateway ${ratio("gateway", of)}×, router ${ratio("router", of)}×, orchestrator ${ratio("orchestrator", of)}×`;
console.log(`  2 ÷ 1        ${ratios("cpuUs")} CPU per message; the messages' work alone ${ratios("workUs")}`);

agent.destroy();
await Promise.all([ollama.close(), slack.close(), nats.stop()]);
await testDb.drop();
await dropTenantKeys(senders.map((s) => s.tenantId));
const ok = [one, two].every((r) => r.lost === 0 && r.duplicated === 0);
process.exit(ok ? 0 : 1);
