import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";

/**
 * A local Ollama for tests, speaking Ollama's HTTP API as the real server does: `POST
 * /api/chat` streaming (NDJSON, the last chunk with `done: true`, token counts and durations
 * in nanoseconds) and not (`stream: false`), `GET /api/tags`, `GET /api/version`, errors as
 * `{"error": "…"}` with Ollama's statuses. Like Ollama, it also serves the OpenAI-compatible
 * `POST /v1/chat/completions` (server-sent `chat.completion.chunk` events, a usage chunk when
 * `stream_options.include_usage` asks for it, then `data: [DONE]`), so it doubles for an
 * OpenAI-compatible provider too. A streamed answer comes one word a chunk, `chunkDelayMs` apart.
 *
 * Its answer is deterministic and says who answered, so tests can assert which agent, persona
 * and memory a reply came from:
 * `[<model>] <first line of the system prompt> | history=<n> | you said: <last user message>`.
 */

/** How a model misbehaves: HTTP 500, Ollama's 404 for a model it does not have, or a hang. */
export type OllamaFailure = "error" | "not-found" | "hang";

export interface OllamaDoubleOptions {
  /** Delay before answering (before the first chunk when streaming). */
  latencyMs?: number;
  /** Delay between two chunks of a streamed answer (a model writing slowly); 0 sends them together. */
  chunkDelayMs?: number;
  /** Models `/api/tags` lists; when given, any other model gets Ollama's 404. */
  models?: readonly string[];
  /** Models that fail, and how. */
  failures?: Readonly<Record<string, OllamaFailure>>;
  /**
   * Requests served at once, as Ollama's `OLLAMA_NUM_PARALLEL`: the rest wait in arrival order,
   * as they do in front of a real GPU. Unlimited by default.
   */
  parallel?: number;
  port?: number;
}

/** One `/api/chat` request the double received. */
export interface OllamaChatLogEntry {
  at: number;
  model: string;
  stream: boolean;
  /** `ollama` for `/api/chat`, `openai` for `/v1/chat/completions`. */
  api: "ollama" | "openai";
  messages: { role: string; content: string }[];
  options: Record<string, unknown> | undefined;
  status: number;
  /** `performance.now()` (this process's clock) when the first text of a streamed answer was written. */
  firstChunkAt?: number;
}

export interface OllamaDouble {
  /** Base URL, e.g. `http://127.0.0.1:41234` (what OLLAMA_URL is set to). */
  readonly url: string;
  /** Every `/api/chat` request, in arrival order. */
  readonly requests: readonly OllamaChatLogEntry[];
  setLatency(ms: number): void;
  setChunkDelay(ms: number): void;
  /** Streamed answers being written right now. */
  readonly streaming: number;
  fail(model: string, how: OllamaFailure): void;
  heal(model: string): void;
  /** Empties the request log. */
  clear(): void;
  close(): Promise<void>;
}

/** The deterministic answer of the double, exported so tests can compute what to expect. */
export function ollamaDoubleReply(model: string, messages: readonly { role: string; content: string }[]): string {
  const system = messages.find((m) => m.role === "system")?.content.split("\n")[0] ?? "(no system prompt)";
  const lastUser = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const history = messages.filter((m) => m.role !== "system").length - (lastUser ? 1 : 0);
  return `[${model}] ${system} | history=${history} | you said: ${lastUser}`;
}

const VERSION = "0.6.5";

