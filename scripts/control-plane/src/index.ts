// The local control plane: a real kube-apiserver over a real etcd (built by
// scripts/build-control-plane.sh from the Go module beside this folder), and the client helpers
// that apply manifests to it. The integration tests (through @konstruct/testkit) and `npm start`
// (scripts/local) both use it; it holds no test code.
export type {
  ClientCertificate,
  ControlPlane,
  ControlPlaneComponent,
  ControlPlaneErrorCode,
  ControlPlaneOptions,
} from "./control-plane.ts";
export {
  ControlPlaneError,
  controlPlaneBinariesBuilt,
  defaultControlPlaneBinDir,
  startControlPlane,
} from "./control-plane.ts";
export type { Manifest } from "./kube.ts";
export {
  applyObject,
  applyObjects,
  loadManifests,
  objectClient,
  retryingTooManyRequests,
  serverMessage,
  waitForEstablished,
} from "./kube.ts";
export { startReaper } from "./reaper.ts";
