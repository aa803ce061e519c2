// The API server's floor for the operator benchmark: how long the test control plane takes to
// accept only the Kubernetes writes N new Tenants need, with no operator, no PostgreSQL and no
// Redis. Each Tenant gets the requests the operator's first reconcile makes (its finalizer, the
// namespace, two credential Secrets, the portal's two RoleBindings, two ClusterRoles and two
// ClusterRoleBindings, the status and an Event), through the operator's own KubernetesPort, as
// the operator's least-privilege user, 8 Tenants at a time (the operator's default concurrency).
// The Tenants are created first, 25 at a time, as tenants.ts does. FLOOR_AS=admin makes the
// writes as the cluster admin instead, whose privileged group the RBAC authorizer does not walk.
//
//   eval "$(bash scripts/servers.sh env)" && node operator/bench/apiserver-floor.ts [1000 10000]
import { execFileSync } from "node:child_process";
import { kubeClient, startEnvironment, TENANTS, type TenantObject, tenantManifest } from "../../test/operator/harness.ts";
import { processCpuSeconds } from "../../test/src/process-stats.ts";
import { createKubernetesPort } from "../src/kube/kubernetes-port.ts";
import { portalAccessObjects } from "../src/tenant/tenant-portal-access.ts";
import { printResults } from "./report.ts";

const CONCURRENCY = 8;
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);

/**
 * CPU seconds of this control plane's kube-apiserver and etcd: the processes whose command line
 * names its directory, so another control plane on the machine is not counted.
 */
function planeCpuSeconds(dir: string): number {
  let pids: string[];
  try {
    pids = execFileSync("pgrep", ["-f", dir], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  } catch {
    return 0;
  }
  return pids.reduce((sum, pid) => sum + processCpuSeconds(Number(pid)), 0);
}

async function run(n: number): Promise<Record<string, number | string>> {
  const env = await startEnvironment();
  try {
    const client = process.env.FLOOR_AS === "admin" ? env.admin : kubeClient(env.operatorKubeconfig);
    const kube = createKubernetesPort(client, { instance: "apiserver-floor" });
    const names = Array.from({ length: n }, (_, i) => `floor-${n}-${i}`);
    const cpu0 = planeCpuSeconds(env.plane.dir);
    const started = performance.now();
    const created = new Map<string, TenantObject>();
    for (let i = 0; i < n; i += 25) {
      await Promise.all(
        names.slice(i, i + 25).map(async (name) => {
          created.set(
            name,
            await env.admin.request<TenantObject>("POST", TENANTS, { body: tenantManifest(name, { reclaimPolicy: "Delete" }) }),
          );
        }),
      );
    }
    const applied = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const name = names[next++] as string;
        const tenant = created.get(name) as TenantObject & { metadata: { uid: string; resourceVersion: string } };
        const ref = { kind: "Tenant" as const, name, uid: tenant.metadata.uid, resourceVersion: tenant.metadata.resourceVersion };
        const namespace = `konstruct-${name}`;
        const labels = { "app.kubernetes.io/managed-by": "konstruct-operator", "konstruct.io/tenant": name };
        await kube.setFinalizers(ref, ["konstruct.io/tenant"]);
        await kube.createNamespace(namespace, labels);
        await kube.applySecret(namespace, "konstruct-database", { url: "postgres://x", password: "x".repeat(32) }, labels);
        await kube.applySecret(namespace, "konstruct-redis", { url: "redis://x", keyPrefix: "x:" }, labels);
        for (const object of portalAccessObjects(name, namespace, labels)) await kube.applyRbac(object, ref);
        await kube.patchStatus(ref, { conditions: [] });
        await kube.recordEvent(ref, "Normal", "Ready", "floor");
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const done = performance.now();
    const cpu = planeCpuSeconds(env.plane.dir) - cpu0;
    return {
      tenants: n,
      as: process.env.FLOOR_AS === "admin" ? "admin" : "operator",
      "create (s)": +((applied - started) / 1000).toFixed(1),
      "create + first-reconcile writes (s)": +((done - started) / 1000).toFixed(1),
      "writes/s": Math.round((n * 12) / ((done - applied) / 1000)),
      "API server + etcd CPU per Tenant (ms)": Math.round((cpu / n) * 1000),
    };
  } finally {
    await env.stop();
  }
}

const results = [];
for (const n of sizes.length > 0 ? sizes : [1000]) {
  process.stderr.write(`floor: ${n} tenants…\n`);
  results.push(await run(n));
}
printResults("floor", results);
