import { type ChildProcess, execFile, spawn } from "node:child_process";
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startReaper } from "./reaper.ts";

/**
 * A real kube-apiserver over a real etcd, started as child processes — what controller-runtime's
 * envtest does for Go operators. The integration tests run operators against it, and `npm start`
 * runs the local platform's operator against it (with etcd's data kept between runs). No kubelet and no controllers run:
 * objects, validation, RBAC, watches and the status subresource behave as in production, but
 * namespaces never finish deleting and nothing is garbage-collected.
 *
 * The binaries come from scripts/build-control-plane.sh.
 */

const execFileAsync = promisify(execFile);

/** Where scripts/build-control-plane.sh puts kube-apiserver and etcd. */
export const defaultControlPlaneBinDir: string = fileURLToPath(new URL("../bin", import.meta.url));

const BINARIES = ["kube-apiserver", "etcd"] as const;

/** The processes a control plane runs; each writes `<name>.log` in the control plane's directory. */
export type ControlPlaneComponent = (typeof BINARIES)[number];

export type ControlPlaneErrorCode = "CONTROL_PLANE_NOT_BUILT" | "CONTROL_PLANE_START_FAILED" | "CERTIFICATE_FAILED";

/** The control plane could not be built, started or given credentials; `message` says what to do. */
export class ControlPlaneError extends Error {
  readonly code: ControlPlaneErrorCode;

  constructor(code: ControlPlaneErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ControlPlaneError";
    this.code = code;
  }
}

export interface ControlPlaneOptions {
  /** Folder holding `kube-apiserver` and `etcd`; defaults to scripts/control-plane/bin. */
  readonly binDir?: string;
  /** How long to wait for etcd and for kube-apiserver's /readyz, each start; default 60 s. */
  readonly readyTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended last so they override the defaults (e.g. `--feature-gates=…`). */
  readonly apiServerArgs?: readonly string[];
  /** Leave the directory (logs, certificates, etcd data) behind on stop(), for debugging. */
  readonly keepDir?: boolean;
  /** Keep etcd's data here instead of in the temporary directory, so objects outlive stop() (npm start). */
  readonly etcdDataDir?: string;
}

/** A PEM client certificate and its private key. */
export interface ClientCertificate {
  readonly certificate: string;
  readonly key: string;
}

