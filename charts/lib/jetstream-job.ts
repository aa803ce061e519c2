import { createHash } from "node:crypto";
import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { connectionEnv } from "./install-secret.ts";
import { labels, selectorLabels } from "./labels.ts";
import { KONSTRUCT_UID, konstructContainer, podSecurityContext, resources, TMP_MOUNT, TMP_VOLUME } from "./pod.ts";
import type { Values } from "./values.ts";

/**
 * The Job that declares the JetStream streams as the `jetstream` NATS user, the only user allowed
 * to create or change a stream (services/core/src/nats/permissions.ts). Like the migrations Job,
 * its name carries a hash of the image, so a new image declares again (a changed stream limit
 * applies). Services start meanwhile and wait, with backoff, for the streams they consume.
 */
export class JetStreamJob extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const image = values.images.konstruct;
    const hash = createHash("sha256").update(`${image.repository}:${image.tag}`).digest("hex").slice(0, 8);
    new k8s.KubeJob(this, "job", {
      metadata: { name: `konstruct-jetstream-${hash}`, namespace: values.namespace, labels: labels("jetstream") },
      spec: {
        // Retries cover NATS still starting on a fresh install.
        backoffLimit: values.migrations.backoffLimit,
        template: {
          metadata: { labels: { ...labels("jetstream"), ...selectorLabels("jetstream") } },
          spec: {
            restartPolicy: "OnFailure",
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(KONSTRUCT_UID),
            volumes: [TMP_VOLUME],
            containers: [
              konstructContainer(values, "declare-streams", "declare-streams", {
                env: connectionEnv(values, ["NATS_URL", "LOG_LEVEL"], "jetstream"),
                resources: resources({ requests: { cpu: "10m", memory: "64Mi" }, limits: { cpu: "200m", memory: "128Mi" } }),
                volumeMounts: [TMP_MOUNT],
              }),
            ],
          },
        },
      },
    });
  }
}
