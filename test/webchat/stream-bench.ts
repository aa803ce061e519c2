// Streaming benchmark: the model's first token → the web chat visitor's event stream sees it.
// Prints figures; not a test.
//
//   bash scripts/servers.sh start && eval "$(bash scripts/servers.sh env)"
//   node test/webchat/stream-bench.ts [visitors=10] [messages per visitor=10]
//
// A visitor may send 20 messages a minute (the web chat's own limit), so more samples take more
// visitors, and more visitors more streams written at once.
//
// Deployed shape: gateway, router and orchestrator each run as their own process (`node
// services/<x>/src/main.ts`, default settings), over a private nats-server, a fresh database with
// one web chat tenant, and the local Redis. This process hosts the visitors: each holds its event
// stream open and sends its messages one after another, each once the previous reply arrived. The
// Ollama double (one word a chunk, CHUNK_MS apart) runs on a worker thread (stream-bench-model.ts):
// a model server is a machine of its own, and sharing the visitors' event loop delayed its chunks
// behind their parsing. One sample is from the double writing the first chunk of an answer to the
// visitor's stream delivering that reply's first `delta` event, both as absolute times
// (`performance.timeOrigin + performance.now()`): model server → orchestrator (NDJSON parse,
// throttle) → core NATS → gateway (relay) → SSE → visitor.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import {
  createTestDatabase,
  dropTenantKeys,
  type SseEvent,
  serverUrl,
  sseReader,
  startServiceProcess,
  startTestNats,
} from "@konstruct/testkit";
import { newVisitor, seedWebchatTenant, sendMessage } from "./support.ts";

const visitors = Number(process.argv[2] ?? 10);
const perVisitor = Number(process.argv[3] ?? 10);
const CHUNK_MS = 20;

const loadBefore = loadavg();
const model = new Worker(new URL("./stream-bench-model.ts", import.meta.url), { workerData: { chunkMs: CHUNK_MS } });
const [db, nats, [{ url: ollamaUrl }]] = await Promise.all([
  createTestDatabase("stream_bench"),
  startTestNats(),
  once(model, "message") as Promise<[{ url: string }]>,
]);
/** What the model thread saw: each answer's question, and when it wrote that answer's first chunk. */
async function modelRequests(): Promise<{ question: string; firstChunkAt: number | undefined }[]> {
  const answer = once(model, "message");
  model.postMessage("requests");
  return ((await answer)[0] as { requests: { question: string; firstChunkAt: number | undefined }[] }).requests;
}
const tenant = await seedWebchatTenant(db.admin, { agentName: "Ada", agentRole: "Support", systemPrompt: "You are Ada." });
// Room for every visitor at once: the figure is the relay's, not the tenant's limits.
await db.admin.updateTable("tenants").set({ max_concurrent_runs: visitors, messages_per_minute: 100_000 }).execute();
const common = { DATABASE_URL: db.appUrl, REDIS_URL: serverUrl("REDIS_ADMIN_URL"), NATS_URL: nats.url, LOG_LEVEL: "warn" };
const services = await Promise.all([
  startServiceProcess("gateway", {
    ...common,
    SLACK_API_URL: "http://127.0.0.1:9/api/",
    SLACK_SIGNING_SECRET: randomBytes(16).toString("hex"),
    KONSTRUCT_SECRET_KEY: randomBytes(32).toString("base64"),
  }),
  startServiceProcess("router", common),
  startServiceProcess("orchestrator", { ...common, OLLAMA_URL: ollamaUrl, OLLAMA_PARALLEL: String(visitors) }),
]);
const gatewayUrl = `http://127.0.0.1:${services[0].port}`;

/** When each reply's first delta reached its visitor, by the question it answers. */
const firstDeltaAt = new Map<string, number>();
const samples: number[] = [];
let missing = 0;

