import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { synthesize } from "@konstruct/charts";
import { type ControlPlane, startControlPlane } from "@konstruct/testkit";
import { KubeConfig, type KubernetesObject, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseValues } from "../../charts/lib/values.ts";

// The synthesized install and the examples against a real kube-apiserver: the server's own
// validation (schemas, CEL rules, RBAC, Pod Security admission) decides, not ours.

type Obj = KubernetesObject & Record<string, any>;
const FIELD_MANAGER = "konstruct-install-test";
const examplesDir = fileURLToPath(new URL("../../examples/", import.meta.url));

let plane: ControlPlane;
let admin: KubernetesObjectApi;

beforeAll(async () => {
  plane = await startControlPlane();
  admin = clientFor(plane.adminKubeconfigPath);
});
afterAll(async () => {
  await plane?.stop();
});

function clientFor(kubeconfigPath: string): KubernetesObjectApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return KubernetesObjectApi.makeApiClient(kc);
}

/** The API server's message for a failed request (client-node puts the Status in `body`). */
function serverMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  try {
    return (typeof body === "string" ? JSON.parse(body) : (body as { message?: string })).message ?? String(error);
  } catch {
    return String(body ?? error);
  }
}

/**
 * Retries what the server answers with 429: right after a CRD is established its storage may
 * still be initializing ("storage is (re)initializing", Retry-After 1 s), as a client would.
 */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: number }).code !== 429 || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function apply(client: KubernetesObjectApi, object: Obj, dryRun: boolean): Promise<Obj> {
  try {
    return await retrying(() =>
      client.patch(object, undefined, dryRun ? "All" : undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
    );
  } catch (error) {
    const what = `${object.kind} ${object.metadata?.namespace ?? ""}/${object.metadata?.name}`;
    throw new Error(`${dryRun ? "dry run of " : ""}${what} was refused: ${serverMessage(error)}`, { cause: error });
  }
}

/** Server-side dry run of every object, then the real apply; namespaces first, as kubectl would need. */
async function dryRunThenApply(objects: Obj[]): Promise<void> {
  for (const phase of [objects.filter((o) => o.kind === "Namespace"), objects.filter((o) => o.kind !== "Namespace")]) {
    for (const o of phase) await apply(admin, o, true);
    for (const o of phase) await apply(admin, o, false);
  }
}

async function waitForEstablished(name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const crd = await admin.read<Obj>({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name },
    });
    if (crd.status?.conditions?.some((c: Obj) => c.type === "Established" && c.status === "True")) return;
    if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function examples(): Obj[] {
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(`${examplesDir}${f}`, "utf8")).map((d) => d.toJS() as Obj));
}

