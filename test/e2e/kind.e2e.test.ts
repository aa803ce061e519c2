/**
 * Konstruct on a real Kubernetes cluster: the install synthesized with charts/values.kind.yaml,
 * on the kind cluster test/e2e/global-setup.ts brings up (scripts/kind.sh --offline), with the
 * Slack Web API and Ollama doubles in place of Slack and a model. One file, run in order: the
 * later blocks disturb the cluster (pod kills, operator failover, an upgrade).
 */
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  apply,
  channelPath,
  cluster,
  type E2eTenant,
  eventually,
  expectOneReplyEach,
  getJson,
  ingress,
  kubectl,
  kubectlAsync,
  openEvents,
  reachable,
  reachableFrom,
  repliesTo,
  repoRoot,
  slackEvent,
  sleep,
  tenantObjects,
} from "./support.ts";

const kind = cluster();
const ns = kind.namespace;

interface Pod {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    nodeName?: string;
    securityContext?: Record<string, unknown>;
    containers: {
      name: string;
      image: string;
      resources?: { requests?: Record<string, string> };
      securityContext?: Record<string, unknown>;
    }[];
    initContainers?: { name: string; securityContext?: Record<string, unknown> }[];
  };
  status: { phase: string; containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] };
}

interface ContainerStatus {
  name: string;
  state: { running?: { startedAt: string }; terminated?: { exitCode: number; startedAt: string; finishedAt: string } };
}

/** A web chat visitor through the Ingress: a session, its event stream, and send. */
async function webchatVisitor(path: string) {
  const base = path.endsWith("/") ? path : `${path}/`;
  const session = await eventually("a web chat session", async () => {
    const answer = await ingress("POST", `${base}session`);
    return answer.status === 200 ? (JSON.parse(answer.body) as { token: string }) : undefined;
  });
  const events = await openEvents(base, session.token);
  const send = (text: string) =>
    ingress("POST", `${base}messages`, {
      headers: { "content-type": "application/json", authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ clientMessageId: randomUUID(), text }),
    });
  return { events, send };
}

