import type { TSchema } from "@sinclair/typebox";
import { Agent } from "./agent.ts";
import { DNS_LABEL } from "./schema-helpers.ts";
import { GROUP, Tenant, VERSION } from "./tenant.ts";

/** A CustomResourceDefinition as plain JSON (apiextensions.k8s.io/v1). */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

/** Keywords a Kubernetes structural schema understands; TypeBox's others are dropped. */
const KEPT = new Set([
  "type",
  "description",
  "format",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "enum",
  "default",
  "nullable",
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-int-or-string",
  "x-kubernetes-embedded-resource",
]);

/**
 * Turns a TypeBox schema into an OpenAPI v3 structural schema: literal unions become `enum`
 * (structural schemas have no `const`), `additionalProperties: false` is dropped (the API server
 * prunes unknown fields instead, and rejects that keyword), records become `additionalProperties`.
 */
export function toStructural(schema: TSchema): Record<string, unknown> {
  const s = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (Array.isArray(s.anyOf)) {
    const options = s.anyOf as Record<string, unknown>[];
    if (!options.every((o) => typeof o.const === "string")) {
      throw new Error("CRD schemas support unions of string literals only (as enums)");
    }
    out.type = "string";
    out.enum = options.map((o) => o.const);
  }
  if (typeof s.const === "string") {
    out.type = "string";
    out.enum = [s.const];
  }
  for (const [key, value] of Object.entries(s)) {
    if (KEPT.has(key)) out[key] = value;
  }
  if (s.type === "object") {
    const properties = s.properties as Record<string, TSchema> | undefined;
    if (properties !== undefined && Object.keys(properties).length > 0) {
      out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, toStructural(v)]));
      if (Array.isArray(s.required) && s.required.length > 0) out.required = s.required;
    }
    const patternProperties = s.patternProperties as Record<string, TSchema> | undefined;
    if (patternProperties !== undefined) {
      const [valueSchema] = Object.values(patternProperties);
      if (valueSchema !== undefined) out.additionalProperties = toStructural(valueSchema);
    }
  }
  if (s.type === "array" && s.items !== undefined) out.items = toStructural(s.items as TSchema);
  return out;
}

/**
 * Metadata is validated by the API server itself; a CRD may only narrow `metadata.name`, which
 * Tenants do (it becomes the database row's name and part of the namespace name).
 */
function withMetadata(schema: Record<string, unknown>, name: Record<string, unknown> | undefined): Record<string, unknown> {
  const properties = schema.properties as Record<string, unknown>;
  return {
    ...schema,
    required: ["spec"],
    properties: {
      ...properties,
      apiVersion: { type: "string", description: "APIVersion defines the versioned schema of this representation of an object." },
      kind: { type: "string", description: "Kind is a string value representing the REST resource this object represents." },
      metadata: name ? { type: "object", properties: { name } } : { type: "object" },
    },
  };
}

const readyColumn = {
  name: "Ready",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: "Whether every dependency is in place.",
};
const ageColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

function crd(options: {
  kind: string;
  plural: string;
  scope: "Cluster" | "Namespaced";
  schema: TSchema;
  shortNames: string[];
  columns: Record<string, unknown>[];
  name?: Record<string, unknown>;
}): CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${options.plural}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "konstruct" } },
    spec: {
      group: GROUP,
      scope: options.scope,
      names: {
        kind: options.kind,
        listKind: `${options.kind}List`,
        plural: options.plural,
        singular: options.kind.toLowerCase(),
        shortNames: options.shortNames,
        categories: ["konstruct"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: options.columns,
          schema: { openAPIV3Schema: withMetadata(toStructural(options.schema), options.name) },
        },
      ],
    },
  };
}

/** The Tenant CRD (cluster-scoped), generated from the same TypeBox schema as the `Tenant` type. */
export const tenantCrd: CustomResourceDefinition = crd({
  kind: "Tenant",
  plural: "tenants",
  scope: "Cluster",
  schema: Tenant,
  shortNames: ["tn"],
  name: { type: "string", pattern: DNS_LABEL, maxLength: 63 },
  columns: [
    readyColumn,
    { name: "Tenant-ID", type: "string", jsonPath: ".status.tenantId", description: "The tenant id (UUID)." },
    { name: "Channels", type: "string", jsonPath: ".spec.channels[*].name", description: "Connected channels." },
    ageColumn,
  ],
});

/** The Agent CRD (namespaced), generated from the same TypeBox schema as the `Agent` type. */
export const agentCrd: CustomResourceDefinition = crd({
  kind: "Agent",
  plural: "agents",
  scope: "Namespaced",
  schema: Agent,
  shortNames: ["ag"],
  columns: [
    readyColumn,
    { name: "Model", type: "string", jsonPath: ".spec.model" },
    { name: "Default", type: "boolean", jsonPath: ".spec.default" },
    ageColumn,
  ],
});

/** Both CRDs, in the order to apply them. */
export function crds(): CustomResourceDefinition[] {
  return [tenantCrd, agentCrd];
}
