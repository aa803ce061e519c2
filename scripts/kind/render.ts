/**
 * Renders the files scripts/kind.sh feeds to kind and to `npm run synth`, from the checked-in
 * ones, so each fact keeps one home:
 *
 *   node scripts/kind/render.ts config  OUT   kind-config.yaml with the run's cluster name, host
 *                                             ports and listen address, plus the host workarounds
 *   node scripts/kind/render.ts values  OUT FILE...   values files merged left to right
 *
 * Settings come from the environment (set by scripts/kind.sh): KIND_CLUSTER_NAME,
 * KIND_HTTP_PORT, KIND_HTTPS_PORT, KIND_LISTEN_ADDRESS, KIND_CGROUP_V1=1,
 * KIND_RESTRICT_OOM_SCORE_ADJ=1.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parse, stringify } from "yaml";

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** Deep merge: objects merge key by key, anything else (arrays included) is replaced. */
function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isObject(value) && isObject(out[key]) ? merge(out[key] as Json, value) : value;
  }
  return out;
}

function renderConfig(env: NodeJS.ProcessEnv): Json {
  const config = parse(readFileSync("kind-config.yaml", "utf8")) as Json;
  if (env.KIND_CLUSTER_NAME) config.name = env.KIND_CLUSTER_NAME;
  const hostPorts: Record<number, string | undefined> = { 80: env.KIND_HTTP_PORT, 443: env.KIND_HTTPS_PORT };
  const nodes = config.nodes as Json[];
  for (const node of nodes) {
    for (const mapping of (node.extraPortMappings as Json[] | undefined) ?? []) {
      const port = hostPorts[mapping.containerPort as number];
      if (port) mapping.hostPort = Number(port);
      if (env.KIND_LISTEN_ADDRESS) mapping.listenAddress = env.KIND_LISTEN_ADDRESS;
    }
  }
  // kubelet >= 1.35 refuses cgroup v1 unless told otherwise (cgroup v1 is deprecated upstream,
  // hence the pinned Kubernetes minor); only hosts still on cgroup v1 get the setting.
  if (env.KIND_CGROUP_V1 === "1") {
    const patch = stringify({ apiVersion: "kubelet.config.k8s.io/v1beta1", kind: "KubeletConfiguration", failCgroupV1: false });
    config.kubeadmConfigPatches = [...((config.kubeadmConfigPatches as string[] | undefined) ?? []), patch];
  }
  // Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj (the offline node image does this
  // itself; this covers upstream node images on such hosts).
  if (env.KIND_RESTRICT_OOM_SCORE_ADJ === "1") {
    const patch = '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n';
    config.containerdConfigPatches = [...((config.containerdConfigPatches as string[] | undefined) ?? []), patch];
  }
  return config;
}

const [command, out, ...files] = process.argv.slice(2);
if (command === "config" && out) {
  writeFileSync(out, stringify(renderConfig(process.env)));
} else if (command === "values" && out && files.length > 0) {
  const merged = files.map((file) => (parse(readFileSync(file, "utf8")) ?? {}) as Json).reduce(merge, {});
  writeFileSync(out, stringify(merged));
} else {
  console.error("usage: render.ts config OUT | render.ts values OUT FILE...");
  process.exit(2);
}