describe.skipIf(kind.skip !== null)("Konstruct on kind", () => {
  let slackTenant: E2eTenant;
  let slackPath: string;

  beforeAll(async () => {
    const { tenant, objects } = tenantObjects("e2e-slack");
    apply(...objects);
    slackTenant = tenant;
    slackPath = await channelPath(tenant.name, "slack");
  }, 600_000);

  describe("the install", () => {
    it("runs every pod of the install under the restricted Pod Security profile with a read-only root", () => {
      const namespace = getJson<{ metadata: { labels: Record<string, string> } }>(["namespace", ns]);
      expect(namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
      const pods = getJson<{ items: Pod[] }>(["-n", ns, "pods"]).items;
      expect(pods.length).toBeGreaterThanOrEqual(8);
      for (const pod of pods) {
        for (const container of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
          expect({
            pod: pod.metadata.name,
            container: container.name,
            readOnlyRoot: container.securityContext?.readOnlyRootFilesystem,
          }).toEqual({
            pod: pod.metadata.name,
            container: container.name,
            readOnlyRoot: true,
          });
        }
      }
      // The API server admitted them under `enforce: restricted`: a privileged pod is refused there.
      expect(() =>
        apply({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "privileged-probe", namespace: ns },
          spec: { containers: [{ name: "c", image: "konstruct-kind/none:0", securityContext: { privileged: true } }] },
        }),
      ).toThrow(/violates PodSecurity "restricted/);
    });

    it("ran the migrations Job to completion before any service started", () => {
      const jobs = getJson<{ items: { metadata: { name: string }; status: { completionTime?: string; succeeded?: number } }[] }>([
        "-n",
        ns,
        "jobs",
        "-l",
        "app.kubernetes.io/component=migrate",
      ]).items;
      expect(jobs.length).toBeGreaterThanOrEqual(1);
      expect(jobs.every((j) => (j.status.succeeded ?? 0) >= 1)).toBe(true);
      // When the migrations ran: the kubelet's start and exit times of the Job's successful
      // container. (The Job's own completionTime comes from its controller afterwards, seconds
      // later on a loaded machine, and once made this test fail on a correct install.)
      const migrate = getJson<{ items: Pod[] }>(["-n", ns, "pods", "-l", "app.kubernetes.io/component=migrate"])
        .items.flatMap((p) => p.status.containerStatuses ?? [])
        .flatMap((c) => (c.state.terminated?.exitCode === 0 ? [c.state.terminated] : []));
      expect(migrate.length).toBeGreaterThanOrEqual(1);
      const migrationsStarted = Math.min(...migrate.map((t) => Date.parse(t.startedAt)));
      const migrationsEnded = Math.min(...migrate.map((t) => Date.parse(t.finishedAt)));
      for (const component of ["gateway", "router", "orchestrator"]) {
        const pods = getJson<{ items: Pod[] }>(["-n", ns, "pods", "-l", `app.kubernetes.io/component=${component}`]).items;
        expect(pods.length).toBeGreaterThan(0);
        for (const pod of pods) {
          // What holds a service back: its init container waits until the schema is complete.
          const wait = pod.status.initContainerStatuses?.find((c) => c.name === "wait-for-schema");
          expect(wait?.state.terminated?.exitCode, `${pod.metadata.name} waited for the schema`).toBe(0);
          const main = pod.status.containerStatuses?.find((c) => c.state.running);
          expect(main, `${pod.metadata.name} is running`).toBeDefined();
          const started = Date.parse(main!.state.running!.startedAt);
          expect(started).toBeGreaterThanOrEqual(migrationsStarted);
          // The last commit comes just before the migration process exits; the kubelet's times
          // are whole seconds.
          expect(started).toBeGreaterThanOrEqual(migrationsEnded - 3_000);
        }
      }
    });

    it("schedules Ollama, as synthesized (GPU request, toleration, node selector), on the GPU worker", () => {
      const [pod] = getJson<{ items: Pod[] }>(["-n", ns, "pods", "-l", "app.kubernetes.io/component=ollama"]).items;
      expect(pod).toBeDefined();
      expect(pod!.spec.containers[0]!.resources?.requests?.["nvidia.com/gpu"]).toBe("1");
      const node = getJson<{
        metadata: { labels: Record<string, string> };
        spec: { taints?: { key: string }[] };
        status: { capacity: Record<string, string> };
      }>(["node", pod!.spec.nodeName!]);
      expect(node.metadata.labels["nvidia.com/gpu.present"]).toBe("true");
      expect(node.spec.taints?.map((t) => t.key)).toContain("nvidia.com/gpu");
      expect(node.status.capacity["nvidia.com/gpu"]).toBe("1");
    });
  });

  describe("through the Ingress", () => {
    it("answers a signed Slack event with exactly one threaded reply at the Slack double", async () => {
      const event = slackEvent(slackTenant, slackPath, "what is our refund policy?");
      await event.send();
      const [reply] = await eventually("the Slack reply", () => {
        const replies = repliesTo(event.channel, event.ts);
        return replies.length > 0 ? replies : undefined;
      });
      // The Ollama double answers "[model] <first line of the system prompt> | … | you said: <text>".
      expect(reply!.text).toContain("You are Helper");
      expect(reply!.text).toContain("what is our refund policy?");
      // Slack delivers again when it saw no ack in time: the retry is acknowledged, not answered.
      await event.send();
      await sleep(5_000);
      expect(repliesTo(event.channel, event.ts)).toHaveLength(1);
    });

    it("refuses an unsigned Slack event", async () => {
      const answer = await ingress("POST", slackPath, { headers: { "content-type": "application/json" }, body: "{}" });
      expect(answer.status).toBe(401);
    });

    it("does a web chat round trip with the example tenant globex", async () => {
      const path = await channelPath("globex", "web");
      const page = await ingress("GET", path.endsWith("/") ? path : `${path}/`);
      expect(page.status).toBe(200);
      const visitor = await webchatVisitor(path);
      expect((await visitor.send("What are your opening hours?")).status).toBe(202);
      const reply = await visitor.events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
      expect(JSON.parse(reply.data).text).toContain("You are Hank");
      expect(JSON.parse(reply.data).text).toContain("you said: What are your opening hours?");
      visitor.events.close();
    });

    it("serves a Tenant and Agent applied with kubectl", async () => {
      const { tenant, objects } = tenantObjects(`e2e-new-${randomBytes(2).toString("hex")}`, { slack: false });
      apply(...objects);
      const path = await channelPath(tenant.name, "web");
      const visitor = await webchatVisitor(path);
      expect((await visitor.send("hello new tenant")).status).toBe(202);
      const reply = await visitor.events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
      expect(JSON.parse(reply.data).text).toContain("You are Helper");
      expect(JSON.parse(reply.data).text).toContain("you said: hello new tenant");
      visitor.events.close();
    });
  });

  describe("NetworkPolicies, enforced", () => {
    const stores = [
      `konstruct-postgres.${ns}.svc.cluster.local:5432`,
      `konstruct-redis.${ns}.svc.cluster.local:6379`,
      `konstruct-nats.${ns}.svc.cluster.local:4222`,
    ];

    it("keep a pod in a tenant namespace away from PostgreSQL, Redis and NATS", async () => {
      // The same endpoints are open to the gateway, so "blocked" below is the policy, not a dead port.
      for (const store of stores) expect(reachableFrom(ns, "deployment/konstruct-gateway", "gateway", store)).toBe("open");
      const seen = await reachable("konstruct-globex", [...stores, "kube-dns.kube-system.svc.cluster.local:53"]);
      expect(seen).toEqual({
        [stores[0]!]: "blocked",
        [stores[1]!]: "blocked",
        [stores[2]!]: "blocked",
        "kube-dns.kube-system.svc.cluster.local:53": "open",
      });
    });

    it("let only the Ingress controller reach the gateway, and only the orchestrator reach Ollama", async () => {
      const gateway = `konstruct-gateway.${ns}.svc.cluster.local:80`;
      const ollama = `konstruct-ollama.${ns}.svc.cluster.local:11434`;
      const slackControl = "slack-api.konstruct-doubles.svc.cluster.local:9090";
      // From a namespace with no policies of its own: the control endpoint is open, Konstruct's are not.
      expect(await reachable("konstruct-doubles", [gateway, ollama, slackControl])).toEqual({
        [gateway]: "blocked",
        [ollama]: "blocked",
        [slackControl]: "open",
      });
      expect(reachableFrom(ns, "deployment/konstruct-orchestrator", "orchestrator", ollama)).toBe("open");
      expect(reachableFrom(ns, "deployment/konstruct-gateway", "gateway", ollama)).toBe("blocked");
    });

    it("keep the rules to the internet out of the cluster: port 443 of a pod is not 'the internet'", () => {
      const slackApi = "slack-api.konstruct-doubles.svc.cluster.local:443";
      // The gateway reaches the Slack double through the rule for its namespace (channelApiNamespace)...
      expect(reachableFrom(ns, "deployment/konstruct-gateway", "gateway", slackApi)).toBe("open");
      // ...while Ollama's rule to the model registry (443 anywhere but the cluster) does not reach it.
      expect(reachableFrom(ns, "deployment/konstruct-ollama", "ollama", slackApi)).toBe("blocked");
    });
  });

  describe("failures", () => {
    it("loses and duplicates no reply while the gateway, router and orchestrator pods are deleted", async () => {
      const events = Array.from({ length: 9 }, (_, i) => slackEvent(slackTenant, slackPath, `message ${i} during pod kills`));
      const sending = (async () => {
        const attempts: Promise<number>[] = [];
        for (const event of events) {
          attempts.push(event.send());
          await sleep(2_000);
        }
        return Promise.all(attempts);
      })();
      for (const component of ["gateway", "router", "orchestrator"]) {
        await sleep(4_000);
        await kubectlAsync(["-n", ns, "delete", "pod", "-l", `app.kubernetes.io/component=${component}`, "--wait=false"]);
      }
      await sending;
      await expectOneReplyEach(events, 10_000);
      for (const component of ["gateway", "router", "orchestrator"]) {
        kubectl(["-n", ns, "rollout", "status", `deployment/konstruct-${component}`, "--timeout=300s"]);
      }
    });

    it("hands the operator's leadership to another replica when the leader is killed", async () => {
      kubectl(["-n", ns, "scale", "deployment/konstruct-operator", "--replicas=2"]);
      kubectl(["-n", ns, "rollout", "status", "deployment/konstruct-operator", "--timeout=300s"]);
      const operatorPods = () =>
        getJson<{ items: Pod[] }>(["-n", ns, "pods", "-l", "app.kubernetes.io/component=operator"]).items.map(
          (p) => p.metadata.name,
        );
      const leases = () =>
        getJson<{ items: { metadata: { name: string; namespace: string }; spec: { holderIdentity?: string } }[] }>([
          "leases",
          "-A",
        ]).items;
      const leader = await eventually("an operator leader", () =>
        leases().find((l) => operatorPods().some((p) => l.spec.holderIdentity?.includes(p))),
      );
      const leaderPod = operatorPods().find((p) => leader.spec.holderIdentity!.includes(p))!;
      kubectl(["-n", ns, "delete", "pod", leaderPod, "--grace-period=0", "--force"]);
      await eventually(
        "a new operator leader",
        () => {
          const lease = leases().find(
            (l) => l.metadata.name === leader.metadata.name && l.metadata.namespace === leader.metadata.namespace,
          );
          const holder = lease?.spec.holderIdentity ?? "";
          return holder !== "" && !holder.includes(leaderPod) && operatorPods().some((p) => holder.includes(p))
            ? holder
            : undefined;
        },
        180_000,
      );
      // The new leader reconciles: a Tenant applied now becomes Ready and answers.
      const { tenant, objects } = tenantObjects(`e2e-failover-${randomBytes(2).toString("hex")}`, { slack: false });
      apply(...objects);
      const path = await channelPath(tenant.name, "web");
      const visitor = await webchatVisitor(path);
      expect((await visitor.send("after failover")).status).toBe(202);
      await visitor.events.waitFor((e) => e.event === "message" && JSON.parse(e.data).kind === "agent");
      visitor.events.close();
    });
  });

  describe("upgrade", () => {
    it("rolls out a changed install (new image tag, changed values) with no lost message", async () => {
      // The same image under a new tag: every Deployment and the migrations Job change.
      const [repository] = kind.konstructImage.split(":");
      const upgraded = `${repository}:upgrade-${randomBytes(3).toString("hex")}`;
      execFileSync("docker", ["tag", kind.konstructImage, upgraded]);
      // kind load runs `docker exec --privileged`: through scripts/kind.sh's docker shim where the host needs it.
      const shim = `${repoRoot}.data/kind/${kind.clusterName}/shim`;
      execFileSync(`${repoRoot}.tools/kind/bin/kind`, ["load", "docker-image", upgraded, "--name", kind.clusterName], {
        stdio: "ignore",
        env: { ...process.env, PATH: `${shim}:${process.env.PATH}` },
      });
      const dir = mkdtempSync(join(tmpdir(), "konstruct-upgrade-"));
      writeFileSync(
        join(dir, "upgrade.yaml"),
        JSON.stringify({ logLevel: "debug", images: { konstruct: { tag: upgraded.split(":")[1] } }, operator: { replicas: 2 } }),
      );
      execFileSync(
        "node",
        [`${repoRoot}scripts/kind/render.ts`, "values", join(dir, "values.yaml"), kind.valuesFile, join(dir, "upgrade.yaml")],
        {
          cwd: repoRoot,
        },
      );
      execFileSync("node", [`${repoRoot}charts/main.ts`, "--values", join(dir, "values.yaml"), "--output", join(dir, "dist")], {
        cwd: repoRoot,
      });

      const events = Array.from({ length: 8 }, (_, i) => slackEvent(slackTenant, slackPath, `message ${i} during the upgrade`));
      const sending = (async () => {
        const attempts: Promise<number>[] = [];
        for (const event of events) {
          attempts.push(event.send());
          await sleep(3_000);
        }
        return Promise.all(attempts);
      })();
      await sleep(3_000);
      kubectl(["apply", "-f", join(dir, "dist")]);
      for (const component of ["operator", "gateway", "router", "orchestrator"]) {
        kubectl(["-n", ns, "rollout", "status", `deployment/konstruct-${component}`, "--timeout=600s"]);
      }
      await sending;
      await expectOneReplyEach(events, 5_000);
      for (const component of ["gateway", "router", "orchestrator"]) {
        const pods = getJson<{ items: Pod[] }>(["-n", ns, "pods", "-l", `app.kubernetes.io/component=${component}`]).items;
        const running = pods.filter((p) => p.status.phase === "Running");
        expect(running.length).toBeGreaterThan(0);
        for (const pod of running) expect(pod.spec.containers[0]!.image).toContain(upgraded.split(":")[1]);
      }
    });
  });
});
