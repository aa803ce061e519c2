import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "./connect.ts";
import { ensureStreams, type StreamDeclaration } from "./streams.ts";

/**
 * Connects as the stream set-up user (a `nats://jetstream:…@` URL), creates or updates every
 * stream, and disconnects: what `npm start` and the chart's JetStream Job run before the services.
 * A stream kept for now (another retention policy, not drained yet) is in the result with its
 * reason; the caller warns, and never stops for it.
 */
export async function declareStreams(servers: string, name: string): Promise<StreamDeclaration[]> {
  const nc = await connectNats(servers, name);
  try {
    return await ensureStreams(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}
