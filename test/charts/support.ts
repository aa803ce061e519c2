import { synthesize } from "@konstruct/charts";
import { createDatabase, createLogger } from "@konstruct/core";
import { KubeClient, type PortalSettings, type RunningOperator, startOperator } from "@konstruct/operator/runtime";
import { applyObject, type ControlPlane, objectClient, serverUrl, type TestDatabase } from "@konstruct/testkit";
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { LEASE_NAME } from "../../charts/lib/operator.ts";
import type { Values } from "../../charts/lib/values.ts";
import { eventually } from "../operator/harness.ts";

// What the chart suites share: the synthesized install applied to a fresh control plane, and the
// operator run as the chart runs it.

type Obj = Record<string, any>;

/** A KubeClient with the rights of `kubeconfig`'s user, sending `headers` (e.g. Impersonate-User) with every request. */
export function kubeClient(kubeconfig: string, headers?: Record<string, string>): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return new KubeClient(kc, headers ? { headers } : {});
}

/**
 * Applies the synthesized install as the cluster admin: the CRDs first, until Tenants are served
 * with their schema's defaults (Established can come a moment before), then the Namespaces, then
 * everything else.
 */
export async function applyInstall(plane: ControlPlane, values: Values, fieldManager: string): Promise<void> {
  const admin = kubeClient(plane.adminKubeconfigPath);
  const objects = objectClient(plane.adminKubeconfigPath);
  const install = synthesize(values) as Obj[];
  for (const crd of install.filter((o) => o.kind === "CustomResourceDefinition"))
    await applyObject(objects, crd as never, fieldManager);
  await eventually(
    async () => {
      const crd = await admin.request<Obj>("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tenants.konstruct.io");
      return crd.status?.conditions?.some((c: Obj) => c.type === "Established" && c.status === "True");
    },
    30_000,
    "the Tenant CRD",
  );
  await eventually(
    async () => {
      const probe = await admin.request<Obj>("POST", "/apis/konstruct.io/v1alpha1/tenants", {
        query: { dryRun: "All" },
        body: { apiVersion: "konstruct.io/v1alpha1", kind: "Tenant", metadata: { name: "probe" }, spec: { displayName: "P" } },
      });
      return probe.spec?.reclaimPolicy === "Retain";
    },
    30_000,
    "the Tenant schema in effect",
  );
  for (const o of install.filter((o) => o.kind === "Namespace")) await applyObject(objects, o as never, fieldManager);
  for (const o of install.filter((o) => o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace"))
    await applyObject(objects, o as never, fieldManager);
}

/** The operator's ServiceAccount user name and groups, as a client certificate carries them for RBAC. */
export async function operatorKubeconfig(plane: ControlPlane, values: Values): Promise<string> {
  return plane.writeKubeconfigFor(`system:serviceaccount:${values.namespace}:konstruct-operator`, [
    "system:serviceaccounts",
    `system:serviceaccounts:${values.namespace}`,
  ]);
}

/**
 * Runs the operator in this process as the chart runs it: with only `kubeconfig`'s rights, as the
 * konstruct_operator PostgreSQL role (not the superuser), its leader Lease in the install
 * namespace where the chart's Role allows it.
 */
export async function runChartOperator(
  database: TestDatabase,
  values: Values,
  options: { kubeconfig: string; logName: string; resyncIntervalMs: number; portal?: PortalSettings },
): Promise<RunningOperator & { close(): Promise<void> }> {
  const redisUrl = new URL(serverUrl("REDIS_ADMIN_URL"));
  const pgUrl = new URL(database.operatorUrl);
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 2 });
  redis.on("error", () => {});
  const db = createDatabase(database.operatorUrl, { max: 4, applicationName: options.logName });
  const operator = await startOperator({
    client: kubeClient(options.kubeconfig),
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
    log: createLogger({ name: options.logName, level: process.env.OPERATOR_TEST_LOG ?? "silent" }),
    installNamespace: values.namespace,
    ...(options.portal ? { portal: options.portal } : {}),
    identity: "konstruct-operator-test",
    resyncIntervalMs: options.resyncIntervalMs,
    watchdogMs: 30_000,
    concurrency: 4,
    health: { host: "127.0.0.1", port: 0 },
    leaderElection: { namespace: values.namespace, name: LEASE_NAME, leaseDurationMs: 3_000 },
  });
  return Object.assign(operator, {
    async close() {
      await operator.stop();
      redis.disconnect();
      await db.destroy();
    },
  });
}
