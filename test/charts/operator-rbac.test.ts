import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { synthesize } from "@konstruct/charts";
import { createDatabase, createLogger } from "@konstruct/core";
import { KubeClient, type RunningOperator, startOperator } from "@konstruct/operator/runtime";
import {
  applyObject,
  type ControlPlane,
  createTestDatabase,
  objectClient,
  serverUrl,
  startControlPlane,
  type TestDatabase,
} from "@konstruct/testkit";
import { KubeConfig, type KubernetesObject, type KubernetesObjectApi } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { LEASE_NAME } from "../../charts/lib/operator.ts";
import { parseValues } from "../../charts/lib/values.ts";

// The operator, running with nothing but the synthesized ServiceAccount's permissions, takes an
// example Tenant to Ready: the chart's RBAC is enough, leader election included. The client
// certificate carries the ServiceAccount's user name and groups, which is what RBAC evaluates.

type Obj = KubernetesObject & Record<string, any>;
const values = parseValues({});
const SERVICE_ACCOUNT = `system:serviceaccount:${values.namespace}:konstruct-operator`;

let plane: ControlPlane;
let database: TestDatabase;
let admin: KubernetesObjectApi;
let operator: RunningOperator | undefined;
let closeClients: (() => Promise<void>) | undefined;

const apply = (o: Obj) => applyObject(admin, o, "konstruct-install-test");

async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  [plane, database] = await Promise.all([startControlPlane(), createTestDatabase("kch")]);
  admin = objectClient(plane.adminKubeconfigPath);
  const install = synthesize(values) as Obj[];
  for (const crd of install.filter((o) => o.kind === "CustomResourceDefinition")) await apply(crd);
  await eventually(
    async () => {
      const crd = await admin.read<Obj>({
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: "tenants.konstruct.io" },
      });
      return crd.status?.conditions?.some((c: Obj) => c.type === "Established" && c.status === "True") ? true : undefined;
    },
    30_000,
    "the Tenant CRD",
  );
  for (const o of install.filter((o) => o.kind === "Namespace")) await apply(o);
  for (const o of install.filter((o) => o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace")) await apply(o);

  const kubeconfig = await plane.writeKubeconfigFor(SERVICE_ACCOUNT, [
    "system:serviceaccounts",
    `system:serviceaccounts:${values.namespace}`,
  ]);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const redisUrl = new URL(serverUrl("REDIS_ADMIN_URL"));
  const pgUrl = new URL(database.operatorUrl);
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 2 });
  redis.on("error", () => {});
  // As the chart runs it: the konstruct_operator role, not the superuser.
  const db = createDatabase(database.operatorUrl, { max: 4, applicationName: "konstruct-charts-test" });
  closeClients = async () => {
    redis.disconnect();
    await db.destroy();
  };
  operator = await startOperator({
    client: new KubeClient(kc),
    db,
    redis,
    secretKey: { bytes: Buffer.alloc(32, 9) },
    endpoints: {
      postgresHost: pgUrl.hostname,
      postgresPort: Number(pgUrl.port),
      postgresDatabase: database.name,
      redisHost: redisUrl.hostname,
      redisPort: Number(redisUrl.port),
    },
    log: createLogger({ name: "operator-charts-test", level: process.env.OPERATOR_TEST_LOG ?? "silent" }),
    installNamespace: values.namespace,
    identity: "konstruct-operator-test",
    resyncIntervalMs: 60_000,
    watchdogMs: 30_000,
    concurrency: 4,
    health: { host: "127.0.0.1", port: 0 },
    // What the Deployment sets: the Lease in the install namespace, where the Role allows it.
    leaderElection: { namespace: values.namespace, name: LEASE_NAME, leaseDurationMs: 3_000 },
  });
});

afterAll(async () => {
  await operator?.stop();
  await closeClients?.();
  await Promise.allSettled([plane?.stop(), database?.drop()]);
});

describe("the operator with only the synthesized ServiceAccount's permissions", () => {
  it("holds the leader Lease and reconciles the example web chat tenant to Ready", async () => {
    const globex = parseAllDocuments(
      readFileSync(fileURLToPath(new URL("../../examples/globex.yaml", import.meta.url)), "utf8"),
    ).map((d) => d.toJS() as Obj);
    for (const o of globex.filter((o) => o.kind === "Namespace")) await apply(o);
    for (const o of globex.filter((o) => o.kind !== "Namespace")) await apply(o);

    const lease = await eventually(
      async () => {
        const l = await admin.read<Obj>({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: LEASE_NAME, namespace: values.namespace },
        });
        return l.spec?.holderIdentity ? l : undefined;
      },
      30_000,
      "the leader Lease",
    );
    expect(lease.spec.holderIdentity).toBe("konstruct-operator-test");

    const tenant = await eventually(
      async () => {
        const t = await admin.read<Obj>({ apiVersion: "konstruct.io/v1alpha1", kind: "Tenant", metadata: { name: "globex" } });
        const ready = t.status?.conditions?.find((c: Obj) => c.type === "Ready");
        return ready?.status === "True" && t.status.observedGeneration === t.metadata?.generation ? t : undefined;
      },
      60_000,
      "Tenant globex Ready",
    );
    expect(tenant.status.tenantId).toMatch(/^[0-9a-f-]{36}$/);
    expect(tenant.status.channels.map((c: Obj) => c.ready)).toEqual([true]);
  });
});
