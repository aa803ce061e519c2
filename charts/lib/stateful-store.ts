import { k8s } from "cdk8s-plus-27";
import type { Construct } from "constructs";
import { type Component, labels, nameOf, selectorLabels } from "./labels.ts";
import { containerSecurityContext, podSecurityContext, resources, TMP_MOUNT, TMP_VOLUME } from "./pod.ts";
import type { ResourceValues, Values } from "./values.ts";

export interface StatefulStoreProps {
  readonly component: Extract<Component, "postgres" | "redis" | "nats">;
  readonly image: Values["images"]["postgres"];
  /** The uid the image's server runs as. */
  readonly uid: number;
  readonly ports: readonly k8s.ContainerPort[];
  readonly command?: string[];
  readonly args?: string[];
  readonly env?: k8s.EnvVar[];
  readonly dataPath: string;
  readonly storage: string;
  readonly resources: ResourceValues;
  readonly probes: Pick<k8s.Container, "readinessProbe" | "livenessProbe">;
  /** Extra writable directories (emptyDir), since the root filesystem is read-only. */
  readonly scratch?: readonly string[];
  /** A ConfigMap mounted read-only; its checksum in the pod template rolls the pod when it changes. */
  readonly config?: { readonly name: string; readonly mountPath: string; readonly checksum: string };
}

/**
 * One replica of a data server for development installs: a StatefulSet whose data lives on a
 * PersistentVolumeClaim, behind a headless Service that gives it a stable DNS name.
 */
export function statefulStore(scope: Construct, values: Values, props: StatefulStoreProps): void {
  const name = nameOf(props.component);
  const metadata = { name, namespace: values.namespace, labels: labels(props.component) };
  const scratch = (props.scratch ?? []).map((path, i) => ({ name: `scratch-${i}`, path }));
  new k8s.KubeService(scope, "svc", {
    metadata,
    spec: {
      clusterIp: "None",
      selector: selectorLabels(props.component),
      ports: props.ports.map((p) => ({ name: p.name, port: p.containerPort, targetPort: k8s.IntOrString.fromString(p.name!) })),
    },
  });
  new k8s.KubeStatefulSet(scope, "statefulset", {
    metadata,
    spec: {
      serviceName: name,
      replicas: 1,
      selector: { matchLabels: selectorLabels(props.component) },
      template: {
        metadata: {
          labels: labels(props.component),
          ...(props.config ? { annotations: { "konstruct.io/config-checksum": props.config.checksum } } : {}),
        },
        spec: {
          automountServiceAccountToken: false,
          securityContext: podSecurityContext(props.uid),
          containers: [
            {
              name: props.component,
              image: `${props.image.repository}:${props.image.tag}`,
              imagePullPolicy: props.image.pullPolicy,
              ...(props.command ? { command: props.command } : {}),
              ...(props.args ? { args: props.args } : {}),
              ...(props.env ? { env: props.env } : {}),
              ports: [...props.ports],
              resources: resources(props.resources),
              securityContext: containerSecurityContext(props.uid),
              volumeMounts: [
                { name: "data", mountPath: props.dataPath },
                TMP_MOUNT,
                ...scratch.map((s) => ({ name: s.name, mountPath: s.path })),
                ...(props.config ? [{ name: "config", mountPath: props.config.mountPath, readOnly: true }] : []),
              ],
              ...props.probes,
            },
          ],
          volumes: [
            TMP_VOLUME,
            ...scratch.map((s) => ({ name: s.name, emptyDir: {} })),
            ...(props.config ? [{ name: "config", configMap: { name: props.config.name } }] : []),
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data", labels: labels(props.component) },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(values.storageClassName ? { storageClassName: values.storageClassName } : {}),
            resources: { requests: { storage: k8s.Quantity.fromString(props.storage) } },
          },
        },
      ],
    },
  });
}
