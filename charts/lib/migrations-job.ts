import { createHash } from "node:crypto";
import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { connectionEnv } from "./install-secret.ts";
import { labels, selectorLabels } from "./labels.ts";
import { KONSTRUCT_UID, konstructContainer, podSecurityContext, resources, TMP_MOUNT, TMP_VOLUME } from "./pod.ts";
import type { Values } from "./values.ts";

/**
 * Ordering without hooks: `kubectl apply -f dist/` creates everything at once, so the order is
 * carried by the objects themselves.
 *
 * 1. The migrations Job runs `migrate` as the admin role. Its name carries a hash of the image,
 *    because a Job's pod template is immutable: a new image is a new Job, which migrates again.
 * 2. Every pod that uses the schema starts with the `wait-for-schema` init container, which
 *    waits until `konstruct_app` can log in and read the schema. `konstruct_app` is created
 *    NOLOGIN and only the migrate command gives it its password, after the last migration
 *    applied (migrations/src/main.ts), so a successful login means the Job has finished.
 */
export class MigrationsJob extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const image = values.images.konstruct;
    const hash = createHash("sha256").update(`${image.repository}:${image.tag}`).digest("hex").slice(0, 8);
    this.name = `konstruct-migrate-${hash}`;
    new k8s.KubeJob(this, "job", {
      metadata: { name: this.name, namespace: values.namespace, labels: labels("migrate") },
      spec: {
        // Retries cover PostgreSQL still starting on a fresh install.
        backoffLimit: values.migrations.backoffLimit,
        template: {
          metadata: { labels: { ...labels("migrate"), ...selectorLabels("migrate") } },
          spec: {
            restartPolicy: "OnFailure",
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(KONSTRUCT_UID),
            volumes: [TMP_VOLUME],
            containers: [
              konstructContainer(values, "migrate", "migrate", {
                env: connectionEnv(values, ["DATABASE_ADMIN_URL", "DATABASE_URL", "DATABASE_OPERATOR_URL", "LOG_LEVEL"]),
                resources: resources(values.migrations.resources),
                volumeMounts: [TMP_MOUNT],
              }),
            ],
          },
        },
      },
    });
  }
}

/** The init container that holds a pod until the migrations Job has finished (see above). */
export function waitForSchemaContainer(values: Values): k8s.Container {
  return konstructContainer(values, "wait-for-schema", "wait-for-schema", {
    env: connectionEnv(values, ["DATABASE_URL", "LOG_LEVEL"]),
    resources: resources({ requests: { cpu: "10m", memory: "64Mi" }, limits: { cpu: "200m", memory: "128Mi" } }),
    volumeMounts: [TMP_MOUNT],
  });
}
