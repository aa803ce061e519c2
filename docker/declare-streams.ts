import { declareStreams } from "@konstruct/core";

// The chart's JetStream Job (charts/lib/jetstream-job.ts): creates or updates every stream as the
// `jetstream` NATS user, the only one allowed to, and exits. The services declare only their
// own consumers and wait until their streams exist. NATS_URL is never logged: it holds a password.

const url = process.env.NATS_URL;
if (!url) {
  console.error("declare-streams: NATS_URL is not set; it is the URL of the `jetstream` NATS user");
  process.exit(2);
}
try {
  await declareStreams(url, "konstruct-declare-streams");
  console.log("declare-streams: the JetStream streams are declared");
} catch (error) {
  // A failed Job is retried with backoff (NATS may still be starting on a fresh install).
  console.error(`declare-streams: ${(error as Error).message}`);
  process.exit(1);
}
