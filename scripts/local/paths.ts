import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root folder. */
export const root: string = fileURLToPath(new URL("../../", import.meta.url));

/** The manifests a local install runs: the Tenants, Agents and Secrets of `examples/`. */
export const examplesDir: string = join(root, "examples");

/** Where a local install keeps its state; tests point KONSTRUCT_LOCAL_DATA_DIR elsewhere so they never touch a developer's. */
export function localDataDir(env: NodeJS.ProcessEnv): string {
  return env.KONSTRUCT_LOCAL_DATA_DIR || join(root, ".data", "local");
}
