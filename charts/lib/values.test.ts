import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { synthesize } from "./konstruct-chart.ts";
import { loadValues, parseValues, ValuesError } from "./values.ts";

const chartsDir = fileURLToPath(new URL("..", import.meta.url));

const problemsOf = (input: unknown): readonly string[] => {
  try {
    parseValues(input);
  } catch (error) {
    if (error instanceof ValuesError) return error.problems;
    throw error;
  }
  throw new Error("the values were accepted");
};

describe("values", () => {
  it("documents every default in charts/values.example.yaml", () => {
    expect(loadValues(join(chartsDir, "values.example.yaml"))).toEqual(parseValues({}));
  });

  it("accepts the kind values, which request the GPU that scripts/kind.sh makes the GPU-labelled node advertise", () => {
    const kind = loadValues(join(chartsDir, "values.kind.yaml"));
    expect(kind.ollama.gpu).toMatchObject({ count: 1, nodeSelector: { "nvidia.com/gpu.present": "true" } });
    expect(kind.images.konstruct.pullPolicy).toBe("Never");
    expect(synthesize(kind).length).toBeGreaterThan(30);
  });

  it("names each bad field by its dotted path", () => {
    expect(problemsOf({ ollama: { gpu: { count: -1 } } })).toEqual([expect.stringMatching(/^ollama\.gpu\.count: /)]);
    expect(problemsOf({ gateway: { replica: 3 } })).toEqual(["gateway.replica is not a known field (a typo?)"]);
    expect(problemsOf({ images: { nats: { tag: "" } }, domain: "not a domain" })).toEqual([
      expect.stringMatching(/^domain: /),
      expect.stringMatching(/^images\.nats\.tag: /),
    ]);
    expect(problemsOf({ postgres: { mode: "managed" } })).toEqual([expect.stringMatching(/^postgres\.mode: /)]);
    expect(problemsOf({ gateway: { resources: { limits: { memory: "lots" } } } })).toEqual([
      expect.stringMatching(/^gateway\.resources\.limits\.memory: /),
    ]);
  });

  it("checks fields that depend on each other", () => {
    expect(problemsOf({ nats: { mode: "external" } })).toEqual(["nats.url is required when nats.mode is external"]);
    expect(problemsOf({ ollama: { enabled: false } })).toEqual(["ollama.url is required when ollama.enabled is false"]);
    expect(problemsOf({ router: { autoscaling: { minReplicas: 6, maxReplicas: 3 } } })).toEqual([
      "router.autoscaling.minReplicas must not exceed router.autoscaling.maxReplicas",
    ]);
  });

  it("replaces a default record rather than merging into it", () => {
    expect(parseValues({ ollama: { gpu: { nodeSelector: { pool: "gpu" } } } }).ollama.gpu.nodeSelector).toEqual({ pool: "gpu" });
  });

  it("reports a file that is not YAML, with its path", () => {
    const dir = mkdtempSync(join(tmpdir(), "konstruct-values-"));
    const file = join(dir, "values.yaml");
    writeFileSync(file, "domain: [unclosed\n");
    expect(() => loadValues(file)).toThrow(new RegExp(`${file} is invalid`));
  });
});
