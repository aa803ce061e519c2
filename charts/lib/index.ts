export { requiredSecretKeys, SECRET_KEYS } from "./install-secret.ts";
export { buildApp, CrdsChart, KonstructChart, synthesize } from "./konstruct-chart.ts";
export { PORTAL_PATH } from "./portal.ts";
export type { Values } from "./values.ts";
export { loadValues, parseValues, ValuesError, ValuesSchema } from "./values.ts";
