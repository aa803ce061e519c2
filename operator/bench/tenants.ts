// Operator benchmark: time from apply to all Ready for 100 and 500 Tenants, the writes a
// no-op resync issues (PostgreSQL tuples and roles, Redis write commands, Kubernetes write
// requests), and the operator's RSS at 500 Tenants. Needs the local servers
// (scripts/servers.sh) and the test control plane (scripts/build-control-plane.sh).
//
//   eval "$(bash scripts/servers.sh env)" && node operator/bench/tenants.ts [100 500]
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { createLogger, HOST_VARIABLE, PORT_VARIABLE } from "@konstruct/core";
import { Redis } from "ioredis";
import { sql } from "kysely";
import {
  isReady,
  type OperatorEnvironment,
  startEnvironment,
  TENANTS,
  TEST_SECRET_KEY,
  type TenantObject,
  tenantManifest,
} from "../../test/operator/harness.ts";
import { processCpuSeconds } from "../../test/src/process-stats.ts";
import { OPERATOR_NODE_OPTIONS } from "../src/api/deployment.ts";
import { Informer } from "../src/runtime/informer.ts";
import { printResults } from "./report.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const RESYNC_SECONDS = 15;
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);

/** A private redis-server, so other processes' commands on the shared one do not count as ours. */
async function startRedis(): Promise<{ url: string; stop(): void }> {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const p = (server.address() as { port: number }).port;
      server.close(() => resolve(p));
    });
  });
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--requirepass", "bench-admin", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const url = `redis://default:bench-admin@127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on("error", () => {});
    const ok = await probe.connect().then(
      () => true,
      () => false,
    );
    probe.disconnect();
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, stop: () => child.kill("SIGTERM") };
}

function startOperator(env: OperatorEnvironment, redisUrl: string): { child: ChildProcess; port: Promise<number> } {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      // What the Deployment sets too (charts): a bounded heap makes V8 collect instead of grow.
      NODE_OPTIONS: process.env.OPERATOR_NODE_OPTIONS ?? OPERATOR_NODE_OPTIONS,
      KUBECONFIG: env.operatorKubeconfig,
      DATABASE_OPERATOR_URL: env.database.operatorUrl,
      REDIS_ADMIN_URL: redisUrl,
      KONSTRUCT_SECRET_KEY: TEST_SECRET_KEY,
      [HOST_VARIABLE]: "127.0.0.1",
      [PORT_VARIABLE]: "0",
      RESYNC_INTERVAL_SECONDS: String(RESYNC_SECONDS),
      LEADER_ELECTION: "false",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // The port is logged at info; at warn we find it through /proc's listening sockets instead.
  const port = new Promise<number>((resolve) => {
    const poll = setInterval(() => {
      const found = listeningPort(child.pid as number);
      if (found) {
        clearInterval(poll);
        resolve(found);
      }
    }, 100);
  });
  return { child, port };
}

function listeningPort(pid: number): number | null {
  try {
    const inodes = new Set<string>();
    for (const fd of require_readdir(`/proc/${pid}/fd`)) {
      try {
        const link = require_readlink(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m) inodes.add(m[1] as string);
      } catch {}
    }
    for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A" && cols[1]?.startsWith("0100007F") && inodes.has(cols[9] as string))
        return Number.parseInt(cols[1].split(":")[1] as string, 16);
    }
  } catch {}
  return null;
}

import { readdirSync as require_readdir, readlinkSync as require_readlink } from "node:fs";

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) total += Number(line.split(" ").pop());
  return total;
}

/**
 * Which of the bench's Tenants are Ready, from the operator's own list-and-watch cache (one event
 * per change). It polled with a paged LIST before, which at N Tenants made the API server the
 * operator is measured against serialize all N objects a few times a second (~2 MB at 1,000).
 */
function watchReady(env: OperatorEnvironment, prefix: string): { count(): number; stop(): Promise<void> } {
  const ready = new Set<string>();
  const informer = new Informer<TenantObject>(env.admin, {
    path: TENANTS,
    resource: "tenants",
    watchdogMs: 90_000,
    log: createLogger({ name: "bench-readiness", level: "warn" }),
    onChange(key, tenant) {
      if (!key.startsWith(prefix)) return;
      if (tenant && isReady(tenant)) ready.add(key);
      else ready.delete(key);
    },
  });
  informer.start();
  return { count: () => ready.size, stop: () => informer.stop() };
}

