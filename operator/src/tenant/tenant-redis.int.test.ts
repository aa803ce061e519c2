import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { freePort } from "@konstruct/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisAcl } from "../adapters/redis-acl.ts";
import { MemoryKubernetes } from "../local/memory-kubernetes.ts";
import type { RedisAcl } from "../ports.ts";
import { memoryStores, memoryTenantDeps } from "../testing/fakes.ts";
import { tenantNames } from "./tenant-context.ts";
import { ensureTenantRedis } from "./tenant-redis.ts";

// Against a real Redis of its own, freshly started: what ACL GETUSER answers is what a resync
// compares with, and its spelling is the server's, not ours. Fresh, because a new server (as
// after the restart that makes the operator recreate every user) spelled the rules of the
// first user differently from the later ones; the shared long-running server did not show it.
let server: ReturnType<typeof spawn>;
let redis: Redis;
beforeAll(async () => {
  const port = await freePort();
  server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  redis = new Redis({ port, host: "127.0.0.1", retryStrategy: (n) => (n > 50 ? null : 100) });
  await redis.ping();
});
afterAll(() => {
  redis.disconnect();
  server.kill("SIGTERM");
});

/** The real ACL adapter, counting the users it writes. */
function countingAcl(): { acl: RedisAcl; writes: () => number } {
  const real = createRedisAcl(redis);
  let writes = 0;
  return {
    acl: {
      ...real,
      async set(user, spec) {
        writes++;
        await real.set(user, spec);
      },
    },
    writes: () => writes,
  };
}

describe("a tenant's Redis ACL user (real Redis)", () => {
  it("is written once, and a resync of healthy tenants rewrites none of them; a user changed by hand is put back", async () => {
    const kube = new MemoryKubernetes();
    const { acl, writes } = countingAcl();
    const deps = memoryTenantDeps(kube, memoryStores(), () => [], { acl });
    // Several users: the order GETUSER lists single-command rules in comes from a server hash
    // table, and differs from one user to another.
    const tenants = Array.from({ length: 8 }, () => {
      const uid = randomUUID();
      const names = tenantNames({
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Tenant",
        metadata: { name: `acl-${uid.slice(0, 8)}`, uid },
        spec: { displayName: "ACL" },
      } as Parameters<typeof tenantNames>[0]);
      return names;
    });
    for (const names of tenants) expect((await ensureTenantRedis(names, deps)).ready).toBe(true);
    expect(writes()).toBe(tenants.length);

    for (const names of tenants) await ensureTenantRedis(names, deps);
    expect(writes()).toBe(tenants.length);

    // Drift: a command given back by hand is taken away again by the next resync.
    const [drifted] = tenants;
    await redis.call("ACL", "SETUSER", drifted!.aclUser, "+eval");
    await ensureTenantRedis(drifted!, deps);
    expect(writes()).toBe(tenants.length + 1);
    const rules = (await createRedisAcl(redis).get(drifted!.aclUser))?.commands ?? "";
    expect(rules).toMatch(/-@all/);
    expect(rules).not.toMatch(/\+eval/);
  });
});
