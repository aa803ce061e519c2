import { CHANNEL_TYPES } from "@konstruct/channels";
import { UUID_PATTERN } from "@konstruct/core/ids";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import { Agent } from "./agent.ts";
import { agentCrd, crds, tenantCrd } from "./crds.ts";
import { AGENT_DEFAULTS, HISTORY_RETENTION_DAYS, TENANT_LIMIT_DEFAULTS } from "./defaults.ts";
import { OPERATOR_RBAC_RULES } from "./rbac.ts";
import { Tenant } from "./tenant.ts";

function walk(schema: Record<string, unknown>, path: string, visit: (s: Record<string, unknown>, path: string) => void): void {
  visit(schema, path);
  for (const [k, v] of Object.entries((schema.properties as Record<string, Record<string, unknown>>) ?? {}))
    walk(v, `${path}.${k}`, visit);
  if (schema.items) walk(schema.items as Record<string, unknown>, `${path}[]`, visit);
  if (typeof schema.additionalProperties === "object")
    walk(schema.additionalProperties as Record<string, unknown>, `${path}{}`, visit);
}

const rootOf = (crd: typeof tenantCrd) =>
  (crd.spec.versions as { schema: { openAPIV3Schema: Record<string, unknown> } }[])[0]?.schema.openAPIV3Schema as Record<
    string,
    unknown
  >;

describe("CRDs generated from the TypeBox schemas", () => {
  it("are structural: every node has a type and none uses keywords the API server rejects", () => {
    for (const crd of crds()) {
      walk(rootOf(crd), crd.spec.names ? (crd.spec.names as { kind: string }).kind : "?", (s, path) => {
        expect(s.type, path).toBeTypeOf("string");
        for (const banned of ["anyOf", "const", "$id", "uniqueItems"]) expect(s, path).not.toHaveProperty(banned);
        expect(s.additionalProperties, path).not.toBe(false);
      });
    }
  });

  it("document every spec field for kubectl explain", () => {
    for (const crd of crds()) {
      const spec = (rootOf(crd).properties as Record<string, Record<string, unknown>>).spec as Record<string, unknown>;
      walk(spec, "spec", (s, path) => {
        if (!path.endsWith("[]")) expect(s.description, path).toBeTruthy();
      });
    }
  });

  it("turn string unions into enums and keep the immutable-namespace CEL rule", () => {
    const spec = (rootOf(tenantCrd).properties as Record<string, Record<string, unknown>>).spec as Record<string, unknown>;
    const channel = ((spec.properties as Record<string, Record<string, unknown>>).channels?.items ?? {}) as Record<
      string,
      unknown
    >;
    expect((channel.properties as Record<string, Record<string, unknown>>).type?.enum).toEqual([...CHANNEL_TYPES]);
    const rules = spec["x-kubernetes-validations"] as { rule: string; fieldPath?: string }[];
    expect(rules.some((r) => r.fieldPath === ".namespace" && r.rule.includes("oldSelf"))).toBe(true);
    expect(agentCrd.spec.scope).toBe("Namespaced");
    expect(tenantCrd.spec.scope).toBe("Cluster");
  });

  it("validate the same objects in TypeScript as the API server does", () => {
    const good = {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: "acme" },
      spec: { displayName: "Acme", reclaimPolicy: "Delete", channels: [{ name: "slack", type: "slack", externalId: "T01" }] },
    };
    expect(Value.Check(Tenant, good)).toBe(true);
    expect(
      Value.Check(Tenant, { ...good, spec: { ...good.spec, channels: [{ name: "x", type: "carrierpigeon", externalId: "1" }] } }),
    ).toBe(false);
  });

  it("grant the operator no list or watch on Secrets", () => {
    const secrets = OPERATOR_RBAC_RULES.filter((r) => r.resources.includes("secrets"));
    expect(secrets.flatMap((r) => r.verbs)).not.toContain("list");
    expect(secrets.flatMap((r) => r.verbs)).not.toContain("watch");
  });

  it("take their defaults and the tenant id pattern from the one place the controllers read them", () => {
    type Node = { properties: Record<string, Node>; default?: unknown; pattern?: string };
    const specOf = (crd: typeof tenantCrd) => (rootOf(crd) as Node).properties.spec as Node;
    const limits = specOf(tenantCrd).properties.limits as Node;
    expect(Object.fromEntries(Object.entries(limits.properties).map(([k, v]) => [k, v.default]))).toEqual(TENANT_LIMIT_DEFAULTS);
    expect(specOf(tenantCrd).properties.tenantId?.pattern).toBe(UUID_PATTERN);
    type Bounded = Node & { minimum?: number; maximum?: number };
    const retention = (specOf(tenantCrd).properties.history as Node).properties.retentionDays as Bounded;
    expect({ default: retention.default, minimum: retention.minimum, maximum: retention.maximum }).toEqual(
      HISTORY_RETENTION_DAYS,
    );
    const agent = specOf(agentCrd).properties;
    expect({
      temperature: agent.temperature?.default,
      maxHistoryMessages: agent.maxHistoryMessages?.default,
      default: agent.default?.default,
    }).toEqual(AGENT_DEFAULTS);

    // What the local driver and the API server fill in for a spec that leaves them out.
    const tenant = Value.Default(Tenant, {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: "acme" },
      spec: { displayName: "Acme" },
    }) as Tenant;
    expect(tenant.spec.limits).toEqual(TENANT_LIMIT_DEFAULTS);
    expect(tenant.spec.history).toEqual({ retentionDays: HISTORY_RETENTION_DAYS.default });
    const filled = Value.Default(Agent, {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Agent",
      metadata: { name: "ada" },
      spec: { displayName: "Ada", model: "m" },
    }) as Agent;
    expect(filled.spec).toMatchObject(AGENT_DEFAULTS);
  });
});
