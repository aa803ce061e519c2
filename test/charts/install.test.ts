import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { synthesize } from "@konstruct/charts";
import {
  applyObject,
  type ControlPlane,
  loadManifests,
  objectClient,
  retryingTooManyRequests,
  serverMessage,
  startControlPlane,
  waitForEstablished,
} from "@konstruct/testkit";
import { type KubernetesObject, type KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
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
  admin = objectClient(plane.adminKubeconfigPath);
});
afterAll(async () => {
  await plane?.stop();
});

const apply = (client: KubernetesObjectApi, object: Obj, dryRun: boolean) => applyObject(client, object, FIELD_MANAGER, dryRun);

/** Server-side dry run of every object, then the real apply; namespaces first, as kubectl would need. */
async function dryRunThenApply(objects: Obj[]): Promise<void> {
  for (const phase of [objects.filter((o) => o.kind === "Namespace"), objects.filter((o) => o.kind !== "Namespace")]) {
    for (const o of phase) await apply(admin, o, true);
    for (const o of phase) await apply(admin, o, false);
  }
}

async function rejection(object: Obj): Promise<string> {
  try {
    await retryingTooManyRequests(() =>
      admin.patch(object, undefined, "All", FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
    );
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
    for (const crd of crds) await waitForEstablished(admin, crd.metadata!.name!);
    // Served with every default, enum and list type of the schema, also outside array items (a
    // typed client that dropped them would leave the API server defaulting and checking less).
    const probe = { apiVersion: "konstruct.io/v1alpha1", kind: "Tenant", metadata: { name: "probe" } };
    const created = await retryingTooManyRequests(() =>
      admin.create<Obj>({ ...probe, spec: { displayName: "Probe" } } as Obj, undefined, "All"),
    );
    expect(created.spec).toMatchObject({ reclaimPolicy: "Retain", limits: { messagesPerMinute: 60 } });
    const refused = await admin
      .create({ ...probe, spec: { displayName: "Probe", reclaimPolicy: "Sometimes" } } as Obj, undefined, "All")
      .then(() => "accepted", serverMessage);
    expect(refused).toMatch(/spec\.reclaimPolicy: Unsupported value: "Sometimes"/);
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
      await applyObject(admin, pod, FIELD_MANAGER, true);
    }
    // The check can fail: a pod that drops the hardening is refused in the same namespace.
    const [first] = templates;
    const loose: Obj = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "loose", namespace: "konstruct" },
      spec: { containers: [{ name: "c", image: first!.spec.template.spec.containers[0].image }] },
    };
    await expect(applyObject(admin, loose, FIELD_MANAGER, true)).rejects.toThrow(/violates PodSecurity "restricted/);
  });

  it("gives the operator's ServiceAccount what the operator does, and not more", async () => {
    // The API server authenticates a client certificate's CN and O as the user and groups a
    // ServiceAccount token would carry, so this client has exactly the synthesized RBAC.
    const kubeconfig = await plane.writeKubeconfigFor("system:serviceaccount:konstruct:konstruct-operator", [
      "system:serviceaccounts",
      "system:serviceaccounts:konstruct",
    ]);
    const operator = objectClient(kubeconfig);
    const tenantNs = "konstruct-rbac-check";
    await applyObject(operator, { apiVersion: "v1", kind: "Namespace", metadata: { name: tenantNs } }, FIELD_MANAGER, false);
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
    const tenant = loadManifests(examplesDir).find((o) => o.kind === "Tenant" && o.metadata!.name === "globex")!;
    await applyObject(admin, tenant, FIELD_MANAGER, false);
    await retryingTooManyRequests(() => operator.list("konstruct.io/v1alpha1", "Tenant"));
    await retryingTooManyRequests(() => operator.list("konstruct.io/v1alpha1", "Agent"));

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
    const objects = loadManifests(examplesDir);
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

  it('examples/channels/ are accepted too: a Teams bot with its Secret, an "Add to Slack" channel with none', async () => {
    const objects = loadManifests(join(examplesDir, "channels"));
    const channels = objects.filter((o) => o.kind === "Tenant").flatMap((t) => t.spec.channels as Obj[]);
    expect(channels.map((c) => c.type)).toEqual(expect.arrayContaining(["teams", "slack"]));
    expect(channels.find((c) => c.install === "oauth")?.credentialsSecretRef).toBeUndefined();
    await dryRunThenApply(objects);
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
        channels: [{ name: "pg", type: "pigeon", externalId: "1", credentialsSecretRef: { name: "s" } }],
      }),
    );
    expect(message).toMatch(/spec\.channels\[0\]\.type: Unsupported value: "pigeon"/);
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
