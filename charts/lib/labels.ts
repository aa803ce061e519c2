/**
 * The labels every object carries, and the two that select a component's pods. Selectors use
 * only `name` and `component`, which never change, because a Deployment's selector is immutable.
 */

/** Components of an install; each names its pods' `app.kubernetes.io/component` label. */
export type Component =
  | "operator"
  | "gateway"
  | "router"
  | "orchestrator"
  | "portal"
  | "migrate"
  | "jetstream"
  | "nats"
  | "postgres"
  | "redis"
  | "ollama"
  | "crds";

/** Labels that select the pods of `component`. */
export function selectorLabels(component: Component): Record<string, string> {
  return { "app.kubernetes.io/name": "konstruct", "app.kubernetes.io/component": component };
}

/** Labels for every object of `component`. */
export function labels(component: Component): Record<string, string> {
  return { ...selectorLabels(component), "app.kubernetes.io/part-of": "konstruct", "app.kubernetes.io/managed-by": "cdk8s" };
}

/** The object name of `component`: `konstruct-<component>`. */
export function nameOf(component: Component): string {
  return `konstruct-${component}`;
}
