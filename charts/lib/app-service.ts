import { HTTP_PORTS, PORT_VARIABLE } from "@konstruct/core/listen";
import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { type ConnectionVar, connectionEnv } from "./install-secret.ts";
import { type Component, labels, nameOf, selectorLabels } from "./labels.ts";
import { waitForSchemaContainer } from "./migrations-job.ts";
import { httpProbes, KONSTRUCT_UID, konstructContainer, podSecurityContext, resources, TMP_MOUNT, TMP_VOLUME } from "./pod.ts";
import type { Values } from "./values.ts";

export interface AppServiceProps {
  readonly component: Extract<Component, "gateway" | "router" | "orchestrator" | "portal">;
  /** A ServiceAccount whose token the pod mounts (only for a service that calls the Kubernetes API). */
  readonly serviceAccountName?: string;
  /** Extra env vars after the connection ones. */
  readonly extraEnv?: readonly k8s.EnvVar[];
  readonly env: readonly ConnectionVar[];
}

/**
 * A stateless Konstruct service: a Deployment that waits for the schema, with probes, requests
 * and limits; a PodDisruptionBudget; and, when enabled, a HorizontalPodAutoscaler on CPU.
 */
export class AppService extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, values: Values, props: AppServiceProps) {
    super(scope, id);
    const { component } = props;
    // The port serving `/healthz`, `/readyz` and `/metrics` (and the gateway's webhooks and web chat).
    const port = HTTP_PORTS[component];
    const settings = values[component];
    this.name = nameOf(component);
    const metadata = { name: this.name, namespace: values.namespace, labels: labels(component) };
    const autoscaled = settings.autoscaling.enabled;

    new k8s.KubeDeployment(this, "deployment", {
      metadata,
      spec: {
        // With an autoscaler the replica count is its to set; a fixed one here would fight it on every apply.
        ...(autoscaled ? {} : { replicas: settings.replicas }),
        selector: { matchLabels: selectorLabels(component) },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: {
          metadata: { labels: labels(component), annotations: { "kubectl.kubernetes.io/default-container": component } },
          spec: {
            ...(props.serviceAccountName
              ? { serviceAccountName: props.serviceAccountName, automountServiceAccountToken: true }
              : { automountServiceAccountToken: false }),
            securityContext: podSecurityContext(KONSTRUCT_UID),
            initContainers: [waitForSchemaContainer(values)],
            containers: [
              konstructContainer(values, component, component, {
                ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
                env: [
                  // The portal has no NATS user: it neither publishes nor consumes.
                  ...connectionEnv(values, props.env, component === "portal" ? undefined : component),
                  ...(props.extraEnv ?? []),
                  ...(settings.nodeOptions ? [{ name: "NODE_OPTIONS", value: settings.nodeOptions }] : []),
                  { name: PORT_VARIABLE, value: String(port) },
                ],
                resources: resources(settings.resources),
                volumeMounts: [TMP_MOUNT],
                ...httpProbes("http"),
              }),
            ],
            volumes: [TMP_VOLUME],
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: "kubernetes.io/hostname",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: selectorLabels(component) },
              },
            ],
            terminationGracePeriodSeconds: 30,
          },
        },
      },
    });

    // maxUnavailable rather than minAvailable: a one-replica install can still drain its node.
    new k8s.KubePodDisruptionBudget(this, "pdb", {
      metadata,
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selectorLabels(component) } },
    });

    if (autoscaled) {
      new k8s.KubeHorizontalPodAutoscalerV2(this, "hpa", {
        metadata,
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: this.name },
          minReplicas: settings.autoscaling.minReplicas,
          maxReplicas: settings.autoscaling.maxReplicas,
          metrics: [
            {
              type: "Resource",
              resource: {
                name: "cpu",
                target: { type: "Utilization", averageUtilization: settings.autoscaling.targetCPUUtilization },
              },
            },
          ],
        },
      });
    }
  }
}

/**
 * What people and webhooks reach an AppService through: a ClusterIP Service on port 80 and,
 * when the Ingress is enabled, an Ingress on the install's host routing `paths` to it (with the
 * host's TLS). The gateway and the portal differ only in their paths.
 */
export function exposeHttp(scope: Construct, values: Values, component: "gateway" | "portal", paths: readonly string[]): void {
  const name = nameOf(component);
  const metadata = { name, namespace: values.namespace, labels: labels(component) };
  new k8s.KubeService(scope, "svc", {
    metadata,
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(component),
      ports: [{ name: "http", port: 80, targetPort: k8s.IntOrString.fromString("http"), protocol: "TCP" }],
    },
  });
  if (!values.ingress.enabled) return;
  const ingress = values.ingress;
  new k8s.KubeIngress(scope, "ingress", {
    metadata: { ...metadata, annotations: ingress.annotations },
    spec: {
      ingressClassName: ingress.className,
      ...(ingress.tls.enabled ? { tls: [{ hosts: [values.domain], secretName: ingress.tls.secretName }] } : {}),
      rules: [
        {
          host: values.domain,
          http: {
            paths: paths.map((path) => ({ path, pathType: "Prefix", backend: { service: { name, port: { name: "http" } } } })),
          },
        },
      ],
    },
  });
}
