import { type ControlPlane, startControlPlane } from "@konstruct/control-plane";
import { createLogger, type Database, type Logger } from "@konstruct/core";
import { crds, OPERATOR_RBAC_RULES, TENANT_ADMIN_CLUSTER_ROLE, TENANT_ADMIN_RULES } from "@konstruct/operator";
import { KubeClient, type RunningOperator, startOperator } from "@konstruct/operator/runtime";
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { createTestDatabase, type TestDatabase } from "../src/database.ts";
import { serverUrl } from "../src/env.ts";

export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString("base64");
export const OPERATOR_USER = "konstruct-operator";
export const LEASE_NAMESPACE = "konstruct-system";

export function kubeClient(kubeconfigPath: string): KubeClient {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return new KubeClient(config);
}

/** Polls `check` until it returns a truthy value, or fails with the last value seen. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${String(last instanceof Error ? last.message : JSON.stringify(last))}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A control plane with the CRDs, the operator's ClusterRole bound to a least-privilege user, and a database. */
export interface OperatorEnvironment {
  plane: ControlPlane;
  admin: KubeClient;
  /** Kubeconfig of the user bound only to OPERATOR_RBAC_RULES. */
  operatorKubeconfig: string;
  database: TestDatabase;
  redis: Redis;
  db: Kysely<Database>;
  stop(): Promise<void>;
}

export async function startEnvironment(): Promise<OperatorEnvironment> {
  const [plane, database] = await Promise.all([startControlPlane(), createTestDatabase("kop")]);
  const admin = kubeClient(plane.adminKubeconfigPath);
  for (const crd of crds()) await admin.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", { body: crd });
  for (const crd of crds()) {
    await eventually(
      async () => {
        const c = await admin.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
          "GET",
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
        );
        return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True");
      },
      30_000,
      `CRD ${crd.metadata.name} established`,
    );
  }
  const rbac = "/apis/rbac.authorization.k8s.io/v1";
  await admin.request("POST", `${rbac}/clusterroles`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "konstruct-operator" },
      rules: OPERATOR_RBAC_RULES,
    },
  });
  await admin.request("POST", `${rbac}/clusterroles`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: TENANT_ADMIN_CLUSTER_ROLE },
      rules: TENANT_ADMIN_RULES,
    },
  });
  await admin.request("POST", `${rbac}/clusterrolebindings`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "konstruct-operator" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "konstruct-operator" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: OPERATOR_USER }],
    },
  });
  await admin.request("POST", "/api/v1/namespaces", {
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: LEASE_NAMESPACE } },
  });
  const operatorKubeconfig = await plane.writeKubeconfigFor(OPERATOR_USER);
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 3 });
  // The drift test restarts Redis; the client reconnects on its own.
  redis.on("error", () => {});
  return {
    plane,
    admin,
    operatorKubeconfig,
    database,
    redis,
    db: database.admin,
    async stop() {
      redis.disconnect();
      await Promise.allSettled([plane.stop(), database.drop()]);
    },
  };
}

export interface TestOperatorOptions {
  identity?: string;
  /** Where the operator reaches PostgreSQL, when not the environment's database directly (a proxy). */
  databaseUrl?: string;
  notReadyBackoff?: { baseMs: number; maxMs: number };
  log?: Logger;
  resyncIntervalMs?: number;
  historyPurgeIntervalMs?: number;
  watchdogMs?: number;
  leaderElection?: boolean;
  concurrency?: number;
  /** Where channels register their webhooks (public base URL, API doubles). */
  channelServices?: { publicBaseUrl: string | null; apiUrls: Record<string, string> };
}

