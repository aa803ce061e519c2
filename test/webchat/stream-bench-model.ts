// The stream benchmark's model server: the Ollama double on a thread of its own, as a model
// server is a machine of its own, so the visitors' event streams parsed on the benchmark's
// thread do not delay its chunks or its clock readings. Started by stream-bench.ts.
import { parentPort, workerData } from "node:worker_threads";
import { startOllamaDouble } from "@konstruct/testkit";

const port = parentPort;
if (!port) throw new Error("stream-bench-model.ts runs as a worker of stream-bench.ts");
const ollama = await startOllamaDouble({ chunkDelayMs: (workerData as { chunkMs: number }).chunkMs });
port.postMessage({ url: ollama.url });
port.on("message", async (message: "requests" | "close") => {
  if (message === "requests") {
    // Absolute times (timeOrigin + now), comparable with the visitors' on the main thread.
    port.postMessage({
      requests: ollama.requests.map((r) => ({
        question: r.messages.at(-1)?.content ?? "",
        firstChunkAt: r.firstChunkAt === undefined ? undefined : performance.timeOrigin + r.firstChunkAt,
      })),
    });
  } else {
    await ollama.close();
    port.close();
  }
});
