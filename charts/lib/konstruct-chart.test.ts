import { PORT_VARIABLE } from "@konstruct/core/listen";
import {
  OPERATOR_NODE_OPTIONS,
  OPERATOR_RBAC_RULES,
  PORTAL_AGENT_EDITOR_CLUSTER_ROLE,
  PORTAL_AGENT_EDITOR_RULES,
  PORTAL_IMPERSONATION_CLUSTER_ROLE,
  PORTAL_IMPERSONATION_POLICY,
  PORTAL_TENANT_POLICY,
} from "@konstruct/operator";
import { describe, expect, it } from "vitest";
import { synthesize } from "./konstruct-chart.ts";
import { parseValues, type Values } from "./values.ts";

type Obj = Record<string, any>;

const defaults = parseValues({});
const objects = synthesize(defaults);
const find = (kind: string, name: string, list: Obj[] = objects): Obj => {
  const found = list.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the synthesized install`);
  return found;
};
const podSpec = (o: Obj): Obj => o.spec.template.spec;
const workloads = objects.filter((o) => ["Deployment", "StatefulSet", "Job"].includes(o.kind));

describe("the synthesized install", () => {
  it("puts the CRDs first and the namespace before anything namespaced", () => {
    expect(objects.slice(0, 2).map((o) => o.metadata.name)).toEqual(["tenants.konstruct.io", "agents.konstruct.io"]);
    expect(objects[2]).toMatchObject({ kind: "Namespace", metadata: { name: "konstruct" } });
    expect(new Set(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`)).size).toBe(objects.length);
  });

  it("runs Ollama on a GPU node: GPU limit, tolerations, node selection, models pulled before it serves", () => {
    const ollama = find("Deployment", "konstruct-ollama");
    const spec = podSpec(ollama);
    expect(spec.containers[0].resources.limits["nvidia.com/gpu"]).toBe(1);
    expect(spec.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    expect(spec.nodeSelector).toEqual({ "nvidia.com/gpu.present": "true" });
    expect(spec.initContainers[0].command).toEqual(expect.arrayContaining(["llama3.2:3b"]));
    expect(spec.volumes).toContainEqual({ name: "models", persistentVolumeClaim: { claimName: "konstruct-ollama-models" } });
    expect(ollama.spec.strategy.type).toBe("Recreate");
  });

  it("takes GPU settings from values, and drops the GPU limit when count is 0", () => {
    const custom = synthesize(
      parseValues({
        ollama: {
          models: ["qwen2.5:0.5b"],
          gpu: {
            count: 2,
            resourceName: "amd.com/gpu",
            nodeSelector: { pool: "gpu" },
            tolerations: [{ key: "gpu", operator: "Equal", value: "yes", effect: "NoExecute" }],
          },
        },
      }),
    );
    const spec = podSpec(find("Deployment", "konstruct-ollama", custom));
    expect(spec.containers[0].resources.limits).toMatchObject({ "amd.com/gpu": 2 });
    expect(spec.containers[0].resources.limits).not.toHaveProperty("nvidia.com/gpu");
    expect(spec.nodeSelector).toEqual({ pool: "gpu" });
    expect(spec.tolerations).toEqual([{ key: "gpu", operator: "Equal", value: "yes", effect: "NoExecute" }]);
    const cpu = synthesize(parseValues({ ollama: { gpu: { count: 0 } } }));
    expect(Object.keys(podSpec(find("Deployment", "konstruct-ollama", cpu)).containers[0].resources.limits)).toEqual([
      "cpu",
      "memory",
    ]);
  });

  it("probes every Konstruct service on /readyz and /healthz of its health port", () => {
    for (const [name, port] of [
      ["konstruct-gateway", 8080],
      ["konstruct-router", 8081],
      ["konstruct-orchestrator", 8081],
      ["konstruct-operator", 8081],
      ["konstruct-portal", 8080],
    ] as const) {
      const container = podSpec(find("Deployment", name)).containers[0];
      expect(container.readinessProbe.httpGet.path, name).toBe("/readyz");
      expect(container.livenessProbe.httpGet.path, name).toBe("/healthz");
      const portName = container.readinessProbe.httpGet.port;
      expect(container.ports.find((p: Obj) => p.name === portName).containerPort, name).toBe(port);
      expect(container.resources.requests.cpu, name).toBeDefined();
      expect(container.resources.limits.memory, name).toBeDefined();
    }
  });

  it("gives every container the restricted security context, and no pod a token it does not need", () => {
    expect(workloads.length).toBeGreaterThanOrEqual(9);
    for (const w of workloads) {
      const spec = podSpec(w);
      expect(spec.securityContext, w.metadata.name).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const where = `${w.metadata.name}/${c.name}`;
        expect(c.securityContext, where).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
        expect(c.securityContext.runAsUser, where).toBeGreaterThan(0);
        expect(c.image, where).toMatch(/:[A-Za-z0-9_][A-Za-z0-9_.-]*$/);
      }
      // The operator and the portal call the Kubernetes API; nothing else gets a token.
      expect(spec.automountServiceAccountToken ?? true, w.metadata.name).toBe(
        w.metadata.name === "konstruct-operator" || w.metadata.name === "konstruct-portal",
      );
    }
  });

  it("gives the portal's access its roles and admission policies, and the operator the portal's address", () => {
    expect(find("ClusterRole", PORTAL_AGENT_EDITOR_CLUSTER_ROLE).rules).toEqual(PORTAL_AGENT_EDITOR_RULES);
    for (const name of [PORTAL_TENANT_POLICY, PORTAL_IMPERSONATION_POLICY]) {
      expect(find("ValidatingAdmissionPolicy", name).spec.failurePolicy).toBe("Fail");
      expect(find("ValidatingAdmissionPolicyBinding", name).spec).toEqual({ policyName: name, validationActions: ["Deny"] });
    }
    // The impersonation policy names the portal's ServiceAccount of this install.
    expect(JSON.stringify(find("ValidatingAdmissionPolicy", PORTAL_IMPERSONATION_POLICY).spec)).toContain(
      "object.subjects[0].name == 'konstruct-portal' && object.subjects[0].namespace == 'konstruct'",
    );
    const env = podSpec(find("Deployment", "konstruct-operator")).containers[0].env;
    expect(env).toContainEqual({ name: "PORTAL_PUBLIC_URL", value: "https://konstruct.example.com" });
    expect(env).toContainEqual({ name: "PORTAL_SERVICE_ACCOUNT", value: "konstruct-portal" });
    const custom = podSpec(
      find(
        "Deployment",
        "konstruct-operator",
        synthesize(parseValues({ operator: { portalPublicUrl: "https://portal.acme.example" } })),
      ),
    );
    expect(custom.containers[0].env).toContainEqual({ name: "PORTAL_PUBLIC_URL", value: "https://portal.acme.example" });
  });

  it("runs the portal as the ServiceAccount and at the addresses the operator is told", () => {
    const custom = synthesize(
      parseValues({
        operator: {
          portalPublicUrl: "https://portal.acme.example",
          portalServiceAccount: "people-portal",
          publicBaseUrl: "https://hooks.acme.example",
        },
      }),
    );
    const operatorEnv = podSpec(find("Deployment", "konstruct-operator", custom)).containers[0].env;
    const portal = podSpec(find("Deployment", "konstruct-portal", custom));
    // The operator's invitation links must pass the portal's Origin check: one URL for both.
    expect(operatorEnv).toContainEqual({ name: "PORTAL_PUBLIC_URL", value: "https://portal.acme.example" });
    expect(portal.containers[0].env).toContainEqual({ name: "PORTAL_PUBLIC_URL", value: "https://portal.acme.example" });
    // The channels page shows webhooks where the operator registered them.
    expect(operatorEnv).toContainEqual({ name: "PUBLIC_BASE_URL", value: "https://hooks.acme.example" });
    expect(portal.containers[0].env).toContainEqual({ name: "GATEWAY_PUBLIC_URL", value: "https://hooks.acme.example" });
    // The ServiceAccount the operator lets impersonate is the one the portal runs as.
    expect(operatorEnv).toContainEqual({ name: "PORTAL_SERVICE_ACCOUNT", value: "people-portal" });
    expect(portal.serviceAccountName).toBe("people-portal");
    expect(find("ServiceAccount", "people-portal", custom).metadata.namespace).toBe("konstruct");
    expect(custom.filter((o) => o.kind === "ServiceAccount" && o.metadata.name === "konstruct-portal")).toEqual([]);
    expect(JSON.stringify(find("ValidatingAdmissionPolicy", PORTAL_IMPERSONATION_POLICY, custom).spec)).toContain(
      "object.subjects[0].name == 'people-portal'",
    );
  });

  it("grants the operator exactly the rules its package exports, with the Lease only in the install namespace", () => {
    const clusterRole = find("ClusterRole", "konstruct-operator");
    const role = find("Role", "konstruct-operator-leader-election");
    const granted = [...clusterRole.rules, ...role.rules];
    expect(granted).toHaveLength(OPERATOR_RBAC_RULES.length);
    for (const rule of OPERATOR_RBAC_RULES) expect(granted).toContainEqual(rule);
    expect(role.metadata.namespace).toBe("konstruct");
    expect(role.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
    ]);
    expect(clusterRole.rules.flatMap((r: Obj) => r.resources)).not.toContain("leases");
    // Least privilege: no wildcards, no reading every Secret, never impersonate, and escalate
    // and bind only on named roles (escalate: the portal's impersonation role alone).
    for (const rule of clusterRole.rules) {
      expect(rule.verbs).not.toContain("*");
      expect(rule.resources).not.toContain("*");
      expect(rule.verbs).not.toContain("impersonate");
      if (rule.verbs.includes("escalate") || rule.verbs.includes("bind")) {
        expect(rule.verbs.length).toBe(1);
        expect(rule.resourceNames?.length).toBeGreaterThan(0);
      }
      if (rule.verbs.includes("escalate")) expect(rule.resourceNames).toEqual([PORTAL_IMPERSONATION_CLUSTER_ROLE]);
      if (rule.resources.includes("secrets")) expect(rule.verbs).toEqual(expect.not.arrayContaining(["list", "watch"]));
    }
    const binding = find("ClusterRoleBinding", "konstruct-operator");
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "konstruct-operator", namespace: "konstruct" }]);
    const operator = podSpec(find("Deployment", "konstruct-operator"));
    expect(operator.serviceAccountName).toBe("konstruct-operator");
    // The Lease the Role allows is the one the operator campaigns for.
    const env = operator.containers[0].env;
    expect(env).toContainEqual({ name: "LEASE_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } });
    expect(env).toContainEqual({ name: PORT_VARIABLE, value: "8081" });
    // The heap bound that keeps RSS under 200 MB at 500 Tenants, as the operator benchmark runs it.
    expect(env).toContainEqual({ name: "NODE_OPTIONS", value: OPERATOR_NODE_OPTIONS });
  });

  it("orders the schema before the services: the Job migrates, every user of the schema waits for it", () => {
    const job = objects.find((o) => o.kind === "Job")!;
    expect(job.metadata.name).toMatch(/^konstruct-migrate-[0-9a-f]{8}$/);
    const migrate = podSpec(job).containers[0];
    expect(migrate.args).toEqual(["migrate"]);
    expect(migrate.env.map((e: Obj) => e.name)).toEqual(
      expect.arrayContaining(["DATABASE_ADMIN_URL", "DATABASE_URL", "DATABASE_OPERATOR_URL"]),
    );
    for (const name of [
      "konstruct-gateway",
      "konstruct-router",
      "konstruct-orchestrator",
      "konstruct-operator",
      "konstruct-portal",
    ]) {
      const init = podSpec(find("Deployment", name)).initContainers;
      expect(
        init.map((c: Obj) => c.args[0]),
        name,
      ).toEqual(["wait-for-schema"]);
      expect(
        init[0].env.map((e: Obj) => e.name),
        name,
      ).toContain("DATABASE_URL");
    }
    // A new image is a new Job (a Job's template is immutable), so upgrades migrate again.
    const upgraded = synthesize(parseValues({ images: { konstruct: { tag: "0.2.0" } } })).find((o) => o.kind === "Job")!;
    expect(upgraded.metadata.name).not.toBe(job.metadata.name);
  });

  it("gives a service Node flags only when its values ask, and refuses what is not a flag", () => {
    const envOf = (list: Obj[], name: string) => podSpec(find("Deployment", name, list)).containers[0].env as Obj[];
    expect(envOf(objects, "konstruct-router").map((e) => e.name)).not.toContain("NODE_OPTIONS");
    const tuned = synthesize(parseValues({ router: { nodeOptions: "--max-semi-space-size=2" } }));
    expect(envOf(tuned, "konstruct-router")).toContainEqual({ name: "NODE_OPTIONS", value: "--max-semi-space-size=2" });
    expect(envOf(tuned, "konstruct-gateway").map((e) => e.name)).not.toContain("NODE_OPTIONS");
    for (const bad of ["--require=/tmp/x.js\n", "-r /tmp/x.js", "--max-semi-space-size=2 ; rm"]) {
      expect(() => parseValues({ router: { nodeOptions: bad } })).toThrow(/router\.nodeOptions/);
    }
  });

  it("passes the services the configuration they read, and no admin credentials", () => {
    const envOf = (name: string) => podSpec(find("Deployment", name)).containers[0].env.map((e: Obj) => e.name);
    expect(envOf("konstruct-gateway")).toEqual(
      expect.arrayContaining([
        "DATABASE_URL",
        "REDIS_URL",
        "NATS_URL",
        "SLACK_API_URL",
        "SLACK_SIGNING_SECRET",
        "KONSTRUCT_SECRET_KEY",
      ]),
    );
    expect(envOf("konstruct-orchestrator")).toContain("OLLAMA_URL");
    // Each service's port under the name its config.ts reads, matching the probed container port.
    expect(envOf("konstruct-gateway")).toContain(PORT_VARIABLE);
    expect(envOf("konstruct-router")).toContain(PORT_VARIABLE);
    expect(envOf("konstruct-orchestrator")).toContain(PORT_VARIABLE);
    expect(envOf("konstruct-orchestrator")).not.toContain("KONSTRUCT_SECRET_KEY");
    expect(envOf("konstruct-portal")).toEqual(
      expect.arrayContaining([
        "DATABASE_URL",
        "REDIS_URL",
        "OLLAMA_URL",
        "PORTAL_PUBLIC_URL",
        "GATEWAY_PUBLIC_URL",
        PORT_VARIABLE,
      ]),
    );
    expect(envOf("konstruct-portal")).not.toContain("KONSTRUCT_SECRET_KEY");
    expect(envOf("konstruct-portal")).not.toContain("NATS_URL");
    for (const name of ["konstruct-gateway", "konstruct-router", "konstruct-orchestrator", "konstruct-portal"]) {
      expect(envOf(name)).not.toContain("DATABASE_ADMIN_URL");
      expect(envOf(name)).not.toContain("REDIS_ADMIN_URL");
    }
    expect(envOf("konstruct-operator")).toEqual(
      expect.arrayContaining(["DATABASE_OPERATOR_URL", "REDIS_ADMIN_URL", "KONSTRUCT_SECRET_KEY"]),
    );
    // The operator connects as konstruct_operator, never as the PostgreSQL superuser.
    expect(envOf("konstruct-operator")).not.toContain("DATABASE_ADMIN_URL");
    expect(envOf("konstruct-operator")).not.toContain("POSTGRES_ADMIN_PASSWORD");
    // Every $(VAR) refers to a variable defined earlier in the same container, or Kubernetes leaves it unexpanded.
    for (const w of workloads) {
      for (const c of [...(podSpec(w).initContainers ?? []), ...podSpec(w).containers]) {
        const defined = new Set<string>();
        for (const e of c.env ?? []) {
          for (const [, ref] of String(e.value ?? "").matchAll(/\$\(([A-Z_]+)\)/g))
            expect(defined, `${c.name} ${e.name}`).toContain(ref);
          defined.add(e.name);
        }
        for (const arg of c.args ?? []) {
          for (const [, ref] of String(arg).matchAll(/\$\(([A-Z_]+)\)/g)) expect(defined, `${c.name} args`).toContain(ref);
        }
      }
    }
  });

  it("tells the operator where webhooks reach the gateway: the Ingress's host, a value, or nowhere", () => {
    const env = (list: Obj[]) => podSpec(find("Deployment", "konstruct-operator", list)).containers[0].env as Obj[];
    expect(env(objects)).toContainEqual({ name: "PUBLIC_BASE_URL", value: "https://konstruct.example.com" });
    const custom = synthesize(parseValues({ operator: { publicBaseUrl: "https://chat.example.org/konstruct" } }));
    expect(env(custom)).toContainEqual({ name: "PUBLIC_BASE_URL", value: "https://chat.example.org/konstruct" });
    for (const values of [{ operator: { publicBaseUrl: "" } }, { ingress: { enabled: false } }]) {
      expect(env(synthesize(parseValues(values))).map((e) => e.name)).not.toContain("PUBLIC_BASE_URL");
    }
    expect(() => parseValues({ operator: { publicBaseUrl: "konstruct.example.com" } })).toThrow(/operator\.publicBaseUrl/);
    // An Ingress without TLS is reached over http: webhooks and the portal's links say so.
    const plain = env(synthesize(parseValues({ ingress: { tls: { enabled: false } } })));
    expect(plain).toContainEqual({ name: "PUBLIC_BASE_URL", value: "http://konstruct.example.com" });
    expect(plain).toContainEqual({ name: "PORTAL_PUBLIC_URL", value: "http://konstruct.example.com" });
    // Without an Ingress, no webhook URL; the portal's links still name the domain.
    const noIngress = env(synthesize(parseValues({ ingress: { enabled: false } })));
    expect(noIngress).toContainEqual({ name: "PORTAL_PUBLIC_URL", value: "http://konstruct.example.com" });
  });

  it("configures the OpenAI-compatible provider only when asked: its URL, its key from the Secret, egress to its port", () => {
    const env = (list: Obj[]) => podSpec(find("Deployment", "konstruct-orchestrator", list)).containers[0].env as Obj[];
    expect(env(objects).map((e) => e.name)).not.toContain("OPENAI_BASE_URL");
    const withOpenAi = synthesize(parseValues({ openai: { baseUrl: "https://llm.example.com:8443/v1" } }));
    expect(env(withOpenAi)).toContainEqual({ name: "OPENAI_BASE_URL", value: "https://llm.example.com:8443/v1" });
    expect(env(withOpenAi)).toContainEqual({
      name: "OPENAI_API_KEY",
      valueFrom: { secretKeyRef: { name: defaults.secretName, key: "openai-api-key", optional: true } },
    });
    const policy = find("NetworkPolicy", "konstruct-orchestrator", withOpenAi);
    expect(policy.spec.egress.flatMap((r: Obj) => (r.ports ?? []).map((p: Obj) => p.port))).toContain(8443);
  });

  it('turns on "Add to Slack" only with slack.clientId: the client id, its secret from the install Secret, the callback on the Ingress host', () => {
    const env = (list: Obj[]) => podSpec(find("Deployment", "konstruct-gateway", list)).containers[0].env as Obj[];
    expect(env(objects).map((e) => e.name)).not.toContain("SLACK_CLIENT_ID");
    const values = parseValues({ slack: { clientId: "1234.5678" } });
    const withOAuth = synthesize(values);
    expect(env(withOAuth)).toContainEqual({ name: "SLACK_CLIENT_ID", value: "1234.5678" });
    expect(env(withOAuth)).toContainEqual({
      name: "SLACK_CLIENT_SECRET",
      valueFrom: { secretKeyRef: { name: defaults.secretName, key: "slack-client-secret" } },
    });
    const redirect = env(withOAuth).find((e) => e.name === "SLACK_OAUTH_REDIRECT_URL")?.value as string;
    expect(redirect).toBe(`${values.ingress.tls.enabled ? "https" : "http"}://${values.domain}/webhooks/slack/oauth/callback`);
  });

  it("exposes only the gateway (webhooks and web chat) and the portal (/portal), each through its Ingress", () => {
    const ingress = find("Ingress", "konstruct-gateway");
    expect(ingress.spec.ingressClassName).toBe("nginx");
    expect(ingress.spec.tls).toEqual([{ hosts: ["konstruct.example.com"], secretName: "konstruct-tls" }]);
    const paths = ingress.spec.rules[0].http.paths;
    expect(paths.map((p: Obj) => p.path)).toEqual(["/webhooks", "/webchat"]);
    for (const p of paths) expect(p.backend.service.name).toBe("konstruct-gateway");
    const portal = find("Ingress", "konstruct-portal");
    expect(portal.spec.tls).toEqual(ingress.spec.tls);
    expect(portal.spec.rules[0].http.paths).toEqual([
      { path: "/portal", pathType: "Prefix", backend: { service: { name: "konstruct-portal", port: { name: "http" } } } },
    ]);
    expect(objects.filter((o) => o.kind === "Ingress")).toHaveLength(2);
    // The portal checks Origin against its public URL: the Ingress's scheme and host.
    const portalEnv = podSpec(find("Deployment", "konstruct-portal")).containers[0].env;
    expect(portalEnv).toContainEqual({ name: "PORTAL_PUBLIC_URL", value: "https://konstruct.example.com" });
    // It runs as konstruct-portal, whose impersonation rights the operator grants; the chart grants it nothing itself.
    expect(podSpec(find("Deployment", "konstruct-portal")).serviceAccountName).toBe("konstruct-portal");
    expect(find("ServiceAccount", "konstruct-portal").metadata.namespace).toBe("konstruct");
    const bound = objects.filter(
      (o) =>
        (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") &&
        o.subjects?.some((s: Obj) => s.name === "konstruct-portal"),
    );
    expect(bound).toEqual([]);
    expect(objects.filter((o) => o.kind === "Service" && o.spec.type && o.spec.type !== "ClusterIP")).toEqual([]);
  });

  it("scales the services with a PodDisruptionBudget and an autoscaler that owns the replica count", () => {
    for (const name of ["konstruct-gateway", "konstruct-router", "konstruct-orchestrator", "konstruct-portal"]) {
      expect(find("PodDisruptionBudget", name).spec.selector.matchLabels).toEqual(
        find("Deployment", name).spec.selector.matchLabels,
      );
      expect(find("HorizontalPodAutoscaler", name).spec.scaleTargetRef).toEqual({
        apiVersion: "apps/v1",
        kind: "Deployment",
        name,
      });
      expect(find("Deployment", name).spec.replicas).toBeUndefined();
    }
    const fixed = synthesize(parseValues({ router: { replicas: 3, autoscaling: { enabled: false } } }));
    expect(find("Deployment", "konstruct-router", fixed).spec.replicas).toBe(3);
    expect(fixed.some((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "konstruct-router")).toBe(false);
  });

  it("requires NATS authentication: every user of core's table, its password from the install Secret, one user per service", () => {
    const natsConf = find("ConfigMap", "konstruct-nats").data["nats.conf"] as string;
    const natsPod = podSpec(find("StatefulSet", "konstruct-nats"));
    for (const user of ["gateway", "router", "orchestrator", "jetstream"]) {
      const variable = `NATS_${user.toUpperCase()}_PASSWORD`;
      // The password is a reference the server resolves from its environment, never a value in the ConfigMap.
      expect(natsConf).toContain(`user: "${user}"\n      password: $${variable}\n`);
      expect(natsPod.containers[0].env).toContainEqual({
        name: variable,
        valueFrom: { secretKeyRef: { name: "konstruct", key: `nats-${user}-password` } },
      });
    }
    // No user without permissions: every one has allow-lists.
    expect(natsConf.match(/user: /g)).toHaveLength(4);
    expect(natsConf.match(/publish: \{ allow: /g)).toHaveLength(4);
    for (const service of ["gateway", "router", "orchestrator"]) {
      const env = podSpec(find("Deployment", `konstruct-${service}`)).containers[0].env as Obj[];
      const variable = `NATS_${service.toUpperCase()}_PASSWORD`;
      expect(env.find((e) => e.name === "NATS_URL")?.value).toBe(
        `nats://${service}:$(${variable})@konstruct-nats.konstruct.svc:4222`,
      );
      // Its own password and no other service's.
      const natsKeys = env.map((e) => e.valueFrom?.secretKeyRef?.key).filter((k) => k?.startsWith("nats-"));
      expect(natsKeys).toEqual([`nats-${service}-password`]);
    }
    // Only the JetStream Job declares streams, as the `jetstream` user.
    const jetstreamJob = objects.find((o) => o.kind === "Job" && o.metadata.name.startsWith("konstruct-jetstream-"))!;
    const jobEnv = podSpec(jetstreamJob).containers[0].env as Obj[];
    expect(podSpec(jetstreamJob).containers[0].args).toEqual(["declare-streams"]);
    expect(jobEnv.find((e) => e.name === "NATS_URL")?.value).toMatch(/^nats:\/\/jetstream:\$\(NATS_JETSTREAM_PASSWORD\)@/);
  });

  it("keeps NATS, PostgreSQL and Redis on PersistentVolumeClaims behind headless Services, or out when external", () => {
    for (const name of ["konstruct-nats", "konstruct-postgres", "konstruct-redis"]) {
      const sts = find("StatefulSet", name);
      expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
      expect(sts.spec.serviceName).toBe(name);
      expect(find("Service", name).spec.clusterIP).toBe("None");
    }
    const natsConf = find("ConfigMap", "konstruct-nats").data["nats.conf"] as string;
    expect(natsConf).toMatch(/jetstream \{ store_dir: "\/data" \}/);
    expect(podSpec(find("StatefulSet", "konstruct-nats")).containers[0].args).toEqual(["--config", "/etc/nats/nats.conf"]);
    const external: Values = parseValues({
      postgres: { mode: "external" },
      redis: { mode: "external" },
      nats: { mode: "external", url: "nats://nats.example.com:4222" },
      ollama: { enabled: false, url: "http://ollama.example.com:11434" },
    });
    const ext = synthesize(external);
    expect(ext.filter((o) => o.kind === "StatefulSet")).toEqual([]);
    expect(ext.some((o) => o.metadata.name === "konstruct-ollama")).toBe(false);
    const gatewayEnv = podSpec(find("Deployment", "konstruct-gateway", ext)).containers[0].env;
    expect(gatewayEnv).toContainEqual({
      name: "NATS_URL",
      value: "nats://gateway:$(NATS_GATEWAY_PASSWORD)@nats.example.com:4222",
    });
    expect(gatewayEnv).toContainEqual({
      name: "DATABASE_URL",
      valueFrom: { secretKeyRef: { name: "konstruct", key: "database-url" } },
    });
  });
});

describe("NetworkPolicies", () => {
  const policies = objects.filter((o) => o.kind === "NetworkPolicy");
  const policyFor = (component: string): Obj => {
    const found = policies.find((p) => p.spec.podSelector.matchLabels?.["app.kubernetes.io/component"] === component);
    if (!found) throw new Error(`no NetworkPolicy selects ${component}`);
    return found;
  };
  const componentsIn = (peers: Obj[]) => peers.map((p) => p.podSelector?.matchLabels?.["app.kubernetes.io/component"]);

  it("deny everything by default, and select every workload's pods with its Deployment's own labels", () => {
    expect(find("NetworkPolicy", "konstruct-default-deny").spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    for (const w of workloads) {
      const labels = w.spec.template.metadata.labels;
      const selecting = policies.filter((p) =>
        Object.entries(p.spec.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v),
      );
      expect(selecting.length, w.metadata.name).toBe(2); // the default deny and its own
    }
  });

  it("let only the ingress controller reach the gateway and the portal, and nothing outside reach anything else", () => {
    for (const component of ["gateway", "portal"]) {
      expect(policyFor(component).spec.ingress, component).toEqual([
        {
          from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }],
          ports: [{ protocol: "TCP", port: 8080 }],
        },
      ]);
    }
    for (const component of ["router", "orchestrator", "operator", "migrate"]) {
      expect(policyFor(component).spec.ingress, component).toEqual([]);
    }
  });

  it("let only the orchestrator (model calls) and the portal (the model list) reach Ollama", () => {
    const ingress = policyFor("ollama").spec.ingress;
    expect(ingress).toHaveLength(1);
    expect(componentsIn(ingress[0].from)).toEqual(["orchestrator", "portal"]);
    expect(ingress[0].ports).toEqual([{ protocol: "TCP", port: 11434 }]);
  });

  it("let the services reach only NATS, PostgreSQL, Redis and (the orchestrator) Ollama, besides DNS", () => {
    const reached = (component: string) =>
      policyFor(component)
        .spec.egress.flatMap((r: Obj) => componentsIn(r.to ?? []))
        .filter((c: string | undefined) => c !== undefined)
        .sort();
    expect(reached("gateway")).toEqual(["nats", "postgres", "redis"]);
    expect(reached("router")).toEqual(["nats", "postgres", "redis"]);
    expect(reached("orchestrator")).toEqual(["nats", "ollama", "postgres", "redis"]);
    expect(reached("migrate")).toEqual(["postgres"]);
    expect(reached("portal")).toEqual(["ollama", "postgres", "redis"]);
    // Outside the cluster the portal reaches only the API server's ports.
    expect(
      policyFor("portal")
        .spec.egress.filter((r: Obj) => r.to?.some((p: Obj) => p.ipBlock))
        .flatMap((r: Obj) => r.ports.map((p: Obj) => p.port)),
    ).toEqual([443, 6443]);
    expect(policyFor("router").spec.egress.some((r: Obj) => r.to?.some((p: Obj) => p.ipBlock))).toBe(false);
    expect(componentsIn(policyFor("postgres").spec.ingress[0].from).sort()).toEqual([
      "gateway",
      "migrate",
      "operator",
      "orchestrator",
      "portal",
      "router",
    ]);
    expect(componentsIn(policyFor("nats").spec.ingress[0].from).sort()).toEqual([
      "gateway",
      "jetstream",
      "orchestrator",
      "router",
    ]);
  });

  it("keep the rules to the internet out of the cluster's pod and service ranges, but not the API server's", () => {
    const blocks = (component: string) =>
      policyFor(component)
        .spec.egress.flatMap((r: Obj) => (r.to ?? []).map((p: Obj) => ({ block: p.ipBlock, ports: r.ports })))
        .filter((r: Obj) => r.block);
    const internet = { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] };
    expect(blocks("gateway")).toEqual([{ block: internet, ports: [{ protocol: "TCP", port: 443 }] }]);
    expect(blocks("ollama")).toEqual([{ block: internet, ports: [{ protocol: "TCP", port: 443 }] }]);
    // The API server's endpoint is a node address, often in private space: no exceptions there.
    expect(blocks("operator")).toEqual([
      {
        block: { cidr: "0.0.0.0/0" },
        ports: [
          { protocol: "TCP", port: 443 },
          { protocol: "TCP", port: 6443 },
        ],
      },
    ]);
    const kind = synthesize(
      parseValues({
        openai: { baseUrl: "https://llm.example.com/v1" },
        networkPolicies: { clusterCidrs: ["10.244.0.0/16", "10.96.0.0/12", "fd00::/48"], channelApiNamespace: "doubles" },
      }),
    );
    const egressOf = (component: string) =>
      kind.find(
        (o) => o.kind === "NetworkPolicy" && o.spec.podSelector.matchLabels?.["app.kubernetes.io/component"] === component,
      )!.spec.egress;
    const kindInternet = { ipBlock: { cidr: "0.0.0.0/0", except: ["10.244.0.0/16", "10.96.0.0/12"] } };
    expect(egressOf("orchestrator")).toContainEqual({ to: [kindInternet], ports: [{ protocol: "TCP", port: 443 }] });
    expect(egressOf("gateway")).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "doubles" } } }],
      ports: [{ protocol: "TCP", port: 443 }],
    });
    expect(() => synthesize(parseValues({ networkPolicies: { externalCidr: "203.0.113.0/24" } }))).toThrow(
      /clusterCidrs: 10\.0\.0\.0\/8 is not inside networkPolicies\.externalCidr/,
    );
  });
});

describe("snapshot", () => {
  it("matches the reviewed install", () => {
    expect(objects).toMatchSnapshot();
  });
});
