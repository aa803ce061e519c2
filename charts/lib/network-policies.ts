import { HTTP_PORTS } from "@konstruct/core/listen";
import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { type Component, labels, nameOf, selectorLabels } from "./labels.ts";
import { OLLAMA_PORT } from "./ollama.ts";
import type { Values } from "./values.ts";

type Workload = Exclude<Component, "crds">;
type Store = Extract<Component, "postgres" | "redis" | "nats" | "ollama">;

/** Who may open connections to whom inside the install; everything not listed is denied. */
export const FLOWS: readonly { from: Workload; to: Store }[] = [
  { from: "gateway", to: "nats" },
  { from: "gateway", to: "postgres" },
  { from: "gateway", to: "redis" },
  { from: "router", to: "nats" },
  { from: "router", to: "postgres" },
  { from: "router", to: "redis" },
  { from: "orchestrator", to: "nats" },
  { from: "orchestrator", to: "postgres" },
  { from: "orchestrator", to: "redis" },
  { from: "orchestrator", to: "ollama" },
  { from: "operator", to: "postgres" },
  { from: "operator", to: "redis" },
  { from: "migrate", to: "postgres" },
  { from: "portal", to: "postgres" },
  { from: "portal", to: "redis" },
  { from: "portal", to: "ollama" },
  { from: "jetstream", to: "nats" },
];

const IN_CLUSTER_PORTS: Record<Store, number> = { postgres: 5432, redis: 6379, nats: 4222, ollama: OLLAMA_PORT };

/**
 * Connections that leave the cluster, to `networkPolicies.externalCidr`. Those to the internet
 * leave out the cluster's own ranges (`clusterCidrs`): an open port 443 "anywhere" would
 * otherwise reach every pod and service of the cluster that listens on it. The API server is the
 * exception: its endpoint is a node's address, which may well sit in the same private space.
 */
const EXTERNAL: readonly { from: Workload; ports: readonly number[]; why: string; internet: boolean }[] = [
  {
    from: "operator",
    ports: [443, 6443],
    why: "the Kubernetes API server, and channels' APIs (Telegram's setWebhook)",
    internet: false,
  },
  {
    from: "gateway",
    ports: [443],
    why: "the Slack Web API, Telegram's Bot API, WhatsApp's Graph API, the Bot Framework (Teams)",
    internet: true,
  },
  {
    from: "portal",
    ports: [443, 6443],
    why: "the Kubernetes API server (impersonated writes of Agents and Tenants)",
    internet: false,
  },
  { from: "ollama", ports: [443], why: "the model registry, for pulls", internet: true },
];

const WORKLOADS: readonly Workload[] = [
  "operator",
  "gateway",
  "router",
  "orchestrator",
  "portal",
  "migrate",
  "jetstream",
  "nats",
  "postgres",
  "redis",
  "ollama",
];

/**
 * NetworkPolicies: a default deny for every pod in the namespace, then one policy per component
 * that allows exactly its flows. Only the gateway and the portal accept traffic from the ingress controller's
 * namespace; Ollama accepts only the orchestrator.
 */
