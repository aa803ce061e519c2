import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { labels, nameOf, selectorLabels } from "./labels.ts";
import { containerSecurityContext, podSecurityContext, resources, TMP_MOUNT, TMP_VOLUME } from "./pod.ts";
import type { Values } from "./values.ts";

const OLLAMA_UID = 1000;
export const OLLAMA_PORT = 11434;

// A throwaway server on loopback pulls each model onto the volume, then stops; the main
// container starts only after that, so Ollama is ready only when every model is present.
const PULL_SCRIPT = [
  "set -eu",
  "ollama serve & server=$!",
  "until ollama list >/dev/null 2>&1; do sleep 1; done",
  'for model in "$@"; do echo "pulling $model"; ollama pull "$model"; done',
  'kill "$server"; wait "$server" || true',
].join("\n");

/**
 * Ollama on GPU nodes: requests the GPU resource (`values.ollama.gpu.resourceName`), tolerates
 * the GPU taints and selects the GPU nodes by label; models live on a PVC and are pulled at start.
 */
export class Ollama extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const settings = values.ollama;
    const name = nameOf("ollama");
    const metadata = { name, namespace: values.namespace, labels: labels("ollama") };
    const image = `${values.images.ollama.repository}:${values.images.ollama.tag}`;
    const env = [
      { name: "OLLAMA_MODELS", value: "/models" },
      // Ollama writes its key pair under $HOME, which the read-only root filesystem cannot hold.
      { name: "HOME", value: "/home/ollama" },
    ];
    const mounts = [{ name: "models", mountPath: "/models" }, { name: "home", mountPath: "/home/ollama" }, TMP_MOUNT];
    const gpu = settings.gpu.count > 0 ? { [settings.gpu.resourceName]: settings.gpu.count } : {};
    const root = { path: "/", port: k8s.IntOrString.fromString("http") };

    new k8s.KubePersistentVolumeClaim(this, "models", {
      metadata: { ...metadata, name: `${name}-models` },
      spec: {
        accessModes: ["ReadWriteOnce"],
        ...(values.storageClassName ? { storageClassName: values.storageClassName } : {}),
        resources: { requests: { storage: k8s.Quantity.fromString(settings.storage) } },
      },
    });

    new k8s.KubeDeployment(this, "deployment", {
      metadata,
      spec: {
        replicas: 1,
        // One ReadWriteOnce volume: the old pod must let go of it before the new one starts.
        strategy: { type: "Recreate" },
        selector: { matchLabels: selectorLabels("ollama") },
        template: {
          metadata: { labels: labels("ollama") },
          spec: {
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(OLLAMA_UID),
            nodeSelector: settings.gpu.nodeSelector,
            tolerations: settings.gpu.tolerations.map((t) => ({ ...t })),
            initContainers: [
              {
                name: "pull-models",
                image,
                imagePullPolicy: values.images.ollama.pullPolicy,
                command: ["/bin/sh", "-c", PULL_SCRIPT, "pull-models", ...settings.models],
                env: [...env, { name: "OLLAMA_HOST", value: "127.0.0.1:11434" }],
                resources: resources({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "2", memory: "2Gi" } }),
                securityContext: containerSecurityContext(OLLAMA_UID),
                volumeMounts: mounts,
              },
            ],
            containers: [
              {
                name: "ollama",
                image,
                imagePullPolicy: values.images.ollama.pullPolicy,
                command: ["ollama", "serve"],
                env: [...env, { name: "OLLAMA_HOST", value: `0.0.0.0:${OLLAMA_PORT}` }],
                ports: [{ name: "http", containerPort: OLLAMA_PORT, protocol: "TCP" }],
                resources: resources(settings.resources, gpu),
                securityContext: containerSecurityContext(OLLAMA_UID),
                volumeMounts: mounts,
                readinessProbe: { httpGet: root, periodSeconds: 5 },
                livenessProbe: { httpGet: root, periodSeconds: 15, failureThreshold: 4, initialDelaySeconds: 15 },
              },
            ],
            volumes: [
              { name: "models", persistentVolumeClaim: { claimName: `${name}-models` } },
              { name: "home", emptyDir: {} },
              TMP_VOLUME,
            ],
          },
        },
      },
    });

    new k8s.KubeService(this, "svc", {
      metadata,
      spec: {
        selector: selectorLabels("ollama"),
        ports: [{ name: "http", port: OLLAMA_PORT, targetPort: k8s.IntOrString.fromString("http"), protocol: "TCP" }],
      },
    });
  }
}
