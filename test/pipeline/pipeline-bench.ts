// Pipeline overhead benchmark: inbound publish → outbound reply, with the Ollama double at zero
// latency, at a fixed offered rate. Prints figures; not a test.
//
//   bash scripts/servers.sh start && eval "$(bash scripts/servers.sh env)"
//   node test/pipeline/pipeline-bench.ts [rate=200] [seconds=10]
//
// Router and orchestrator run in this process (one each, default settings), over a private
// nats-server, the local PostgreSQL and Redis. The timestamp of each publish is taken just
// before `js.publish`; the reply's arrival is its delivery to an ordered consumer on
// KONSTRUCT_OUTBOUND, i.e. when an outbound worker could start posting it.
import { performance } from "node:perf_hooks";
import { STREAMS } from "@konstruct/core";
import {
  createTestDatabase,
  inboundMessage,
  parseReply,
  seedTenant,
  serverUrl,
  startOllamaDouble,
  startTestNats,
} from "@konstruct/testkit";
import { DeliverPolicy } from "@nats-io/jetstream";
import { publishInbound, startPipeline } from "./harness.ts";

const rate = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 10);
const total = rate * seconds;

const [testDb, nats, ollama] = await Promise.all([createTestDatabase("bench"), startTestNats(), startOllamaDouble()]);
const tenants = await Promise.all(
  Array.from({ length: 4 }, (_, i) =>
    seedTenant(testDb.admin, {
      messagesPerMinute: 1_000_000,
      maxConcurrentRuns: 256,
      agents: [{ name: `agent${i}`, displayName: `Agent ${i}`, isDefault: true, maxHistoryMessages: 10 }],
    }),
  ),
);
const pipeline = await startPipeline({
  natsUrl: nats.url,
  databaseUrl: testDb.appUrl,
  redisUrl: serverUrl("REDIS_ADMIN_URL"),
  ollamaUrl: ollama.url,
  router: { ackWaitMs: 30_000 },
  orchestrator: { ackWaitMs: 60_000 },
});

const sentAt = new Map<string, number>();
const latencies: number[] = [];
let done!: () => void;
const finished = new Promise<void>((resolve) => {
  done = resolve;
});
const consumer = await pipeline.js.consumers.get(STREAMS.outbound, { deliver_policy: DeliverPolicy.New });
const messages = await consumer.consume();
void (async () => {
  for await (const m of messages) {
    const reply = parseReply(m.data);
    const started = sentAt.get(reply.target.inReplyToMessageId);
    if (started === undefined) continue;
    latencies.push(performance.now() - started);
    if (latencies.length === total) done();
  }
})();

// Warm-up: caches, pools, JIT.
for (const t of tenants) {
  for (let i = 0; i < 20; i++) await publishInbound(pipeline.js, inboundMessage(t, { text: `warm ${i}` }));
}
await new Promise((r) => setTimeout(r, 2_000));

const interval = 1_000 / rate;
const start = performance.now();
for (let i = 0; i < total; i++) {
  const due = start + i * interval;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  const tenant = tenants[i % tenants.length]!;
  const message = inboundMessage(tenant, { text: `question ${i}`, channelId: `CBENCH${i % 50}` });
  sentAt.set(message.channel.messageId, performance.now());
  void publishInbound(pipeline.js, message);
}
const sendSeconds = (performance.now() - start) / 1_000;
await Promise.race([finished, new Promise((r) => setTimeout(r, 60_000))]);

latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
const llm = (await pipeline.orchestrators[0]!.metrics.llmSeconds.get()).values;
const llmSum = llm.find((v) => v.metricName === "konstruct_llm_call_seconds_sum")?.value ?? 0;
const llmCount = llm.find((v) => v.metricName === "konstruct_llm_call_seconds_count")?.value ?? 1;
console.log(`pipeline overhead, inbound publish → outbound reply (Ollama double at 0 ms latency)`);
console.log(`  offered      ${rate} msg/s for ${seconds} s (${total} messages, 4 tenants), sent in ${sendSeconds.toFixed(2)} s`);
console.log(`  answered     ${latencies.length}/${total}`);
console.log(
  `  latency      p50 ${pct(50).toFixed(1)} ms   p90 ${pct(90).toFixed(1)} ms   p99 ${pct(99).toFixed(1)} ms   max ${(latencies.at(-1) ?? Number.NaN).toFixed(1)} ms`,
);
const mean = async (h: { get(): Promise<{ values: { metricName?: string; value: number }[] }> }) => {
  const v = (await h.get()).values;
  const sum = v.find((x) => x.metricName?.endsWith("_sum"))?.value ?? 0;
  const count = v.find((x) => x.metricName?.endsWith("_count"))?.value ?? 1;
  return ((sum / count) * 1_000).toFixed(2);
};
console.log(
  `  handlers     router mean ${await mean(pipeline.routers[0]!.metrics.handleSeconds)} ms, orchestrator run mean ${await mean(pipeline.orchestrators[0]!.metrics.runSeconds)} ms`,
);
console.log(`  model call   mean ${((llmSum / llmCount) * 1_000).toFixed(2)} ms (HTTP round trip to the double, included above)`);

await messages.close();
await pipeline.stop();
await Promise.all([ollama.close(), nats.stop()]);
await testDb.drop();
process.exit(latencies.length === total ? 0 : 1);