export class NetworkPolicies extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const ns = values.namespace;
    new k8s.KubeNetworkPolicy(this, "default-deny", {
      metadata: { name: "konstruct-default-deny", namespace: ns, labels: labels("operator") },
      spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    });

    const inCluster: Record<Store, boolean> = {
      postgres: values.postgres.mode === "in-cluster",
      redis: values.redis.mode === "in-cluster",
      nats: values.nats.mode === "in-cluster",
      ollama: values.ollama.enabled,
    };
    const externalPort: Record<Store, number> = {
      postgres: values.postgres.externalPort,
      redis: values.redis.externalPort,
      nats: values.nats.externalPort,
      ollama: values.ollama.url ? portOf(values.ollama.url) : OLLAMA_PORT,
    };
    const { externalCidr, clusterCidrs, channelApiNamespace } = values.networkPolicies;
    const external = { ipBlock: { cidr: externalCidr } };
    const except = exceptionsWithin(externalCidr, clusterCidrs);
    const internet = { ipBlock: except.length > 0 ? { cidr: externalCidr, except } : { cidr: externalCidr } };
    const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: "TCP", port: k8s.IntOrString.fromNumber(port) });
    const pods = (component: Workload): k8s.NetworkPolicyPeer => ({ podSelector: { matchLabels: selectorLabels(component) } });
    const dns: k8s.NetworkPolicyEgressRule = {
      to: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
          podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        },
      ],
      ports: [
        { protocol: "UDP", port: k8s.IntOrString.fromNumber(53) },
        { protocol: "TCP", port: k8s.IntOrString.fromNumber(53) },
      ],
    };

    for (const component of WORKLOADS) {
      if (isStore(component) && !inCluster[component]) continue;
      const ingress: k8s.NetworkPolicyIngressRule[] = [];
      const egress: k8s.NetworkPolicyEgressRule[] = [dns];
      if (component === "gateway" || component === "portal") {
        ingress.push({
          from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": values.ingress.controllerNamespace } } }],
          ports: [tcp(HTTP_PORTS[component])],
        });
      }
      if (isStore(component)) {
        const clients = FLOWS.filter((f) => f.to === component).map((f) => pods(f.from));
        ingress.push({ from: clients, ports: [tcp(IN_CLUSTER_PORTS[component])] });
      }
      for (const flow of FLOWS.filter((f) => f.from === component)) {
        egress.push(
          inCluster[flow.to]
            ? { to: [pods(flow.to)], ports: [tcp(IN_CLUSTER_PORTS[flow.to])] }
            : { to: [external], ports: [tcp(externalPort[flow.to])] },
        );
      }
      for (const rule of EXTERNAL.filter((e) => e.from === component)) {
        egress.push({ to: [rule.internet ? internet : external], ports: rule.ports.map(tcp) });
      }
      if (component === "gateway" && channelApiNamespace) {
        egress.push({
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": channelApiNamespace } } }],
          ports: [tcp(443)],
        });
      }
      if (component === "orchestrator" && values.openai.baseUrl) {
        egress.push({ to: [internet], ports: [tcp(portOf(values.openai.baseUrl))] });
      }
      new k8s.KubeNetworkPolicy(this, component, {
        metadata: { name: nameOf(component), namespace: ns, labels: labels(component) },
        spec: { podSelector: { matchLabels: selectorLabels(component) }, policyTypes: ["Ingress", "Egress"], ingress, egress },
      });
    }
  }
}

/**
 * The cluster ranges to leave out of `cidr`: those of its address family (a dual-stack cluster
 * lists both; an IPv4 rule takes only the IPv4 ones). Kubernetes refuses an `except` that is not
 * inside `cidr`, so one of the same family that is not is a values error, named here.
 */
export function exceptionsWithin(cidr: string, clusterCidrs: readonly string[]): string[] {
  const v6 = (c: string) => c.includes(":");
  const same = clusterCidrs.filter((c) => v6(c) === v6(cidr));
  if (!v6(cidr)) {
    for (const c of same) {
      if (!ipv4Within(c, cidr)) {
        throw new Error(`networkPolicies.clusterCidrs: ${c} is not inside networkPolicies.externalCidr ${cidr}`);
      }
    }
  }
  return same;
}

function ipv4Within(inner: string, outer: string): boolean {
  const parse = (c: string) => {
    const [address = "", bits = "32"] = c.split("/");
    const value = address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
    return { value, bits: Number(bits) };
  };
  const a = parse(inner);
  const b = parse(outer);
  if (a.bits <= b.bits) return false; // a strict subset only
  const size = 2 ** (32 - b.bits);
  return Math.floor(a.value / size) === Math.floor(b.value / size);
}

function isStore(component: Workload): component is Store {
  return component in IN_CLUSTER_PORTS;
}

function portOf(url: string): number {
  const u = new URL(url);
  return u.port === "" ? (u.protocol === "https:" ? 443 : 80) : Number(u.port);
}
