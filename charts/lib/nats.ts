import { createHash } from "node:crypto";
import { NATS_USERS, natsAuthorizationConfig } from "@konstruct/core/nats-permissions";
import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { fromSecret, natsPasswordKey, natsPasswordVariable } from "./install-secret.ts";
import { labels, nameOf } from "./labels.ts";
import { statefulStore } from "./stateful-store.ts";
import type { Values } from "./values.ts";

const NATS_UID = 1000;
const CONFIG_DIR = "/etc/nats";

/**
 * The in-cluster server's configuration: JetStream, and the users and permissions of
 * services/core's table. Passwords stay in the install Secret: the file names them as `$VAR`,
 * which nats-server reads from its environment.
 */
export function natsServerConfig(): string {
  return [
    "port: 4222",
    "http_port: 8222",
    'jetstream { store_dir: "/data" }',
    natsAuthorizationConfig((user) => `$${natsPasswordVariable(user)}`),
  ].join("\n");
}

/** NATS with JetStream, its streams stored on a PersistentVolumeClaim; or nothing when `nats.mode` is external. */
export class Nats extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const name = nameOf("nats");
    const config = natsServerConfig();
    new k8s.KubeConfigMap(this, "config", {
      metadata: { name, namespace: values.namespace, labels: labels("nats") },
      data: { "nats.conf": config },
    });
    const health = (query: string) => ({ httpGet: { path: `/healthz${query}`, port: k8s.IntOrString.fromString("monitor") } });
    statefulStore(this, values, {
      component: "nats",
      image: values.images.nats,
      uid: NATS_UID,
      ports: [
        { name: "client", containerPort: 4222, protocol: "TCP" },
        { name: "monitor", containerPort: 8222, protocol: "TCP" },
      ],
      args: ["--config", `${CONFIG_DIR}/nats.conf`],
      env: NATS_USERS.map((user) => fromSecret(values, natsPasswordVariable(user), natsPasswordKey(user))),
      config: { name, mountPath: CONFIG_DIR, checksum: createHash("sha256").update(config).digest("hex").slice(0, 16) },
      dataPath: "/data",
      storage: values.nats.storage,
      resources: values.nats.resources,
      probes: {
        // Ready only once JetStream is up, so services never see "JetStream not enabled".
        readinessProbe: { ...health("?js-enabled-only=true"), periodSeconds: 5 },
        livenessProbe: { ...health(""), periodSeconds: 15, failureThreshold: 4, initialDelaySeconds: 10 },
      },
    });
  }
}
