import { ChannelHookError } from "@konstruct/channels";
import { KonstructError } from "@konstruct/core/errors";

/** A dependency (role, ACL user, row, Secret) could not be put in place; the reconcile retries with backoff. */
export class ProvisionError extends KonstructError {
  /** CamelCase reason for the condition that reports it. */
  readonly reason: string;

  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super("PROVISION_FAILED", message, options);
    this.name = "ProvisionError";
    this.reason = reason;
  }
}

/** A spec that the API server accepted but that cannot work (a taken namespace, an external id of another tenant). */
export class SpecConflictError extends KonstructError {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super("CONFLICT", message);
    this.name = "SpecConflictError";
    this.reason = reason;
  }
}

/** The Kubernetes API answered with an error status. */
export class KubeApiError extends KonstructError {
  readonly status: number;
  readonly reason: string;
  /** The API server's own words (its Status `message`), without the request line `message` starts with. */
  readonly statusMessage: string;

  constructor(status: number, reason: string, message: string, options?: { cause?: unknown; statusMessage?: string }) {
    super(status === 404 ? "NOT_FOUND" : status === 409 ? "CONFLICT" : "UNAVAILABLE", message, options);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.statusMessage = options?.statusMessage ?? message;
  }
}

/** The reason a failure shows in a condition: the error's own reason, else its code in CamelCase. */
export function reasonOf(error: unknown, fallback: string): string {
  if (error instanceof ProvisionError || error instanceof SpecConflictError || error instanceof ChannelHookError)
    return error.reason;
  if (error instanceof KubeApiError) return `KubernetesApi${error.status}`;
  return fallback;
}

/** A one-line message for a condition; never includes secret values (errors here never carry them). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`.slice(0, 1000);
  }
  return String(error).slice(0, 1000);
}
