import { createOllamaProvider, createOpenAiProvider, type LlmProvider } from "@konstruct/orchestrator";
import { type OllamaDouble, ollamaDoubleReply, startOllamaDouble } from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Both providers against the Ollama double's two APIs — Ollama's own `/api/chat` (NDJSON) and
// its OpenAI-compatible `/v1/chat/completions` (server-sent events) — writing slowly: the pieces
// arrive one by one while the answer is still being written, and add up to the whole answer.

const CHUNK_MS = 40;
let ollama: OllamaDouble;

beforeAll(async () => {
  ollama = await startOllamaDouble({ chunkDelayMs: CHUNK_MS });
});

afterAll(async () => {
  await ollama?.close();
});

const messages = [
  { role: "system" as const, content: "You are Ada." },
  { role: "user" as const, content: "stream this answer to me" },
];

describe.each([
  ["ollama", "ollama", () => createOllamaProvider(ollama.url)],
  ["openai", "openai", () => createOpenAiProvider(`${ollama.url}/v1`, "sk-test")],
] as const)("the %s provider against the double", (_name, api, make) => {
  it("hands on each piece while the model still writes, and counts the tokens the last chunk reports", async () => {
    const provider: LlmProvider = make();
    const pieces: { text: string; at: number }[] = [];
    const started = Date.now();
    const result = await provider.chat({
      model: "llama3.2",
      messages,
      temperature: 0,
      timeoutMs: 10_000,
      onText: (text) => pieces.push({ text, at: Date.now() - started }),
    });
    await provider.close?.();
    const expected = ollamaDoubleReply("llama3.2", messages);
    expect(result.text).toBe(expected);
    expect(pieces.map((p) => p.text).join("")).toBe(expected);
    expect(pieces.length).toBe(expected.split(" ").length);
    // The first piece came long before the last: read as written, not after the whole answer.
    expect((pieces.at(-1)?.at ?? 0) - (pieces[0]?.at ?? 0)).toBeGreaterThanOrEqual(CHUNK_MS * (pieces.length - 2));
    expect(result.completionTokens).toBe(expected.split(/\s+/).length);
    expect(result.promptTokens).toBeGreaterThan(0);
    expect(ollama.requests.at(-1)).toMatchObject({ api, stream: true, status: 200 });
  });
});

describe("the ollama provider with nobody reading the pieces (Slack and the rest post once complete)", () => {
  it("asks for the whole answer in one object, and counts its tokens", async () => {
    const provider = createOllamaProvider(ollama.url);
    const result = await provider.chat({ model: "llama3.2", messages, temperature: 0, timeoutMs: 10_000 });
    await provider.close?.();
    const expected = ollamaDoubleReply("llama3.2", messages);
    expect(result.text).toBe(expected);
    expect(result.completionTokens).toBe(expected.split(/\s+/).length);
    expect(result.promptTokens).toBeGreaterThan(0);
    expect(ollama.requests.at(-1)).toMatchObject({ api: "ollama", stream: false, status: 200 });
  });
});
