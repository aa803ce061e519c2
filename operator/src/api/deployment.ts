/**
 * How the operator should be run, for the charts. With V8's default heap sizing the
 * process grows to ~380 MB RSS at 500 Tenants, almost all of it uncollected garbage; a bounded
 * heap keeps it under 200 MB and was no slower in the benchmark (operator/bench/tenants.ts).
 */
export const OPERATOR_NODE_OPTIONS = "--max-old-space-size=96 --max-semi-space-size=2";
