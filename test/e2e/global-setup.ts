/**
 * Brings up the kind cluster the end-to-end suite runs on: starts a Docker engine when the
 * machine can run one (scripts/kind/ensure-docker.sh), then `scripts/kind.sh --offline`, which
 * builds every image here and installs Konstruct. The suite is skipped — with the reason printed
 * — only when no Docker engine can be had. The cluster is deleted afterwards unless
 * KONSTRUCT_KIND_KEEP=1 (then the next run reuses it).
 */
import { execFileSync, spawnSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import type { KindCluster } from "./support.ts";

const root = new URL("../..", import.meta.url).pathname;
const clusterName = process.env.KONSTRUCT_KIND_CLUSTER ?? "konstruct-e2e";
const httpPort = Number(process.env.KONSTRUCT_KIND_HTTP_PORT ?? 18080);
const httpsPort = Number(process.env.KONSTRUCT_KIND_HTTPS_PORT ?? 18443);

export default function setup(project: TestProject): () => void {
  const base: KindCluster = {
    skip: null,
    context: `kind-${clusterName}`,
    clusterName,
    httpPort,
    host: "konstruct.localtest.me",
    namespace: "konstruct",
    valuesFile: `${root}.data/kind/${clusterName}/values.yaml`,
    konstructImage: "",
  };
  const docker = spawnSync("bash", [`${root}scripts/kind/ensure-docker.sh`], {
    stdio: ["ignore", "inherit", "pipe"],
    encoding: "utf8",
  });
  if (docker.status !== 0) {
    const reason = `no Docker engine could be started: ${docker.stderr.trim() || `exit ${docker.status}`}`;
    console.warn(`\n*** kind end-to-end suite SKIPPED: ${reason}\n`);
    project.provide("kind", { ...base, skip: reason });
    return () => {};
  }
  const env = {
    ...process.env,
    KIND_CLUSTER_NAME: clusterName,
    KIND_HTTP_PORT: String(httpPort),
    KIND_HTTPS_PORT: String(httpsPort),
    KIND_LISTEN_ADDRESS: "127.0.0.1",
  };
  execFileSync("bash", [`${root}scripts/kind.sh`, "--offline"], { stdio: "inherit", env, cwd: root });
  const images = Object.fromEntries(
    execFileSync("cat", [`${root}.tools/kind/images.env`], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((line) => line.split("=", 2) as [string, string]),
  );
  project.provide("kind", { ...base, konstructImage: images.konstruct ?? "" });
  return () => {
    if (process.env.KONSTRUCT_KIND_KEEP === "1") {
      console.log(`keeping kind cluster ${clusterName} (KONSTRUCT_KIND_KEEP=1)`);
      return;
    }
    spawnSync("bash", [`${root}scripts/kind.sh`, "--delete"], { stdio: "inherit", env, cwd: root });
  };
}
