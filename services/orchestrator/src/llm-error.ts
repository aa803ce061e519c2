import { KonstructError } from "@konstruct/core";

/**
 * Why a model call failed. `unreachable` (nothing answered the TCP connection) is kept apart
 * from everything else because the apology must then say that no model is reachable.
 */
export type LlmFailure = "unreachable" | "timeout" | "model-not-found" | "rejected" | "server" | "bad-response";

/** A model call failed; `failure` says how, `retryable` whether the same model may be tried again. */
export class LlmError extends KonstructError {
  readonly failure: LlmFailure;
  readonly model: string;

  constructor(failure: LlmFailure, model: string, message: string, options?: { cause?: unknown }) {
    super("LLM_FAILED", `model ${model}: ${message}`, options);
    this.name = "LlmError";
    this.failure = failure;
    this.model = model;
  }

  get retryable(): boolean {
    return this.failure === "unreachable" || this.failure === "timeout" || this.failure === "server";
  }
}

/** Turns a fetch failure into an LlmError: abort → timeout, connection errors → unreachable. */
export function fetchFailure(model: string, error: unknown): LlmError {
  if (error instanceof LlmError) return error;
  const name = (error as { name?: string } | null)?.name;
  if (name === "TimeoutError" || name === "AbortError") return new LlmError("timeout", model, "timed out", { cause: error });
  return new LlmError("unreachable", model, `no answer from the server (${describeCause(error)})`, { cause: error });
}

function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
