import type { Condition } from "./api/schema-helpers.ts";
import { jsonEqual } from "./conditions.ts";
import type { KubernetesPort, ObjectRef } from "./ports.ts";

/** A status with conditions, as Tenants and Agents report it. */
interface ConditionedStatus {
  conditions?: Condition[];
}

/**
 * Writes `status` through the status subresource when it differs from `previous` (so a no-op
 * reconcile writes nothing), and records an Event when the Ready condition changes status or
 * reason: Normal when it became ready, Warning otherwise. Returns whether it wrote.
 */
export async function writeStatus<S extends ConditionedStatus & Record<string, unknown>>(
  kube: KubernetesPort,
  ref: ObjectRef,
  previous: S | undefined,
  status: S,
): Promise<boolean> {
  if (jsonEqual(previous ?? {}, status)) return false;
  await kube.patchStatus(ref, status);
  const was = previous?.conditions?.find((c) => c.type === "Ready");
  const now = status.conditions?.find((c) => c.type === "Ready");
  if (now && (was?.status !== now.status || was?.reason !== now.reason)) {
    await kube.recordEvent(ref, now.status === "True" ? "Normal" : "Warning", now.reason, now.message);
  }
  return true;
}
