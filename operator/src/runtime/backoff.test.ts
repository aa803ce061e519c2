import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.ts";

describe("Backoff", () => {
  it("doubles from the base to the cap, each delay in the upper half of its ceiling", () => {
    const ceilings = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map((s) => s * 1000);
    const low = new Backoff({ baseMs: 1_000, maxMs: 300_000 }, () => 0);
    const high = new Backoff({ baseMs: 1_000, maxMs: 300_000 }, () => 0.999_999);
    ceilings.forEach((ceiling, i) => {
      expect(low.delay(i + 1)).toBe(ceiling / 2);
      expect(high.delay(i + 1)).toBe(ceiling);
    });
    // No overflow to Infinity or NaN after a very long outage.
    expect(high.delay(5_000)).toBe(300_000);
  });

  it("counts consecutive failures per key; forget starts one key over and leaves the others", () => {
    const backoff = new Backoff({ baseMs: 100, maxMs: 10_000 }, () => 0);
    expect([1, 2, 3].map(() => backoff.fail("a"))).toEqual([
      { attempt: 1, delayMs: 50 },
      { attempt: 2, delayMs: 100 },
      { attempt: 3, delayMs: 200 },
    ]);
    expect(backoff.fail("b")).toEqual({ attempt: 1, delayMs: 50 });
    backoff.forget("a");
    expect(backoff.failures("a")).toBe(0);
    expect(backoff.failures("b")).toBe(1);
    expect(backoff.fail("a")).toEqual({ attempt: 1, delayMs: 50 });
    expect([...backoff.keys()].sort()).toEqual(["a", "b"]);
  });
});
