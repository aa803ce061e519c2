import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { fromSecret, SECRET_KEYS } from "./install-secret.ts";
import { statefulStore } from "./stateful-store.ts";
import type { Values } from "./values.ts";

/** The uid of `redis` in the Alpine redis image. */
const REDIS_UID = 999;

/**
 * Redis for development installs, with two users: `default` (the operator's admin, which runs
 * ACL SETUSER for tenants) and `konstruct` (the services, without dangerous commands). Passwords
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
        ...["--user", "konstruct", "on", ">$(REDIS_PASSWORD)", "~*", "&*", "+@all", "-@dangerous"],
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
