/** One message of a text/event-stream, as an EventSource would dispatch it. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * A real HTTP client of a Server-Sent Events stream (fetch and the body's reader) that keeps every
 * message and comment, so that a test can wait for the one it needs, and knows when the server
 * ended the stream.
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  /** Resolves when the server ends the stream (or the client aborts it). */
  readonly ended: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private buffer = "";

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.ended = this.read();
  }

  /** Opens the stream; rejects unless the server answers 200 with text/event-stream. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, {
      headers: { accept: "text/event-stream", ...headers },
      signal: controller.signal,
    });
    if (response.status !== 200 || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
      controller.abort();
      throw new Error(`${response.status} ${response.headers.get("content-type")}: ${await response.text()}`);
    }
    return new SseClient(response, controller);
  }

  /** Run events received (the data of messages with an id), parsed. */
  events(): (Record<string, unknown> & { event_id: string; type: string })[] {
    return this.messages
      .filter((message) => message.id !== undefined)
      .map(
        (message) => JSON.parse(message.data) as Record<string, unknown> & { event_id: string; type: string },
      );
  }

  get lastEventId(): string | undefined {
    return this.messages.findLast((message) => message.id !== undefined)?.id;
  }

  /** Resolves once `condition` holds, checked now and on every message or comment. */
  waitUntil(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`condition not met in ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  close(): void {
    this.controller.abort();
  }

  private async read(): Promise<void> {
    const reader = (this.response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.buffer += decoder.decode(value, { stream: true });
        this.parse();
      }
    } catch (error) {
      if ((error as Error).name !== "AbortError") throw error;
    }
  }

  private parse(): void {
    let end: number;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const message: SseMessage = { id: undefined, event: "message", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) this.comments.push(line.slice(1).trim());
        else if (line.startsWith("id: ")) message.id = line.slice(4);
        else if (line.startsWith("event: ")) message.event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length > 0) this.messages.push({ ...message, data: data.join("\n") });
      for (const listener of this.listeners) listener();
    }
  }
}
