import type { Condition } from "./api/schema-helpers.ts";
import { messageOf, reasonOf } from "./errors.ts";

/** The result of one `ensureX`: becomes a condition. */
export interface Outcome {
  ready: boolean;
  reason: string;
  message: string;
}

export const ok = (reason: string, message: string): Outcome => ({ ready: true, reason, message });
export const notReady = (reason: string, message: string): Outcome => ({ ready: false, reason, message });

/** Runs one ensure step; a thrown error becomes a not-ready outcome instead of aborting the others. */
export async function attempt<T extends Outcome>(fallbackReason: string, step: () => Promise<T>): Promise<T | Outcome> {
  try {
    return await step();
  } catch (error) {
    return notReady(reasonOf(error, fallbackReason), messageOf(error));
  }
}

/**
 * Merges `outcomes` into `previous` conditions: lastTransitionTime moves only when the status
 * flips, so a no-op reconcile produces an identical list (and no status write).
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  outcomes: Record<string, Outcome>,
  generation: number | undefined,
  now: Date,
): Condition[] {
  return Object.entries(outcomes).map(([type, outcome]) => {
    const status = outcome.ready ? "True" : "False";
    const before = previous?.find((c) => c.type === type);
    return {
      type,
      status,
      reason: outcome.reason,
      message: outcome.message,
      lastTransitionTime: before?.status === status ? before.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
      ...(generation === undefined ? {} : { observedGeneration: generation }),
    };
  });
}

/** Ready is the conjunction of the others, with the first failing one's reason. */
export function readyOf(outcomes: readonly Outcome[], readyMessage: string): Outcome {
  const failing = outcomes.find((o) => !o.ready);
  return failing ? notReady(failing.reason, failing.message) : ok("Reconciled", readyMessage);
}

/** Deep equality for JSON values (status comparisons). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Sorts object keys recursively, so equal JSON compares equal as text. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
