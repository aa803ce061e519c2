import { readFileSync } from "node:fs";
import { HTTP_PORTS } from "@konstruct/core/listen";
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse as parseYaml } from "yaml";

/**
 * The values of one install: one typed YAML file, every field optional with a documented
 * default (the `default` and `description` of each schema node below are that documentation;
 * charts/values.example.yaml shows them all). Unknown fields are rejected, so a typo such as
 * `replica:` is an error naming the field rather than a silently ignored setting.
 */

const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const QUANTITY = "^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$";

function section<T extends Record<string, TSchema>>(properties: T, description: string) {
  return Type.Object(properties, { additionalProperties: false, default: {}, description });
}

const Image = (repository: string, tag: string, what: string) =>
  section(
    {
      repository: Type.String({ minLength: 1, default: repository, description: "image repository" }),
      tag: Type.String({ minLength: 1, pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", default: tag, description: "image tag" }),
      pullPolicy: Type.Union([Type.Literal("IfNotPresent"), Type.Literal("Always"), Type.Literal("Never")], {
        default: "IfNotPresent",
      }),
    },
    what,
  );

const Quantity = (value: string, description: string) =>
  Type.String({ pattern: QUANTITY, default: value, description: `${description} (a Kubernetes quantity, e.g. 250m, 512Mi)` });

const Resources = (cpuRequest: string, memoryRequest: string, cpuLimit: string, memoryLimit: string) =>
  section(
    {
      requests: section(
        { cpu: Quantity(cpuRequest, "CPU request"), memory: Quantity(memoryRequest, "memory request") },
        "what the scheduler reserves",
      ),
      limits: section(
        { cpu: Quantity(cpuLimit, "CPU limit"), memory: Quantity(memoryLimit, "memory limit") },
        "the most the container may use",
      ),
    },
    "container requests and limits",
  );

const Replicas = (value: number) => Type.Integer({ minimum: 1, maximum: 100, default: value });

const Service = (replicas: number, resources: ReturnType<typeof Resources>) =>
  section(
    {
      replicas: Replicas(replicas),
      autoscaling: section(
        {
          enabled: Type.Boolean({ default: true, description: "add a HorizontalPodAutoscaler on CPU" }),
          minReplicas: Replicas(replicas),
          maxReplicas: Replicas(5),
          targetCPUUtilization: Type.Integer({ minimum: 10, maximum: 100, default: 70, description: "percent of the request" }),
        },
        "HorizontalPodAutoscaler; when enabled it owns the replica count",
      ),
      resources,
      nodeOptions: Type.String({
        default: "",
        maxLength: 400,
        pattern: "^(--[a-z0-9-]+(=[^\\s]+)?( (?=-)|$))*$",
        description:
          "Node.js flags for the container (NODE_OPTIONS), e.g. --max-semi-space-size=2: 13–17 MB less memory at idle, " +
          "tail latency under load possibly worse (README, Performance)",
      }),
    },
    "a stateless Konstruct service",
  );

const StorageSize = (value: string) =>
  Type.String({ pattern: QUANTITY, default: value, description: "PersistentVolumeClaim size" });
const Mode = Type.Union([Type.Literal("in-cluster"), Type.Literal("external")], {
  default: "in-cluster",
  description: "in-cluster: a StatefulSet for development; external: a managed server whose URLs are in the install Secret",
});

/** GPU Operator's feature discovery labels every GPU node with this. */
export const DEFAULT_GPU_NODE_SELECTOR: Readonly<Record<string, string>> = { "nvidia.com/gpu.present": "true" };

const Toleration = Type.Object(
  {
    key: Type.String({ minLength: 1 }),
    operator: Type.Union([Type.Literal("Exists"), Type.Literal("Equal")], { default: "Exists" }),
    value: Type.Optional(Type.String()),
    effect: Type.Optional(Type.Union([Type.Literal("NoSchedule"), Type.Literal("PreferNoSchedule"), Type.Literal("NoExecute")])),
  },
  { additionalProperties: false },
);

export const ValuesSchema = Type.Object(
  {
    namespace: Type.String({ pattern: DNS_LABEL, maxLength: 63, default: "konstruct", description: "namespace of the install" }),
    domain: Type.String({
      pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$",
      default: "konstruct.example.com",
      description: "public host name of the gateway (Slack webhooks, web chat)",
    }),
    logLevel: Type.Union(
      ["fatal", "error", "warn", "info", "debug", "trace"].map((level) => Type.Literal(level)),
      {
        default: "info",
      },
    ),
    secretName: Type.String({
      pattern: DNS_LABEL,
      default: "konstruct",
      description: "Secret in the install namespace holding credentials; see charts/lib/install-secret.ts for its keys",
    }),
    images: section(
      {
        konstruct: Image("konstruct", "0.1.0", "the one image of every Konstruct component"),
        postgres: Image("postgres", "17.6-alpine", "in-cluster PostgreSQL"),
        redis: Image("redis", "7.4.6-alpine", "in-cluster Redis"),
        nats: Image("nats", "2.11.9-alpine", "in-cluster NATS"),
        ollama: Image("ollama/ollama", "0.11.10", "Ollama"),
      },
      "every image and tag",
    ),
    ingress: section(
      {
        enabled: Type.Boolean({ default: true }),
        className: Type.String({ minLength: 1, default: "nginx", description: "IngressClass name" }),
        controllerNamespace: Type.String({
          pattern: DNS_LABEL,
          default: "ingress-nginx",
          description: "namespace of the ingress controller pods: the only peer allowed to reach the gateway",
        }),
        trustedProxies: Type.String({
          minLength: 1,
          default: "loopback,uniquelocal",
          description:
            "proxies whose X-Forwarded-For the gateway believes (addresses, CIDRs, loopback, uniquelocal): the ingress " +
            "controller's pods; the NetworkPolicy lets only them reach the gateway, so private ranges are safe by default",
        }),
        paths: Type.Array(Type.String({ pattern: "^/[A-Za-z0-9/_-]*$" }), {
          minItems: 1,
          default: ["/webhooks", "/webchat"],
          description: "path prefixes routed to the gateway (Slack webhooks and the web chat)",
        }),
        tls: section(
          {
            enabled: Type.Boolean({ default: true }),
            secretName: Type.String({ pattern: DNS_LABEL, default: "konstruct-tls", description: "kubernetes.io/tls Secret" }),
          },
          "TLS for the host",
        ),
        annotations: Type.Record(Type.String(), Type.String(), { default: {}, description: "e.g. cert-manager issuer" }),
      },
      "the Ingress in front of the gateway",
    ),
    operator: section(
      {
        replicas: Replicas(2),
        healthPort: Type.Integer({ minimum: 1024, maximum: 65_535, default: HTTP_PORTS.operator }),
        resources: Resources("100m", "128Mi", "500m", "256Mi"),
        portalPublicUrl: Type.Optional(
          Type.String({
            pattern: "^https?://[^/?#\\s]+(/[^?#\\s]*)?$",
            description:
              "where people reach the portal, the base of first owners' invitation links (default: https://<domain>, " +
              "or http:// when ingress TLS is off)",
          }),
        ),
        portalServiceAccount: Type.String({
          pattern: DNS_LABEL,
          default: "konstruct-portal",
          description:
            "the portal's ServiceAccount in the install namespace: the only one that may impersonate portal identities",
        }),
        publicBaseUrl: Type.Optional(
          Type.String({
            pattern: "^(https?://[^\\s/]+(/[^\\s]*)?)?$",
            description:
              "where webhooks reach the gateway from the internet; the operator registers channels' webhooks there " +
              "(Telegram's setWebhook). Unset: https://<domain> (http:// without TLS) when the Ingress is enabled; empty: register none",
          }),
        ),
      },
      "the operator; more than one replica waits on the leader-election Lease",
    ),
    gateway: Service(2, Resources("100m", "128Mi", "1", "512Mi")),
    router: Service(2, Resources("100m", "128Mi", "1", "512Mi")),
    orchestrator: Service(2, Resources("200m", "256Mi", "2", "1Gi")),
    portal: Service(2, Resources("50m", "128Mi", "1", "512Mi")),
    migrations: section(
      {
        backoffLimit: Type.Integer({ minimum: 0, maximum: 20, default: 10, description: "retries while PostgreSQL starts" }),
        resources: Resources("100m", "128Mi", "500m", "256Mi"),
      },
      "the migrations Job",
    ),
    storageClassName: Type.Optional(
      Type.String({ minLength: 1, description: "StorageClass of every PVC; the cluster default when unset" }),
    ),
    postgres: section(
      {
        mode: Mode,
        database: Type.String({ pattern: "^[a-z_][a-z0-9_]*$", default: "konstruct" }),
        storage: StorageSize("10Gi"),
        externalPort: Type.Integer({
          minimum: 1,
          maximum: 65_535,
          default: 5432,
          description: "external mode: allowed egress port",
        }),
        resources: Resources("250m", "256Mi", "2", "1Gi"),
      },
      "PostgreSQL",
    ),
    redis: section(
      {
        mode: Mode,
        storage: StorageSize("2Gi"),
        externalPort: Type.Integer({
          minimum: 1,
          maximum: 65_535,
          default: 6379,
          description: "external mode: allowed egress port",
        }),
        resources: Resources("100m", "128Mi", "1", "512Mi"),
      },
      "Redis",
    ),
    nats: section(
      {
        mode: Mode,
        url: Type.Optional(
          Type.String({ pattern: "^(nats|tls)://[^\\s]+$", description: "external mode: the NATS URL (required)" }),
        ),
        externalPort: Type.Integer({
          minimum: 1,
          maximum: 65_535,
          default: 4222,
          description: "external mode: allowed egress port",
        }),
        storage: StorageSize("10Gi"),
        resources: Resources("100m", "128Mi", "1", "1Gi"),
      },
      "NATS with JetStream",
    ),
    ollama: section(
      {
        enabled: Type.Boolean({ default: true, description: "run Ollama in the cluster; false needs `url`" }),
        url: Type.Optional(
          Type.String({ pattern: "^https?://[^\\s]+$", description: "an external Ollama when enabled is false" }),
        ),
        models: Type.Array(Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._:/-]*$" }), {
          default: ["llama3.2:3b"],
          description: "models pulled at start, before Ollama reports ready",
        }),
        storage: StorageSize("50Gi"),
        gpu: section(
          {
            count: Type.Integer({ minimum: 0, maximum: 16, default: 1, description: "GPUs requested; 0 runs on CPU" }),
            resourceName: Type.String({
              minLength: 1,
              default: "nvidia.com/gpu",
              description: "extended resource of the device plugin",
            }),
            nodeSelector: Type.Record(Type.String(), Type.String(), {
              description: 'labels of the GPU nodes; default { "nvidia.com/gpu.present": "true" } (GPU feature discovery)',
            }),
            tolerations: Type.Array(Toleration, {
              default: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
              description: "taints of the GPU nodes",
            }),
          },
          "GPU scheduling",
        ),
        resources: Resources("1", "4Gi", "8", "16Gi"),
      },
      "Ollama",
    ),
    openai: section(
      {
        baseUrl: Type.Optional(
          Type.String({
            pattern: "^https?://[^\\s]+$",
            description:
              "an OpenAI-compatible API (…/v1) for models named openai:<model>; its key is the install Secret's openai-api-key",
          }),
        ),
      },
      "an OpenAI-compatible model provider beside Ollama",
    ),
    slack: section(
      {
        apiUrl: Type.String({
          pattern: "^https?://[^\\s]+/$",
          default: "https://slack.com/api/",
          description: "Slack Web API base",
        }),
        clientId: Type.Optional(
          Type.String({
            pattern: "^[0-9]+\\.[0-9]+$",
            description:
              'client id of the shared Slack app: turns on "Add to Slack" (its client secret is the install Secret\'s slack-client-secret; ' +
              "the redirect URL is https://<domain>/webhooks/slack/oauth/callback, http without ingress TLS)",
          }),
        ),
      },
      "Slack",
    ),
    networkPolicies: section(
      {
        enabled: Type.Boolean({ default: true }),
        externalCidr: Type.String({
          pattern: "^[0-9a-fA-F:.]+/[0-9]{1,3}$",
          default: "0.0.0.0/0",
          description: "where the Kubernetes API, Slack, model registries and external servers are",
        }),
        clusterCidrs: Type.Array(Type.String({ pattern: "^[0-9a-fA-F:.]+/[0-9]{1,3}$" }), {
          default: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
          description:
            "the cluster's pod and service ranges (each inside externalCidr), excluded from the rules to the internet " +
            "(Slack, Telegram, the model registry, the OpenAI-compatible API), so those cannot reach pods of the cluster",
        }),
        channelApiNamespace: Type.Optional(
          Type.String({
            pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            description:
              "a namespace inside the cluster serving the channel APIs (a proxy, a test double); the gateway may reach its pods on 443",
          }),
        ),
      },
      "NetworkPolicies",
    ),
  },
  { additionalProperties: false, description: "values of a Konstruct install" },
);

