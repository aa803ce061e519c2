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

/** The failure an HTTP status stands for: 404 an unknown model, 5xx and 429 the server's, other 4xx the request's. */
export function statusFailure(status: number, model: string, detail: string): LlmError {
  if (status === 404) return new LlmError("model-not-found", model, detail);
  if (status >= 500 || status === 429) return new LlmError("server", model, detail);
  return new LlmError("rejected", model, detail);
}
