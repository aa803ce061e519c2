import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LlmError } from "./llm-error.ts";
import type { LlmProvider } from "./llm-provider.ts";
import { createOllamaProvider } from "./ollama-provider.ts";
import { createOpenAiProvider } from "./openai-provider.ts";

type Handler = (req: IncomingMessage, body: unknown, res: ServerResponse) => void;

/** A model server on loopback that counts the TCP connections its clients open. */
async function modelServer(handler: Handler) {
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"), res));
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const ask = (provider: LlmProvider, model = "m", timeoutMs = 2_000) =>
  provider.chat({ model, messages: [{ role: "user", content: "hi" }], temperature: 0, timeoutMs });

async function failureOf(call: Promise<unknown>): Promise<LlmError> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LlmError);
  return error as LlmError;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0)) await close();
});

/** Writes each string as its own TCP write, a few milliseconds apart, so the client sees them as separate reads. */
async function writeApart(res: ServerResponse, parts: readonly (string | Buffer)[]): Promise<void> {
  for (const part of parts) {
    res.write(part);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  res.end();
}

const PROVIDERS = {
  ollama: {
    make: (url: string) => createOllamaProvider(url),
    contentType: "application/x-ndjson",
    /** Ollama's streamed answer: one JSON line a piece, the last with `done` and the counts. */
    chunks: (model: string, pieces: readonly string[]) => [
      ...pieces.map(
        (content) =>
          `${JSON.stringify({ model, created_at: "2025-01-01T00:00:00Z", message: { role: "assistant", content }, done: false })}\n`,
      ),
      `${JSON.stringify({ model, message: { role: "assistant", content: "" }, done: true, done_reason: "stop", prompt_eval_count: 3, eval_count: 2 })}\n`,
    ],
    midStreamError: (message: string) => `${JSON.stringify({ error: message })}\n`,
    /** Raw text framed as one piece of the stream (a line). */
    framed: (text: string) => `${text}\n`,
    error: (message: string) => ({ error: message }),
  },
  openai: {
    make: (url: string) => createOpenAiProvider(url, "sk-test"),
    contentType: "text/event-stream",
    /** A chat.completion.chunk a piece, a usage-only chunk (include_usage), then `[DONE]`. */
    chunks: (model: string, pieces: readonly string[]) => {
      const chunk = (choices: unknown[], usage: unknown = null) =>
        `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model, choices, usage })}\n\n`;
      return [
        chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]),
        ...pieces.map((content) => chunk([{ index: 0, delta: { content }, finish_reason: null }])),
        chunk([{ index: 0, delta: {}, finish_reason: "stop" }]),
        chunk([], { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }),
        "data: [DONE]\n\n",
      ];
    },
    midStreamError: (message: string) => `data: ${JSON.stringify({ error: { message } })}\n\n`,
    /** Raw text framed as one piece of the stream (an event). */
    framed: (text: string) => `data: ${text}\n\n`,
    error: (message: string) => ({ error: { message } }),
  },
} as const;

