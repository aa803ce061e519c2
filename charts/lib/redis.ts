import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { fromSecret, SECRET_KEYS } from "./install-secret.ts";
import { statefulStore } from "./stateful-store.ts";
import type { Values } from "./values.ts";

/** The uid of `redis` in the Alpine redis image. */
const REDIS_UID = 999;

/**
 * The services' user: every command but `@dangerous`, except `CLIENT UNBLOCK`, with which the
 * web chat's stream hub wakes its blocked XREAD when a new event stream joins (refused, a new
 * stream would wait for the read's timeout).
 */
export const SERVICES_COMMAND_RULES = ["+@all", "-@dangerous", "+client|unblock"] as const;

/**
 * The eviction policy. `noeviction`: when Redis is full, writes fail with an OOM error (the
 * message is refused or retried, visibly) instead of Redis silently dropping keys; every
 * volatile or allkeys policy would drop idempotency records and concurrency slots (which all
 * carry a TTL), and a dropped record means a second model run or a second reply.
 */
export const REDIS_MAXMEMORY_POLICY = "noeviction";

const QUANTITY_FACTORS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/**
 * Redis's `maxmemory` in bytes: three quarters of the container's memory limit, leaving room
 * for allocator fragmentation, client buffers and the fork that rewrites the append-only file,
 * so Redis refuses writes before the kernel kills it.
 */
export function redisMaxMemory(memoryLimit: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(memoryLimit);
  if (!match)
    throw new Error(`redis.resources.limits.memory ${JSON.stringify(memoryLimit)} is not a memory quantity such as 512Mi`);
  return Math.floor(Number(match[1]) * (QUANTITY_FACTORS[match[2] ?? ""] as number) * 0.75);
}

/**
 * Redis for development installs, with two users: `default` (the operator's admin, which runs
 * ACL SETUSER for tenants) and `konstruct` (the services, without dangerous commands), and a
 * `maxmemory` below the container's limit with an explicit policy. Passwords
 * come from the install Secret through `$(VAR)` expansion in the arguments.
 */
export class Redis extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const tcp = { tcpSocket: { port: k8s.IntOrString.fromString("redis") } };
    statefulStore(this, values, {
      component: "redis",
      image: values.images.redis,
      uid: REDIS_UID,
      ports: [{ name: "redis", containerPort: 6379, protocol: "TCP" }],
      env: [
        fromSecret(values, "REDIS_ADMIN_PASSWORD", SECRET_KEYS.redisAdminPassword),
        fromSecret(values, "REDIS_PASSWORD", SECRET_KEYS.redisPassword),
      ],
      command: ["redis-server"],
      args: [
        ...["--dir", "/data", "--appendonly", "yes", "--requirepass", "$(REDIS_ADMIN_PASSWORD)"],
        ...["--user", "konstruct", "on", ">$(REDIS_PASSWORD)", "~*", "&*", ...SERVICES_COMMAND_RULES],
        ...["--maxmemory", String(redisMaxMemory(values.redis.resources.limits.memory))],
        ...["--maxmemory-policy", REDIS_MAXMEMORY_POLICY],
      ],
      dataPath: "/data",
      storage: values.redis.storage,
      resources: values.redis.resources,
      probes: {
        readinessProbe: { ...tcp, periodSeconds: 5 },
        livenessProbe: { ...tcp, periodSeconds: 15, failureThreshold: 4 },
      },
    });
  }
}
