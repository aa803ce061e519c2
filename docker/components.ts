// Imported by the entrypoint and by the Dockerfile test, which checks the image holds each one.

/** Each component's main module, relative to this file. */
export const COMPONENTS: Readonly<Record<string, string>> = {
  operator: "../operator/src/main.ts",
  gateway: "../services/gateway/src/main.ts",
  router: "../services/router/src/main.ts",
  orchestrator: "../services/orchestrator/src/main.ts",
  portal: "../services/portal/src/main.ts",
  migrate: "../migrations/src/main.ts",
  "wait-for-schema": "./wait-for-schema.ts",
  "declare-streams": "./declare-streams.ts",
};
