import { Construct } from "constructs";
import { fromSecret, SECRET_KEYS } from "./install-secret.ts";
import { statefulStore } from "./stateful-store.ts";
import type { Values } from "./values.ts";

/** The uid of `postgres` in the Alpine postgres image. */
const POSTGRES_UID = 70;

/** PostgreSQL for development installs; production points `postgres.mode: external` at a managed server. */
export class Postgres extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const ready = { exec: { command: ["pg_isready", "--username=postgres", "--host=127.0.0.1"] } };
    statefulStore(this, values, {
      component: "postgres",
      image: values.images.postgres,
      uid: POSTGRES_UID,
      ports: [{ name: "postgres", containerPort: 5432, protocol: "TCP" }],
      env: [
        fromSecret(values, "POSTGRES_PASSWORD", SECRET_KEYS.postgresAdminPassword),
        { name: "POSTGRES_DB", value: values.postgres.database },
        // A subdirectory: the volume's root may hold lost+found, which initdb refuses.
        { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
      ],
      dataPath: "/var/lib/postgresql/data",
      storage: values.postgres.storage,
      resources: values.postgres.resources,
      probes: {
        readinessProbe: { ...ready, periodSeconds: 5, timeoutSeconds: 3 },
        livenessProbe: { ...ready, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4, initialDelaySeconds: 30 },
      },
      // The server's socket directory.
      scratch: ["/var/run/postgresql"],
    });
  }
}
