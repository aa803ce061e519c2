import { describe, expect, it } from "vitest";
import { createFairShare } from "./fair-share.ts";

/** A call that finishes when told to, recording when it started. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { done, open };
}

describe("fair share of a model server", () => {
  it("runs at most `parallel` calls and gives freed places to waiting tenants in turn", async () => {
    const share = createFairShare(2);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const call = (tenant: string, id: string) =>
      share.run(tenant, async () => {
        started.push(id);
        const g = gate();
        gates.set(id, g);
        await g.done;
      });
    const all = [...["a1", "a2", "a3", "a4", "a5"].map((id) => call("a", id)), call("b", "b1"), call("b", "b2"), call("c", "c1")];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(["a1", "a2"]);
    expect([share.inFlight, share.queued]).toEqual([2, 6]);
    // Each freed place goes to the next tenant in turn: a (queued first), b, c, a, b, a…
    for (const id of ["a1", "a2", "a3", "b1", "c1", "a4", "b2", "a5"]) {
      gates.get(id)?.open();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    expect(started).toEqual(["a1", "a2", "a3", "b1", "c1", "a4", "b2", "a5"]);
    expect([share.inFlight, share.queued]).toEqual([0, 0]);
  });

  it("frees the place of a call that fails", async () => {
    const share = createFairShare(1);
    await expect(share.run("a", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await share.run("b", async () => "ok")).toBe("ok");
    expect(share.inFlight).toBe(0);
  });
});