let lastProgress = 0;
function allReady(watch: { count(): number }, n: number, operatorPid?: number): boolean {
  const ready = watch.count();
  if (Date.now() - lastProgress > 15_000) {
    lastProgress = Date.now();
    const rss = operatorPid ? `, operator RSS ${rssMb(operatorPid)} MB` : "";
    process.stderr.write(
      `bench: ${ready}/${n} Ready${rss}, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}\n`,
    );
  }
  return ready === n;
}

interface WriteCounters {
  /** Transactions committed or rolled back in the bench's database: one per autocommit statement or transaction. */
  pgXacts: number;
  /** Every Redis command, by name. */
  redisCalls: number;
  /** API requests by `VERB resource[/subresource]` (the bench's own Tenant POSTs and LISTs included). */
  kubeRequests: Map<string, number>;
  pgTuples: number;
  pgTables: Map<string, number>;
  roles: string;
  redis: Map<string, number>;
  kube: number;
}

const REDIS_WRITES =
  /^(acl\|setuser|acl\|deluser|set|setex|del|unlink|expire|pexpire|hset|hdel|incr|incrby|lpush|rpush|zadd|sadd|publish|flushall|flushdb)$/;

async function writeCounters(env: OperatorEnvironment, redis: Redis): Promise<WriteCounters> {
  // Our tables only: pg_stat_database would also count catalog writes (autovacuum's pg_statistic).
  const { rows } = await sql<{ relname: string; n: string }>`
    select relname, (n_tup_ins + n_tup_upd + n_tup_del)::text as n from pg_stat_all_tables where schemaname = 'public'`.execute(
    env.db,
  );
  const roles = await sql<{ h: string }>`
    select md5(coalesce(string_agg(rolname || ':' || coalesce(rolpassword, '') || rolcanlogin::text, ',' order by rolname), '')) as h
    from pg_authid where rolname in (select role_name from tenant_roles)`.execute(env.db);
  const info = (await redis.info("commandstats")) as string;
  const redisCounts = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) redisCounts.set(m[1] as string, Number(m[2]));
  const metrics = await env.admin.request<string>("GET", "/metrics", { text: true });
  let kube = 0;
  const kubeRequests = new Map<string, number>();
  for (const line of String(metrics).split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1] ?? "";
    const sub = label("subresource");
    const what = `${label("verb")} ${label("resource")}${sub ? `/${sub}` : ""}`;
    kubeRequests.set(what, (kubeRequests.get(what) ?? 0) + Number(line.split(" ").pop()));
    if (
      !/verb="(POST|PUT|PATCH|APPLY|DELETE)"/.test(line) ||
      !/konstruct-operator|resource="(tenants|agents|secrets|namespaces|rolebindings|events)"/.test(line)
    )
      continue;
    kube += Number(line.split(" ").pop());
  }
  const pgTables = new Map(rows.map((r) => [r.relname, Number(r.n)]));
  const xacts = await sql<{ n: string }>`
    select (xact_commit + xact_rollback)::text as n from pg_stat_database where datname = current_database()`.execute(env.db);
  return {
    pgXacts: Number(xacts.rows[0]?.n ?? 0),
    redisCalls: [...redisCounts.values()].reduce((a, b) => a + b, 0),
    kubeRequests,
    pgTuples: [...pgTables.values()].reduce((a, b) => a + b, 0),
    pgTables,
    roles: roles.rows[0]?.h ?? "",
    redis: redisCounts,
    kube,
  };
}

/** POSTs one Tenant, retrying a timeout or a 5xx of a busy API server (a 409 means an earlier try landed). */
async function createTenant(env: OperatorEnvironment, name: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await env.admin.request("POST", TENANTS, { body: tenantManifest(name, { reclaimPolicy: "Delete" }) });
      return;
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 409 && attempt > 0) return;
      if (attempt >= 5 || (status !== undefined && status < 500)) throw error;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