export interface ControlPlane {
  /** The API server URL, `https://127.0.0.1:<port>`; the same across restartApiServer(). */
  readonly server: string;
  /** The admin kubeconfig (user `konstruct-admin` in group `system:masters`); same file as adminKubeconfigPath. */
  readonly kubeconfigPath: string;
  readonly adminKubeconfigPath: string;
  /** The CA that signed the serving certificate and every client certificate, PEM. */
  readonly caCertificate: string;
  /** The admin client certificate, for clients configured without a kubeconfig. */
  readonly adminCertificate: ClientCertificate;
  /** etcd's client URL, for tests that inspect storage directly. */
  readonly etcdEndpoint: string;
  /** The temporary directory holding logs, certificates, kubeconfigs and etcd's data. */
  readonly dir: string;
  /** Issues a client certificate, signed by the CA, for `user` in `groups` (its CN and O fields). */
  issueClientCertificate(user: string, groups?: readonly string[]): Promise<ClientCertificate>;
  /** Writes a kubeconfig for `user` in `groups` and returns its path; bind it to a ClusterRole to test least privilege. */
  writeKubeconfigFor(user: string, groups?: readonly string[]): Promise<string>;
  /** Stops kube-apiserver (SIGTERM, then SIGKILL after 10 s); etcd and its data stay. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port and waits for /readyz. */
  startApiServer(): Promise<void>;
  /** stopApiServer() then startApiServer(): clients see their watches and connections drop. */
  restartApiServer(): Promise<void>;
  /** The last `lines` lines a component logged. */
  logTail(component: ControlPlaneComponent, lines?: number): string;
  /** Kills both processes and removes the directory; safe to call twice. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** True when scripts/build-control-plane.sh has built both binaries into `binDir`. */
export function controlPlaneBinariesBuilt(binDir: string = defaultControlPlaneBinDir): boolean {
  return BINARIES.every((name) => isExecutable(join(binDir, name)));
}

/** Starts etcd and kube-apiserver on free loopback ports and waits until the API server is ready. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = options.binDir ?? defaultControlPlaneBinDir;
  const missing = BINARIES.filter((name) => !isExecutable(join(binDir, name)));
  if (missing.length > 0) {
    throw new ControlPlaneError(
      "CONTROL_PLANE_NOT_BUILT",
      `${missing.join(" and ")} not found in ${binDir}; run scripts/build-control-plane.sh ` +
        "(the first build takes several minutes, later ones seconds)",
    );
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;

  // On tmpfs etcd's writes never wait for a disk, which keeps tests fast.
  const dir = await mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "konstruct-control-plane-"));
  const pki = join(dir, "pki");
  const certDir = join(dir, "apiserver-certs");

  const processes = new Map<ControlPlaneComponent, Launched>();
  const pidsFile = join(dir, "pids");
  // Kept current, so the reaper never kills a pid the kernel has since given to another process.
  const recordPids = (): void => {
    const pids = [...processes.values()].filter(isRunning).map((p) => p.child.pid);
    try {
      writeFileSync(pidsFile, pids.join(" "));
    } catch {
      // the directory is already gone: stop() ran
    }
  };
  const reaper = startReaper(pidsFile, options.keepDir === true ? {} : { removeDir: dir });
  const killNow = (): void => {
    for (const p of processes.values()) p.child.kill("SIGKILL");
    reaper.kill("SIGKILL");
    if (options.keepDir !== true) rmSync(dir, { recursive: true, force: true });
  };
  liveControlPlanes.add(killNow);
  ensureExitHook();

  const logPath = (component: ControlPlaneComponent): string => join(dir, `${component}.log`);
  const logTail = (component: ControlPlaneComponent, lines = 40): string => tailOf(logPath(component), lines);
  const launch = (component: ControlPlaneComponent, args: readonly string[]): Launched => {
    const launched = launchProcess(join(binDir, component), args, logPath(component), recordPids);
    processes.set(component, launched);
    recordPids();
    return launched;
  };
  const startFailed = (component: ControlPlaneComponent, why: string, cause?: unknown): ControlPlaneError =>
    new ControlPlaneError(
      "CONTROL_PLANE_START_FAILED",
      `${component} ${why}; the last lines of ${component}.log:\n${logTail(component)}`,
      { cause },
    );

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const component of ["kube-apiserver", "etcd"] as const) {
      const p = processes.get(component);
      if (p !== undefined) await terminate(p);
    }
    reaper.kill("SIGKILL");
    liveControlPlanes.delete(killNow);
    if (options.keepDir !== true) await rm(dir, { recursive: true, force: true });
  };

  try {
    await mkdir(pki, { mode: 0o700 });
    await mkdir(certDir, { mode: 0o700 });
    const [etcdPort, etcdPeerPort, apiPort] = await freePorts(3);
    const etcdEndpoint = `http://127.0.0.1:${etcdPort}`;
    const server = `https://127.0.0.1:${apiPort}`;
    const certs = await generateCertificates(pki, certDir);
    const admin = { certificate: certs.adminCertificate, key: certs.adminKey };
    const tls = { ca: certs.caCertificate, cert: admin.certificate, key: admin.key };

    const peer = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = launch("etcd", [
      "--name=default",
      `--data-dir=${options.etcdDataDir ?? join(dir, "etcd")}`,
      `--listen-client-urls=${etcdEndpoint}`,
      `--advertise-client-urls=${etcdEndpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=default=${peer}`,
      // Test data only: losing it on a machine crash is fine, waiting for the disk is not.
      "--unsafe-no-fsync=true",
    ]);
    await waitUntil(
      readyTimeoutMs,
      etcd,
      async () => (await get(`${etcdEndpoint}/health`)).body.includes('"health":"true"'),
      (why, cause) => startFailed("etcd", why, cause),
    );

    // The flags controller-runtime's envtest passes, so operators see what they would see there.
    const apiServerArgs = [
      `--etcd-servers=${etcdEndpoint}`,
      `--cert-dir=${certDir}`,
      `--secure-port=${apiPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--client-ca-file=${join(pki, "ca.crt")}`,
      `--service-account-issuer=${server}/`,
      `--service-account-key-file=${join(pki, "service-account.pub")}`,
      `--service-account-signing-key-file=${join(pki, "service-account.key")}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--authorization-mode=RBAC",
      // No controller-manager runs to create the tokens this admission plugin waits for.
      "--disable-admission-plugins=ServiceAccount",
      "--allow-privileged=true",
      ...(options.apiServerArgs ?? []),
    ];
    const startApiServer = async (): Promise<void> => {
      if (stopped) throw new ControlPlaneError("CONTROL_PLANE_START_FAILED", "the control plane was stopped");
      const current = processes.get("kube-apiserver");
      if (current !== undefined && isRunning(current)) return;
      const apiServer = launch("kube-apiserver", apiServerArgs);
      // As system:masters: anonymous /readyz is refused until RBAC's bootstrap roles exist.
      await waitUntil(
        readyTimeoutMs,
        apiServer,
        async () => (await get(`${server}/readyz`, tls)).status === 200,
        (why, cause) => startFailed("kube-apiserver", why, cause),
      );
    };
    const stopApiServer = async (): Promise<void> => {
      const current = processes.get("kube-apiserver");
      if (current !== undefined) await terminate(current);
    };
    await startApiServer();

    const adminKubeconfigPath = join(dir, "admin.kubeconfig");
    await writeKubeconfig(adminKubeconfigPath, server, certs.caCertificate, "konstruct-admin", admin);

    // Numbered up front, so concurrent calls never share file names.
    let issued = 0;
    const issueClientCertificate = (user: string, groups: readonly string[] = []): Promise<ClientCertificate> =>
      signClientCertificate(pki, `client-${++issued}`, user, groups);
    const writeKubeconfigFor = async (user: string, groups: readonly string[] = []): Promise<string> => {
      const path = join(dir, `${issued + 1}-${user.replace(/[^A-Za-z0-9._-]+/g, "_")}.kubeconfig`);
      const credentials = await issueClientCertificate(user, groups);
      await writeKubeconfig(path, server, certs.caCertificate, user, credentials);
      return path;
    };

    return {
      server,
      kubeconfigPath: adminKubeconfigPath,
      adminKubeconfigPath,
      caCertificate: certs.caCertificate,
      adminCertificate: admin,
      etcdEndpoint,
      dir,
      issueClientCertificate,
      writeKubeconfigFor,
      stopApiServer,
      startApiServer,
      async restartApiServer() {
        await stopApiServer();
        await startApiServer();
      },
      logTail,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// --- processes -----------------------------------------------------------------------------

interface Launched {
  readonly child: ChildProcess;
  /** Settles when the process has exited (or could not be spawned); never rejects. */
  readonly exited: Promise<void>;
}

