import type { FetchFunction } from "@slack/web-api";
import { Agent, type Dispatcher, request, fetch as undiciFetch } from "undici";

/** Options for {@link createKeepAliveFetch}. */
export interface KeepAliveFetchOptions {
  /** Open connections kept per origin (Slack's API is one origin for every workspace). */
  connections?: number;
  keepAliveMs?: number;
}

/** What WebClient reads of an answer (the `FetchResponse` its `FetchFunction` returns). */
type FetchResponse = Awaited<ReturnType<FetchFunction>>;

/** A `fetch` for `@slack/web-api` over kept-alive connections, and a way to close them. */
export interface KeepAliveFetch {
  fetch: FetchFunction;
  /** The kept-alive sockets under `fetch`, for direct requests to the same origins. */
  dispatcher: Dispatcher;
  close(): Promise<void>;
}

/**
 * The `fetch` that `@slack/web-api`'s `WebClient` calls (its `fetch` option), as undici's
 * `request` over one Agent of kept-alive sockets shared by every client of the process.
 * WebClient reads only the narrow {@link FetchResponse} of its answer (status, headers, text),
 * so building WHATWG Request/Response objects and streams per call, as global `fetch` does, is
 * pure cost: ~0.6 ms of CPU per post in the floor benchmark (`FLOOR_SLACK_CLIENT=webapi`).
 * Everything WebClient decides from the answer — 429 with Retry-After, `ok: false` errors,
 * other statuses, network failures and timeouts — it still decides, so the sender's mapping of
 * its errors is unchanged. Multipart bodies (file uploads, unused here) go through undici's fetch.
 */
export function createKeepAliveFetch(options: KeepAliveFetchOptions = {}): KeepAliveFetch {
  const dispatcher: Dispatcher = new Agent({
    connections: options.connections ?? 64,
    keepAliveTimeout: options.keepAliveMs ?? 30_000,
  });
  const fetch: FetchFunction = async (url, init = {}) => {
    if (init.body !== undefined && typeof init.body !== "string") {
      return (await undiciFetch(url, { ...init, dispatcher } as Parameters<typeof undiciFetch>[1])) as unknown as FetchResponse;
    }
    const target = String(url);
    const response = await request(target, {
      dispatcher,
      method: (init.method ?? "GET") as Dispatcher.HttpMethod,
      headers: init.headers ?? {},
      body: init.body ?? null,
      signal: init.signal ?? null,
    });
    // WebClient reads every answer's body (text, or arrayBuffer for one gzip method).
    const bytes = Buffer.from(await response.body.arrayBuffer());
    return responseOf(target, response.statusCode, response.headers, bytes);
  };
  return { fetch, dispatcher, close: () => dispatcher.close() };
}

function responseOf(
  url: string,
  status: number,
  raw: Record<string, string | string[] | undefined>,
  bytes: Buffer,
): FetchResponse {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) headers.set(name.toLowerCase(), Array.isArray(value) ? value.join(", ") : value);
  }
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: "",
    url,
    headers: { get: (name) => headers.get(name.toLowerCase()) ?? null, entries: () => headers.entries() },
    arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    json: async () => JSON.parse(bytes.toString("utf8")),
    text: async () => bytes.toString("utf8"),
  };
}
