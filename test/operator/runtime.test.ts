import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { HOST_VARIABLE, PORT_VARIABLE } from "@konstruct/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverUrl } from "../src/env.ts";
import {
  eventually,
  isReady,
  LEASE_NAMESPACE,
  type OperatorEnvironment,
  startEnvironment,
  TENANTS,
  TEST_SECRET_KEY,
  type TenantObject,
  tenantManifest,
  waitReady,
} from "./harness.ts";

const MAIN = fileURLToPath(new URL("../../operator/src/main.ts", import.meta.url));

interface Replica {
  name: string;
  child: ChildProcess;
  port: Promise<number>;
  exited: Promise<number | null>;
}

let env: OperatorEnvironment;
const replicas: Replica[] = [];

/** Starts `node operator/src/main.ts` as a replica, configured only through its environment. */
function startReplica(name: string): Replica {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: env.operatorKubeconfig,
      DATABASE_OPERATOR_URL: env.database.operatorUrl,
      REDIS_ADMIN_URL: serverUrl("REDIS_ADMIN_URL"),
      KONSTRUCT_SECRET_KEY: TEST_SECRET_KEY,
      [HOST_VARIABLE]: "127.0.0.1",
      [PORT_VARIABLE]: "0",
      RESYNC_INTERVAL_SECONDS: "5",
      WATCH_WATCHDOG_SECONDS: "10",
      LEASE_NAMESPACE,
      LEASE_DURATION_SECONDS: "2",
      POD_NAME: name,
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = new Promise<number>((resolve, reject) => {
    let buffered = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"healthPort":(\d+)/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`replica ${name} exited with ${code}`)));
  });
  port.catch(() => {});
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const replica = { name, child, port, exited };
  replicas.push(replica);
  return replica;
}

async function leads(replica: Replica): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${await replica.port}/metrics`);
  return /^konstruct_operator_leader 1$/m.test(await res.text());
}

beforeAll(async () => {
  env = await startEnvironment();
});

afterAll(async () => {
  for (const r of replicas) if (r.child.exitCode === null) r.child.kill("SIGKILL");
  await env?.stop();
});

describe("operator runtime", () => {
  let a: Replica;
  let b: Replica;

  it("with two replicas, exactly one leads and reconciles; /healthz and /readyz answer on both", async () => {
    a = startReplica("replica-a");
    b = startReplica("replica-b");
    await eventually(async () => (await leads(a)) !== (await leads(b)), 20_000, "one leader");
    await new Promise((r) => setTimeout(r, 2_000));
    expect([await leads(a), await leads(b)].filter(Boolean)).toHaveLength(1);
    for (const r of [a, b]) {
      expect((await fetch(`http://127.0.0.1:${await r.port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${await r.port}/readyz`)).status).toBe(200);
    }
    const lease = await env.admin.request<{ spec: { holderIdentity: string } }>(
      "GET",
      `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/konstruct-operator`,
    );
    expect(lease.spec.holderIdentity).toBe((await leads(a)) ? "replica-a" : "replica-b");
    await env.admin.request("POST", TENANTS, { body: tenantManifest("first", { reclaimPolicy: "Delete" }) });
    await waitReady(env.admin, "first");
  });

  it("survives an API server restart without restarting itself", async () => {
    await env.plane.restartApiServer();
    await env.admin.request("POST", TENANTS, { body: tenantManifest("after-restart", { reclaimPolicy: "Delete" }) });
    await waitReady(env.admin, "after-restart", 45_000);
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
  });

  it("hands leadership to the standby when the leader exits", async () => {
    const leader = (await leads(a)) ? a : b;
    const standby = leader === a ? b : a;
    leader.child.kill("SIGTERM");
    expect(await leader.exited).toBe(0);
    await eventually(() => leads(standby), 10_000, "standby to lead");
    await env.admin.request("POST", TENANTS, { body: tenantManifest("takeover", { reclaimPolicy: "Delete" }) });
    await waitReady(env.admin, "takeover");
  });

  it("brings fifty Tenants applied at once to Ready", async () => {
    const names = Array.from({ length: 50 }, (_, i) => `fleet-${i}`);
    await Promise.all(
      names.map((n) => env.admin.request("POST", TENANTS, { body: tenantManifest(n, { reclaimPolicy: "Delete" }) })),
    );
    await eventually(
      async () => {
        const list = await env.admin.request<{ items: TenantObject[] }>("GET", TENANTS);
        const fleet = list.items.filter((t) => t.metadata.name.startsWith("fleet-"));
        return fleet.length === 50 && fleet.every(isReady);
      },
      90_000,
      "fifty Tenants Ready",
    );
  });
});
