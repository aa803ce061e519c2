/** A start that cannot go on; its message says what to do. */
export class StartError extends Error {
  override name = "StartError";
}

/** A variable scripts/start.sh sets (the servers' URLs); missing means start.ts was run on its own. */
export function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new StartError(`${name} is not set; run \`npm start\`, which sets it (scripts/start.sh)`);
  return value;
}
