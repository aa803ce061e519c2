import { createLogger } from "@konstruct/core";
import { createLlmPool, createOllamaProvider } from "@konstruct/orchestrator";
import { type OllamaDouble, startOllamaDouble } from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Two tenants share one Ollama that serves two requests at a time (OLLAMA_NUM_PARALLEL=2), as a
// GPU does. Tenant A bursts 30 runs; tenant B asks one question right after. The figure printed is
// how many of A's answers came before B's and how long B waited, with and without the pool's
// per-tenant turns.

const log = createLogger({ name: "fairness-test", level: "silent" });
const LATENCY_MS = 40;
let ollama: OllamaDouble;

beforeAll(async () => {
  ollama = await startOllamaDouble({ latencyMs: LATENCY_MS, parallel: 2 });
});

afterAll(async () => {
  await ollama?.close();
});

async function burstThenOne(parallel: number | undefined) {
  const pool = createLlmPool({
    ollama: createOllamaProvider(ollama.url),
    timeoutMs: 30_000,
    retries: 0,
    retryBaseMs: 1,
    ...(parallel ? { parallel: { ollama: parallel } } : {}),
  });
  const finished: string[] = [];
  const ask = (tenantId: string, text: string) =>
    pool
      .chat({ tenantId, models: ["llama3.2"], messages: [{ role: "user", content: text }], temperature: 0, log })
      .then((outcome) => {
        expect(outcome.ok).toBe(true);
        finished.push(tenantId);
      });
  const burst = Array.from({ length: 30 }, (_, i) => ask("tenant-a", `a${i}`));
  await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  const b = ask("tenant-b", "b").then(() => performance.now() - started);
  const [bWaitMs] = await Promise.all([b, ...burst]);
  return { aBeforeB: finished.indexOf("tenant-b"), bWaitMs: bWaitMs as number };
}

describe("tenants competing for one Ollama", () => {
  it("one tenant's burst does not starve another: the other's question waits for one turn, not the whole burst", async () => {
    const unfair = await burstThenOne(undefined);
    const fair = await burstThenOne(2);
    console.log(
      `fairness (Ollama double: 2 at a time, ${LATENCY_MS} ms a call; tenant A bursts 30, then B asks 1): ` +
        `without turns B waited ${unfair.bWaitMs.toFixed(0)} ms behind ${unfair.aBeforeB} of A's answers; ` +
        `with turns ${fair.bWaitMs.toFixed(0)} ms behind ${fair.aBeforeB}`,
    );
    // Without turns Ollama's own queue puts B behind (nearly) all of A's burst.
    expect(unfair.aBeforeB).toBeGreaterThanOrEqual(25);
    // With them B goes next once a place frees: behind the two calls in flight, at most one more.
    expect(fair.aBeforeB).toBeLessThanOrEqual(3);
  });
});
