/** One server-sent event. */
export interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

/**
 * Reads an event stream as it arrives: feed it the text chunks in order, and each complete
 * event that carries data is appended to `events` (comments and keep-alives are skipped).
 */
export function sseReader(events: SseEvent[]): (chunk: string) => void {
  let buffer = "";
  return (chunk) => {
    buffer += chunk;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { event: "message", id: null, data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event.event = line.slice(7);
        else if (line.startsWith("id: ")) event.id = line.slice(4);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      event.data = data.join("\n");
      if (data.length > 0) events.push(event);
      end = buffer.indexOf("\n\n");
    }
  };
}
