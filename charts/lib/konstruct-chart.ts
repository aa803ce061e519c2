import { App, Chart, YamlOutputType } from "cdk8s";
import { k8s } from "cdk8s-plus-27";
import type { Construct } from "constructs";
import { AppService } from "./app-service.ts";
import { Crds } from "./crds.ts";
import { Gateway } from "./gateway.ts";
import { optionalFromSecret, SECRET_KEYS } from "./install-secret.ts";
import { JetStreamJob } from "./jetstream-job.ts";
import { labels } from "./labels.ts";
import { MigrationsJob } from "./migrations-job.ts";
import { Nats } from "./nats.ts";
import { NetworkPolicies } from "./network-policies.ts";
import { Ollama } from "./ollama.ts";
import { Operator } from "./operator.ts";
import { Portal } from "./portal.ts";
import { PortalAccess } from "./portal-access.ts";
import { Postgres } from "./postgres.ts";
import { Redis } from "./redis.ts";
import type { Values } from "./values.ts";

/** The CRDs, in a chart of their own so they are written, and applied, before anything that uses them. */
export class CrdsChart extends Chart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new Crds(this, "crds");
  }
}

/** Everything else of an install: namespace, operator, data plane, data stores, Ollama, policies. */
export class KonstructChart extends Chart {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    new k8s.KubeNamespace(this, "namespace", {
      metadata: {
        name: values.namespace,
        labels: {
          ...labels("operator"),
          // Every Konstruct pod meets the restricted Pod Security Standard; say so, and have it enforced.
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    });
    new MigrationsJob(this, "migrations", values);
    new JetStreamJob(this, "jetstream", values);
    new Operator(this, "operator", values);
    new PortalAccess(this, "portal-access", values);
    new Gateway(this, "gateway", values);
    new AppService(this, "router", values, {
      component: "router",
      env: ["DATABASE_URL", "REDIS_URL", "NATS_URL", "LOG_LEVEL"],
    });
    new AppService(this, "orchestrator", values, {
      component: "orchestrator",
      env: ["DATABASE_URL", "REDIS_URL", "NATS_URL", "OLLAMA_URL", "LOG_LEVEL"],
      extraEnv: values.openai.baseUrl
        ? [
            { name: "OPENAI_BASE_URL", value: values.openai.baseUrl },
            optionalFromSecret(values, "OPENAI_API_KEY", SECRET_KEYS.openaiApiKey),
          ]
        : [],
    });
    new Portal(this, "portal", values);
    if (values.nats.mode === "in-cluster") new Nats(this, "nats", values);
    if (values.postgres.mode === "in-cluster") new Postgres(this, "postgres", values);
    if (values.redis.mode === "in-cluster") new Redis(this, "redis", values);
    if (values.ollama.enabled) new Ollama(this, "ollama", values);
    if (values.networkPolicies.enabled) new NetworkPolicies(this, "network-policies", values);
  }
}

/** The cdk8s app of an install: CRDs first, then the rest; one YAML file per chart in `outdir`. */
export function buildApp(values: Values, outdir = "dist"): App {
  const app = new App({ outdir, outputFileExtension: ".yaml", yamlOutputType: YamlOutputType.FILE_PER_CHART });
  const crds = new CrdsChart(app, "konstruct-crds");
  const install = new KonstructChart(app, "konstruct", values);
  install.addDependency(crds);
  return app;
}

/** Every object of an install as plain JSON, CRDs first: what `npm run synth` writes. */
export function synthesize(values: Values): Record<string, any>[] {
  return buildApp(values).charts.flatMap((chart) => chart.toJson());
}
