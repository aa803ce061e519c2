import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { type ControlPlane, controlPlaneBinariesBuilt, startControlPlane } from "@konstruct/control-plane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Integration test of the test control plane itself: a real kube-apiserver over a real etcd,
// driven with kubectl the way an engineer would poke at a cluster.

const built = controlPlaneBinariesBuilt();
const notBuilt = "skipped: kube-apiserver and etcd are not built; run scripts/build-control-plane.sh";
if (!built) console.warn(`control-plane tests ${notBuilt}`);

/** The Kubernetes version scripts/control-plane/go.mod pins, which the build stamps into the binary. */
function pinnedKubernetesVersion(): string {
  const goMod = readFileSync(new URL("../../scripts/control-plane/go.mod", import.meta.url), "utf8");
  const match = /^\s*k8s\.io\/kubernetes\s+(v\S+)/m.exec(goMod);
  if (match?.[1] === undefined) throw new Error("scripts/control-plane/go.mod does not require k8s.io/kubernetes");
  return match[1];
}

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const GROUP = "konstruct.test";

const widgetCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `widgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                required: ["replicas", "minReplicas"],
                properties: {
                  replicas: { type: "integer", minimum: 0 },
                  minReplicas: { type: "integer", minimum: 0 },
                },
                "x-kubernetes-validations": [
                  {
                    rule: "self.minReplicas <= self.replicas",
                    message: "minReplicas must not exceed replicas",
                    fieldPath: ".minReplicas",
                  },
                ],
              },
            },
          },
        },
      },
    ],
  },
};

function widget(namespace: string, name: string, replicas: number, minReplicas: number): object {
  return {
    apiVersion: `${GROUP}/v1`,
    kind: "Widget",
    metadata: { namespace, name },
    spec: { replicas, minReplicas },
  };
}

describe.skipIf(!built)(`test control plane (kube-apiserver + etcd)${built ? "" : ` — ${notBuilt}`}`, () => {
  let cp: ControlPlane;
  const namespace = "control-plane-test";

  /** Runs kubectl against `kubeconfig`, with stdin `input` serialized as JSON; never throws on a non-zero exit. */
  function kubectl(kubeconfig: string, args: readonly string[], input?: object): Promise<Result> {
    return new Promise((resolve, reject) => {
      // A private discovery cache: a fresh CRD must be seen at once, and $HOME stays clean.
      const child = spawn("kubectl", [`--kubeconfig=${kubeconfig}`, `--cache-dir=${cp.dir}/kubectl-cache`, ...args], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
      });
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input === undefined ? "" : JSON.stringify(input));
    });
  }

  async function admin(args: readonly string[], input?: object): Promise<string> {
    const result = await kubectl(cp.adminKubeconfigPath, args, input);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr}`);
    return result.stdout;
  }

  beforeAll(async () => {
    cp = await startControlPlane();
    await admin(["create", "-f", "-"], { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    await admin(["apply", "-f", "-"], widgetCrd);
    await admin(["wait", "--for=condition=Established", `crd/widgets.${GROUP}`, "--timeout=30s"]);
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
  }, 30_000);

  it("reports the Kubernetes version the build stamped", async () => {
    const version = JSON.parse(await admin(["get", "--raw", "/version"])) as Record<string, string>;
    const pinned = pinnedKubernetesVersion();
    expect(version.gitVersion).toBe(pinned);
    expect(`v${version.major}.${version.minor}`).toBe(pinned.replace(/\.\d+$/, ""));
  });

  it("validates custom resources with CEL and names the offending field", async () => {
    await admin(["create", "-f", "-"], widget(namespace, "good", 3, 1));

    const rejected = await kubectl(cp.adminKubeconfigPath, ["create", "-f", "-"], widget(namespace, "bad", 1, 3));
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toContain("spec.minReplicas");
    expect(rejected.stderr).toContain("minReplicas must not exceed replicas");
    const stored = await kubectl(cp.adminKubeconfigPath, ["get", "widget", "bad", "-n", namespace]);
    expect(stored.stderr).toContain("NotFound");
  });

  it("authenticates an issued identity and enforces only the RBAC a test grants it", async () => {
    const user = "konstruct-operator-test";
    await admin(["apply", "-f", "-"], {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "widget-reader" },
      rules: [{ apiGroups: [GROUP], resources: ["widgets"], verbs: ["get", "list", "watch"] }],
    });
    await admin(["apply", "-f", "-"], {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "widget-reader" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "widget-reader" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    });
    const kubeconfig = await cp.writeKubeconfigFor(user, ["konstruct:testers"]);

    const whoami = await kubectl(kubeconfig, ["auth", "whoami", "-o", "json"]);
    expect(whoami.code, whoami.stderr).toBe(0);
    const status = JSON.parse(whoami.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
    expect(status.status.userInfo.username).toBe(user);
    expect(status.status.userInfo.groups).toContain("konstruct:testers");

    const widgets = await kubectl(kubeconfig, ["get", "widgets", "-n", namespace, "-o", "name"]);
    expect(widgets.code, widgets.stderr).toBe(0);
    expect(widgets.stdout.trim()).toBe(`widget.${GROUP}/good`);

    const secrets = await kubectl(kubeconfig, ["get", "secrets", "-n", namespace]);
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toContain("Forbidden");
    expect(secrets.stderr).toContain(`User "${user}" cannot list resource "secrets"`);
  });

  it("restarts kube-apiserver on the same address with the data in etcd intact", async () => {
    const before = JSON.parse(await admin(["get", "widget", "good", "-n", namespace, "-o", "json"])) as {
      metadata: { uid: string; resourceVersion: string };
    };
    const server = cp.server;

    await cp.stopApiServer();
    const down = await kubectl(cp.adminKubeconfigPath, ["get", "--raw", "/readyz", "--request-timeout=2s"]);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/refused/);

    await cp.startApiServer();
    expect(cp.server).toBe(server);
    const after = JSON.parse(await admin(["get", "widget", "good", "-n", namespace, "-o", "json"])) as {
      metadata: { uid: string; resourceVersion: string };
    };
    expect(after.metadata).toMatchObject(before.metadata);

    // restartApiServer() is the same pair, for tests that do not look at the outage.
    await cp.restartApiServer();
    expect(await admin(["get", "--raw", "/readyz"])).toBe("ok");
    await admin(["create", "-f", "-"], widget(namespace, "after-restart", 2, 2));
  }, 90_000);

  it("stop() kills both processes and removes its directory", async () => {
    const { dir, server, etcdEndpoint } = cp;
    await cp.stop();
    expect(existsSync(dir)).toBe(false);
    for (const url of [server, etcdEndpoint]) {
      const port = Number(new URL(url).port);
      await expect(
        new Promise((resolve, reject) => connect(port, "127.0.0.1").on("connect", resolve).on("error", reject)),
        url,
      ).rejects.toThrow(/ECONNREFUSED/);
    }
    await cp.stop(); // a second stop is harmless
  }, 30_000);
});