function launchProcess(binary: string, args: readonly string[], logPath: string, onExit: () => void): Launched {
  const log = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: ["ignore", log, log] });
  } finally {
    closeSync(log); // the child holds its own copy
  }
  // A test that forgets stop() must not hang the runner; the exit hook and the reaper clean up.
  child.unref();
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      onExit();
      resolve();
    });
    child.once("error", (error) => {
      try {
        writeFileSync(logPath, `could not start ${binary}: ${error.message}\n`, { flag: "a" });
      } finally {
        resolve();
      }
    });
  });
  return { child, exited };
}

function isRunning(p: Launched): boolean {
  return p.child.pid !== undefined && p.child.exitCode === null && p.child.signalCode === null;
}

async function terminate(p: Launched, graceMs = 10_000): Promise<void> {
  if (!isRunning(p)) return;
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** Polls `ready` until it returns true; fails early, with the log, when the process exits. */
async function waitUntil(
  timeoutMs: number,
  p: Launched,
  ready: () => Promise<boolean>,
  fail: (why: string, cause?: unknown) => Error,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (!isRunning(p)) {
      const how = p.child.signalCode ?? `code ${p.child.exitCode}`;
      throw fail(p.child.pid === undefined ? "could not be started" : `exited (${how}) while starting`);
    }
    try {
      if (await ready()) return;
    } catch (error) {
      lastError = error; // not listening yet
    }
    if (Date.now() > deadline) throw fail(`was not ready after ${timeoutMs} ms`, lastError);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// Cleanup when the test process ends without calling stop(): an exit hook covers a normal exit
// and process.exit(); a reaper covers the test runner killing the worker with a signal, which
// runs no JavaScript.
const liveControlPlanes = new Set<() => void>();
let exitHookInstalled = false;

function ensureExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const kill of liveControlPlanes) kill();
  });
}

// --- network -------------------------------------------------------------------------------

/** Ports the kernel hands out for listen(0), all held open together so they differ. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
      });
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("listen(0) returned no port");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

interface Tls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** One GET without connection reuse, so no pooled socket outlives the control plane. */
function get(url: string, tls?: Tls): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const callback = (response: IncomingMessage): void => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    };
    const req =
      tls === undefined
        ? httpRequest(url, { agent: false, timeout: 5_000 }, callback)
        : httpsRequest(url, { agent: false, timeout: 5_000, ...tls }, callback);
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