/** Starts the Ollama double on 127.0.0.1 (a free port unless `port` is given). */
export async function startOllamaDouble(options: OllamaDoubleOptions = {}): Promise<OllamaDouble> {
  let latencyMs = options.latencyMs ?? 0;
  let chunkDelayMs = options.chunkDelayMs ?? 0;
  let streaming = 0;
  const failures = new Map<string, OllamaFailure>(Object.entries(options.failures ?? {}));
  const requests: OllamaChatLogEntry[] = [];
  const hung = new Set<ServerResponse>();
  const parallel = options.parallel ?? Number.POSITIVE_INFINITY;
  let running = 0;
  const waiting: (() => void)[] = [];
  const admit = async () => {
    if (running >= parallel) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
  };
  const leave = () => {
    running--;
    waiting.shift()?.();
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

  /** Writes a streamed answer's chunks `chunkDelayMs` apart; stops when the client goes away. */
  const writeChunks = async (res: ServerResponse, entry: OllamaChatLogEntry, chunks: readonly string[], firstText = 0) => {
    streaming++;
    try {
      for (const [i, chunk] of chunks.entries()) {
        if (res.destroyed) return;
        res.write(chunk);
        if (i === firstText) entry.firstChunkAt = performance.now();
        if (chunkDelayMs > 0) await new Promise((r) => setTimeout(r, chunkDelayMs));
      }
      res.end();
    } finally {
      streaming--;
    }
  };

  const chat = async (req: IncomingMessage, res: ServerResponse, api: "ollama" | "openai") => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: {
      model?: unknown;
      messages?: unknown;
      stream?: unknown;
      stream_options?: { include_usage?: unknown };
      options?: Record<string, unknown>;
    };
    // Errors as each API writes them: Ollama's `{"error": "…"}`, OpenAI's `{"error": {"message": "…"}}`.
    const fail = (status: number, message: string) =>
      json(res, status, api === "ollama" ? { error: message } : { error: { message, type: "api_error" } });
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return fail(400, "invalid character in request body");
    }
    const model = typeof body.model === "string" ? body.model : "";
    const messages = Array.isArray(body.messages) ? (body.messages as { role: string; content: string }[]) : [];
    // Ollama's own API streams unless told otherwise; the OpenAI-compatible one only when asked.
    const stream = api === "ollama" ? body.stream !== false : body.stream === true;
    const entry: OllamaChatLogEntry = { at: Date.now(), model, stream, api, messages, options: body.options, status: 0 };
    requests.push(entry);
    if (!model) {
      entry.status = 400;
      return fail(400, "model is required");
    }
    const failure = failures.get(model);
    await admit();
    try {
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    } finally {
      leave();
    }
    if (failure === "hang") {
      hung.add(res);
      res.on("close", () => hung.delete(res));
      return;
    }
    if (failure === "not-found" || (options.models && !options.models.includes(model))) {
      entry.status = 404;
      return fail(404, `model "${model}" not found, try pulling it first`);
    }
    if (failure === "error") {
      entry.status = 500;
      return fail(500, `llama runner process has terminated: exit status 2 (model ${model})`);
    }
    const content = ollamaDoubleReply(model, messages);
    const promptEvalCount = Math.max(1, Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4));
    const evalCount = content.split(/\s+/).length;
    const done = {
      done: true,
      done_reason: "stop",
      total_duration: (latencyMs + 1) * 1_000_000,
      load_duration: 1_000_000,
      prompt_eval_count: promptEvalCount,
      prompt_eval_duration: 500_000,
      eval_count: evalCount,
      eval_duration: latencyMs * 1_000_000 + 500_000,
    };
    entry.status = 200;
    const pieces = content.match(/\S+\s*/g) ?? [content];
    if (api === "openai") {
      const usage = { prompt_tokens: promptEvalCount, completion_tokens: evalCount, total_tokens: promptEvalCount + evalCount };
      const base = {
        id: `chatcmpl-${requests.length}`,
        created: Math.floor(Date.now() / 1000),
        model,
        system_fingerprint: "fp_ollama",
      };
      if (!stream) {
        const message = { role: "assistant", content };
        return json(res, 200, {
          ...base,
          object: "chat.completion",
          choices: [{ index: 0, message, finish_reason: "stop" }],
          usage,
        });
      }
      const event = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices, ...extra })}\n\n`;
      res.writeHead(200, { "content-type": "text/event-stream" });
      return writeChunks(
        res,
        entry,
        [
          event([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]),
          ...pieces.map((piece) => event([{ index: 0, delta: { content: piece }, finish_reason: null }])),
          event([{ index: 0, delta: {}, finish_reason: "stop" }]),
          ...(body.stream_options?.include_usage === true ? [event([], { usage })] : []),
          "data: [DONE]\n\n",
        ],
        1,
      );
    }
    const createdAt = () => new Date().toISOString();
    if (!stream) {
      return json(res, 200, { model, created_at: createdAt(), message: { role: "assistant", content }, ...done });
    }
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    return writeChunks(res, entry, [
      ...pieces.map(
        (piece) =>
          `${JSON.stringify({ model, created_at: createdAt(), message: { role: "assistant", content: piece }, done: false })}\n`,
      ),
      `${JSON.stringify({ model, created_at: createdAt(), message: { role: "assistant", content: "" }, ...done })}\n`,
    ]);
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "POST" && path === "/api/chat") {
      chat(req, res, "ollama").catch(() => res.destroy());
    } else if (req.method === "POST" && path === "/v1/chat/completions") {
      chat(req, res, "openai").catch(() => res.destroy());
    } else if (req.method === "GET" && path === "/api/tags") {
      const names = options.models ?? ["llama3.2:latest"];
      json(res, 200, {
        models: names.map((name) => ({
          name,
          model: name,
          modified_at: "2025-01-01T00:00:00Z",
          size: 2_019_393_189,
          digest: "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
          details: { format: "gguf", family: "llama", parameter_size: "3.2B", quantization_level: "Q4_K_M" },
        })),
      });
    } else if (req.method === "GET" && path === "/api/version") {
      json(res, 200, { version: VERSION });
    } else if (req.method === "GET" && path === "/") {
      res.writeHead(200, { "content-type": "text/plain" }).end("Ollama is running");
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found");
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setLatency(ms) {
      latencyMs = ms;
    },
    setChunkDelay(ms) {
      chunkDelayMs = ms;
    },
    get streaming() {
      return streaming;
    },
    fail(model, how) {
      failures.set(model, how);
    },
    heal(model) {
      failures.delete(model);
    },
    clear() {
      requests.length = 0;
    },
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
