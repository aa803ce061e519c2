import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { RunningOperator } from "@konstruct/operator/runtime";
import {
  applyObject,
  type ControlPlane,
  createTestDatabase,
  objectClient,
  startControlPlane,
  type TestDatabase,
} from "@konstruct/testkit";
import type { KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { LEASE_NAME } from "../../charts/lib/operator.ts";
import { parseValues } from "../../charts/lib/values.ts";
import { eventually } from "../operator/harness.ts";
import { applyInstall, operatorKubeconfig, runChartOperator } from "./support.ts";

// The operator, running with nothing but the synthesized ServiceAccount's permissions, takes an
// example Tenant to Ready: the chart's RBAC is enough, leader election included. The client
// certificate carries the ServiceAccount's user name and groups, which is what RBAC evaluates.

type Obj = KubernetesObject & Record<string, any>;
const values = parseValues({});

let plane: ControlPlane;
let database: TestDatabase;
let admin: KubernetesObjectApi;
let operator: (RunningOperator & { close(): Promise<void> }) | undefined;

const apply = (o: Obj) => applyObject(admin, o, "konstruct-install-test");

beforeAll(async () => {
  [plane, database] = await Promise.all([startControlPlane(), createTestDatabase("kch")]);
  admin = objectClient(plane.adminKubeconfigPath);
  await applyInstall(plane, values, "konstruct-install-test");
  // As the chart runs it: the ServiceAccount's rights, the konstruct_operator role, not the superuser.
  operator = await runChartOperator(database, values, {
    kubeconfig: await operatorKubeconfig(plane, values),
    logName: "operator-charts-test",
    resyncIntervalMs: 60_000,
  });
});

afterAll(async () => {
  await operator?.close();
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
