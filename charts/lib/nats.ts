import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { statefulStore } from "./stateful-store.ts";
import type { Values } from "./values.ts";

const NATS_UID = 1000;

/** NATS with JetStream, its streams stored on a PersistentVolumeClaim; or nothing when `nats.mode` is external. */
export class Nats extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const health = (query: string) => ({ httpGet: { path: `/healthz${query}`, port: k8s.IntOrString.fromString("monitor") } });
    statefulStore(this, values, {
      component: "nats",
      image: values.images.nats,
      uid: NATS_UID,
      ports: [
        { name: "client", containerPort: 4222, protocol: "TCP" },
        { name: "monitor", containerPort: 8222, protocol: "TCP" },
      ],
      args: ["--jetstream", "--store_dir=/data", "--http_port=8222", "--port=4222"],
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
