import { crds } from "@konstruct/operator";
import { ApiObject } from "cdk8s";
import { Construct } from "constructs";
import { labels } from "./labels.ts";

/**
 * The Tenant and Agent CRDs, exactly as the operator generates them from its TypeBox schemas,
 * so the API server validates with the schema the operator's types come from.
 */
export class Crds extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    for (const crd of crds()) {
      new ApiObject(this, crd.metadata.name, {
        apiVersion: crd.apiVersion,
        kind: crd.kind,
        metadata: { ...crd.metadata, labels: { ...crd.metadata.labels, ...labels("crds") } },
        spec: crd.spec,
      });
    }
  }
}
