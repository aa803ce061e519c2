import { k8s } from "cdk8s-plus-27";
import type { ResourceValues, Values } from "./values.ts";

/**
 * Secure defaults for every pod and container: non-root, read-only root filesystem, every
 * capability dropped, no privilege escalation, seccomp RuntimeDefault. Written against the
 * Kubernetes types cdk8s-plus-27 bundles rather than its higher-level constructs, because the
 * install needs fields those constructs do not model (seccomp, nodeSelector, extended
 * resources such as nvidia.com/gpu) and explicit selectors that NetworkPolicies can name.
 */

/** The uid and gid of the `node` user in the Konstruct image (node:24-slim). */
export const KONSTRUCT_UID = 1000;

/** A pod security context for `uid`; `fsGroup` makes mounted volumes writable by it. */
export function podSecurityContext(uid: number, fsGroup = uid): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** The container security context every container gets. */
export function containerSecurityContext(uid: number): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Requests and limits from values. */
export function resources(r: ResourceValues, extraLimits: Record<string, number> = {}): k8s.ResourceRequirements {
  const limits: Record<string, k8s.Quantity> = {
    cpu: k8s.Quantity.fromString(r.limits.cpu),
    memory: k8s.Quantity.fromString(r.limits.memory),
  };
  for (const [name, amount] of Object.entries(extraLimits)) limits[name] = k8s.Quantity.fromNumber(amount);
  return {
    requests: { cpu: k8s.Quantity.fromString(r.requests.cpu), memory: k8s.Quantity.fromString(r.requests.memory) },
    limits,
  };
}

/** The Konstruct image running `component` (the image's entrypoint picks it from the first argument). */
export function konstructContainer(
  values: Values,
  component: string,
  name: string,
  rest: Omit<k8s.Container, "name" | "image" | "args" | "imagePullPolicy" | "securityContext">,
): k8s.Container {
  const image = values.images.konstruct;
  return {
    name,
    image: `${image.repository}:${image.tag}`,
    imagePullPolicy: image.pullPolicy,
    args: [component],
    securityContext: containerSecurityContext(KONSTRUCT_UID),
    ...rest,
  };
}

/** Readiness, liveness and startup probes on `/readyz` and `/healthz` of a named port. */
export function httpProbes(port: string): Pick<k8s.Container, "readinessProbe" | "livenessProbe" | "startupProbe"> {
  const get = (path: string) => ({ path, port: k8s.IntOrString.fromString(port) });
  return {
    // Startup gives a slow first connection (NATS, PostgreSQL) a minute before liveness counts.
    startupProbe: { httpGet: get("/healthz"), periodSeconds: 2, failureThreshold: 30, timeoutSeconds: 2 },
    readinessProbe: { httpGet: get("/readyz"), periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 2 },
    livenessProbe: { httpGet: get("/healthz"), periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
  };
}

/** A writable emptyDir for /tmp, since root filesystems are read-only. */
export const TMP_VOLUME: k8s.Volume = { name: "tmp", emptyDir: { sizeLimit: k8s.Quantity.fromString("64Mi") } };
export const TMP_MOUNT: k8s.VolumeMount = { name: "tmp", mountPath: "/tmp" };