export type Values = Static<typeof ValuesSchema>;
export type ResourceValues = Values["gateway"]["resources"];

/** A values file is wrong; `problems` names each bad field, with its dotted path. */
export class ValuesError extends Error {
  readonly code = "VALUES_INVALID";
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[], options?: { cause?: unknown }) {
    super(`${source} is invalid; fix these fields and synth again:\n${problems.map((p) => `  - ${p}`).join("\n")}`, options);
    this.name = "ValuesError";
    this.problems = problems;
  }
}

/** Where people reach the install: `https://<domain>` behind an Ingress with TLS, else `http://<domain>`. */
export function installOrigin(values: Values): string {
  return `${values.ingress.enabled && values.ingress.tls.enabled ? "https" : "http"}://${values.domain}`;
}

/** Applies the defaults to `input` (an object parsed from YAML) and validates it; throws ValuesError. */
export function parseValues(input: unknown, source = "values"): Values {
  const raw = input ?? {};
  const values = Value.Default(ValuesSchema, Value.Clone(raw));
  // Set here, not as a schema default: TypeBox merges a record's default keys into a given record.
  const gpu = (values as { ollama?: { gpu?: { nodeSelector?: unknown } } }).ollama?.gpu;
  if (gpu !== undefined && gpu.nodeSelector === undefined) gpu.nodeSelector = { ...DEFAULT_GPU_NODE_SELECTOR };
  const problems = new Map<string, string>();
  for (const error of Value.Errors(ValuesSchema, values)) {
    const field = error.path === "" ? "(root)" : error.path.slice(1).replaceAll("/", ".");
    if (problems.has(field)) continue;
    // TypeBox reports an unknown property at its own path, with this message.
    const unknown = error.message === "Unexpected property";
    problems.set(field, unknown ? `${field} is not a known field (a typo?)` : `${field}: ${error.message}`);
  }
  const v = values as Values;
  if (problems.size === 0) {
    if (v.nats.mode === "external" && v.nats.url === undefined)
      problems.set("nats.url", "nats.url is required when nats.mode is external");
    if (!v.ollama.enabled && v.ollama.url === undefined)
      problems.set("ollama.url", "ollama.url is required when ollama.enabled is false");
    if (v.ollama.enabled && v.ollama.models.length === 0)
      problems.set("ollama.models", "ollama.models must name at least one model");
    for (const name of ["gateway", "router", "orchestrator", "portal"] as const) {
      const a = v[name].autoscaling;
      if (a.enabled && a.minReplicas > a.maxReplicas) {
        problems.set(`${name}.autoscaling`, `${name}.autoscaling.minReplicas must not exceed ${name}.autoscaling.maxReplicas`);
      }
    }
  }
  if (problems.size > 0) throw new ValuesError(source, [...problems.values()]);
  return v;
}

/** Reads and validates a YAML values file; no path means every default. */
export function loadValues(path?: string): Values {
  if (path === undefined) return parseValues({}, "the default values");
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ValuesError(path, [`could not read YAML: ${(error as Error).message}`], { cause: error });
  }
  return parseValues(document, path);
}
