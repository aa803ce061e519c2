import { createServer } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createCooldowns } from "./cooldown.ts";
import { LlmError, type LlmFailure } from "./llm-error.ts";
import { createLlmPool } from "./llm-pool.ts";
import type { ChatRequest, LlmProvider } from "./llm-provider.ts";
import { createOllamaProvider } from "./ollama-provider.ts";

const log = pino({ level: "silent" });
const request = { messages: [{ role: "user" as const, content: "hi" }], temperature: 0, log };

/** A provider whose models fail as told, counting the calls that reached it. */
function scripted(failures: Record<string, LlmFailure | undefined>) {
  const calls: string[] = [];
  const provider: LlmProvider = {
    name: "ollama",
    endpoint: "http://models.test:11434",
    async chat({ model }: ChatRequest) {
      calls.push(model);
      const failure = failures[model];
      if (failure) throw new LlmError(failure, model, failure);
      return { text: `answer from ${model}`, model, promptTokens: 1, completionTokens: 1 };
    },
  };
  return { provider, calls };
}

/** A loopback port that refuses connections: a model server that is down. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("the LLM pool's cooldowns", () => {
  it("spends one call on a model server that refuses connections, not one per retry and fallback", async () => {
    const port = await refusedPort();
    const pool = createLlmPool({
      ollama: createOllamaProvider(`http://127.0.0.1:${port}`),
      timeoutMs: 2_000,
      retries: 2,
      retryBaseMs: 1,
    });
    const first = await pool.chat({ ...request, models: ["llama3.2", "qwen2.5", "mistral"] });
    expect(first.ok).toBe(false);
    if (first.ok) return;
    // One real call; the retries and both fallbacks were skipped, and say why.
    expect(first.errors.filter((e) => !e.message.includes("cooling down"))).toHaveLength(1);
    expect(first.errors.every((e) => e.failure === "unreachable")).toBe(true);
    // The next message costs no call at all while the cooldown lasts.
    const second = await pool.chat({ ...request, models: ["llama3.2"] });
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.errors.map((e) => e.message.includes("cooling down"))).toEqual([true]);
  });

  it("cools one failing model after three server errors in a row while its neighbours on the same server answer", async () => {
    const { provider, calls } = scripted({ broken: "server" });
    const pool = createLlmPool({ ollama: provider, timeoutMs: 1_000, retries: 2, retryBaseMs: 1 });
    const first = await pool.chat({ ...request, models: ["broken", "healthy"] });
    expect(first.ok && first.result.model).toBe("healthy");
    expect(calls).toEqual(["broken", "broken", "broken", "healthy"]);
    calls.length = 0;
    const second = await pool.chat({ ...request, models: ["broken", "healthy"] });
    expect(second.ok && second.result.model).toBe("healthy");
    expect(calls).toEqual(["healthy"]);
  });

  it("probes again when the cooldown ends, closes it on success, and doubles it on another failure", () => {
    let now = 0;
    const cooldowns = createCooldowns({ baseMs: 1_000, maxMs: 8_000, now: () => now });
    const server = "http://models.test";
    cooldowns.failed(server, "m", "unreachable");
    expect(cooldowns.check(server, "other")).toMatchObject({ cooling: true, untilMs: 1_000 });
    now = 1_000;
    expect(cooldowns.check(server, "m").cooling).toBe(false);
    cooldowns.failed(server, "m", "unreachable");
    expect(cooldowns.check(server, "m")).toMatchObject({ cooling: true, untilMs: 3_000 });
    now = 3_000;
    cooldowns.succeeded(server, "m");
    cooldowns.failed(server, "m", "timeout");
    expect(cooldowns.check(server, "m").cooling).toBe(false);
    cooldowns.failed(server, "m", "rejected");
    cooldowns.failed(server, "m", "model-not-found");
    expect(cooldowns.check(server, "m").cooling).toBe(false);
  });
});
