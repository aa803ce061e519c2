import { join } from "node:path";
import {
  applyObjects,
  type ControlPlane,
  controlPlaneBinariesBuilt,
  type Manifest,
  objectClient,
  startControlPlane,
  waitForEstablished,
} from "@konstruct/control-plane";
import { crds, invitationSecretKey, PORTAL_INVITATIONS_SECRET } from "@konstruct/operator";
import type { KubernetesObjectApi } from "@kubernetes/client-node";

const FIELD_MANAGER = "konstruct-local";

/** The local control plane: a real kube-apiserver whose etcd data lives in `.data/local/etcd`. */
export interface LocalCluster {
  plane: ControlPlane;
  client: KubernetesObjectApi;
  stop(): Promise<void>;
}

/** True when scripts/build-control-plane.sh has built kube-apiserver and etcd. */
export function clusterAvailable(): boolean {
  return controlPlaneBinariesBuilt();
}

/** Starts kube-apiserver over persistent etcd data and installs the CRDs. */
export async function startLocalCluster(dataDir: string): Promise<LocalCluster> {
  const plane = await startControlPlane({ etcdDataDir: join(dataDir, "etcd") });
  const client = objectClient(plane.adminKubeconfigPath);
  try {
    await applyObjects(client, crds() as Manifest[], FIELD_MANAGER);
    for (const crd of crds()) await waitForEstablished(client, crd.metadata.name);
  } catch (error) {
    await plane.stop();
    throw error;
  }
  return { plane, client, stop: () => plane.stop() };
}

/** Applies manifests (the `examples/` folder) to the local cluster. */
export async function applyManifests(cluster: LocalCluster, objects: Manifest[]): Promise<void> {
  await applyObjects(cluster.client, objects, FIELD_MANAGER);
}

/** A tenant's state as the operator reported it. */
export interface TenantReport {
  name: string;
  ready: boolean;
  reason: string;
  tenantId: string | null;
  channels: { name: string; type: string; connectionId?: string; webhookPath?: string; ready: boolean; message?: string }[];
  /** `spec.owners`: each one's invitation link, or null once they joined the portal. */
  owners: { email: string; link: string | null }[];
}

/** Reads each named Tenant's status. */
export async function readTenants(cluster: LocalCluster, names: readonly string[]): Promise<TenantReport[]> {
  return Promise.all(
    names.map(async (name) => {
      const tenant = await cluster.client.read<Manifest>({
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Tenant",
        metadata: { name },
      });
      const ready = (tenant.status?.conditions ?? []).find((c: Manifest) => c.type === "Ready");
      const links = await readInvitationLinks(cluster, tenant.status?.namespace);
      return {
        name,
        ready: ready?.status === "True" && tenant.status?.observedGeneration === tenant.metadata?.generation,
        reason: ready ? `${ready.reason}: ${ready.message ?? ""}` : "not reconciled yet",
        tenantId: tenant.status?.tenantId ?? null,
        channels: tenant.status?.channels ?? [],
        owners: ((tenant.spec?.owners ?? []) as { email: string }[]).map(({ email }) => ({
          email,
          link: links[invitationSecretKey(email)] ?? null,
        })),
      };
    }),
  );
}

/** The operator's Secret of first owners' invitation links in a tenant namespace (empty before it is written). */
async function readInvitationLinks(cluster: LocalCluster, namespace: string | undefined): Promise<Record<string, string>> {
  if (!namespace) return {};
  const secret = await cluster.client
    .read<Manifest>({ apiVersion: "v1", kind: "Secret", metadata: { name: PORTAL_INVITATIONS_SECRET, namespace } })
    .catch(() => null);
  return Object.fromEntries(
    Object.entries((secret?.data ?? {}) as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, "base64").toString("utf8"),
    ]),
  );
}

/** Waits until every named Tenant is Ready, or throws with each one's last reason. */
export async function waitForTenantsReady(
  cluster: LocalCluster,
  names: readonly string[],
  timeoutMs: number,
): Promise<TenantReport[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reports = await readTenants(cluster, names).catch(() => null);
    if (reports?.every((r) => r.ready)) return reports;
    if (Date.now() > deadline) {
      const detail = (reports ?? []).map((r) => `${r.name}: ${r.ready ? "Ready" : r.reason}`).join("; ");
      throw new Error(
        `Tenants not Ready after ${timeoutMs / 1000} s (${detail || "no status"}); see the operator's output above`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
