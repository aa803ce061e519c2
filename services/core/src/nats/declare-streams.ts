import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "./connect.ts";
import { ensureStreams } from "./streams.ts";

/**
 * Connects as the stream set-up user (a `nats://jetstream:…@` URL), creates or updates every
 * stream, and disconnects: what `npm start` and the chart's JetStream Job run before the services.
 */
export async function declareStreams(servers: string, name: string): Promise<void> {
  const nc = await connectNats(servers, name);
  try {
    await ensureStreams(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}
