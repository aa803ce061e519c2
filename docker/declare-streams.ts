import { declareStreams } from "@konstruct/core";

// The chart's JetStream Job (charts/lib/jetstream-job.ts): creates or updates every stream as the
// `jetstream` NATS user, the only one allowed to, and exits. The services declare only their
// own consumers and wait until their streams exist. NATS_URL is never logged: it holds a password.

const url = process.env.NATS_URL;
if (!url) {
  console.error("declare-streams: NATS_URL is not set; it is the URL of the `jetstream` NATS user");
  process.exit(2);
}
// A stream of an older version with another retention policy is replaced only once drained. In an
// upgrade the services are still processing it, so the Job tries again for a while before it
// leaves the stream as it is (it then works, unbounded, until the next upgrade replaces it).
const DRAIN_WAIT_MS = 180_000;
const deadline = Date.now() + DRAIN_WAIT_MS;
try {
  for (;;) {
    const streams = await declareStreams(url, "konstruct-declare-streams");
    const kept = streams.filter((s) => s.action === "kept");
    if (kept.length === 0 || Date.now() > deadline) {
      for (const s of streams) console.log(`declare-streams: ${s.stream} ${s.action}${s.reason ? `: ${s.reason}` : ""}`);
      break;
    }
    console.log(`declare-streams: waiting for ${kept.map((s) => s.stream).join(", ")} to drain`);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
  }
} catch (error) {
  // A failed Job is retried with backoff (NATS may still be starting on a fresh install).
  console.error(`declare-streams: ${(error as Error).message}`);
  process.exit(1);
}
