import { Writable } from "node:stream";
import { createLogger } from "@konstruct/core";
import { startTcpProxy, type TcpProxy } from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  getTenant,
  type OperatorEnvironment,
  runOperator,
  startEnvironment,
  TENANTS,
  tenantManifest,
  waitReady,
} from "./harness.ts";

/** The operator's "not ready; retrying with backoff" lines, as it logged them. */
interface RequeueLine {
  time: number;
  controller: string;
  key: string;
  attempt: number;
  retryInMs: number;
}

const BASE_MS = 200;
const NAMES = ["outage-a", "outage-b", "outage-c"];

let env: OperatorEnvironment;
/** In front of PostgreSQL: counts the operator's connection attempts; blocked, the database looks down. */
let proxy: TcpProxy;
let operator: Awaited<ReturnType<typeof runOperator>>;
const requeues: RequeueLine[] = [];

beforeAll(async () => {
  env = await startEnvironment();
  proxy = await startTcpProxy(new URL(env.database.operatorUrl));
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) {
        if (line === "") continue;
        const entry = JSON.parse(line) as Partial<RequeueLine> & { msg?: string };
        if (entry.msg === "not ready; retrying with backoff" && entry.controller === "tenant")
          requeues.push(entry as RequeueLine);
      }
      done();
    },
  });
  operator = await runOperator(env, {
    databaseUrl: proxy.url,
    // A short resync: it must not undo the backoff of a failing Tenant, only find healthy ones.
    resyncIntervalMs: 2_000,
    notReadyBackoff: { baseMs: BASE_MS, maxMs: 60_000 },
    log: createLogger({ name: "operator-backoff-test", level: "debug", destination }),
  });
});

afterAll(async () => {
  proxy?.unblock();
  await operator?.close();
  await proxy?.close();
  await env?.stop();
});

const linesOf = (name: string, since: number) => requeues.filter((l) => l.key === name && l.time >= since);

describe("a Tenant whose database is down", () => {
  it("is retried with per-key exponential backoff: the attempts grow with the log of the outage, not with its length", async () => {
    await Promise.all(
      NAMES.map((name) => env.admin.request("POST", TENANTS, { body: tenantManifest(name, { reclaimPolicy: "Delete" }) })),
    );
    for (const name of NAMES) await waitReady(env.admin, name);

    const outageStart = Date.now();
    const connectionsBefore = proxy.attempts;
    proxy.block();
    // The 2 s resync finds each healthy Tenant, its reconcile cannot reach PostgreSQL, and from
    // then on only its backoff brings it back.
    await eventually(
      async () => NAMES.every((n) => linesOf(n, outageStart).length >= 8),
      120_000,
      "eight not-ready retries each",
    );
    const outageMs = Date.now() - outageStart;
    const connections = proxy.attempts - connectionsBefore;

    let reconciles = 0;
    for (const name of NAMES) {
      const lines = linesOf(name, outageStart);
      reconciles += lines.length;
      // Consecutive not-ready results, numbered 1, 2, 3, …: the resync never slipped an extra one in.
      expect(lines.map((l) => l.attempt)).toEqual(lines.map((_, i) => i + 1));
      lines.forEach((line, i) => {
        const ceiling = Math.min(60_000, BASE_MS * 2 ** i);
        expect(line.retryInMs).toBeGreaterThanOrEqual(ceiling / 2);
        expect(line.retryInMs).toBeLessThanOrEqual(ceiling);
        // Timers never fire early, so each reconcile came at least the announced delay after the last.
        const next = lines[i + 1];
        if (next) expect(next.time - line.time).toBeGreaterThanOrEqual(line.retryInMs - 2);
      });
      // The n-th retry waits at least BASE_MS·2^(n-2), so n reconciles take at least
      // BASE_MS·(2^(n-1) - 1)/2: over `outageMs` that allows at most 1 + log2(2·outageMs/BASE_MS + 1),
      // where a fixed-interval requeue at BASE_MS would have run outageMs / BASE_MS times.
      expect(lines.length).toBeLessThanOrEqual(1 + Math.log2((2 * outageMs) / BASE_MS + 1));
      const tenant = await getTenant(env.admin, name);
      expect(tenant.status?.conditions?.find((c) => c.type === "DatabaseReady")?.status).toBe("False");
    }
    // Each not-ready reconcile tried one PostgreSQL connection.
    expect(connections).toBeLessThanOrEqual(reconciles + NAMES.length);
    console.info(
      `outage of ${(outageMs / 1000).toFixed(1)} s, ${NAMES.length} Tenants: ${reconciles} not-ready reconciles ` +
        `(${NAMES.map((n) => linesOf(n, outageStart).length).join(", ")}), ${connections} PostgreSQL connection attempts; ` +
        `a requeue every ${BASE_MS} ms would have made ${Math.round((NAMES.length * outageMs) / BASE_MS)}; ` +
        `last delays announced: ${NAMES.map((n) => linesOf(n, outageStart).at(-1)?.retryInMs).join(", ")} ms; ` +
        `${NAMES[0]}'s reconciles at ${linesOf(NAMES[0] as string, outageStart)
          .map((l, _, all) => ((l.time - (all[0] as RequeueLine).time) / 1000).toFixed(2))
          .join(", ")} s after its first`,
    );
  });

  it("recovers when the database is back, and a later outage starts again from the base delay", async () => {
    proxy.unblock();
    for (const name of NAMES) await waitReady(env.admin, name, 90_000);
    await eventually(
      async () => (await operator.metrics.backingOff.get()).values.every((v) => v.value === 0),
      10_000,
      "no backoff",
    );

    const secondOutage = Date.now();
    proxy.block();
    await eventually(async () => NAMES.every((n) => linesOf(n, secondOutage).length >= 1), 30_000, "a not-ready retry each");
    for (const name of NAMES) {
      const [first] = linesOf(name, secondOutage);
      expect(first?.attempt).toBe(1);
      expect(first?.retryInMs).toBeLessThanOrEqual(BASE_MS);
    }
    console.info(
      `second outage: first retries numbered ${NAMES.map((n) => linesOf(n, secondOutage)[0]?.attempt).join(", ")}, ` +
        `announced in ${NAMES.map((n) => linesOf(n, secondOutage)[0]?.retryInMs).join(", ")} ms`,
    );
    proxy.unblock();
    for (const name of NAMES) await waitReady(env.admin, name, 90_000);
  });
});
