import { Agent, type Dispatcher, request } from "undici";
import { LlmError } from "./llm-error.ts";

/** Options for {@link createModelHttp}. */
export interface ModelHttpOptions {
  /** Open connections kept per model server; more requests than this wait for a free one. */
  connections?: number;
  /** How long an idle connection is kept open. */
  keepAliveMs?: number;
}

/** What one model call sends besides its body. */
export interface ModelCallOptions {
  model: string;
  timeoutMs: number;
  headers?: Record<string, string>;
}

/**
 * A streamed answer: a success status, whose body went to `onText` as it arrived, or a failure
 * status with its JSON body (`{}` when not JSON), read whole for the error mapping.
 */
export type ModelStreamResponse<T> = { status: number; streamed: true } | { status: number; streamed: false; body: Partial<T> };

/** Posts JSON to model servers over kept-alive connections and reads the answer as it streams; throws LlmError on transport failures. */
export interface ModelHttp {
  /**
   * Posts JSON and hands a 2xx body to `onText` chunk by chunk (UTF-8 decoded, never splitting
   * a character), as the server sends it. An exception from `onText` ends the call and is
   * rethrown as it is. The call's timeout covers the whole answer, not only its start.
   */
  postStream<T>(
    url: string,
    payload: unknown,
    options: ModelCallOptions,
    onText: (text: string) => void,
  ): Promise<ModelStreamResponse<T>>;
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
  const post = (url: string, payload: unknown, signal: AbortSignal, headers: Record<string, string> | undefined) =>
    request(url, {
      dispatcher,
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(payload),
      signal,
    });
  return {
    async postStream<T>(
      url: string,
      payload: unknown,
      { model, timeoutMs, headers }: ModelCallOptions,
      onText: (text: string) => void,
    ): Promise<ModelStreamResponse<T>> {
      const signal = AbortSignal.timeout(timeoutMs);
      let response: Dispatcher.ResponseData;
      try {
        response = await post(url, payload, signal, headers);
      } catch (error) {
        throw transportFailure(model, error, signal.aborted);
      }
      const status = response.statusCode;
      if (status < 200 || status >= 300) {
        try {
          return { status, streamed: false, body: jsonBody<T>(await response.body.text()) };
        } catch (error) {
          throw transportFailure(model, error, signal.aborted);
        }
      }
      // setEncoding keeps a character split across two TCP reads whole.
      response.body.setEncoding("utf8");
      let chunks: AsyncIterator<string>;
      try {
        chunks = response.body[Symbol.asyncIterator]();
      } catch (error) {
        throw transportFailure(model, error, signal.aborted);
      }
      for (;;) {
        let next: IteratorResult<string>;
        try {
          next = await chunks.next();
        } catch (error) {
          throw transportFailure(model, error, signal.aborted);
        }
        if (next.done) return { status, streamed: true };
        try {
          onText(next.value);
        } catch (error) {
          // The parser gave up on the answer: stop reading it, and free the connection.
          response.body.destroy();
          throw error;
        }
      }
    },
    close: () => dispatcher.close(),
  };
}

/** A body parsed as a JSON object, or `{}`: a proxy's HTML error page is not JSON, and its status says what happened. */
function jsonBody<T>(text: string): Partial<T> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") return parsed as Partial<T>;
  } catch {
    // Not JSON.
  }
  return {};
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