// --- certificates --------------------------------------------------------------------------

interface Certificates {
  readonly caCertificate: string;
  readonly adminCertificate: string;
  readonly adminKey: string;
}

const DAYS = "7";
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

async function generateCertificates(pki: string, certDir: string): Promise<Certificates> {
  const ca = join(pki, "ca");
  await openssl(
    ["req", "-x509", ...EC_KEY, "-keyout", `${ca}.key`, "-out", `${ca}.crt`, "-days", DAYS],
    ["-subj", "/CN=konstruct-test-ca"],
    ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  );
  // kube-apiserver finds apiserver.crt and apiserver.key in --cert-dir.
  await openssl(
    [
      ...["req", "-x509", ...EC_KEY, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-days", DAYS],
      ...["-keyout", join(certDir, "apiserver.key"), "-out", join(certDir, "apiserver.crt")],
    ],
    ["-subj", "/CN=kube-apiserver"],
    [
      ...["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "extendedKeyUsage=serverAuth"],
      ...["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature"],
    ],
  );
  const sa = join(pki, "service-account");
  await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${sa}.key`]);
  await openssl(["pkey", "-in", `${sa}.key`, "-pubout", "-out", `${sa}.pub`]);

  const admin = await signClientCertificate(pki, "admin", "konstruct-admin", ["system:masters"]);
  return {
    caCertificate: await readFile(`${ca}.crt`, "utf8"),
    adminCertificate: admin.certificate,
    adminKey: admin.key,
  };
}

/** The API server takes the user name from the CN and the groups from each O. */
async function signClientCertificate(
  pki: string,
  name: string,
  user: string,
  groups: readonly string[],
): Promise<ClientCertificate> {
  const subject = [`/CN=${escapeRdn(user)}`, ...groups.map((group) => `/O=${escapeRdn(group)}`)].join("");
  const base = join(pki, name);
  const ca = join(pki, "ca");
  await openssl(
    [
      ...["req", "-x509", ...EC_KEY, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-days", DAYS],
      ...["-keyout", `${base}.key`, "-out", `${base}.crt`],
    ],
    ["-subj", subject],
    [
      ...["-addext", "extendedKeyUsage=clientAuth", "-addext", "basicConstraints=critical,CA:FALSE"],
      ...["-addext", "keyUsage=critical,digitalSignature"],
    ],
  );
  return { certificate: await readFile(`${base}.crt`, "utf8"), key: await readFile(`${base}.key`, "utf8") };
}

/** openssl's -subj splits on "/" and treats "\" as an escape; names such as system:serviceaccount:… pass. */
function escapeRdn(value: string): string {
  if (value === "" || /[\p{Cc}]/u.test(value)) {
    throw new ControlPlaneError(
      "CERTIFICATE_FAILED",
      `user and group names must be non-empty text, got ${JSON.stringify(value)}`,
    );
  }
  return value.replace(/[\\/+=]/g, (c) => `\\${c}`);
}

async function openssl(...argGroups: readonly (readonly string[])[]): Promise<void> {
  const args = argGroups.flat();
  try {
    await execFileAsync("openssl", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    const hint = (error as NodeJS.ErrnoException).code === "ENOENT" ? "openssl is not on PATH; install it" : stderr;
    throw new ControlPlaneError("CERTIFICATE_FAILED", `openssl ${args[0]} failed: ${hint}`, { cause: error });
  }
}

async function writeKubeconfig(
  path: string,
  server: string,
  caCertificate: string,
  user: string,
  credentials: ClientCertificate,
): Promise<void> {
  const base64 = (pem: string): string => Buffer.from(pem).toString("base64");
  // JSON is YAML, and kubectl and @kubernetes/client-node read both.
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "konstruct-test", cluster: { server, "certificate-authority-data": base64(caCertificate) } }],
    users: [
      {
        name: user,
        user: {
          "client-certificate-data": base64(credentials.certificate),
          "client-key-data": base64(credentials.key),
        },
      },
    ],
    contexts: [{ name: "konstruct-test", context: { cluster: "konstruct-test", user } }],
    "current-context": "konstruct-test",
  };
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

// --- files ---------------------------------------------------------------------------------

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function tailOf(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
