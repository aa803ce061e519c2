import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadKubeAuth } from "./kube-auth.ts";

async function kubeconfig(
  user: Record<string, unknown>,
  cluster: Record<string, unknown> = { server: "http://127.0.0.1:6443/" },
) {
  const dir = await mkdtemp(join(tmpdir(), "kube-auth-"));
  await writeFile(join(dir, "token"), "file-token\n");
  const path = join(dir, "config");
  await writeFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "main",
      contexts: [
        { name: "other", context: { cluster: "nope", user: "nope" } },
        { name: "main", context: { cluster: "c", user: "u" } },
      ],
      clusters: [{ name: "c", cluster }],
      users: [{ name: "u", user }],
    }),
  );
  return path;
}

describe("the operator's kubeconfig loader", () => {
  it("reads the current context's server and bearer token, inline or from a file next to the kubeconfig", async () => {
    const inline = await loadKubeAuth({ KUBECONFIG: await kubeconfig({ token: "inline-token" }) });
    expect(inline?.server).toBe("http://127.0.0.1:6443");
    expect((await inline?.authenticate())?.headers).toEqual({ authorization: "Bearer inline-token" });
    const fromFile = await loadKubeAuth({ KUBECONFIG: await kubeconfig({ tokenFile: "token" }) });
    expect((await fromFile?.authenticate())?.headers).toEqual({ authorization: "Bearer file-token" });
  });

  it("builds one TLS pool for an https server and leaves exec plugins to client-node", async () => {
    const tls = await loadKubeAuth({
      KUBECONFIG: await kubeconfig({ token: "t" }, { server: "https://127.0.0.1:6443", "insecure-skip-tls-verify": true }),
    });
    const [first, second] = [await tls?.authenticate(), await tls?.authenticate()];
    expect(first?.dispatcher).toBeDefined();
    expect(second?.dispatcher).toBe(first?.dispatcher);
    expect(await loadKubeAuth({ KUBECONFIG: await kubeconfig({ exec: { command: "aws" } }) })).toBeNull();
  });

  it("refuses a kubeconfig without a current cluster", async () => {
    await expect(loadKubeAuth({ KUBECONFIG: await kubeconfig({ token: "t" }, {}) })).rejects.toThrow(/no current cluster/);
  });
});
