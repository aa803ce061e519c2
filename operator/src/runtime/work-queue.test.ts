import { describe, expect, it } from "vitest";
import { WorkQueue } from "./work-queue.ts";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("WorkQueue", () => {
  it("never runs one key twice at once, and runs it once more when added while in flight", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const queue = new WorkQueue({
      concurrency: 4,
      handler: async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await tick(20);
        running--;
        return undefined;
      },
    });
    queue.add("a");
    await tick();
    for (let i = 0; i < 10; i++) queue.add("a");
    await tick(100);
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it("de-duplicates queued keys and bounds concurrency", async () => {
    let running = 0;
    let maxRunning = 0;
    const seen: string[] = [];
    const queue = new WorkQueue({
      concurrency: 2,
      handler: async (key) => {
        seen.push(key);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick(10);
        running--;
        return undefined;
      },
    });
    for (const k of ["a", "b", "c", "c", "d", "d", "d"]) queue.add(k);
    await tick(100);
    expect(seen.sort()).toEqual(["a", "b", "c", "d"]);
    expect(maxRunning).toBe(2);
  });

  it("retries failures with growing, jittered backoff", async () => {
    const times: number[] = [];
    const queue = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 10,
      handler: async () => {
        times.push(performance.now());
        if (times.length < 4) throw new Error("not yet");
        return undefined;
      },
    });
    queue.add("k");
    await tick(300);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps[2]).toBeGreaterThan(gaps[0] as number);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const d = queue.backoff(attempt);
      expect(d).toBeGreaterThanOrEqual(10 * 2 ** (attempt - 1) * 0.5);
      expect(d).toBeLessThanOrEqual(10 * 2 ** (attempt - 1) * 1.5);
    }
    await queue.shutdown();
  });
});