async function run(n: number): Promise<Record<string, number | string>> {
  const env = await startEnvironment();
  const privateRedis = await startRedis();
  const redis = new Redis(privateRedis.url);
  const operator = startOperator(env, privateRedis.url);
  const port = await operator.port;
  const prefix = `bench-${n}-`;
  const readiness = watchReady(env, prefix);
  try {
    const initial = await writeCounters(env, redis);
    const started = performance.now();
    const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((name) => createTenant(env, name)));
    }
    const applied = performance.now();
    for (;;) {
      // An operator that died (out of memory, say) makes nothing Ready again: stop, and let the
      // finally below stop the control plane, rather than wait forever beside it.
      if (operator.child.exitCode !== null || operator.child.signalCode !== null)
        throw new Error(
          `the operator exited (${operator.child.exitCode ?? operator.child.signalCode}) with ${readiness.count()}/${n} Ready`,
        );
      if (allReady(readiness, n, operator.child.pid)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await readiness.stop();
    const readyMs = performance.now() - started;
    const readyCpu = processCpuSeconds(operator.child.pid as number);

    // PostgreSQL flushes an idle backend's table statistics only every 10 s: wait that out on
    // both sides of the measured resync, so no write can fall outside the window unseen.
    const STATS_FLUSH_MS = 11_000;
    await new Promise((r) => setTimeout(r, STATS_FLUSH_MS));
    const before = await writeCounters(env, redis);
    const perTable = [...before.pgTables]
      .map(([t, v]) => `${t}=${v - (initial.pgTables.get(t) ?? 0)}`)
      .filter((x) => !x.endsWith("=0"));
    process.stderr.write(`bench: first-wave PostgreSQL tuple writes by table: ${perTable.join(", ")}\n`);
    // Round trips per Tenant, first wave: what each Tenant cost to bring to Ready.
    const perTenant = (v: number) => (v / n).toFixed(1);
    const kubeByKind = [...before.kubeRequests]
      .map(([k, v]) => [k, v - (initial.kubeRequests.get(k) ?? 0)] as const)
      .filter(([, v]) => v / n >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${perTenant(v)}`);
    process.stderr.write(
      `bench: per Tenant, first wave (${perTenant(await metric(port, "konstruct_operator_reconciles_total"))} reconciles, ` +
        `operator CPU ${((readyCpu / n) * 1000).toFixed(0)} ms from start to all Ready): PostgreSQL transactions ${perTenant(before.pgXacts - initial.pgXacts)}, ` +
        `Redis commands ${perTenant(before.redisCalls - initial.redisCalls)}, API requests ${kubeByKind.join(", ")}\n`,
    );
    const firstWave = {
      pg: before.pgTuples - initial.pgTuples,
      redis: [...before.redis]
        .filter(([cmd]) => REDIS_WRITES.test(cmd))
        .reduce((sum, [cmd, calls]) => sum + calls - (initial.redis.get(cmd) ?? 0), 0),
      kube: before.kube - initial.kube,
    };
    const reconcilesBefore = await metric(port, "konstruct_operator_reconciles_total");
    while ((await metric(port, "konstruct_operator_reconciles_total")) - reconcilesBefore < n)
      await new Promise((r) => setTimeout(r, 500));
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await writeCounters(env, redis);
    const redisWrites = [...after.redis]
      .filter(([cmd]) => REDIS_WRITES.test(cmd))
      .reduce((sum, [cmd, calls]) => sum + calls - (before.redis.get(cmd) ?? 0), 0);
    return {
      tenants: n,
      "apply (s)": +((applied - started) / 1000).toFixed(1),
      "apply→all Ready (s)": +(readyMs / 1000).toFixed(1),
      "first-wave writes PG/Redis/K8s": `${firstWave.pg}/${firstWave.redis}/${firstWave.kube}`,
      "resync reconciles": (await metric(port, "konstruct_operator_reconciles_total")) - reconcilesBefore,
      "resync PG tuple writes": after.pgTuples - before.pgTuples,
      "resync PG role changes": after.roles === before.roles ? 0 : "changed",
      "resync Redis writes": redisWrites,
      "resync K8s writes": after.kube - before.kube,
      "RSS (MB)": rssMb(operator.child.pid as number),
      "heap used (MB)": Math.round((await metric(port, "konstruct_operator_nodejs_heap_size_used_bytes")) / 2 ** 20),
      "external (MB)": Math.round((await metric(port, "konstruct_operator_nodejs_external_memory_bytes")) / 2 ** 20),
    };
  } finally {
    await readiness.stop();
    if (operator.child.exitCode === null && operator.child.signalCode === null) {
      const exited = new Promise((r) => operator.child.once("exit", r));
      operator.child.kill("SIGTERM");
      await exited;
    }
    redis.disconnect();
    privateRedis.stop();
    await env.stop();
  }
}

const results = [];
for (const n of sizes.length > 0 ? sizes : [100, 500]) {
  process.stderr.write(`bench: ${n} tenants…\n`);
  results.push(await run(n));
}
printResults("bench", results);
