// What the conversation history adds to the pipeline per message: the CPU of one run's history
// write (the person's message and the reply; `konstruct_record_history` alone, `konstruct_record_histories` grouped), in the orchestrator
// process and in its PostgreSQL backend. Prints figures; not a test.
//
//   bash scripts/servers.sh start && eval "$(bash scripts/servers.sh env)"
//   node test/pipeline/history-bench.ts [runs=3000] [threads=300] [rate=200]
//   HISTORY_BENCH_LINGERS=0,20,50 node test/pipeline/history-bench.ts   # the writer's lingers to try (default 20,50)
//
// The writes go through the orchestrator's own code (`historyExchange` + `recordHistory`) as the
// app role, one at a time as a run does, over one connection, into a fresh database whose
// conversations fill as they would: `threads` threads, each run a new message in one of them.
// Orchestrator CPU is this process's (process.cpuUsage); PostgreSQL's is its backend's time on
// CPU (/proc/<pid>/schedstat, nanoseconds). A redelivery's repeat (nothing inserted) is measured too.
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { createDatabase, createLogger, deliveryKey, type OutboundReply, type WorkItem } from "@konstruct/core";
import { createHistoryWriter, historyExchange, outboundReply, recordHistory, type SettledReply } from "@konstruct/orchestrator";
import { createTestDatabase, inboundMessage, seedTenant } from "@konstruct/testkit";
import { sql } from "kysely";

const runs = Number(process.argv[2] ?? 3000);
const threads = Number(process.argv[3] ?? 300);
/** Runs per second arriving at the orchestrator's writer, as in the pipeline benchmark. */
const rate = Number(process.argv[4] ?? 200);
const LINGERS = (process.env.HISTORY_BENCH_LINGERS ?? "20,50").split(",").map(Number);
const WARM_UP = 300;

