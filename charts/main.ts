import { parseArgs } from "node:util";
import { buildApp } from "./lib/konstruct-chart.ts";
import { loadValues, ValuesError } from "./lib/values.ts";

// `npm run synth -- [--values FILE] [--output DIR]`: writes the install to dist/ (cdk8s.yaml runs the same).
const { values: args } = parseArgs({
  options: { values: { type: "string", short: "f" }, output: { type: "string", short: "o", default: "dist" } },
});

try {
  const app = buildApp(loadValues(args.values), args.output);
  app.synth();
  console.log(`wrote ${app.charts.length} manifests to ${args.output}/`);
} catch (error) {
  if (!(error instanceof ValuesError)) throw error;
  console.error(error.message);
  process.exitCode = 2;
}
