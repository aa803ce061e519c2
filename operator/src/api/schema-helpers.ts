import { type Static, type TLiteral, type TSchema, type TUnion, Type } from "@sinclair/typebox";

/**
 * Small TypeBox helpers for schemas that become CRDs. Kubernetes structural schemas have no
 * `const`, so string unions are written as literal unions here (TypeBox validates them) and
 * turned into `enum` by the CRD generator.
 */

/** A CEL rule as `x-kubernetes-validations` carries it. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** A string that is one of `values`. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description: string; default?: T[number] },
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as TUnion<TLiteral<T[number]>[]>;
}

/** Attaches CEL rules to a schema (they are enforced by the API server). */
export function withRules<T extends TSchema>(schema: T, rules: readonly CelRule[]): T {
  return { ...schema, "x-kubernetes-validations": rules } as T;
}

/** DNS-1123 label: namespace names, Kubernetes object names without dots. */
export const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/** The standard `metav1.Condition`, as every status here reports it. */
export const Condition = Type.Object(
  {
    type: Type.String({ description: "Condition type: Ready, DatabaseReady, RedisReady, ChannelsReady, …", maxLength: 316 }),
    status: StringEnum(["True", "False", "Unknown"] as const, { description: "Whether the condition holds." }),
    reason: Type.String({
      description: "A CamelCase, machine-readable reason for the last transition.",
      maxLength: 1024,
      pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    }),
    message: Type.String({ description: "A human-readable explanation, saying what to do next.", maxLength: 32768 }),
    lastTransitionTime: Type.String({ format: "date-time", description: "When the status last changed." }),
    observedGeneration: Type.Optional(
      Type.Integer({ minimum: 0, description: "The .metadata.generation the condition was computed from." }),
    ),
  },
  { description: "The state of one aspect of the object." },
);

export type Condition = Static<typeof Condition>;