const loadBefore = loadavg();
const testDb = await createTestDatabase("histbench");
try {
  const tenant = await seedTenant(testDb.admin, { agents: [{ name: "ada", displayName: "Ada", isDefault: true }] });
  const db = createDatabase(testDb.appUrl, { max: 1, applicationName: "history-bench" });
  const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
  const backendPid = rows[0]?.pid as number;
  const backendCpuNs = () => Number(readFileSync(`/proc/${backendPid}/schedstat`, "utf8").split(" ")[0]);

  const threadIds = Array.from({ length: threads }, (_, i) => `${1_700_000_000 + i}.000100`);
  const question = "Hello Ada, could you tell me where my order 4711 is? It was due last Tuesday and I have heard nothing since.";
  const answer = `${"Your order 4711 left our warehouse on Monday and is with the carrier; ".repeat(6)}it should arrive tomorrow.`;
  const exchanges = Array.from({ length: WARM_UP + runs * (1 + LINGERS.length) }, (_, i) => {
    const message = inboundMessage(tenant, { text: question, channelId: "C0BENCH", threadId: threadIds[i % threads] });
    const routed = { ...message, tenantId: tenant.tenantId, channel: { ...message.channel, connectionId: tenant.connectionId } };
    const item: WorkItem = {
      message: routed,
      tenantId: tenant.tenantId,
      agentId: tenant.agents.ada as string,
      deliveryKey: deliveryKey(message),
    };
    const reply: SettledReply = {
      kind: "answer",
      text: answer,
      model: "llama3.2",
      promptTokens: 412,
      completionTokens: 96,
      latencyMs: 1830,
    };
    return { item, reply };
  });

  /** Writes `list` one after another (as runs do); CPU per write in ms, and each write's wall time. */
  const measure = async (list: typeof exchanges) => {
    const walls: number[] = [];
    const cpu0 = process.cpuUsage();
    const pg0 = backendCpuNs();
    for (const { item, reply } of list) {
      const start = performance.now();
      // Built here as the orchestrator builds it, so its cost is counted.
      const sent = outboundReply(item, reply.kind, reply.text, { id: item.agentId, displayName: "Ada" });
      await recordHistory(db, historyExchange(item, question, reply, sent));
      walls.push(performance.now() - start);
    }
    const cpu = process.cpuUsage(cpu0);
    const node = (cpu.user + cpu.system) / 1000 / list.length;
    const postgres = (backendCpuNs() - pg0) / 1e6 / list.length;
    walls.sort((a, b) => a - b);
    const at = (q: number) => walls[Math.min(walls.length - 1, Math.floor(q * walls.length))] as number;
    return { node, postgres, total: node + postgres, p50: at(0.5), p99: at(0.99) };
  };

  /** A bare round trip on the same connection, for scale: what the machine's load does to every figure. */
  const roundTrip = async (n: number) => {
    const cpu0 = process.cpuUsage();
    const pg0 = backendCpuNs();
    for (let i = 0; i < n; i++) await sql`select 1`.execute(db);
    const cpu = process.cpuUsage(cpu0);
    const node = (cpu.user + cpu.system) / 1000 / n;
    const postgres = (backendCpuNs() - pg0) / 1e6 / n;
    return { node, postgres, total: node + postgres };
  };

  /** Runs `run` on each exchange, `rate` a second, with the reply the orchestrator builds for it anyway. */
  const eachPaced = async (list: typeof exchanges, run: (x: (typeof exchanges)[number], sent: OutboundReply) => void) => {
    const started = performance.now();
    for (const [i, x] of list.entries()) {
      const wait = started + (i * 1000) / rate - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      run(x, outboundReply(x.item, x.reply.kind, x.reply.text, { id: x.item.agentId, displayName: "Ada" }));
    }
  };
  /**
   * The orchestrator's writer (history-writer.ts) with runs arriving `rate` a second, each
   * awaiting its own write as a run does: exchanges that meet share a commit.
   */
  const paced = async (list: typeof exchanges, lingerMs: number) => {
    const writer = createHistoryWriter({ db, log: createLogger({ name: "history-bench", level: "silent" }), lingerMs });
    const walls: number[] = [];
    const cpu0 = process.cpuUsage();
    const pg0 = backendCpuNs();
    const xid0 = await currentXid();
    const writes: Promise<void>[] = [];
    await eachPaced(list, ({ item, reply }, sent) => {
      const start = performance.now();
      writes.push(
        writer.record(historyExchange(item, question, reply, sent)).then(() => void walls.push(performance.now() - start)),
      );
    });
    await Promise.all(writes);
    await writer.close();
    const cpu = process.cpuUsage(cpu0);
    const node = (cpu.user + cpu.system) / 1000 / list.length;
    const postgres = (backendCpuNs() - pg0) / 1e6 / list.length;
    // Each commit takes one transaction id (the probe's read takes none).
    const commits = (await currentXid()) - xid0;
    walls.sort((a, b) => a - b);
    const at = (q: number) => walls[Math.min(walls.length - 1, Math.floor(q * walls.length))] as number;
    return { node, postgres, total: node + postgres, p50: at(0.5), p99: at(0.99), perCommit: list.length / Math.max(1, commits) };
  };
  /**
   * The same paced loop with no history write: the load generator's own CPU (timers, the reply
   * the orchestrator builds anyway), subtracted from the paced figures so they are what the
   * history write adds.
   */
  const pacingAlone = async (list: typeof exchanges) => {
    const cpu0 = process.cpuUsage();
    let built = 0;
    await eachPaced(list, (_x, sent) => {
      built += sent.text.length;
    });
    const cpu = process.cpuUsage(cpu0);
    if (built === 0) throw new Error("no reply built");
    return (cpu.user + cpu.system) / 1000 / list.length;
  };
  const currentXid = async () => {
    const { rows } = await sql<{ xid: string }>`select pg_snapshot_xmax(pg_current_snapshot())::text as xid`.execute(db);
    return Number(rows[0]?.xid);
  };

  await measure(exchanges.slice(0, WARM_UP));
  const fresh = await measure(exchanges.slice(WARM_UP, WARM_UP + runs));
  const again = await measure(exchanges.slice(WARM_UP, WARM_UP + runs));
  const grouped = [];
  for (const [k, lingerMs] of LINGERS.entries()) {
    const from = WARM_UP + runs * (1 + k);
    grouped.push({ lingerMs, ...(await paced(exchanges.slice(from, from + runs), lingerMs)) });
  }
  const pacing = await pacingAlone(exchanges.slice(WARM_UP, WARM_UP + runs));
  const bare = await roundTrip(runs);
  const counts = await testDb.admin
    .selectFrom("conversation_messages")
    .select(sql<number>`count(*)::int`.as("n"))
    .executeTakeFirstOrThrow();
  await db.destroy();

  const ms = (v: number) => `${v.toFixed(3)} ms`;
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" ");
  console.log(`history write per message (one run: the person's message and the reply), ${runs} runs over ${threads} threads`);
  console.log(
    `  CPU: ${ms(fresh.total)} (orchestrator ${ms(fresh.node)}, PostgreSQL backend ${ms(fresh.postgres)}) — goal < 1 ms`,
  );
  console.log(`  wall time of the write: p50 ${ms(fresh.p50)}, p99 ${ms(fresh.p99)} (after the reply is published)`);
  console.log(
    `  a redelivery's repeat (nothing inserted): CPU ${ms(again.total)} (orchestrator ${ms(again.node)}, PostgreSQL ${ms(again.postgres)})`,
  );
  console.log(
    `  for scale, a bare round trip (select 1) on the same connection: CPU ${ms(bare.total)} (orchestrator ${ms(bare.node)}, PostgreSQL ${ms(bare.postgres)}); the write costs ${(fresh.total / bare.total).toFixed(1)}× that`,
  );
  console.log(`  per history row (two per run): CPU ${ms(fresh.total / 2)}`);
  console.log(`through the orchestrator's writer (group commit), runs arriving ${rate}/s, each awaiting its write:`);
  console.log(`  (the paced loop alone, no history write, costs ${ms(pacing)} a run in this process: subtracted below)`);
  for (const g of grouped) {
    const node = Math.max(0, g.node - pacing);
    console.log(
      `  linger ${String(g.lingerMs).padStart(2)} ms: CPU ${ms(node + g.postgres)} per run (orchestrator ${ms(node)}, PostgreSQL ${ms(g.postgres)}), ${g.perCommit.toFixed(1)} runs a commit; wait until durable p50 ${ms(g.p50)}, p99 ${ms(g.p99)}${g.lingerMs === 50 ? " — the orchestrator's default; goal < 1 ms" : ""}`,
    );
  }
  console.log(`  rows written: ${counts.n} (expected ${2 * exchanges.length})`);
  console.log(`  ${availableParallelism()} CPUs; load average before ${load(loadBefore)}, after ${load(loadavg())}`);
} finally {
  await testDb.drop();
}
