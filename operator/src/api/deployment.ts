/**
 * How the operator should be run, for the charts. With V8's default heap sizing the
 * process grows to ~380 MB RSS at 500 Tenants, almost all of it uncollected garbage; a bounded
 * heap keeps it under 200 MB and was no slower in the benchmark (operator/bench/tenants.ts).
 * The bound is sized for 10,000 Tenants: 96 MB ran out at ~8,900 once the operator also cached
 * the RBAC objects and namespaces it reads (kube/watch-cache.ts, ~35 MB at 10,000 Tenants).
 */
export const OPERATOR_NODE_OPTIONS = "--max-old-space-size=144 --max-semi-space-size=2";
