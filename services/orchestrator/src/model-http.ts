import { Agent, type Dispatcher, request } from "undici";
import { LlmError } from "./llm-error.ts";

/** Options for {@link createModelHttp}. */
export interface ModelHttpOptions {
  /** Open connections kept per model server; more requests than this wait for a free one. */
  connections?: number;
  /** How long an idle connection is kept open. */
  keepAliveMs?: number;
}

/** A model server's answer: its status and its JSON body (`{}` when the body is not JSON). */
export interface ModelResponse<T> {
  status: number;
  body: Partial<T>;
}

/** Posts JSON to model servers over kept-alive connections; throws LlmError on transport failures. */
export interface ModelHttp {
  postJson<T>(
    url: string,
    payload: unknown,
    options: { model: string; timeoutMs: number; headers?: Record<string, string> },
  ): Promise<ModelResponse<T>>;
  close(): Promise<void>;
}

/**
 * undici's `request` over an Agent of the provider's own, which keeps `connections` sockets
 * per origin alive between calls. Global `fetch` goes through the same undici underneath but
 * wraps every call in WHATWG Request/Response objects and streams: against a model server that
 * answers in a millisecond that cost ~0.6 ms of CPU per call (the floor benchmark's
 * `FLOOR_LLM_CLIENT=fetch`).
 */
export function createModelHttp(options: ModelHttpOptions = {}): ModelHttp {
  const dispatcher: Dispatcher = new Agent({
    connections: options.connections ?? 64,
    keepAliveTimeout: options.keepAliveMs ?? 30_000,
    // Model calls are bounded by each call's own timeout, not undici's 300 s defaults.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  return {
    async postJson<T>(
      url: string,
      payload: unknown,
      { model, timeoutMs, headers }: { model: string; timeoutMs: number; headers?: Record<string, string> },
    ): Promise<ModelResponse<T>> {
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        const response = await request(url, {
          dispatcher,
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify(payload),
          signal,
        });
        const text = await response.body.text();
        let body: Partial<T> = {};
        try {
          const parsed: unknown = JSON.parse(text);
          if (parsed && typeof parsed === "object") body = parsed as Partial<T>;
        } catch {
          // Not JSON (a proxy's HTML error page): the status says what happened.
        }
        return { status: response.statusCode, body };
      } catch (error) {
        throw transportFailure(model, error, signal.aborted);
      }
    },
    close: () => dispatcher.close(),
  };
}

/** A failure before a complete answer: the call's own timeout, or no server to talk to. */
export function transportFailure(model: string, error: unknown, timedOut: boolean): LlmError {
  if (error instanceof LlmError) return error;
  const name = (error as { name?: string } | null)?.name;
  if (timedOut || name === "TimeoutError" || name === "AbortError") {
    return new LlmError("timeout", model, "timed out", { cause: error });
  }
  return new LlmError("unreachable", model, `no answer from the server (${describe(error)})`, { cause: error });
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } } | null;
  return e?.code ?? e?.cause?.code ?? e?.cause?.message ?? (error instanceof Error ? error.message : String(error));
}
