import { DEFAULT_INSTALL_NAMESPACE, DEFAULT_PORTAL_SERVICE_ACCOUNT } from "@konstruct/operator";
import { applyManifests, clusterAvailable, startLocalCluster, type TenantReport, waitForTenantsReady } from "./cluster.ts";
import { operatorSpec } from "./components.ts";
import { StartError } from "./environment.ts";
import type { Examples } from "./examples.ts";
import { reconcileFromFiles } from "./from-files.ts";
import type { Lifetime } from "./lifetime.ts";
import { print } from "./output.ts";
import { examplesDir } from "./paths.ts";
import type { PortSetting } from "./ports.ts";
import type { LocalSecrets } from "./secrets.ts";
import type { ComponentSpec, Supervisor } from "./supervisor.ts";

/** How the examples' Tenants and Agents are reconciled: by the operator against a kube-apiserver, or from the files. */
export type OperatorMode = "cluster" | "files";

/** KONSTRUCT_LOCAL_OPERATOR, else `cluster` when scripts/build-control-plane.sh has built one. */
export function operatorMode(env: NodeJS.ProcessEnv): OperatorMode {
  const mode = env.KONSTRUCT_LOCAL_OPERATOR ?? (clusterAvailable() ? "cluster" : "files");
  if (mode === "cluster" && !clusterAvailable()) {
    throw new StartError(
      "KONSTRUCT_LOCAL_OPERATOR=cluster, but the control plane is not built: run scripts/build-control-plane.sh",
    );
  }
  return mode === "cluster" ? "cluster" : "files";
}

/** What starting the platform needs. */
export interface PlatformOptions {
  examples: Examples;
  services: ComponentSpec[];
  /** The portal's process, given its kubeconfig (null without a kube-apiserver: read-only). */
  portal: (kubeconfig: string | null) => ComponentSpec;
  secrets: LocalSecrets;
  operatorPort: PortSetting;
  /** More of the operator's environment (its public base URL, channel API URLs). */
  operatorEnv?: Record<string, string>;
  dataDir: string;
  databaseOperatorUrl: string;
  redisAdminUrl: string;
  logLevel: string;
  lifetime: Lifetime;
  /** The local portal's URL: the base of first owners' invitation links. */
  portalUrl: string;
}

/** The platform with its tenants Ready: every component supervised, each Tenant's state. */
export interface RunningPlatform {
  reports: TenantReport[];
  specs: ComponentSpec[];
  supervisor: Supervisor;
}

/** Reconciles `examples/` the chosen way and starts the services (and, against a cluster, the operator). */
export function startPlatform(mode: OperatorMode, options: PlatformOptions): Promise<RunningPlatform> {
  return mode === "cluster" ? throughOperator(options) : fromFiles(options);
}

/** The operator reconciles the examples, applied to a real kube-apiserver, while the services start. */
async function throughOperator(options: PlatformOptions): Promise<RunningPlatform> {
  const { examples, lifetime } = options;
  print("Through the operator against a real kube-apiserver (built from Go modules into scripts/control-plane/bin).");
  print("Starting kube-apiserver and etcd (data in .data/local/etcd)…");
  const cluster = await startLocalCluster(options.dataDir);
  lifetime.defer(() => cluster.stop());
  print(`kube-apiserver at ${cluster.plane.server}; kubeconfig: ${cluster.plane.adminKubeconfigPath}`);
  const operator = operatorSpec(
    options.secrets,
    options.operatorPort,
    {
      kubeconfig: cluster.plane.adminKubeconfigPath,
      databaseOperatorUrl: options.databaseOperatorUrl,
      redisAdminUrl: options.redisAdminUrl,
      logLevel: options.logLevel,
      portalUrl: options.portalUrl,
    },
    options.operatorEnv,
  );
  // The portal's least-privilege identity: the user name of the portal's ServiceAccount in the
  // install namespace (the one the operator is told), which the operator's RBAC lets impersonate
  // each tenant's portal roles and nothing else.
  const portalKubeconfig = await cluster.plane.writeKubeconfigFor(
    `system:serviceaccount:${DEFAULT_INSTALL_NAMESPACE}:${DEFAULT_PORTAL_SERVICE_ACCOUNT}`,
  );
  const specs = [operator, ...options.services, options.portal(portalKubeconfig)];
  const supervisor = lifetime.supervise(specs);
  await applyManifests(cluster, examples.manifests);
  print(
    `Applied ${examples.manifests.length} objects; waiting for the operator to make ${examples.tenantNames.join(", ")} Ready…`,
  );
  const reports = await waitForTenantsReady(cluster, examples.tenantNames, 90_000);
  return { reports, specs, supervisor };
}

/** The operator's reconcile functions read the examples directly; the services start once the tenants are Ready. */
async function fromFiles(options: PlatformOptions): Promise<RunningPlatform> {
  print(
    "No kube-apiserver here (build one with scripts/build-control-plane.sh; it needs Go):\n" +
      "the operator's reconcile functions read examples/ directly, with the same code paths for PostgreSQL, Redis and credentials.",
  );
  const reports = await reconcileFromFiles({
    manifestsDir: examplesDir,
    dataDir: options.dataDir,
    databaseOperatorUrl: options.databaseOperatorUrl,
    redisAdminUrl: options.redisAdminUrl,
    secretKey: options.secrets.KONSTRUCT_SECRET_KEY,
    portalUrl: options.portalUrl,
  });
  const notReady = reports.filter((r) => !r.ready);
  if (notReady.length > 0) throw new StartError(`not Ready: ${notReady.map((r) => `${r.name} (${r.reason})`).join("; ")}`);
  print(`Reconciled ${reports.map((r) => r.name).join(", ")}: Ready.`);
  const specs = [...options.services, options.portal(null)];
  return { reports, specs, supervisor: options.lifetime.supervise(specs) };
}
