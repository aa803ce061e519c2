import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  controlPlaneBinariesBuilt,
  createTestDatabase,
  freePort,
  serverUrl,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// `npm start`'s platform runner (scripts/local/start.ts, what scripts/start.sh execs after the
// set-up) run as a user would, against its own database, NATS and data folder.

const root = fileURLToPath(new URL("../../", import.meta.url));
let db: TestDatabase;
let nats: TestNats;
let dataDir: string;

beforeAll(async () => {
  [db, nats, dataDir] = await Promise.all([
    createTestDatabase("start"),
    startTestNats(),
    mkdtemp(join(tmpdir(), "konstruct-local-")),
  ]);
});
afterAll(async () => {
  await Promise.allSettled([db?.drop(), nats?.stop(), dataDir ? rm(dataDir, { recursive: true, force: true }) : undefined]);
});

/** A running start.ts with its output collected. */
interface Run {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exit: Promise<number | null>;
}

async function runStart(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const ports = {
    KONSTRUCT_GATEWAY_PORT: await freePort(),
    KONSTRUCT_ROUTER_PORT: await freePort(),
    KONSTRUCT_ORCHESTRATOR_PORT: await freePort(),
    KONSTRUCT_OPERATOR_PORT: await freePort(),
    KONSTRUCT_SLACK_SANDBOX_PORT: await freePort(),
  };
  const child = spawn(process.execPath, [join(root, "scripts/local/start.ts"), ...args], {
    env: {
      ...process.env,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      DATABASE_ADMIN_URL: db.adminUrl,
      DATABASE_URL: db.appUrl,
      REDIS_ADMIN_URL: serverUrl("REDIS_ADMIN_URL"),
      NATS_URL: nats.url,
      KONSTRUCT_LOCAL_DATA_DIR: dataDir,
      // Nothing listens here: the agents must say so rather than pretend.
      OLLAMA_URL: `http://127.0.0.1:${await freePort()}`,
      SLACK_API_URL: "",
      NO_COLOR: "1",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      for (const l of listeners) l();
    });
  }
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exit,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern);
          if (match) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${out.slice(-4_000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

describe("npm start without a kube-apiserver", () => {
  it("--check passes with the operator's reconcile functions reading examples/ directly", async () => {
    const run = await runStart(["--check"], { KONSTRUCT_LOCAL_OPERATOR: "files" });
    const code = await run.exit;
    const out = run.output();
    expect(code, out.slice(-4_000)).toBe(0);
    expect(out).toMatch(/the operator's reconcile functions read examples\/ directly/);
    expect(out).toMatch(/Reconciled acme, globex: Ready/);
    expect(out).toMatch(/PASS slack/);
    expect(out).toMatch(/PASS webchat/);
  }, 240_000);

  it("stops its services even when it is killed with SIGKILL", async () => {
    const run = await runStart([], { KONSTRUCT_LOCAL_OPERATOR: "files" });
    await run.waitFor(/Press Ctrl-C to stop/, 120_000);
    const pids = [...run.output().matchAll(/(?:gateway|router|orchestrator) is ready \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(3);
    run.child.kill("SIGKILL");
    await run.exit;
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 30_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pids.filter(alive)).toEqual([]);
  }, 180_000);

  it("refuses a taken port, naming it and the variable that moves it", async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
    try {
      const run = await runStart(["--check"], { KONSTRUCT_LOCAL_OPERATOR: "files", KONSTRUCT_GATEWAY_PORT: String(port) });
      expect(await run.exit).toBe(1);
      expect(run.output()).toContain(
        `port ${port} (the gateway (webhooks and web chat)) is already in use; stop what uses it or choose another port with KONSTRUCT_GATEWAY_PORT=<port>`,
      );
    } finally {
      blocker.close();
    }
  }, 60_000);
});

describe.skipIf(!controlPlaneBinariesBuilt())("npm start", () => {
  it("--check answers a signed Slack event and a web chat message, honestly without a model, and exits 0", async () => {
    const run = await runStart(["--check"]);
    const code = await run.exit;
    const out = run.output();
    expect(code, out.slice(-4_000)).toBe(0);
    expect(out).toMatch(/PASS.* slack: one reply in the thread to 4 deliveries of the event/);
    expect(out).toMatch(/PASS.* webchat: the agent answered/);
    expect(out).toMatch(/No model is reachable/);
    expect(out).toMatch(/no language model is reachable/);
    expect(out).toMatch(/web chat \(support-chat\): http:\/\/127\.0\.0\.1:\d+\/webchat\/[0-9a-f-]{36}\//);
  }, 240_000);

  it("restarts a killed service, then stops everything cleanly on Ctrl-C", async () => {
    const run = await runStart([]);
    try {
      await run.waitFor(/Press Ctrl-C to stop/, 180_000);
      const [, pid] = await run.waitFor(/router is ready \(pid (\d+)\)/, 1_000);
      process.kill(Number(pid), "SIGKILL");
      await run.waitFor(/router\s*\|\s*exited \(SIGKILL\); restarting in \d+ ms \(restart 1 of 3\)/, 10_000);
      // The new router process comes up and logs ready again.
      await run.waitFor(/router\s*\|\s*info router ready[\s\S]*router\s*\|\s*info router ready/, 30_000);
      run.child.kill("SIGINT");
      expect(await run.exit).toBe(0);
      expect(run.output()).toMatch(/Stopped\. Data stays in \.data\//);
      // Nothing it started is left running: its ports are free again.
      for (const name of ["gateway", "router", "orchestrator", "operator"]) {
        expect(run.output()).toMatch(new RegExp(`${name}\\s*\\|\\s*.*(stopped|shutting down)`));
      }
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGINT");
    }
  }, 300_000);
});