describe.each(Object.entries(PROVIDERS))("the %s provider over kept-alive connections", (_name, kind) => {
  it("answers 50 calls in a row over kept-alive connections", async () => {
    const server = await modelServer((_req, body, res) => {
      res.writeHead(200, { "content-type": kind.contentType });
      res.end(kind.chunks((body as { model: string }).model, ["hel", "lo"]).join(""));
    });
    const provider = kind.make(server.url);
    cleanup.push(server.close, () => provider.close?.() ?? Promise.resolve());
    for (let i = 0; i < 50; i++) {
      expect(await ask(provider)).toEqual({ text: "hello", model: "m", promptTokens: 3, completionTokens: 2 });
    }
    // undici opens a second socket while the first response is being released, then reuses both.
    expect(server.connections).toBeLessThanOrEqual(2);
  });

  it("maps statuses and transport failures to the pool's failure kinds", async () => {
    const server = await modelServer((req, body, res) => {
      const model = (body as { model: string }).model;
      if (model === "missing") json(res, 404, kind.error(`model "${model}" not found`));
      else if (model === "broken") json(res, 500, kind.error("runner crashed"));
      else if (model === "busy") json(res, 429, kind.error("slow down"));
      else if (model === "bad") json(res, 400, kind.error("bad temperature"));
      else if (model === "html") {
        res.writeHead(502, { "content-type": "text/html" });
        res.end("<html>bad gateway</html>");
      } else if (model === "empty") {
        res.writeHead(200, { "content-type": kind.contentType });
        res.end(kind.chunks(model, []).join(""));
      } else if (model === "cut") {
        // The server goes away mid-answer, after a piece but before the end of the stream.
        res.writeHead(200, { "content-type": kind.contentType });
        res.write(kind.chunks(model, ["half an answer"])[0]);
        setTimeout(() => res.end(), 5);
      } else if (model === "runner-died") {
        res.writeHead(200, { "content-type": kind.contentType });
        void writeApart(res, [
          kind.chunks(model, ["Hel"])[0] as string,
          kind.midStreamError("llama runner process has terminated"),
        ]);
      } else if (model === "garbled" || model === "scalar") {
        // A piece of the stream that is not a JSON object, between good ones.
        res.writeHead(200, { "content-type": kind.contentType });
        const [first, ...rest] = kind.chunks(model, ["fine", "also fine"]);
        res.end([first, kind.framed(model === "garbled" ? "<html>oops" : "42"), ...rest].join(""));
      } else if (model === "reset") req.socket.destroy();
      // "hang": never answers.
    });
    const provider = kind.make(server.url);
    cleanup.push(server.close, () => provider.close?.() ?? Promise.resolve());

    const missing = await failureOf(ask(provider, "missing"));
    expect([missing.failure, missing.retryable]).toEqual(["model-not-found", false]);
    expect(missing.message).toContain('model "missing" not found');
    expect((await failureOf(ask(provider, "broken"))).failure).toBe("server");
    expect((await failureOf(ask(provider, "busy"))).failure).toBe("server");
    expect((await failureOf(ask(provider, "bad"))).failure).toBe("rejected");
    const html = await failureOf(ask(provider, "html"));
    expect([html.failure, html.message]).toEqual(["server", "model html: HTTP 502"]);
    expect((await failureOf(ask(provider, "empty"))).failure).toBe("bad-response");
    expect((await failureOf(ask(provider, "cut"))).failure).toBe("bad-response");
    const garbled = await failureOf(ask(provider, "garbled"));
    expect([garbled.failure, garbled.message]).toEqual([
      "bad-response",
      expect.stringMatching(/of the answer is not JSON \(<html>oops\)/),
    ]);
    const scalar = await failureOf(ask(provider, "scalar"));
    expect([scalar.failure, scalar.message]).toEqual(["bad-response", expect.stringMatching(/of the answer is not an object/)]);
    const died = await failureOf(ask(provider, "runner-died"));
    expect([died.failure, died.retryable, died.message]).toEqual([
      "server",
      true,
      "model runner-died: llama runner process has terminated",
    ]);
    expect((await failureOf(ask(provider, "reset"))).failure).toBe("unreachable");
    const started = Date.now();
    const hang = await failureOf(ask(provider, "hang", 200));
    expect([hang.failure, hang.retryable]).toEqual(["timeout", true]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("streams: hands each piece on as it arrives, however the bytes are split, and counts tokens from the last chunk", async () => {
    const pieces = ["Grüß", " dich", ", ", "wörld ", "🌍", "!"];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = await modelServer((_req, body, res) => {
      res.writeHead(200, { "content-type": kind.contentType });
      const wire = Buffer.from(kind.chunks((body as { model: string }).model, pieces).join(""), "utf8");
      // Cut the bytes at awkward places: inside a JSON line, inside "ö" and inside the emoji.
      const at = (text: string, plus: number) => wire.indexOf(Buffer.from(text)) + plus;
      const cuts = [0, at("dich", 2), at("wö", 2), at("🌍", 2), wire.length];
      const [first, ...rest] = cuts.slice(1).map((end, i) => wire.subarray(cuts[i], end));
      res.write(first);
      // The rest only after the client has seen the first piece: the answer is read as it comes.
      void held.then(() => writeApart(res, rest));
    });
    const provider = kind.make(server.url);
    cleanup.push(server.close, () => provider.close?.() ?? Promise.resolve());
    const seen: string[] = [];
    const result = await provider.chat({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      temperature: 0,
      timeoutMs: 2_000,
      onText: (text) => {
        seen.push(text);
        release();
      },
    });
    expect(seen.join("")).toBe(pieces.join(""));
    expect(seen.length).toBeGreaterThan(1);
    expect(result).toEqual({ text: "Grüß dich, wörld 🌍!", model: "m", promptTokens: 3, completionTokens: 2 });
  });

  it("calls a refused port unreachable", async () => {
    const tcp = createTcpServer();
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    const { port } = tcp.address() as { port: number };
    await new Promise((resolve) => tcp.close(resolve));
    const provider = kind.make(`http://127.0.0.1:${port}`);
    cleanup.push(() => provider.close?.() ?? Promise.resolve());
    const refused = await failureOf(ask(provider));
    expect([refused.failure, refused.retryable]).toEqual(["unreachable", true]);
    expect(refused.message).toContain("ECONNREFUSED");
  });
});

describe("the OpenAI-compatible provider", () => {
  it("sends the API key as a bearer token", async () => {
    const seen: (string | undefined)[] = [];
    const server = await modelServer((req, _body, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { "content-type": PROVIDERS.openai.contentType });
      res.end(PROVIDERS.openai.chunks("m", ["hello"]).join(""));
    });
    const provider = PROVIDERS.openai.make(`${server.url}/v1`);
    cleanup.push(server.close, () => provider.close?.() ?? Promise.resolve());
    await ask(provider);
    expect(seen).toEqual(["Bearer sk-test"]);
  });
});