async function rejection(object: Obj): Promise<string> {
  try {
    await retrying(() => admin.patch(object, undefined, "All", FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
  } catch (error) {
    return serverMessage(error);
  }
  throw new Error(`${object.kind} ${object.metadata?.name} was accepted`);
}

describe("the synthesized install on a real kube-apiserver", () => {
  const install = synthesize(parseValues({})) as Obj[];
  const crds = install.filter((o) => o.kind === "CustomResourceDefinition");
  const rest = install.filter((o) => o.kind !== "CustomResourceDefinition");

  it("applies the CRDs first, and they become Established", async () => {
    expect(crds.map((c) => c.metadata!.name)).toEqual(["tenants.konstruct.io", "agents.konstruct.io"]);
    await dryRunThenApply(crds);
    for (const crd of crds) await waitForEstablished(crd.metadata!.name!);
  });

  it("passes server-side dry run for every other object, then applies for real", async () => {
    await dryRunThenApply(rest);
    for (const o of rest) {
      const { name, namespace } = o.metadata as { name: string; namespace?: string };
      const stored = await admin.read<Obj>({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name, namespace } });
      expect(stored.metadata?.uid, `${o.kind} ${o.metadata!.name}`).toBeTruthy();
    }
  });

  it("admits every pod template under the namespace's restricted Pod Security Standard", async () => {
    const namespace = install.find((o) => o.kind === "Namespace")!;
    expect(namespace.metadata!.labels!["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const templates = rest.filter((o) => ["Deployment", "StatefulSet", "Job"].includes(o.kind!));
    expect(templates.length).toBeGreaterThanOrEqual(9);
    for (const w of templates) {
      const pod: Obj = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `${w.metadata!.name}-pod-security`,
          namespace: w.metadata!.namespace,
          labels: w.spec.template.metadata.labels,
        },
        spec: {
          ...w.spec.template.spec,
          ...(w.kind === "Job" ? {} : { restartPolicy: "Always" }),
          // A StatefulSet's claim templates become volumes of its pods; an emptyDir stands in.
          volumes: [
            ...(w.spec.template.spec.volumes ?? []),
            ...(w.spec.volumeClaimTemplates ?? []).map((c: Obj) => ({ name: c.metadata?.name, emptyDir: {} })),
          ],
        },
      };
      await apply(admin, pod, true);
    }
    // The check can fail: a pod that drops the hardening is refused in the same namespace.
    const [first] = templates;
    const loose: Obj = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "loose", namespace: "konstruct" },
      spec: { containers: [{ name: "c", image: first!.spec.template.spec.containers[0].image }] },
    };
    await expect(apply(admin, loose, true)).rejects.toThrow(/violates PodSecurity "restricted/);
  });

  it("gives the operator's ServiceAccount what the operator does, and not more", async () => {
    // The API server authenticates a client certificate's CN and O as the user and groups a
    // ServiceAccount token would carry, so this client has exactly the synthesized RBAC.
    const kubeconfig = await plane.writeKubeconfigFor("system:serviceaccount:konstruct:konstruct-operator", [
      "system:serviceaccounts",
      "system:serviceaccounts:konstruct",
    ]);
    const operator = clientFor(kubeconfig);
    const tenantNs = "konstruct-rbac-check";
    await apply(operator, { apiVersion: "v1", kind: "Namespace", metadata: { name: tenantNs } }, false);
    await apply(
      operator,
      { apiVersion: "v1", kind: "Secret", metadata: { name: "postgres", namespace: tenantNs }, stringData: { password: "x" } },
      false,
    );
    await operator.read({ apiVersion: "v1", kind: "Secret", metadata: { name: "postgres", namespace: tenantNs } });
    await apply(
      operator,
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "konstruct-tenant-admins", namespace: tenantNs },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "konstruct-tenant-admin" },
        subjects: [{ kind: "Group", name: "acme-admins", apiGroup: "rbac.authorization.k8s.io" }],
      },
      false,
    );
    // Leader election creates and updates its Lease (no server-side apply, so no `patch`).
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "konstruct-operator", namespace: "konstruct" },
    };
    const created = await operator.create<Obj>({ ...lease, spec: { holderIdentity: "konstruct-operator-0" } });
    await operator.replace({ ...created, spec: { ...created.spec, holderIdentity: "konstruct-operator-1" } });
    await operator.read(lease);
    const tenant = examples().find((o) => o.kind === "Tenant" && o.metadata!.name === "globex")!;
    await apply(admin, tenant, false);
    await retrying(() => operator.list("konstruct.io/v1alpha1", "Tenant"));
    await retrying(() => operator.list("konstruct.io/v1alpha1", "Agent"));

    // Not more: no Secret listing, no Lease elsewhere, no binding to a ClusterRole it does not hold.
    await expect(operator.list("v1", "Secret", tenantNs)).rejects.toMatchObject({ code: 403 });
    await expect(
      operator.create({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: "x", namespace: "default" },
        spec: {},
      }),
    ).rejects.toMatchObject({ code: 403 });
    await expect(
      apply(
        operator,
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: "escalate", namespace: tenantNs },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
          subjects: [{ kind: "Group", name: "acme-admins", apiGroup: "rbac.authorization.k8s.io" }],
        },
        false,
      ),
    ).rejects.toThrow(/forbidden/);
  });
  it("also accepts the kind values and an install with external servers (last: they rebind the cluster-wide RBAC)", async () => {
    const kind = parseValues({
      ...parseAllDocuments(
        readFileSync(fileURLToPath(new URL("../../charts/values.kind.yaml", import.meta.url)), "utf8"),
      )[0]!.toJS(),
      namespace: "konstruct-kind",
    });
    const external = parseValues({
      namespace: "konstruct-external",
      postgres: { mode: "external" },
      redis: { mode: "external" },
      nats: { mode: "external", url: "tls://nats.example.com:4222" },
      ollama: { enabled: false, url: "https://ollama.example.com" },
      ingress: { tls: { enabled: false } },
    });
    await dryRunThenApply(synthesize(kind).filter((o) => o.kind !== "CustomResourceDefinition") as Obj[]);
    await dryRunThenApply(synthesize(external).filter((o) => o.kind !== "CustomResourceDefinition") as Obj[]);
  });
});

describe("examples/ on a real kube-apiserver", () => {
  it("are accepted: two tenants with agents, Slack and web chat channels, credential Secrets", async () => {
    const objects = examples();
    expect(objects.filter((o) => o.kind === "Tenant").map((o) => o.metadata!.name)).toEqual(["acme", "globex"]);
    expect(new Set(objects.filter((o) => o.kind === "Tenant").flatMap((t) => t.spec.channels.map((c: Obj) => c.type)))).toEqual(
      new Set(["slack", "webchat"]),
    );
    await dryRunThenApply(objects);
    const ada = await admin.read<Obj>({
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Agent",
      metadata: { name: "ada", namespace: "konstruct-acme" },
    });
    expect(ada.spec.default).toBe(true);
  });

  // Otherwise valid, so the one mistake is what the server reports.
  const tenant = (spec: Obj): Obj => ({
    apiVersion: "konstruct.io/v1alpha1",
    kind: "Tenant",
    metadata: { name: "bad" },
    spec: { reclaimPolicy: "Delete", ...spec },
  });

  it("reject a bad channel type, naming the field", async () => {
    const message = await rejection(
      tenant({
        displayName: "Bad",
        channels: [{ name: "tg", type: "telegram", externalId: "1", credentialsSecretRef: { name: "s" } }],
      }),
    );
    expect(message).toMatch(/spec\.channels\[0\]\.type: Unsupported value: "telegram"/);
  });

  it("reject a missing field, naming the field", async () => {
    expect(await rejection(tenant({ channels: [] }))).toMatch(/spec\.displayName: Required value/);
    const agent: Obj = {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Agent",
      metadata: { name: "nameless", namespace: "konstruct-acme" },
      spec: { displayName: "No model" },
    };
    expect(await rejection(agent)).toMatch(/spec\.model: Required value/);
  });

  it("reject a Slack channel without credentials, naming the field (a CEL rule)", async () => {
    const message = await rejection(
      tenant({ displayName: "Bad", channels: [{ name: "slack", type: "slack", externalId: "T0BAD" }] }),
    );
    expect(message).toMatch(/spec\.channels\[0\]\.credentialsSecretRef/);
  });
});
