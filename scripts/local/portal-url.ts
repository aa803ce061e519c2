import { DEFAULT_PORTAL_PUBLIC_URL } from "@konstruct/operator";

/**
 * Where the local portal listens (KONSTRUCT_PORTAL_PORT, default 8084 as in
 * DEFAULT_PORTAL_PUBLIC_URL): the base of the first owners' invitation links the operator makes.
 */
export function localPortalUrl(env: NodeJS.ProcessEnv): string {
  const port = env.KONSTRUCT_PORTAL_PORT;
  return port ? `http://127.0.0.1:${port}` : DEFAULT_PORTAL_PUBLIC_URL;
}