/** Runs the operator in this process, as the least-privilege Kubernetes user and the konstruct_operator PostgreSQL role. */
export async function runOperator(
  env: OperatorEnvironment,
  options: TestOperatorOptions = {},
): Promise<RunningOperator & { close(): Promise<void> }> {
  const log = options.log ?? createLogger({ name: "operator-test", level: process.env.OPERATOR_TEST_LOG ?? "silent" });
  const redisUrl = new URL(serverUrl("REDIS_ADMIN_URL"));
  const pgUrl = new URL(env.database.operatorUrl);
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 2 });
  redis.on("error", () => {});
  const { createDatabase } = await import("@konstruct/core");
  const db = createDatabase(options.databaseUrl ?? env.database.operatorUrl, {
    max: 8,
    applicationName: "konstruct-operator-test",
  });
  const operator = await startOperator({
    client: kubeClient(env.operatorKubeconfig),
    db,
    redis,
    secretKey: { bytes: Buffer.from(TEST_SECRET_KEY, "base64") },
    endpoints: {
      postgresHost: pgUrl.hostname,
      postgresPort: Number(pgUrl.port),
      postgresDatabase: env.database.name,
      redisHost: redisUrl.hostname,
      redisPort: Number(redisUrl.port),
    },
    ...(options.channelServices ? { channelServices: options.channelServices } : {}),
    log,
    // The Lease lives in the install namespace, as in the chart.
    installNamespace: LEASE_NAMESPACE,
    identity: options.identity ?? "operator-test",
    resyncIntervalMs: options.resyncIntervalMs ?? 60_000,
    ...(options.historyPurgeIntervalMs ? { historyPurgeIntervalMs: options.historyPurgeIntervalMs } : {}),
    ...(options.notReadyBackoff ? { notReadyBackoff: options.notReadyBackoff } : {}),
    watchdogMs: options.watchdogMs ?? 30_000,
    concurrency: options.concurrency ?? 8,
    health: { host: "127.0.0.1", port: 0 },
    leaderElection: options.leaderElection
      ? { namespace: LEASE_NAMESPACE, name: "konstruct-operator", leaseDurationMs: 3_000 }
      : null,
  });
  return Object.assign(operator, {
    async close() {
      await operator.stop();
      redis.disconnect();
      await db.destroy();
    },
  });
}

export interface TenantObject {
  metadata: { name: string; uid: string; deletionTimestamp?: string; finalizers?: string[]; generation?: number };
  spec: Record<string, unknown>;
  status?: {
    tenantId?: string;
    namespace?: string;
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
    channels?: { name: string; ready: boolean; connectionId?: string; webhookPath?: string; message?: string }[];
  };
}

export const TENANTS = "/apis/konstruct.io/v1alpha1/tenants";

export function tenantManifest(name: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "konstruct.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: { displayName: `Tenant ${name}`, ...spec },
  };
}

export async function getTenant(admin: KubeClient, name: string): Promise<TenantObject> {
  return admin.request<TenantObject>("GET", `${TENANTS}/${name}`);
}

export function isReady(t: TenantObject): boolean {
  return (
    t.status?.observedGeneration === t.metadata.generation &&
    t.status?.conditions?.find((c) => c.type === "Ready")?.status === "True"
  );
}

export async function waitReady(admin: KubeClient, name: string, timeoutMs = 30_000): Promise<TenantObject> {
  return eventually(
    async () => {
      const t = await getTenant(admin, name);
      return isReady(t) ? t : undefined;
    },
    timeoutMs,
    `Tenant ${name} Ready`,
  );
}

export async function readSecret(admin: KubeClient, namespace: string, name: string): Promise<Record<string, string>> {
  const s = await admin.request<{ data: Record<string, string> }>("GET", `/api/v1/namespaces/${namespace}/secrets/${name}`);
  return Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
}

export async function createSecret(
  admin: KubeClient,
  namespace: string,
  name: string,
  data: Record<string, string>,
): Promise<void> {
  await admin.request("PATCH", `/api/v1/namespaces/${namespace}/secrets/${name}`, {
    patch: "apply",
    query: { fieldManager: "test", force: "true" },
    body: { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, stringData: data },
  });
}