async function visitor(index: number, messages: number): Promise<void> {
  const v = await newVisitor(gatewayUrl, tenant.connectionId);
  const controller = new AbortController();
  const response = await fetch(`${v.base}events`, {
    headers: { authorization: `Bearer ${v.token}`, accept: "text/event-stream" },
    signal: controller.signal,
  });
  const events: SseEvent[] = [];
  const read = sseReader(events);
  const questions = new Map<string, string>();
  const waiting: { onAgentMessage: (() => void) | null } = { onAgentMessage: null };
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        const at = performance.timeOrigin + performance.now();
        const from = events.length;
        read(decoder.decode(chunk, { stream: true }));
        for (const event of events.slice(from)) {
          const data = JSON.parse(event.data);
          if (event.event === "delta" && !firstDeltaAt.has(questions.get(data.inReplyTo) ?? "")) {
            firstDeltaAt.set(questions.get(data.inReplyTo) ?? "", at);
          } else if (event.event === "message" && data.kind === "agent") {
            waiting.onAgentMessage?.();
          }
        }
      }
    } catch {
      // aborted at the end
    }
  })();
  for (let m = 0; m < messages; m++) {
    const clientMessageId = `bench-${index}-${m}-${randomBytes(4).toString("hex")}`;
    const question = `question ${index}.${m}`;
    questions.set(clientMessageId, question);
    const replied = new Promise<void>((resolve) => {
      waiting.onAgentMessage = resolve;
    });
    const sent = await sendMessage(v.base, v.token, question, { clientMessageId });
    if (sent.status !== 202) throw new Error(`message refused: HTTP ${sent.status} ${await sent.text()}`);
    await Promise.race([replied, new Promise((r) => setTimeout(r, 30_000))]);
  }
  controller.abort();
}

// Warm-up: one visitor's few messages take the services' code paths through the JIT first, so
// the figures are of warm processes (cold, the 10 first answers all started at once took 20-29 ms
// where every later one took under 13). Not counted.
const WARM_UP = 5;
await visitor(-1, WARM_UP);
const started = performance.now();
await Promise.all(Array.from({ length: visitors }, (_, i) => visitor(i, perVisitor)));
const elapsedS = (performance.now() - started) / 1000;
const loadAfter = loadavg();

for (const entry of (await modelRequests()).filter((r) => !r.question.startsWith("question -1."))) {
  const seen = firstDeltaAt.get(entry.question);
  if (entry.firstChunkAt === undefined || seen === undefined) missing++;
  else samples.push(seen - entry.firstChunkAt);
}
samples.sort((a, b) => a - b);
/** Nearest rank: the smallest sample with at least p% of the samples at or below it. */
const pct = (p: number) => samples[Math.max(0, Math.ceil((p / 100) * samples.length) - 1)] ?? Number.NaN;
const ms = (v: number) => `${v.toFixed(1)} ms`;
const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");

console.log("first token → visitor, web chat (Ollama double streaming one word a chunk)");
console.log(`  machine      ${availableParallelism()} CPUs, load ${fmt(loadBefore)} before, ${fmt(loadAfter)} after`);
console.log(
  "  processes    gateway, router, orchestrator (one each, default settings), nats-server; visitors here, the double on a thread of its own",
);
console.log(
  `  offered      ${visitors} visitors × ${perVisitor} messages at once, each after the previous reply; ${CHUNK_MS} ms between chunks; ${elapsedS.toFixed(1)} s (after ${WARM_UP} warm-up messages)`,
);
console.log(`  samples      ${samples.length} (${missing} answers without a first delta seen)`);
console.log(
  `  latency      p50 ${ms(pct(50))}   p90 ${ms(pct(90))}   p99 ${ms(pct(99))}   max ${ms(samples.at(-1) ?? Number.NaN)}`,
);
console.log(`\ngoal: first token → visitor p99 = ${ms(pct(99))} (goal < 20 ms: ${pct(99) < 20 ? "met" : "MISSED"})`);

for (const s of services) await s.kill("SIGTERM");
model.postMessage("close");
await Promise.all([once(model, "exit"), nats.stop()]);
await db.drop();
await dropTenantKeys([tenant.tenantId]);
process.exit(missing > 0 ? 1 : 0);
